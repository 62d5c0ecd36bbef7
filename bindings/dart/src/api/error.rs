//! [`LimeError`]: the one error type of the Dart bindings, converted from [`lime::Error`].
//!
//! Every fallible function of the API returns `Result<_, LimeError>`; the generated Dart code
//! throws the error, and the idiomatic layer in `dart/lib/src/` turns it into a
//! `LimeException` carrying the LIME [`ReasonDto`] and the core's [`ErrorCategory`].
//!
//! The categories are lime-core's own enum, not a copy: [`_ErrorCategory`] only tells
//! flutter_rust_bridge its variants (`#[frb(mirror)]`), and the generated code converts the
//! core type itself, so the list is defined once, in `core/src/error.rs`.
//!
//! The enum is opaque on the Dart side (`#[frb(opaque)]`): flutter_rust_bridge turns enums
//! with fields into `freezed` classes, which need `build_runner` to generate code. An opaque
//! error keeps the generated Dart self-contained; Dart reads it through [`LimeError::kind`],
//! [`LimeError::reason`] and [`LimeError::message`].

use flutter_rust_bridge::frb;
use lime::reason::codes;
pub use lime::ErrorCategory;

use super::reason::ReasonDto;

/// Every failure the Dart bindings report.
#[frb(opaque)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimeError {
    /// Text that is not valid LIME: an envelope, node, media type, URI or JSON document.
    Parse {
        /// What could not be parsed, and why.
        message: String,
    },
    /// The connection failed (I/O, TLS, WebSocket, envelope size limit).
    Transport {
        /// What failed.
        message: String,
    },
    /// The session could not be established, was refused or does not allow the operation
    /// (13: authentication failed, 15: invalid action for the state, …).
    Session {
        /// LIME reason code.
        code: i32,
        /// The reason's description.
        description: String,
    },
    /// A command could not be sent or its response matched.
    Command {
        /// LIME reason code.
        code: i32,
        /// The reason's description.
        description: String,
    },
    /// The operation did not complete in time.
    Timeout {
        /// What timed out.
        message: String,
    },
    /// The channel is closed.
    Closed,
    /// A value the application passed is not valid (a node, media type, document text,
    /// missing credential field), by the rules of `lime::convert`; names the field.
    InvalidArgument {
        /// Which field, and why.
        message: String,
    },
}

/// The kinds of failure a host sees: lime-core's [`ErrorCategory`], the same list in every
/// binding.
///
/// (In Rust this item only lists the core enum's variants for flutter_rust_bridge, which
/// generates the Dart enum from it and converts the core enum directly, `#[frb(mirror)]`. Keep
/// it in the core's order; the test `the_mirror_lists_the_core_categories` checks every
/// category [`LimeError::kind`] returns.)
#[frb(mirror(ErrorCategory))]
#[allow(dead_code)]
pub enum _ErrorCategory {
    /// Text that is not valid LIME.
    Parse,
    /// The connection failed.
    Transport,
    /// The session was refused or failed, or does not allow the operation.
    Session,
    /// A command failed or could not be matched.
    Command,
    /// Something did not complete in time.
    Timeout,
    /// The connection or session is over.
    Closed,
    /// A value the application passed is not valid.
    InvalidArgument,
}

impl LimeError {
    /// Which kind of error this is: the core's category of the failure.
    #[frb(sync, getter)]
    pub fn kind(&self) -> ErrorCategory {
        match self {
            Self::Parse { .. } => ErrorCategory::Parse,
            Self::Transport { .. } => ErrorCategory::Transport,
            Self::Session { .. } => ErrorCategory::Session,
            Self::Command { .. } => ErrorCategory::Command,
            Self::Timeout { .. } => ErrorCategory::Timeout,
            Self::Closed => ErrorCategory::Closed,
            Self::InvalidArgument { .. } => ErrorCategory::InvalidArgument,
        }
    }

    /// The LIME reason: the peer's for session and command failures, otherwise the code the
    /// C# implementation uses for this kind of failure (21 validation error for parse errors
    /// and invalid arguments,
    /// 1 general error for transport errors and a closed channel, 0 — the `timeoutError` of
    /// pub `lime` 0.0.25 — for timeouts).
    #[frb(sync, getter)]
    pub fn reason(&self) -> ReasonDto {
        let (code, description) = match self {
            Self::Parse { message } | Self::InvalidArgument { message } => {
                (codes::VALIDATION_ERROR, message.clone())
            }
            Self::Transport { message } => (codes::GENERAL_ERROR, message.clone()),
            Self::Session { code, description } | Self::Command { code, description } => {
                (*code, description.clone())
            }
            Self::Timeout { message } => (TIMEOUT_ERROR, message.clone()),
            Self::Closed => (codes::GENERAL_ERROR, "the channel is closed".to_owned()),
        };
        ReasonDto { code, description: Some(description) }
    }

