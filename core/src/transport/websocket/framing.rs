//! What every WebSocket side shares, without I/O: the tungstenite settings for an envelope size
//! limit, the messages of one envelope (fragmented above [`FRAGMENT_SIZE`]), the envelope in a
//! received payload, the mapping of tungstenite errors and the upgrade request of a `ws://` or
//! `wss://` URI. The sans-IO [`ClientConnection`](crate::ClientConnection) uses these too.

use bytes::Bytes;
use tungstenite::{
    client::IntoClientRequest,
    error::{CapacityError, ProtocolError},
    handshake::server::Request,
    http::{header::SEC_WEBSOCKET_PROTOCOL, HeaderValue},
    protocol::{
        frame::{
            coding::{Data, OpCode},
            Frame,
        },
        WebSocketConfig,
    },
    Error as WsError, Message as WsMessage, Utf8Bytes,
};

use super::SUBPROTOCOL;
use crate::{
    transport::{address::host_port, TransportResult},
    Envelope, FrameError, TransportError,
};

/// Default port of `ws://` URIs.
const WS_PORT: u16 = 80;
/// Default port of `wss://` URIs.
const WSS_PORT: u16 = 443;
/// Read buffer of each connection.
const READ_BUFFER_SIZE: usize = 4 * 1024;
/// Largest WebSocket frame header (2 + 8 bytes of length + 4 bytes of mask).
const MAX_FRAME_HEADER: usize = 14;
/// Bytes gathered by `send_many` before a write (each `send_bytes` still flushes).
const WRITE_BATCH: usize = 16 * 1024;
/// Room in the write buffer for control frames (pongs, close) queued next to a message.
const CONTROL_ROOM: usize = 64 * 1024;
/// The tungstenite settings for a connection limited to `max` bytes per envelope.
pub(crate) fn ws_config(max: usize) -> WebSocketConfig {
    // A message that could not be written completely stays in the write buffer while the next
    // one is queued, plus any control frames: allow two envelopes and some room.
    let max_write =
        max.saturating_add(MAX_FRAME_HEADER).saturating_mul(2).saturating_add(CONTROL_ROOM);
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_SIZE)
        .write_buffer_size(WRITE_BATCH)
        .max_write_buffer_size(max_write)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Maps a tungstenite error met while reading or writing messages.
pub(crate) fn ws_error(error: WsError, limit: usize) -> TransportError {
    match error {
        WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::SendAfterClosing) => TransportError::Closed,
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            TransportError::Frame(FrameError::TooLarge { offset: 0, limit })
        }
        WsError::Io(e) => TransportError::Io(e.to_string()),
        WsError::Tls(e) => TransportError::Tls(e.to_string()),
        other => TransportError::WebSocket(other.to_string()),
    }
}

/// Maps a tungstenite error met during the opening handshake with `peer`.
pub(crate) fn handshake_error(error: WsError, peer: &str) -> TransportError {
    match error {
        WsError::Io(e) => {
            TransportError::Io(format!("WebSocket handshake with {peer} failed: {e}"))
        }
        WsError::Http(response) => TransportError::WebSocket(format!(
            "WebSocket handshake with {peer} refused with HTTP status {}",
            response.status()
        )),
        other => {
            TransportError::WebSocket(format!("WebSocket handshake with {peer} failed: {other}"))
        }
    }
}

/// The WebSocket messages of one serialized envelope: one Text message, or, above
/// [`FRAGMENT_SIZE`], a fragmented Text message (some peers, such as the `websocket` npm
/// package behind lime-js, refuse single frames over 1 MiB but reassemble fragments up to
/// 8 MiB).
pub(crate) struct EnvelopeMessages {
    rest: Bytes,
    first: bool,
}

impl EnvelopeMessages {
    /// Fails when `json` is not UTF-8 (it could not be sent as text).
    pub(crate) fn new(json: Bytes) -> TransportResult<Self> {
        if std::str::from_utf8(&json).is_err() {
            return Err(TransportError::WebSocket(
                "an envelope must be UTF-8 to be sent as text".into(),
            ));
        }
        Ok(Self { rest: json, first: true })
    }

    /// True when the envelope travels as one unfragmented message.
    pub(crate) fn single(&self) -> bool {
        self.first && self.rest.len() <= FRAGMENT_SIZE
    }
}

impl Iterator for EnvelopeMessages {
    type Item = WsMessage;

    fn next(&mut self) -> Option<WsMessage> {
        if self.single() {
            let json = std::mem::take(&mut self.rest);
            self.first = false;
            // invariant: checked to be UTF-8 in `new`.
            return Utf8Bytes::try_from(json).ok().map(WsMessage::Text);
        }
        if self.rest.is_empty() {
            return None;
        }
        let chunk = self.rest.split_to(FRAGMENT_SIZE.min(self.rest.len()));
        let opcode =
            if self.first { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
        self.first = false;
        Some(WsMessage::Frame(Frame::message(chunk, opcode, self.rest.is_empty())))
    }
}

/// The envelope in a received WebSocket payload; `None` for an empty or whitespace-only one.
///
/// `text` is the payload of a text frame (tungstenite checked it is UTF-8), so its strings are
/// not checked again; binary frames are read as bytes.
pub(crate) fn envelope_from_payload(
    payload: &[u8],
    text: Option<&str>,
) -> TransportResult<Option<Envelope>> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match text {
        Some(text) => text.parse(),
        None => Envelope::from_slice(payload),
    }
    .map(Some)
    .map_err(|error| TransportError::Frame(FrameError::Invalid { offset: 0, error }))
}

/// [`envelope_from_payload`] for forwarding: a message read only as far as routing needs (see
/// [`Received`](crate::envelope::Received)).
#[cfg(feature = "websocket")]
pub(crate) fn routable_from_payload(
    payload: &Bytes,
    text: Option<&str>,
) -> TransportResult<Option<crate::envelope::Received>> {
    use crate::envelope::Received;
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match text {
        Some(text) => Received::from_text(payload.clone(), text),
        None => Received::from_bytes(payload.clone()),
    }
    .map(Some)
    .map_err(|error| TransportError::Frame(FrameError::Invalid { offset: 0, error }))
}

/// Where a `ws://` or `wss://` URI leads: the upgrade request (with the `lime` sub-protocol),
/// whether it is secure, the host and the port.
pub(crate) fn client_request(uri: &str) -> TransportResult<(Request, bool, String, u16)> {
    let invalid = || TransportError::InvalidUri(uri.to_owned());
    let secure = if uri.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("wss://")) {
        true
    } else if uri.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("ws://")) {
        false
    } else {
        return Err(invalid());
    };
    let (host, port, _path) =
        if secure { host_port(uri, 6, WSS_PORT) } else { host_port(uri, 5, WS_PORT) }
            .ok_or_else(invalid)?;
    let mut request = uri.into_client_request().map_err(|_| invalid())?;
    request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
    Ok((request, secure, host, port))
}

/// Envelopes above this size are sent as several WebSocket frames.
pub(crate) const FRAGMENT_SIZE: usize = 64 * 1024;
