// Conversions between the classes of this package and the generated bridge types
// (`lib/src/rust/`). Internal: not exported.

import 'dart:convert';

import 'protocol/document.dart';
import 'protocol/enums.dart';
import 'protocol/identity.dart';
import 'protocol/reason.dart';
import 'protocol/security.dart';
import 'rust/api/credentials.dart' as rust;
import 'rust/api/document.dart' as rust;
import 'rust/api/enums.dart' as rust;
import 'rust/api/envelope.dart' as rust;
import 'rust/api/error.dart' as rust;

Never _unsendable(Object value) =>
    throw ArgumentError.value(value, 'value', 'cannot be sent: not a LIME value');

rust.SessionStateDto sessionStateDto(SessionState s) => switch (s) {
      SessionState.isNew => rust.SessionStateDto.new_,
      SessionState.negotiating => rust.SessionStateDto.negotiating,
      SessionState.authenticating => rust.SessionStateDto.authenticating,
      SessionState.established => rust.SessionStateDto.established,
      SessionState.finishing => rust.SessionStateDto.finishing,
      SessionState.finished => rust.SessionStateDto.finished,
      SessionState.failed => rust.SessionStateDto.failed,
    };

SessionState sessionStateOf(rust.SessionStateDto s) => switch (s) {
      rust.SessionStateDto.new_ => SessionState.isNew,
      rust.SessionStateDto.negotiating => SessionState.negotiating,
      rust.SessionStateDto.authenticating => SessionState.authenticating,
      rust.SessionStateDto.established => SessionState.established,
      rust.SessionStateDto.finishing => SessionState.finishing,
      rust.SessionStateDto.finished => SessionState.finished,
      rust.SessionStateDto.failed => SessionState.failed,
    };

rust.SessionEncryptionDto encryptionDto(SessionEncryption e) => switch (e) {
      SessionEncryption.none => rust.SessionEncryptionDto.none,
      SessionEncryption.tls => rust.SessionEncryptionDto.tls,
    };

SessionEncryption encryptionOf(rust.SessionEncryptionDto e) => switch (e) {
      rust.SessionEncryptionDto.none => SessionEncryption.none,
      rust.SessionEncryptionDto.tls => SessionEncryption.tls,
    };

rust.SessionCompressionDto compressionDto(SessionCompression c) => switch (c) {
      SessionCompression.none => rust.SessionCompressionDto.none,
      SessionCompression.gzip => rust.SessionCompressionDto.gzip,
    };

SessionCompression compressionOf(rust.SessionCompressionDto c) => switch (c) {
      rust.SessionCompressionDto.none => SessionCompression.none,
      rust.SessionCompressionDto.gzip => SessionCompression.gzip,
    };

rust.AuthenticationSchemeDto schemeDto(AuthenticationScheme s) => switch (s) {
      AuthenticationScheme.guest => rust.AuthenticationSchemeDto.guest,
      AuthenticationScheme.plain => rust.AuthenticationSchemeDto.plain,
      AuthenticationScheme.transport => rust.AuthenticationSchemeDto.transport,
      AuthenticationScheme.key => rust.AuthenticationSchemeDto.key,
      AuthenticationScheme.external => rust.AuthenticationSchemeDto.external_,
      AuthenticationScheme.unknown => _unsendable(s),
    };

AuthenticationScheme schemeOf(rust.AuthenticationSchemeDto s) => switch (s) {
      rust.AuthenticationSchemeDto.guest => AuthenticationScheme.guest,
      rust.AuthenticationSchemeDto.plain => AuthenticationScheme.plain,
      rust.AuthenticationSchemeDto.transport => AuthenticationScheme.transport,
      rust.AuthenticationSchemeDto.key => AuthenticationScheme.key,
      rust.AuthenticationSchemeDto.external_ => AuthenticationScheme.external,
    };

rust.CommandMethodDto methodDto(CommandMethod m) => switch (m) {
      CommandMethod.get => rust.CommandMethodDto.get_,
      CommandMethod.set => rust.CommandMethodDto.set_,
      CommandMethod.delete => rust.CommandMethodDto.delete,
      CommandMethod.subscribe => rust.CommandMethodDto.subscribe,
      CommandMethod.unsubscribe => rust.CommandMethodDto.unsubscribe,
      CommandMethod.observe => rust.CommandMethodDto.observe,
      CommandMethod.merge => rust.CommandMethodDto.merge,
      CommandMethod.unknown => _unsendable(m),
    };

