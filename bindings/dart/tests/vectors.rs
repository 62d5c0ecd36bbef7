//! The cross-language vectors (`tests/vectors/`) through the functions the Dart package calls:
//! every envelope goes wire text → `parse_envelope` → DTO → `*_to_json`, so a field the DTOs
//! lost or mangled shows up as a difference from the canonical form.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use lime_dart::api::{
    document::parse_media_type,
    envelope::{
        command_to_json, message_to_json, notification_to_json, parse_envelope, session_to_json,
        EnvelopeDto, EnvelopeKindDto,
    },
    error::LimeErrorKind,
    node::{parse_identity, parse_node, NodeDto},
    uri::parse_lime_uri,
};
use serde_json::Value;

fn vectors(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
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
    assert!(cases.len() > 100);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let dto = parse_envelope(case["input"].as_str().unwrap().into())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(kind_name(dto.kind), case["kind"], "{name}");
        let written: Value = serde_json::from_str(&to_json(dto)).unwrap();
        assert_eq!(written, case["canonical"], "{name}");
        // the canonical form is a fixed point (except messages without content, PROTOCOL §1.4)
        if !name.starts_with("message_content_null") {
            let again = parse_envelope(case["canonical"].to_string()).unwrap();
            let rewritten: Value = serde_json::from_str(&to_json(again)).unwrap();
            assert_eq!(rewritten, case["canonical"], "{name} (fixed point)");
        }
    }
}

#[test]
fn invalid_envelopes_are_parse_errors() {
    for case in cases("invalid_envelopes.json") {
        let name = case["name"].as_str().unwrap();
        let err = parse_envelope(case["input"].as_str().unwrap().into())
            .map(|dto| format!("{dto:?}"))
            .expect_err(name);
        assert_eq!(err.kind(), LimeErrorKind::Parse, "{name}");
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
        assert_eq!((identity.name, identity.domain), (node.name, node.domain), "{input:?}");
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
