//! LIME addresses: [`Identity`] (`name@domain`) and [`Node`] (`name@domain/instance`).
//!
//! Parsing follows the C# reference implementation exactly (PROTOCOL §1.10), because every
//! peer that talks to a C# server has been shaped by those rules:
//!
//! * the string is split on **every** `@`; the name is the first piece (absent when it is
//!   blank) and the domain is the second piece up to its first `/` (absent when blank);
//! * the instance of a node is everything after the identity's own text plus one character,
//!   so it keeps further `/` characters (`a@b.com/x/y` has instance `x/y`) and the C# quirk
//!   `a@b@c` → name `a`, domain `b`, instance `c` is preserved;
//! * nothing is ever percent-decoded: `andre%40take.net@blip.ai/!desk` is opaque text;
//! * equality and hashing ignore case.
//!
//! # Examples
//!
//! ```
//! use lime::{Identity, Node};
//!
//! let node: Node = "Alice@Example.com/home/phone".parse()?;
//! assert_eq!(node.name(), Some("Alice"));
//! assert_eq!(node.domain(), Some("Example.com"));
//! assert_eq!(node.instance(), Some("home/phone"));
//! assert_eq!(node, "alice@example.com/HOME/phone".parse::<Node>()?);
//! assert_eq!(node.to_identity(), "alice@example.com".parse::<Identity>()?);
//! # Ok::<(), lime::ParseError>(())
//! ```

use std::{
    fmt,
    hash::{Hash, Hasher},
    str::FromStr,
    sync::Arc,
};

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ParseError;

/// `name@domain`: who a party is, regardless of the connection it uses.
///
/// Both parts are optional, as in C#: `@domain` has no name and `name` has no domain.
///
/// Cloning is cheap: the text is shared (one allocation per parsed node, none per clone).
#[derive(Clone, Default)]
pub struct Identity {
    /// The text the parts point into (for an identity taken from a node, the node's text).
    text: Arc<str>,
    name: Option<Span>,
    domain: Option<Span>,
    /// `Some(end)` when the displayed identity is exactly `text[..end]`.
    shown: Option<u32>,
}

/// `name@domain/instance`: one connected party (an identity plus the instance of its session).
///
/// The instance may be empty (`a@b/` keeps its trailing slash) and may contain `/`.
///
/// Cloning is cheap: the text is shared.
#[derive(Clone, Default)]
pub struct Node {
    identity: Identity,
    instance: Option<Span>,
    /// The displayed node is exactly the whole text.
    shown_whole: bool,
}

fn blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

pub(crate) fn non_blank(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !blank(s))
}

/// The longest text a node or identity has, in bytes (its parts are `u32` offsets, which keeps
/// a `Node` at 64 bytes).
const MAX_TEXT: usize = u32::MAX as usize;

/// A part of a node's text, as byte offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// `start..end` of a text no longer than [`MAX_TEXT`].
    fn new(start: usize, end: usize) -> Self {
        let at = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        Self { start: at(start), end: at(end) }
    }

    fn of(self, text: &str) -> &str {
        text.get(self.start as usize..self.end as usize).unwrap_or_default()
    }
}

/// Where `part`, a subslice of `whole`, lies in it (an empty span at the end of `whole` for
/// anything else, which the callers never pass).
fn span_of(whole: &str, part: &str) -> Span {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    if start <= whole.len() && part.len() <= whole.len() - start {
        Span::new(start, start + part.len())
    } else {
        debug_assert!(false, "{part:?} is not a slice of {whole:?}");
        Span::new(whole.len(), whole.len())
    }
}

/// `part` cut (at a character boundary) to at most `max` bytes.
fn at_most(part: &str, max: usize) -> &str {
    if part.len() <= max {
        return part;
    }
    let mut end = max;
    while !part.is_char_boundary(end) {
        end -= 1;
    }
    &part[..end]
}

impl Identity {
    /// Builds an identity from its parts; blank parts count as absent, as in C#.
    pub fn new(name: Option<&str>, domain: Option<&str>) -> Self {
        Node::new(name, domain, None).identity
    }

