//! [`CredentialsDto`]: what an application authenticates with, secrets in clear text.
//!
//! The rule of every binding (`lime::convert`): host APIs take passwords, keys and tokens in
//! clear text and the core encodes them as LIME sends them (base64 of their UTF-8 bytes). The
//! Dart API of pub `lime` 0.0.25 keeps its secrets in base64 (`setToBase64Password`), so the
//! Dart layer decodes them before they cross; nothing here or in Dart encodes base64.

use super::{enums::AuthenticationSchemeDto, error::LimeError};

/// Credentials for `LimeClient.establishSession` / `authenticateSession`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialsDto {
    /// The scheme.
    pub scheme: AuthenticationSchemeDto,
    /// The password (`plain`), key (`key`) or token (`external`), in clear text.
    pub secret: Option<String>,
    /// Who issued the token (`external`).
    pub issuer: Option<String>,
}

impl TryFrom<CredentialsDto> for lime::Authentication {
    type Error = LimeError;

    /// `lime::convert::authentication`: encodes the secret; a scheme that needs a field fails
    /// without it, naming the field.
    fn try_from(c: CredentialsDto) -> Result<Self, LimeError> {
        let scheme = lime::AuthenticationScheme::from(c.scheme).to_string();
        Ok(lime::convert::authentication(&scheme, c.secret, c.issuer)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(scheme: AuthenticationSchemeDto, secret: Option<&str>) -> CredentialsDto {
        CredentialsDto { scheme, secret: secret.map(str::to_owned), issuer: None }
    }

    #[test]
    fn clear_text_secrets_are_encoded_by_the_core() {
        let plain = lime::Authentication::try_from(credentials(
            AuthenticationSchemeDto::Plain,
            Some("wonderland"),
        ))
        .unwrap();
        assert_eq!(plain, lime::Authentication::plain("wonderland"));
        assert_eq!(serde_json::to_string(&plain).unwrap(), r#"{"password":"d29uZGVybGFuZA=="}"#);
        let key =
            lime::Authentication::try_from(credentials(AuthenticationSchemeDto::Key, Some("k")))
                .unwrap();
        assert_eq!(key, lime::Authentication::key("k"));
        let external = lime::Authentication::try_from(CredentialsDto {
            scheme: AuthenticationSchemeDto::External,
            secret: Some("t".into()),
            issuer: Some("x.com".into()),
        })
        .unwrap();
        assert_eq!(external, lime::Authentication::external("t", "x.com"));
        for (scheme, wire) in [
            (AuthenticationSchemeDto::Guest, lime::Authentication::Guest),
            (AuthenticationSchemeDto::Transport, lime::Authentication::Transport),
        ] {
            assert_eq!(lime::Authentication::try_from(credentials(scheme, None)).unwrap(), wire);
        }
    }

    #[test]
    fn a_missing_secret_names_its_field() {
        let err = lime::Authentication::try_from(credentials(AuthenticationSchemeDto::Plain, None))
            .unwrap_err();
        assert_eq!(err.kind(), lime::ErrorCategory::InvalidArgument);
        assert!(err.message().contains("`password`"), "{err}");
        let err = lime::Authentication::try_from(credentials(
            AuthenticationSchemeDto::External,
            Some("t"),
        ))
        .unwrap_err();
        assert!(err.message().contains("`issuer`"), "{err}");
    }
}
