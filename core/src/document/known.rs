//! Typed documents of `Lime.Messaging` (PROTOCOL §1.12–§1.13).
//!
//! Every JSON document is a struct whose fields are all optional: absent and `null` keys read
//! as `None`, `None` is never written, and unknown keys are ignored on read. Enum-like fields
//! (`status`, `routingRule`, `gender`, …) are plain strings so that values added by newer peers
//! survive a round trip; the accepted spellings are listed on each field. Dates are kept as the
//! ISO 8601 text that travelled on the wire.

use std::fmt;

use indexmap::IndexMap;
use serde::{de, Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::TypedDocument;
use crate::NotificationEvent;

/// `text/plain`: a text message. Written as a JSON string.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlainText(pub String);

impl TypedDocument for PlainText {
    const MEDIA_TYPE: &'static str = "text/plain";
}

impl<T: Into<String>> From<T> for PlainText {
    fn from(text: T) -> Self {
        Self(text.into())
    }
}

/// `application/json`: a free-form JSON object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonDocument(pub Map<String, Value>);

impl TypedDocument for JsonDocument {
    const MEDIA_TYPE: &'static str = "application/json";
}

/// `application/vnd.lime.collection+json`: a list of documents of one media type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentCollection {
    /// Total number of items in the source (may exceed `items.len()` when paging). Omitted on
    /// write when `None` or `0`; a numeric string such as `"4"` is accepted on read.
    #[serde(default, skip_serializing_if = "is_none_or_zero", deserialize_with = "lenient_i64")]
    pub total: Option<i64>,
    /// Media type of every item (a container type for heterogeneous items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<String>,
    /// The items: JSON objects for JSON item types, JSON strings otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<Value>>,
}

impl TypedDocument for DocumentCollection {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.collection+json";
}

/// `application/vnd.lime.container+json`: a document wrapped with its own media type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentContainer {
    /// Media type of `value` (the `type` key).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The wrapped document: an object for JSON media types, a string otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl TypedDocument for DocumentContainer {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.container+json";
}

/// `application/vnd.lime.ping+json`: the empty resource of `get /ping`, written as `{}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {}

impl TypedDocument for Ping {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.ping+json";
}

/// `application/vnd.lime.presence+json`: the availability of a node and its routing rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    /// `unavailable`, `available`, `busy`, `away` or `invisible`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A status message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `instance`, `identity`, `promiscuous`, `domain` or `rootDomain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_rule: Option<String>,
    /// When the node was last seen (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Routing priority among the instances; omitted on write when `None` or `0`.
    #[serde(default, skip_serializing_if = "is_none_or_zero")]
    pub priority: Option<i64>,
    /// Route by distance between the nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_by_distance: Option<bool>,
    /// Distribute envelopes among the instances in round robin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_robin: Option<bool>,
    /// Receive the envelopes this node sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<bool>,
    /// Receive envelopes addressed to any instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promiscuous: Option<bool>,
    /// The instances currently online.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<String>>,
}

impl TypedDocument for Presence {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.presence+json";
}

/// `application/vnd.lime.receipt+json`: which notification events a node wants to receive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The events to be notified of (lowercase spellings, e.g. `received`, `consumed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<NotificationEvent>>,
}

impl TypedDocument for Receipt {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.receipt+json";
}

/// `application/vnd.lime.capability+json`: the content and resource types a node supports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capability {
    /// Supported message content media types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_types: Option<Vec<String>>,
    /// Supported command resource media types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_types: Option<Vec<String>>,
}

impl TypedDocument for Capability {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.capability+json";
}

/// The fields `Account` and `Contact` share (C# `ContactDocument`), flattened into both.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactFields {
    /// The identity, `name@domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Photo URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_uri: Option<String>,
    /// Cell phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_phone_number: Option<String>,
    /// `male`, `female` or `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// Time zone name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone_name: Option<String>,
    /// Offset from UTC, in hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<f64>,
    /// Culture, as an IETF language tag (e.g. `pt-BR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culture: Option<String>,
    /// Free-form string properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extras: Option<IndexMap<String, String>>,
    /// Where the contact or account came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Birth date (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// Tax document number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_document: Option<String>,
    /// Creation date (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
    /// Tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Whether groups are enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group_enabled: Option<bool>,
    /// WhatsApp business-scoped user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whats_app_bsuid: Option<String>,
    /// WhatsApp id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whats_app_wa_id: Option<String>,
    /// WhatsApp user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whats_app_user_name: Option<String>,
    /// WhatsApp parent id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whats_app_parent_id: Option<String>,
}

