//! [`Session`] envelopes and [`Authentication`] credentials.

use base64::{engine::general_purpose::STANDARD, Engine};
use serde::{ser::SerializeMap, Serialize, Serializer};

use super::{write_header, Metadata};
use crate::{
    enums::{AuthenticationScheme, SessionCompression, SessionEncryption, SessionState},
    node::Node,
    Reason,
};

/// A session envelope: negotiation, authentication and the end of a session.
///
/// # Examples
///
/// ```
/// use lime::{Authentication, Envelope, Session, SessionState};
///
/// let auth = Session::new(SessionState::Authenticating)
///     .with_id("s1")
///     .with_from("gale@breakingbad.com/lab".parse()?)
///     .with_authentication(Authentication::plain("iloveuww"));
/// assert_eq!(
///     Envelope::from(auth).to_json(),
///     r#"{"state":"authenticating","scheme":"plain","authentication":{"password":"aWxvdmV1d3c="},"id":"s1","from":"gale@breakingbad.com/lab"}"#
/// );
/// # Ok::<(), lime::ParseError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Session {
    /// Session id, assigned by the server in its first reply.
    pub id: Option<String>,
    /// Sender; absent means the remote party.
    pub from: Option<Node>,
    /// Delegate sending on behalf of `from`.
    pub pp: Option<Node>,
    /// Destination; absent means the receiving party.
    pub to: Option<Node>,
    /// Free-form string metadata.
    pub metadata: Option<Metadata>,
    /// The state. Always written.
    pub state: SessionState,
    /// Encryption options offered by the server.
    pub encryption_options: Option<Vec<SessionEncryption>>,
    /// Encryption chosen by the client (and echoed by the server).
    pub encryption: Option<SessionEncryption>,
    /// Compression options offered by the server.
    pub compression_options: Option<Vec<SessionCompression>>,
    /// Compression chosen by the client (and echoed by the server).
    pub compression: Option<SessionCompression>,
    /// Authentication schemes offered by the server.
    pub scheme_options: Option<Vec<AuthenticationScheme>>,
    /// Credentials; the `scheme` key is derived from them.
    pub authentication: Option<Authentication>,
    /// Why, for `failed`.
    pub reason: Option<Reason>,
}

impl Session {
    /// A session envelope in `state`.
    pub fn new(state: SessionState) -> Self {
        Self { state, ..Self::default() }
    }

    /// A `failed` session with a reason.
    pub fn failed(reason: Reason) -> Self {
        Self { reason: Some(reason), ..Self::new(SessionState::Failed) }
    }

    /// Sets the credentials.
    #[must_use]
    pub fn with_authentication(mut self, authentication: Authentication) -> Self {
        self.authentication = Some(authentication);
        self
    }

    /// The authentication scheme, derived from the credentials.
    pub fn scheme(&self) -> Option<AuthenticationScheme> {
        self.authentication.as_ref().map(Authentication::scheme)
    }
}

super::header_builders!(Session);

/// Credentials sent in an `authenticating` session.
///
/// Secrets are carried as they travel: base64 of their UTF-8 bytes. The constructors
/// ([`Authentication::plain`], [`Authentication::key`], [`Authentication::external`]) encode;
/// [`Authentication::decoded_secret`] decodes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Authentication {
    /// No credentials.
    Guest,
    /// A password.
    Plain {
        /// Base64 of the UTF-8 password.
        password: Option<String>,
    },
    /// A key.
    Key {
        /// Base64 of the UTF-8 key.
        key: Option<String>,
    },
    /// The TLS client certificate proves the identity.
    Transport,
    /// A token issued by an external authority.
    External {
        /// The token (base64 of its UTF-8 text when built with [`Authentication::external`]).
        token: Option<String>,
        /// Who issued the token (e.g. `account.blip.ai`).
        issuer: Option<String>,
    },
}

impl Authentication {
    /// Plain authentication with `password` encoded to base64.
    pub fn plain(password: &str) -> Self {
        Self::Plain { password: Some(STANDARD.encode(password)) }
    }

    /// Key authentication with `key` encoded to base64.
    pub fn key(key: &str) -> Self {
        Self::Key { key: Some(STANDARD.encode(key)) }
    }

