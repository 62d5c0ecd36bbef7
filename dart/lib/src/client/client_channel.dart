import 'dart:async';

import '../convert.dart';
import '../native.dart';
import '../network/transport.dart';
import '../protocol/command.dart';
import '../protocol/enums.dart';
import '../protocol/exceptions.dart';
import '../protocol/message.dart';
import '../protocol/notification.dart';
import '../protocol/reason.dart';
import '../protocol/security.dart';
import '../protocol/session.dart';
import '../rust/api/client.dart' as rust;
import '../rust/api/envelope.dart' as rust;
import 'channel.dart';

/// The client side of a LIME session (pub `lime` 0.0.25 API), run by the Rust core.
///
/// ```dart
/// await initLime();
/// final transport = WebSocketTransport();
/// await transport.open('ws://localhost:8080');
/// final channel = ClientChannel(transport, autoNotifyReceipt: true);
/// channel.onReceiveMessage.stream.listen((m) => print(m.content));
/// await channel.establishSession('alice@localhost', 'phone', GuestAuthentication());
/// await channel.sendMessage(Message(to: Node.parse('bob@localhost'), content: 'Hi'));
/// await channel.sendFinishingSession();
/// ```
///
/// Every stream (`onReceiveMessage`, …, `onConnectionDone`, `onError`) ends when the
/// connection ends, so `await for` loops over them finish. [dispose] closes the connection
/// and releases the native session at once.
///
/// Differences from 0.0.25 (bugs fixed): servers that negotiate are supported
/// ([negotiateSession], TLS on TCP); a session the server establishes right after `new`, a
/// `failed` session during the handshake (the future fails with a [LimeException] carrying
/// the server's reason, and [onSessionFailed] receives it) and a `finished` session the
/// server sends on its own ([onSessionFinished]) all work; [processCommand] exists; every
/// failure is a [LimeException] instead of a `String` or a `LateInitializationError`.
class ClientChannel extends Channel {
  /// A client channel over [transport] (a [WebSocketTransport] or [TcpTransport]; open it
  /// before the first call). [handshakeTimeout] bounds each handshake step and
  /// [sendFinishingSession] (default 6 s, as in 0.0.25). With [remotePingInterval] the
  /// channel pings a silent server, and finishes the session when it stays silent for
  /// [remoteIdleTimeout] after a ping.
  ClientChannel(
    Transport transport, {
    final bool autoReplyPings = true,
    final bool autoNotifyReceipt = false,
    Duration? handshakeTimeout,
    Duration? remotePingInterval,
    Duration? remoteIdleTimeout,
  }) : super(
          transport: transport,
          autoReplyPings: autoReplyPings,
          autoNotifyReceipt: autoNotifyReceipt,
          handshakeTimeout: handshakeTimeout,
          remotePingInterval: remotePingInterval,
          remoteIdleTimeout: remoteIdleTimeout,
        );

  /// Notifications received.
  final onReceiveNotification = StreamController<Notification>();

  /// Commands received (requests, and responses that match no pending [processCommand]).
  final onReceiveCommand = StreamController<Command>();

  /// Messages received.
  final onReceiveMessage = StreamController<Message>();

  /// The `finished` session, when the session ends normally (after [sendFinishingSession]
  /// or when the server finishes it).
  final onSessionFinished = StreamController<Session>();

  /// The `failed` session, when the server fails the session (during the handshake too).
  final onSessionFailed = StreamController<Session>();

  /// `true` when the connection ends.
  var onConnectionDone = StreamController<bool>();

  /// Failures that no call returns ([Channel.onFailure]): the incoming event stream failing
  /// (a [LimeException]), an exception thrown by a hook of a subclass, a [Transport.send]
  /// that failed.
  final onError = StreamController<Object>();

  /// Runs the whole handshake as [identity] (`name@domain`) on [instance]: `new`,
  /// negotiation when the server asks for it (its first options, unless [compression] /
  /// [encryption] are given), then authentication with [authentication]. Returns the
  /// `established` session; a refusal throws a [LimeException] with the server's reason
  /// (13: authentication failed).
  Future<Session> establishSession(
    String identity,
    String instance,
    Authentication authentication, {
    SessionCompression? compression,
    SessionEncryption? encryption,
  }) {
    return _handshake((c) => c.establishSession(
          identity: identity,
          instance: instance,
          credentials: credentialsDto(authentication),
          compression: compression == null ? null : compressionDto(compression),
          encryption: encryption == null ? null : encryptionDto(encryption),
        ));
  }