    /// The part before `@`, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.map(|r| r.of(&self.text))
    }

    /// The part after `@` (up to the first `/`), if any.
    pub fn domain(&self) -> Option<&str> {
        self.domain.map(|r| r.of(&self.text))
    }

    /// Parses like C# `Identity.Parse`, which never fails on non-empty input. The parts point
    /// into `text`.
    fn parse_parts(text: Arc<str>) -> Result<Self, ParseError> {
        let s: &str = &text;
        if s.is_empty() {
            return Err(ParseError::invalid_node(s, "an identity cannot be empty"));
        }
        if s.len() > MAX_TEXT {
            return Err(ParseError::invalid_node(s, "a node cannot be longer than 4 GiB"));
        }
        let mut parts = s.split('@');
        let name = parts.next().filter(|p| !blank(p)).map(|p| span_of(s, p));
        let domain = parts
            .next()
            .filter(|p| !blank(p))
            .map(|p| span_of(s, p.split('/').next().unwrap_or_default()));
        // Displayed as `name@domain` (or `name`): the text itself when the parts are laid out
        // that way from its start.
        // The domain may be blank after all (`a@/x`): it is not displayed then.
        let domain_shown = domain.filter(|d| !blank(d.of(s)));
        let shown = match (name, domain_shown) {
            (Some(n), Some(d)) if n.start == 0 && d.start == n.end + 1 => Some(d.end),
            (Some(n), None) if n.start == 0 => Some(n.end),
            (None, Some(d)) if d.start == 1 => Some(d.end),
            _ => None,
        };
        Ok(Self { text, name, domain, shown })
    }

    /// The displayed text without building it, when it is a slice of the identity's text.
    fn shown(&self) -> Option<&str> {
        self.shown.map(|end| Span::new(0, end as usize).of(&self.text))
    }

    /// The length of the C# `ToString()` form, in bytes, without writing it.
    fn shown_len(&self) -> usize {
        let name = self.name().map_or(0, str::len);
        self.domain().filter(|d| !blank(d)).map_or(name, |d| name + 1 + d.len())
    }

    /// Writes the C# `ToString()` form: `name` when the domain is blank, else `name@domain`.
    fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        if let Some(text) = self.shown() {
            return out.write_str(text);
        }
        match self.domain() {
            Some(d) if !blank(d) => {
                out.write_str(self.name().unwrap_or(""))?;
                out.write_char('@')?;
                out.write_str(d)
            }
            _ => out.write_str(self.name().unwrap_or("")),
        }
    }

    fn key_eq(&self, other: &Self) -> bool {
        // The same parts of the same shared text (clones, memo hits): equal without comparing.
        let same = Arc::ptr_eq(&self.text, &other.text)
            && self.name == other.name
            && self.domain == other.domain;
        same || (eq_ignore_case(self.name(), other.name())
            && eq_ignore_case(self.domain(), other.domain()))
    }

    fn hash_into<H: Hasher>(&self, state: &mut H) {
        hash_lower(self.name(), state);
        hash_lower(self.domain(), state);
    }
}

impl Node {
    /// Builds a node from its parts; blank name/domain count as absent, the instance is kept as given.
    ///
    /// Parts are cut to 1 GiB each (a node's text is at most 4 GiB).
    pub fn new(name: Option<&str>, domain: Option<&str>, instance: Option<&str>) -> Self {
        const PART: usize = MAX_TEXT / 4;
        let name = non_blank(name).map(|n| at_most(n, PART));
        let domain = non_blank(domain).map(|d| at_most(d, PART));
        let instance = instance.map(|i| at_most(i, PART));
        let mut text = String::with_capacity(
            name.map_or(0, str::len)
                + domain.map_or(0, |d| d.len() + 1)
                + instance.map_or(0, |i| i.len() + 1),
        );
        fn push(text: &mut String, part: &str) -> Span {
            let start = text.len();
            text.push_str(part);
            Span::new(start, text.len())
        }
        let name = name.map(|n| push(&mut text, n));
        let domain = domain.map(|d| {
            text.push('@');
            push(&mut text, d)
        });
        let id_end = Span::new(0, text.len()).end;
        let instance = instance.map(|i| {
            text.push('/');
            push(&mut text, i)
        });
        // The display is built from the same parts in the same order: it is this text.
        Self {
            identity: Identity { text: text.into(), name, domain, shown: Some(id_end) },
            instance,
            shown_whole: true,
        }
    }