/// `application/vnd.lime.account+json`: the account of the session's identity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The shared contact fields.
    #[serde(flatten)]
    pub contact: ContactFields,
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// Whether the account is temporary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_temporary: Option<bool>,
    /// Password, base64 of its UTF-8 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Previous password when changing it, base64 of its UTF-8 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_password: Option<String>,
    /// Access key, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    /// Size of the message inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox_size: Option<i64>,
    /// Accept messages from anonymous senders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_anonymous_sender: Option<bool>,
    /// Accept messages from senders outside the roster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_unknown_sender: Option<bool>,
    /// Store message content on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_message_content: Option<bool>,
    /// Encrypt stored message content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt_message_content: Option<bool>,
    /// Alternative account identity, `name@domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative_account: Option<String>,
    /// Publish the account to the directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_to_directory: Option<bool>,
}

impl TypedDocument for Account {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.account+json";
}

/// `application/vnd.lime.contact+json`: an entry of the roster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// The shared contact fields.
    #[serde(flatten)]
    pub contact: ContactFields,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the contact request is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_pending: Option<bool>,
    /// Share the owner's presence with the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_presence: Option<bool>,
    /// Share the owner's account information with the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_account_info: Option<bool>,
    /// Priority of the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Group the contact belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Date of the last message (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_date: Option<String>,
    /// `subscribed` or `not-subscribed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_status: Option<String>,
    /// Date of the last update (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_date: Option<String>,
}

impl TypedDocument for Contact {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.contact+json";
}

/// `application/vnd.lime.chatstate+json`: the typing state of a conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatState {
    /// `starting`, `composing`, `paused`, `deleting` or `gone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Milliseconds the state lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
}

impl TypedDocument for ChatState {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.chatstate+json";
}

/// The fields of a link (C# `Link`), flattened into [`MediaLink`] and [`WebLink`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkFields {
    /// The linked URI (required by the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// URI of a preview (thumbnail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_uri: Option<String>,
    /// Media type of the preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_type: Option<String>,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Realm whose credentials authorize access to the URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_realm: Option<String>,
}

/// `application/vnd.lime.media-link+json`: a link to a media file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaLink {
    /// The link fields.
    #[serde(flatten)]
    pub link: LinkFields,
    /// Media type of the linked file (the `type` key).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Size of the file in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Aspect ratio, e.g. `16:9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
}

impl TypedDocument for MediaLink {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.media-link+json";
}

/// `application/vnd.lime.web-link+json`: a link to a web page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebLink {
    /// The link fields.
    #[serde(flatten)]
    pub link: LinkFields,
    /// Where to open the page: `blank`, `self`, `selfCompact` or `selfTall`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl TypedDocument for WebLink {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.web-link+json";
}

/// `application/vnd.lime.select+json`: a question with options to choose from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Select {
    /// `transient`, `persistent` or `immediate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The question text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<SelectOption>>,
}

impl TypedDocument for Select {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.select+json";
}

/// One option of a [`Select`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectOption {
    /// Position (and number) of the option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    /// The option text (required by the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Media type of `value` (the `type` key).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The document sent back when the option is chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// `application/vnd.lime.location+json`: a geographic position.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// Latitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// Altitude in meters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<f64>,
    /// Course in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course: Option<i64>,
    /// Speed in meters per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// Accuracy in meters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Description of the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl TypedDocument for Location {
    const MEDIA_TYPE: &'static str = "application/vnd.lime.location+json";
}

/// `skip_serializing_if` for counts that C# omits when zero.
#[allow(clippy::ref_option)] // serde passes `&Option<_>`
fn is_none_or_zero(value: &Option<i64>) -> bool {
    matches!(value, None | Some(0))
}

