//! [`Command`]: a REST-like request or response about a resource.

use serde::{ser::SerializeMap, Serialize, Serializer};

use super::{write_content, write_header, Metadata};
use crate::{
    document::{Document, MediaType},
    enums::{CommandMethod, CommandStatus},
    node::Node,
    uri::LimeUri,
    Reason,
};

/// The media type of ping resources.
pub const PING_MEDIA_TYPE: &str = "application/vnd.lime.ping+json";

/// A command: a request (`status` pending, implicit) or the response with the same `id`.
///
/// # Examples
///
/// ```
/// use lime::{Command, CommandMethod, Envelope};
///
/// let get = Command::request(CommandMethod::Get, "/presence".parse()?).with_id("c1");
/// assert_eq!(Envelope::from(get).to_json(), r#"{"uri":"/presence","method":"get","id":"c1"}"#);
/// # Ok::<(), lime::ParseError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Command {
    /// Correlates the request with its response; optional only for `observe`.
    pub id: Option<String>,
    /// Sender; absent means the remote party.
    pub from: Option<Node>,
    /// Delegate sending on behalf of `from`.
    pub pp: Option<Node>,
    /// Destination; absent means the receiving party.
    pub to: Option<Node>,
    /// Free-form string metadata.
    pub metadata: Option<Metadata>,
    /// The resource's address (requests and `observe`).
    pub uri: Option<LimeUri>,
    /// The method. Always written.
    pub method: CommandMethod,
    /// `pending` for requests (never written), `success`/`failure` for responses.
    pub status: CommandStatus,
    /// The resource (request body or response value).
    pub resource: Option<Document>,
    /// Why, for `failure`.
    pub reason: Option<Reason>,
}

impl Command {
    /// A request.
    pub fn request(method: CommandMethod, uri: LimeUri) -> Self {
        Self { method, uri: Some(uri), ..Self::default() }
    }

    /// A successful response to `request` (same id and method, addressed to its sender).
    pub fn success_for(request: &Self, resource: Option<Document>) -> Self {
        Self {
            id: request.id.clone(),
            to: request.pp.clone().or_else(|| request.from.clone()),
            method: request.method,
            status: CommandStatus::Success,
            resource,
            ..Self::default()
        }
    }

    /// A failed response to `request` (same id and method, addressed to its sender).
    pub fn failure_for(request: &Self, reason: Reason) -> Self {
        Self {
            id: request.id.clone(),
            to: request.pp.clone().or_else(|| request.from.clone()),
            method: request.method,
            status: CommandStatus::Failure,
            reason: Some(reason),
            ..Self::default()
        }
    }

    /// The automatic answer to a ping request: `{id, to: pp ?? from, method: get,
    /// status: success, type: application/vnd.lime.ping+json, resource: {}}`.
    pub fn ping_response(request: &Self) -> Self {
        let ping = Document::new(MediaType::known(PING_MEDIA_TYPE), serde_json::json!({}));
        Self::success_for(request, Some(ping))
    }

    /// A `get /ping` request (without id: channels assign one).
    pub fn ping_request() -> Self {
        Self::request(CommandMethod::Get, LimeUri::ping())
    }

    /// True for a request (`status` pending).
    pub fn is_request(&self) -> bool {
        self.status == CommandStatus::Pending
    }

    /// True for a `get /ping` request (C# `IsPingRequest`).
    pub fn is_ping_request(&self) -> bool {
        self.method == CommandMethod::Get
            && self.is_request()
            && self.uri.as_ref().is_some_and(LimeUri::is_ping)
    }
}

super::header_builders!(Command);

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(uri) = &self.uri {
            map.serialize_entry("uri", uri)?;
        }
        write_content(&mut map, "resource", self.resource.as_ref())?;
        map.serialize_entry("method", &self.method)?;
        if self.status != CommandStatus::Pending {
            map.serialize_entry("status", &self.status)?;
        }
        if let Some(reason) = &self.reason {
            map.serialize_entry("reason", reason)?;
        }
        write_header(&mut map, &self.id, &self.from, &self.pp, &self.to, &self.metadata)?;
        map.end()
    }
}
