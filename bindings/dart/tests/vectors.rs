//! The cross-language vectors (`tests/vectors/`) through the functions the Dart package calls:
//! every envelope goes wire text → `parse_envelope` → DTO → `*_to_json`, so a field the DTOs
//! lost or mangled shows up as a difference from the canonical form.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

#[path = "../../../core/tests/support/inventory.rs"]
mod inventory;

use lime_dart::api::{
    document::parse_media_type,
    envelope::{
        command_to_json, message_to_json, notification_to_json, parse_envelope, session_to_json,
        EnvelopeDto, EnvelopeKindDto,
    },
    error::ErrorCategory,
    node::{parse_identity, parse_node, NodeDto},
    uri::parse_lime_uri,
};
use serde_json::Value;

/// The files the Dart suite (`dart/test/vectors_test.dart`) runs, mirrored here.
const KNOWN: &[&str] =
    &["envelopes.json", "invalid_envelopes.json", "nodes.json", "media_types.json", "uris.json"];

/// Files the Dart suite does not run, with the reason.
const NOT_RUN: &[(&str, &str)] = &[(
    "framing.json",
    "TCP framing happens in the Rust transport; Dart hands whole envelopes to the core",
)];

/// Cases whose canonical form is not re-parsed: a message whose `content` was `null` is written
/// without `content` and is no longer a message (PROTOCOL §1.4).
const NOT_A_FIXED_POINT: &[&str] =
    &["message_content_null_is_message_without_content", "message_content_null_wins_over_event"];

fn vectors(file: &str) -> Value {
    inventory::load(env!("CARGO_MANIFEST_DIR"), file)
}

#[test]
fn every_vector_file_is_run_or_excused() {
    let mut all: Vec<&str> = KNOWN.to_vec();
    all.extend(NOT_RUN.iter().map(|(file, _)| *file));
    inventory::check_files(env!("CARGO_MANIFEST_DIR"), "bindings/dart/tests/vectors.rs", &all);
}

fn cases(file: &str) -> Vec<Value> {
    vectors(file)["cases"].as_array().unwrap().clone()
}

fn kind_name(kind: EnvelopeKindDto) -> &'static str {
    match kind {
        EnvelopeKindDto::Message => "message",
        EnvelopeKindDto::Notification => "notification",
        EnvelopeKindDto::Command => "command",
        EnvelopeKindDto::Session => "session",
    }
}

/// Serializes through the per-kind function, as the Dart envelope classes do.
fn to_json(dto: EnvelopeDto) -> String {
    match dto.kind {
        EnvelopeKindDto::Message => message_to_json(dto.message.unwrap()),
        EnvelopeKindDto::Notification => notification_to_json(dto.notification.unwrap()),
        EnvelopeKindDto::Command => command_to_json(dto.command.unwrap()),
        EnvelopeKindDto::Session => session_to_json(dto.session.unwrap()),
    }
    .unwrap()
}

#[test]
fn envelopes_parse_and_serialize_canonically() {
    let cases = cases("envelopes.json");
    let mut not_reparsed = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let dto = parse_envelope(case["input"].as_str().unwrap().into())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(kind_name(dto.kind), case["kind"], "{name}");
        let written: Value = serde_json::from_str(&to_json(dto)).unwrap();
        assert_eq!(written, case["canonical"], "{name}");
        // the canonical form is a fixed point, except the pinned cases
        if NOT_A_FIXED_POINT.contains(&name) {
            not_reparsed.push(name);
            let again = parse_envelope(case["canonical"].to_string());
            assert!(
                again.as_ref().map_or(true, |dto| dto.kind != EnvelopeKindDto::Message),
                "{name}: pinned as no longer a message, but reparses as one: {again:?}"
            );
        } else {
            let again = parse_envelope(case["canonical"].to_string()).unwrap();
            let rewritten: Value = serde_json::from_str(&to_json(again)).unwrap();
            assert_eq!(rewritten, case["canonical"], "{name} (fixed point)");
        }
    }
    not_reparsed.sort_unstable();
    let mut pinned = NOT_A_FIXED_POINT.to_vec();
    pinned.sort_unstable();
    assert_eq!(not_reparsed, pinned, "every pinned case must exist");
}

#[test]
fn invalid_envelopes_are_parse_errors() {
    for case in cases("invalid_envelopes.json") {
        let name = case["name"].as_str().unwrap();
        let err = parse_envelope(case["input"].as_str().unwrap().into())
            .map(|dto| format!("{dto:?}"))
            .expect_err(name);
        assert_eq!(err.kind(), ErrorCategory::Parse, "{name}");
        // Field errors name the field (`unknown_value` errors name the enumeration instead).
        if let (Some(field), "invalid_field") =
            (case["field"].as_str(), case["error"].as_str().unwrap())
        {
            assert!(err.message().contains(&format!("`{field}`")), "{name}: {err}");
        }
    }
}