    /// The part before `@`, if any.
    pub fn name(&self) -> Option<&str> {
        self.identity.name()
    }

    /// The part after `@` up to the first `/`, if any.
    pub fn domain(&self) -> Option<&str> {
        self.identity.domain()
    }

    /// Everything after the first `/` that follows the domain, if there was a `/`.
    pub fn instance(&self) -> Option<&str> {
        self.instance.map(|r| r.of(&self.identity.text))
    }

    /// The identity of this node (the node without its instance).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Drops the instance, like C# `Node.ToIdentity()`.
    pub fn to_identity(&self) -> Identity {
        self.identity.clone()
    }

    /// Returns this node with another instance.
    #[must_use]
    pub fn with_instance(self, instance: Option<&str>) -> Self {
        Self::new(self.name(), self.domain(), instance)
    }

    /// True when name, domain and instance are all present and non-empty (C# `IsComplete`).
    pub fn is_complete(&self) -> bool {
        [self.name(), self.domain(), self.instance()]
            .iter()
            .all(|p| p.is_some_and(|p| !p.is_empty()))
    }

    fn parse_node(s: &str) -> Result<Self, ParseError> {
        if blank(s) {
            return Err(ParseError::invalid_node(s, "a node cannot be empty or blank"));
        }
        let identity = Identity::parse_parts(Arc::from(s))?;
        if identity.name.is_none() && identity.domain().is_none_or(blank) {
            // C# `Node.Parse("@")` dereferences a null identity string: reject it cleanly.
            return Err(ParseError::invalid_node(s, "a node needs a name or a domain"));
        }
        let text: &str = &identity.text;
        let instance = instance_after(text, &identity).map(|i| span_of(text, i));
        let whole = Span::new(0, text.len()).end;
        let shown_whole = identity.shown.is_some_and(|end| match instance {
            None => end == whole,
            Some(i) => {
                text.as_bytes().get(end as usize) == Some(&b'/')
                    && i.start == end + 1
                    && i.end == whole
            }
        });
        Ok(Self { identity, instance, shown_whole })
    }

    fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        if let Some(text) = self.shown() {
            return out.write_str(text);
        }
        self.identity.write_to(out)?;
        if let Some(instance) = self.instance() {
            out.write_str("/")?;
            out.write_str(instance)?;
        }
        Ok(())
    }

    /// The displayed text without building it, when it is the node's own text.
    pub(crate) fn shown(&self) -> Option<&str> {
        self.shown_whole.then_some(&*self.identity.text)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name())
            .field("domain", &self.domain())
            .finish()
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("identity", &self.identity)
            .field("instance", &self.instance())
            .finish()
    }
}

/// The C# rule `s.Length > id.Length ? s.Substring(id.Length + 1) : null`, in UTF-16 units,
/// `id` being the identity's text (`name`, or `name@domain` when the domain is not blank; see
/// `Identity::write_to`), measured without writing it.
fn instance_after<'a>(s: &'a str, identity: &Identity) -> Option<&'a str> {
    // Name and domain are substrings of `s`: ASCII when `s` is.
    if s.is_ascii() {
        let id_len = identity.shown_len();
        return (s.len() > id_len).then(|| &s[id_len + 1..]);
    }
    let name = identity.name().unwrap_or("");
    let domain = identity.domain().filter(|d| !blank(d));
    let units = |t: &str| t.encode_utf16().count();
    let id_units = units(name) + domain.map_or(0, |d| units(d) + 1);
    let s_units: usize = s.encode_utf16().count();
    if s_units <= id_units {
        return None;
    }
    let mut units = 0;
    for (i, c) in s.char_indices() {
        if units > id_units {
            return Some(&s[i..]);
        }
        units += c.len_utf16();
    }
    // Within `s`, so that the caller can locate it.
    Some(&s[s.len()..])
}

fn eq_ignore_case(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.eq_ignore_ascii_case(b)
                || (!(a.is_ascii() && b.is_ascii())
                    && a.chars()
                        .flat_map(char::to_lowercase)
                        .eq(b.chars().flat_map(char::to_lowercase)))
        }
        _ => false,
    }
}

