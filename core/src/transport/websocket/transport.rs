//! [`WebSocketTransport`]: one WebSocket connection (client or server side) as a LIME
//! [`Transport`], and the halves it splits into.

use std::{
    fmt,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU16, Ordering},
        Arc,
    },
};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{
    stream::{SplitSink, SplitStream},
    Sink, SinkExt, Stream, StreamExt,
};
use tokio_tungstenite::{
    tungstenite::{
        error::ProtocolError,
        protocol::{frame::coding::CloseCode, CloseFrame},
        Error as WsError, Message as WsMessage, Utf8Bytes,
    },
    WebSocketStream,
};

use super::framing::{
    envelope_from_payload, routable_from_payload, ws_error, EnvelopeMessages, FRAGMENT_SIZE,
};
use crate::{
    transport::{
        check_size, MaybeTlsStream, Received, Transport, TransportReceiver, TransportResult,
        TransportSender,
    },
    Envelope, SessionEncryption, TransportError,
};

pub(super) type Ws = WebSocketStream<MaybeTlsStream>;

async fn send_text<S>(sink: &mut S, closed: bool, max: usize, json: Bytes) -> TransportResult<()>
where
    S: Sink<WsMessage, Error = WsError> + Unpin + Send,
{
    check_size(&json, max)?;
    if closed {
        return Err(TransportError::Closed);
    }
    let mut messages = EnvelopeMessages::new(json)?;
    if messages.single() {
        if let Some(message) = messages.next() {
            return sink.send(message).await.map_err(|e| ws_error(e, max));
        }
    }
    for message in messages {
        sink.feed(message).await.map_err(|e| ws_error(e, max))?;
    }
    sink.flush().await.map_err(|e| ws_error(e, max))
}

/// The close code our closing frame carries (RFC 6455 §7.4.1): `1000` unless receiving failed,
/// then `1002` for a protocol error, `1007` for a payload that is not UTF-8 text or not an
/// envelope, `1009` for a message over the size limit. Shared by both halves of a split
/// connection: the receiving half records it, the sending half closes with it.
#[derive(Clone, Debug, Default)]
struct CloseReason(Arc<AtomicU16>);

impl CloseReason {
    /// Records the code for a receive error (the first one wins).
    fn record(&self, error: &WsError) {
        let code = match error {
            WsError::Protocol(_) => CloseCode::Protocol,
            WsError::Utf8(_) => CloseCode::Invalid,
            WsError::Capacity(_) => CloseCode::Size,
            _ => return,
        };
        self.set(code);
    }

    fn set(&self, code: CloseCode) {
        let _ = self.0.compare_exchange(0, code.into(), Ordering::Relaxed, Ordering::Relaxed);
    }

    fn code(&self) -> CloseCode {
        match self.0.load(Ordering::Relaxed) {
            0 => CloseCode::Normal,
            code => CloseCode::from(code),
        }
    }
}

/// The next envelope of `stream`, read from its payload by `parse` (`Ok(None)`: a payload
/// that holds no envelope, skipped).
async fn receive_from<S, T>(
    stream: &mut S,
    done: &mut bool,
    max: usize,
    mut last: Option<&mut Option<Bytes>>,
    close: &CloseReason,
    parse: fn(&Bytes, Option<&str>) -> TransportResult<Option<T>>,
) -> TransportResult<Option<T>>
where
    S: Stream<Item = Result<WsMessage, WsError>> + Unpin + Send,
{
    if *done {
        return Ok(None);
    }
    loop {
        let (payload, text) = match stream.next().await {
            None => {
                *done = true;
                return Ok(None);
            }
            Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                // The peer ended the stream without a close frame: still the end of the stream.
                *done = true;
                return Ok(None);
            }
            Some(Err(e)) => {
                *done = true;
                close.record(&e);
                return Err(ws_error(e, max));
            }
            // The text stays beside its bytes (a shared reference, no copy) so that it is not
            // checked for UTF-8 twice.
            Some(Ok(WsMessage::Text(text))) => (Bytes::from(text.clone()), Some(text)),
            Some(Ok(WsMessage::Binary(bytes))) => (bytes, None),
            Some(Ok(WsMessage::Close(frame))) => {
                tracing::debug!(?frame, "WebSocket closed by the peer");
                *done = true;
                return Ok(None);
            }
            // tungstenite answers pings itself; pongs and raw frames carry no envelope.
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => continue,
        };
        let parsed = parse(&payload, text.as_ref().map(|t| t.as_str()));
        if parsed.is_err() {
            close.set(CloseCode::Invalid);
        }
        match parsed? {
            Some(envelope) => {
                if let Some(last) = last.as_deref_mut() {
                    *last = Some(payload);
                }
                return Ok(Some(envelope));
            }
            None => continue,
        }
    }
}

