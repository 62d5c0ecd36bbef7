//! Errors of the LIME core.
//!
//! One top-level [`enum@Error`] whose families are small enums joined by `From`, so a caller can
//! match on a family (`Error::Parse(_)`) without caring about every detail. Errors never carry
//! the input they failed on beyond a short excerpt: envelopes may hold private data.

use std::fmt;

/// Result type of the crate, with [`enum@Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the LIME core reports.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An envelope, node, media type or URI could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A byte stream could not be split into envelopes.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The transport failed (I/O, TLS, WebSocket, size limit).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The session could not be established or ended with a failure.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A command could not be sent or its response matched.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// An operation did not complete in time.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The channel is closed.
    #[error("the channel is closed")]
    Closed,
}

impl Error {
    /// The LIME reason to tell a peer about this error (rustls' alert mapping, for LIME).
    pub fn reason(&self) -> crate::Reason {
        use crate::reason::codes;
        match self {
            Self::Session(SessionError::Failed { reason }) => reason.clone(),
            Self::Session(SessionError::InvalidState { .. }) => {
                crate::Reason::new(codes::SESSION_INVALID_ACTION_FOR_STATE, self.to_string())
            }
            Self::Command(CommandError::Failed { reason }) => reason.clone(),
            Self::Parse(_) | Self::Frame(_) => {
                crate::Reason::new(codes::VALIDATION_ERROR, self.to_string())
            }
            Self::Timeout(_) => {
                crate::Reason::new(codes::SESSION_NEGOTIATION_TIMEOUT, self.to_string())
            }
            _ => crate::Reason::new(codes::GENERAL_ERROR, self.to_string()),
        }
    }

    /// What a binding tells its application this error is. Every host uses these categories
    /// under its own casing (Kotlin/Swift `LimeException.Closed`, Dart `LimeErrorKind.closed`,
    /// …; `ARCHITECTURE.md` has the table), so the same failure has the same name everywhere.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Self::Parse(_) | Self::Frame(_) => ErrorCategory::Parse,
            Self::Transport(TransportError::Closed) | Self::Closed => ErrorCategory::Closed,
            Self::Transport(_) => ErrorCategory::Transport,
            Self::Timeout(_) => ErrorCategory::Timeout,
            Self::Command(_) => ErrorCategory::Command,
            Self::Session(_) => ErrorCategory::Session,
        }
    }
}

/// The kinds of failure a host sees (see [`Error::category`] and
/// [`crate::convert::host_error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[non_exhaustive]
pub enum ErrorCategory {
    /// Text that is not valid LIME (an envelope, a frame, a node, a URI, a document).
    Parse,
    /// The connection failed: I/O, TLS, WebSocket, a size limit, an unsupported option.
    Transport,
    /// The session was refused or failed (with the server's reason), or does not allow the
    /// operation in its state.
    Session,
    /// A command failed or could not be matched.
    Command,
    /// Something did not complete in time.
    Timeout,
    /// The connection or session is over.
    Closed,
    /// A value the application passed is not valid (a node, media type, JSON text, missing
    /// credential field): [`crate::convert::ConvertError`]s. [`Error::category`] never returns
    /// it; hosts get it from the [`crate::convert`] functions.
    InvalidArgument,
}

/// Why a transport failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// An I/O error (connection refused, reset, …).
    #[error("I/O error: {0}")]
    Io(String),
    /// The peer sent bytes that are not a valid envelope stream.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// An envelope to send is larger than the configured maximum; nothing was sent and the
    /// transport stays open.
    #[error("envelope of {size} bytes exceeds the maximum size of {limit} bytes; not sent")]
    EnvelopeTooLarge {
        /// Serialized size of the envelope.
        size: usize,
        /// The configured maximum.
        limit: usize,
    },
    /// TLS configuration or handshake failure.
    #[error("TLS error: {0}")]
    Tls(String),
    /// WebSocket protocol failure.
    #[error("WebSocket error: {0}")]
    WebSocket(String),
    /// The requested option (encryption, compression, scheme) is not supported here.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The URI is not one this transport can open.
    #[error("invalid transport URI {0:?}")]
    InvalidUri(String),
    /// The transport is closed.
    #[error("the transport is closed")]
    Closed,
}

impl From<std::io::Error> for TransportError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

/// Why a session could not be established, or how it ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer sent `failed` with this reason.
    #[error("session failed: {reason}")]
    Failed {
        /// The reason given by the peer.
        reason: crate::Reason,
    },
    /// The operation is not allowed in the channel's current state.
    #[error("cannot {action} in the {state} state")]
    InvalidState {
        /// What was attempted.
        action: &'static str,
        /// The channel's state.
        state: crate::SessionState,
    },
    /// The peer broke the protocol (e.g. a message before `established`).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The session was finished by the peer.
    #[error("the session was finished by the remote party")]
    Finished,
}

/// Why a command could not be processed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// A request with this id is already waiting for its response.
    #[error("a command with id {0:?} is already pending")]
    DuplicateId(String),
    /// The command is not a request (its status is not pending) or has no id.
    #[error("invalid command request: {0}")]
    InvalidRequest(&'static str),
    /// The response had status `failure`.
    #[error("command failed: {reason}")]
    Failed {
        /// The reason in the response.
        reason: crate::Reason,
    },
}

