//! Envelope parsing: one pass over the JSON object, then kind-specific conversion.
//!
//! The first pass collects the known keys without interpreting values that depend on the kind
//! (a malformed `event` inside a message is ignored, as in C#). Strings are borrowed from the
//! input when they contain no escapes. Semantic errors are collected as [`ParseError`]s while
//! the rest of the object is still consumed, so syntax errors anywhere in the object win.

use std::{borrow::Cow, fmt, str::FromStr};

use serde::{
    de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor},
    Deserialize, Deserializer,
};
use serde_json::Value;

mod flat;

pub(super) use flat::is_plain;

use super::{Authentication, Command, Envelope, Message, Metadata, Notification, Session};
use crate::{
    document::{Document, MediaType},
    enums::{
        AuthenticationScheme, CommandMethod, CommandStatus, NotificationEvent, SessionCompression,
        SessionEncryption, SessionState,
    },
    error::{excerpt, ParseError},
    node::Node,
    uri::LimeUri,
    Reason,
};

pub(super) fn from_slice(bytes: &[u8]) -> Result<Envelope, ParseError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => from_str(text),
        Err(e) => read_json(serde_json::Deserializer::from_slice(bytes), EnvelopeVisitor)
            .and_then(|_| Err(not_utf8(&e))),
    }
}

/// The error for bytes that are not UTF-8 where serde found nothing wrong: it skips the strings
/// of unknown members without checking them, and those bytes would travel on (a text frame
/// could not carry them).
fn not_utf8(e: &std::str::Utf8Error) -> ParseError {
    ParseError::Json(format!(
        "the envelope is not UTF-8 (invalid byte at offset {})",
        e.valid_up_to()
    ))
}

/// [`from_slice`] for text already known to be UTF-8 (a WebSocket text frame, a `&str`): the
/// strings in it are not validated again.
pub(super) fn from_str(text: &str) -> Result<Envelope, ParseError> {
    let mut raw = Raw::default();
    if flat::read(text, false, &mut raw).is_some() {
        return build(raw);
    }
    read_json(serde_json::Deserializer::from_str(text), EnvelopeVisitor)
}

/// The serde pass: one JSON object read by `visitor`, then only whitespace. A JSON error wins
/// over the visitor's own (semantic) error.
fn read_json<'de, R, V, T>(mut de: serde_json::Deserializer<R>, visitor: V) -> Result<T, ParseError>
where
    R: serde_json::de::Read<'de>,
    V: Visitor<'de, Value = Result<T, ParseError>>,
{
    let result = de.deserialize_map(visitor).map_err(|e| ParseError::from_json(&e))?;
    de.end().map_err(|e| ParseError::from_json(&e))?;
    result
}

pub(super) fn from_value(value: Value) -> Result<Envelope, ParseError> {
    value.deserialize_map(EnvelopeVisitor).map_err(|e| ParseError::from_json(&e))?
}

pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Envelope, D::Error> {
    d.deserialize_map(EnvelopeVisitor)?.map_err(de::Error::custom)
}

