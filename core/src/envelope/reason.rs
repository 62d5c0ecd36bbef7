//! [`Reason`]: why a session, command or message failed, and the LIME reason codes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A failure reason: `{"code": int, "description"?: string}`.
///
/// # Examples
///
/// ```
/// use lime::{reason::codes, Reason};
///
/// let reason = Reason::new(codes::ROUTING_DESTINATION_NOT_FOUND, "The message destination was not found");
/// assert_eq!(reason.to_string(), "The message destination was not found (Code 42)");
/// assert_eq!(
///     serde_json::to_string(&reason).unwrap(),
///     r#"{"code":42,"description":"The message destination was not found"}"#
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reason {
    /// One of [`codes`] (or an application-specific value).
    pub code: i32,
    /// Human-readable text; omitted when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Reason {
    /// A reason with a description.
    pub fn new(code: i32, description: impl Into<String>) -> Self {
        Self { code, description: Some(description.into()) }
    }

    /// A reason with only a code.
    pub fn with_code(code: i32) -> Self {
        Self { code, description: None }
    }
}

impl fmt::Display for Reason {
    /// The C# form: `"{description} (Code {code})"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (Code {})", self.description.as_deref().unwrap_or(""), self.code)
    }
}

/// The reason codes of the C# implementation (`ReasonCodes.cs`).
pub mod codes {
    #![allow(missing_docs)]
    pub const GENERAL_ERROR: i32 = 1;
    pub const SESSION_ERROR: i32 = 11;
    pub const SESSION_REGISTRATION_ERROR: i32 = 12;
    pub const SESSION_AUTHENTICATION_FAILED: i32 = 13;
    pub const SESSION_UNREGISTER_FAILED: i32 = 14;
    pub const SESSION_INVALID_ACTION_FOR_STATE: i32 = 15;
    pub const SESSION_NEGOTIATION_TIMEOUT: i32 = 16;
    pub const SESSION_NEGOTIATION_INVALID_OPTIONS: i32 = 17;
    pub const SESSION_INVALID_SESSION_MODE_REQUESTED: i32 = 18;
    pub const VALIDATION_ERROR: i32 = 21;
    pub const VALIDATION_EMPTY_DOCUMENT: i32 = 22;
    pub const VALIDATION_INVALID_RESOURCE: i32 = 23;
    pub const VALIDATION_INVALID_STATUS: i32 = 24;
    pub const VALIDATION_INVALID_IDENTITY: i32 = 25;
    pub const VALIDATION_INVALID_RECIPIENTS: i32 = 26;
    pub const VALIDATION_INVALID_METHOD: i32 = 27;
    pub const VALIDATION_INVALID_URI: i32 = 27;
    pub const AUTHORIZATION_ERROR: i32 = 31;
    pub const AUTHORIZATION_UNAUTHORIZED_SENDER: i32 = 32;
    pub const AUTHORIZATION_DESTINATION_ACCOUNT_NOT_FOUND: i32 = 33;
    pub const AUTHORIZATION_QUOTA_THRESHOLD_EXCEEDED: i32 = 34;
    pub const AUTHORIZATION_PERMISSION_REQUIRED: i32 = 35;
    pub const ROUTING_ERROR: i32 = 41;
    pub const ROUTING_DESTINATION_NOT_FOUND: i32 = 42;
    pub const ROUTING_GATEWAY_NOT_FOUND: i32 = 43;
    pub const ROUTING_ROUTE_NOT_FOUND: i32 = 44;
    pub const DISPATCH_ERROR: i32 = 51;
    pub const COMMAND_PROCESSING_ERROR: i32 = 61;
    pub const MESSAGE_PROCESSING_ERROR: i32 = 61;
    pub const COMMAND_RESOURCE_NOT_SUPPORTED: i32 = 62;
    pub const COMMAND_METHOD_NOT_SUPPORTED: i32 = 63;
    pub const COMMAND_INVALID_ARGUMENT: i32 = 64;
    pub const COMMAND_INVALID_SESSION_MODE: i32 = 65;
    pub const COMMAND_NOT_ALLOWED: i32 = 66;
    pub const COMMAND_RESOURCE_NOT_FOUND: i32 = 67;
    pub const MESSAGE_UNSUPPORTED_CONTENT_TYPE: i32 = 71;
    pub const GATEWAY_ERROR: i32 = 81;
    pub const GATEWAY_CONTENT_TYPE_NOT_SUPPORTED: i32 = 82;
    pub const GATEWAY_DESTINATION_NOT_FOUND: i32 = 83;
    pub const GATEWAY_NOT_SUPPORTED: i32 = 84;
    pub const GATEWAY_REQUEST_LIMIT_REACHED: i32 = 85;
    pub const GATEWAY_OPERATION_TIMED_OUT: i32 = 86;
    pub const GATEWAY_UNAUTHORIZED_SENDER: i32 = 87;
    pub const APPLICATION_ERROR: i32 = 101;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_is_omitted_when_absent() {
        assert_eq!(serde_json::to_string(&Reason::with_code(1)).unwrap(), r#"{"code":1}"#);
        let r: Reason =
            serde_json::from_str(r#"{"description":"x","code":13,"extra":true}"#).unwrap();
        assert_eq!(r, Reason::new(codes::SESSION_AUTHENTICATION_FAILED, "x"));
    }

    #[test]
    fn application_error_is_101_as_in_csharp() {
        assert_eq!(codes::APPLICATION_ERROR, 101);
    }
}