    /// External authentication with `token` encoded to base64.
    pub fn external(token: &str, issuer: impl Into<String>) -> Self {
        Self::External { token: Some(STANDARD.encode(token)), issuer: Some(issuer.into()) }
    }

    /// An empty instance of `scheme` (what C# builds when `authentication` is absent).
    pub fn empty(scheme: AuthenticationScheme) -> Self {
        match scheme {
            AuthenticationScheme::Plain => Self::Plain { password: None },
            AuthenticationScheme::Key => Self::Key { key: None },
            AuthenticationScheme::Transport => Self::Transport,
            AuthenticationScheme::External => Self::External { token: None, issuer: None },
            AuthenticationScheme::Guest => Self::Guest,
        }
    }

    /// The scheme of these credentials.
    pub fn scheme(&self) -> AuthenticationScheme {
        match self {
            Self::Guest => AuthenticationScheme::Guest,
            Self::Plain { .. } => AuthenticationScheme::Plain,
            Self::Key { .. } => AuthenticationScheme::Key,
            Self::Transport => AuthenticationScheme::Transport,
            Self::External { .. } => AuthenticationScheme::External,
        }
    }

    /// The decoded password, key or token: `None` when there is none, `Some(Err(_))` when it is
    /// not base64 of UTF-8 text.
    pub fn decoded_secret(&self) -> Option<Result<String, crate::ParseError>> {
        let raw = match self {
            Self::Plain { password } => password.as_deref(),
            Self::Key { key } => key.as_deref(),
            Self::External { token, .. } => token.as_deref(),
            Self::Guest | Self::Transport => None,
        }?;
        Some(decode_base64(raw))
    }
}

fn decode_base64(raw: &str) -> Result<String, crate::ParseError> {
    let bytes = STANDARD
        .decode(raw.trim())
        .map_err(|e| crate::ParseError::field("authentication", format!("not base64: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| crate::ParseError::field("authentication", "decoded secret is not UTF-8"))
}

impl Serialize for Authentication {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let mut opt = |k: &str, v: &Option<String>| match v {
            Some(v) => map.serialize_entry(k, v),
            None => Ok(()),
        };
        match self {
            Self::Guest | Self::Transport => {}
            Self::Plain { password } => opt("password", password)?,
            Self::Key { key } => opt("key", key)?,
            Self::External { token, issuer } => {
                opt("token", token)?;
                opt("issuer", issuer)?;
            }
        }
        map.end()
    }
}

impl Serialize for Session {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("state", &self.state)?;
        if let Some(v) = &self.encryption_options {
            map.serialize_entry("encryptionOptions", v)?;
        }
        if let Some(v) = &self.encryption {
            map.serialize_entry("encryption", v)?;
        }
        if let Some(v) = &self.compression_options {
            map.serialize_entry("compressionOptions", v)?;
        }
        if let Some(v) = &self.compression {
            map.serialize_entry("compression", v)?;
        }
        if let Some(v) = &self.scheme_options {
            map.serialize_entry("schemeOptions", v)?;
        }
        if let Some(auth) = &self.authentication {
            map.serialize_entry("scheme", &auth.scheme())?;
            map.serialize_entry("authentication", auth)?;
        }
        if let Some(reason) = &self.reason {
            map.serialize_entry("reason", reason)?;
        }
        write_header(&mut map, &self.id, &self.from, &self.pp, &self.to, &self.metadata)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_base64_of_utf8() {
        let auth = Authentication::plain("iloveuww");
        assert_eq!(auth, Authentication::Plain { password: Some("aWxvdmV1d3c=".into()) });
        assert_eq!(auth.decoded_secret().unwrap().unwrap(), "iloveuww");
        assert_eq!(Authentication::key("ключ").decoded_secret().unwrap().unwrap(), "ключ");
        let bad = Authentication::Plain { password: Some("***".into()) };
        assert!(bad.decoded_secret().unwrap().is_err());
        assert!(Authentication::Guest.decoded_secret().is_none());
    }

    #[test]
    fn guest_writes_an_empty_object() {
        let json = serde_json::to_string(
            &Session::new(SessionState::Authenticating).with_authentication(Authentication::Guest),
        )
        .unwrap();
        assert_eq!(json, r#"{"state":"authenticating","scheme":"guest","authentication":{}}"#);
    }
}
