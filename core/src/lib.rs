#![doc = include_str!("../README.md")]

pub mod channel;
pub mod client;
pub mod codec;
pub mod connection;
pub mod document;
pub mod enums;
pub mod envelope;
pub mod error;
pub mod node;
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
