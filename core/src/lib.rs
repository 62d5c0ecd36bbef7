#![doc = include_str!("../README.md")]

// With the `uniffi` feature the plain types hosts see (enums, `Reason`, `ErrorCategory`,
// `convert::Credentials`) carry uniffi derives; bindings/ffi exports them from its library.
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub mod channel;
pub mod client;
pub mod codec;
pub mod connection;
pub mod convert;
pub mod document;
pub mod enums;
pub mod envelope;
pub mod error;
pub mod node;
#[cfg(feature = "server")]
pub mod server;
pub mod transport;
pub mod uri;

pub use crate::{
    client::Client,
    codec::{EnvelopeDecoder, FrameDecoder, DEFAULT_MAX_ENVELOPE_SIZE},
    connection::ClientConnection,
    document::{Document, MediaType, TypedDocument},
    enums::{
        AuthenticationScheme, CommandMethod, CommandStatus, NotificationEvent, SessionCompression,
        SessionEncryption, SessionState,
    },
    envelope::{
        reason, Authentication, Command, Envelope, EnvelopeKind, Message, Metadata, Notification,
        Reason, Session,
    },
    error::{
        CommandError, Error, ErrorCategory, FrameError, ParseError, Result, SessionError,
        TransportError,
    },
    node::{Identity, Node},
    uri::LimeUri,
};
