import '../native.dart';
import '../rust/api/document.dart' as rust;

/// `type/subtype[+suffix]`: what a document is (`type` of a message or command).
class MediaType {
  /// A media type from its parts.
  MediaType({required this.type, required this.subtype, this.suffix});

  /// `text/plain`.
  static final MediaType textPlain = MediaType(type: DiscreteTypes.text, subtype: SubTypes.plain);

  /// `application/json`.
  static final MediaType applicationJson =
      MediaType(type: DiscreteTypes.application, subtype: SubTypes.json);

  /// The top-level type (`application`).
  final String type;

  /// The subtype, without the suffix (`vnd.lime.ping`).
  final String subtype;

  /// The suffix after `+` (`json`).
  final String? suffix;

  /// True when the subtype or the suffix is `json`: the document is then a JSON value,
  /// otherwise a string.
  bool isJson() => subtype.toLowerCase() == 'json' || suffix?.toLowerCase() == 'json';

  @override
  String toString() => suffix == null ? '$type/$subtype' : '$type/$subtype+$suffix';

  @override
  bool operator ==(Object other) =>
      other is MediaType && other.toString().toLowerCase() == toString().toLowerCase();

  @override
  int get hashCode => toString().toLowerCase().hashCode;

  /// [parse].
  factory MediaType.fromString(String? value) => parse(value);

  /// Parses like C# `MediaType.Parse`: parameters after `;` are dropped. Throws an
  /// [ArgumentError] for null or empty text and a [LimeException] for text that is not a
  /// media type.
  static MediaType parse(String? s) {
    if (s == null || s.isEmpty) throw ArgumentError.value(s, 's', 'A media type cannot be empty');
    final dto = native(() => rust.parseMediaType(text: s));
    return MediaType(type: dto.mainType, subtype: dto.subtype, suffix: dto.suffix);
  }

  /// True when [s] is a media type.
  static bool tryParse(String s) {
    try {
      parse(s);
      return true;
    } on Object {
      return false;
    }
  }
}

/// Composite top-level media types.
class CompositeTypes {
  /// `message`
  static const String message = 'message';

  /// `multipart`
  static const String multipart = 'multipart';
}

/// Discrete top-level media types.
class DiscreteTypes {
  /// `application`
  static const String application = 'application';

  /// `text`
  static const String text = 'text';

  /// `image`
  static const String image = 'image';

  /// `audio`
  static const String audio = 'audio';

  /// `video`
  static const String video = 'video';
}

/// Common subtypes.
class SubTypes {
  /// `plain`
  static const String plain = 'plain';

  /// `json`
  static const String json = 'json';

  /// `xml`
  static const String xml = 'xml';

  /// `html`
  static const String html = 'html';

  /// `jpeg`
  static const String jpeg = 'jpeg';

  /// `bmp`
  static const String bitmap = 'bmp';

  /// `javascript`
  static const String javascript = 'javascript';
}