/// A JSON value where a string is expected, kept loose so a wrong type becomes a clear
/// field error instead of an opaque deserializer error.
enum Scalar<'de> {
    Null,
    Str(Cow<'de, str>),
    /// An integer: accepted for enum fields (C# Newtonsoft reads an enum's ordinal).
    Int(i64),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                Scalar::deserialize(d)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Other("a boolean"))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(Scalar::Other("a number"), Scalar::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Other("a number"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

impl Scalar<'_> {
    fn string(self, field: &'static str) -> Result<Option<String>, ParseError> {
        match self {
            Self::Null => Ok(None),
            Self::Str(s) => Ok(Some(s.into_owned())),
            Self::Int(_) => Err(ParseError::field(field, "expected a string, found a number")),
            Self::Other(found) => {
                Err(ParseError::field(field, format!("expected a string, found {found}")))
            }
        }
    }

    /// An enum value: its spelling, or (like C# Newtonsoft) its ordinal in `all`, which lists
    /// the values in the C# declaration order.
    fn enumerated<T: FromStr<Err = ParseError> + Copy>(
        self,
        field: &'static str,
        all: &[T],
    ) -> Result<Option<T>, ParseError> {
        match self {
            Self::Int(n) => ordinal(n, all).map(Some).map_err(|e| e.in_field(field)),
            other => other.parse(field),
        }
    }

    fn parse<T: FromStr<Err = ParseError>>(
        self,
        field: &'static str,
    ) -> Result<Option<T>, ParseError> {
        match self {
            Self::Null => Ok(None),
            Self::Str(s) => s.parse().map(Some).map_err(|e: ParseError| e.in_field(field)),
            Self::Int(_) => Err(ParseError::field(field, "expected a string, found a number")),
            Self::Other(found) => {
                Err(ParseError::field(field, format!("expected a string, found {found}")))
            }
        }
    }
}

/// The enum value with C# ordinal `n`; an undefined ordinal is an unknown value.
fn ordinal<T: FromStr<Err = ParseError> + Copy>(n: i64, all: &[T]) -> Result<T, ParseError> {
    match usize::try_from(n).ok().and_then(|i| all.get(i)) {
        Some(v) => Ok(*v),
        // The number's text is no spelling, so this is the enum's own "unknown value" error.
        None => n.to_string().parse(),
    }
}

macro_rules! fields {
    ($($variant:ident = $name:literal),* $(,)?) => {
        #[derive(Clone, Copy)]
        enum Field { $($variant,)* Other }

        impl<'de> Deserialize<'de> for Field {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = Field;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a property name")
                    }
                    fn visit_str<E>(self, v: &str) -> Result<Field, E> {
                        Ok(Field::named(v))
                    }
                }
                d.deserialize_identifier(V)
            }
        }

        impl Field {
            /// The field a key names.
            fn named(key: &str) -> Self {
                match key.as_bytes() { $($name => Field::$variant,)* _ => Field::Other }
            }
        }

        /// Every key the parser reads, as LIME spells it.
        pub(crate) const KNOWN_KEYS: &[&[u8]] = &[$($name),*];

        /// Whether the parser reads `key`, spelled exactly (one match, no UTF-8 check).
        pub(crate) fn is_known_key(key: &[u8]) -> bool {
            matches!(key, $($name)|*)
        }
    };
}

fields! {
    Id = b"id", From = b"from", Pp = b"pp", To = b"to", Metadata = b"metadata",
    Type = b"type", Content = b"content", Resource = b"resource", Event = b"event",
    Reason = b"reason", Method = b"method", Uri = b"uri", Status = b"status", State = b"state",
    EncryptionOptions = b"encryptionOptions", Encryption = b"encryption",
    CompressionOptions = b"compressionOptions", Compression = b"compression",
    SchemeOptions = b"schemeOptions", Scheme = b"scheme", Authentication = b"authentication",
}

/// Every known key, as found (present-but-null counts as present).
#[derive(Default)]
struct Raw<'de> {
    id: Option<Scalar<'de>>,
    from: Option<Scalar<'de>>,
    pp: Option<Scalar<'de>>,
    to: Option<Scalar<'de>>,
    metadata: Option<Value>,
    media_type: Option<Scalar<'de>>,
    content: Option<Value>,
    resource: Option<Value>,
    event: Option<Scalar<'de>>,
    reason: Option<Value>,
    method: Option<Scalar<'de>>,
    uri: Option<Scalar<'de>>,
    status: Option<Scalar<'de>>,
    state: Option<Scalar<'de>>,
    encryption_options: Option<Value>,
    encryption: Option<Scalar<'de>>,
    compression_options: Option<Value>,
    compression: Option<Scalar<'de>>,
    scheme_options: Option<Value>,
    scheme: Option<Scalar<'de>>,
    authentication: Option<Value>,
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Result<Envelope, ParseError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (raw, _) = read_fields(&mut map, false)?;
        Ok(build(raw))
    }
}

