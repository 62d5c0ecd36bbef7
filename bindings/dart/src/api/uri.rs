//! Command URIs: [`LimeUriDto`], parsed by lime-core (relative paths or `lime://authority/path`).

use flutter_rust_bridge::frb;

use super::error::LimeError;

/// A parsed command URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimeUriDto {
    /// The URI as written into `uri` (trailing `/` trimmed, percent-encoding kept).
    pub text: String,
    /// The path and query (the whole text for relative URIs).
    pub path: String,
    /// True for relative URIs (`/presence`).
    pub is_relative: bool,
    /// The owner of the resource of an absolute URI (`name@domain`).
    pub authority: Option<String>,
}

/// Parses a command URI: a relative path, or an absolute URI with the `lime` scheme.
#[frb(sync)]
pub fn parse_lime_uri(text: String) -> Result<LimeUriDto, LimeError> {
    let uri: lime::LimeUri = text.parse()?;
    Ok(LimeUriDto {
        text: uri.as_str().to_owned(),
        path: uri.path().to_owned(),
        is_relative: uri.is_relative(),
        authority: uri.authority().map(|a| a.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute() {
        let u = parse_lime_uri("/contacts/".into()).unwrap();
        assert_eq!(
            (u.text.as_str(), u.path.as_str(), u.is_relative),
            ("/contacts", "/contacts", true)
        );
        let u = parse_lime_uri("lime://bob@example.com/groups/".into()).unwrap();
        assert_eq!(u.text, "lime://bob@example.com/groups");
        assert_eq!((u.path.as_str(), u.is_relative), ("/groups", false));
        assert_eq!(u.authority.as_deref(), Some("bob@example.com"));
        assert!(parse_lime_uri("http://x".into()).is_err());
    }
}
