//! The data that crosses the FFI: envelopes as records, and their conversions to and from the
//! core types.
//!
//! Records are copied by value and hold only strings, numbers and maps, so they look native in
//! Kotlin (`data class`) and Swift (`struct`). LIME's closed sets ([`SessionState`],
//! [`NotificationEvent`], [`CommandMethod`], [`CommandStatus`]), [`Reason`] and the credentials
//! ([`Authentication`], `lime::convert::Credentials`) are the core's own types, exported
//! through its `uniffi` feature (Kotlin package `org.limeprotocol.core`, Swift module
//! `LimeCore`). Every conversion follows the host rules of [`lime::convert`]: nodes, URIs and
//! media types travel as their wire text; a document as its media type plus text (JSON text
//! for JSON media types, the raw string otherwise); metadata as a map, sorted by key when
//! sent (uniffi maps carry no order); secrets in clear text. Converting a received envelope
//! never fails; converting an application's record fails with [`LimeError::InvalidArgument`]
//! naming the field.

use std::collections::HashMap;

pub use lime::{
    convert::Credentials as Authentication, CommandMethod, CommandStatus, NotificationEvent,
    Reason, SessionState,
};
use lime::{
    convert::{self, ConvertError},
    LimeUri, Metadata, Node,
};

use crate::error::LimeError;

/// A message: content sent from one node to another.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Message {
    /// Envelope id; without one the message is fire-and-forget (no receipts).
    #[uniffi(default)]
    pub id: Option<String>,
    /// Sender (`name@domain/instance`); filled in by the server.
    #[uniffi(default)]
    pub from: Option<String>,
    /// Destination node or identity.
    #[uniffi(default)]
    pub to: Option<String>,
    /// Delegate sending on behalf of `from`.
    #[uniffi(default)]
    pub pp: Option<String>,
    /// Free-form string metadata.
    #[uniffi(default)]
    pub metadata: HashMap<String, String>,
    /// Media type of the content (`text/plain`, `application/json`, …).
    pub media_type: String,
    /// The content: JSON text for JSON media types, the raw text otherwise.
    pub content: String,
}

/// A notification: news about the message with the same id.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Notification {
    /// Id of the message this notification is about.
    #[uniffi(default)]
    pub id: Option<String>,
    /// Sender.
    #[uniffi(default)]
    pub from: Option<String>,
    /// Destination.
    #[uniffi(default)]
    pub to: Option<String>,
    /// Delegate sending on behalf of `from`.
    #[uniffi(default)]
    pub pp: Option<String>,
    /// Free-form string metadata.
    #[uniffi(default)]
    pub metadata: HashMap<String, String>,
    /// What happened to the message.
    pub event: NotificationEvent,
    /// Why, for `failed`.
    #[uniffi(default)]
    pub reason: Option<Reason>,
}

/// A command: a request about a resource (status `pending`) or the response with the same id.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Command {
    /// Correlates a request with its response (assigned when absent).
    #[uniffi(default)]
    pub id: Option<String>,
    /// Sender.
    #[uniffi(default)]
    pub from: Option<String>,
    /// Destination; absent means the server.
    #[uniffi(default)]
    pub to: Option<String>,
    /// Delegate sending on behalf of `from`.
    #[uniffi(default)]
    pub pp: Option<String>,
    /// Free-form string metadata.
    #[uniffi(default)]
    pub metadata: HashMap<String, String>,
    /// The resource's address (`/ping`, `lime://domain/path`).
    #[uniffi(default)]
    pub uri: Option<String>,
    /// What to do with the resource.
    pub method: CommandMethod,
    /// `pending` for requests, `success`/`failure` for responses.
    pub status: CommandStatus,
    /// Media type of `resource`; set together with it.
    #[uniffi(default)]
    pub media_type: Option<String>,
    /// The resource: JSON text for JSON media types, the raw text otherwise.
    #[uniffi(default)]
    pub resource: Option<String>,
    /// Why, for `failure`.
    #[uniffi(default)]
    pub reason: Option<Reason>,
}

