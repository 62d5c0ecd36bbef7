import '../rust/api/error.dart' as rust;
import 'enums.dart';
import 'reason.dart';

/// What kind of failure a [LimeException] reports (the generated `LimeErrorKind`).
export '../rust/api/error.dart' show LimeErrorKind;

/// A LIME failure: a session or command refused by the server, a timeout, a closed channel,
/// a connection error or invalid LIME text. Carries the LIME [reason].
///
/// As in pub `lime` 0.0.25 it extends [Error]; every native failure of this package arrives
/// as one (with [kind] set).
class LimeException extends Error {
  /// A failure with [status], [code] and [description] (the 0.0.25 constructor).
  LimeException(this.status, int code, {String? description})
      : reason = Reason(code: code, description: description),
        kind = null;

  LimeException._native(this.kind, this.reason) : status = CommandStatus.failure;

  /// Converts a native error (and releases it).
  factory LimeException.fromNative(rust.LimeError error) {
    final reason = error.reason;
    final kind = error.kind;
    error.dispose();
    return LimeException._native(kind, Reason(code: reason.code, description: reason.description));
  }

  /// Always [CommandStatus.failure] for native failures.
  final CommandStatus status;

  /// The LIME reason: the server's for session (13: authentication failed, …) and command
  /// failures; 21 for invalid LIME text, 1 for connection errors and a closed channel, 0
  /// ([ReasonCodes.timeoutError]) for timeouts.
  final Reason reason;

  /// The kind of native failure, or null for exceptions built by application code.
  final rust.LimeErrorKind? kind;

  @override
  String toString() => reason.toString();
}

/// The connection could not be secured (TLS handshake or certificate failure).
class InsecureSocketException implements Exception {
  /// An exception with [message].
  InsecureSocketException(this.message);

  /// What went wrong.
  String message;

  /// `{"message": message}`.
  Map<String, dynamic> toJson() => {'message': message};

  @override
  String toString() => 'InsecureSocketException: $message';
}
