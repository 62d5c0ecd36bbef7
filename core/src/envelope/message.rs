//! [`Message`]: content sent from one node to another.

use serde::{ser::SerializeMap, Serialize, Serializer};

use super::{write_content, write_header, Metadata};
use crate::{document::Document, node::Node};

/// A message: a [`Document`] sent to a node.
///
/// A message without `id` is fire-and-forget (no notifications are expected for it).
///
/// # Examples
///
/// ```
/// use lime::{Envelope, Message};
///
/// let msg = Message::text("Hello!").with_id("1").with_to("bob@example.com".parse()?);
/// assert_eq!(
///     Envelope::from(msg).to_json(),
///     r#"{"type":"text/plain","content":"Hello!","id":"1","to":"bob@example.com"}"#
/// );
/// # Ok::<(), lime::ParseError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    /// Envelope id; absent for fire-and-forget messages.
    pub id: Option<String>,
    /// Sender; absent means the remote party.
    pub from: Option<Node>,
    /// Delegate sending on behalf of `from`.
    pub pp: Option<Node>,
    /// Destination; absent means the receiving party.
    pub to: Option<Node>,
    /// Free-form string metadata.
    pub metadata: Option<Metadata>,
    /// The content. `None` only for malformed input (`"content": null`).
    pub content: Option<Document>,
}

impl Message {
    /// A message carrying `content`.
    pub fn new(content: Document) -> Self {
        Self { content: Some(content), ..Self::default() }
    }

    /// A `text/plain` message.
    pub fn text(text: impl Into<String>) -> Self {
        Self::new(Document::text(text))
    }
}

super::header_builders!(Message);

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        write_content(&mut map, "content", self.content.as_ref())?;
        write_header(&mut map, &self.id, &self.from, &self.pp, &self.to, &self.metadata)?;
        map.end()
    }
}
