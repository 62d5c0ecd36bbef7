//! Inputs found by the fuzz targets in core/fuzz (see RELIABILITY.md), kept as tests.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use lime::{Identity, Node};

/// text_parsers: `@`, `@/` and blank text parsed as an identity with neither name nor
/// domain, which displays as the empty string, which does not parse. They are refused now, as
/// they are as nodes (and as C# `Identity.Parse` refuses blank text).
#[test]
fn an_identity_needs_a_name_or_a_domain() {
    for text in ["@", "@/", " @ ", "@/x", " ", "\t@\t/"] {
        let err = text.parse::<Identity>().unwrap_err();
        assert!(err.to_string().contains("name or a domain"), "{text:?}: {err}");
        assert!(text.parse::<Node>().is_err(), "{text:?} as a node");
    }
    // What has a name or a domain still parses, and its display is a fixed point.
    for text in ["a@", "@b", "a@/x", "a", "a/b", "\u{1}@@"] {
        let identity = text.parse::<Identity>().unwrap();
        let shown = identity.to_string();
        assert!(!shown.is_empty(), "{text:?}");
        assert_eq!(shown.parse::<Identity>().unwrap().to_string(), shown, "{text:?}");
    }
}
