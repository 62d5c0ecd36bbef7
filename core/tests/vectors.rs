//! Runs the cross-language vectors in `tests/vectors/` (format: `tests/vectors/README.md`).
//!
//! Every case is checked and every failure is reported, then the test fails with the count.
//! The files and their case counts are checked against the table in `tests/vectors/README.md`:
//! a new file this runner does not know, a deleted file or a changed count fails the run.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

#[path = "support/inventory.rs"]
mod inventory;

use lime::{Envelope, EnvelopeDecoder, Identity, LimeUri, MediaType, Node};
use serde_json::Value;

/// The files this runner runs, one test each.
const KNOWN: &[&str] = &[
    "envelopes.json",
    "invalid_envelopes.json",
    "nodes.json",
    "media_types.json",
    "uris.json",
    "framing.json",
];

/// Cases whose canonical form is not re-parsed (the optional fixed-point check), by name, with
/// the reason: a message whose `content` was `null` is written without `content`, as C# does, and
/// is no longer recognisable as a message (PROTOCOL §1.4). These cases must exist.
const NOT_A_FIXED_POINT: &[&str] =
    &["message_content_null_is_message_without_content", "message_content_null_wins_over_event"];

fn load(name: &str) -> Value {
    inventory::load(env!("CARGO_MANIFEST_DIR"), name)
}

#[test]
fn every_vector_file_is_run() {
    inventory::check_files(env!("CARGO_MANIFEST_DIR"), "core/tests/vectors.rs", KNOWN);
}

fn cases(file: &Value) -> &Vec<Value> {
    file["cases"].as_array().expect("`cases` is an array")
}

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

struct Report {
    file: &'static str,
    checked: usize,
    failures: Vec<String>,
}

impl Report {
    fn new(file: &'static str) -> Self {
        Self { file, checked: 0, failures: Vec::new() }
    }

    fn check(&mut self, name: &str, ok: bool, detail: impl FnOnce() -> String) {
        self.checked += 1;
        if !ok {
            self.failures.push(format!("{}: {name}: {}", self.file, detail()));
        }
    }

