import 'package:meta/meta.dart';

import '../convert.dart';
import '../native.dart';
import '../rust/api/envelope.dart' as rust;
import 'envelope.dart';
import 'guid.dart';
import 'identity.dart';

/// A message: content sent to a node.
///
/// [content] is a JSON value (`Map`, `List`, `String`, number) or a `Document`; [type] is
/// its media type (when null: the document's, `text/plain` for a string, `application/json`
/// otherwise). A JSON media type carries a JSON value, any other a string.
class Message extends Envelope {
  /// A message; [id] defaults to a new [guid] (pass `''` for a fire-and-forget message).
  Message({
    final String? id,
    final Node? from,
    final Node? to,
    final Node? pp,
    Map<String, dynamic>? metadata,
    this.content,
    this.type,
  }) : super(id: id ?? guid(), from: from, to: to, pp: pp, metadata: metadata);

  /// JSON key of [type].
  static const String typeKey = 'type';

  /// JSON key of [content].
  static const String contentKey = 'content';

  /// The media type of [content].
  String? type;

  /// The content.
  dynamic content;

  /// Reads a message from its JSON map. Throws a [LimeException] if it is not a valid
  /// envelope and an [ArgumentError] if it is another kind of envelope.
  factory Message.fromJson(Map<String, dynamic> json) {
    final envelope = Envelope.fromJson(json);
    if (envelope is Message) return envelope;
    throw ArgumentError.value(json, 'json', 'not a message');
  }

  /// The JSON map, exactly as the C# implementation writes it.
  @override
  Map<String, dynamic> toJson() => jsonMap(native(() => rust.messageToJson(message: toDto())));

  /// The bridge form.
  @internal
  rust.MessageDto toDto() => rust.MessageDto(
        id: idDto(id),
        from: nodeDto(from),
        pp: nodeDto(pp),
        to: nodeDto(to),
        metadata: metadataDto(metadata),
        content: documentDto(content, type),
      );

  /// A message from its bridge form.
  @internal
  static Message fromDto(rust.MessageDto dto) => Message(
        id: idOf(dto.id),
        from: nodeOf(dto.from),
        pp: nodeOf(dto.pp),
        to: nodeOf(dto.to),
        metadata: metadataOf(dto.metadata),
        content: contentOf(dto.content),
        type: dto.content?.mediaType,
      );
}
