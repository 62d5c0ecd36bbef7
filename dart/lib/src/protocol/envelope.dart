import 'dart:convert';

import 'package:meta/meta.dart';

import '../native.dart';
import '../rust/api/envelope.dart' as rust;
import 'command.dart';
import 'identity.dart';
import 'media_type.dart';
import 'message.dart';
import 'notification.dart';
import 'session.dart';

/// What every envelope has: an id and its routing (`from`, `pp`, `to`), plus metadata.
///
/// **Ids.** [id] is a `String`, as in pub `lime` 0.0.25, and the empty string means "no
/// id": an envelope received without one has `id == ''` (0.0.25 invented a random id, so
/// replies and receipts pointed at ids the sender never used), and one sent with `''` is
/// written without `id` (a fire-and-forget message). The constructors of [Message],
/// [Notification] and [Command] still generate an id when none is given.
///
/// **JSON.** `fromJson`/`toJson` go through the Rust core, so they read and write exactly
/// what the C# implementation does (call `initLime()` first).
class Envelope {
  /// An envelope header.
  Envelope({required this.id, this.from, this.to, this.pp, this.metadata});

  /// Media type of a command carried as a document.
  static const commandMimeType = 'application/vnd.lime.command+json';

  /// Media type of a message carried as a document.
  static const messageMimeType = 'application/vnd.lime.message+json';

  /// Media type of a notification carried as a document.
  static const notificationMimeType = 'application/vnd.lime.notification+json';

  /// [commandMimeType] parsed.
  static final MediaType commandMediaType =
      MediaType(type: 'application', subtype: 'vnd.lime.command', suffix: 'json');

  /// [messageMimeType] parsed.
  static final MediaType messageMediaType =
      MediaType(type: 'application', subtype: 'vnd.lime.message', suffix: 'json');

  /// [notificationMimeType] parsed.
  static final MediaType notificationMediaType =
      MediaType(type: 'application', subtype: 'vnd.lime.notification', suffix: 'json');

  /// JSON key of [id].
  static const String idKey = 'id';

  /// JSON key of [from].
  static const String fromKey = 'from';

  /// JSON key of [to].
  static const String toKey = 'to';

  /// JSON key of [pp].
  static const String ppKey = 'pp';

  /// JSON key of [metadata].
  static const String metadataKey = 'metadata';

  /// The envelope id; `''` when it has none.
  final String id;

  /// The sender; null means the remote party.
  Node? from;

  /// The destination; null means the receiving party.
  Node? to;

  /// The delegate sending on behalf of [from] ("per procurationem").
  Node? pp;

  /// String metadata (other values are written as their text).
  Map<String, dynamic>? metadata;

  /// Reads any envelope from its JSON map; the result is a [Message], [Notification],
  /// [Command] or [Session], chosen like C# by the keys `content`, `event`, `method`,
  /// `state` (in that order). Throws a [LimeException] for anything that is not a valid
  /// envelope.
  factory Envelope.fromJson(Map<String, dynamic> json) => parseEnvelopeText(jsonEncode(json));

  /// The header as a JSON map (the envelope kinds write their whole JSON).
  Map<String, dynamic> toJson() => {
        if (id.isNotEmpty) idKey: id,
        if (from != null) fromKey: from.toString(),
        if (pp != null) ppKey: pp.toString(),
        if (to != null) toKey: to.toString(),
        if (metadata != null) metadataKey: metadata,
      };
}

/// Parses the JSON text of any envelope (what the transport receives).
@internal
Envelope parseEnvelopeText(String json) => envelopeFromDto(native(() => rust.parseEnvelope(json: json)));

/// The envelope a DTO carries.
@internal
Envelope envelopeFromDto(rust.EnvelopeDto dto) => switch (dto.kind) {
      rust.EnvelopeKindDto.message => Message.fromDto(dto.message!),
      rust.EnvelopeKindDto.notification => Notification.fromDto(dto.notification!),
      rust.EnvelopeKindDto.command => Command.fromDto(dto.command!),
      rust.EnvelopeKindDto.session => Session.fromDto(dto.session!),
    };

/// The JSON map of a JSON text the Rust core wrote.
@internal
Map<String, dynamic> jsonMap(String json) => jsonDecode(json) as Map<String, dynamic>;

/// Helpers of pub `lime` 0.0.25 on every envelope.
extension EnvelopeExtension on Envelope {
  /// [Envelope.commandMimeType].
  static const commandMimeType = Envelope.commandMimeType;

  /// [Envelope.messageMimeType].
  static const messageMimeType = Envelope.messageMimeType;

  /// [Envelope.notificationMimeType].
  static const notificationMimeType = Envelope.notificationMimeType;

  /// [Envelope.messageMediaType].
  static final MediaType messageMediaType = Envelope.messageMediaType;

  /// [Envelope.notificationMediaType].
  static final MediaType notificationMediaType = Envelope.notificationMediaType;

  /// [Envelope.commandMediaType].
  static final MediaType commandMediaType = Envelope.commandMediaType;

  /// [envelope] (a [Message] or its JSON map) as a message.
  Message toMessage(dynamic envelope) => envelope is Message
      ? envelope
      : toEnvelope(envelope as Map<String, dynamic>, messageMediaType) as Message;

  /// [envelope] (a [Notification] or its JSON map) as a notification.
  Notification toNotification(dynamic envelope) => envelope is Notification
      ? envelope
      : toEnvelope(envelope as Map<String, dynamic>, notificationMediaType) as Notification;

  /// [envelope] (a [Command] or its JSON map) as a command.
  Command toCommand(dynamic envelope) => envelope is Command
      ? envelope
      : toEnvelope(envelope as Map<String, dynamic>, commandMediaType) as Command;

  /// The envelope in [mapDocument] (a document of [mediaType], e.g. in an `observe`).
  Envelope toEnvelope(Map<String, dynamic> mapDocument, MediaType mediaType) =>
      Envelope.fromJson(mapDocument);

  /// A copy of the header.
  Envelope shallowCopy() => Envelope(id: id, from: from, to: to, pp: pp, metadata: metadata);

  /// The sender of record for replies: [Envelope.pp], else [Envelope.from].
  Node? getSender() => pp ?? from;
}