/// Reads an optional integer written as a number, an integral float or a numeric string
/// (C# `ToObject<int>` accepts `"4"`); `null` reads as `None`.
fn lenient_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl<'de> de::Visitor<'de> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer or a numeric string")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v).map(Some).map_err(|_| E::custom("integer out of range"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // Exact integral values in range only; `as` is lossless after these checks.
            #[allow(clippy::cast_possible_truncation)]
            if v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64 {
                Ok(Some(v as i64))
            } else {
                Err(E::invalid_value(de::Unexpected::Float(v), &self))
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            v.trim().parse().map(Some).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }
    }
    deserializer.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use serde_json::json;

    use super::*;
    use crate::Document;

    /// JSON `input` → typed → [`Document`] (right media type) whose value must equal `expected`;
    /// reading that value back must write `expected` again (and give the same typed value when
    /// nothing was normalized away).
    fn round_trip<T: TypedDocument + PartialEq + Debug>(input: Value, expected: Value) -> T {
        let typed: T = serde_json::from_value(input.clone()).unwrap();
        let doc = Document::from_typed(&typed).unwrap();
        assert_eq!(doc.media_type().as_str(), T::MEDIA_TYPE);
        assert_eq!(doc.value(), &expected);
        let again: T = doc.to_typed().unwrap();
        assert_eq!(serde_json::to_value(&again).unwrap(), expected);
        if input == expected {
            assert_eq!(again, typed);
        }
        typed
    }

    /// Round trip of an input that must come back unchanged.
    fn same<T: TypedDocument + PartialEq + Debug>(input: Value) -> T {
        round_trip(input.clone(), input)
    }

    #[test]
    fn plain_text_is_a_json_string() {
        let text: PlainText = same(json!("Hello, world"));
        assert_eq!(text, PlainText::from("Hello, world"));
        assert_eq!(Document::from_typed(&text).unwrap().as_text(), Some("Hello, world"));
        assert!(serde_json::from_value::<PlainText>(json!({"text": "x"})).is_err());
    }

    #[test]
    fn json_document_keeps_any_object() {
        let doc: JsonDocument =
            same(json!({"b": 1, "a": [1, "x", null], "o": {"k": true}, "n": null}));
        assert_eq!(doc.0.keys().collect::<Vec<_>>(), ["b", "a", "o", "n"]);
    }

    #[test]
    fn collection_total_is_lenient_and_zero_is_omitted() {
        let c: DocumentCollection =
            same(json!({"total": 2, "itemType": "text/plain", "items": ["a", "b"]}));
        assert_eq!((c.total, c.item_type.as_deref()), (Some(2), Some("text/plain")));
        let c: DocumentCollection = round_trip(
            json!({"total": "4", "itemType": "text/plain", "items": [], "x": {}}),
            json!({"total": 4, "itemType": "text/plain", "items": []}),
        );
        assert_eq!(c.total, Some(4));
        let c: DocumentCollection = round_trip(json!({"total": 0, "items": null}), json!({}));
        assert_eq!(c, DocumentCollection { total: Some(0), ..Default::default() });
        let c: DocumentCollection = round_trip(json!({"total": null}), json!({}));
        assert_eq!(c.total, None);
        let c: DocumentCollection = serde_json::from_str(r#"{"total": 7.0}"#).unwrap();
        assert_eq!(c.total, Some(7));
        for bad in [json!("four"), json!(1.5), json!(true)] {
            assert!(serde_json::from_value::<DocumentCollection>(json!({"total": bad})).is_err());
        }
    }

    #[test]
    fn container_uses_the_type_key() {
        let c: DocumentContainer = same(
            json!({"type": "application/vnd.lime.chatstate+json", "value": {"state": "gone"}}),
        );
        assert_eq!(c.media_type.as_deref(), Some("application/vnd.lime.chatstate+json"));
        let c: DocumentContainer =
            round_trip(json!({"type": "text/plain", "value": null}), json!({"type": "text/plain"}));
        assert_eq!(c.value, None);
    }

    #[test]
    fn ping_is_an_empty_object() {
        let _: Ping = same(json!({}));
        let _: Ping = round_trip(json!({"anything": [1, 2]}), json!({}));
        assert_eq!(serde_json::to_string(&Ping::default()).unwrap(), "{}");
    }

    #[test]
    fn presence_omits_zero_priority() {
        let p: Presence = same(json!({
            "status": "available", "message": "At work", "routingRule": "identity",
            "lastSeen": "2024-01-02T03:04:05.000Z", "priority": 2, "filterByDistance": false,
            "roundRobin": true, "echo": false, "promiscuous": true, "instances": ["home", "work"]
        }));
        assert_eq!(
            (p.routing_rule.as_deref(), p.filter_by_distance),
            (Some("identity"), Some(false))
        );
        let p: Presence = round_trip(
            json!({"status": "busy", "priority": 0, "echo": null, "bogus": 1}),
            json!({"status": "busy"}),
        );
        assert_eq!((p.priority, p.echo), (Some(0), None));
    }

    #[test]
    fn receipt_and_capability() {
        let r: Receipt = same(json!({"events": ["received", "consumed", "failed"]}));
        assert_eq!(r.events.unwrap()[2], NotificationEvent::Failed);
        let _: Receipt = round_trip(json!({"events": null}), json!({}));
        let c: Capability = same(json!({
            "contentTypes": ["text/plain", "application/vnd.lime.media-link+json"],
            "resourceTypes": ["application/vnd.lime.presence+json"]
        }));
        assert_eq!(c.content_types.unwrap().len(), 2);
    }

    #[test]
    fn account_flattens_contact_fields() {
        let a: Account = same(json!({
            "identity": "andre@takenet.com.br", "address": "Rua X", "city": "BH", "email": "a@b",
            "phoneNumber": "+55 31 0000", "photoUri": "http://x.com/p", "cellPhoneNumber": "999",
            "gender": "male", "timeZoneName": "America/Sao_Paulo", "offset": -3.0, "culture": "pt",
            "extras": {"z": "1", "a": "2"}, "source": "web", "firstName": "Andre", "lastName": "B",
            "birthDate": "1980-01-01", "taxDocument": "000", "creationDate": "2020-01-01T00:00:00Z",
            "tenantId": "t1", "isGroupEnabled": true, "whatsAppBsuid": "b", "whatsAppWaId": "w",
            "whatsAppUserName": "u", "whatsAppParentId": "p",
            "fullName": "Andre B", "isTemporary": false, "password": "MTIz", "oldPassword": "YWJj",
            "accessKey": "a2V5", "inboxSize": 100, "allowAnonymousSender": false,
            "allowUnknownSender": true, "storeMessageContent": true, "encryptMessageContent": false,
            "alternativeAccount": "alt@takenet.com.br", "publishToDirectory": true
        }));
        assert_eq!(a.contact.identity.as_deref(), Some("andre@takenet.com.br"));
        assert_eq!((a.contact.offset, a.inbox_size), (Some(-3.0), Some(100)));
        assert_eq!(a.contact.extras.as_ref().unwrap().keys().collect::<Vec<_>>(), ["z", "a"]);
        let a: Account = round_trip(
            json!({"fullName": "X", "city": null, "isTemporary": null, "unknown": [1]}),
            json!({"fullName": "X"}),
        );
        assert_eq!(a.contact, ContactFields::default());
        let built = Account {
            contact: ContactFields { email: Some("e@x.com".into()), ..Default::default() },
            password: Some("cA==".into()),
            ..Default::default()
        };
        let doc = Document::from_typed(&built).unwrap();
        assert_eq!(doc.value(), &json!({"email": "e@x.com", "password": "cA=="}));
        assert_eq!(doc.to_typed::<Account>().unwrap(), built);
    }

    #[test]
    fn contact_flattens_contact_fields() {
        let c: Contact = same(json!({
            "identity": "john@x.com", "name": "John", "isPending": true, "sharePresence": false,
            "shareAccountInfo": true, "priority": 0, "group": "friends", "gender": "other",
            "lastMessageDate": "2024-05-01T10:00:00Z", "subscriptionStatus": "not-subscribed",
            "lastUpdateDate": "2024-05-02T10:00:00Z", "extras": {"k": "v"}
        }));
        assert_eq!((c.contact.identity.as_deref(), c.priority), (Some("john@x.com"), Some(0)));
        assert_eq!(c.subscription_status.as_deref(), Some("not-subscribed"));
        let c: Contact =
            round_trip(json!({"name": "J", "group": null, "x": "y"}), json!({"name": "J"}));
        assert_eq!(c.group, None);
    }

    #[test]
    fn chat_state() {
        let c: ChatState = same(json!({"state": "paused", "interval": 1000}));
        assert_eq!(c.interval, Some(1000));
        let _: ChatState =
            round_trip(json!({"state": "gone", "interval": null}), json!({"state": "gone"}));
    }

    #[test]
    fn links_flatten_link_fields() {
        let m: MediaLink = same(json!({
            "type": "image/jpeg", "size": 3_000_000_000_i64, "aspectRatio": "16:9",
            "uri": "http://x.com/a.jpg", "previewUri": "http://x.com/s", "previewType": "image/png",
            "title": "A", "text": "Picture", "authorizationRealm": "blip"
        }));
        assert_eq!((m.media_type.as_deref(), m.size), (Some("image/jpeg"), Some(3_000_000_000)));
        assert_eq!(m.link.uri.as_deref(), Some("http://x.com/a.jpg"));
        let _: MediaLink =
            round_trip(json!({"uri": "u", "title": null, "other": 1}), json!({"uri": "u"}));
        let w: WebLink = same(json!({
            "target": "selfTall", "uri": "http://limeprotocol.org", "previewUri": "http://l.org/p",
            "previewType": "image/png", "title": "LIME", "text": "Protocol",
            "authorizationRealm": "r"
        }));
        assert_eq!(
            (w.target.as_deref(), w.link.title.as_deref()),
            (Some("selfTall"), Some("LIME"))
        );
    }

    #[test]
    fn select_options() {
        let s: Select = same(json!({"scope": "immediate", "text": "Choose", "options": [
            {"order": 1, "text": "One"},
            {"order": 2, "text": "Two", "type": "application/json", "value": {"n": 2}},
            {"text": "Three", "type": "text/plain", "value": "3"}
        ]}));
        let options = s.options.unwrap();
        assert_eq!(options[1].media_type.as_deref(), Some("application/json"));
        assert_eq!((options[1].value.clone(), options[2].order), (Some(json!({"n": 2})), None));
        let _: Select = round_trip(
            json!({"text": "Q", "options": [{"text": "A", "value": null, "x": 1}]}),
            json!({"text": "Q", "options": [{"text": "A"}]}),
        );
    }

    #[test]
    fn location() {
        let l: Location = same(json!({
            "latitude": -19.919_715, "longitude": -43.959_753, "altitude": 853.5, "course": 90,
            "speed": 1.5, "accuracy": 10.0, "text": "Praça da Liberdade"
        }));
        assert_eq!((l.course, l.latitude), (Some(90), Some(-19.919_715)));
        let _: Location =
            round_trip(json!({"latitude": 1.0, "text": null}), json!({"latitude": 1.0}));
    }

    #[test]
    fn from_typed_gives_the_media_type() {
        macro_rules! check {
            ($($t:ty => $m:literal),*) => {$(
                let doc = Document::from_typed(&<$t>::default()).unwrap();
                assert_eq!(doc.media_type().as_str(), $m);
            )*};
        }
        check!(PlainText => "text/plain", JsonDocument => "application/json",
            DocumentCollection => "application/vnd.lime.collection+json",
            DocumentContainer => "application/vnd.lime.container+json",
            Ping => "application/vnd.lime.ping+json", Receipt => "application/vnd.lime.receipt+json",
            Presence => "application/vnd.lime.presence+json",
            Capability => "application/vnd.lime.capability+json",
            Account => "application/vnd.lime.account+json",
            Contact => "application/vnd.lime.contact+json",
            ChatState => "application/vnd.lime.chatstate+json",
            MediaLink => "application/vnd.lime.media-link+json",
            WebLink => "application/vnd.lime.web-link+json",
            Select => "application/vnd.lime.select+json",
            Location => "application/vnd.lime.location+json");
        assert_eq!(Document::from_typed(&Account::default()).unwrap().value(), &json!({}));
        let doc = Document::from_typed(&ChatState::default()).unwrap();
        assert!(doc.to_typed::<Presence>().is_err());
    }
}
