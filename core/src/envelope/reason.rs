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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Reason {
    /// One of [`codes`] (or an application-specific value). Read from a JSON integer or, as
    /// C# Newtonsoft does, from a string holding one (`"13"`).
    #[serde(deserialize_with = "code")]
    pub code: i32,
    /// Human-readable text; omitted when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default))]
    pub description: Option<String>,
}

/// An `i32` from a JSON integer or a string of one (leading/trailing whitespace allowed).
fn code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = i32;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer code (or a string holding one)")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom(format!("the code {v} is out of range")))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i32, E> {
            i32::try_from(v).map_err(|_| E::custom(format!("the code {v} is out of range")))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<i32, E> {
            v.trim().parse().map_err(|_| E::custom(format!("the code {v:?} is not an integer")))
        }
    }
    d.deserialize_any(V)
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
    fn numeric_string_codes_are_read_like_csharp() {
        let r: Reason = serde_json::from_str(r#"{"code":"42"}"#).unwrap();
        assert_eq!(r.code, codes::ROUTING_DESTINATION_NOT_FOUND);
        for bad in
            [r#"{"code":"x"}"#, r#"{"code":4.5}"#, r#"{"code":"4.5"}"#, r#"{"code":3000000000}"#]
        {
            assert!(serde_json::from_str::<Reason>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn application_error_is_101_as_in_csharp() {
        assert_eq!(codes::APPLICATION_ERROR, 101);
    }
}
