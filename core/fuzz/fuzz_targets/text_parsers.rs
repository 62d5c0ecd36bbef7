//! Node, identity, command URI and media type parsing.
//!
//! Input: byte 0 picks the parser, the rest is the text (lossy UTF-8). Checks: no panic; what
//! parses displays as text that parses again to the same display (display is a fixed point).
//! One exception, kept from C#: a node with an instance but a blank domain displays as
//! `name/instance`, which parses back as the name `name/instance` (`lime_fuzz::node_is_textual`).
#![no_main]

use std::{fmt::Display, str::FromStr};

use libfuzzer_sys::fuzz_target;
use lime::{Identity, LimeUri, MediaType, Node};
use lime_fuzz::node_is_textual;

fn check<T: FromStr + Display>(text: &str, textual: impl Fn(&T) -> bool) {
    if let Ok(value) = text.parse::<T>() {
        if !textual(&value) {
            return;
        }
        let shown = value.to_string();
        match shown.parse::<T>() {
            Ok(again) => assert_eq!(again.to_string(), shown, "display is not stable for {text:?}"),
            Err(_) => panic!("{text:?} parsed, but its display {shown:?} does not"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match which % 4 {
        0 => check::<Node>(&text, node_is_textual),
        1 => check::<Identity>(&text, |_| true),
        2 => check::<LimeUri>(&text, |_| true),
        _ => check::<MediaType>(&text, |_| true),
    }
});