/// Whether a skipped `content` was `null` (a message without content) or a value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Probe {
    Null,
    Value,
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Probe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Probe, E> {
                Ok(Probe::Null)
            }
            fn visit_none<E>(self) -> Result<Probe, E> {
                Ok(Probe::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Probe, D::Error> {
                Probe::deserialize(d)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Probe, E> {
                Ok(Probe::Value)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Probe, E> {
                Ok(Probe::Value)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Probe, E> {
                Ok(Probe::Value)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Probe, E> {
                Ok(Probe::Value)
            }
            fn visit_str<E>(self, _: &str) -> Result<Probe, E> {
                Ok(Probe::Value)
            }
            // Nested values are read as a `Value` would read them (not skipped with
            // `IgnoredAny`, which lets through numbers out of range and lone surrogates that
            // a `Value`, and so every recipient, refuses), only without keeping them.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Probe, A::Error> {
                while seq.next_element::<Probe>()?.is_some() {}
                Ok(Probe::Value)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe, A::Error> {
                while map.next_entry::<Probe, Probe>()?.is_some() {}
                Ok(Probe::Value)
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads every member of the envelope object into `Raw`. With `skip_content`, `content` is
/// checked to be JSON but not built: the second value tells whether it was present and null.
fn read_fields<'de, A: MapAccess<'de>>(
    map: &mut A,
    skip_content: bool,
) -> Result<(Raw<'de>, Option<Probe>), A::Error> {
    let mut raw = Raw::default();
    let mut probe = None;
    while let Some(field) = map.next_key::<Field>()? {
        store(&mut raw, &mut probe, field, FromMap(&mut *map), skip_content)?;
    }
    Ok((raw, probe))
}

/// The value of the member being read, as whatever type its field needs: from serde's map
/// access, or from a plain string of the fast reader (`flat`).
trait MemberValue<'de> {
    type Error;
    fn read<T: Deserialize<'de>>(&mut self) -> Result<T, Self::Error>;
}

/// The next value of a serde map.
struct FromMap<'a, A>(&'a mut A);

impl<'de, A: MapAccess<'de>> MemberValue<'de> for FromMap<'_, A> {
    type Error = A::Error;
    fn read<T: Deserialize<'de>>(&mut self) -> Result<T, A::Error> {
        self.0.next_value()
    }
}

/// Stores the member `field` into `raw` (a later duplicate replaces an earlier one). With
/// `skip_content`, `content` is only probed.
fn store<'de, M: MemberValue<'de>>(
    raw: &mut Raw<'de>,
    probe: &mut Option<Probe>,
    field: Field,
    mut value: M,
    skip_content: bool,
) -> Result<(), M::Error> {
    match field {
        Field::Content if skip_content => *probe = Some(value.read()?),
        Field::Id => raw.id = Some(value.read()?),
        Field::From => raw.from = Some(value.read()?),
        Field::Pp => raw.pp = Some(value.read()?),
        Field::To => raw.to = Some(value.read()?),
        Field::Metadata => raw.metadata = Some(value.read()?),
        Field::Type => raw.media_type = Some(value.read()?),
        Field::Content => raw.content = Some(value.read()?),
        Field::Resource => raw.resource = Some(value.read()?),
        Field::Event => raw.event = Some(value.read()?),
        Field::Reason => raw.reason = Some(value.read()?),
        Field::Method => raw.method = Some(value.read()?),
        Field::Uri => raw.uri = Some(value.read()?),
        Field::Status => raw.status = Some(value.read()?),
        Field::State => raw.state = Some(value.read()?),
        Field::EncryptionOptions => raw.encryption_options = Some(value.read()?),
        Field::Encryption => raw.encryption = Some(value.read()?),
        Field::CompressionOptions => raw.compression_options = Some(value.read()?),
        Field::Compression => raw.compression = Some(value.read()?),
        Field::SchemeOptions => raw.scheme_options = Some(value.read()?),
        Field::Scheme => raw.scheme = Some(value.read()?),
        Field::Authentication => raw.authentication = Some(value.read()?),
        Field::Other => {
            value.read::<IgnoredAny>()?;
        }
    }
    Ok(())
}

/// What [`from_slice_routable`] read: a message's header (the content skipped), or any other
/// envelope in full.
// Short-lived and moved once: boxing either variant would cost an allocation per envelope.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Routable {
    Message { header: RoutingHeader, content: bool },
    Envelope(Envelope),
}

/// The header fields of a message, parsed and checked as [`from_slice`] does.
#[derive(Debug)]
pub(super) struct RoutingHeader {
    pub(super) id: Option<String>,
    pub(super) from: Option<Node>,
    pub(super) pp: Option<Node>,
    pub(super) to: Option<Node>,
}

struct RoutableVisitor;

impl<'de> Visitor<'de> for RoutableVisitor {
    type Value = Result<Routable, ParseError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (raw, probe) = read_fields(&mut map, true)?;
        Ok(routable(raw, probe))
    }
}

/// What [`from_slice_routable`] makes of the members it read.
fn routable(raw: Raw<'_>, probe: Option<Probe>) -> Result<Routable, ParseError> {
    let Some(probe) = probe else { return build(raw).map(Routable::Envelope) };
    // What `build_message` checks, in its order, without building the document.
    header(raw.id, raw.from, raw.pp, raw.to, raw.metadata).and_then(|h| {
        if probe == Probe::Value {
            opt(raw.media_type, |s| s.parse::<MediaType>("type"))?;
        }
        Ok(Routable::Message {
            header: RoutingHeader { id: h.id, from: h.from, pp: h.pp, to: h.to },
            content: probe == Probe::Value,
        })
    })
}

/// Like [`from_slice`], but a message's content is only read, not built (every value in it
/// read as a `Value` would read it). Accepts and refuses exactly what [`from_slice`] does, with
/// the same error for the same input.
pub(super) fn from_slice_routable(bytes: &[u8]) -> Result<Routable, ParseError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => from_str_routable(text),
        Err(e) => read_json(serde_json::Deserializer::from_slice(bytes), RoutableVisitor)
            .and_then(|_| Err(not_utf8(&e))),
    }
}

