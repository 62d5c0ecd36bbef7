import 'dart:async';

import 'package:meta/meta.dart';

import '../convert.dart';
import '../native.dart';
import '../network/transport.dart';
import '../protocol/command.dart';
import '../protocol/enums.dart';
import '../protocol/envelope.dart';
import '../protocol/exceptions.dart';
import '../protocol/identity.dart';
import '../protocol/message.dart';
import '../protocol/notification.dart';
import '../protocol/session.dart';
import '../rust/api/client.dart' as rust;

/// The default timeout of `processCommand`, in milliseconds (pub `lime` 0.0.25).
const int commandTimeout = 6000;

/// A session over a [Transport], run by the Rust core: state machine, ping replies,
/// receipts and command correlation all happen there. This class holds the session
/// information and calls the hooks ([onMessage], [onNotification], [onCommand], [onSession],
/// [onCloseConnection]) for what arrives.
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

  final rust.ChannelOptionsDto _options;
  rust.LimeClient? _client;
  StreamSubscription<rust.ChannelEventDto>? _events;
  bool _closed = false;

  /// The native session, once the transport was taken over.
  @protected
  rust.LimeClient? get client => _client;

  /// The native session; takes the transport's connection over on first use.
  @protected
  Future<rust.LimeClient> ensureClient() async {
    final existing = _client;
    if (existing != null) return existing;
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
    t.attach(this);
    return client;
  }

  /// The session state.
  SessionState? get state {
    final c = _client;
    if (c == null) return _closed ? SessionState.failed : SessionState.isNew;
    return sessionStateOf(c.state);
  }

  /// The session id assigned by the server.
  String? get sessionId => _client?.info.sessionId;

  /// Our node, as the server registered it (once established).
  Node? get localNode => nodeOf(_client?.info.localNode);

  /// The server's node (once established).
  Node? get remoteNode => nodeOf(_client?.info.remoteNode);

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

  /// Starts delivering incoming envelopes to the hooks (once the session is established).
  @protected
  void startEvents() {
    final c = _client;
    if (c == null || _events != null) return;
    _events = c.events().listen(
          _dispatch,
          onError: (Object _) {},
          onDone: _connectionDone,
          cancelOnError: false,
        );
  }

  void _dispatch(rust.ChannelEventDto event) {
    final Envelope? envelope = switch (event.kind) {
      rust.ChannelEventKind.message => Message.fromDto(event.message!),
      rust.ChannelEventKind.notification => Notification.fromDto(event.notification!),
      rust.ChannelEventKind.command => Command.fromDto(event.command!),
      rust.ChannelEventKind.finished || rust.ChannelEventKind.failed => Session.fromDto(event.session!),
      rust.ChannelEventKind.closed => null,
    };
    final listeners = transport.onEnvelope;
    if (envelope != null && listeners != null && listeners.hasListener) {
      listeners.add(envelope.toJson());
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
  }

  void _connectionDone() {
    if (_closed) return;
    _closed = true;
    transport.onConnectionDone?.add(true);
    onCloseConnection(true);
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
    if (_events == null) _connectionDone();
  }
}