fn hash_lower<H: Hasher>(s: Option<&str>, state: &mut H) {
    match s {
        None => state.write_u8(0),
        Some(s) => {
            state.write_u8(1);
            // The text lowercased char by char, as UTF-8, in one `write`: texts that
            // `eq_ignore_case` holds equal give the same bytes. ASCII text (nearly every node)
            // is lowercased on the stack, without a per-char iterator or a hasher call per char.
            const STACK: usize = 256;
            if s.is_ascii() && s.len() <= STACK {
                let mut buf = [0u8; STACK];
                let lower = &mut buf[..s.len()];
                lower.copy_from_slice(s.as_bytes());
                lower.make_ascii_lowercase();
                state.write(lower);
            } else {
                let lower: String = s.chars().flat_map(char::to_lowercase).collect();
                state.write(lower.as_bytes());
            }
            state.write_u8(0xff);
        }
    }
}

impl FromStr for Identity {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let identity = Self::parse_parts(Arc::from(s))?;
        if identity.name.is_none() && identity.domain().is_none_or(blank) {
            // `@`, blanks: nothing to display (C# `Identity.Parse` rejects blank text too).
            return Err(ParseError::invalid_node(s, "an identity needs a name or a domain"));
        }
        Ok(identity)
    }
}

impl FromStr for Node {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        memo::parse(s)
    }
}

/// The nodes each thread parsed last, so that the same text (the `from` and `to` of every
/// envelope of a conversation) is parsed once and then shared: a hit costs a comparison and
/// a reference count instead of a parse and an allocation. Parsing is a pure function of the
/// text, so a hit returns exactly what parsing would.
mod memo {
    use std::cell::RefCell;

    use super::{Node, ParseError};

    /// Nodes remembered per thread.
    const SLOTS: usize = 8;
    /// Longer text is parsed every time rather than kept alive by the memo.
    const MAX_LEN: usize = 256;

    struct Memo {
        nodes: [Option<Node>; SLOTS],
        /// The slot the next miss replaces.
        next: usize,
    }

    thread_local! {
        static MEMO: RefCell<Memo> = const {
            RefCell::new(Memo { nodes: [const { None }; SLOTS], next: 0 })
        };
    }

    pub(super) fn parse(s: &str) -> Result<Node, ParseError> {
        if s.len() > MAX_LEN {
            return Node::parse_node(s);
        }
        let hit = MEMO.with(|memo| {
            let memo = memo.try_borrow().ok()?;
            memo.nodes.iter().flatten().find(|n| &*n.identity.text == s).cloned()
        });
        if let Some(node) = hit {
            return Ok(node);
        }
        let node = Node::parse_node(s)?;
        MEMO.with(|memo| {
            if let Ok(mut memo) = memo.try_borrow_mut() {
                let slot = memo.next;
                memo.nodes[slot] = Some(node.clone());
                memo.next = (slot + 1) % SLOTS;
            }
        });
        Ok(node)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_remembered_node_is_the_parsed_node() {
            for text in ["a@b.com/x", "a@b@c", "\u{3000}@b/x", "ñame@dömain/", "name/inst", "A@B/C"]
            {
                let first: Node = text.parse().unwrap();
                let again: Node = text.parse().unwrap();
                let fresh = Node::parse_node(text).unwrap();
                for n in [&first, &again] {
                    assert_eq!(
                        (n.name(), n.domain(), n.instance(), n.to_string()),
                        (fresh.name(), fresh.domain(), fresh.instance(), fresh.to_string()),
                        "{text}"
                    );
                }
            }
            // Errors are not remembered, and more texts than slots still parse right.
            assert!("@".parse::<Node>().is_err());
            assert!("@".parse::<Node>().is_err());
            for i in 0..3 * SLOTS {
                let text = format!("n{i}@d/i{}", i % 5);
                assert_eq!(text.parse::<Node>().unwrap().to_string(), text);
            }
            let long = format!("{}@d/x", "a".repeat(MAX_LEN));
            assert_eq!(long.parse::<Node>().unwrap().to_string(), long);
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        self.key_eq(other)
    }
}
impl Eq for Identity {}

impl Hash for Identity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.hash_into(state);
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        let same_text = Arc::ptr_eq(&self.identity.text, &other.identity.text);
        self.identity.key_eq(&other.identity)
            && ((same_text && self.instance == other.instance)
                || eq_ignore_case(self.instance(), other.instance()))
    }
}
impl Eq for Node {}