/// [`from_slice_routable`] for text already known to be UTF-8.
pub(super) fn from_str_routable(text: &str) -> Result<Routable, ParseError> {
    let mut raw = Raw::default();
    if let Some(probe) = flat::read(text, true, &mut raw) {
        return routable(raw, probe);
    }
    read_json(serde_json::Deserializer::from_str(text), RoutableVisitor)
}

fn build(raw: Raw<'_>) -> Result<Envelope, ParseError> {
    if raw.content.is_some() {
        build_message(raw).map(Envelope::Message)
    } else if raw.event.is_some() {
        build_notification(raw).map(Envelope::Notification)
    } else if raw.method.is_some() {
        build_command(raw).map(Envelope::Command)
    } else if raw.state.is_some() {
        build_session(raw).map(Envelope::Session)
    } else {
        Err(ParseError::NotEnvelope(
            "the object has none of `content`, `event`, `method` or `state`".into(),
        ))
    }
}

struct Header {
    id: Option<String>,
    from: Option<Node>,
    pp: Option<Node>,
    to: Option<Node>,
    metadata: Option<Metadata>,
}

fn header(
    id: Option<Scalar<'_>>,
    from: Option<Scalar<'_>>,
    pp: Option<Scalar<'_>>,
    to: Option<Scalar<'_>>,
    metadata: Option<Value>,
) -> Result<Header, ParseError> {
    Ok(Header {
        id: opt(id, |s| s.string("id"))?,
        from: opt(from, |s| s.parse("from"))?,
        pp: opt(pp, |s| s.parse("pp"))?,
        to: opt(to, |s| s.parse("to"))?,
        metadata: metadata.map(parse_metadata).transpose()?.flatten(),
    })
}

fn opt<'de, T>(
    s: Option<Scalar<'de>>,
    f: impl FnOnce(Scalar<'de>) -> Result<Option<T>, ParseError>,
) -> Result<Option<T>, ParseError> {
    s.map(f).transpose().map(Option::flatten)
}

/// Metadata values must be strings; primitives are coerced like Newtonsoft does, nulls dropped.
fn parse_metadata(value: Value) -> Result<Option<Metadata>, ParseError> {
    let obj = match value {
        Value::Null => return Ok(None),
        Value::Object(obj) => obj,
        _ => return Err(ParseError::field("metadata", "expected an object of strings")),
    };
    let mut out = Metadata::with_capacity(obj.len());
    for (k, v) in obj {
        let v = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            Value::Array(_) | Value::Object(_) => {
                return Err(ParseError::field(
                    "metadata",
                    // The key is untrusted: shortened, as node and URI errors shorten theirs.
                    format!("the value of {:?} must be a string", excerpt(&k)),
                ));
            }
        };
        out.insert(k, v);
    }
    Ok(Some(out))
}

fn document(
    media_type: Option<Scalar<'_>>,
    value: Option<Value>,
) -> Result<Option<Document>, ParseError> {
    let value = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let media_type = match opt(media_type, |s| s.parse::<MediaType>("type"))? {
        Some(media_type) => media_type,
        // C# accepts a document without `type` (and drops it); we keep it, labelled with the
        // type its JSON shape implies, so the envelope stays well-formed when forwarded.
        None if value.is_string() => MediaType::known("text/plain"),
        None => MediaType::known("application/json"),
    };
    Ok(Some(Document::new(media_type, value)))
}

fn reason(value: Option<Value>) -> Result<Option<Reason>, ParseError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Reason::deserialize(v).map(Some).map_err(|e| ParseError::field("reason", e)),
    }
}

fn build_message(raw: Raw<'_>) -> Result<Message, ParseError> {
    let h = header(raw.id, raw.from, raw.pp, raw.to, raw.metadata)?;
    Ok(Message {
        content: document(raw.media_type, raw.content)?,
        id: h.id,
        from: h.from,
        pp: h.pp,
        to: h.to,
        metadata: h.metadata,
    })
}

