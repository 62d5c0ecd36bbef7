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
#[derive(Clone, Debug)]
pub struct Document {
    media_type: MediaType,
    value: Value,
    /// The value given to [`Document::new`] when it had to be turned into its JSON text.
    original: Option<Box<Value>>,
}

/// Documents are equal when their media types and (wire) values are.
impl PartialEq for Document {
    fn eq(&self, other: &Self) -> bool {
        self.media_type == other.media_type && self.value == other.value
    }
}

/// A document type with a fixed media type and a serde representation.
pub trait TypedDocument: Serialize + DeserializeOwned {
    /// The media type this document is sent with.
    const MEDIA_TYPE: &'static str;
}

impl Document {
    /// A document of any media type. A non-string value under a non-JSON media type is stored as
    /// its compact JSON text, which is how it would be written on the wire.
    /// (That value stays available as [`Document::original_value`].)
    pub fn new(media_type: MediaType, value: Value) -> Self {
        if media_type.is_json() || value.is_string() {
            return Self { media_type, value, original: None };
        }
        Self {
            media_type,
            value: Value::String(value.to_string()),
            original: Some(Box::new(value)),
        }
    }

    /// A `text/plain` document.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            media_type: MediaType::text_plain(),
            value: Value::String(text.into()),
            original: None,
        }
    }

    /// An `application/json` document.
    pub fn json(value: Value) -> Self {
        Self { media_type: MediaType::application_json(), value, original: None }
    }

    /// The value as given (or received) when it was not a string under a non-JSON media type
    /// and [`Document::new`] stored its JSON text instead; `None` otherwise. For bindings that
    /// hand received documents to code written against implementations without the C# rule
    /// (lime-python delivered `5`, not `"5"`).
    pub fn original_value(&self) -> Option<&Value> {
        self.original.as_deref()
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
        assert_eq!(d.original_value(), Some(&json!(5)));
        assert_eq!(d, Document::text("5"));
        assert_eq!(Document::text("5").original_value(), None);
        let d = Document::new("image/svg+xml".parse().unwrap(), json!({"a": 1}));
        assert_eq!(d.value(), &json!("{\"a\":1}"));
    }

    #[test]
    fn json_media_types_keep_values() {
        let d = Document::json(json!({"b": 1, "a": [1, 2]}));
        assert_eq!(d.value(), &json!({"b": 1, "a": [1, 2]}));
        assert_eq!(d.as_text(), None);
        assert_eq!(d.original_value(), None);
    }
}
