//! The rules by which a host language (Kotlin, Swift, Dart, Python) hands LIME values to the
//! core and gets them back. Every binding converts through these functions, so the same record
//! means the same envelope in every host.
//!
//! | what | host side | wire / core side | functions |
//! |---|---|---|---|
//! | document | media type + text: JSON text for JSON media types, the raw string otherwise | [`Document`] | [`document_from_text`], [`document_text`], [`into_document_text`] |
//! | metadata | an insertion-ordered string → string map | [`Metadata`] (`None` when empty) | [`metadata_from_entries`], [`metadata_from_unordered`], [`metadata_or_empty`] |
//! | nodes (`from`, `to`, `pp`) | optional text; absent or `""` means no node | `Option<Node>` | [`node_from_text`], [`node_text`] |
//! | authentication | a scheme plus its fields, secrets in **clear text** | [`Authentication`] (secrets base64) | [`Credentials`], [`authentication`] |
//! | errors | a category, a stable cause name and a LIME reason | [`Error`], [`ConvertError`] | [`host_error`], [`HostError`] |
//!
//! # Documents
//!
//! LIME writes the content of a JSON media type (`application/json` or any `…+json` suffix)
//! as a JSON value and every other content as a JSON string (PROTOCOL §1.12: C#'s
//! `PlainDocument`/`PlainText`, lime-python's `content` string). A host holds both as text:
//! the JSON text of the value for JSON media types, the string itself otherwise, never a
//! quoted JSON string for `text/plain`.
//!
//! ```
//! use lime::convert::{document_from_text, document_text};
//!
//! let text = document_from_text("content", "text/plain", "Hello \"you\"".into())?;
//! assert_eq!(text.as_text(), Some("Hello \"you\""));
//! assert_eq!(document_text(&text), "Hello \"you\"");
//!
//! let json = document_from_text("content", "application/vnd.x+json", r#"{"a": 1}"#.into())?;
//! assert_eq!(json.value(), &serde_json::json!({"a": 1}));
//! assert_eq!(document_text(&json), r#"{"a":1}"#);
//!
//! let err = document_from_text("content", "application/json", "{oops".into()).unwrap_err();
//! assert_eq!(err.field(), "content");
//! # Ok::<(), lime::convert::ConvertError>(())
//! ```
//!
//! # Metadata
//!
//! One representation: an insertion-ordered map of strings ([`Metadata`], an `IndexMap`).
//! The wire is a JSON object, whose key order C# and the other peers keep, so an envelope
//! read and written back is byte-for-byte the same; Dart's `Map` literal (`LinkedHashMap`),
//! Python's `dict` and Kotlin's `mapOf`/`LinkedHashMap` are insertion-ordered too, so what an
//! application wrote is what goes out. Hosts whose maps have no order (a Swift `Dictionary`,
//! a Rust `HashMap` in a binding) go through [`metadata_from_unordered`], which sorts the keys
//! so the same map always serializes the same way. Empty metadata is no metadata.
//!
//! ```
//! use lime::convert::{metadata_from_entries, metadata_or_empty};
//!
//! let m = metadata_from_entries([("z".to_owned(), "1".to_owned()), ("a".into(), "2".into())]);
//! let keys: Vec<_> = m.as_ref().unwrap().keys().map(String::as_str).collect();
//! assert_eq!(keys, ["z", "a"]);
//! assert_eq!(metadata_from_entries(Vec::new()), None);
//! assert!(metadata_or_empty(None).is_empty());
//! ```
//!
//! # Authentication
//!
//! Host APIs take and return secrets (password, key, token) in clear text; the core encodes
//! them as LIME sends them, base64 of their UTF-8 bytes (PROTOCOL §1.7, as C#'s
//! `PlainAuthentication.SetToBase64Password` does). One rule in every host: an application
//! never base64-encodes a password itself.
//!
//! ```
//! use lime::{convert::{authentication, Credentials}, Authentication};
//!
//! let wire = authentication("plain", Some("iloveuww".into()), None)?;
//! assert_eq!(wire, Authentication::plain("iloveuww"));
//! assert_eq!(serde_json::to_string(&wire).unwrap(), r#"{"password":"aWxvdmV1d3c="}"#);
//! assert_eq!(
//!     Credentials::from_wire(&wire)?,
//!     Credentials::Plain { password: "iloveuww".into() }
//! );
//! # Ok::<(), lime::convert::ConvertError>(())
//! ```
//!
//! # Errors
//!
//! [`host_error`] is the one mapping from a core [`Error`] to what a host shows: the
//! [`ErrorCategory`] (the exception class or error kind), a stable cause name (`io`, `tls`,
//! `protocol`, `failed`, `closed`, …) and the LIME reason (the peer's reason when a session or
//! command failed with one).
//!
//! ```
//! use lime::{convert::host_error, Error, ErrorCategory, TransportError};
//!
//! let e = host_error(&Error::Transport(TransportError::Tls("unknown issuer".into())));
//! assert_eq!((e.category, e.cause), (ErrorCategory::Transport, "tls"));
//! let e = host_error(&Error::Transport(TransportError::Closed));
//! assert_eq!((e.category, e.cause), (ErrorCategory::Closed, "closed"));
//! ```

