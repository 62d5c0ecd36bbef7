//! A fast reader for the common shape of an envelope: one flat JSON object whose keys and
//! values are all strings without escapes or control characters, as in
//! `{"id":"…","from":"…","to":"…","type":"text/plain","content":"…"}`, a `received`
//! notification or a `get /ping` request.
//!
//! It fills the same [`Raw`] the serde pass fills, so what it reads is built (and refused)
//! by the same code. It gives up (`None`) on anything else: another value (number, `null`,
//! object, array), an escape, a control character, malformed JSON. The serde pass then reads
//! the text from the start, errors included. So it only ever answers for text that serde_json
//! accepts, and answers what that pass answers; the property test in `tests/properties.rs`
//! and the unit tests below compare the two.

use serde::{
    de::value::{BorrowedStrDeserializer, Error},
    Deserialize,
};

use super::{store, Field, MemberValue, Probe, Raw};

/// Reads `text` as a flat object of plain strings into `raw`, a fresh [`Raw`] (with
/// `skip_content`, a `content` string is only noted as present, as the serde pass's probe
/// does, and returned). On `None`, `raw` holds part of the text and is to be dropped. It is
/// filled in place because it is large (a move costs more than reading a short envelope).
pub(super) fn read<'a>(
    text: &'a str,
    skip_content: bool,
    raw: &mut Raw<'a>,
) -> Option<Option<Probe>> {
    let bytes = text.as_bytes();
    let mut at = skip_ws(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    let mut probe = None;
    at = skip_ws(bytes, at + 1);
    if bytes.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            let (key, next) = string(text, at)?;
            at = skip_ws(bytes, next);
            if bytes.get(at) != Some(&b':') {
                return None;
            }
            at = skip_ws(bytes, at + 1);
            let (value, next) = string(text, at)?;
            // Reading a string as any of the member types cannot fail.
            store(raw, &mut probe, Field::named(key), Plain(value), skip_content).ok()?;
            at = skip_ws(bytes, next);
            match bytes.get(at) {
                Some(b',') => at = skip_ws(bytes, at + 1),
                Some(b'}') => {
                    at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    // Only whitespace may follow the object.
    (skip_ws(bytes, at) == bytes.len()).then_some(probe)
}

/// A plain string value, read as serde would read it from the JSON text (a `Scalar` borrows it).
struct Plain<'a>(&'a str);

impl<'a> MemberValue<'a> for Plain<'a> {
    type Error = Error;
    fn read<T: Deserialize<'a>>(&mut self) -> Result<T, Error> {
        T::deserialize(BorrowedStrDeserializer::new(self.0))
    }
}

/// JSON's whitespace (serde_json's too): space, tab, line feed, carriage return.
fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

/// The string starting at `at` (its opening quote) and the index after its closing quote;
/// `None` unless it is a plain string (no escape, no control character).
fn string(text: &str, at: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    let end = start + plain_len(bytes.get(start..)?)?;
    // Both ends are ASCII quotes, so character boundaries.
    Some((text.get(start..end)?, end + 1))
}

/// The index of the first `"` in `bytes`, if no backslash or control character comes before it.
fn plain_len(bytes: &[u8]) -> Option<usize> {
    first_special(bytes).filter(|i| bytes[*i] == b'"')
}

/// True when `s` can be written as a JSON string without escapes (what serde_json escapes:
/// `"`, backslash and control characters).
pub(in crate::envelope) fn is_plain(s: &str) -> bool {
    first_special(s.as_bytes()).is_none()
}

/// The index of the first quote, backslash or control character in `bytes`. Eight bytes at a
/// time while none of them is special (the usual "has a byte less than" word tricks), then
/// byte by byte.
fn first_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero when some byte of `w` is below `n` (for n <= 0x80).
    let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w & HIGH;
    let mut i = 0;
    for chunk in bytes.chunks_exact(8) {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        if below(quote, 1) | below(backslash, 1) | below(w, 0x20) != 0 {
            break;
        }
        i += 8;
    }
    let rest = bytes.get(i..)?;
    rest.iter().position(|b| matches!(b, b'"' | b'\\' | 0..=0x1f)).map(|j| i + j)
}

#[cfg(test)]
mod tests {
    use super::super::{from_slice, from_slice_routable};
    use super::*;

    /// The serde pass alone, for comparison.
    fn serde_only(text: &str) -> String {
        let de = serde_json::Deserializer::from_str(text);
        format!("{:?}", super::super::read_json(de, super::super::EnvelopeVisitor))
    }

