//! The core's text rules for Kotlin and Swift, without a connection: envelopes in canonical
//! form, nodes, media types, command URIs and the TCP stream framing.
//!
//! These are the functions the cross-language vectors (`tests/vectors/`) are checked through
//! from Kotlin (`bindings/ffi/tests/bindings/Vectors.kt`); applications can use them to
//! validate or normalise what they put into records. Failures are [`CodecError`]s carrying the
//! vectors' language-neutral error kind (`json`, `not_envelope`, `invalid_field`,
//! `unknown_value`, `invalid_node`, `invalid_media_type`, `invalid_uri`).

use lime::{Envelope, EnvelopeDecoder, LimeUri, MediaType, Node};

/// Why a piece of LIME text was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum CodecError {
    /// The text does not follow the LIME rules.
    #[error("{msg}")]
    Invalid {
        /// A stable name of the error family: `json`, `not_envelope`, `invalid_field`,
        /// `unknown_value`, `invalid_node`, `invalid_media_type` or `invalid_uri`.
        kind: String,
        /// The top-level JSON key at fault, for `invalid_field` envelope errors.
        field: Option<String>,
        /// What is wrong, in words.
        msg: String,
    },
}

impl From<lime::ParseError> for CodecError {
    fn from(e: lime::ParseError) -> Self {
        let field = match &e {
            lime::ParseError::InvalidField { field, .. } => Some((*field).to_owned()),
            _ => None,
        };
        Self::Invalid { kind: e.kind().to_owned(), field, msg: e.to_string() }
    }
}

/// An envelope in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CanonicalEnvelope {
    /// `message`, `notification`, `command` or `session`.
    pub kind: String,
    /// The envelope as the core writes it (C# property order, no nulls, compact).
    pub json: String,
}

/// The parts of a node (`name@domain/instance`), parsed by the C# rules.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NodeParts {
    /// Text before the first `@` (absent when blank).
    pub name: Option<String>,
    /// Text after the first `@`, up to the next `/` or `@` (absent when blank).
    pub domain: Option<String>,
    /// Everything after the identity plus one character (absent when there is nothing).
    pub instance: Option<String>,
    /// The node's canonical text.
    pub display: String,
    /// The canonical text of its identity (`name@domain`).
    pub identity: String,
}

/// How two nodes compare (case-insensitively, with full Unicode case folding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NodeComparison {
    /// Name, domain and instance are equal.
    pub nodes_equal: bool,
    /// Name and domain are equal.
    pub identities_equal: bool,
}

/// The parts of a media type (`type/subtype+suffix`; parameters after `;` are dropped).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct MediaTypeParts {
    /// The top-level type (`application`).
    pub type_name: String,
    /// The subtype without its suffix (`vnd.lime.ping`).
    pub subtype: String,
    /// The suffix after `+` (`json`), if any.
    pub suffix: Option<String>,
    /// Subtype or suffix is `json`, ignoring case.
    pub is_json: bool,
    /// The canonical text (`type/subtype[+suffix]`).
    pub display: String,
}

/// A command URI: relative (`/ping`) or `lime://authority/path`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct UriParts {
    /// No scheme.
    pub relative: bool,
    /// The text written into `uri` (trailing `/` removed).
    pub display: String,
    /// The path: the whole text when relative, what follows the authority otherwise.
    pub path: String,
}

/// What [`decode_stream`] got out of a byte stream.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DecodeResult {
    /// Every envelope decoded before the end or the error, in canonical JSON.
    pub envelopes: Vec<String>,
    /// Why decoding stopped early: `too_large`, `truncated`, or an envelope error kind.
    pub error_kind: Option<String>,
    /// Byte offset in the stream of the `{` opening the envelope at fault.
    pub error_offset: Option<u64>,
    /// The error in words.
    pub error_message: Option<String>,
}

/// Parses one envelope and writes it back in canonical form.
#[uniffi::export]
pub fn canonicalize_envelope(json: String) -> Result<CanonicalEnvelope, CodecError> {
    let envelope: Envelope = json.parse()?;
    Ok(CanonicalEnvelope { kind: envelope.kind().as_str().to_owned(), json: envelope.to_json() })
}

/// Whether two JSON texts hold the same value: objects by their set of keys (order ignored),
/// arrays in order, numbers by value, no `true == 1`.
#[uniffi::export]
pub fn json_equals(a: String, b: String) -> Result<bool, CodecError> {
    Ok(json_value(&a)? == json_value(&b)?)
}

