import 'dart:async';

import 'package:flutter_rust_bridge/flutter_rust_bridge.dart' show AnyhowException;
import 'package:meta/meta.dart';

import '../convert.dart';
import '../in_flight.dart';
import '../native.dart';
import '../network/transport.dart';
import '../protocol/command.dart';
import '../protocol/enums.dart';
import '../protocol/envelope.dart';
import '../protocol/exceptions.dart';
import '../protocol/identity.dart';
import '../protocol/message.dart';
import '../protocol/notification.dart';
import '../protocol/reason.dart';
import '../protocol/session.dart';
import '../rust/api/client.dart' as rust;

/// The default timeout of `processCommand`, in milliseconds (pub `lime` 0.0.25).
const int commandTimeout = 6000;

/// A session over a [Transport], run by the Rust core: state machine, ping replies,
/// receipts and command correlation all happen there. This class holds the session
/// information and calls the hooks ([onMessage], [onNotification], [onCommand], [onSession],
/// [onCloseConnection]) for what arrives, and [onFailure] for failures no call returns
/// (including an exception thrown by one of the hooks).
///
/// The session is a native handle: [dispose] closes it and releases the handle at once; a
/// channel dropped without [dispose] releases it when it is garbage-collected.
abstract class Channel implements AttachedChannel {
  /// A channel over [transport], which must be a [WebSocketTransport] or [TcpTransport].
  Channel({
    required this.transport,
    required this.autoReplyPings,
    required this.autoNotifyReceipt,
    Duration? handshakeTimeout,
    Duration? remotePingInterval,
    Duration? remoteIdleTimeout,
  }) : _options = rust.ChannelOptionsDto(
          autoReplyPings: autoReplyPings,
          autoNotifyReceipt: autoNotifyReceipt,
          handshakeTimeoutMs: (handshakeTimeout ?? const Duration(milliseconds: commandTimeout))
              .inMilliseconds,
          remotePingIntervalMs: remotePingInterval?.inMilliseconds,
          remoteIdleTimeoutMs: remoteIdleTimeout?.inMilliseconds,
        );

  /// The transport the session runs on.
  final Transport transport;

  /// Answer the server's `get /ping` requests automatically (they are not delivered).
  final bool autoReplyPings;

  /// Send a `received` notification to the sender (`pp ?? from`) of every message with an
  /// id that arrives.
  final bool autoNotifyReceipt;

  /// Releases the native session of a channel that was dropped without [dispose].
  static final Finalizer<rust.LimeClient> _release =
      Finalizer<rust.LimeClient>((client) => client.dispose());

  final rust.ChannelOptionsDto _options;
  rust.LimeClient? _client;
  final InFlight<rust.LimeClient> _attaching = InFlight<rust.LimeClient>();
  StreamSubscription<rust.ChannelEventDto>? _events;
  rust.ChannelInfoDto? _lastInfo;
  bool _closed = false;
  bool _disposed = false;

  /// The native session, once the transport was taken over (null again after [dispose]).
  @protected
  rust.LimeClient? get client => _client;

  /// The native session; takes the transport's connection over on first use. Overlapping
  /// calls share that one take-over.
  @protected
  Future<rust.LimeClient> ensureClient() {
    final existing = _client;
    if (existing != null) return Future<rust.LimeClient>.value(existing);
    return _attaching.run(_attach);
  }

  Future<rust.LimeClient> _attach() async {
    if (_disposed) throw StateError('The channel was disposed');
    final t = transport;
    if (t is! NativeTransport) {
      throw ArgumentError.value(
          t, 'transport', 'ClientChannel runs on a WebSocketTransport or TcpTransport');
    }
    final connection = t.connection;
    if (connection == null) throw StateError('Open the transport first (transport.open(uri))');
    final client =
        await nativeAsync(() => rust.LimeClient.attach(transport: connection, options: _options));
    _client = client;
    _release.attach(this, client, detach: this);
    t.attach(this);
    if (_disposed) {
      // dispose() ran while the connection was being taken over.
      await _releaseClient();
      connectionEnded();
      throw StateError('The channel was disposed');
    }
    return client;
  }

  rust.ChannelInfoDto? get _info => _client?.info ?? _lastInfo;

  /// The session state.
  SessionState? get state {
    final info = _info;
    if (info == null) return _closed ? SessionState.failed : SessionState.isNew;
    return sessionStateOf(info.state);
  }

  /// The session id assigned by the server.
  String? get sessionId => _info?.sessionId;

  /// Our node, as the server registered it (once established).
  Node? get localNode => nodeOf(_info?.localNode);

  /// The server's node (once established).
  Node? get remoteNode => nodeOf(_info?.remoteNode);

  /// Opens the transport ([Transport.open]).
  Future<void> open(final String uri) => transport.open(uri);

  /// Session envelopes are sent by the handshake methods of `ClientChannel`; only a
  /// `finishing` session can be sent here (it finishes the session).
  Future<void> sendSession(Session session) async {
    if (session.state != SessionState.finishing) {
      throw UnsupportedError('Sessions are sent by the ClientChannel handshake methods');
    }
    final c = await ensureClient();
    await nativeAsync(() => c.finish());
  }

  /// Sends a command without waiting for its response (established sessions only).
  Future<void> sendCommand(Command command) async {
    final c = await ensureClient();
    await nativeAsync(() => c.sendCommand(command: command.toDto()));
  }

  /// Sends a notification (established sessions only).
  Future<void> sendNotification(Notification notification) async {
    final c = await ensureClient();
    await nativeAsync(() => c.sendNotification(notification: notification.toDto()));
  }