CommandMethod methodOf(rust.CommandMethodDto m) => switch (m) {
      rust.CommandMethodDto.get_ => CommandMethod.get,
      rust.CommandMethodDto.set_ => CommandMethod.set,
      rust.CommandMethodDto.delete => CommandMethod.delete,
      rust.CommandMethodDto.subscribe => CommandMethod.subscribe,
      rust.CommandMethodDto.unsubscribe => CommandMethod.unsubscribe,
      rust.CommandMethodDto.observe => CommandMethod.observe,
      rust.CommandMethodDto.merge => CommandMethod.merge,
    };

rust.CommandStatusDto statusDto(CommandStatus? s) => switch (s) {
      null || CommandStatus.pending => rust.CommandStatusDto.pending,
      CommandStatus.success => rust.CommandStatusDto.success,
      CommandStatus.failure => rust.CommandStatusDto.failure,
    };

/// A request's status is null, as pub `lime` 0.0.25 reads it.
CommandStatus? statusOf(rust.CommandStatusDto s) => switch (s) {
      rust.CommandStatusDto.pending => null,
      rust.CommandStatusDto.success => CommandStatus.success,
      rust.CommandStatusDto.failure => CommandStatus.failure,
    };

// The obsolete events are still LIME values: they convert both ways.
// ignore_for_file: deprecated_member_use_from_same_package

rust.NotificationEventDto eventDto(NotificationEvent e) => switch (e) {
      NotificationEvent.accepted => rust.NotificationEventDto.accepted,
      NotificationEvent.dispatched => rust.NotificationEventDto.dispatched,
      NotificationEvent.received => rust.NotificationEventDto.received,
      NotificationEvent.consumed => rust.NotificationEventDto.consumed,
      NotificationEvent.failed => rust.NotificationEventDto.failed,
      NotificationEvent.validated => rust.NotificationEventDto.validated,
      NotificationEvent.authorized => rust.NotificationEventDto.authorized,
      NotificationEvent.deleted => rust.NotificationEventDto.deleted,
      NotificationEvent.unknown => _unsendable(e),
    };

NotificationEvent eventOf(rust.NotificationEventDto e) => switch (e) {
      rust.NotificationEventDto.accepted => NotificationEvent.accepted,
      rust.NotificationEventDto.dispatched => NotificationEvent.dispatched,
      rust.NotificationEventDto.received => NotificationEvent.received,
      rust.NotificationEventDto.consumed => NotificationEvent.consumed,
      rust.NotificationEventDto.failed => NotificationEvent.failed,
      rust.NotificationEventDto.validated => NotificationEvent.validated,
      rust.NotificationEventDto.authorized => NotificationEvent.authorized,
      rust.NotificationEventDto.deleted => NotificationEvent.deleted,
    };

rust.ReasonDto? reasonDto(Reason? r) =>
    r == null ? null : rust.ReasonDto(code: r.code, description: r.description);

Reason? reasonOf(rust.ReasonDto? r) =>
    r == null ? null : Reason(code: r.code, description: r.description);

/// An empty id is how this package spells "no id" (see `Envelope.id`).
String? idDto(String id) => id.isEmpty ? null : id;

String idOf(String? id) => id ?? '';

String? nodeDto(Node? node) => node?.toString();

Node? nodeOf(String? text) => text == null ? null : Node.parse(text);

/// Metadata values are strings on the wire: other values are written as their text and
/// null values are left out.
List<(String, String)>? metadataDto(Map<String, dynamic>? metadata) => metadata?.entries
    .where((e) => e.value != null)
    .map((e) => (e.key, e.value is String ? e.value as String : e.value.toString()))
    .toList();

Map<String, dynamic>? metadataOf(List<(String, String)>? metadata) =>
    metadata == null ? null : <String, dynamic>{for (final (key, value) in metadata) key: value};

/// Session metadata is typed `Map<String, String>` (as in pub `lime` 0.0.25).
Map<String, String>? sessionMetadataOf(List<(String, String)>? metadata) =>
    metadata == null ? null : <String, String>{for (final (key, value) in metadata) key: value};