impl Hash for Node {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.identity.hash_into(state);
        hash_lower(self.instance(), state);
    }
}

impl From<Identity> for Node {
    fn from(identity: Identity) -> Self {
        let shown_whole = identity.shown.is_some_and(|end| end as usize == identity.text.len());
        Self { identity, instance: None, shown_whole }
    }
}

macro_rules! string_serde {
    ($ty:ty, $what:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self.shown() {
                    Some(text) => serializer.serialize_str(text),
                    None => serializer.collect_str(self),
                }
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}

string_serde!(Identity, "an identity string `name@domain`");
string_serde!(Node, "a node string `name@domain/instance`");

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn parts(s: &str) -> (Option<String>, Option<String>, Option<String>) {
        let n: Node = s.parse().unwrap();
        (n.name().map(Into::into), n.domain().map(Into::into), n.instance().map(Into::into))
    }

    fn o(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn parses_like_csharp() {
        assert_eq!(parts("a@b.com/home"), (o("a"), o("b.com"), o("home")));
        assert_eq!(parts("a@b.com"), (o("a"), o("b.com"), None));
        assert_eq!(parts("a@b.com/"), (o("a"), o("b.com"), o("")));
        assert_eq!(parts("a@b.com/x/y"), (o("a"), o("b.com"), o("x/y")));
        assert_eq!(parts("@b.com/i"), (None, o("b.com"), o("i")));
        assert_eq!(parts("name"), (o("name"), None, None));
        assert_eq!(parts("name/inst"), (o("name/inst"), None, None));
        assert_eq!(parts("a@b@c"), (o("a"), o("b"), o("c")));
        assert_eq!(
            parts("andre%40take.net@blip.ai/!desk"),
            (o("andre%40take.net"), o("blip.ai"), o("!desk"))
        );
    }

    #[test]
    fn rejects_what_csharp_cannot_parse() {
        assert!("".parse::<Node>().is_err());
        assert!("   ".parse::<Node>().is_err());
        assert!("@".parse::<Node>().is_err());
        assert!("".parse::<Identity>().is_err());
    }

    #[test]
    fn displays_canonically() {
        for (input, shown) in [
            ("a@b.com/home", "a@b.com/home"),
            ("a@b.com/", "a@b.com/"),
            ("a@b@c", "a@b/c"),
            ("@b.com/i", "@b.com/i"),
            ("a@b.com/x/y", "a@b.com/x/y"),
        ] {
            assert_eq!(input.parse::<Node>().unwrap().to_string(), shown);
        }
        assert_eq!("a@b.com/x".parse::<Identity>().unwrap().to_string(), "a@b.com");
    }

    #[test]
    fn instance_offsets_count_utf16_units() {
        // A blank (ideographic space) name is dropped from the identity text, so the instance
        // offset is computed from lengths, exactly as C# does it.
        let n: Node = "\u{3000}@b/x".parse().unwrap();
        assert_eq!(n.name(), None);
        assert_eq!(n.instance(), Some("/x"));
        let n: Node = "ñame@dömain/ínst".parse().unwrap();
        assert_eq!(n.instance(), Some("ínst"));
        // An empty instance at the end of non-ASCII text (found by a differential run).
        let n: Node = "ñame@dömain/".parse().unwrap();
        assert_eq!((n.instance(), n.to_string().as_str()), (Some(""), "ñame@dömain/"));
    }

    #[test]
    fn equality_and_hash_ignore_case() {
        let a: Node = "Alice@Example.COM/Home".parse().unwrap();
        let b: Node = "alice@example.com/home".parse().unwrap();
        assert_eq!(a, b);
        let set: HashSet<Node> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
        // Clones share their text; a node and its identity's node share it too but differ.
        let shared: Node = "Zed@Example.com/1".parse().unwrap();
        assert_eq!(shared.clone(), shared);
        assert_ne!(Node::from(shared.to_identity()), shared);
        assert_eq!(shared.to_identity(), *shared.identity());
        let c: Node = "alice@example.com".parse().unwrap();
        assert_ne!(set.iter().next().unwrap(), &c);
        assert_eq!("ÀB@x".parse::<Identity>().unwrap(), "àb@X".parse::<Identity>().unwrap());
    }

    #[test]
    fn ascii_and_non_ascii_spellings_hash_alike() {
        use std::hash::{BuildHasher, RandomState};
        let state = RandomState::new();
        // U+212A KELVIN SIGN lowercases to an ASCII 'k': equal nodes, one ASCII, one not, so
        // the hash takes the stack path for one and the allocating path for the other.
        let ascii: Node = "kim@example.com/k1".parse().unwrap();
        let kelvin: Node = "\u{212A}im@example.com/\u{212A}1".parse().unwrap();
        assert_eq!(ascii, kelvin);
        assert_eq!(state.hash_one(&ascii), state.hash_one(&kelvin));
        // Longer than the stack buffer: the same rule.
        let long = "A".repeat(300);
        let a: Node = format!("{long}@example.com/x").parse().unwrap();
        let b: Node = format!("{}@example.com/x", long.to_lowercase()).parse().unwrap();
        assert_eq!(state.hash_one(&a), state.hash_one(&b));
        assert_ne!(state.hash_one(&ascii), state.hash_one(&a));
    }

    #[test]
    fn built_and_parsed_nodes_display_and_compare_alike() {
        for (name, domain, instance) in [
            (Some("a"), Some("b.com"), Some("home")),
            (Some("a"), None, Some("x")),
            (None, Some("b.com"), None),
            (Some("a@x"), Some("b/c"), Some("")),
            (Some(" "), Some("b"), Some("i/j")),
        ] {
            let built = Node::new(name, domain, instance);
            let shown = built.to_string();
            assert_eq!(serde_json::to_string(&built).unwrap(), format!("{shown:?}"));
            let mut by_parts = String::new();
            by_parts.push_str(built.name().unwrap_or(""));
            if let Some(d) = built.domain() {
                by_parts.push('@');
                by_parts.push_str(d);
            }
            assert_eq!(built.identity().to_string(), by_parts);
            if let Some(i) = built.instance() {
                by_parts.push('/');
                by_parts.push_str(i);
            }
            assert_eq!(shown, by_parts);
            assert_eq!(built.to_identity(), Identity::new(name, domain));
            assert_eq!(Node::from(built.to_identity()).to_string(), built.identity().to_string());
            let again = built.clone().with_instance(Some("other"));
            assert_eq!(again.instance(), Some("other"));
            assert_eq!(again.identity(), built.identity());
        }
        // Parsed text that does not display as itself keeps the C# display.
        let quirky: Node = "a@b@c".parse().unwrap();
        assert_eq!(serde_json::to_string(&quirky).unwrap(), "\"a@b/c\"");
        assert_eq!(quirky.to_identity().to_string(), "a@b");
        let blank_name: Node = " @b/x".parse().unwrap();
        assert_eq!((blank_name.name(), blank_name.instance()), (None, Some("/x")));
        assert_eq!(blank_name.to_string(), "@b//x");
        assert_eq!(
            format!("{:?}", "a@b/c".parse::<Node>().unwrap()),
            r#"Node { identity: Identity { name: Some("a"), domain: Some("b") }, instance: Some("c") }"#
        );
    }

    #[test]
    fn long_parts_are_cut_at_character_boundaries() {
        assert_eq!(at_most("ñañ", 2), "ñ");
        assert_eq!(at_most("ñañ", 3), "ña");
        assert_eq!(at_most("abc", 5), "abc");
        assert_eq!(Span::new(1, 3).of("abcd"), "bc");
        // A span outside its text reads as empty rather than panicking.
        assert_eq!(Span::new(3, 9).of("abcd"), "");
        if cfg!(target_pointer_width = "64") {
            assert_eq!(std::mem::size_of::<Node>(), 64);
        }
    }

    #[test]
    fn serde_uses_strings() {
        let n: Node = serde_json::from_str("\"a@b/c\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"a@b/c\"");
        assert!(serde_json::from_str::<Node>("\"\"").is_err());
        assert!(serde_json::from_str::<Node>("5").is_err());
    }
}
