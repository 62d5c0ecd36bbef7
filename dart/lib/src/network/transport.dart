import 'dart:async';
import 'dart:io' show WebSocket;

import 'package:meta/meta.dart';

import '../convert.dart';
import '../native.dart';
import '../protocol/enums.dart';
import '../protocol/envelope.dart';
import '../protocol/exceptions.dart';
import '../rust/api/error.dart' as rust;
import '../rust/api/transport.dart' as rust;

/// Streams a transport offers to whoever listens (pub `lime` 0.0.25). They end (are closed)
/// when the connection ends.
class EnvelopeListener {
  /// Every envelope received, as its JSON map (filled by `ClientChannel` only while someone
  /// listens).
  StreamController<Map<String, dynamic>>? onEnvelope = StreamController<Map<String, dynamic>>();

  /// `true` when the connection ends.
  StreamController<bool>? onConnectionDone = StreamController<bool>();
}

/// Adds [value] to [controller] unless it is missing or closed (the connection ended).
@internal
void emit<T>(StreamController<T>? controller, T value) {
  if (controller != null && !controller.isClosed) controller.add(value);
}

/// A connection to a LIME server.
///
/// The transports of this package ([WebSocketTransport], [TcpTransport]) run in the Rust
/// core: [open] connects, then a `ClientChannel` takes the connection over and runs the
/// session on it (pings, receipts and command responses are handled there, in Rust).
abstract class Transport extends EnvelopeListener {
  /// Opens the connection to [uri]. [useMtls] requires a client certificate in the
  /// transport's options (pub `lime` 0.0.25 used a certificate bundled with the package).
  Future<void> open(final String uri, {final bool useMtls = false});

  /// Closes the connection (and the session running on it, without a session envelope; use
  /// `ClientChannel.sendFinishingSession` to end a session cleanly).
  Future<void> close();

  /// Sends an envelope through the session running on this transport.
  void send(Envelope envelope);

  /// Always null: the socket lives in the Rust core.
  WebSocket? socket;

  /// Compression in use.
  SessionCompression? compression;

  /// Encryption in use (`tls` for `wss://`, or after TLS was negotiated on TCP).
  SessionEncryption? encryption;

  /// `true` when [close] was called.
  StreamController<bool> onClose = StreamController<bool>();

  /// Ends the streams of this transport ([onEnvelope], [onConnectionDone], [onClose]): the
  /// connection is over. Called by the transport and by the channel running on it.
  @internal
  void endStreams() {
    onEnvelope?.close();
    onConnectionDone?.close();
    onClose.close();
  }
}

/// TLS and size settings of the transports of this package.
class TransportOptions {
  /// Settings; by default servers are verified against the Mozilla root certificates.
  const TransportOptions({
    this.useDefaultRoots = true,
    this.trustedRootsPem,
    this.clientCertificatePem,
    this.clientKeyPem,
    this.maxEnvelopeSize,
  });

  /// Trust the Mozilla root certificates.
  final bool useDefaultRoots;

  /// Extra trusted root certificates, PEM (a private CA).
  final String? trustedRootsPem;

  /// A client certificate chain, PEM: presented during the TLS handshake (mutual TLS,
  /// `transport` authentication). Needs [clientKeyPem].
  final String? clientCertificatePem;

  /// The private key of [clientCertificatePem], PEM.
  final String? clientKeyPem;

  /// Largest envelope sent or accepted, in bytes (default 8 MiB).
  final int? maxEnvelopeSize;

  /// The bridge form.
  @internal
  rust.TransportOptionsDto toDto() => rust.TransportOptionsDto(
        useDefaultRoots: useDefaultRoots,
        trustedRootsPem: trustedRootsPem,
        clientCertificatePem: clientCertificatePem,
        clientKeyPem: clientKeyPem,
        maxEnvelopeSize: maxEnvelopeSize,
      );
}

/// What a transport of this package needs from the channel that took it over.
@internal
abstract interface class AttachedChannel {
  /// Sends an envelope through the session.
  Future<void> sendEnvelope(Envelope envelope);

  /// Closes the connection.
  Future<void> closeConnection();

  /// Reports a failure that no caller receives (a [Transport.send] that failed).
  void reportFailure(Object error, StackTrace stackTrace);
}