use std::{collections::HashMap, fmt, hash::BuildHasher};

use serde_json::Value;

use crate::{
    error::{CommandError, SessionError},
    reason::codes,
    Authentication, AuthenticationScheme, Document, Error, ErrorCategory, MediaType, Metadata,
    Node, Reason, TransportError,
};

/// An application's value that the core cannot accept, naming the field at fault.
///
/// Its [`HostError`] has the category [`ErrorCategory::InvalidArgument`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertError {
    field: String,
    message: String,
}

impl ConvertError {
    /// An invalid `field`, because of `why`.
    pub fn new(field: impl Into<String>, why: impl fmt::Display) -> Self {
        Self { field: field.into(), message: why.to_string() }
    }

    /// The host-side name of the field at fault (`content`, `to`, `password`, …).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for ConvertError {}

// ---------------------------------------------------------------------------------------------
// Documents

/// A document from a host's media type and text: the text is parsed as JSON for a JSON media
/// type (`application/json`, `…+json`) and taken as the raw string otherwise. `field` names the
/// text in errors (`content`, `resource`); a bad media type is reported as `media_type`.
pub fn document_from_text(
    field: &str,
    media_type: &str,
    text: String,
) -> Result<Document, ConvertError> {
    let media_type: MediaType =
        media_type.parse().map_err(|e| ConvertError::new("media_type", e))?;
    let value = if media_type.is_json() {
        serde_json::from_str(&text)
            .map_err(|e| ConvertError::new(field, format!("not JSON: {e}")))?
    } else {
        Value::String(text)
    };
    Ok(Document::new(media_type, value))
}

/// A document's text for a host: the compact JSON text of the value for JSON media types, the
/// string itself otherwise.
pub fn document_text(document: &Document) -> String {
    match document.value() {
        Value::String(s) if !document.media_type().is_json() => s.clone(),
        other => other.to_string(),
    }
}

/// `(media type, text)` of a document, by the rule of [`document_text`], without copying the
/// string content.
pub fn into_document_text(document: Document) -> (String, String) {
    let media_type = document.media_type().as_str().to_owned();
    let is_json = document.media_type().is_json();
    let text = match document.into_value() {
        Value::String(s) if !is_json => s,
        other => other.to_string(),
    };
    (media_type, text)
}

// ---------------------------------------------------------------------------------------------
// Metadata

/// Metadata from a host's entries, in their order (a repeated key keeps its first position and
/// its last value); no entries is no metadata.
pub fn metadata_from_entries<I>(entries: I) -> Option<Metadata>
where
    I: IntoIterator<Item = (String, String)>,
{
    let metadata: Metadata = entries.into_iter().collect();
    (!metadata.is_empty()).then_some(metadata)
}

/// Metadata from a map without an order (a Swift `Dictionary`, a Rust `HashMap`): the keys are
/// sorted, so the same map always serializes the same way. An empty map is no metadata.
pub fn metadata_from_unordered<S: BuildHasher>(
    map: HashMap<String, String, S>,
) -> Option<Metadata> {
    let mut entries: Vec<_> = map.into_iter().collect();
    entries.sort_unstable();
    metadata_from_entries(entries)
}

/// An envelope's metadata for a host: empty when it has none.
pub fn metadata_or_empty(metadata: Option<Metadata>) -> Metadata {
    metadata.unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Nodes

/// An optional node field (`from`, `to`, `pp`) from a host: absent or `""` is no node,
/// anything else must parse by the C# rules ([`Node`]); errors name `field`.
pub fn node_from_text(field: &str, text: Option<&str>) -> Result<Option<Node>, ConvertError> {
    match text {
        None | Some("") => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|e| ConvertError::new(field, e)),
    }
}

/// An optional node field for a host: its canonical text.
pub fn node_text(node: Option<&Node>) -> Option<String> {
    node.map(Node::to_string)
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// Credentials as a host gives them: the scheme plus its fields, secrets in clear text.
/// `Authentication::from(credentials)` encodes them for the wire; [`Credentials::from_wire`]
/// decodes received ones.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum), uniffi(name = "Authentication"))]
pub enum Credentials {
    /// No credentials (`guest`).
    Guest,
    /// A password (`plain`), in clear text.
    Plain {
        /// The password.
        password: String,
    },
    /// An access key (`key`), in clear text.
    Key {
        /// The key.
        key: String,
    },
    /// A token issued by an external authority (`external`), in clear text.
    External {
        /// The token.
        token: String,
        /// Who issued it (e.g. `account.example.com`).
        issuer: String,
    },
    /// The TLS client certificate proves the identity (`transport`).
    Transport,
}

impl Credentials {
    /// The scheme of these credentials.
    pub fn scheme(&self) -> AuthenticationScheme {
        match self {
            Self::Guest => AuthenticationScheme::Guest,
            Self::Plain { .. } => AuthenticationScheme::Plain,
            Self::Key { .. } => AuthenticationScheme::Key,
            Self::External { .. } => AuthenticationScheme::External,
            Self::Transport => AuthenticationScheme::Transport,
        }
    }

    /// Received credentials in clear text. A secret that is absent reads as `""`; one that is
    /// not base64 of UTF-8 text is an error naming the field (`password`, `key`, `token`).
    pub fn from_wire(authentication: &Authentication) -> Result<Self, ConvertError> {
        let secret = |field: &str| -> Result<String, ConvertError> {
            match authentication.decoded_secret() {
                None => Ok(String::new()),
                Some(Ok(s)) => Ok(s),
                Some(Err(e)) => Err(ConvertError::new(field, e)),
            }
        };
        Ok(match authentication {
            Authentication::Plain { .. } => Self::Plain { password: secret("password")? },
            Authentication::Key { .. } => Self::Key { key: secret("key")? },
            Authentication::External { issuer, .. } => Self::External {
                token: secret("token")?,
                issuer: issuer.clone().unwrap_or_default(),
            },
            Authentication::Transport => Self::Transport,
            // `Guest` and any scheme a later core adds without a secret.
            _ => Self::Guest,
        })
    }
}

impl From<Credentials> for Authentication {
    fn from(credentials: Credentials) -> Self {
        match credentials {
            Credentials::Guest => Self::Guest,
            Credentials::Plain { password } => Self::plain(&password),
            Credentials::Key { key } => Self::key(&key),
            Credentials::External { token, issuer } => Self::external(&token, issuer),
            Credentials::Transport => Self::Transport,
        }
    }
}

/// Wire credentials from a scheme name (`guest`, `plain`, `key`, `external`, `transport`, any
/// case) plus its fields, for hosts whose API is stringly typed: `secret` is the clear-text
/// password, key or token, `issuer` the external token's issuer. A scheme that needs a field
/// fails without it, naming the field.
pub fn authentication(
    scheme: &str,
    secret: Option<String>,
    issuer: Option<String>,
) -> Result<Authentication, ConvertError> {
    let scheme: AuthenticationScheme =
        scheme.parse().map_err(|e| ConvertError::new("scheme", e))?;
    let need = |value: Option<String>, field: &str| {
        value.ok_or_else(|| ConvertError::new(field, format!("required by the {scheme} scheme")))
    };
    let credentials = match scheme {
        AuthenticationScheme::Plain => Credentials::Plain { password: need(secret, "password")? },
        AuthenticationScheme::Key => Credentials::Key { key: need(secret, "key")? },
        AuthenticationScheme::External => {
            Credentials::External { token: need(secret, "token")?, issuer: need(issuer, "issuer")? }
        }
        AuthenticationScheme::Transport => Credentials::Transport,
        _ => Credentials::Guest,
    };
    Ok(credentials.into())
}

// ---------------------------------------------------------------------------------------------
// Errors

/// What a host shows for a failure (see [`host_error`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostError {
    /// The kind of failure: the exception class (Kotlin/Swift), error kind (Dart) or exception
    /// type (Python).
    pub category: ErrorCategory,
    /// A stable, language-neutral name of the precise cause, for logs and for hosts that tell
    /// causes apart within a category:
    ///
    /// | category | causes |
    /// |---|---|
    /// | `Parse` | `json`, `not_envelope`, `invalid_field`, `unknown_value`, `invalid_node`, `invalid_media_type`, `invalid_uri`, `too_large`, `truncated` |
    /// | `Transport` | `io`, `tls`, `websocket`, `envelope_too_large`, `unsupported`, `invalid_transport_uri`, and the `Parse` causes for a bad incoming stream |
    /// | `Session` | `failed` (with the peer's reason), `invalid_state`, `protocol`, `finished` |
    /// | `Command` | `failed` (with the peer's reason), `duplicate_id`, `invalid_request` |
    /// | `Timeout` | `timeout` |
    /// | `Closed` | `closed` |
    /// | `InvalidArgument` | `invalid_argument` |
    pub cause: &'static str,
    /// The LIME reason: the peer's for `failed` causes, otherwise the code the core would tell
    /// a peer (21 validation error, 15 invalid action for the state, 1 general error, …).
    pub reason: Reason,
    /// A one-line description.
    pub message: String,
}

/// The one mapping from a core error to what a host shows.
pub fn host_error(error: &Error) -> HostError {
    let cause = match error {
        Error::Parse(e) => e.kind(),
        Error::Frame(e) => e.kind(),
        Error::Transport(t) => match t {
            TransportError::Io(_) => "io",
            TransportError::Tls(_) => "tls",
            TransportError::WebSocket(_) => "websocket",
            TransportError::EnvelopeTooLarge { .. } => "envelope_too_large",
            TransportError::Unsupported(_) => "unsupported",
            TransportError::InvalidUri(_) => "invalid_transport_uri",
            TransportError::Frame(e) => e.kind(),
            TransportError::Closed => "closed",
        },
        Error::Session(s) => match s {
            SessionError::Failed { .. } => "failed",
            SessionError::InvalidState { .. } => "invalid_state",
            SessionError::Protocol(_) => "protocol",
            SessionError::Finished => "finished",
        },
        Error::Command(c) => match c {
            CommandError::Failed { .. } => "failed",
            CommandError::DuplicateId(_) => "duplicate_id",
            CommandError::InvalidRequest(_) => "invalid_request",
        },
        Error::Timeout(_) => "timeout",
        Error::Closed => "closed",
    };
    HostError {
        category: error.category(),
        cause,
        reason: error.reason(),
        message: error.to_string(),
    }
}

impl From<&Error> for HostError {
    fn from(error: &Error) -> Self {
        host_error(error)
    }
}

impl From<Error> for HostError {
    fn from(error: Error) -> Self {
        host_error(&error)
    }
}

impl From<&ConvertError> for HostError {
    fn from(error: &ConvertError) -> Self {
        Self {
            category: ErrorCategory::InvalidArgument,
            cause: "invalid_argument",
            reason: Reason::new(codes::VALIDATION_ERROR, error.to_string()),
            message: error.to_string(),
        }
    }
}

impl From<ConvertError> for HostError {
    fn from(error: ConvertError) -> Self {
        Self::from(&error)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Envelope, FrameError, Message, ParseError, SessionState};

