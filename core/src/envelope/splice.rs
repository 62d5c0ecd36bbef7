//! Editing one top-level member of an envelope in its received bytes, leaving every other byte
//! as it arrived (content, unknown fields, number spellings, escapes and key order). The server
//! uses it to stamp `from` on the envelopes it forwards instead of re-serializing them.
//!
//! The scanner reads only the top-level object: nested values are skipped by matching brackets
//! outside strings. It expects JSON that has already been parsed successfully and gives up
//! (returns `None`, so the caller re-serializes) on anything it does not fully understand: not
//! exactly one object, a key written with escapes (which could spell the key being edited), or
//! the key present more than once, or a key that C#'s Newtonsoft reader would take for a LIME
//! member this parser does not read under that spelling (see [`spells_a_known_key`]).

use std::ops::Range;

use memchr::memchr2;

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while json.get(i).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// `i` is at an opening quote: the index after the closing quote, and whether the string holds
/// an escape.
fn skip_string(json: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        let at = j + memchr2(b'"', b'\\', json.get(j..)?)?;
        if json[at] == b'\\' {
            escaped = true;
            j = at + 2;
        } else {
            return Some((at + 1, escaped));
        }
    }
}

/// `i` is at the first byte of a value: the index after it.
fn skip_value(json: &[u8], i: usize) -> Option<usize> {
    match *json.get(i)? {
        b'"' => skip_string(json, i).map(|(end, _)| end),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match *json.get(j)? {
                    b'"' => {
                        j = skip_string(json, j)?.0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while json
                .get(j)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// Whether `key` is another spelling of a member LIME defines (`From`, `PP`, `ıd`): one
/// C#'s Newtonsoft reader matches to that member (it falls back to a case-insensitive match,
/// by `ToUpperInvariant` of each character) where this parser keeps it as an unknown member.
/// Forwarded as received, `{"from":"server-stamped","From":"forged"}` would reach a C# recipient
/// with the forged sender; re-serialized from the parsed envelope, the unknown member is gone.
fn spells_a_known_key(key: &[u8]) -> bool {
    // This runs for every top-level key forwarded: LIME's own keys (nearly all) are settled by
    // one match; only other keys are compared with each known key.
    if super::parse::is_known_key(key) {
        return false;
    }
    if key.is_ascii() {
        return super::parse::KNOWN_KEYS.iter().any(|known| known.eq_ignore_ascii_case(key));
    }
    let Ok(key) = std::str::from_utf8(key) else { return true };
    super::parse::KNOWN_KEYS.iter().any(|known| folds_to(key, known))
}

/// Whether `key`, each character upper-cased as .NET's `ToUpperInvariant` does, is `known`
/// upper-cased (without allocating).
fn folds_to(key: &str, known: &[u8]) -> bool {
    let mut known = known.iter().copied();
    for c in key.chars() {
        let folded = match c {
            'ı' => b'i',        // U+0131, upper-cases to I
            'ſ' => b's',        // U+017F, upper-cases to S
            '\u{212a}' => b'k', // KELVIN SIGN, lower-cases to k
            c if c.is_ascii() => (c as u8).to_ascii_lowercase(),
            _ => return false,
        };
        if known.next().map(|b| b.to_ascii_lowercase()) != Some(folded) {
            return false;
        }
    }
    known.next().is_none()
}

/// Where `key` is in the top-level object of `json`.
struct Found {
    /// The object, `{` to `}` inclusive.
    object: Range<usize>,
    /// The value of `key`, when present.
    value: Option<Range<usize>>,
    /// The object has at least one member.
    members: bool,
}

fn find(json: &[u8], key: &[u8]) -> Option<Found> {
    let start = skip_ws(json, 0);
    if json.get(start) != Some(&b'{') {
        return None;
    }
    let mut i = skip_ws(json, start + 1);
    let mut value = None;
    let mut members = false;
    if json.get(i) != Some(&b'}') {
        loop {
            if json.get(i) != Some(&b'"') {
                return None;
            }
            let (key_end, escaped) = skip_string(json, i)?;
            if escaped {
                return None;
            }
            let this = &json[i + 1..key_end - 1];
            if spells_a_known_key(this) {
                return None;
            }
            i = skip_ws(json, key_end);
            if json.get(i) != Some(&b':') {
                return None;
            }
            let value_start = skip_ws(json, i + 1);
            let value_end = skip_value(json, value_start)?;
            members = true;
            if this == key {
                if value.is_some() {
                    return None;
                }
                value = Some(value_start..value_end);
            }
            i = skip_ws(json, value_end);
            match json.get(i) {
                Some(b',') => i = skip_ws(json, i + 1),
                Some(b'}') => break,
                _ => return None,
            }
        }
    }
    let end = i + 1;
    if skip_ws(json, end) != json.len() {
        return None;
    }
    Some(Found { object: start..end, value, members })
}

/// The object of `json` with its top-level member `key` set to `value` (a JSON text): the old
/// value replaced in place, or, when `key` is absent, the member inserted first. Whitespace
/// around the object is dropped. `None` when `json` is not one object this scanner can edit
/// safely (see the module docs).
pub(crate) fn set_member(json: &[u8], key: &str, value: &[u8]) -> Option<Vec<u8>> {
    let found = find(json, key.as_bytes())?;
    let Found { object, value: old, members } = found;
    match old {
        Some(old) => {
            let mut out = Vec::with_capacity(object.len() - old.len() + value.len());
            out.extend_from_slice(&json[object.start..old.start]);
            out.extend_from_slice(value);
            out.extend_from_slice(&json[old.end..object.end]);
            Some(out)
        }
        None => {
            let mut out = Vec::with_capacity(object.len() + key.len() + value.len() + 4);
            out.push(b'{');
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(value);
            if members {
                out.push(b',');
            }
            out.extend_from_slice(&json[object.start + 1..object.end]);
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(json: &str, value: &str) -> Option<String> {
        set_member(json.as_bytes(), "from", value.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn replaces_in_place_and_keeps_every_other_byte() {
        let json = r#"{"id":"1", "from" : null,"n":18446744073709551616,"x":{"from":[1,"}"]}}"#;
        assert_eq!(
            set(json, r#""a@b/c""#).unwrap(),
            r#"{"id":"1", "from" : "a@b/c","n":18446744073709551616,"x":{"from":[1,"}"]}}"#
        );
        assert_eq!(set(r#"  {"from":"x@y"}  "#, "1").unwrap(), r#"{"from":1}"#);
        assert_eq!(set(r#"{"from":"a\"}b"}"#, "2").unwrap(), r#"{"from":2}"#);
    }

    #[test]
    fn inserts_first_when_absent() {
        assert_eq!(
            set(r#"{"content":"\u00e9\"{","b":true}"#, r#""a@b""#).unwrap(),
            r#"{"from":"a@b","content":"\u00e9\"{","b":true}"#
        );
        assert_eq!(set("{ }", r#""a@b""#).unwrap(), r#"{"from":"a@b" }"#);
    }

    #[test]
    fn gives_up_on_what_it_cannot_edit_safely() {
        for json in [
            r#"{"fr\u006fm":"x@y","id":"1"}"#, // an escaped key could be `from`
            r#"{"from":"a@b","from":"c@d"}"#,  // duplicate
            r#"[{"from":"a@b"}]"#,             // not an object
            r#"{"from":"a@b"} {"id":"2"}"#,    // two objects
            r#"{"from":"a@b""#,                // truncated
            r#"{"from":}"#,                    // no value
            "",
            "{",
            r#"{"a":[1,2}"#,
        ] {
            assert_eq!(set(json, "1"), None, "{json}");
        }
    }

    #[test]
    fn gives_up_on_another_spelling_of_a_lime_member() {
        // what C#'s Newtonsoft reader would take for `from`, `pp`, `id`, `status`, …
        for json in [
            r#"{"content":"x","From":"forged@x"}"#,
            r#"{"from":"a@b","content":"x","FROM":"forged@x"}"#,
            r#"{"content":"x","PP":"forged@x"}"#,
            r#"{"content":"x","ıd":"1"}"#,
            r#"{"method":"get","uri":"/x","ſtatus":"success"}"#,
            r#"{"Content":"x","type":"text/plain"}"#,
            r#"{"state":"new","encryptionoptions":["none"]}"#,
        ] {
            assert_eq!(set(json, "1"), None, "{json}");
        }
        // other unknown members are kept, byte for byte
        let json = r#"{"content":"x","fromage":1,"x-from":2,"é":3,"pp ":4,"İd":5}"#;
        assert_eq!(set(json, "1").unwrap(), format!("{{\"from\":1,{}", &json[1..]));
        assert!(!spells_a_known_key(b"from") && !spells_a_known_key(b"encryptionOptions"));
    }

    #[test]
    fn the_parsers_keys_are_known_as_spelled_only() {
        for known in crate::envelope::parse::KNOWN_KEYS {
            assert!(crate::envelope::parse::is_known_key(known));
            assert!(!crate::envelope::parse::is_known_key(&known.to_ascii_uppercase()));
        }
    }
}