fn json_value(text: &str) -> Result<serde_json::Value, CodecError> {
    serde_json::from_str(text).map_err(|e| CodecError::Invalid {
        kind: "json".into(),
        field: None,
        msg: format!("invalid JSON: {e}"),
    })
}

/// Parses a node (`name@domain/instance`) by the C# rules.
#[uniffi::export]
pub fn parse_node(text: String) -> Result<NodeParts, CodecError> {
    let node: Node = text.parse()?;
    Ok(NodeParts {
        name: node.name().map(str::to_owned),
        domain: node.domain().map(str::to_owned),
        instance: node.instance().map(str::to_owned),
        display: node.to_string(),
        identity: node.to_identity().to_string(),
    })
}

/// Parses two nodes and compares them as the core does (routing, `from` checks).
#[uniffi::export]
pub fn compare_nodes(a: String, b: String) -> Result<NodeComparison, CodecError> {
    let (a, b): (Node, Node) = (a.parse()?, b.parse()?);
    Ok(NodeComparison { nodes_equal: a == b, identities_equal: a.to_identity() == b.to_identity() })
}

/// Parses a media type.
#[uniffi::export]
pub fn parse_media_type(text: String) -> Result<MediaTypeParts, CodecError> {
    let media: MediaType = text.parse()?;
    Ok(MediaTypeParts {
        type_name: media.r#type().to_owned(),
        subtype: media.subtype().to_owned(),
        suffix: media.suffix().map(str::to_owned),
        is_json: media.is_json(),
        display: media.as_str().to_owned(),
    })
}

/// Parses a command URI.
#[uniffi::export]
pub fn parse_uri(text: String) -> Result<UriParts, CodecError> {
    let uri: LimeUri = text.parse()?;
    Ok(UriParts {
        relative: uri.is_relative(),
        display: uri.as_str().to_owned(),
        path: uri.path().to_owned(),
    })
}