/// A transport run by the Rust core; base of [WebSocketTransport] and [TcpTransport].
///
/// The open connection is a native handle. [close] releases it; a transport dropped without
/// [close] releases it when it is garbage-collected. Once a `ClientChannel` takes the
/// connection over, the channel owns it (see `Channel.dispose`).
abstract class NativeTransport extends Transport {
  /// A transport with [options].
  NativeTransport({TransportOptions? options}) : options = options ?? const TransportOptions();

  /// Releases the native handle of a transport that was dropped without [close].
  static final Finalizer<rust.LimeTransport> _release =
      Finalizer<rust.LimeTransport>((connection) => connection.dispose());

  /// TLS and size settings.
  final TransportOptions options;

  /// URI schemes this transport opens.
  @protected
  List<String> get schemes;

  rust.LimeTransport? _connection;
  AttachedChannel? _channel;
  bool _opened = false;

  /// The open connection, for the channel that takes it over.
  @internal
  rust.LimeTransport? get connection => _connection;

  /// Called by the channel that took the connection over: the native handle, now empty, is
  /// released at once.
  @internal
  void attach(AttachedChannel channel) {
    _channel = channel;
    _releaseConnection();
  }

  void _releaseConnection() {
    final connection = _connection;
    if (connection == null) return;
    _connection = null;
    _release.detach(this);
    connection.dispose();
  }

  /// The WebSocket subprotocol agreed with the server (`lime`), while no channel has taken
  /// the connection over.
  String? get subprotocol => _connection?.subprotocol;

  @override
  Future<void> open(final String uri, {final bool useMtls = false}) async {
    final scheme = uri.split('://').first.toLowerCase();
    if (!uri.contains('://') || !schemes.contains(scheme)) {
      throw ArgumentError.value(uri, 'uri', 'expected ${schemes.map((s) => '$s://').join(' or ')}');
    }
    if (useMtls && options.clientCertificatePem == null) {
      throw ArgumentError('useMtls needs TransportOptions.clientCertificatePem and clientKeyPem');
    }
    if (_opened) throw StateError('The transport was opened already (a transport opens once)');
    _opened = true;
    try {
      final connection = await rust.LimeTransport.connect(uri: uri, options: options.toDto());
      _connection = connection;
      _release.attach(this, connection, detach: this);
      encryption = encryptionOf(connection.encryption);
      compression = SessionCompression.none;
    } on rust.LimeError catch (e) {
      _opened = false;
      final failure = LimeException.fromNative(e);
      if (failure.kind == rust.ErrorCategory.transport &&
          (failure.reason.description ?? '').contains('TLS')) {
        throw InsecureSocketException('This connection is not secure: ${failure.reason.description}');
      }
      throw failure;
    }
  }

  /// Closes the connection and releases its native handle: [onClose] receives `true`, then
  /// every stream of the transport ends. With a channel on the connection, closes the
  /// channel's connection (its streams end too). Calling it again does nothing.
  @override
  Future<void> close() async {
    emit(onClose, true);
    final channel = _channel;
    if (channel != null) {
      await channel.closeConnection();
    } else {
      final connection = _connection;
      if (connection != null) {
        try {
          await nativeAsync(() => connection.close());
        } finally {
          _releaseConnection();
        }
      }
    }
    endStreams();
  }

  /// Sends [envelope] through the session (messages, notifications and commands, once it is
  /// established). This 0.0.25 method returns nothing: a failure goes to the channel's
  /// `onError` stream (`ClientChannel.sendMessage` and friends return it instead).
  @override
  void send(Envelope envelope) {
    final channel = _channel;
    if (channel == null) throw Exception('The connection is not open');
    unawaited(channel.sendEnvelope(envelope).catchError(channel.reportFailure));
  }
}

/// A WebSocket transport (`ws://`, `wss://`) with the `lime` subprotocol.
class WebSocketTransport extends NativeTransport {
  /// A WebSocket transport.
  WebSocketTransport({super.options});

  @override
  List<String> get schemes => const ['ws', 'wss'];
}

/// A TCP transport (`net.tcp://host:port`, default port 55321); TLS is negotiated in the
/// session when the server offers it (see `ClientChannel.negotiateSession`).
class TcpTransport extends NativeTransport {
  /// A TCP transport.
  TcpTransport({super.options});

  @override
  List<String> get schemes => const ['net.tcp'];
}
