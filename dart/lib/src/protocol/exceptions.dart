import 'package:flutter_rust_bridge/flutter_rust_bridge.dart' show AnyhowException;

import '../rust/api/error.dart' as rust;
import 'enums.dart';
import 'reason.dart';

/// What kind of failure a [LimeException] reports: lime-core's `ErrorCategory` (`parse`,
/// `transport`, `session`, `command`, `timeout`, `closed`, `invalidArgument`), the same list
/// every binding of the core reports.
export '../rust/api/error.dart' show ErrorCategory;

/// The name this package used for [ErrorCategory] before it was the core's enum.
typedef LimeErrorKind = rust.ErrorCategory;

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

  /// Converts an error of a native stream, which arrives as its description only: reason 1
  /// (general error), no [kind].
  factory LimeException.fromStreamError(AnyhowException error) =>
      LimeException(CommandStatus.failure, ReasonCodes.generalError, description: error.message);

  /// Always [CommandStatus.failure] for native failures.
  final CommandStatus status;

  /// The LIME reason: the server's for session (13: authentication failed, …) and command
  /// failures; 21 for invalid LIME text and invalid arguments (a bad node, media type or
  /// document, a missing password), 1 for connection errors and a closed channel, 0
  /// ([ReasonCodes.timeoutError]) for timeouts.
  final Reason reason;

  /// The category of a native failure, or null for exceptions built by application code.
  final rust.ErrorCategory? kind;

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
