//! Envelopes as a server receives them for forwarding: a message is read only as far as
//! routing needs (its header), with its bytes as received; every other envelope in full.
//!
//! A server forwards most messages without looking inside them, so building their content
//! (a `serde_json::Value` tree) would be wasted work. [`Received::from_bytes`] reads the whole
//! JSON text as [`Envelope::from_slice`] does, accepting and refusing exactly the same input
//! with the same error, but keeps only the header of a message.

use bytes::Bytes;

use super::parse::{self, Routable};
use crate::{error::ParseError, node::Node, Envelope};

/// One received envelope (see [`TransportReceiver::receive_routable`]).
///
/// [`TransportReceiver::receive_routable`]: crate::transport::TransportReceiver::receive_routable
#[derive(Clone, Debug)]
// Short-lived and moved once: boxing either variant would cost an allocation per envelope.
#[allow(clippy::large_enum_variant)]
pub enum Received {
    /// Parsed in full: a notification, command or session envelope (or any envelope, from a
    /// transport that reads only whole envelopes); its bytes are available from
    /// [`take_received_bytes`](crate::transport::TransportReceiver::take_received_bytes).
    Envelope(Envelope),
    /// A message read as far as routing needs, with its bytes.
    Message(RoutableMessage),
}

impl Received {
    /// Reads `bytes`, one JSON envelope: a message as a [`RoutableMessage`], anything else in
    /// full. Fails exactly when [`Envelope::from_slice`] fails, with the same error.
    ///
    /// # Examples
    ///
    /// ```
    /// use lime::envelope::Received;
    ///
    /// let json = r#"{"id":"1","to":"b@x/1","type":"text/plain","content":"hi"}"#;
    /// let Received::Message(m) = Received::from_bytes(json.into())? else { unreachable!() };
    /// assert_eq!(m.to().map(ToString::to_string).as_deref(), Some("b@x/1"));
    /// assert_eq!(m.bytes(), json.as_bytes());
    /// let ping = Received::from_bytes(r#"{"method":"get","uri":"/ping"}"#.into())?;
    /// assert!(matches!(ping, Received::Envelope(_)));
    /// assert!(Received::from_bytes(r#"{"content":"x","to":"@"}"#.into()).is_err());
    /// # Ok::<(), lime::ParseError>(())
    /// ```
    pub fn from_bytes(bytes: Bytes) -> Result<Self, ParseError> {
        let routable = parse::from_slice_routable(&bytes)?;
        Ok(Self::new(routable, bytes))
    }

    /// [`from_bytes`](Self::from_bytes) for `bytes` that hold `text` (a WebSocket text frame,
    /// already checked to be UTF-8), without checking the strings in it again.
    #[cfg_attr(not(feature = "websocket"), allow(dead_code))]
    pub(crate) fn from_text(bytes: Bytes, text: &str) -> Result<Self, ParseError> {
        debug_assert_eq!(bytes.as_ref(), text.as_bytes());
        let routable = parse::from_str_routable(text)?;
        Ok(Self::new(routable, bytes))
    }

    fn new(routable: Routable, bytes: Bytes) -> Self {
        match routable {
            Routable::Envelope(envelope) => Self::Envelope(envelope),
            Routable::Message { header, content } => Self::Message(RoutableMessage {
                id: header.id,
                from: header.from,
                pp: header.pp,
                to: header.to,
                content,
                bytes,
            }),
        }
    }
}

/// A message whose header was parsed and checked (`id`, `from`, `pp`, `to`, `metadata`,
/// `type`) and whose content was read but not built, with its bytes as received.
#[derive(Clone, Debug)]
pub struct RoutableMessage {
    pub(crate) id: Option<String>,
    pub(crate) from: Option<Node>,
    pub(crate) pp: Option<Node>,
    pub(crate) to: Option<Node>,
    /// `content` is not null.
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // Read by the server.
    pub(crate) content: bool,
    pub(crate) bytes: Bytes,
}

impl RoutableMessage {
    /// The message id.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The sender.
    pub fn from(&self) -> Option<&Node> {
        self.from.as_ref()
    }

    /// The sender of record (`pp`).
    pub fn pp(&self) -> Option<&Node> {
        self.pp.as_ref()
    }

    /// The destination.
    pub fn to(&self) -> Option<&Node> {
        self.to.as_ref()
    }

