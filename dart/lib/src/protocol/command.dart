import 'package:meta/meta.dart';

import '../convert.dart';
import '../native.dart';
import '../rust/api/envelope.dart' as rust;
import 'enums.dart';
import 'envelope.dart';
import 'guid.dart';
import 'identity.dart';
import 'reason.dart';

/// A command: a request about a resource ([status] null or pending) or the response with
/// the same id ([CommandStatus.success] or [CommandStatus.failure]).
class Command extends Envelope {
  /// A command; [id] defaults to a new [guid].
  Command({
    final String? id,
    final Node? from,
    final Node? to,
    final Node? pp,
    final Map<String, dynamic>? metadata,
    this.uri,
    required this.method,
    this.reason,
    this.resource,
    this.status,
    this.type,
  }) : super(id: id ?? guid(), from: from, to: to, pp: pp, metadata: metadata);

  /// JSON key of [uri].
  static const String uriKey = 'uri';

  /// JSON key of [type].
  static const String typeKey = 'type';

  /// JSON key of [resource].
  static const String resourceKey = 'resource';

  /// JSON key of [method].
  static const String methodKey = 'method';

  /// JSON key of [status].
  static const String statusKey = 'status';

  /// JSON key of [reason].
  static const String reasonKey = 'reason';

  /// The resource's address: a relative path (`/presence`) or `lime://name@domain/path`.
  String? uri;

  /// The media type of [resource].
  String? type;

  /// The resource: a JSON value or a `Document` (see `Message.content`).
  dynamic resource;

  /// The method.
  CommandMethod method;

  /// Null or [CommandStatus.pending] for a request (never written), otherwise the outcome.
  CommandStatus? status;

  /// Why, for [CommandStatus.failure].
  Reason? reason;

  /// Reads a command from its JSON map. Throws a [LimeException] if it is not a valid
  /// envelope and an [ArgumentError] if it is another kind.
  factory Command.fromJson(Map<String, dynamic> json) {
    final envelope = Envelope.fromJson(json);
    if (envelope is Command) return envelope;
    throw ArgumentError.value(json, 'json', 'not a command');
  }

  /// The JSON map, exactly as the C# implementation writes it.
  @override
  Map<String, dynamic> toJson() => jsonMap(native(() => rust.commandToJson(command: toDto())));

  /// The bridge form.
  @internal
  rust.CommandDto toDto() => rust.CommandDto(
        id: idDto(id),
        from: nodeDto(from),
        pp: nodeDto(pp),
        to: nodeDto(to),
        metadata: metadataDto(metadata),
        uri: uri,
        method: methodDto(method),
        status: statusDto(status),
        resource: documentDto(resource, type),
        reason: reasonDto(reason),
      );

  /// A command from its bridge form.
  @internal
  static Command fromDto(rust.CommandDto dto) => Command(
        id: idOf(dto.id),
        from: nodeOf(dto.from),
        pp: nodeOf(dto.pp),
        to: nodeOf(dto.to),
        metadata: metadataOf(dto.metadata),
        uri: dto.uri,
        method: methodOf(dto.method),
        status: statusOf(dto.status),
        resource: contentOf(dto.resource),
        type: dto.resource?.mediaType,
        reason: reasonOf(dto.reason),
      );
}
