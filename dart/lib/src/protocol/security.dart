import 'dart:convert';

import 'enums.dart';

/// Credentials sent to authenticate a session; [scheme] says which kind.
abstract class Authentication {
  /// Credentials of [_scheme].
  Authentication(this._scheme);

  final AuthenticationScheme _scheme;

  /// The scheme.
  AuthenticationScheme get scheme => _scheme;
}

/// No credentials.
class GuestAuthentication extends Authentication {
  /// Guest credentials.
  GuestAuthentication() : super(AuthenticationScheme.guest);
}

/// A password, sent as base64 of its UTF-8 text.
class PlainAuthentication extends Authentication {
  /// Credentials with [password] already in base64 (see [setToBase64Password]).
  PlainAuthentication({this.password}) : super(AuthenticationScheme.plain);

  /// The JSON key of the password.
  static const String passwordKey = 'password';

  /// The password, base64 of its UTF-8 text, as sent.
  String? password;

  /// Sets the password from its clear text.
  void setToBase64Password(final String? password) => this.password = password?.toBase64();

  /// The password in clear text ('' when there is none).
  String getFromBase64Password() => password?.fromBase64() ?? '';
}

/// A key, sent as base64 of its UTF-8 text.
class KeyAuthentication extends Authentication {
  /// Credentials with [key] already in base64 (see [setToBase64Key]).
  KeyAuthentication({this.key}) : super(AuthenticationScheme.key);

  /// The JSON key of the key.
  static const String keyKey = 'key';

  /// The key, base64 of its UTF-8 text, as sent.
  String? key;

  /// Sets the key from its clear text.
  void setToBase64Key(final String? key) => this.key = key?.toBase64();

  /// The key in clear text ('' when there is none).
  String getFromBase64Key() => key?.fromBase64() ?? '';
}

/// A token issued by another party ([issuer]).
class ExternalAuthentication extends Authentication {
  /// Credentials with [token] (already in base64, see [setToBase64Token]) from [issuer].
  ExternalAuthentication({this.token, this.issuer}) : super(AuthenticationScheme.external);

  /// The JSON key of the token.
  static const String tokenKey = 'token';

  /// The JSON key of the issuer.
  static const String issuerKey = 'issuer';

  /// The token, as sent.
  String? token;

  /// Who issued the token (for example `account.blip.ai`).
  String? issuer;

  /// Sets the token from its clear text.
  void setToBase64Token(final String? token) => this.token = token?.toBase64();

  /// The token in clear text ('' when there is none).
  String getFromBase64Token() => token?.fromBase64() ?? '';
}

/// The TLS client certificate proves the identity (present it with the transport options).
class TransportAuthentication extends Authentication {
  /// Transport credentials.
  TransportAuthentication({this.domainRole}) : super(AuthenticationScheme.transport);

  /// The role the certificate gives for the domain (informational; never sent).
  DomainRole? domainRole;
}

/// String helpers of pub `lime` 0.0.25.
extension StringExtension on String {
  /// This string without trailing repetitions of [pattern].
  String trimEnd(String pattern) {
    if (pattern.isEmpty) return this;
    var end = length;
    while (end >= pattern.length && startsWith(pattern, end - pattern.length)) {
      end -= pattern.length;
    }
    return substring(0, end);
  }

  /// Base64 of the UTF-8 bytes. Throws an [ArgumentError] on the empty string.
  String toBase64() {
    if (isEmpty) throw ArgumentError.value(this, 'value', 'cannot be empty');
    return base64.encode(utf8.encode(this));
  }

  /// The UTF-8 text of this base64. Throws an [ArgumentError] on the empty string and a
  /// [FormatException] on invalid base64 or UTF-8.
  String fromBase64() {
    if (isEmpty) throw ArgumentError.value(this, 'value', 'cannot be empty');
    return utf8.decode(base64.decode(this));
  }
}
