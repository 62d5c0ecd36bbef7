//! Documents and media types: [`DocumentDto`] (media type + JSON text) and [`MediaTypeDto`].
//!
//! A document crosses the bridge as its media type and the JSON text of its value, so no
//! JSON model has to be mirrored: Dart decodes the text with `jsonDecode` (a `Map` for JSON
//! media types, a `String` for the others) and encodes it back with `jsonEncode`.

use flutter_rust_bridge::frb;

use super::error::{invalid, LimeError};

/// The `content` of a message or the `resource` of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentDto {
    /// The media type (`type` on the wire), e.g. `text/plain`.
    pub media_type: String,
    /// The value as JSON text: an object for JSON media types, a string for the others.
    pub json: String,
}

/// A parsed media type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaTypeDto {
    /// Canonical text, `type/subtype[+suffix]` (parameters dropped).
    pub text: String,
    /// The top-level type (`application`).
    pub main_type: String,
    /// The subtype without suffix (`vnd.lime.ping`).
    pub subtype: String,
    /// The suffix after `+` (`json`).
    pub suffix: Option<String>,
    /// True when the subtype or suffix is `json`: the value is then a JSON value, otherwise a
    /// string.
    pub is_json: bool,
}

/// Parses a media type like C# `MediaType.Parse` (parameters after `;` are dropped).
#[frb(sync)]
pub fn parse_media_type(text: String) -> Result<MediaTypeDto, LimeError> {
    let mt: lime::MediaType = text.parse()?;
    Ok(MediaTypeDto {
        text: mt.as_str().to_owned(),
        main_type: mt.r#type().to_owned(),
        subtype: mt.subtype().to_owned(),
        suffix: mt.suffix().map(str::to_owned),
        is_json: mt.is_json(),
    })
}

impl From<&lime::Document> for DocumentDto {
    fn from(doc: &lime::Document) -> Self {
        Self { media_type: doc.media_type().to_string(), json: doc.value().to_string() }
    }
}

impl DocumentDto {
    /// Converts back to a core document; `field` (`content` or `resource`) names the failure.
    pub(crate) fn to_core(&self, field: &str) -> Result<lime::Document, LimeError> {
        let media_type: lime::MediaType =
            self.media_type.parse().map_err(|e| invalid("type", e))?;
        let value: serde_json::Value = serde_json::from_str(&self.json)
            .map_err(|e| invalid(field, format!("not JSON text: {e}")))?;
        Ok(lime::Document::new(media_type, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        let mt = parse_media_type("application/vnd.lime.ping+json; x=y".into()).unwrap();
        assert_eq!(mt.text, "application/vnd.lime.ping+json");
        assert_eq!((mt.main_type.as_str(), mt.subtype.as_str()), ("application", "vnd.lime.ping"));
        assert_eq!(mt.suffix.as_deref(), Some("json"));
        assert!(mt.is_json);
        assert!(parse_media_type("nope".into()).is_err());
    }

    #[test]
    fn documents_cross_as_json_text() {
        let doc = lime::Document::text("hi \"there\"");
        let dto = DocumentDto::from(&doc);
        assert_eq!(
            dto,
            DocumentDto { media_type: "text/plain".into(), json: r#""hi \"there\"""#.into() }
        );
        assert_eq!(dto.to_core("content").unwrap(), doc);
        let json = DocumentDto {
            media_type: "application/json".into(),
            json: r#"{"b":1,"a":[true,null]}"#.into(),
        };
        assert_eq!(DocumentDto::from(&json.to_core("content").unwrap()), json);
        let bad = DocumentDto { media_type: "application/json".into(), json: "{".into() };
        assert!(bad.to_core("resource").unwrap_err().message().contains("`resource`"));
        let bad = DocumentDto { media_type: "nope".into(), json: "1".into() };
        assert!(bad.to_core("content").unwrap_err().message().contains("`type`"));
    }
}
