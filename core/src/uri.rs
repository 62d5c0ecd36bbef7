//! [`LimeUri`]: the address of a command's resource.

use std::{fmt, str::FromStr};

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::{error::ParseError, node::Identity};

/// A command URI: relative (`/contacts?skip=0&take=10`) or absolute with the `lime` scheme
/// (`lime://name@domain/path`, where the authority owns the resource).
///
/// Like C#, a trailing `/` is trimmed and equality ignores case. The text is otherwise kept
/// verbatim: percent-encoding is neither required nor decoded (PROTOCOL §1.11, upstream
/// PRs #10/#37 rejected valid URIs by being stricter than this).
///
/// # Examples
///
/// ```
/// use lime::LimeUri;
///
/// let uri: LimeUri = "/contacts/".parse()?;
/// assert!(uri.is_relative());
/// assert_eq!(uri.as_str(), "/contacts");
/// let abs: LimeUri = "lime://alice@example.com/presence".parse()?;
/// assert_eq!(abs.authority().map(|a| a.to_string()), Some("alice@example.com".to_owned()));
/// assert_eq!(abs.path(), "/presence");
/// assert!("http://example.com/x".parse::<LimeUri>().is_err());
/// # Ok::<(), lime::ParseError>(())
/// ```
#[derive(Clone, Debug)]
pub struct LimeUri {
    text: String,
    /// Byte offset where the path starts (0 for relative URIs).
    path_start: usize,
    absolute: bool,
}

/// The `lime` URI scheme.
pub const LIME_URI_SCHEME: &str = "lime";

impl LimeUri {
    /// `/ping`, the URI of ping requests.
    pub fn ping() -> Self {
        Self { text: "/ping".to_owned(), path_start: 0, absolute: false }
    }

    /// True for relative URIs (`/presence`).
    pub fn is_relative(&self) -> bool {
        !self.absolute
    }

    /// The whole URI text (trailing `/` trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path and query: the whole text for relative URIs, the part after the authority
    /// for absolute ones.
    pub fn path(&self) -> &str {
        &self.text[self.path_start..]
    }

    /// The path without query or fragment.
    pub fn local_path(&self) -> &str {
        let p = self.path();
        p.split(['?', '#']).next().unwrap_or(p)
    }

    /// The identity owning the resource, for absolute URIs.
    pub fn authority(&self) -> Option<Identity> {
        if !self.absolute {
            return None;
        }
        let auth = &self.text[LIME_URI_SCHEME.len() + 3..self.path_start];
        auth.parse().ok()
    }

    /// True for the URI of ping requests, compared like C# `IsPingRequest`: a relative URI
    /// must be exactly `/ping` (ignoring case; `/ping?x=1` is not a ping), an absolute one
    /// must have the local path `/ping` (its query is not part of the local path).
    pub fn is_ping(&self) -> bool {
        let path = if self.absolute { self.local_path() } else { self.path() };
        path.eq_ignore_ascii_case("/ping")
    }
}

fn scheme_of(s: &str) -> Option<&str> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

impl FromStr for LimeUri {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.chars().any(char::is_control) {
            return Err(ParseError::invalid_uri(s, "control characters are not allowed"));
        }
        let text = s.trim_end_matches('/');
        match scheme_of(text) {
            None => Ok(Self { text: text.to_owned(), path_start: 0, absolute: false }),
            Some(scheme) if scheme.eq_ignore_ascii_case(LIME_URI_SCHEME) => {
                let rest = &text[scheme.len() + 1..];
                let Some(after) = rest.strip_prefix("//") else {
                    return Err(ParseError::invalid_uri(s, "expected `lime://authority/path`"));
                };
                if after.is_empty() || after.starts_with('/') {
                    return Err(ParseError::invalid_uri(s, "the authority is missing"));
                }
                let auth_len = after.find(['/', '?', '#']).unwrap_or(after.len());
                let path_start = scheme.len() + 3 + auth_len;
                Ok(Self { text: text.to_owned(), path_start, absolute: true })
            }
            Some(_) => Err(ParseError::invalid_uri(s, "absolute URIs must use the `lime` scheme")),
        }
    }
}

impl fmt::Display for LimeUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for LimeUri {
    fn eq(&self, other: &Self) -> bool {
        self.text.to_lowercase() == other.text.to_lowercase()
    }
}
impl Eq for LimeUri {}

impl Serialize for LimeUri {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for LimeUri {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = LimeUri;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a LIME URI")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_uris_keep_query_and_percent_encoding() {
        let u: LimeUri = "/contacts?skip=0&take=10".parse().unwrap();
        assert_eq!(u.path(), "/contacts?skip=0&take=10");
        assert_eq!(u.local_path(), "/contacts");
        let u: LimeUri = "/contacts/andre%40take.net@blip.ai".parse().unwrap();
        assert_eq!(u.as_str(), "/contacts/andre%40take.net@blip.ai");
    }

    #[test]
    fn ping_detection() {
        assert!("/ping".parse::<LimeUri>().unwrap().is_ping());
        assert!("/PING/".parse::<LimeUri>().unwrap().is_ping());
        assert!("lime://a@b/ping".parse::<LimeUri>().unwrap().is_ping());
        assert!(!"/pings".parse::<LimeUri>().unwrap().is_ping());
        assert!(!"/ping?x=1".parse::<LimeUri>().unwrap().is_ping());
        assert!("lime://a@b/ping?x=1".parse::<LimeUri>().unwrap().is_ping());
    }

    #[test]
    fn absolute_uris_need_lime_scheme_and_authority() {
        assert!("lime:///x".parse::<LimeUri>().is_err());
        assert!("lime:x".parse::<LimeUri>().is_err());
        assert_eq!("ftp://x".parse::<LimeUri>().unwrap_err().kind(), "invalid_uri");
        let u: LimeUri = "LIME://a@b.com".parse().unwrap();
        assert_eq!(u.path(), "");
        assert_eq!(u.authority().unwrap().to_string(), "a@b.com");
    }

    #[test]
    fn equality_ignores_case() {
        assert_eq!(
            "/Presence".parse::<LimeUri>().unwrap(),
            "/presence/".parse::<LimeUri>().unwrap()
        );
    }
}