#[test]
fn nodes() {
    let file = vectors("nodes.json");
    for case in file["cases"].as_array().unwrap() {
        let input = case["input"].as_str().unwrap();
        let parsed = parse_node(input.into());
        if case["valid"] == false {
            assert!(parsed.is_err(), "{input:?} must be rejected");
            continue;
        }
        let node = parsed.unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let expected = NodeDto {
            name: case["name"].as_str().map(Into::into),
            domain: case["domain"].as_str().map(Into::into),
            instance: case["instance"].as_str().map(Into::into),
        };
        assert_eq!(node, expected, "{input:?}");
        // The Dart classes format the parts themselves; this is their rule.
        assert_eq!(display(&node), case["display"], "{input:?}");
        let identity = parse_identity(input.into()).unwrap();
        assert_eq!((&identity.name, &identity.domain), (&node.name, &node.domain), "{input:?}");
        // `node.toIdentity().toString()` in Dart
        assert_eq!(identity_display(&node.name, &node.domain), case["identity"], "{input:?}");
    }
    // The equality pairs, both ways, with the Dart `Node ==` rule.
    for pair in file["equality"].as_array().expect("`equality` is an array") {
        let (a, b, eq) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap(), pair[2] == true);
        let (na, nb) = (parse_node(a.into()).unwrap(), parse_node(b.into()).unwrap());
        assert_eq!(dart_node_eq(&na, &nb), eq, "{a:?} == {b:?}");
        assert_eq!(dart_node_eq(&nb, &na), eq, "{b:?} == {a:?}");
        if eq {
            assert_eq!(dart_node_key(&na), dart_node_key(&nb), "{a:?} and {b:?}: hash keys");
        }
    }
}

/// `_key` in `dart/lib/src/protocol/identity.dart`: a blank part is absent, case is ignored.
fn key(part: &Option<String>) -> Option<String> {
    part.as_deref().filter(|p| !p.trim().is_empty()).map(str::to_lowercase)
}

/// What `Node.hashCode` and `Node ==` of the Dart package compare.
fn dart_node_key(n: &NodeDto) -> (Option<String>, Option<String>, Option<String>) {
    (key(&n.name), key(&n.domain), n.instance.as_deref().map(str::to_lowercase))
}

fn dart_node_eq(a: &NodeDto, b: &NodeDto) -> bool {
    dart_node_key(a) == dart_node_key(b)
}

/// `Identity.toString()` of the Dart package: `name@domain`, or the name without a domain.
fn identity_display(name: &Option<String>, domain: &Option<String>) -> String {
    match domain.as_deref().filter(|d| !d.trim().is_empty()) {
        None => name.clone().unwrap_or_default(),
        Some(d) => format!("{}@{d}", name.as_deref().unwrap_or_default()),
    }
}

/// `Node.toString()` of the Dart package: `[name]@domain` (just the name without a domain),
/// then `/instance` when there is one.
fn display(n: &NodeDto) -> String {
    let mut s = n.name.clone().unwrap_or_default();
    if let Some(d) = &n.domain {
        s = format!("{s}@{d}");
    }
    if let Some(i) = &n.instance {
        s = format!("{s}/{i}");
    }
    s
}

#[test]
fn media_types() {
    for case in cases("media_types.json") {
        let input = case["input"].as_str().unwrap();
        let parsed = parse_media_type(input.into());
        if case["valid"] == false {
            assert!(parsed.is_err(), "{input:?} must be rejected");
            continue;
        }
        let mt = parsed.unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(mt.main_type, case["type"], "{input:?}");
        assert_eq!(mt.subtype, case["subtype"], "{input:?}");
        assert_eq!(mt.suffix.as_deref(), case["suffix"].as_str(), "{input:?}");
        assert_eq!(mt.is_json, case["is_json"], "{input:?}");
        assert_eq!(mt.text, case["display"], "{input:?}");
    }
}

#[test]
fn uris() {
    for case in cases("uris.json") {
        let input = case["input"].as_str().unwrap();
        let parsed = parse_lime_uri(input.into());
        if case["valid"] == false {
            assert!(parsed.is_err(), "{input:?} must be rejected");
            continue;
        }
        let uri = parsed.unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(uri.is_relative, case["relative"], "{input:?}");
        assert_eq!(uri.text, case["display"], "{input:?}");
        assert_eq!(uri.path, case["path"], "{input:?}");
    }
}
