//! [`Notification`]: news about a message.

use serde::{ser::SerializeMap, Serialize, Serializer};

use super::{write_header, Metadata};
use crate::{enums::NotificationEvent, node::Node, Reason};

/// A notification: an [`NotificationEvent`] about the message with the same `id`.
///
/// # Examples
///
/// ```
/// use lime::{Envelope, Notification, NotificationEvent};
///
/// let n = Notification::new(NotificationEvent::Received).with_id("m1").with_to("a@b.com/x".parse()?);
/// assert_eq!(Envelope::from(n).to_json(), r#"{"event":"received","id":"m1","to":"a@b.com/x"}"#);
/// # Ok::<(), lime::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// Id of the message this notification is about.
    pub id: Option<String>,
    /// Sender; absent means the remote party.
    pub from: Option<Node>,
    /// Delegate sending on behalf of `from`.
    pub pp: Option<Node>,
    /// Destination; absent means the receiving party.
    pub to: Option<Node>,
    /// Free-form string metadata.
    pub metadata: Option<Metadata>,
    /// What happened. Always written (C# writes its default, `failed`).
    pub event: NotificationEvent,
    /// Why, for `failed`.
    pub reason: Option<Reason>,
}

impl Notification {
    /// A notification of `event`.
    pub fn new(event: NotificationEvent) -> Self {
        Self { id: None, from: None, pp: None, to: None, metadata: None, event, reason: None }
    }

    /// A `failed` notification with a reason.
    pub fn failed(reason: Reason) -> Self {
        Self { reason: Some(reason), ..Self::new(NotificationEvent::Failed) }
    }
}

super::header_builders!(Notification);

impl Serialize for Notification {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("event", &self.event)?;
        if let Some(reason) = &self.reason {
            map.serialize_entry("reason", reason)?;
        }
        write_header(&mut map, &self.id, &self.from, &self.pp, &self.to, &self.metadata)?;
        map.end()
    }
}