/// Where a session stands, with the nodes the server assigned.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SessionInfo {
    /// The session state.
    pub state: SessionState,
    /// The session id given by the server.
    pub session_id: Option<String>,
    /// Our node as the server registered it (`name@domain/instance`).
    pub local_node: Option<String>,
    /// The server's node.
    pub remote_node: Option<String>,
    /// Why the session failed, for `failed`.
    pub reason: Option<Reason>,
}

impl From<lime::Message> for Message {
    fn from(m: lime::Message) -> Self {
        let (media_type, content) = m.content.map(convert::into_document_text).unwrap_or_default();
        Self {
            id: m.id,
            from: text(m.from),
            to: text(m.to),
            pp: text(m.pp),
            metadata: metadata_map(m.metadata),
            media_type,
            content,
        }
    }
}

impl TryFrom<Message> for lime::Message {
    type Error = LimeError;

    fn try_from(m: Message) -> Result<Self, LimeError> {
        Ok(Self {
            id: m.id,
            from: node("from", m.from)?,
            to: node("to", m.to)?,
            pp: node("pp", m.pp)?,
            metadata: metadata(m.metadata),
            content: Some(convert::document_from_text("content", &m.media_type, m.content)?),
        })
    }
}

impl From<lime::Notification> for Notification {
    fn from(n: lime::Notification) -> Self {
        Self {
            id: n.id,
            from: text(n.from),
            to: text(n.to),
            pp: text(n.pp),
            metadata: metadata_map(n.metadata),
            event: n.event,
            reason: n.reason,
        }
    }
}

impl TryFrom<Notification> for lime::Notification {
    type Error = LimeError;

    fn try_from(n: Notification) -> Result<Self, LimeError> {
        let mut out = Self::new(n.event);
        out.id = n.id;
        out.from = node("from", n.from)?;
        out.to = node("to", n.to)?;
        out.pp = node("pp", n.pp)?;
        out.metadata = metadata(n.metadata);
        out.reason = n.reason;
        Ok(out)
    }
}

impl From<lime::Command> for Command {
    fn from(c: lime::Command) -> Self {
        let (media_type, resource) = c.resource.map(convert::into_document_text).unzip();
        Self {
            id: c.id,
            from: text(c.from),
            to: text(c.to),
            pp: text(c.pp),
            metadata: metadata_map(c.metadata),
            uri: c.uri.map(|u| u.as_str().to_owned()),
            method: c.method,
            status: c.status,
            media_type,
            resource,
            reason: c.reason,
        }
    }
}

impl TryFrom<Command> for lime::Command {
    type Error = LimeError;

    fn try_from(c: Command) -> Result<Self, LimeError> {
        let resource = match (c.media_type, c.resource) {
            (Some(media_type), Some(resource)) => {
                Some(convert::document_from_text("resource", &media_type, resource)?)
            }
            (None, None) => None,
            _ => {
                return Err(ConvertError::new(
                    "resource",
                    "`media_type` and `resource` go together",
                )
                .into());
            }
        };
        let uri = match c.uri {
            Some(uri) => Some(uri.parse::<LimeUri>().map_err(|e| ConvertError::new("uri", e))?),
            None => None,
        };
        Ok(Self {
            id: c.id,
            from: node("from", c.from)?,
            to: node("to", c.to)?,
            pp: node("pp", c.pp)?,
            metadata: metadata(c.metadata),
            uri,
            method: c.method,
            status: c.status,
            resource,
            reason: c.reason,
        })
    }
}

impl SessionInfo {
    /// The state of a session envelope received from the server; the nodes and id come from
    /// the envelope where it has them, from `client` otherwise.
    pub(crate) fn from_session(session: &lime::Session, client: &lime::Client) -> Self {
        Self::with_known(session, client.session_id(), client.local_node(), client.remote_node())
    }