/// Why a piece of LIME text could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The bytes are not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Valid JSON that is not an envelope (not an object, or none of `content`, `event`,
    /// `method`, `state`).
    #[error("not a LIME envelope: {0}")]
    NotEnvelope(String),
    /// A known field holds a value of the wrong shape.
    #[error("invalid `{field}`: {message}")]
    InvalidField {
        /// JSON name of the field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// An enumerated field holds a value LIME does not define.
    #[error("unknown {what} {value:?} (expected one of: {expected})")]
    UnknownValue {
        /// Which enumeration (`session state`, `command method`, …).
        what: &'static str,
        /// The value found (truncated when long).
        value: String,
        /// The accepted spellings.
        expected: &'static str,
    },
    /// A node or identity string that cannot be parsed.
    #[error("invalid node {input:?}: {message}")]
    InvalidNode {
        /// The input (truncated when long).
        input: String,
        /// What is wrong with it.
        message: &'static str,
    },
    /// A media type that is not `type/subtype[+suffix]`.
    #[error("invalid media type {input:?}: {message}")]
    InvalidMediaType {
        /// The input (truncated when long).
        input: String,
        /// What is wrong with it.
        message: &'static str,
    },
    /// A command URI that is neither relative nor `lime://`.
    #[error("invalid LIME URI {input:?}: {message}")]
    InvalidUri {
        /// The input (truncated when long).
        input: String,
        /// What is wrong with it.
        message: &'static str,
    },
}

impl ParseError {
    /// A stable, language-neutral name of the error family, used by the cross-language vectors:
    /// `json`, `not_envelope`, `invalid_field`, `unknown_value`, `invalid_node`,
    /// `invalid_media_type` or `invalid_uri`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Json(_) => "json",
            Self::NotEnvelope(_) => "not_envelope",
            Self::InvalidField { .. } => "invalid_field",
            Self::UnknownValue { .. } => "unknown_value",
            Self::InvalidNode { .. } => "invalid_node",
            Self::InvalidMediaType { .. } => "invalid_media_type",
            Self::InvalidUri { .. } => "invalid_uri",
        }
    }

    pub(crate) fn invalid_node(input: &str, message: &'static str) -> Self {
        Self::InvalidNode { input: excerpt(input), message }
    }

    pub(crate) fn invalid_media_type(input: &str, message: &'static str) -> Self {
        Self::InvalidMediaType { input: excerpt(input), message }
    }

    pub(crate) fn invalid_uri(input: &str, message: &'static str) -> Self {
        Self::InvalidUri { input: excerpt(input), message }
    }

    pub(crate) fn field(field: &'static str, message: impl fmt::Display) -> Self {
        Self::InvalidField { field, message: message.to_string() }
    }

    pub(crate) fn unknown(what: &'static str, value: &str, expected: &'static str) -> Self {
        Self::UnknownValue { what, value: excerpt(value), expected }
    }

    /// Attaches a field name to an error found while parsing that field's value.
    pub(crate) fn in_field(self, field: &'static str) -> Self {
        match self {
            Self::InvalidField { .. } | Self::UnknownValue { .. } => self,
            other => Self::InvalidField { field, message: other.to_string() },
        }
    }

    pub(crate) fn from_json(err: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match err.classify() {
            Category::Data => Self::NotEnvelope(err.to_string()),
            Category::Io | Category::Syntax | Category::Eof => Self::Json(err.to_string()),
        }
    }
}

/// Why a byte stream could not be split into envelopes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// An envelope grew beyond the configured maximum before it was complete.
    #[error("envelope starting at byte offset {offset} exceeds the maximum size of {limit} bytes")]
    TooLarge {
        /// Stream offset of the envelope's opening brace.
        offset: u64,
        /// The configured maximum envelope size in bytes.
        limit: usize,
    },
    /// A complete frame that is not a valid envelope.
    #[error("invalid envelope at byte offset {offset}: {error}")]
    Invalid {
        /// Stream offset of the envelope's opening brace.
        offset: u64,
        /// Why it could not be parsed.
        error: ParseError,
    },
    /// The stream ended inside an envelope.
    #[error("stream ended inside the envelope starting at byte offset {offset}")]
    Truncated {
        /// Stream offset of the envelope's opening brace.
        offset: u64,
    },
}

impl FrameError {
    /// A stable, language-neutral name: `too_large`, `truncated`, or the [`ParseError::kind`]
    /// of an invalid envelope.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Truncated { .. } => "truncated",
            Self::Invalid { error, .. } => error.kind(),
        }
    }

    /// Stream offset of the opening brace of the envelope at fault.
    pub fn offset(&self) -> u64 {
        match self {
            Self::TooLarge { offset, .. }
            | Self::Truncated { offset }
            | Self::Invalid { offset, .. } => *offset,
        }
    }
}

const EXCERPT: usize = 64;

/// The first characters of untrusted input, for error messages.
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
