import 'package:meta/meta.dart';

import '../convert.dart';
import '../native.dart';
import '../rust/api/envelope.dart' as rust;
import 'enums.dart';
import 'envelope.dart';
import 'guid.dart';
import 'identity.dart';
import 'reason.dart';
import 'security.dart';

/// A session envelope: negotiation, authentication and the end of a session.
///
/// Sessions are sent by `ClientChannel` itself; this class is what its handshake methods
/// return and what `onSessionFinished`/`onSessionFailed` deliver. Unlike pub `lime` 0.0.25,
/// every field is read and written (options, encryption, compression, reason, metadata).
class Session extends Envelope {
  /// A session envelope; [id] defaults to a new [guid], as in pub `lime` 0.0.25.
  Session({
    final String? id,
    final Node? from,
    final Node? to,
    final Node? pp,
    final Map<String, String>? metadata,
    this.state,
    this.scheme,
    this.authentication,
  }) : super(id: id ?? guid(), from: from, to: to, pp: pp, metadata: metadata);

  /// JSON key of [state].
  static const String stateKey = 'state';

  /// Reserved by the protocol (unused).
  static const String modeKey = 'mode';

  /// JSON key of [encryptionOptions].
  static const String encryptionOptionsKey = 'encryptionOptions';

  /// JSON key of [encryption].
  static const String encryptionKey = 'encryption';

  /// JSON key of [compressionOptions].
  static const String compressionOptionsKey = 'compressionOptions';

  /// JSON key of [compression].
  static const String compressionKey = 'compression';

  /// JSON key of [schemeOptions].
  static const String schemeOptionsKey = 'schemeOptions';

  /// JSON key of [scheme].
  static const String schemeKey = 'scheme';

  /// JSON key of [authentication].
  static const String authenticationKey = 'authentication';

  /// JSON key of [reason].
  static const String reasonKey = 'reason';

  /// The state (null is written as `new`). Only the server changes it.
  SessionState? state;

  /// Encryption options offered by the server.
  List<SessionEncryption>? encryptionOptions;

  /// The encryption chosen by the client and confirmed by the server.
  SessionEncryption? encryption;

  /// Compression options offered by the server.
  List<SessionCompression>? compressionOptions;

  /// The compression chosen by the client and confirmed by the server.
  SessionCompression? compression;

  /// Authentication schemes offered by the server.
  List<AuthenticationScheme>? schemeOptions;

  /// The scheme of [authentication].
  AuthenticationScheme? scheme;

  /// Credentials (client) or round-trip data (server).
  Authentication? authentication;

  /// Why, for [SessionState.failed].
  Reason? reason;

  /// Reads a session envelope from its JSON map. Throws a [LimeException] if it is not a
  /// valid envelope and an [ArgumentError] if it is another kind.
  factory Session.fromJson(Map<String, dynamic> json) {
    final envelope = Envelope.fromJson(json);
    if (envelope is Session) return envelope;
    throw ArgumentError.value(json, 'json', 'not a session');
  }

  /// The JSON map, exactly as the C# implementation writes it (`scheme` comes from
  /// [authentication], or from [scheme] alone for credentials without fields).
  @override
  Map<String, dynamic> toJson() => jsonMap(native(() => rust.sessionToJson(session: toDto())));

  /// The bridge form.
  @internal
  rust.SessionDto toDto() {
    final s = scheme;
    return rust.SessionDto(
      id: idDto(id),
      from: nodeDto(from),
      pp: nodeDto(pp),
      to: nodeDto(to),
      metadata: metadataDto(metadata),
      state: sessionStateDto(state ?? SessionState.isNew),
      encryptionOptions: encryptionOptions?.map(encryptionDto).toList(),
      encryption: encryption == null ? null : encryptionDto(encryption!),
      compressionOptions: compressionOptions?.map(compressionDto).toList(),
      compression: compression == null ? null : compressionDto(compression!),
      schemeOptions: schemeOptions?.where((o) => o != AuthenticationScheme.unknown).map(schemeDto).toList(),
      scheme: s == null || s == AuthenticationScheme.unknown ? null : schemeDto(s),
      authentication: authenticationDto(authentication),
      reason: reasonDto(reason),
    );
  }

  /// A session envelope from its bridge form.
  @internal
  static Session fromDto(rust.SessionDto dto) {
    final auth = dto.authentication;
    return Session(
      id: idOf(dto.id),
      from: nodeOf(dto.from),
      pp: nodeOf(dto.pp),
      to: nodeOf(dto.to),
      metadata: sessionMetadataOf(dto.metadata),
      state: sessionStateOf(dto.state),
      scheme: dto.scheme == null ? null : schemeOf(dto.scheme!),
      authentication: authenticationOf(auth),
    )
      ..encryptionOptions = dto.encryptionOptions?.map(encryptionOf).toList()
      ..encryption = dto.encryption == null ? null : encryptionOf(dto.encryption!)
      ..compressionOptions = dto.compressionOptions?.map(compressionOf).toList()
      ..compression = dto.compression == null ? null : compressionOf(dto.compression!)
      ..schemeOptions = dto.schemeOptions?.map(schemeOf).toList()
      ..reason = reasonOf(dto.reason);
  }
}
