//! Envelopes: [`Message`], [`Notification`], [`Command`] and [`Session`], and the [`Envelope`]
//! enum that holds any of them.
//!
//! The JSON form follows the C# implementation exactly (PROTOCOL §1.1–1.8): null and absent
//! fields are omitted, `state`/`method`/`event` are always written, a pending command status is
//! omitted, `type` is written iff content/resource is, and properties come in the C# order
//! (kind-specific fields first, then `id, from, pp, to, metadata`). Parsing accepts any key
//! order, ignores unknown keys and tells the kinds apart in the C# order (`content`, `event`,
//! `method`, `state`).

mod command;
mod message;
mod notification;
mod parse;
pub mod reason;
mod routable;
mod session;
// Only the server splices envelopes.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) mod splice;

use std::{fmt, str::FromStr};

use indexmap::IndexMap;
use serde::{ser::SerializeMap, Deserialize, Deserializer, Serialize, Serializer};

pub use self::{
    command::{Command, PING_MEDIA_TYPE},
    message::Message,
    notification::Notification,
    reason::Reason,
    routable::{Received, RoutableMessage},
    session::{Authentication, Session},
};
use crate::{document::Document, error::ParseError, node::Node};

/// Envelope metadata: string keys to string values, in arrival order.
pub type Metadata = IndexMap<String, String>;

/// Any LIME envelope.
///
/// # Examples
///
/// ```
/// use lime::{Envelope, EnvelopeKind};
///
/// let env: Envelope = r#"{"id":"1","to":"a@b/c","type":"text/plain","content":"hi"}"#.parse()?;
/// assert_eq!(env.kind(), EnvelopeKind::Message);
/// assert_eq!(env.to().map(|n| n.to_string()).as_deref(), Some("a@b/c"));
/// assert_eq!(env.to_json(), r#"{"type":"text/plain","content":"hi","id":"1","to":"a@b/c"}"#);
/// # Ok::<(), lime::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Envelope {
    /// A message.
    Message(Message),
    /// A notification.
    Notification(Notification),
    /// A command.
    Command(Command),
    /// A session envelope.
    Session(Session),
}

/// The four envelope kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnvelopeKind {
    /// [`Message`].
    Message,
    /// [`Notification`].
    Notification,
    /// [`Command`].
    Command,
    /// [`Session`].
    Session,
}

impl EnvelopeKind {
    /// Lowercase name (`message`, `notification`, `command`, `session`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Notification => "notification",
            Self::Command => "command",
            Self::Session => "session",
        }
    }
}

impl fmt::Display for EnvelopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! each {
    ($self:expr, $e:ident => $body:expr) => {
        match $self {
            Envelope::Message($e) => $body,
            Envelope::Notification($e) => $body,
            Envelope::Command($e) => $body,
            Envelope::Session($e) => $body,
        }
    };
}

impl Envelope {
    /// Parses one envelope from JSON bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ParseError> {
        parse::from_slice(bytes)
    }

    /// Parses one envelope from an already parsed JSON value (used by bindings whose host
    /// language hands over dictionaries).
    pub fn from_value(value: serde_json::Value) -> Result<Self, ParseError> {
        parse::from_value(value)
    }

    /// Serializes to canonical JSON text.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        // invariant: serde_json writes valid UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Serializes to canonical JSON bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        out
    }

    /// Appends the canonical JSON bytes to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        if let Self::Message(m) = self {
            if write_plain_message(m, out) {
                return;
            }
        }
        // invariant: writing to a Vec cannot fail and no Serialize impl here reports errors.
        let result = serde_json::to_writer(&mut *out, self);
        debug_assert!(result.is_ok(), "{result:?}");
    }

    /// The kind of this envelope.
    pub fn kind(&self) -> EnvelopeKind {
        match self {
            Self::Message(_) => EnvelopeKind::Message,
            Self::Notification(_) => EnvelopeKind::Notification,
            Self::Command(_) => EnvelopeKind::Command,
            Self::Session(_) => EnvelopeKind::Session,
        }
    }

    /// The envelope id.
    pub fn id(&self) -> Option<&str> {
        each!(self, e => e.id.as_deref())
    }

    /// The sender (`from`). Named `from_node` because `Envelope::from` is the `From`
    /// conversion.
    pub fn from_node(&self) -> Option<&Node> {
        each!(self, e => e.from.as_ref())
    }

    /// The delegate (`pp`).
    pub fn pp(&self) -> Option<&Node> {
        each!(self, e => e.pp.as_ref())
    }

    /// The destination (`to`).
    pub fn to(&self) -> Option<&Node> {
        each!(self, e => e.to.as_ref())
    }

    /// The metadata.
    pub fn metadata(&self) -> Option<&Metadata> {
        each!(self, e => e.metadata.as_ref())
    }

    /// The sender of record for replies: `pp`, else `from` (C# `GetSender`).
    pub fn sender(&self) -> Option<&Node> {
        self.pp().or_else(|| self.from_node())
    }

    /// Sets the id.
    pub fn set_id(&mut self, id: Option<String>) {
        each!(self, e => e.id = id);
    }

    /// Sets the sender.
    pub fn set_from(&mut self, from: Option<Node>) {
        each!(self, e => e.from = from);
    }

    /// Sets the delegate.
    pub fn set_pp(&mut self, pp: Option<Node>) {
        each!(self, e => e.pp = pp);
    }

    /// Sets the destination.
    pub fn set_to(&mut self, to: Option<Node>) {
        each!(self, e => e.to = to);
    }
}

impl FromStr for Envelope {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse::from_str(s)
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        each!(self, e => e.serialize(serializer))
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        parse::deserialize(deserializer)
    }
}