  /// Sends a message (established sessions only).
  Future<void> sendMessage(Message message) async {
    final c = await ensureClient();
    await nativeAsync(() => c.sendMessage(message: message.toDto()));
  }

  /// Sends a message, notification or command.
  Future<void> send(Envelope envelope) => switch (envelope) {
        final Message m => sendMessage(m),
        final Notification n => sendNotification(n),
        final Command c => sendCommand(c),
        final Session s => sendSession(s),
        _ => throw ArgumentError.value(envelope, 'envelope', 'not a LIME envelope kind'),
      };

  /// True when [envelope] is addressed to this node: no `to`, or `to` equal to the local
  /// node or to its identity.
  bool isForMe(Envelope envelope) {
    final to = envelope.to;
    final local = localNode;
    if (to == null) return true;
    if (local == null) return false;
    return to == local || (to.instance == null && to.toIdentity() == local.toIdentity());
  }

  /// Called for every message received.
  void onMessage(Message message) {}

  /// Called for the session envelope that ends the session (`finished` or `failed`).
  void onSession(Session session) {}

  /// Called for every notification received.
  void onNotification(Notification notification) {}

  /// Called for every command received that is not the response to one of ours.
  void onCommand(Command command) {}

  /// Called once when the connection ends.
  void onCloseConnection(bool closed) {}

  /// Called with a failure that no call of this channel returns: the error that ended the
  /// connection, the incoming event stream failing, an exception thrown by one of the hooks
  /// above, and a [Transport.send] that failed. Such failures never become uncaught errors of
  /// the zone.
  void onFailure(Object error, StackTrace stackTrace) {}

  /// Called once after [onCloseConnection], to end (close) the streams the channel feeds.
  @protected
  void endStreams() {}

  /// Starts delivering incoming envelopes to the hooks (once the session is established).
  @protected
  void startEvents() {
    final c = _client;
    if (c == null || _events != null) return;
    _events = c.events().listen(
          _dispatch,
          onError: (Object error, StackTrace stackTrace) => reportFailure(
              error is AnyhowException ? LimeException.fromStreamError(error) : error, stackTrace),
          onDone: connectionEnded,
          cancelOnError: false,
        );
  }

  void _dispatch(rust.ChannelEventDto event) {
    try {
      final Envelope? envelope = switch (event.kind) {
        rust.ChannelEventKind.message => Message.fromDto(event.message!),
        rust.ChannelEventKind.notification => Notification.fromDto(event.notification!),
        rust.ChannelEventKind.command => Command.fromDto(event.command!),
        rust.ChannelEventKind.finished ||
        rust.ChannelEventKind.failed =>
          Session.fromDto(event.session!),
        rust.ChannelEventKind.closed => null,
      };
      final listeners = transport.onEnvelope;
      if (envelope != null && listeners != null && listeners.hasListener) {
        emit(listeners, envelope.toJson());
      }
      final error = event.error;
      if (event.kind == rust.ChannelEventKind.closed && error != null) {
        // The connection ended on an error rather than a session envelope.
        reportFailure(
            LimeException(CommandStatus.failure, ReasonCodes.generalError, description: error),
            StackTrace.current);
      }
      switch (envelope) {
        case final Message m:
          onMessage(m);
        case final Notification n:
          onNotification(n);
        case final Command c:
          onCommand(c);
        case final Session s:
          onSession(s);
        default:
          break;
      }
    } catch (error, stackTrace) {
      reportFailure(error, stackTrace);
    }
  }

  /// The connection is over: reports it once ([Transport.onConnectionDone],
  /// [onCloseConnection]), then ends every stream of the channel and of its transport.
  @protected
  void connectionEnded() {
    if (_closed) return;
    _closed = true;
    emit(transport.onConnectionDone, true);
    try {
      onCloseConnection(true);
    } catch (error, stackTrace) {
      reportFailure(error, stackTrace);
    }
    endStreams();
    transport.endStreams();
  }

  /// Closes the connection if it is still open (without a session envelope: end a session
  /// cleanly with `ClientChannel.sendFinishingSession` first), ends every stream of the
  /// channel and its transport, and releases the native session now rather than when the
  /// channel is garbage-collected. [state], [sessionId] and the nodes keep their last values;
  /// anything else fails afterwards. Calling it again does nothing.
  Future<void> dispose() async {
    if (_disposed) return;
    _disposed = true;
    await _releaseClient();
    connectionEnded();
  }

  /// Closes the native session, keeps its last information and releases it.
  Future<void> _releaseClient() async {
    final c = _client;
    if (c == null) return;
    try {
      await nativeAsync(() => c.close());
    } catch (error, stackTrace) {
      reportFailure(error, stackTrace);
    }
    _lastInfo = c.info;
    await _events?.cancel();
    _events = null;
    _client = null;
    _release.detach(this);
    c.dispose();
  }

  /// [AttachedChannel]: sends for `Transport.send`.
  @override
  @internal
  Future<void> sendEnvelope(Envelope envelope) => send(envelope);

  /// [AttachedChannel]: closes for `Transport.close`.
  @override
  @internal
  Future<void> closeConnection() async {
    final c = _client;
    if (c != null) await nativeAsync(() => c.close());
    if (_events == null) connectionEnded();
  }

  /// [AttachedChannel]: hands a failure to [onFailure]; a failure of [onFailure] itself has
  /// nowhere else to go and is dropped.
  @override
  @internal
  void reportFailure(Object error, StackTrace stackTrace) {
    try {
      onFailure(error, stackTrace);
    } catch (_) {
      // The application's failure hook failed: nothing left to tell.
    }
  }
}
