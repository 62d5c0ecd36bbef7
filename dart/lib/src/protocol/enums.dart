// The closed sets of LIME, with the member names of pub `lime` 0.0.25.
//
// The wire spelling is the member name, except [SessionState.isNew] (`new` is a Dart
// keyword). Values 0.0.25 kept for unknown input ([CommandMethod.unknown],
// [NotificationEvent.unknown], [AuthenticationScheme.unknown]) cannot be sent.

/// The state of a session. The order is the protocol's: the server only moves forward.
enum SessionState {
  /// `new`: the client asks for a session.
  isNew,

  /// Transport options (encryption, compression) are negotiated.
  negotiating,

  /// The client proves who it is.
  authenticating,

  /// Messages, notifications and commands may flow.
  established,

  /// The client asked to end the session.
  finishing,

  /// The session ended normally.
  finished,

  /// The session ended with an error (see the session's reason).
  failed,
}

/// Transport encryption negotiated in the `negotiating` state.
enum SessionEncryption {
  /// Plain text.
  none,

  /// TLS, started on the same connection right after the negotiation.
  tls,
}

/// Transport compression negotiated in the `negotiating` state.
enum SessionCompression {
  /// No compression.
  none,

  /// gzip (no other LIME implementation supports it).
  gzip,
}

/// The method of a command.
enum CommandMethod {
  /// Reads a resource.
  get,

  /// Creates or replaces a resource.
  set,

  /// Deletes a resource.
  delete,

  /// Subscribes to changes of a resource.
  subscribe,

  /// Ends a subscription.
  unsubscribe,

  /// Notifies a change of a resource (no response).
  observe,

  /// Merges into a resource.
  merge,

  /// Not a LIME method (pub `lime` 0.0.25 reads an absent method as this). Cannot be sent.
  unknown,
}

/// The status of a command: `pending` for requests, `success`/`failure` for responses.
enum CommandStatus {
  /// A request (never written on the wire).
  pending,

  /// The request succeeded.
  success,

  /// The request failed (see the reason).
  failure,
}

/// What a notification says about a message.
enum NotificationEvent {
  /// The server accepted the message.
  accepted,

  /// The message was dispatched to its destination.
  dispatched,

  /// The destination received the message.
  received,

  /// The destination consumed the message.
  consumed,

  /// The message failed (see the reason).
  failed,

  /// Obsolete.
  @Deprecated('This specific event should not be sent anymore')
  validated,

  /// Obsolete.
  @Deprecated('This specific event should not be sent anymore')
  authorized,

  /// The message was deleted (C# `deleted`; new in this package).
  deleted,

  /// Not a LIME event. Cannot be sent.
  unknown,
}

/// The presence status of a node.
enum PresenceStatus {
  /// Not available.
  unavailable,

  /// Available.
  available,

  /// Busy.
  busy,

  /// Away.
  away,

  /// Invisible.
  invisible,
}

/// How envelopes addressed to an identity are routed to its instances.
enum RoutingRule {
  /// Only to the instance addressed.
  instance,

  /// To the identity's instances.
  identity,

  /// Obsolete.
  @Deprecated("Use 'promiscuous' property from presence with 'identity' routing rule")
  promiscuous,

  /// To the domain.
  domain,

  /// To the root domain.
  rootDomain,
}

/// An authentication scheme.
enum AuthenticationScheme {
  /// No credentials.
  guest,

  /// A password.
  plain,

  /// The TLS client certificate.
  transport,

  /// A key.
  key,

  /// A token issued by another party.
  external,

  /// Not a LIME scheme. Cannot be sent.
  unknown,
}

/// How strongly a certificate vouches for a domain.
enum DomainRole {
  /// It does not.
  unknown,

  /// A member of the domain.
  member,

  /// The domain itself.
  authority,

  /// The domain and its sub-domains.
  rootAuthority,
}

/// Wire spellings of [AuthenticationScheme].
extension AuthenticationSchemaExtension on AuthenticationScheme {
  /// The scheme spelled [value] (ignoring case), or [AuthenticationScheme.unknown].
  AuthenticationScheme getValue(String? value) => AuthenticationScheme.values.firstWhere(
        (e) => e.name == value?.toLowerCase(),
        orElse: () => AuthenticationScheme.unknown,
      );
}

/// Wire spellings and ordering of [NotificationEvent].
extension NotificationEventExtension on NotificationEvent {
  /// The event spelled [value] (ignoring case), or [NotificationEvent.unknown].
  NotificationEvent getValue(String? value) => NotificationEvent.values.firstWhere(
        (e) => e.name == value?.toLowerCase(),
        orElse: () => NotificationEvent.unknown,
      );

  /// True when this event comes before [other] in a message's life: accepted < dispatched
  /// < received < consumed < failed; any other event ranks last.
  bool isLowerThan(NotificationEvent? other) => _rank(this) < _rank(other);

  static int _rank(NotificationEvent? e) => switch (e) {
        NotificationEvent.accepted => 0,
        NotificationEvent.dispatched => 1,
        NotificationEvent.received => 2,
        NotificationEvent.consumed => 3,
        NotificationEvent.failed => 4,
        _ => 99,
      };
}