impl From<Message> for Envelope {
    fn from(m: Message) -> Self {
        Self::Message(m)
    }
}
impl From<Notification> for Envelope {
    fn from(n: Notification) -> Self {
        Self::Notification(n)
    }
}
impl From<Command> for Envelope {
    fn from(c: Command) -> Self {
        Self::Command(c)
    }
}
impl From<Session> for Envelope {
    fn from(s: Session) -> Self {
        Self::Session(s)
    }
}

/// Builder-style setters for the header fields every envelope shares.
macro_rules! header_builders {
    ($ty:ty) => {
        impl $ty {
            /// Sets the id.
            #[must_use]
            pub fn with_id(mut self, id: impl Into<String>) -> Self {
                self.id = Some(id.into());
                self
            }

            /// Sets the sender.
            #[must_use]
            pub fn with_from(mut self, from: $crate::Node) -> Self {
                self.from = Some(from);
                self
            }

            /// Sets the delegate.
            #[must_use]
            pub fn with_pp(mut self, pp: $crate::Node) -> Self {
                self.pp = Some(pp);
                self
            }

            /// Sets the destination.
            #[must_use]
            pub fn with_to(mut self, to: $crate::Node) -> Self {
                self.to = Some(to);
                self
            }

            /// Adds a metadata entry.
            #[must_use]
            pub fn with_metadata(
                mut self,
                key: impl Into<String>,
                value: impl Into<String>,
            ) -> Self {
                self.metadata.get_or_insert_with(Default::default).insert(key.into(), value.into());
                self
            }
        }
    };
}
pub(crate) use header_builders;

/// Writes `id, from, pp, to, metadata` (C# base-class order), skipping absent ones.
fn write_header<M: SerializeMap>(
    map: &mut M,
    id: &Option<String>,
    from: &Option<Node>,
    pp: &Option<Node>,
    to: &Option<Node>,
    metadata: &Option<Metadata>,
) -> Result<(), M::Error> {
    if let Some(id) = id {
        map.serialize_entry("id", id)?;
    }
    if let Some(from) = from {
        map.serialize_entry("from", from)?;
    }
    if let Some(pp) = pp {
        map.serialize_entry("pp", pp)?;
    }
    if let Some(to) = to {
        map.serialize_entry("to", to)?;
    }
    if let Some(metadata) = metadata {
        map.serialize_entry("metadata", metadata)?;
    }
    Ok(())
}

/// Writes the common message (text content, no metadata, every string free of what JSON
/// escapes) byte for byte as the `Serialize` impl would, without serde's per-byte escaping;
/// `false` (nothing written) for any other message.
fn write_plain_message(m: &Message, out: &mut Vec<u8>) -> bool {
    let Some(doc) = &m.content else { return false };
    let serde_json::Value::String(content) = doc.value() else { return false };
    if m.metadata.is_some() {
        return false;
    }
    fn node(n: &Option<Node>) -> Option<Option<&str>> {
        match n {
            None => Some(None),
            Some(n) => n.shown().map(Some),
        }
    }
    let (Some(from), Some(pp), Some(to)) = (node(&m.from), node(&m.pp), node(&m.to)) else {
        return false;
    };
    let media_type = doc.media_type().as_str();
    let members = [
        ("type", Some(media_type)),
        ("content", Some(content.as_str())),
        ("id", m.id.as_deref()),
        ("from", from),
        ("pp", pp),
        ("to", to),
    ];
    if !members.iter().all(|(_, v)| v.is_none_or(parse::is_plain)) {
        return false;
    }
    out.push(b'{');
    let mut first = true;
    for (key, value) in members {
        let Some(value) = value else { continue };
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":\"");
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
    out.push(b'}');
    true
}

/// Writes `type` and the document under `key`, when there is one. A document whose value is
/// JSON `null` counts as absent: `null` is never written.
fn write_content<M: SerializeMap>(
    map: &mut M,
    key: &'static str,
    doc: Option<&Document>,
) -> Result<(), M::Error> {
    if let Some(doc) = doc.filter(|d| !d.value().is_null()) {
        map.serialize_entry("type", doc.media_type())?;
        map.serialize_entry(key, doc.value())?;
    }
    Ok(())
}

#[cfg(test)]
mod plain_writer_tests {
    use super::*;

    #[test]
    fn plain_messages_take_the_fast_writer_and_others_do_not() {
        let node = |s: &str| s.parse::<Node>().unwrap();
        let plain = Message::text("Hello, Bob!").with_id("1").with_to(node("bob@x.com/phone"));
        let mut plain = plain;
        plain.from = Some(node("alice@x.com/home"));
        plain.pp = Some(Node::new(Some("carol"), Some("x.com"), None));
        let mut out = Vec::new();
        assert!(write_plain_message(&plain, &mut out));
        assert_eq!(out, serde_json::to_vec(&Envelope::Message(plain.clone())).unwrap());
        assert_eq!(
            String::from_utf8(std::mem::take(&mut out)).unwrap(),
            r#"{"type":"text/plain","content":"Hello, Bob!","id":"1","from":"alice@x.com/home","pp":"carol@x.com","to":"bob@x.com/phone"}"#
        );
        let quoted = Message::text("say \"hi\"");
        let quirky = Message { to: Some(node("a@b@c")), ..Message::text("x") };
        let json = Message {
            content: Some(Document::json(serde_json::json!({"a": 1}))),
            ..Message::text("x")
        };
        let mut with_metadata = Message::text("x");
        with_metadata.metadata = Some([("k".to_owned(), "v".to_owned())].into_iter().collect());
        for other in [quoted, quirky, json, with_metadata] {
            assert!(!write_plain_message(&other, &mut out), "{other:?}");
            assert!(out.is_empty());
            let env = Envelope::Message(other);
            assert_eq!(env.to_vec(), serde_json::to_vec(&env).unwrap());
        }
    }
}
