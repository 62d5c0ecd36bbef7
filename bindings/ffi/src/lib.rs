//! Kotlin and Swift bindings of the LIME core, generated with uniffi (proc-macros, no UDL).
//!
//! A thin layer: [`LimeClient`] wraps a [`lime::Client`] (the connection, session state
//! machine, command correlation, ping replies and receipts all stay in `lime-core`), envelopes
//! cross as value records ([`Message`], [`Notification`], [`Command`], [`SessionInfo`]),
//! failures as one [`LimeError`], and incoming envelopes reach the application through a
//! [`ChannelListener`] implemented in Kotlin or Swift. Everything runs on a tokio runtime
//! owned by this library.
//!
//! `README.md` shows the generated API from Kotlin and the Android and iOS builds.

uniffi::setup_scaffolding!();

mod client;
mod codec;
mod error;
mod listener;
mod records;
mod runtime;
mod task_handle;

pub use crate::{
    client::{ConnectOptions, LimeClient},
    codec::{
        canonicalize_envelope, compare_nodes, decode_stream, json_equals, parse_media_type,
        parse_node, parse_uri, CanonicalEnvelope, CodecError, DecodeResult, MediaTypeParts,
        NodeComparison, NodeParts, UriParts,
    },
    error::LimeError,
    listener::ChannelListener,
    records::{
        Authentication, Command, CommandMethod, CommandStatus, Message, Notification,
        NotificationEvent, Reason, SessionInfo, SessionState,
    },
    task_handle::TaskHandle,
};
