//! Envelopes as plain Dart classes: [`MessageDto`], [`NotificationDto`], [`CommandDto`],
//! [`SessionDto`], plus [`AuthenticationDto`] (the [`ReasonDto`] they carry is in
//! [`super::reason`]), and the JSON functions
//! ([`parse_envelope`], [`message_to_json`], …) that give the Dart package the exact C# wire
//! format of lime-core.
//!
//! Every field is a string, an option, a list or an enum: nodes travel as their text (parsed
//! back by lime-core, so a bad node is a [`LimeError::InvalidArgument`] naming the field),
//! documents as media type plus text ([`DocumentDto`], lime-core's rule), metadata as ordered
//! key/value pairs.
//!
//! These records mirror envelopes as they are on the wire, for the JSON functions below and
//! the events of a session: credentials keep their wire form (base64 secrets, absent fields
//! absent) and `"metadata":{}` stays an empty list, so an envelope read and written back is
//! the same text (`tests/vectors`). Credentials an application passes to establish a session
//! are clear text instead ([`super::credentials::CredentialsDto`]).

use flutter_rust_bridge::frb;
use lime::{Authentication, Envelope, Metadata};

use super::{
    document::DocumentDto,
    enums::{
        AuthenticationSchemeDto, CommandMethodDto, CommandStatusDto, NotificationEventDto,
        SessionCompressionDto, SessionEncryptionDto, SessionStateDto,
    },
    error::{invalid, LimeError},
    node::node_field,
    reason::ReasonDto,
};

/// A message: content sent to a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageDto {
    /// Envelope id; absent for fire-and-forget messages.
    pub id: Option<String>,
    /// Sender node.
    pub from: Option<String>,
    /// Delegate sending on behalf of `from`.
    pub pp: Option<String>,
    /// Destination node.
    pub to: Option<String>,
    /// String metadata, in arrival order.
    pub metadata: Option<Vec<(String, String)>>,
    /// The content (absent only for malformed input).
    pub content: Option<DocumentDto>,
}

/// A notification: an event about the message with the same id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationDto {
    /// Id of the message this is about.
    pub id: Option<String>,
    /// Sender node.
    pub from: Option<String>,
    /// Delegate sending on behalf of `from`.
    pub pp: Option<String>,
    /// Destination node.
    pub to: Option<String>,
    /// String metadata, in arrival order.
    pub metadata: Option<Vec<(String, String)>>,
    /// What happened.
    pub event: NotificationEventDto,
    /// Why, for `failed`.
    pub reason: Option<ReasonDto>,
}

/// A command: a request (status `Pending`) or the response with the same id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandDto {
    /// Correlates request and response.
    pub id: Option<String>,
    /// Sender node.
    pub from: Option<String>,
    /// Delegate sending on behalf of `from`.
    pub pp: Option<String>,
    /// Destination node.
    pub to: Option<String>,
    /// String metadata, in arrival order.
    pub metadata: Option<Vec<(String, String)>>,
    /// The resource's address (`/presence`, `lime://a@b.com/contacts`).
    pub uri: Option<String>,
    /// The method.
    pub method: CommandMethodDto,
    /// `Pending` for requests, `Success`/`Failure` for responses.
    pub status: CommandStatusDto,
    /// The resource (request body or response value).
    pub resource: Option<DocumentDto>,
    /// Why, for `failure`.
    pub reason: Option<ReasonDto>,
}