async fn close_sink<S>(sink: &mut S, code: CloseCode)
where
    S: Sink<WsMessage, Error = WsError> + Unpin + Send,
{
    let frame = CloseFrame { code, reason: Utf8Bytes::from_static("") };
    if let Err(e) = sink.send(WsMessage::Close(Some(frame))).await {
        // The peer closed first (its close frame is answered below) or the connection is gone.
        tracing::debug!(error = %e, "WebSocket close frame not sent");
    }
    // Writes a pending reply to the peer's close frame and completes the closing handshake on
    // our side; errors only mean that the connection is already gone.
    if let Err(e) = sink.close().await {
        tracing::debug!(error = %e, "WebSocket close");
    }
}

/// A LIME transport over one WebSocket connection, client or server side.
pub struct WebSocketTransport {
    ws: Ws,
    max: usize,
    closed: bool,
    done: bool,
    tls: bool,
    peer_names: Vec<String>,
    remote: Option<String>,
    subprotocol: Option<String>,
    close_reason: CloseReason,
}

impl fmt::Debug for WebSocketTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketTransport")
            .field("remote", &self.remote)
            .field("tls", &self.tls)
            .field("subprotocol", &self.subprotocol)
            .field("max_envelope_size", &self.max)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl WebSocketTransport {
    pub(super) fn new(
        ws: Ws,
        max: usize,
        remote: Option<SocketAddr>,
        subprotocol: Option<String>,
    ) -> Self {
        let stream = ws.get_ref();
        Self {
            tls: stream.is_tls(),
            peer_names: stream.peer_certificate_names(),
            ws,
            max,
            closed: false,
            done: false,
            remote: remote.map(|a| a.to_string()),
            subprotocol,
            close_reason: CloseReason::default(),
        }
    }

    /// The sub-protocol agreed in the handshake (`Some("lime")`, or `None` when the client
    /// offered none).
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }
}

#[async_trait]
impl Transport for WebSocketTransport {
    fn subprotocol(&self) -> Option<String> {
        self.subprotocol.clone()
    }

    async fn send_bytes(&mut self, json: Bytes) -> TransportResult<()> {
        send_text(&mut self.ws, self.closed, self.max, json).await
    }

    async fn receive(&mut self) -> TransportResult<Option<Envelope>> {
        let received = receive_from(
            &mut self.ws,
            &mut self.done,
            self.max,
            None,
            &self.close_reason,
            envelope_payload,
        )
        .await;
        if matches!(received, Ok(None)) && !self.closed {
            // Sends the reply to the peer's close frame now rather than at close().
            let _ = self.ws.flush().await;
        }
        received
    }

    async fn close(&mut self) -> TransportResult<()> {
        if !self.closed {
            self.closed = true;
            close_sink(&mut self.ws, self.close_reason.code()).await;
        }
        Ok(())
    }

    fn supported_encryption(&self) -> Vec<SessionEncryption> {
        vec![self.encryption()]
    }