/// Splits a LIME TCP byte stream, given as consecutive chunks, into envelopes with the core's
/// framing decoder (at most `max_envelope_size` bytes each, default 8 MiB), then signals the
/// end of the stream. Decoding stops at the first error, which is reported in the result.
#[uniffi::export]
pub fn decode_stream(chunks: Vec<Vec<u8>>, max_envelope_size: Option<u64>) -> DecodeResult {
    let max = max_envelope_size
        .map_or(lime::DEFAULT_MAX_ENVELOPE_SIZE, |m| usize::try_from(m).unwrap_or(usize::MAX));
    let mut decoder = EnvelopeDecoder::with_max_envelope_size(max);
    let mut envelopes = Vec::new();
    let mut error = None;
    'chunks: for chunk in &chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_envelope() {
                Ok(Some((_, envelope))) => envelopes.push(envelope.to_json()),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'chunks;
                }
            }
        }
    }
    let error = error.or_else(|| decoder.finish().err());
    DecodeResult {
        envelopes,
        error_kind: error.as_ref().map(|e| e.kind().to_owned()),
        error_offset: error.as_ref().map(lime::FrameError::offset),
        error_message: error.map(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(e: CodecError) -> (String, Option<String>) {
        let CodecError::Invalid { kind, field, .. } = e;
        (kind, field)
    }

    #[test]
    fn envelopes_come_back_canonical() {
        let c = canonicalize_envelope(
            r#"{"content":"hi","type":"text/plain; charset=utf-8","to":"a@b@c","x":1}"#.into(),
        )
        .unwrap();
        assert_eq!(c.kind, "message");
        assert_eq!(c.json, r#"{"type":"text/plain","content":"hi","to":"a@b/c"}"#);
        assert_eq!(canonicalize_envelope(r#"{"state":"NEW"}"#.into()).unwrap().kind, "session");
    }

    #[test]
    fn envelope_errors_carry_kind_and_field() {
        let err = |text: &str| kind_of(canonicalize_envelope(text.into()).unwrap_err());
        assert_eq!(err("{"), ("json".into(), None));
        assert_eq!(err("[1]"), ("not_envelope".into(), None));
        assert_eq!(err(r#"{"state":"new","id":5}"#), ("invalid_field".into(), Some("id".into())));
        assert_eq!(err(r#"{"state":"sleeping"}"#), ("unknown_value".into(), None));
    }

    #[test]
    fn json_values_compare_structurally() {
        let eq = |a: &str, b: &str| json_equals(a.into(), b.into()).unwrap();
        assert!(eq(r#"{"a":1,"b":[1,2]}"#, r#"{ "b": [1, 2], "a": 1 }"#));
        assert!(eq(r#""\u00e9""#, "\"\u{e9}\""));
        assert!(!eq(r#"{"a":1}"#, r#"{"a":1,"b":null}"#));
        assert!(!eq("[1,2]", "[2,1]"));
        assert!(!eq("true", "1"));
        assert!(!eq("1", "\"1\""));
        assert_eq!(kind_of(json_equals("{".into(), "{}".into()).unwrap_err()).0, "json");
    }

    #[test]
    fn nodes_parse_and_compare() {
        let n = parse_node("a@b.com/x/y".into()).unwrap();
        assert_eq!(
            n,
            NodeParts {
                name: Some("a".into()),
                domain: Some("b.com".into()),
                instance: Some("x/y".into()),
                display: "a@b.com/x/y".into(),
                identity: "a@b.com".into(),
            }
        );
        assert_eq!(parse_node("a@b.com/".into()).unwrap().instance.as_deref(), Some(""));
        assert_eq!(kind_of(parse_node("@".into()).unwrap_err()).0, "invalid_node");
        let c = compare_nodes("JOSÉ@b.com/Home".into(), "josé@B.COM/home".into()).unwrap();
        assert_eq!(c, NodeComparison { nodes_equal: true, identities_equal: true });
        let c = compare_nodes("a@b.com".into(), "a@b.com/".into()).unwrap();
        assert_eq!(c, NodeComparison { nodes_equal: false, identities_equal: true });
        assert!(compare_nodes("a@b".into(), " ".into()).is_err());
    }

    #[test]
    fn media_types_and_uris_parse() {
        let m = parse_media_type("application/vnd.lime.ping+JSON; x=1".into()).unwrap();
        assert_eq!(
            (m.type_name.as_str(), m.subtype.as_str(), m.suffix.as_deref(), m.is_json),
            ("application", "vnd.lime.ping", Some("JSON"), true)
        );
        assert_eq!(m.display, "application/vnd.lime.ping+JSON");
        assert_eq!(kind_of(parse_media_type("text".into()).unwrap_err()).0, "invalid_media_type");

        let u = parse_uri("lime://bob@example.com/groups/".into()).unwrap();
        assert_eq!(
            u,
            UriParts {
                relative: false,
                display: "lime://bob@example.com/groups".into(),
                path: "/groups".into()
            }
        );
        assert!(parse_uri("/contacts///".into()).unwrap().relative);
        assert_eq!(kind_of(parse_uri("http://x".into()).unwrap_err()).0, "invalid_uri");
    }

    #[test]
    fn streams_decode_across_chunks() {
        let chunks =
            vec![b"\r\n{\"state\":".to_vec(), b"\"new\"}{\"event\":\"received\",".to_vec()];
        let r = decode_stream(chunks, None);
        assert_eq!(r.envelopes, [r#"{"state":"new"}"#]);
        assert_eq!(r.error_kind.as_deref(), Some("truncated"));
        assert_eq!(r.error_offset, Some(17));
        assert!(r.error_message.is_some_and(|m| m.contains("17")));

        // One byte per chunk splits the two-byte `é`; the result is the same.
        let text = r#"{"id":"é","state":"new"} {"state":"bogus"}"#.as_bytes();
        let r = decode_stream(text.iter().map(|b| vec![*b]).collect(), Some(1 << 20));
        assert_eq!(r.envelopes, [r#"{"state":"new","id":"é"}"#]);
        assert_eq!((r.error_kind.as_deref(), r.error_offset), (Some("unknown_value"), Some(26)));

        let r = decode_stream(vec![b"{\"state\":\"new\"}".to_vec()], Some(10));
        assert_eq!((r.error_kind.as_deref(), r.error_offset), (Some("too_large"), Some(0)));
        assert!(r.envelopes.is_empty());
        let r = decode_stream(vec![b"{\"state\":\"new\"}\n".to_vec()], Some(15));
        assert_eq!((r.envelopes.len(), r.error_kind), (1, None));
    }
}