/// A session envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDto {
    /// Session id, assigned by the server.
    pub id: Option<String>,
    /// Sender node.
    pub from: Option<String>,
    /// Delegate sending on behalf of `from`.
    pub pp: Option<String>,
    /// Destination node.
    pub to: Option<String>,
    /// String metadata, in arrival order.
    pub metadata: Option<Vec<(String, String)>>,
    /// The state.
    pub state: SessionStateDto,
    /// Encryption options offered by the server.
    pub encryption_options: Option<Vec<SessionEncryptionDto>>,
    /// Encryption chosen (and confirmed).
    pub encryption: Option<SessionEncryptionDto>,
    /// Compression options offered by the server.
    pub compression_options: Option<Vec<SessionCompressionDto>>,
    /// Compression chosen (and confirmed).
    pub compression: Option<SessionCompressionDto>,
    /// Authentication schemes offered by the server.
    pub scheme_options: Option<Vec<AuthenticationSchemeDto>>,
    /// The scheme of `authentication`; alone (without `authentication`) it stands for empty
    /// credentials of that scheme.
    pub scheme: Option<AuthenticationSchemeDto>,
    /// Credentials.
    pub authentication: Option<AuthenticationDto>,
    /// Why, for `failed`.
    pub reason: Option<ReasonDto>,
}

/// Credentials of an `authenticating` session. Secrets are as they travel: base64 of their
/// UTF-8 text. Only the fields of `scheme` are used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticationDto {
    /// The scheme.
    pub scheme: AuthenticationSchemeDto,
    /// `plain`: base64 of the password.
    pub password: Option<String>,
    /// `key`: base64 of the key.
    pub key: Option<String>,
    /// `external`: the token.
    pub token: Option<String>,
    /// `external`: who issued the token.
    pub issuer: Option<String>,
}

/// The four envelope kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeKindDto {
    /// [`EnvelopeDto::message`] is set.
    Message,
    /// [`EnvelopeDto::notification`] is set.
    Notification,
    /// [`EnvelopeDto::command`] is set.
    Command,
    /// [`EnvelopeDto::session`] is set.
    Session,
}

/// Any envelope: `kind` says which one of the four fields is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeDto {
    /// Which field holds the envelope.
    pub kind: EnvelopeKindDto,
    /// The message, for [`EnvelopeKindDto::Message`].
    pub message: Option<MessageDto>,
    /// The notification, for [`EnvelopeKindDto::Notification`].
    pub notification: Option<NotificationDto>,
    /// The command, for [`EnvelopeKindDto::Command`].
    pub command: Option<CommandDto>,
    /// The session, for [`EnvelopeKindDto::Session`].
    pub session: Option<SessionDto>,
}

/// Parses one envelope from its JSON text, exactly as lime-core reads the wire: the kind is
/// chosen by the keys `content`, `event`, `method`, `state` (in that order), unknown keys are
/// ignored, and anything invalid is a [`LimeError::Parse`].
#[frb(sync)]
pub fn parse_envelope(json: String) -> Result<EnvelopeDto, LimeError> {
    let envelope: Envelope = json.parse()?;
    Ok(EnvelopeDto::from(envelope))
}

/// The canonical JSON text of a message (C# property order; absent fields omitted).
#[frb(sync)]
pub fn message_to_json(message: MessageDto) -> Result<String, LimeError> {
    Ok(Envelope::Message(message.try_into()?).to_json())
}

/// The canonical JSON text of a notification.
#[frb(sync)]
pub fn notification_to_json(notification: NotificationDto) -> Result<String, LimeError> {
    Ok(Envelope::Notification(notification.try_into()?).to_json())
}

/// The canonical JSON text of a command (a pending status is not written).
#[frb(sync)]
pub fn command_to_json(command: CommandDto) -> Result<String, LimeError> {
    Ok(Envelope::Command(command.try_into()?).to_json())
}

/// The canonical JSON text of a session envelope (`scheme` derived from the credentials).
#[frb(sync)]
pub fn session_to_json(session: SessionDto) -> Result<String, LimeError> {
    Ok(Envelope::Session(session.try_into()?).to_json())
}

// --- core → DTO ---------------------------------------------------------------------------

fn text(node: Option<&lime::Node>) -> Option<String> {
    node.map(ToString::to_string)
}