    /// [`from_session`](Self::from_session) with what the client knows given apart.
    fn with_known(
        session: &lime::Session,
        session_id: Option<String>,
        local_node: Option<Node>,
        remote_node: Option<Node>,
    ) -> Self {
        Self {
            state: session.state,
            session_id: session.id.clone().or(session_id),
            local_node: text(local_node.or_else(|| session.to.clone())),
            remote_node: text(remote_node.or_else(|| session.from.clone())),
            reason: session.reason.clone(),
        }
    }
}

fn text(node: Option<Node>) -> Option<String> {
    convert::node_text(node.as_ref())
}

fn node(field: &str, text: Option<String>) -> Result<Option<Node>, ConvertError> {
    convert::node_from_text(field, text.as_deref())
}

fn metadata_map(metadata: Option<Metadata>) -> HashMap<String, String> {
    convert::metadata_or_empty(metadata).into_iter().collect()
}

fn metadata(map: HashMap<String, String>) -> Option<Metadata> {
    convert::metadata_from_unordered(map)
}

#[cfg(test)]
mod tests {
    use lime::Envelope;
    use serde_json::Value;

    use super::*;

    fn wire(env: impl Into<Envelope>) -> String {
        env.into().to_json()
    }

    #[test]
    fn text_messages_round_trip() {
        let json = r#"{"type":"text/plain","content":"hi","id":"m1","from":"a@b.c/x","to":"d@e.f","metadata":{"k":"v"}}"#;
        let Envelope::Message(core) = json.parse().unwrap() else { panic!("not a message") };
        let record = Message::from(core.clone());
        assert_eq!(record.media_type, "text/plain");
        assert_eq!(record.content, "hi");
        assert_eq!(record.from.as_deref(), Some("a@b.c/x"));
        assert_eq!(record.metadata.get("k").map(String::as_str), Some("v"));
        assert_eq!(wire(lime::Message::try_from(record).unwrap()), json);
    }