    /// A one-line description for logs and `toString()`.
    #[frb(sync, getter)]
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// `ReasonCodes.timeoutError` of pub `lime` 0.0.25 (not a C# code).
pub(crate) const TIMEOUT_ERROR: i32 = 0;

impl std::fmt::Display for LimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse { message } => write!(f, "parse error: {message}"),
            Self::Transport { message } => write!(f, "transport error: {message}"),
            Self::Session { code, description } => {
                write!(f, "session error: {description} (Code {code})")
            }
            Self::Command { code, description } => {
                write!(f, "command error: {description} (Code {code})")
            }
            Self::Timeout { message } => write!(f, "timeout: {message}"),
            Self::Closed => f.write_str("the channel is closed"),
            Self::InvalidArgument { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for LimeError {}

impl From<lime::Error> for LimeError {
    fn from(e: lime::Error) -> Self {
        let reason = e.reason();
        let description = reason.description.unwrap_or_else(|| e.to_string());
        match e.category() {
            lime::ErrorCategory::Parse => Self::Parse { message: e.to_string() },
            lime::ErrorCategory::Closed => Self::Closed,
            lime::ErrorCategory::Transport => Self::Transport { message: e.to_string() },
            lime::ErrorCategory::Timeout => Self::Timeout { message: e.to_string() },
            lime::ErrorCategory::Command => Self::Command { code: reason.code, description },
            lime::ErrorCategory::InvalidArgument => {
                Self::InvalidArgument { message: e.to_string() }
            }
            // `Session` and any category a later lime-core adds: a session-level failure with
            // the reason the core would tell a peer.
            _ => Self::Session { code: reason.code, description },
        }
    }
}

impl From<lime::ParseError> for LimeError {
    fn from(e: lime::ParseError) -> Self {
        Self::Parse { message: e.to_string() }
    }
}

impl From<lime::TransportError> for LimeError {
    fn from(e: lime::TransportError) -> Self {
        lime::Error::from(e).into()
    }
}

impl From<lime::convert::ConvertError> for LimeError {
    fn from(e: lime::convert::ConvertError) -> Self {
        Self::InvalidArgument { message: e.to_string() }
    }
}

/// An argument the application passed that is not valid, naming the field (the core's
/// `ConvertError` form: ``invalid `field`: why``).
pub(crate) fn invalid(field: &str, why: impl std::fmt::Display) -> LimeError {
    lime::convert::ConvertError::new(field, why).into()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lime::{CommandError, Reason, SessionError, SessionState, TransportError};

    use super::*;

    #[test]
    fn session_failures_keep_the_peer_reason() {
        let e: LimeError = lime::Error::from(SessionError::Failed {
            reason: Reason::new(codes::SESSION_AUTHENTICATION_FAILED, "nope"),
        })
        .into();
        assert_eq!(e, LimeError::Session { code: 13, description: "nope".into() });
        assert_eq!(e.kind(), ErrorCategory::Session);
        assert_eq!(e.reason(), ReasonDto { code: 13, description: Some("nope".into()) });
        assert_eq!(e.message(), "session error: nope (Code 13)");
    }

    #[test]
    fn invalid_state_is_code_15() {
        let e: LimeError = lime::Error::from(SessionError::InvalidState {
            action: "send a message",
            state: SessionState::New,
        })
        .into();
        let LimeError::Session { code, description } = &e else { panic!("{e:?}") };
        assert_eq!(*code, codes::SESSION_INVALID_ACTION_FOR_STATE);
        assert!(description.contains("send a message"), "{description}");
    }

    #[test]
    fn command_failures_and_duplicates() {
        let e: LimeError = lime::Error::from(CommandError::Failed {
            reason: Reason::new(codes::COMMAND_RESOURCE_NOT_FOUND, "gone"),
        })
        .into();
        assert_eq!(e, LimeError::Command { code: 67, description: "gone".into() });
        let e: LimeError = lime::Error::from(CommandError::DuplicateId("c1".into())).into();
        assert_eq!(e.kind(), ErrorCategory::Command);
    }

    /// The category Dart sees is the core's own: converting a core error keeps
    /// `lime::Error::category`, for one error of each category.
    #[test]
    fn the_mirror_lists_the_core_categories() {
        let errors = [
            lime::Error::from("{".parse::<lime::Envelope>().unwrap_err()),
            lime::Error::from(TransportError::Io("refused".into())),
            lime::Error::from(SessionError::Failed { reason: Reason::new(13, "no") }),
            lime::Error::from(CommandError::Failed { reason: Reason::new(67, "gone") }),
            lime::Error::Timeout(Duration::from_secs(1)),
            lime::Error::Closed,
        ];
        // InvalidArgument comes from the core's conversions, never from `lime::Error`.
        let invalid = LimeError::from(lime::convert::ConvertError::new("to", "not a node"));
        let mut seen = Vec::new();
        for e in errors {
            let category = e.category();
            assert_eq!(LimeError::from(e).kind(), category);
            seen.push(category);
        }
        seen.push(invalid.kind());
        // every variant of the mirror (`_ErrorCategory`), in its order
        assert_eq!(
            seen,
            [
                ErrorCategory::Parse,
                ErrorCategory::Transport,
                ErrorCategory::Session,
                ErrorCategory::Command,
                ErrorCategory::Timeout,
                ErrorCategory::Closed,
                ErrorCategory::InvalidArgument,
            ]
        );
        assert_eq!(invalid.reason().code, codes::VALIDATION_ERROR);
        assert_eq!(invalid.message(), "invalid `to`: not a node");
    }

    #[test]
    fn other_families() {
        let parse: LimeError = "{".parse::<lime::Envelope>().unwrap_err().into();
        assert_eq!(parse.kind(), ErrorCategory::Parse);
        assert_eq!(parse.reason().code, codes::VALIDATION_ERROR);
        let io: LimeError = TransportError::Io("refused".into()).into();
        assert_eq!(io.kind(), ErrorCategory::Transport);
        assert_eq!(io.reason().code, codes::GENERAL_ERROR);
        let closed: LimeError = TransportError::Closed.into();
        assert_eq!(closed, LimeError::Closed);
        assert_eq!(LimeError::from(lime::Error::Closed), LimeError::Closed);
        let timeout: LimeError = lime::Error::Timeout(Duration::from_secs(1)).into();
        assert_eq!(timeout.kind(), ErrorCategory::Timeout);
        assert_eq!(timeout.reason().code, TIMEOUT_ERROR);
        assert!(invalid("to", "bad").message().contains("`to`"));
    }
}
