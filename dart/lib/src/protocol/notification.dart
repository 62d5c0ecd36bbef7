import 'package:meta/meta.dart';

import '../convert.dart';
import '../native.dart';
import '../rust/api/envelope.dart' as rust;
import 'enums.dart';
import 'envelope.dart';
import 'guid.dart';
import 'identity.dart';
import 'reason.dart';

/// A notification: an [event] about the message with the same id.
class Notification extends Envelope {
  /// A notification; [id] defaults to a new [guid] (normally it is the message's id).
  Notification({
    final String? id,
    final Node? from,
    final Node? to,
    final Node? pp,
    final Map<String, dynamic>? metadata,
    this.event,
    this.reason,
  }) : super(id: id ?? guid(), from: from, to: to, pp: pp, metadata: metadata);

  /// JSON key of [event].
  static const String eventKey = 'event';

  /// JSON key of [reason].
  static const String reasonKey = 'reason';

  /// What happened to the message (required to send).
  NotificationEvent? event;

  /// Why, for [NotificationEvent.failed].
  Reason? reason;

  /// Reads a notification from its JSON map. Throws a [LimeException] if it is not a valid
  /// envelope (an unknown event included) and an [ArgumentError] if it is another kind.
  factory Notification.fromJson(Map<String, dynamic> json) {
    final envelope = Envelope.fromJson(json);
    if (envelope is Notification) return envelope;
    throw ArgumentError.value(json, 'json', 'not a notification');
  }

  /// The JSON map, exactly as the C# implementation writes it.
  @override
  Map<String, dynamic> toJson() =>
      jsonMap(native(() => rust.notificationToJson(notification: toDto())));

  /// The bridge form.
  @internal
  rust.NotificationDto toDto() {
    final e = event;
    if (e == null) throw ArgumentError.notNull('event');
    return rust.NotificationDto(
      id: idDto(id),
      from: nodeDto(from),
      pp: nodeDto(pp),
      to: nodeDto(to),
      metadata: metadataDto(metadata),
      event: eventDto(e),
      reason: reasonDto(reason),
    );
  }

  /// A notification from its bridge form.
  @internal
  static Notification fromDto(rust.NotificationDto dto) => Notification(
        id: idOf(dto.id),
        from: nodeOf(dto.from),
        pp: nodeOf(dto.pp),
        to: nodeOf(dto.to),
        metadata: metadataOf(dto.metadata),
        event: eventOf(dto.event),
        reason: reasonOf(dto.reason),
      );
}