fn metadata(m: Option<&Metadata>) -> Option<Vec<(String, String)>> {
    m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

impl From<&lime::Message> for MessageDto {
    fn from(m: &lime::Message) -> Self {
        Self {
            id: m.id.clone(),
            from: text(m.from.as_ref()),
            pp: text(m.pp.as_ref()),
            to: text(m.to.as_ref()),
            metadata: metadata(m.metadata.as_ref()),
            content: m.content.as_ref().map(DocumentDto::from),
        }
    }
}

impl From<&lime::Notification> for NotificationDto {
    fn from(n: &lime::Notification) -> Self {
        Self {
            id: n.id.clone(),
            from: text(n.from.as_ref()),
            pp: text(n.pp.as_ref()),
            to: text(n.to.as_ref()),
            metadata: metadata(n.metadata.as_ref()),
            event: n.event.into(),
            reason: n.reason.as_ref().map(ReasonDto::from),
        }
    }
}

impl From<&lime::Command> for CommandDto {
    fn from(c: &lime::Command) -> Self {
        Self {
            id: c.id.clone(),
            from: text(c.from.as_ref()),
            pp: text(c.pp.as_ref()),
            to: text(c.to.as_ref()),
            metadata: metadata(c.metadata.as_ref()),
            uri: c.uri.as_ref().map(|u| u.as_str().to_owned()),
            method: c.method.into(),
            status: c.status.into(),
            resource: c.resource.as_ref().map(DocumentDto::from),
            reason: c.reason.as_ref().map(ReasonDto::from),
        }
    }
}

impl From<&Authentication> for AuthenticationDto {
    fn from(a: &Authentication) -> Self {
        let mut dto = Self {
            scheme: a.scheme().into(),
            password: None,
            key: None,
            token: None,
            issuer: None,
        };
        match a {
            Authentication::Plain { password } => dto.password.clone_from(password),
            Authentication::Key { key } => dto.key.clone_from(key),
            Authentication::External { token, issuer } => {
                dto.token.clone_from(token);
                dto.issuer.clone_from(issuer);
            }
            // guest, transport and any scheme a later lime-core adds: no fields
            _ => {}
        }
        dto
    }
}

impl From<&lime::Session> for SessionDto {
    fn from(s: &lime::Session) -> Self {
        fn list<C: Copy, D: From<C>>(v: Option<&Vec<C>>) -> Option<Vec<D>> {
            v.map(|v| v.iter().map(|&c| D::from(c)).collect())
        }
        Self {
            id: s.id.clone(),
            from: text(s.from.as_ref()),
            pp: text(s.pp.as_ref()),
            to: text(s.to.as_ref()),
            metadata: metadata(s.metadata.as_ref()),
            state: s.state.into(),
            encryption_options: list(s.encryption_options.as_ref()),
            encryption: s.encryption.map(Into::into),
            compression_options: list(s.compression_options.as_ref()),
            compression: s.compression.map(Into::into),
            scheme_options: list(s.scheme_options.as_ref()),
            scheme: s.scheme().map(Into::into),
            authentication: s.authentication.as_ref().map(AuthenticationDto::from),
            reason: s.reason.as_ref().map(ReasonDto::from),
        }
    }
}

impl From<Envelope> for EnvelopeDto {
    fn from(e: Envelope) -> Self {
        let mut dto = Self {
            kind: EnvelopeKindDto::Message,
            message: None,
            notification: None,
            command: None,
            session: None,
        };
        match &e {
            Envelope::Message(m) => dto.message = Some(m.into()),
            Envelope::Notification(n) => {
                dto.kind = EnvelopeKindDto::Notification;
                dto.notification = Some(n.into());
            }
            Envelope::Command(c) => {
                dto.kind = EnvelopeKindDto::Command;
                dto.command = Some(c.into());
            }
            Envelope::Session(s) => {
                dto.kind = EnvelopeKindDto::Session;
                dto.session = Some(s.into());
            }
        }
        dto
    }
}

// --- DTO → core ---------------------------------------------------------------------------

fn metadata_back(m: Option<Vec<(String, String)>>) -> Option<Metadata> {
    m.map(|m| m.into_iter().collect())
}

impl TryFrom<MessageDto> for lime::Message {
    type Error = LimeError;
    fn try_from(m: MessageDto) -> Result<Self, LimeError> {
        Ok(Self {
            id: m.id,
            from: node_field("from", m.from)?,
            pp: node_field("pp", m.pp)?,
            to: node_field("to", m.to)?,
            metadata: metadata_back(m.metadata),
            content: m.content.map(|d| d.into_core("content")).transpose()?,
        })
    }
}

impl TryFrom<NotificationDto> for lime::Notification {
    type Error = LimeError;
    fn try_from(n: NotificationDto) -> Result<Self, LimeError> {
        let mut out = Self::new(n.event.into());
        out.id = n.id;
        out.from = node_field("from", n.from)?;
        out.pp = node_field("pp", n.pp)?;
        out.to = node_field("to", n.to)?;
        out.metadata = metadata_back(n.metadata);
        out.reason = n.reason.map(Into::into);
        Ok(out)
    }
}

impl TryFrom<CommandDto> for lime::Command {
    type Error = LimeError;
    fn try_from(c: CommandDto) -> Result<Self, LimeError> {
        Ok(Self {
            id: c.id,
            from: node_field("from", c.from)?,
            pp: node_field("pp", c.pp)?,
            to: node_field("to", c.to)?,
            metadata: metadata_back(c.metadata),
            uri: c.uri.map(|u| u.parse().map_err(|e| invalid("uri", e))).transpose()?,
            method: c.method.into(),
            status: c.status.into(),
            resource: c.resource.map(|d| d.into_core("resource")).transpose()?,
            reason: c.reason.map(Into::into),
        })
    }
}

impl From<AuthenticationDto> for Authentication {
    fn from(a: AuthenticationDto) -> Self {
        match a.scheme {
            AuthenticationSchemeDto::Guest => Self::Guest,
            AuthenticationSchemeDto::Transport => Self::Transport,
            AuthenticationSchemeDto::Plain => Self::Plain { password: a.password },
            AuthenticationSchemeDto::Key => Self::Key { key: a.key },
            AuthenticationSchemeDto::External => {
                Self::External { token: a.token, issuer: a.issuer }
            }
        }
    }
}

impl TryFrom<SessionDto> for lime::Session {
    type Error = LimeError;
    fn try_from(s: SessionDto) -> Result<Self, LimeError> {
        fn list<D, C: From<D>>(v: Option<Vec<D>>) -> Option<Vec<C>> {
            v.map(|v| v.into_iter().map(C::from).collect())
        }
        let authentication = match (s.authentication, s.scheme) {
            (Some(a), _) => Some(a.into()),
            (None, Some(scheme)) => Some(Authentication::empty(scheme.into())),
            (None, None) => None,
        };
        let mut out = Self::new(s.state.into());
        out.id = s.id;
        out.from = node_field("from", s.from)?;
        out.pp = node_field("pp", s.pp)?;
        out.to = node_field("to", s.to)?;
        out.metadata = metadata_back(s.metadata);
        out.encryption_options = list(s.encryption_options);
        out.encryption = s.encryption.map(Into::into);
        out.compression_options = list(s.compression_options);
        out.compression = s.compression.map(Into::into);
        out.scheme_options = list(s.scheme_options);
        out.authentication = authentication;
        out.reason = s.reason.map(Into::into);
        Ok(out)
    }
}

impl TryFrom<EnvelopeDto> for Envelope {
    type Error = LimeError;
    fn try_from(e: EnvelopeDto) -> Result<Self, LimeError> {
        let missing = || invalid("kind", format!("{:?} envelope without its payload", e.kind));
        Ok(match e.kind {
            EnvelopeKindDto::Message => {
                Self::Message(e.message.clone().ok_or_else(missing)?.try_into()?)
            }
            EnvelopeKindDto::Notification => {
                Self::Notification(e.notification.clone().ok_or_else(missing)?.try_into()?)
            }
            EnvelopeKindDto::Command => {
                Self::Command(e.command.clone().ok_or_else(missing)?.try_into()?)
            }
            EnvelopeKindDto::Session => {
                Self::Session(e.session.clone().ok_or_else(missing)?.try_into()?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(json: &str) -> String {
        let dto = parse_envelope(json.into()).unwrap();
        Envelope::try_from(dto).unwrap().to_json()
    }

    #[test]
    fn each_kind_round_trips() {
        for json in [
            r#"{"type":"text/plain","content":"hi","id":"1","from":"a@b.com/x","pp":"p@b.com/y","to":"c@d.com","metadata":{"k":"v","a":"b"}}"#,
            r#"{"type":"application/json","content":{"z":1,"a":[1,2.5,null]},"id":"1"}"#,
            r#"{"event":"failed","reason":{"code":42,"description":"not found"},"id":"m1"}"#,
            r#"{"uri":"/ping","type":"application/vnd.lime.ping+json","resource":{},"method":"get","status":"success","id":"c1"}"#,
            r#"{"method":"get","status":"failure","reason":{"code":67},"id":"c2"}"#,
            r#"{"state":"negotiating","encryptionOptions":["none","tls"],"compressionOptions":["none"],"id":"s"}"#,
            r#"{"state":"authenticating","scheme":"plain","authentication":{"password":"cGFzcw=="},"id":"s","from":"a@b.com/x"}"#,
            r#"{"state":"authenticating","scheme":"external","authentication":{"token":"dA==","issuer":"x.com"}}"#,
            r#"{"state":"authenticating","schemeOptions":["guest","plain","key","transport","external"],"id":"s"}"#,
            r#"{"state":"failed","reason":{"code":13,"description":"no"},"id":"s"}"#,
        ] {
            assert_eq!(round_trip(json), json);
        }
    }

    #[test]
    fn serializers_per_kind() {
        let m = MessageDto {
            id: Some("1".into()),
            to: Some("bob@b.com".into()),
            content: Some(DocumentDto { media_type: "text/plain".into(), text: "hi".into() }),
            ..MessageDto::default()
        };
        assert_eq!(
            message_to_json(m).unwrap(),
            r#"{"type":"text/plain","content":"hi","id":"1","to":"bob@b.com"}"#
        );
        let n = NotificationDto {
            id: Some("1".into()),
            from: None,
            pp: None,
            to: None,
            metadata: None,
            event: NotificationEventDto::Received,
            reason: None,
        };
        assert_eq!(notification_to_json(n).unwrap(), r#"{"event":"received","id":"1"}"#);
        let c = CommandDto {
            id: Some("c".into()),
            from: None,
            pp: None,
            to: None,
            metadata: None,
            uri: Some("/presence/".into()),
            method: CommandMethodDto::Get,
            status: CommandStatusDto::Pending,
            resource: None,
            reason: None,
        };
        assert_eq!(command_to_json(c).unwrap(), r#"{"uri":"/presence","method":"get","id":"c"}"#);
        let mut s = SessionDto::from(&lime::Session::new(lime::SessionState::Authenticating));
        s.scheme = Some(AuthenticationSchemeDto::Guest);
        assert_eq!(
            session_to_json(s).unwrap(),
            r#"{"state":"authenticating","scheme":"guest","authentication":{}}"#
        );
    }

    #[test]
    fn invalid_input_is_a_parse_error_naming_the_field() {
        for bad in ["{", "[]", r#"{"id":"1"}"#, r#"{"event":"nonsense"}"#] {
            assert_eq!(parse_envelope(bad.into()).unwrap_err().kind(), lime::ErrorCategory::Parse);
        }
        let m = MessageDto { to: Some("@".into()), ..MessageDto::default() };
        assert!(message_to_json(m).unwrap_err().message().contains("`to`"));
        let c = CommandDto {
            id: None,
            from: None,
            pp: None,
            to: None,
            metadata: None,
            uri: Some("http://x".into()),
            method: CommandMethodDto::Get,
            status: CommandStatusDto::Pending,
            resource: None,
            reason: None,
        };
        assert!(command_to_json(c).unwrap_err().message().contains("`uri`"));
        let e = EnvelopeDto {
            kind: EnvelopeKindDto::Command,
            message: None,
            notification: None,
            command: None,
            session: None,
        };
        assert!(Envelope::try_from(e).is_err());
    }
}