    #[test]
    fn plain_strings_end_at_their_quote_at_any_offset() {
        for len in 0..40 {
            let body: String = "aé€b".chars().cycle().take(len).collect();
            for special in ["\\", "\u{1}", "\n", "\u{1f}"] {
                for at in 0..=body.len() {
                    if !body.is_char_boundary(at) {
                        continue;
                    }
                    let plain = format!("{}\"rest", &body[..at]);
                    assert_eq!(plain_len(plain.as_bytes()), Some(at), "{plain:?}");
                    let bad = format!("{}{special}{}\"", &body[..at], &body[at..]);
                    assert_eq!(plain_len(bad.as_bytes()), None, "{bad:?}");
                }
            }
            assert_eq!(plain_len(body.as_bytes()), None, "no closing quote");
            // Bytes just above the control range and high bytes are plain.
            let edge = format!("{body} ~\u{7f}\u{80}ÿ\"");
            assert_eq!(plain_len(edge.as_bytes()), Some(edge.len() - 1));
        }
    }

    #[test]
    fn reads_the_common_shapes_and_gives_up_on_the_rest() {
        for text in [
            r#"{"id":"1","from":"a@x/1","to":"b@x/2","type":"text/plain","content":"hi"}"#,
            r#" { "id" : "1" , "event" : "received" , "to" : "b@x" } "#,
            r#"{"id":"2","to":"postmaster@x","method":"get","uri":"/ping"}"#,
            r#"{"state":"new"}"#,
            r#"{"content":"a","content":"b","x":"y","type":"text/plain"}"#,
            r#"{"content":"x","type":"bad type"}"#,
            r#"{"content":"x","metadata":"not an object"}"#,
            r#"{"content":"ñ €","from":"@","to":""}"#,
            r#"{}"#,
        ] {
            assert!(read(text, false, &mut Raw::default()).is_some(), "{text}");
            // The full parse (fast path) and the serde pass agree, errors included.
            assert_eq!(format!("{:?}", from_slice(text.as_bytes())), serde_only(text), "{text}");
            let routable =
                from_slice_routable(text.as_bytes()).map(|_| ()).map_err(|e| e.to_string());
            let full = from_slice(text.as_bytes()).map(|_| ()).map_err(|e| e.to_string());
            assert_eq!(routable, full, "{text}");
        }
        for text in [
            r#"{"id":"1","content":"a\nb"}"#,
            "{\"id\":\"1\",\"content\":\"tab\there\"}",
            r#"{"id":1,"content":"x"}"#,
            r#"{"id":"1","content":null}"#,
            r#"{"content":{"a":"b"}}"#,
            r#"{"content":"x",}"#,
            r#"{"content":"x"} x"#,
            r#"{"content":"x""#,
            r#"{"content" "x"}"#,
            r#"["content","x"]"#,
            "",
            "\u{000b}{}",
        ] {
            assert!(read(text, false, &mut Raw::default()).is_none(), "{text}");
            assert_eq!(format!("{:?}", from_slice(text.as_bytes())), serde_only(text), "{text}");
        }
    }

    fn serde_routable(text: &str) -> String {
        let de = serde_json::Deserializer::from_str(text);
        format!("{:?}", super::super::read_json(de, super::super::RoutableVisitor))
    }

    use proptest::prelude::*;

    /// Members shaped like envelopes, with everything the fast reader must give up on mixed in.
    fn member() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("id"),
            Just("from"),
            Just("to"),
            Just("pp"),
            Just("type"),
            Just("content"),
            Just("event"),
            Just("method"),
            Just("uri"),
            Just("status"),
            Just("state"),
            Just("metadata"),
            Just("resource"),
            Just("reason"),
            Just("scheme"),
            Just("x"),
        ];
        let value = prop_oneof![
            4 => "[a-z@/.+ é中0-9-]{0,12}".prop_map(|s| format!("\"{s}\"")),
            1 => Just("\"text/plain\"".to_owned()),
            1 => Just("\"received\"".to_owned()),
            1 => Just("\"a@b.com/x\"".to_owned()),
            1 => Just("\"a\\nb\"".to_owned()),
            1 => Just("\"tab\there\"".to_owned()),
            1 => Just("null".to_owned()),
            1 => Just("12".to_owned()),
            1 => Just("{\"a\":\"b\"}".to_owned()),
            1 => Just("\"unterminated".to_owned()),
        ];
        let ws = prop_oneof![Just(""), Just(" "), Just("\n\t"), Just("\u{b}")];
        (key, ws.clone(), value, ws)
            .prop_map(|(k, w1, v, w2)| format!("{w1}\"{k}\"{w2}:{w1}{v}{w2}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn the_fast_reader_answers_what_the_serde_pass_answers(
            members in proptest::collection::vec(member(), 0..7),
            trailing in prop_oneof![Just(""), Just(","), Just(" "), Just("}")],
        ) {
            let text = format!("{{{}{trailing}}}", members.join(","));
            prop_assert_eq!(format!("{:?}", from_slice(text.as_bytes())), serde_only(&text), "{}", text);
            prop_assert_eq!(format!("{:?}", super::super::from_str(&text)), serde_only(&text), "{}", text);
            prop_assert_eq!(format!("{:?}", from_slice_routable(text.as_bytes())), serde_routable(&text), "{}", text);
        }
    }
}
