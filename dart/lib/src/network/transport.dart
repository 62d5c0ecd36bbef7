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

/// Streams a transport offers to whoever listens (pub `lime` 0.0.25).
class EnvelopeListener {
  /// Every envelope received, as its JSON map (filled by `ClientChannel` only while someone
  /// listens).
  StreamController<Map<String, dynamic>>? onEnvelope = StreamController<Map<String, dynamic>>();

  /// `true` when the connection ends.
  StreamController<bool>? onConnectionDone = StreamController<bool>();
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
}

/// A transport run by the Rust core; base of [WebSocketTransport] and [TcpTransport].
abstract class NativeTransport extends Transport {
  /// A transport with [options].
  NativeTransport({TransportOptions? options}) : options = options ?? const TransportOptions();

  /// TLS and size settings.
  final TransportOptions options;

  /// URI schemes this transport opens.
  @protected
  List<String> get schemes;

  rust.LimeTransport? _connection;
  AttachedChannel? _channel;

  /// The open connection, for the channel that takes it over.
  @internal
  rust.LimeTransport? get connection => _connection;

  /// Called by the channel that took the connection over.
  @internal
  void attach(AttachedChannel channel) => _channel = channel;

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
    if (_connection != null) throw StateError('The transport is already open');
    try {
      final connection = await rust.LimeTransport.connect(uri: uri, options: options.toDto());
      _connection = connection;
      encryption = encryptionOf(connection.encryption);
      compression = SessionCompression.none;
    } on rust.LimeError catch (e) {
      final failure = LimeException.fromNative(e);
      if (failure.kind == rust.LimeErrorKind.transport &&
          (failure.reason.description ?? '').contains('TLS')) {
        throw InsecureSocketException('This connection is not secure: ${failure.reason.description}');
      }
      throw failure;
    }
  }

  @override
  Future<void> close() async {
    final channel = _channel;
    if (channel != null) {
      await channel.closeConnection();
    } else {
      await nativeAsync(() => _connection?.close() ?? Future<void>.value());
    }
    onClose.add(true);
  }

  /// Sends [envelope] through the session (messages, notifications and commands, once it is
  /// established). Errors are reported by `ClientChannel.sendMessage` and friends, which
  /// return a `Future`; this 0.0.25 method cannot.
  @override
  void send(Envelope envelope) {
    final channel = _channel;
    if (channel == null) throw Exception('The connection is not open');
    unawaited(channel.sendEnvelope(envelope).catchError((Object _) {}));
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