    #[test]
    fn non_json_documents_are_raw_text_on_both_sides() {
        let doc = document_from_text("content", "text/plain", "say \"hi\"\n".into()).unwrap();
        let message = Message::new(doc.clone());
        // On the wire: a JSON string, as C# and lime-python write it.
        assert_eq!(
            Envelope::from(message).to_json(),
            r#"{"type":"text/plain","content":"say \"hi\"\n"}"#
        );
        assert_eq!(document_text(&doc), "say \"hi\"\n");
        assert_eq!(into_document_text(doc), ("text/plain".into(), "say \"hi\"\n".into()));
        // Text that happens to be JSON stays text under a non-JSON media type.
        let doc = document_from_text("content", "text/plain", "{\"a\":1}".into()).unwrap();
        assert_eq!(doc.value(), &Value::String("{\"a\":1}".into()));
        // `+xml` and other suffixes are not JSON.
        let svg = document_from_text("content", "image/svg+xml", "<svg/>".into()).unwrap();
        assert_eq!(document_text(&svg), "<svg/>");
    }

    #[test]
    fn json_documents_are_json_text() {
        for media in ["application/json", "application/vnd.lime.ping+json", "Application/X+JSON"] {
            let doc =
                document_from_text("resource", media, r#"{"b":[1,true,null]}"#.into()).unwrap();
            assert_eq!(doc.value(), &serde_json::json!({"b": [1, true, null]}), "{media}");
            assert_eq!(document_text(&doc), r#"{"b":[1,true,null]}"#);
        }
        // A JSON string under a JSON media type is quoted JSON text both ways.
        let doc = document_from_text("content", "application/json", "\"x\"".into()).unwrap();
        assert_eq!(doc.value(), &Value::String("x".into()));
        assert_eq!(into_document_text(doc).1, "\"x\"");
        let err = document_from_text("resource", "application/json", "x".into()).unwrap_err();
        assert_eq!(err.field(), "resource");
        assert!(err.to_string().starts_with("invalid `resource`: not JSON"), "{err}");
        let err = document_from_text("content", "no media type", String::new()).unwrap_err();
        assert_eq!(err.field(), "media_type");
    }

    #[test]
    fn received_documents_convert_by_the_same_rule() {
        let json = r#"{"type":"text/plain","content":"hello","id":"1"}"#;
        let Envelope::Message(m) = json.parse().unwrap() else { panic!("not a message") };
        assert_eq!(document_text(m.content.as_ref().unwrap()), "hello");
        let json = r#"{"type":"application/x+json","content":{"k":"v"},"id":"1"}"#;
        let Envelope::Message(m) = json.parse().unwrap() else { panic!("not a message") };
        assert_eq!(into_document_text(m.content.unwrap()).1, r#"{"k":"v"}"#);
    }

    #[test]
    fn metadata_keeps_the_host_order_or_sorts_an_unordered_map() {
        let entries = [("b", "1"), ("a", "2"), ("b", "3")].map(|(k, v)| (k.into(), v.into()));
        let m = metadata_from_entries(entries).unwrap();
        assert_eq!(
            m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>(),
            [("b", "3"), ("a", "2")]
        );
        let unordered: HashMap<String, String> =
            [("z", "1"), ("m", "2"), ("a", "3")].map(|(k, v)| (k.into(), v.into())).into();
        let m = metadata_from_unordered(unordered).unwrap();
        assert_eq!(m.keys().map(String::as_str).collect::<Vec<_>>(), ["a", "m", "z"]);
        assert_eq!(metadata_from_unordered(HashMap::<String, String>::new()), None);
        assert_eq!(metadata_or_empty(Some(m.clone())), m);

        // The order reaches the wire, and a received envelope gives it back unchanged.
        let mut message = Message::new(Document::text("x"));
        message.metadata =
            metadata_from_entries([("z".into(), "1".into()), ("a".into(), "2".into())]);
        let json = Envelope::from(message).to_json();
        assert_eq!(json, r#"{"type":"text/plain","content":"x","metadata":{"z":"1","a":"2"}}"#);
        let Envelope::Message(back) = json.parse().unwrap() else { panic!("not a message") };
        let keys: Vec<_> = metadata_or_empty(back.metadata).into_keys().collect();
        assert_eq!(keys, ["z", "a"]);
    }

    #[test]
    fn node_fields_are_optional_text() {
        assert_eq!(node_from_text("to", None).unwrap(), None);
        assert_eq!(node_from_text("to", Some("")).unwrap(), None);
        let node = node_from_text("from", Some("a@b.com/x")).unwrap().unwrap();
        assert_eq!(node_text(Some(&node)).as_deref(), Some("a@b.com/x"));
        assert_eq!(node_text(None), None);
        let err = node_from_text("pp", Some("@")).unwrap_err();
        assert_eq!(err.field(), "pp");
        assert!(err.to_string().contains("invalid `pp`"), "{err}");
    }

    #[test]
    fn passwords_are_clear_text_for_hosts_and_base64_on_the_wire() {
        let wire = Authentication::from(Credentials::Plain { password: "pässword".into() });
        assert_eq!(wire, Authentication::Plain { password: Some("cMOkc3N3b3Jk".into()) });
        assert_eq!(
            Credentials::from_wire(&wire).unwrap(),
            Credentials::Plain { password: "pässword".into() }
        );
        let key = authentication("KEY", Some("k3y".into()), None).unwrap();
        assert_eq!(key, Authentication::key("k3y"));
        assert_eq!(Credentials::from_wire(&key).unwrap(), Credentials::Key { key: "k3y".into() });
        let ext = authentication("external", Some("t".into()), Some("issuer.com".into())).unwrap();
        assert_eq!(ext, Authentication::external("t", "issuer.com"));
        assert_eq!(
            Credentials::from_wire(&ext).unwrap(),
            Credentials::External { token: "t".into(), issuer: "issuer.com".into() }
        );
        assert_eq!(authentication("guest", None, None).unwrap(), Authentication::Guest);
        assert_eq!(authentication("transport", None, None).unwrap(), Authentication::Transport);
        for c in [Credentials::Guest, Credentials::Transport] {
            let scheme = c.scheme();
            let wire = Authentication::from(c.clone());
            assert_eq!((wire.scheme(), Credentials::from_wire(&wire).unwrap()), (scheme, c));
        }
    }

    #[test]
    fn missing_or_bad_credentials_are_named() {
        assert_eq!(authentication("plain", None, None).unwrap_err().field(), "password");
        assert_eq!(authentication("key", None, None).unwrap_err().field(), "key");
        assert_eq!(
            authentication("external", Some("t".into()), None).unwrap_err().field(),
            "issuer"
        );
        assert_eq!(authentication("oauth", None, None).unwrap_err().field(), "scheme");
        let bad = Authentication::Plain { password: Some("%%%".into()) };
        assert_eq!(Credentials::from_wire(&bad).unwrap_err().field(), "password");
        let empty = Authentication::Plain { password: None };
        assert_eq!(
            Credentials::from_wire(&empty).unwrap(),
            Credentials::Plain { password: String::new() }
        );
    }

    #[test]
    fn errors_map_to_one_category_cause_and_reason() {
        let case = |e: Error| {
            let h = host_error(&e);
            (h.category, h.cause, h.reason.code)
        };
        use ErrorCategory as C;
        assert_eq!(case(Error::Closed), (C::Closed, "closed", codes::GENERAL_ERROR));
        assert_eq!(
            case(TransportError::Closed.into()),
            (C::Closed, "closed", codes::GENERAL_ERROR)
        );
        assert_eq!(
            case(Error::Timeout(Duration::from_secs(1))),
            (C::Timeout, "timeout", codes::SESSION_NEGOTIATION_TIMEOUT)
        );
        assert_eq!(case(TransportError::Io("refused".into()).into()).1, "io");
        assert_eq!(case(TransportError::Tls("bad cert".into()).into()), (C::Transport, "tls", 1));
        assert_eq!(case(TransportError::WebSocket("x".into()).into()).1, "websocket");
        assert_eq!(
            case(TransportError::EnvelopeTooLarge { size: 2, limit: 1 }.into()).1,
            "envelope_too_large"
        );
        assert_eq!(case(TransportError::InvalidUri("x".into()).into()).1, "invalid_transport_uri");
        let frame = FrameError::Truncated { offset: 3 };
        assert_eq!(
            case(TransportError::Frame(frame.clone()).into()),
            (C::Transport, "truncated", 1)
        );
        assert_eq!(case(frame.into()), (C::Parse, "truncated", codes::VALIDATION_ERROR));
        assert_eq!(case(ParseError::Json("x".into()).into()), (C::Parse, "json", 21));

        let refused = SessionError::Failed { reason: Reason::new(13, "Invalid credentials") };
        let h = host_error(&refused.into());
        assert_eq!((h.category, h.cause), (C::Session, "failed"));
        assert_eq!(h.reason, Reason::new(13, "Invalid credentials"));
        let state = SessionError::InvalidState { action: "send", state: SessionState::New };
        assert_eq!(
            case(state.into()),
            (C::Session, "invalid_state", codes::SESSION_INVALID_ACTION_FOR_STATE)
        );
        assert_eq!(case(SessionError::Protocol("x".into()).into()).1, "protocol");
        assert_eq!(case(SessionError::Finished.into()).1, "finished");
        let failed = CommandError::Failed { reason: Reason::with_code(67) };
        assert_eq!(case(failed.into()), (C::Command, "failed", 67));
        assert_eq!(case(CommandError::DuplicateId("1".into()).into()).1, "duplicate_id");

        let h = HostError::from(ConvertError::new("to", "bad node"));
        assert_eq!(
            (h.category, h.cause, h.reason.code),
            (C::InvalidArgument, "invalid_argument", 21)
        );
        assert_eq!(h.message, "invalid `to`: bad node");
    }
}