    fn finish(self) {
        println!("{}: {} checked, {} failed", self.file, self.checked, self.failures.len());
        assert!(self.checked > 0, "{}: no cases", self.file);
        assert!(
            self.failures.is_empty(),
            "{} failure(s):\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

#[test]
fn valid_envelopes() {
    let file = load("envelopes.json");
    let mut r = Report::new("envelopes.json");
    let mut skipped = Vec::new();
    for case in cases(&file) {
        let name = s(&case["name"]).unwrap_or("?");
        let input = s(&case["input"]).expect("input is a string");
        match input.parse::<Envelope>() {
            Err(e) => r.check(name, false, || format!("rejected: {e}")),
            Ok(env) => {
                let kind = s(&case["kind"]).unwrap_or("?");
                r.check(name, env.kind().as_str() == kind, || {
                    format!("kind {} != {kind}", env.kind())
                });
                let written: Value =
                    serde_json::from_str(&env.to_json()).expect("our output is JSON");
                r.check(name, written == case["canonical"], || {
                    format!("wrote {written}, expected {}", case["canonical"])
                });
                // The canonical form is a fixed point, except for the pinned cases.
                let reparsed = env.to_json().parse::<Envelope>();
                if NOT_A_FIXED_POINT.contains(&name) {
                    skipped.push(name.to_owned());
                    r.check(name, reparsed.is_err(), || {
                        "pinned as not a fixed point, but the canonical form reparses".into()
                    });
                } else {
                    match reparsed {
                        Ok(again) => r.check(name, again == env, || {
                            "canonical form reparses different".into()
                        }),
                        Err(e) => {
                            r.check(name, false, || format!("canonical form does not reparse: {e}"))
                        }
                    }
                }
            }
        }
    }
    skipped.sort();
    let mut pinned = NOT_A_FIXED_POINT.to_vec();
    pinned.sort_unstable();
    assert_eq!(skipped, pinned, "every pinned case must exist in envelopes.json");
    r.finish();
}

#[test]
fn invalid_envelopes() {
    let file = load("invalid_envelopes.json");
    let mut r = Report::new("invalid_envelopes.json");
    for case in cases(&file) {
        let name = s(&case["name"]).unwrap_or("?");
        let input = s(&case["input"]).expect("input is a string");
        let expected = s(&case["error"]).expect("error kind");
        match input.parse::<Envelope>() {
            Ok(env) => r.check(name, false, || format!("accepted as {}", env.to_json())),
            Err(e) => {
                r.check(name, e.kind() == expected, || {
                    format!("error kind {} ({e}), expected {expected}", e.kind())
                });
                if let (Some(field), lime::ParseError::InvalidField { field: got, .. }) =
                    (s(&case["field"]), &e)
                {
                    r.check(name, *got == field, || format!("field {got}, expected {field}"));
                }
            }
        }
    }
    r.finish();
}

fn opt_str(v: &Value) -> Option<&str> {
    v.as_str()
}

#[test]
fn nodes() {
    let file = load("nodes.json");
    let mut r = Report::new("nodes.json");
    for case in cases(&file) {
        let input = s(&case["input"]).expect("input");
        let valid = case["valid"].as_bool().expect("valid");
        match (input.parse::<Node>(), valid) {
            (Ok(n), true) => {
                r.check(input, n.name() == opt_str(&case["name"]), || {
                    format!("name {:?}", n.name())
                });
                r.check(input, n.domain() == opt_str(&case["domain"]), || {
                    format!("domain {:?}", n.domain())
                });
                r.check(input, n.instance() == opt_str(&case["instance"]), || {
                    format!("instance {:?}", n.instance())
                });
                r.check(input, Some(n.to_string().as_str()) == s(&case["display"]), || {
                    format!("display {n}")
                });
                let id = n.to_identity().to_string();
                r.check(input, Some(id.as_str()) == s(&case["identity"]), || {
                    format!("identity {id}")
                });
            }
            (Err(_), false) => r.check(input, true, String::new),
            (Ok(n), false) => r.check(input, false, || format!("accepted as {n}")),
            (Err(e), true) => r.check(input, false, || format!("rejected: {e}")),
        }
    }
    for pair in file["equality"].as_array().expect("`equality` is an array") {
        let (a, b, eq) =
            (s(&pair[0]).expect("a"), s(&pair[1]).expect("b"), pair[2].as_bool().expect("bool"));
        let (na, nb): (Node, Node) = (a.parse().expect("a parses"), b.parse().expect("b parses"));
        // Both directions: equality must be symmetric.
        r.check(&format!("{a} vs {b}"), (na == nb) == eq, || format!("equal = {}", na == nb));
        r.check(&format!("{b} vs {a}"), (nb == na) == eq, || format!("equal = {}", nb == na));
        if eq {
            let (ia, ib): (Identity, Identity) = (na.to_identity(), nb.to_identity());
            r.check(&format!("{a} vs {b} (identity)"), ia == ib, || "identities differ".into());
            r.check(&format!("{b} vs {a} (identity)"), ib == ia, || "identities differ".into());
        }
    }
    r.finish();
}

#[test]
fn media_types() {
    let file = load("media_types.json");
    let mut r = Report::new("media_types.json");
    for case in cases(&file) {
        let input = s(&case["input"]).expect("input");
        let valid = case["valid"].as_bool().expect("valid");
        match (input.parse::<MediaType>(), valid) {
            (Ok(m), true) => {
                r.check(input, Some(m.r#type()) == s(&case["type"]), || {
                    format!("type {}", m.r#type())
                });
                r.check(input, Some(m.subtype()) == s(&case["subtype"]), || {
                    format!("subtype {}", m.subtype())
                });
                r.check(input, m.suffix() == opt_str(&case["suffix"]), || {
                    format!("suffix {:?}", m.suffix())
                });
                r.check(input, Some(m.is_json()) == case["is_json"].as_bool(), || {
                    format!("is_json {}", m.is_json())
                });
                r.check(input, Some(m.as_str()) == s(&case["display"]), || format!("display {m}"));
            }
            (Err(_), false) => r.check(input, true, String::new),
            (Ok(m), false) => r.check(input, false, || format!("accepted as {m}")),
            (Err(e), true) => r.check(input, false, || format!("rejected: {e}")),
        }
    }
    r.finish();
}

#[test]
fn uris() {
    let file = load("uris.json");
    let mut r = Report::new("uris.json");
    for case in cases(&file) {
        let input = s(&case["input"]).expect("input");
        let valid = case["valid"].as_bool().expect("valid");
        match (input.parse::<LimeUri>(), valid) {
            (Ok(u), true) => {
                r.check(input, Some(u.is_relative()) == case["relative"].as_bool(), || {
                    format!("relative {}", u.is_relative())
                });
                r.check(input, Some(u.as_str()) == s(&case["display"]), || format!("display {u}"));
                r.check(input, Some(u.path()) == s(&case["path"]), || format!("path {}", u.path()));
            }
            (Err(_), false) => r.check(input, true, String::new),
            (Ok(u), false) => r.check(input, false, || format!("accepted as {u}")),
            (Err(e), true) => r.check(input, false, || format!("rejected: {e}")),
        }
    }
    r.finish();
}

#[test]
fn framing() {
    let file = load("framing.json");
    let mut r = Report::new("framing.json");
    for case in cases(&file) {
        let name = s(&case["name"]).unwrap_or("?");
        let max = case["max_envelope_size"]
            .as_u64()
            .map_or(lime::DEFAULT_MAX_ENVELOPE_SIZE, |m| m as usize);
        let mut decoder = EnvelopeDecoder::with_max_envelope_size(max);
        let mut got = Vec::new();
        let mut error = None;
        'chunks: for chunk in case["chunks"].as_array().expect("chunks") {
            decoder.push(s(chunk).expect("chunk is a string").as_bytes());
            loop {
                match decoder.next_envelope() {
                    Ok(Some((_, env))) => {
                        got.push(serde_json::from_str::<Value>(&env.to_json()).expect("JSON"))
                    }
                    Ok(None) => break,
                    Err(e) => {
                        error = Some(e);
                        break 'chunks;
                    }
                }
            }
        }
        if error.is_none() {
            error = decoder.finish().err();
        }
        let expected: &Vec<Value> = case["envelopes"].as_array().expect("envelopes");
        r.check(name, &got == expected, || format!("decoded {got:?}, expected {expected:?}"));
        match (&error, case.get("error")) {
            (None, None) => {}
            (Some(e), Some(want)) => {
                r.check(name, Some(e.kind()) == s(&want["kind"]), || {
                    format!("error kind {} ({e})", e.kind())
                });
                r.check(name, Some(e.offset()) == want["offset"].as_u64(), || {
                    format!("offset {}", e.offset())
                });
            }
            (Some(e), None) => r.check(name, false, || format!("unexpected error {e}")),
            (None, Some(want)) => r.check(name, false, || format!("expected error {want}")),
        }
    }
    r.finish();
}