fn build_notification(raw: Raw<'_>) -> Result<Notification, ParseError> {
    let h = header(raw.id, raw.from, raw.pp, raw.to, raw.metadata)?;
    Ok(Notification {
        event: opt(raw.event, |s| s.enumerated("event", NotificationEvent::ALL))?
            .unwrap_or(NotificationEvent::Failed),
        reason: reason(raw.reason)?,
        id: h.id,
        from: h.from,
        pp: h.pp,
        to: h.to,
        metadata: h.metadata,
    })
}

fn build_command(raw: Raw<'_>) -> Result<Command, ParseError> {
    let h = header(raw.id, raw.from, raw.pp, raw.to, raw.metadata)?;
    Ok(Command {
        uri: opt(raw.uri, |s| s.parse::<LimeUri>("uri"))?,
        method: opt(raw.method, |s| s.enumerated("method", CommandMethod::ALL))?
            .unwrap_or_default(),
        status: opt(raw.status, |s| s.enumerated("status", CommandStatus::ALL))?
            .unwrap_or_default(),
        resource: document(raw.media_type, raw.resource)?,
        reason: reason(raw.reason)?,
        id: h.id,
        from: h.from,
        pp: h.pp,
        to: h.to,
        metadata: h.metadata,
    })
}

fn enum_list<T: FromStr<Err = ParseError> + Copy>(
    value: Option<Value>,
    field: &'static str,
    all: &[T],
) -> Result<Option<Vec<T>>, ParseError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.parse().map_err(|e: ParseError| e.in_field(field)),
                Value::Number(n) => match n.as_i64() {
                    Some(n) => ordinal(n, all).map_err(|e| e.in_field(field)),
                    None => Err(ParseError::field(field, "expected an array of strings")),
                },
                _ => Err(ParseError::field(field, "expected an array of strings")),
            })
            .collect::<Result<Vec<T>, _>>()
            .map(Some),
        Some(_) => Err(ParseError::field(field, "expected an array of strings")),
    }
}

fn authentication(
    scheme: Option<Scalar<'_>>,
    value: Option<Value>,
) -> Result<Option<Authentication>, ParseError> {
    let mut obj = match value {
        None | Some(Value::Null) => None,
        Some(Value::Object(obj)) => Some(obj),
        Some(_) => return Err(ParseError::field("authentication", "expected an object")),
    };
    let inner_scheme = obj.as_mut().and_then(|o| o.swap_remove("scheme"));
    let scheme = match opt(scheme, |s| s.enumerated("scheme", AuthenticationScheme::ALL))? {
        Some(scheme) => scheme,
        None => match inner_scheme {
            Some(Value::String(s)) => {
                s.parse().map_err(|e: ParseError| e.in_field("authentication"))?
            }
            Some(Value::Null) | None => return Ok(None),
            Some(_) => {
                return Err(ParseError::field("authentication", "`scheme` must be a string"))
            }
        },
    };
    let mut take = |key: &'static str| -> Result<Option<String>, ParseError> {
        match obj.as_mut().and_then(|o| o.swap_remove(key)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => {
                Err(ParseError::field("authentication", format!("`{key}` must be a string")))
            }
        }
    };
    Ok(Some(match scheme {
        AuthenticationScheme::Guest => Authentication::Guest,
        AuthenticationScheme::Transport => Authentication::Transport,
        AuthenticationScheme::Plain => Authentication::Plain { password: take("password")? },
        AuthenticationScheme::Key => Authentication::Key { key: take("key")? },
        AuthenticationScheme::External => {
            Authentication::External { token: take("token")?, issuer: take("issuer")? }
        }
    }))
}

fn build_session(raw: Raw<'_>) -> Result<Session, ParseError> {
    let h = header(raw.id, raw.from, raw.pp, raw.to, raw.metadata)?;
    Ok(Session {
        state: opt(raw.state, |s| s.enumerated("state", SessionState::ALL))?.unwrap_or_default(),
        encryption_options: enum_list(
            raw.encryption_options,
            "encryptionOptions",
            SessionEncryption::ALL,
        )?,
        encryption: opt(raw.encryption, |s| s.enumerated("encryption", SessionEncryption::ALL))?,
        compression_options: enum_list(
            raw.compression_options,
            "compressionOptions",
            SessionCompression::ALL,
        )?,
        compression: opt(raw.compression, |s| {
            s.enumerated("compression", SessionCompression::ALL)
        })?,
        scheme_options: enum_list(raw.scheme_options, "schemeOptions", AuthenticationScheme::ALL)?,
        authentication: authentication(raw.scheme, raw.authentication)?,
        reason: reason(raw.reason)?,
        id: h.id,
        from: h.from,
        pp: h.pp,
        to: h.to,
        metadata: h.metadata,
    })
}