    #[test]
    fn json_content_travels_as_json_text() {
        let json =
            r#"{"type":"application/vnd.x+json","content":{"a":[1,true,null],"b":"s"},"id":"1"}"#;
        let Envelope::Message(core) = json.parse().unwrap() else { panic!("not a message") };
        let record = Message::from(core);
        assert_eq!(record.content, r#"{"a":[1,true,null],"b":"s"}"#);
        assert_eq!(wire(lime::Message::try_from(record.clone()).unwrap()), json);

        // A JSON string under a JSON media type stays JSON text (quoted).
        let quoted = Message { content: "\"x\"".into(), ..record.clone() };
        let core = lime::Message::try_from(quoted.clone()).unwrap();
        assert_eq!(core.content.as_ref().unwrap().value(), &Value::String("x".into()));
        assert_eq!(Message::from(core).content, "\"x\"");

        let bad = Message { content: "{not json".into(), ..record };
        let err = lime::Message::try_from(bad).unwrap_err();
        assert!(
            matches!(&err, LimeError::InvalidArgument { msg } if msg.contains("`content`")),
            "{err:?}"
        );
    }

    #[test]
    fn invalid_fields_are_named() {
        let record = Message {
            id: None,
            from: None,
            to: Some("@".into()),
            pp: None,
            metadata: HashMap::new(),
            media_type: "text/plain".into(),
            content: "x".into(),
        };
        let err = lime::Message::try_from(record.clone()).unwrap_err();
        assert!(matches!(&err, LimeError::InvalidArgument { msg } if msg.contains("`to`")));
        let record = Message { to: None, media_type: "not a media type".into(), ..record };
        let err = lime::Message::try_from(record).unwrap_err();
        assert!(matches!(&err, LimeError::InvalidArgument { msg } if msg.contains("media_type")));
    }

    #[test]
    fn notifications_round_trip() {
        let json = r#"{"event":"failed","reason":{"code":42,"description":"nope"},"id":"m1","to":"a@b.c/x"}"#;
        let Envelope::Notification(core) = json.parse().unwrap() else { panic!() };
        let record = Notification::from(core);
        assert_eq!(record.event, NotificationEvent::Failed);
        assert_eq!(record.reason, Some(Reason { code: 42, description: Some("nope".into()) }));
        assert_eq!(wire(lime::Notification::try_from(record).unwrap()), json);
    }

    #[test]
    fn commands_round_trip() {
        let request = r#"{"uri":"/ping","method":"get","id":"c1"}"#;
        let Envelope::Command(core) = request.parse().unwrap() else { panic!() };
        let record = Command::from(core);
        assert_eq!((record.method, record.status), (CommandMethod::Get, CommandStatus::Pending));
        assert_eq!((record.media_type.as_deref(), record.resource.as_deref()), (None, None));
        assert_eq!(wire(lime::Command::try_from(record).unwrap()), request);

        let response = r#"{"type":"application/vnd.lime.ping+json","resource":{},"method":"get","status":"success","id":"c1","from":"postmaster@localhost/server"}"#;
        let Envelope::Command(core) = response.parse().unwrap() else { panic!() };
        let record = Command::from(core);
        assert_eq!(record.status, CommandStatus::Success);
        assert_eq!(record.resource.as_deref(), Some("{}"));
        assert_eq!(wire(lime::Command::try_from(record.clone()).unwrap()), response);

        let half = Command { resource: None, ..record };
        assert!(matches!(
            lime::Command::try_from(half),
            Err(LimeError::InvalidArgument { msg }) if msg.contains("`resource`")
        ));
    }

    #[test]
    fn metadata_is_written_in_key_order() {
        let record = Message {
            id: None,
            from: None,
            to: None,
            pp: None,
            metadata: [("b", "2"), ("a", "1")].map(|(k, v)| (k.into(), v.into())).into(),
            media_type: "text/plain".into(),
            content: "x".into(),
        };
        assert_eq!(
            wire(lime::Message::try_from(record).unwrap()),
            r#"{"type":"text/plain","content":"x","metadata":{"a":"1","b":"2"}}"#
        );
    }

    #[test]
    fn secrets_are_given_in_clear_text_and_sent_in_base64() {
        let plain =
            lime::Authentication::from(Authentication::Plain { password: "pässword".into() });
        assert_eq!(plain, lime::Authentication::Plain { password: Some("cMOkc3N3b3Jk".into()) });
        let session =
            lime::Session::new(lime::SessionState::Authenticating).with_authentication(plain);
        assert_eq!(
            wire(session),
            r#"{"state":"authenticating","scheme":"plain","authentication":{"password":"cMOkc3N3b3Jk"}}"#
        );
        let ext = lime::Authentication::from(Authentication::External {
            token: "t".into(),
            issuer: "i".into(),
        });
        assert_eq!(ext, lime::Authentication::external("t", "i"));
        assert_eq!(lime::Authentication::from(Authentication::Guest), lime::Authentication::Guest);
        assert_eq!(
            lime::Authentication::from(Authentication::Transport),
            lime::Authentication::Transport
        );
        assert_eq!(
            lime::Authentication::from(Authentication::Key { key: "k".into() }),
            lime::Authentication::key("k")
        );
    }

    #[test]
    fn session_info_prefers_the_channel_nodes() {
        let mut session = lime::Session::failed(lime::Reason::new(13, "bad"));
        session.id = Some("s1".into());
        session.to = Some("a@b.c/x".parse().unwrap());
        let info = SessionInfo::with_known(&session, None, None, None);
        assert_eq!(info.state, SessionState::Failed);
        assert_eq!(info.session_id.as_deref(), Some("s1"));
        assert_eq!(info.local_node.as_deref(), Some("a@b.c/x"));
        let known = SessionInfo::with_known(
            &session,
            Some("s0".into()),
            Some("z@b.c/y".parse().unwrap()),
            Some("postmaster@b.c/server".parse().unwrap()),
        );
        assert_eq!(known.session_id.as_deref(), Some("s1"));
        assert_eq!(known.local_node.as_deref(), Some("z@b.c/y"));
        assert_eq!(known.remote_node.as_deref(), Some("postmaster@b.c/server"));
        assert_eq!(info.reason, Some(Reason { code: 13, description: Some("bad".into()) }));
    }
}
