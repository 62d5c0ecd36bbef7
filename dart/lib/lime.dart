/// LIME messaging protocol client for Dart and Flutter, on the lime-rs Rust core.
///
/// API-compatible with pub `lime` 0.0.25 (same names), with its bugs fixed (see the
/// package README). Call [initLime] once before anything else: envelopes, nodes and
/// sessions are handled by the native library, which the package's build hook builds.
///
/// In a Flutter app, [Notification] clashes with Flutter's `Notification`
/// (`package:flutter/widgets.dart`): import one of them with a prefix or `hide` it, e.g.
/// `import 'package:flutter/material.dart' hide Notification;` or
/// `import 'package:lime/lime.dart' as lime;`.
library;

export 'package:flutter_rust_bridge/flutter_rust_bridge_for_generated.dart' show ExternalLibrary;

export 'src/client/channel.dart' show Channel, commandTimeout;
export 'src/client/client_channel.dart' show ClientChannel;
export 'src/native.dart' show initLime;
export 'src/network/transport.dart'
    show EnvelopeListener, NativeTransport, TcpTransport, Transport, TransportOptions, WebSocketTransport;
export 'src/protocol/command.dart' show Command;
export 'src/protocol/document.dart' show Document, JsonDocument, PlainDocument, Presence;
export 'src/protocol/enums.dart'
    show
        AuthenticationSchemaExtension,
        AuthenticationScheme,
        CommandMethod,
        CommandStatus,
        DomainRole,
        NotificationEvent,
        NotificationEventExtension,
        PresenceStatus,
        RoutingRule,
        SessionCompression,
        SessionEncryption,
        SessionState;
export 'src/protocol/envelope.dart' show Envelope, EnvelopeExtension;
export 'src/protocol/exceptions.dart'
    show ErrorCategory, InsecureSocketException, LimeErrorKind, LimeException;
export 'src/protocol/guid.dart' show guid;
export 'src/protocol/identity.dart' show Identity, Node;
export 'src/protocol/lime_uri.dart' show LimeUri;
export 'src/protocol/media_type.dart' show CompositeTypes, DiscreteTypes, MediaType, SubTypes;
export 'src/protocol/message.dart' show Message;
export 'src/protocol/notification.dart' show Notification;
export 'src/protocol/reason.dart' show Reason, ReasonCodes;
export 'src/protocol/security.dart'
    show
        Authentication,
        ExternalAuthentication,
        GuestAuthentication,
        KeyAuthentication,
        PlainAuthentication,
        StringExtension,
        TransportAuthentication;
export 'src/protocol/session.dart' show Session;
export 'src/rust/frb_generated.dart' show RustLib;
