//! Documents and media types: [`DocumentDto`] (media type + text) and [`MediaTypeDto`].
//!
//! A document crosses the bridge as its media type and its text by lime-core's rule
//! (`lime::convert`, the same in every binding): the JSON text of the value for a JSON media
//! type (Dart decodes it with `jsonDecode`), the string itself for any other (no JSON
//! quoting). So no JSON model has to be mirrored.

use flutter_rust_bridge::frb;
use lime::convert;

use super::error::LimeError;

/// The `content` of a message or the `resource` of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentDto {
    /// The media type (`type` on the wire), e.g. `text/plain`.
    pub media_type: String,
    /// The content as text: the JSON text of the value for a JSON media type
    /// (`application/json`, `…+json`), the string itself otherwise.
    pub text: String,
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
        Self { media_type: doc.media_type().as_str().to_owned(), text: convert::document_text(doc) }
    }
}

impl DocumentDto {
    /// Converts back to a core document (`lime::convert::document_from_text`); `field`
    /// (`content` or `resource`) names the failure, `media_type` a bad media type.
    pub(crate) fn into_core(self, field: &str) -> Result<lime::Document, LimeError> {
        Ok(convert::document_from_text(field, &self.media_type, self.text)?)
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

    /// The core's rule: raw text for non-JSON media types, JSON text for JSON ones.
    #[test]
    fn documents_cross_as_text_by_media_type() {
        let doc = lime::Document::text("hi \"there\"");
        let dto = DocumentDto::from(&doc);
        assert_eq!(
            dto,
            DocumentDto { media_type: "text/plain".into(), text: r#"hi "there""#.into() }
        );
        assert_eq!(dto.into_core("content").unwrap(), doc);
        // text that looks like JSON stays text under a non-JSON media type
        let looks_like_json = DocumentDto { media_type: "text/plain".into(), text: "{}".into() };
        let core = looks_like_json.clone().into_core("content").unwrap();
        assert_eq!(core.value(), &serde_json::Value::String("{}".into()));
        assert_eq!(DocumentDto::from(&core), looks_like_json);
        let json = DocumentDto {
            media_type: "application/json".into(),
            text: r#"{"b":1,"a":[true,null]}"#.into(),
        };
        assert_eq!(DocumentDto::from(&json.clone().into_core("content").unwrap()), json);
        let bad = DocumentDto { media_type: "application/json".into(), text: "{".into() };
        let err = bad.into_core("resource").unwrap_err();
        assert_eq!(err.kind(), lime::ErrorCategory::InvalidArgument);
        assert!(err.message().contains("`resource`"), "{err}");
        let bad = DocumentDto { media_type: "nope".into(), text: "1".into() };
        assert!(bad.into_core("content").unwrap_err().message().contains("`media_type`"));
    }
}