    fn encryption(&self) -> SessionEncryption {
        if self.tls {
            SessionEncryption::Tls
        } else {
            SessionEncryption::None
        }
    }

    async fn set_encryption(&mut self, encryption: SessionEncryption) -> TransportResult<()> {
        // The encryption of a WebSocket is fixed by its scheme (`ws://` or `wss://`).
        if encryption == self.encryption() {
            Ok(())
        } else {
            Err(TransportError::Unsupported(format!("encryption {encryption} on this WebSocket")))
        }
    }

    fn peer_certificate_names(&self) -> Vec<String> {
        self.peer_names.clone()
    }

    fn remote_addr(&self) -> Option<String> {
        self.remote.clone()
    }

    fn split(self: Box<Self>) -> (Box<dyn TransportSender>, Box<dyn TransportReceiver>) {
        let me = *self;
        let (sink, stream) = StreamExt::split(me.ws);
        (
            Box::new(WebSocketSender {
                sink,
                max: me.max,
                closed: me.closed,
                close_reason: me.close_reason.clone(),
            }),
            Box::new(WebSocketReceiver {
                stream,
                max: me.max,
                done: me.done,
                last: None,
                close_reason: me.close_reason,
            }),
        )
    }
}

struct WebSocketSender {
    sink: SplitSink<Ws, WsMessage>,
    max: usize,
    closed: bool,
    close_reason: CloseReason,
}

#[async_trait]
impl TransportSender for WebSocketSender {
    async fn send_bytes(&mut self, json: Bytes) -> TransportResult<()> {
        send_text(&mut self.sink, self.closed, self.max, json).await
    }

    async fn send_many(&mut self, batch: &mut Vec<Bytes>) -> TransportResult<()> {
        if self.closed {
            batch.clear();
            return Err(TransportError::Closed);
        }
        let mut result = Ok(());
        for json in batch.drain(..) {
            if let Err(e) = check_size(&json, self.max) {
                result = Err(e);
                continue;
            }
            if json.len() > FRAGMENT_SIZE {
                send_text(&mut self.sink, self.closed, self.max, json).await?;
                continue;
            }
            let text = Utf8Bytes::try_from(json).map_err(|e| {
                TransportError::WebSocket(format!(
                    "an envelope must be UTF-8 to be sent as text: {e}"
                ))
            })?;
            self.sink.feed(WsMessage::Text(text)).await.map_err(|e| ws_error(e, self.max))?;
        }
        self.sink.flush().await.map_err(|e| ws_error(e, self.max))?;
        result
    }

    async fn close(&mut self) -> TransportResult<()> {
        if !self.closed {
            self.closed = true;
            close_sink(&mut self.sink, self.close_reason.code()).await;
        }
        Ok(())
    }
}

struct WebSocketReceiver {
    stream: SplitStream<Ws>,
    max: usize,
    done: bool,
    last: Option<Bytes>,
    close_reason: CloseReason,
}

#[async_trait]
impl TransportReceiver for WebSocketReceiver {
    async fn receive(&mut self) -> TransportResult<Option<Envelope>> {
        self.last = None;
        receive_from(
            &mut self.stream,
            &mut self.done,
            self.max,
            Some(&mut self.last),
            &self.close_reason,
            envelope_payload,
        )
        .await
    }

    fn take_received_bytes(&mut self) -> Option<Bytes> {
        self.last.take()
    }

    async fn receive_routable(&mut self) -> TransportResult<Option<Received>> {
        self.last = None;
        let received = receive_from(
            &mut self.stream,
            &mut self.done,
            self.max,
            Some(&mut self.last),
            &self.close_reason,
            routable_from_payload,
        )
        .await;
        if matches!(received, Ok(Some(Received::Message(_)))) {
            // A routable message carries its own bytes.
            self.last = None;
        }
        received
    }
}

fn envelope_payload(payload: &Bytes, text: Option<&str>) -> TransportResult<Option<Envelope>> {
    envelope_from_payload(payload, text)
}
