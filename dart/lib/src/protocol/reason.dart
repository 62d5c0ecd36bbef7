/// Why a session, command or message failed: `{"code": int, "description"?: string}`.
class Reason {
  /// Creates a reason.
  Reason({required this.code, this.description});

  /// Reads a reason from its JSON map.
  factory Reason.fromJson(Map<String, dynamic> json) =>
      Reason(code: (json['code'] as num).toInt(), description: json['description'] as String?);

  /// One of [ReasonCodes] (or an application-specific value).
  final int code;

  /// Human-readable text.
  final String? description;

  /// The JSON map; `description` is omitted when absent (0.0.25 wrote `""`).
  Map<String, dynamic> toJson() => {
        'code': code,
        if (description != null) 'description': description,
      };

  /// `"{description} (Code {code})"`, as every LIME implementation writes it.
  @override
  String toString() => '${description ?? ''} (Code $code)';

  @override
  bool operator ==(Object other) =>
      other is Reason && other.code == code && other.description == description;

  @override
  int get hashCode => Object.hash(code, description);
}

/// The LIME reason codes (C# `ReasonCodes`).
///
/// [applicationError] is 101, as in C# and every other implementation; pub `lime` 0.0.25 had
/// 10 (a bug, fixed here).
class ReasonCodes {
  /// A timeout on this side (pub `lime` 0.0.25; not a C# code).
  static const int timeoutError = 0;

  /// General error.
  static const int generalError = 1;

  /// General session error.
  static const int sessionError = 11;

  /// The session instance could not be registered.
  static const int sessionRegistrationError = 12;

  /// The authentication failed.
  static const int sessionAuthenticationFailed = 13;

  /// The session instance could not be unregistered.
  static const int sessionUnregisterFailed = 14;

  /// The action is not valid in the session's state.
  static const int sessionInvalidActionForState = 15;

  /// The session negotiation (or the whole handshake) timed out.
  static const int sessionNegotiationTimeout = 16;

  /// An invalid negotiation option was chosen.
  static const int sessionNegotiationInvalidOptions = 17;

  /// An invalid session mode was requested.
  static const int sessionInvalidSessionModeRequested = 18;

  /// General validation error.
  static const int validationError = 21;

  /// An empty document.
  static const int validationEmptyDocument = 22;

  /// An invalid resource.
  static const int validationInvalidResource = 23;

  /// An invalid status.
  static const int validationInvalidStatus = 24;

  /// An invalid identity.
  static const int validationInvalidIdentity = 25;

  /// Invalid recipients.
  static const int validationInvalidRecipients = 26;

  /// An invalid command method.
  static const int validationInvalidMethod = 27;

  /// An invalid command URI.
  static const int validationInvalidUri = 27;

  /// General authorization error.
  static const int authorizationError = 31;

  /// The sender is not authorized.
  static const int authorizationUnauthorizedSender = 32;

  /// The destination account was not found.
  static const int authorizationDestinationAccountNotFound = 33;

  /// A quota threshold was exceeded.
  static const int authorizationQuotaThresholdExceeded = 34;

  /// A permission is required.
  static const int authorizationPermissionRequired = 35;

  /// General routing error.
  static const int routingError = 41;

  /// The destination was not found.
  static const int routingDestinationNotFound = 42;

  /// The gateway was not found.
  static const int routingGatewayNotFound = 43;

  /// No route was found.
  static const int routingRouteNotFound = 44;

  /// General dispatch error.
  static const int dispatchError = 51;

  /// General command processing error.
  static const int commandProcessingError = 61;

  /// The resource is not supported.
  static const int commandResourceNotSupported = 62;

  /// The method is not supported.
  static const int commandMethodNotSupported = 63;

  /// An invalid argument.
  static const int commandInvalidArgument = 64;

  /// An invalid session mode for the command.
  static const int commandInvalidSessionMode = 65;

  /// The command is not allowed.
  static const int commandNotAllowed = 66;

  /// The resource was not found.
  static const int commandResourceNotFound = 67;

  /// General message processing error.
  static const int messageProcessingError = 61;

  /// The content type is not supported.
  static const int messageUnsupportedContentType = 71;

  /// General gateway error.
  static const int gatewayError = 81;

  /// The gateway does not support the content type.
  static const int gatewayContentTypeNotSupported = 82;

  /// The gateway did not find the destination.
  static const int gatewayDestinationNotFound = 83;

  /// The gateway does not support the operation.
  static const int gatewayNotSupported = 84;

  /// The gateway's request limit was reached.
  static const int gatewayRequestLimitReached = 85;

  /// The gateway operation timed out.
  static const int gatewayOperationTimedOut = 86;

  /// The gateway does not authorize the sender.
  static const int gatewayUnauthorizedSender = 87;

  /// An application-specific error (101, as in C#; 0.0.25 had 10).
  static const int applicationError = 101;
}