/// Whether lime-core reads documents of [mediaType] as JSON (`application/json`, `…+json`):
/// the core's rule, asked of the core; null when [mediaType] is not a media type.
bool? _isJsonMediaType(String mediaType) {
  try {
    return rust.parseMediaType(text: mediaType).isJson;
  } on rust.LimeError catch (e) {
    e.dispose();
    return null;
  }
}

/// The document of a message's `content` (or a command's `resource`) and its `type`: a
/// [Document] carries its media type; otherwise [type] is used, or `text/plain` for a string
/// and `application/json` for anything else.
///
/// Its text follows lime-core's rule (`lime::convert`, the same in every binding): the JSON
/// text of the value for a JSON media type, the string itself for any other. A value that is
/// not a string under a non-JSON media type goes as its JSON text, which the core keeps as
/// the string (as it reads such content from the wire).
rust.DocumentDto? documentDto(dynamic content, String? type) {
  if (content == null) return null;
  final Object? value = content is Document ? content.toWireValue() : content;
  final mediaType = type ??
      (content is Document
          ? content.mediaType.toString()
          : value is String
              ? 'text/plain'
              : 'application/json');
  final isJson = _isJsonMediaType(mediaType) ?? true; // the core reports a bad media type
  final text = !isJson && value is String ? value : jsonEncode(value);
  return rust.DocumentDto(mediaType: mediaType, text: text);
}

/// The value of a document: the decoded JSON (a `Map`, a `List`, …) for JSON media types, the
/// `String` for the others (lime-core's rule).
dynamic contentOf(rust.DocumentDto? document) {
  if (document == null) return null;
  return _isJsonMediaType(document.mediaType) == false
      ? document.text
      : jsonDecode(document.text);
}

rust.AuthenticationDto? authenticationDto(Authentication? authentication) =>
    switch (authentication) {
      null => null,
      final PlainAuthentication a =>
        rust.AuthenticationDto(scheme: rust.AuthenticationSchemeDto.plain, password: a.password),
      final KeyAuthentication a =>
        rust.AuthenticationDto(scheme: rust.AuthenticationSchemeDto.key, key: a.key),
      final ExternalAuthentication a => rust.AuthenticationDto(
          scheme: rust.AuthenticationSchemeDto.external_,
          token: a.token,
          issuer: a.issuer,
        ),
      final Authentication a => rust.AuthenticationDto(scheme: schemeDto(a.scheme)),
    };

/// The credentials an application establishes a session with, for the core: secrets in clear
/// text, the one rule of every binding (lime-core encodes them for the wire). The
/// [Authentication] classes keep their secrets in base64, as pub `lime` 0.0.25 does
/// (`setToBase64Password`), so they are decoded here. [authenticationDto] is the other form,
/// the wire's, for session envelopes read or written as JSON.
rust.CredentialsDto credentialsDto(Authentication authentication) => switch (authentication) {
      final PlainAuthentication a =>
        rust.CredentialsDto(scheme: rust.AuthenticationSchemeDto.plain, secret: _clear(a.password)),
      final KeyAuthentication a =>
        rust.CredentialsDto(scheme: rust.AuthenticationSchemeDto.key, secret: _clear(a.key)),
      final ExternalAuthentication a => rust.CredentialsDto(
          scheme: rust.AuthenticationSchemeDto.external_,
          secret: _clear(a.token),
          issuer: a.issuer,
        ),
      final Authentication a => rust.CredentialsDto(scheme: schemeDto(a.scheme)),
    };

/// The clear text of a base64 secret (`''` stays `''`); a [FormatException] when it is not
/// base64 of UTF-8 text.
String? _clear(String? base64Secret) =>
    base64Secret == null || base64Secret.isEmpty ? base64Secret : base64Secret.fromBase64();

Authentication? authenticationOf(rust.AuthenticationDto? a) => switch (a?.scheme) {
      null => null,
      rust.AuthenticationSchemeDto.guest => GuestAuthentication(),
      rust.AuthenticationSchemeDto.transport => TransportAuthentication(),
      rust.AuthenticationSchemeDto.plain => PlainAuthentication(password: a!.password),
      rust.AuthenticationSchemeDto.key => KeyAuthentication(key: a!.key),
      rust.AuthenticationSchemeDto.external_ =>
        ExternalAuthentication(token: a!.token, issuer: a.issuer),
    };
