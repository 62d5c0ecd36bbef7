//! [`LimeError`]: the one error type of the bindings (Kotlin `LimeException.*`, Swift
//! `LimeError.*`), converted from [`lime::Error`] through [`lime::convert::host_error`].

use lime::convert::{host_error, ConvertError, HostError};

/// Every failure the bindings report.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum LimeError {
    /// The peer sent something that is not valid LIME.
    #[error("parse error: {msg}")]
    Parse {
        /// What could not be parsed.
        msg: String,
    },
    /// The connection failed (I/O, TLS, WebSocket, size limit).
    #[error("transport error: {msg}")]
    Transport {
        /// What failed.
        msg: String,
    },
    /// The session could not be established, failed, or does not allow the operation. `code`
    /// is the LIME reason code (13: authentication failed, 15: invalid action for the state…).
    #[error("session error {code}: {description}")]
    Session {
        /// LIME reason code.
        code: i32,
        /// The reason's description (or the error text).
        description: String,
    },
    /// A command could not be sent or matched.
    #[error("command error {code}: {description}")]
    Command {
        /// LIME reason code.
        code: i32,
        /// The reason's description (or the error text).
        description: String,
    },
    /// The operation did not complete in time.
    #[error("timed out")]
    Timeout,
    /// The channel is closed.
    #[error("the channel is closed")]
    Closed,
    /// An argument from the application is not valid (a node, media type, URI or JSON text).
    #[error("invalid argument: {msg}")]
    InvalidArgument {
        /// Which argument and why.
        msg: String,
    },
}

impl From<HostError> for LimeError {
    /// One exception per [`lime::ErrorCategory`], as every host names them
    /// ([`lime::convert::host_error`] decides the category).
    fn from(e: HostError) -> Self {
        let code = e.reason.code;
        let description = e.reason.description.unwrap_or_else(|| e.message.clone());
        match e.category {
            lime::ErrorCategory::Parse => Self::Parse { msg: e.message },
            lime::ErrorCategory::Transport => Self::Transport { msg: e.message },
            lime::ErrorCategory::Command => Self::Command { code, description },
            lime::ErrorCategory::Timeout => Self::Timeout,
            lime::ErrorCategory::Closed => Self::Closed,
            lime::ErrorCategory::InvalidArgument => Self::InvalidArgument { msg: e.message },
            // `Session` and categories the core may add later: a session-level failure with
            // the reason the core would tell a peer.
            _ => Self::Session { code, description },
        }
    }
}

impl From<lime::Error> for LimeError {
    fn from(e: lime::Error) -> Self {
        host_error(&e).into()
    }
}

impl From<ConvertError> for LimeError {
    fn from(e: ConvertError) -> Self {
        HostError::from(e).into()
    }
}

/// An invalid argument from the application, naming the field.
pub(crate) fn invalid(field: &str, why: impl std::fmt::Display) -> LimeError {
    ConvertError::new(field, why).into()
}

impl From<lime::TransportError> for LimeError {
    fn from(e: lime::TransportError) -> Self {
        lime::Error::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use lime::{reason::codes, CommandError, Reason, SessionError, SessionState, TransportError};

    use super::*;

    #[test]
    fn a_failed_session_carries_the_reason() {
        let e = lime::Error::from(SessionError::Failed {
            reason: Reason::new(codes::SESSION_AUTHENTICATION_FAILED, "Invalid credentials"),
        });
        assert_eq!(
            LimeError::from(e),
            LimeError::Session { code: 13, description: "Invalid credentials".into() }
        );
    }

    #[test]
    fn every_family_maps() {
        let state = SessionError::InvalidState { action: "send", state: SessionState::New };
        assert!(matches!(
            LimeError::from(lime::Error::from(state)),
            LimeError::Session { code: codes::SESSION_INVALID_ACTION_FOR_STATE, .. }
        ));
        let failed = CommandError::Failed { reason: Reason::with_code(67) };
        assert!(matches!(
            LimeError::from(lime::Error::from(failed)),
            LimeError::Command { code: 67, description } if description.contains("67")
        ));
        assert!(matches!(
            LimeError::from(TransportError::Io("refused".into())),
            LimeError::Transport { msg } if msg.contains("refused")
        ));
        let parse = "@".parse::<lime::Node>().unwrap_err();
        assert!(matches!(LimeError::from(lime::Error::from(parse)), LimeError::Parse { .. }));
        let timeout = lime::Error::Timeout(std::time::Duration::from_secs(1));
        assert_eq!(LimeError::from(timeout), LimeError::Timeout);
        assert_eq!(LimeError::from(lime::Error::Closed), LimeError::Closed);
        // The same category as in every other host: a closed transport is `Closed`.
        assert_eq!(LimeError::from(TransportError::Closed), LimeError::Closed);
    }
}
