//! [`MediaType`]: the MIME type of a document (`type/subtype[+suffix]`).

use std::{
    borrow::Cow,
    fmt,
    hash::{Hash, Hasher},
    str::FromStr,
};

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ParseError;

/// A media type, parsed like C# `MediaType.Parse`: parameters after `;` are dropped, the rest
/// must be exactly `type/subtype`, and the subtype may carry a `+suffix`.
///
/// Equality ignores case. [`MediaType::is_json`] decides how content is written: JSON media
/// types carry a JSON value, every other type a JSON string.
///
/// # Examples
///
/// ```
/// use lime::MediaType;
///
/// let mt: MediaType = "application/vnd.lime.chatstate+json".parse()?;
/// assert!(mt.is_json());
/// assert_eq!(mt.suffix(), Some("json"));
/// assert!(!"text/plain; charset=utf-8".parse::<MediaType>()?.is_json());
/// # Ok::<(), lime::ParseError>(())
/// ```
#[derive(Clone, Debug)]
pub struct MediaType {
    /// Borrowed for the common types (parsing `text/plain` allocates nothing).
    text: Cow<'static, str>,
    slash: usize,
    plus: Option<usize>,
}

impl MediaType {
    /// `text/plain`.
    pub fn text_plain() -> Self {
        Self::known("text/plain")
    }

    /// `application/json`.
    pub fn application_json() -> Self {
        Self::known("application/json")
    }

    pub(crate) fn known(s: &'static str) -> Self {
        // invariant: only called with literal, well-formed media types (checked by tests).
        s.parse().unwrap_or(Self { text: Cow::Borrowed(s), slash: 0, plus: None })
    }

    /// The top-level type (`application` in `application/json`).
    pub fn r#type(&self) -> &str {
        &self.text[..self.slash]
    }

    /// The subtype without its suffix (`vnd.lime.ping` in `application/vnd.lime.ping+json`).
    pub fn subtype(&self) -> &str {
        &self.text[self.slash + 1..self.plus.unwrap_or(self.text.len())]
    }

    /// The suffix after `+`, if any.
    pub fn suffix(&self) -> Option<&str> {
        self.plus.map(|p| &self.text[p + 1..])
    }

    /// True when the subtype or the suffix is `json` (ignoring case).
    pub fn is_json(&self) -> bool {
        self.subtype().eq_ignore_ascii_case("json")
            || self.suffix().is_some_and(|s| s.eq_ignore_ascii_case("json"))
    }

    /// The canonical text, `type/subtype[+suffix]`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for MediaType {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let main = s.split(';').next().unwrap_or_default();
        if let Some(known) = COMMON.iter().find(|k| **k == main) {
            // A common type as spelled (parameters dropped): nothing to split or copy. Each
            // has one `/` and at most one `+`.
            let slash = known.find('/').unwrap_or_default();
            return Ok(Self { text: Cow::Borrowed(known), slash, plus: known.rfind('+') });
        }
        let mut parts = main.split('/');
        let (Some(ty), Some(sub), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseError::invalid_media_type(s, "expected `type/subtype`"));
        };
        if ty.is_empty() || sub.is_empty() {
            return Err(ParseError::invalid_media_type(s, "type and subtype must not be empty"));
        }
        // C# keeps the first two `+` pieces: `subtype+suffix+more` has suffix `suffix`.
        let mut sub_parts = sub.split('+');
        let subtype = sub_parts.next().unwrap_or_default();
        let suffix = sub_parts.next();
        let mut text = String::with_capacity(main.len());
        text.push_str(ty);
        text.push('/');
        text.push_str(subtype);
        let plus = suffix.map(|suffix| {
            let at = text.len();
            text.push('+');
            text.push_str(suffix);
            at
        });
        Ok(Self { text: Cow::Owned(text), slash: ty.len(), plus })
    }
}

/// Media types parsed without a copy of their text (exact spelling only).
const COMMON: &[&str] = &[
    "text/plain",
    "application/json",
    "application/vnd.lime.ping+json",
    "application/vnd.lime.receipt+json",
    "application/vnd.lime.presence+json",
    "application/vnd.lime.chatstate+json",
    "application/vnd.lime.account+json",
    "application/vnd.lime.collection+json",
    "application/vnd.lime.media-link+json",
    "application/vnd.lime.web-link+json",
    "application/vnd.lime.select+json",
    "application/vnd.lime.contact+json",
    "application/vnd.lime.location+json",
    "application/vnd.lime.capability+json",
];

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for MediaType {
    fn eq(&self, other: &Self) -> bool {
        self.text.eq_ignore_ascii_case(&other.text)
    }
}
impl Eq for MediaType {}

impl Hash for MediaType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.text.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

impl PartialEq<str> for MediaType {
    fn eq(&self, other: &str) -> bool {
        self.text.eq_ignore_ascii_case(other)
    }
}

impl Serialize for MediaType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for MediaType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = MediaType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a media type `type/subtype`")
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
    fn parses_parts_and_drops_parameters() {
        let mt: MediaType = "application/vnd.lime.ping+json".parse().unwrap();
        assert_eq!(
            (mt.r#type(), mt.subtype(), mt.suffix()),
            ("application", "vnd.lime.ping", Some("json"))
        );
        let mt: MediaType = "text/plain; charset=utf-8".parse().unwrap();
        assert_eq!(mt.to_string(), "text/plain");
        assert_eq!(mt.suffix(), None);
    }

    #[test]
    fn json_detection() {
        for json in ["application/json", "application/x-anything+json", "APPLICATION/VND.X+JSON"] {
            assert!(json.parse::<MediaType>().unwrap().is_json(), "{json}");
        }
        for other in ["text/plain", "image/svg+xml", "application/jsonp"] {
            assert!(!other.parse::<MediaType>().unwrap().is_json(), "{other}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "text", "a/b/c", "/x", "x/"] {
            let err = bad.parse::<MediaType>().unwrap_err();
            assert_eq!(err.kind(), "invalid_media_type", "{bad}");
        }
    }

    #[test]
    fn common_types_parse_like_any_other() {
        for common in COMMON {
            let mt: MediaType = common.parse().unwrap();
            assert!(matches!(mt.text, Cow::Borrowed(_)), "{common}");
            assert_eq!(mt.to_string(), *common);
            let with_parameter: MediaType = format!("{common}; charset=utf-8").parse().unwrap();
            assert!(matches!(with_parameter.text, Cow::Borrowed(_)), "{common}");
            // Another spelling is copied and reads the same, ignoring case.
            let upper: MediaType = common.to_ascii_uppercase().parse().unwrap();
            assert!(matches!(upper.text, Cow::Owned(_)), "{common}");
            assert_eq!(upper, mt);
            assert_eq!(
                (mt.r#type().len(), mt.subtype().len(), mt.suffix().map(str::len)),
                (upper.r#type().len(), upper.subtype().len(), upper.suffix().map(str::len))
            );
            assert_eq!(mt.is_json(), upper.is_json());
        }
    }

    #[test]
    fn equality_ignores_case() {
        assert_eq!(MediaType::known("Text/Plain"), MediaType::text_plain());
        assert_eq!(MediaType::application_json().as_str(), "application/json");
    }
}
