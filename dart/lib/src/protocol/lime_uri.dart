import '../native.dart';
import '../rust/api/uri.dart' as rust;
import 'identity.dart';

/// The address of a resource in a command: a relative path (`/presence`) or an absolute URI
/// with the `lime` scheme (`lime://name@domain/contacts`).
///
/// pub `lime` 0.0.25 rejected relative paths (the usual form); they are accepted here, as in
/// C#. Percent-encoding is kept as written.
class LimeUri {
  /// Parses [uriPath]; throws an [ArgumentError] for null or empty text and a
  /// [LimeException] for a URI that is neither relative nor `lime://`.
  LimeUri({String? uriPath}) {
    final uri = uriPath ?? '';
    if (uri.isEmpty) throw ArgumentError.notNull('uriPath');
    final dto = native(() => rust.parseLimeUri(text: uri));
    path = dto.text;
    _relative = dto.isRelative;
  }

  /// The `lime` scheme.
  static const String limeUriScheme = 'lime';

  /// The URI as written into a command (trailing `/` trimmed).
  String? path;

  late final bool _relative;

  /// True for relative paths.
  bool get isRelative => _relative;

  /// The absolute URI: this one when absolute, or this path under `lime://authority` when
  /// relative (then [authority] is required).
  Uri? toUri({Identity? authority}) {
    final p = path ?? '';
    if (authority == null) {
      if (isRelative) throw Exception('The URI path is relative');
      return Uri.parse(p);
    }
    if (!isRelative) throw Exception('The URI path is absolute');
    return Uri.parse('$limeUriScheme://$authority${p.startsWith('/') ? '' : '/'}$p');
  }

  @override
  int get hashCode => toString().toLowerCase().hashCode;

  @override
  bool operator ==(Object other) =>
      other is LimeUri && path?.toLowerCase() == other.path?.toLowerCase();

  @override
  String toString() => path ?? '';

  /// [LimeUri.new].
  static LimeUri parse(String? value) => LimeUri(uriPath: value);

  /// `lime://authority/`.
  static Uri getBaseUri(Identity authority) => Uri.parse('$limeUriScheme://$authority/');

  /// [parse], or null for null.
  static LimeUri? fromString(String? value) => value == null ? null : parse(value);
}