  /// Sends `new` and returns the server's reply: `negotiating`, `authenticating` or
  /// `established`. A `failed` reply throws a [LimeException] with its reason.
  Future<Session> startNewSession() => _handshake((c) => c.startNewSession());

  /// Sends the negotiation choice, applies it when the server confirms it (TLS starts here on
  /// TCP) and returns the session that follows (`authenticating` or `established`).
  Future<Session> negotiateSession(SessionCompression compression, SessionEncryption encryption) =>
      _handshake((c) => c.negotiateSession(
            compression: compressionDto(compression),
            encryption: encryptionDto(encryption),
          ));

  /// Sends [authentication] as [identity] (`name@domain`) on [instance] and returns the
  /// reply: `established`, or `authenticating` for another round. A `failed` reply throws a
  /// [LimeException] with its reason (13: authentication failed).
  Future<Session> authenticateSession(
    String identity,
    String instance,
    Authentication authentication,
  ) =>
      _handshake((c) => c.authenticateSession(
            identity: identity,
            credentials: credentialsDto(authentication),
            instance: instance,
          ));

  /// Sends `finishing` and returns the server's `finished` session, or null when it does
  /// not answer within the handshake timeout (as in 0.0.25). [onSessionFinished] receives
  /// the same session.
  Future<Session?> sendFinishingSession() async {
    final c = await ensureClient();
    try {
      final session = Session.fromDto(await nativeAsync(() => c.finish()));
      return session;
    } on LimeException catch (e) {
      if (e.kind == ErrorCategory.timeout) return null;
      rethrow;
    }
  }

  /// Sends a command request and waits for the response with the same id (default timeout
  /// [commandTimeout] ms). An id is generated when the command has none. The response is
  /// returned whatever its status; a timeout throws a [LimeException] with
  /// [ReasonCodes.timeoutError]. The response is not delivered to [onReceiveCommand].
  Future<Command> processCommand(Command command, {Duration? timeout}) async {
    final c = await ensureClient();
    final limit = timeout ?? const Duration(milliseconds: commandTimeout);
    final response = await nativeAsync(
        () => c.processCommand(command: command.toDto(), timeoutMs: limit.inMilliseconds));
    return Command.fromDto(response);
  }

  Future<Session> _handshake(Future<rust.SessionDto> Function(rust.LimeClient client) step) async {
    final c = await ensureClient();
    final Session session;
    try {
      session = Session.fromDto(await nativeAsync(() => step(c)));
    } on LimeException catch (e) {
      final ended = state == SessionState.failed || state == SessionState.finished;
      if (e.kind == ErrorCategory.session && state == SessionState.failed) {
        // The server refused: report it as the failed session it sent.
        emit(
            onSessionFailed,
            Session(id: sessionId ?? '', state: SessionState.failed)
              ..reason = Reason(code: e.reason.code, description: e.reason.description));
      }
      // No events were started: the connection ends here.
      if (ended) connectionEnded();
      rethrow;
    }
    switch (session.state) {
      case SessionState.established:
        startEvents();
      case SessionState.failed:
        emit(onSessionFailed, session);
        connectionEnded();
        final reason = session.reason;
        throw LimeException(CommandStatus.failure, reason?.code ?? ReasonCodes.sessionError,
            description: reason?.description ?? 'The session failed');
      case SessionState.finished:
        emit(onSessionFinished, session);
        connectionEnded();
      default:
        break;
    }
    return session;
  }

  @override
  void onSession(Session session) {
    if (session.state == SessionState.finished) emit(onSessionFinished, session);
    if (session.state == SessionState.failed) emit(onSessionFailed, session);
  }

  @override
  void onNotification(Notification notification) => emit(onReceiveNotification, notification);

  @override
  void onCommand(Command command) => emit(onReceiveCommand, command);

  @override
  void onMessage(Message message) => emit(onReceiveMessage, message);

  @override
  void onCloseConnection(bool closed) => emit(onConnectionDone, closed);

  @override
  void onFailure(Object error, StackTrace stackTrace) => emit(onError, error);

  @override
  void endStreams() {
    for (final StreamController<Object?> controller in [
      onReceiveNotification,
      onReceiveCommand,
      onReceiveMessage,
      onSessionFinished,
      onSessionFailed,
      onConnectionDone,
      onError,
    ]) {
      controller.close();
    }
  }
}
