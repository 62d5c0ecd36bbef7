//! Documents: the `content` of messages and the `resource` of commands.
//!
//! A [`Document`] keeps what arrived losslessly as a media type plus a JSON value. Typed views
//! ([`TypedDocument`] implementations in [`known`]) convert both ways, so an application can
//! read a `Presence` out of a command and put a `ChatState` into a message without the core
//! having to know every type that travels through it (a routing server forwards documents it
//! has never heard of).

pub mod known;
mod media_type;

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

pub use self::media_type::MediaType;
use crate::error::ParseError;

/// A document: media type plus value.
///
/// The value follows the C# wire rule: a JSON media type ([`MediaType::is_json`]) carries a JSON
/// value (normally an object), every other media type carries a JSON string.
///
/// # Examples
///
/// ```
/// use lime::{document::known::ChatState, Document, MediaType};
///
/// let text = Document::text("Hello");
/// assert_eq!(text.as_text(), Some("Hello"));
///
/// let doc = Document::from_typed(&ChatState { state: Some("composing".into()), interval: None })?;
/// assert_eq!(doc.media_type().as_str(), "application/vnd.lime.chatstate+json");
/// assert_eq!(doc.value(), &serde_json::json!({"state": "composing"}));
/// let back: ChatState = doc.to_typed()?;
/// assert_eq!(back.state.as_deref(), Some("composing"));
/// # Ok::<(), lime::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    media_type: MediaType,
    value: Value,
}

/// A document type with a fixed media type and a serde representation.
pub trait TypedDocument: Serialize + DeserializeOwned {
    /// The media type this document is sent with.
    const MEDIA_TYPE: &'static str;
}

impl Document {
    /// A document of any media type. A non-string value under a non-JSON media type is stored as
    /// its compact JSON text, which is how it would be written on the wire.
    pub fn new(media_type: MediaType, value: Value) -> Self {
        let value = if media_type.is_json() {
            value
        } else {
            match value {
                Value::String(_) => value,
                other => Value::String(other.to_string()),
            }
        };
        Self { media_type, value }
    }

    /// A `text/plain` document.
    pub fn text(text: impl Into<String>) -> Self {
        Self { media_type: MediaType::text_plain(), value: Value::String(text.into()) }
    }

    /// An `application/json` document.
    pub fn json(value: Value) -> Self {
        Self { media_type: MediaType::application_json(), value }
    }

    /// Serializes a typed document.
    pub fn from_typed<T: TypedDocument>(doc: &T) -> Result<Self, ParseError> {
        let value = serde_json::to_value(doc).map_err(|e| ParseError::field("content", e))?;
        Ok(Self::new(MediaType::known(T::MEDIA_TYPE), value))
    }

    /// Reads this document as a typed document. Fails when the media type differs or the value
    /// does not have the type's shape.
    pub fn to_typed<T: TypedDocument>(&self) -> Result<T, ParseError> {
        if !(self.media_type == *T::MEDIA_TYPE) {
            return Err(ParseError::field(
                "type",
                format!("expected {}, found {}", T::MEDIA_TYPE, self.media_type),
            ));
        }
        T::deserialize(&self.value).map_err(|e| ParseError::field("content", e))
    }

    /// The media type.
    pub fn media_type(&self) -> &MediaType {
        &self.media_type
    }

    /// The JSON value (a string for non-JSON media types).
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Takes the value out.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The text of a non-JSON document (`text/plain` and friends).
    pub fn as_text(&self) -> Option<&str> {
        if self.media_type.is_json() {
            None
        } else {
            self.value.as_str()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn non_json_media_types_hold_strings() {
        let d = Document::new(MediaType::text_plain(), json!(5));
        assert_eq!(d.value(), &json!("5"));
        let d = Document::new("image/svg+xml".parse().unwrap(), json!({"a": 1}));
        assert_eq!(d.value(), &json!("{\"a\":1}"));
    }

    #[test]
    fn json_media_types_keep_values() {
        let d = Document::json(json!({"b": 1, "a": [1, 2]}));
        assert_eq!(d.value(), &json!({"b": 1, "a": [1, 2]}));
        assert_eq!(d.as_text(), None);
    }
}