    /// The message as received.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The whole message, parsed in full, and its bytes.
    pub fn into_envelope(self) -> Result<(Envelope, Bytes), ParseError> {
        let envelope = Envelope::from_slice(&self.bytes)?;
        Ok((envelope, self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Received, ParseError> {
        Received::from_bytes(Bytes::copy_from_slice(json.as_bytes()))
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_even_where_nothing_reads_them() {
        // In an unknown member (skipped, not decoded), in a message's content (only read when
        // routing) and in a known string: forwarded, such bytes could not go out in a text
        // frame, so they are refused on arrival, by both parses.
        for json in [
            &b"{\"id\":\"1\",\"to\":\"b@x/1\",\"type\":\"text/plain\",\"content\":\"x\",\"junk\":\"\xff\xfe\"}"[..],
            b"{\"to\":\"b@x/1\",\"type\":\"application/json\",\"content\":{\"a\":\"\xc3\"}}",
            b"{\"method\":\"get\",\"uri\":\"/ping\",\"x\":{\"\xff\":1}}",
            b"{\"id\":\"\xff\",\"method\":\"get\",\"uri\":\"/ping\"}",
        ] {
            let routed = Received::from_bytes(Bytes::copy_from_slice(json));
            let full = Envelope::from_slice(json);
            let (Err(a), Err(b)) = (&routed, &full) else {
                panic!("{}: accepted: {routed:?} / {full:?}", String::from_utf8_lossy(json))
            };
            assert_eq!(a.to_string(), b.to_string());
        }
        let skipped = b"{\"content\":\"x\",\"junk\":\"\xff\"}";
        let error = Envelope::from_slice(skipped).unwrap_err().to_string();
        assert!(error.contains("not UTF-8") && error.contains("offset 23"), "{error}");
    }

    #[test]
    fn an_error_quotes_only_an_excerpt_of_a_metadata_key() {
        let key = "k".repeat(1 << 20);
        let json = format!(r#"{{"state":"new","metadata":{{"{key}":[]}}}}"#);
        let error = Envelope::from_slice(json.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("must be a string") && error.len() < 200, "{} bytes", error.len());
    }

    #[test]
    fn accepts_and_refuses_what_the_full_parse_does() {
        for json in [
            r#"{"id":"1","from":"a@x/1","pp":"a@x","to":"b@x/2","type":"text/plain","content":"hi"}"#,
            r#"{"content":{"n":18446744073709551616,"s":"\u00e9","a":[1,{"b":null}]},"type":"application/json"}"#,
            r#"{"content":null,"type":"bad type"}"#,
            r#"{"content":"x","metadata":{"k":1,"n":null}}"#,
            r#"{"content":[1,2],"content":"twice"}"#,
            r#"{"event":"received","id":"1"}"#,
            r#"{"method":"get","uri":"/ping"}"#,
            r#"{"state":"new"}"#,
            // refused
            r#"{"content":"x","type":"bad type"}"#,
            r#"{"content":"x","to":"@"}"#,
            r#"{"content":"x","from":3}"#,
            r#"{"content":"x","metadata":{"k":[1]}}"#,
            r#"{"content":{"a":1e400}}"#,
            r#"{"content":["\ud800"]}"#,
            r#"{"content":{"a":1,}}"#,
            r#"{"content":"x"} {}"#,
            r#"{"content":"x","id":"#,
            r#"{"id":"1"}"#,
            "[]",
        ] {
            let full = Envelope::from_slice(json.as_bytes());
            // Text known to be UTF-8 reads exactly as bytes do.
            let bytes = Bytes::copy_from_slice(json.as_bytes());
            match (Received::from_text(bytes, json), read(json)) {
                (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{json}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{json}"),
                (a, b) => panic!("{json}: {a:?} vs {b:?}"),
            }
            match (json.parse::<Envelope>(), &full) {
                (Ok(a), Ok(b)) => assert_eq!(&a, b, "{json}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{json}"),
                (a, b) => panic!("{json}: {a:?} vs {b:?}"),
            }
            match (read(json), full) {
                (Ok(Received::Envelope(e)), Ok(f)) => assert_eq!(e, f, "{json}"),
                (Ok(Received::Message(m)), Ok(Envelope::Message(f))) => {
                    assert_eq!(m.id.as_deref(), f.id.as_deref(), "{json}");
                    assert_eq!((&m.from, &m.pp, &m.to), (&f.from, &f.pp, &f.to), "{json}");
                    assert_eq!(m.content, f.content.is_some(), "{json}");
                    assert_eq!(m.bytes(), json.as_bytes());
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{json}"),
                (ours, full) => panic!("{json}: {ours:?} vs {full:?}"),
            }
        }
    }
}
