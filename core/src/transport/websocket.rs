//! WebSocket transport (`ws://` and `wss://`), as in `Lime.Transport.WebSocket`.
//!
//! One envelope travels as one WebSocket message of UTF-8 JSON, sent as a Text message; Text and
//! Binary messages are both accepted on receipt, and empty or whitespace-only messages are
//! skipped. Clients request the sub-protocol `lime`; servers answer it when offered and also
//! accept clients that offer none (lime-dart sends none). There is no LIME-level negotiation on
//! WebSocket: TLS, if any, is the `wss://` layer, and [`Transport::encryption`] reports it.
//!
//! A message larger than [`TransportOptions::max_envelope_size`] is refused on receipt with
//! [`FrameError::TooLarge`]; buffers are kept small (4 KiB read buffer, writes go straight to
//! the socket) so that many idle connections cost little memory.
//!
//! ```no_run
//! use lime::transport::{
//!     tls::ClientTlsConfig, websocket::WebSocketTransport, Transport, TransportOptions,
//! };
//! use lime::{Session, SessionState};
//!
//! # async fn demo() -> Result<(), lime::TransportError> {
//! let tls = ClientTlsConfig::default();
//! let mut transport =
//!     WebSocketTransport::connect("wss://lime.example.com", &tls, TransportOptions::default())
//!         .await?;
//! transport.send(&Session::new(SessionState::New).into()).await?;
//! while let Some(envelope) = transport.receive().await? {
//!     println!("{}", envelope.to_json());
//! }
//! transport.close().await?;
//! # Ok(())
//! # }
//! ```

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
use rustls_pki_types::ServerName;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::{
    accept_hdr_async_with_config, client_async_with_config,
    tungstenite::{
        client::IntoClientRequest,
        error::{CapacityError, ProtocolError},
        handshake::server::{ErrorResponse, Request, Response},
        http::{header::SEC_WEBSOCKET_PROTOCOL, HeaderValue},
        protocol::{
            frame::{
                coding::{CloseCode, Data, OpCode},
                Frame,
            },
            CloseFrame, Role, WebSocketConfig,
        },
        Error as WsError, Message as WsMessage, Utf8Bytes,
    },
    WebSocketStream,
};

use super::{
    check_size,
    stream::host_port,
    tls::{ClientTlsConfig, ServerTlsConfig},
    MaybeTlsStream, Transport, TransportOptions, TransportReceiver, TransportResult,
    TransportSender,
};
use crate::{Envelope, FrameError, SessionEncryption, TransportError};

/// The WebSocket sub-protocol of LIME.
pub const SUBPROTOCOL: &str = "lime";

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

type Ws = WebSocketStream<MaybeTlsStream>;

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

/// True when the request offers the `lime` sub-protocol (the header may be repeated and holds
/// a comma-separated list).
fn offers_lime(request: &Request) -> bool {
    request
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|protocol| protocol.trim() == SUBPROTOCOL)
}

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
pub(crate) fn envelope_from_payload(payload: &[u8]) -> TransportResult<Option<Envelope>> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    Envelope::from_slice(payload)
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

async fn receive_from<S>(
    stream: &mut S,
    done: &mut bool,
    max: usize,
    mut last: Option<&mut Option<Bytes>>,
    close: &CloseReason,
) -> TransportResult<Option<Envelope>>
where
    S: Stream<Item = Result<WsMessage, WsError>> + Unpin + Send,
{
    if *done {
        return Ok(None);
    }
    loop {
        let payload = match stream.next().await {
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
            Some(Ok(WsMessage::Text(text))) => Bytes::from(text),
            Some(Ok(WsMessage::Binary(bytes))) => bytes,
            Some(Ok(WsMessage::Close(frame))) => {
                tracing::debug!(?frame, "WebSocket closed by the peer");
                *done = true;
                return Ok(None);
            }
            // tungstenite answers pings itself; pongs and raw frames carry no envelope.
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => continue,
        };
        let parsed = envelope_from_payload(&payload);
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
    fn new(ws: Ws, max: usize, remote: Option<SocketAddr>, subprotocol: Option<String>) -> Self {
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

    /// Opens a client connection to `ws://host[:port][/path]` (default port 80) or
    /// `wss://host[:port][/path]` (default port 443, TLS with `tls`, the host being the server
    /// name to verify; IP addresses work too). The `lime` sub-protocol is requested.
    ///
    /// Fails with [`TransportError::InvalidUri`] for another scheme or a malformed authority,
    /// [`TransportError::Io`] when the TCP connection fails, [`TransportError::Tls`] when the
    /// TLS handshake fails (e.g. an untrusted certificate) and [`TransportError::WebSocket`] when
    /// the server refuses the WebSocket handshake.
    pub async fn connect(
        uri: &str,
        tls: &ClientTlsConfig,
        options: TransportOptions,
    ) -> TransportResult<Self> {
        let (request, secure, host, port) = client_request(uri)?;

        let tcp = connect_tcp(&host, port).await?;
        let remote = tcp.peer_addr().ok();
        let _ = tcp.set_nodelay(true);
        let stream = if secure {
            let name = ServerName::try_from(host.clone()).map_err(|e| {
                TransportError::Tls(format!("invalid TLS server name {host:?}: {e}"))
            })?;
            let tls_stream =
                TlsConnector::from(tls.rustls()).connect(name, tcp).await.map_err(|e| {
                    TransportError::Tls(format!("TLS handshake with {host}:{port} failed: {e}"))
                })?;
            MaybeTlsStream::ClientTls(Box::new(tls_stream))
        } else {
            MaybeTlsStream::Plain(tcp)
        };

        let config = ws_config(options.max_envelope_size);
        let (ws, response) = client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| handshake_error(e, uri))?;
        let subprotocol = response
            .headers()
            .get(SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned());
        tracing::debug!(%uri, ?subprotocol, "WebSocket connected");
        Ok(Self::new(ws, options.max_envelope_size, remote, subprotocol))
    }

    /// Runs the server side of a new connection: the TLS handshake when `tls` is given, then the
    /// WebSocket handshake. The `lime` sub-protocol is answered when the client offers it;
    /// clients offering none (or only others) are accepted without one.
    ///
    /// An HTTP request that is not a WebSocket upgrade is answered `400 Bad Request` and fails
    /// with [`TransportError::WebSocket`]. Run this in the connection's own task (with a
    /// timeout): a slow client must not hold up the accept loop.
    pub async fn accept(
        stream: TcpStream,
        tls: Option<&ServerTlsConfig>,
        options: TransportOptions,
    ) -> TransportResult<Self> {
        let remote = stream.peer_addr().ok();
        let peer = remote.map_or_else(|| "the client".to_owned(), |a| a.to_string());
        let _ = stream.set_nodelay(true);
        let mut stream = match tls {
            None => MaybeTlsStream::Plain(stream),
            Some(tls) => {
                let tls_stream =
                    TlsAcceptor::from(tls.rustls()).accept(stream).await.map_err(|e| {
                        TransportError::Tls(format!("TLS handshake with {peer} failed: {e}"))
                    })?;
                MaybeTlsStream::ServerTls(Box::new(tls_stream))
            }
        };

        // The handshake runs on a borrowed stream so that a request which is not a WebSocket
        // upgrade can still be answered 400 (tungstenite just drops it). A client must wait for
        // the response before sending frames, so no data is left behind in the handshake.
        let config = ws_config(options.max_envelope_size);
        let mut lime = false;
        // The signature is tungstenite's `Callback`.
        #[allow(clippy::result_large_err)]
        let callback =
            |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
                if offers_lime(request) {
                    response
                        .headers_mut()
                        .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
                    lime = true;
                }
                Ok(response)
            };
        let handshake = accept_hdr_async_with_config(&mut stream, callback, Some(config)).await;
        if let Err(error) = handshake {
            if matches!(
                error,
                WsError::Protocol(_)
                    | WsError::HttpFormat(_)
                    | WsError::Capacity(_)
                    | WsError::Utf8(_)
            ) {
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                    .await;
                let _ = stream.shutdown().await;
            }
            return Err(handshake_error(error, &peer));
        }
        stream.flush().await.map_err(|e| {
            TransportError::Io(format!("WebSocket handshake with {peer} failed: {e}"))
        })?;
        let ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
        let subprotocol = lime.then(|| SUBPROTOCOL.to_owned());
        tracing::debug!(%peer, ?subprotocol, "WebSocket accepted");
        Ok(Self::new(ws, options.max_envelope_size, remote, subprotocol))
    }

    /// The sub-protocol agreed in the handshake (`Some("lime")`, or `None` when the client
    /// offered none).
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }
}

/// Connects to the first address of `host` that accepts.
async fn connect_tcp(host: &str, port: u16) -> TransportResult<TcpStream> {
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| TransportError::Io(format!("cannot resolve {host}: {e}")))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(TransportError::Io(match last {
        Some(e) => format!("cannot connect to {host}:{port}: {e}"),
        None => format!("cannot connect to {host}:{port}: no address found"),
    }))
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
        let received =
            receive_from(&mut self.ws, &mut self.done, self.max, None, &self.close_reason).await;
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
        )
        .await
    }

    fn take_received_bytes(&mut self) -> Option<Bytes> {
        self.last.take()
    }
}

/// A TCP listener for WebSocket (`ws://` or, with TLS, `wss://`) clients.
///
/// [`accept`](Self::accept) only accepts the TCP connection; run
/// [`WebSocketTransport::accept`] with [`tls`](Self::tls) and [`options`](Self::options) in the
/// connection's own task so that a slow handshake never blocks the accept loop.
#[derive(Debug)]
pub struct WebSocketListener {
    listener: TcpListener,
    tls: Option<ServerTlsConfig>,
    options: TransportOptions,
}

impl WebSocketListener {
    /// Binds `addr` (`host:port`; port 0 picks a free one). With `tls`, connections are
    /// `wss://`.
    pub async fn bind(
        addr: &str,
        tls: Option<ServerTlsConfig>,
        options: TransportOptions,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, tls, options })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Waits for the next TCP connection; hand it to [`WebSocketTransport::accept`].
    pub async fn accept(&self) -> std::io::Result<(TcpStream, SocketAddr)> {
        self.listener.accept().await
    }

    /// The TLS settings of the connections (`None` for plain `ws://`).
    pub fn tls(&self) -> Option<&ServerTlsConfig> {
        self.tls.as_ref()
    }

    /// The transport options of the connections.
    pub fn options(&self) -> &TransportOptions {
        &self.options
    }
}

#[cfg(test)]
mod fragment_tests {
    use super::*;
    use crate::Message;

    #[tokio::test]
    async fn large_envelopes_are_fragmented_and_reassembled() {
        let listener = WebSocketListener::bind("127.0.0.1:0", None, TransportOptions::default())
            .await
            .unwrap();
        let uri = format!("ws://{}", listener.local_addr().unwrap());
        let server = async {
            let (stream, _) = listener.accept().await.unwrap();
            WebSocketTransport::accept(stream, None, TransportOptions::default()).await.unwrap()
        };
        let tls = ClientTlsConfig::default();
        let (mut server, client) = tokio::join!(
            server,
            WebSocketTransport::connect(&uri, &tls, TransportOptions::default())
        );
        let mut client = client.unwrap();
        let big: Envelope = Message::text("é".repeat(300_000)).into();
        client.send(&big).await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), server.receive())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, Some(big));
    }
}

#[cfg(test)]
mod tests {
    use std::{future::Future, time::Duration};

    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::{Message, Session, SessionState};

    const LIMIT: Duration = Duration::from_secs(10);

    async fn bounded<F: Future>(f: F) -> F::Output {
        tokio::time::timeout(LIMIT, f).await.expect("test timed out")
    }

    fn options(max: usize) -> TransportOptions {
        TransportOptions { max_envelope_size: max, ..TransportOptions::default() }
    }

    /// A listener on 127.0.0.1 and its `ws://` URI.
    async fn listener(
        tls: Option<ServerTlsConfig>,
        opts: TransportOptions,
    ) -> (WebSocketListener, u16) {
        let listener = WebSocketListener::bind("127.0.0.1:0", tls, opts).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    /// Accepts one connection on `listener` in a task.
    fn serve_one(
        listener: WebSocketListener,
    ) -> tokio::task::JoinHandle<TransportResult<WebSocketTransport>> {
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            WebSocketTransport::accept(tcp, listener.tls(), listener.options().clone()).await
        })
    }

    /// A connected (client, server) pair over plain `ws://`.
    async fn pair(
        client: TransportOptions,
        server: TransportOptions,
    ) -> (WebSocketTransport, WebSocketTransport) {
        let (listener, port) = listener(None, server).await;
        let server = serve_one(listener);
        let uri = format!("ws://127.0.0.1:{port}/lime");
        let client =
            WebSocketTransport::connect(&uri, &ClientTlsConfig::default(), client).await.unwrap();
        (client, server.await.unwrap().unwrap())
    }

    /// A raw tokio-tungstenite client on `port`, offering `protocols` (if any).
    async fn raw_client(
        port: u16,
        protocols: Option<&'static str>,
    ) -> (WebSocketStream<TcpStream>, tokio_tungstenite::tungstenite::handshake::client::Response)
    {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut request = format!("ws://127.0.0.1:{port}/").into_client_request().unwrap();
        if let Some(p) = protocols {
            request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        tokio_tungstenite::client_async(request, tcp).await.unwrap()
    }

    fn text(s: impl Into<String>) -> Envelope {
        Message::text(s).into()
    }

    #[tokio::test]
    async fn envelopes_cross_both_ways_with_the_lime_subprotocol() {
        bounded(async {
            let (mut client, mut server) =
                pair(TransportOptions::default(), TransportOptions::default()).await;
            assert_eq!(server.subprotocol(), Some("lime"));
            assert_eq!(client.subprotocol(), Some("lime"));
            assert_eq!(client.encryption(), SessionEncryption::None);
            assert_eq!(server.encryption(), SessionEncryption::None);
            assert!(client.remote_addr().unwrap().starts_with("127.0.0.1:"));
            assert!(server.remote_addr().unwrap().starts_with("127.0.0.1:"));
            assert!(server.peer_certificate_names().is_empty());

            let new: Envelope = Session::new(SessionState::New).into();
            client.send(&new).await.unwrap();
            assert_eq!(server.receive().await.unwrap(), Some(new));
            let reply = text("hello, client");
            server.send(&reply).await.unwrap();
            assert_eq!(client.receive().await.unwrap(), Some(reply));
            let unicode = text("olá, 世界 🚀");
            client.send(&unicode).await.unwrap();
            assert_eq!(server.receive().await.unwrap(), Some(unicode));
        })
        .await;
    }

    #[tokio::test]
    async fn client_without_subprotocol_is_accepted() {
        bounded(async {
            let (listener, port) = listener(None, TransportOptions::default()).await;
            let server = serve_one(listener);
            let (mut raw, response) = raw_client(port, None).await;
            assert!(response.headers().get(SEC_WEBSOCKET_PROTOCOL).is_none());
            let mut server = server.await.unwrap().unwrap();
            assert_eq!(server.subprotocol(), None);

            let hello = text("from dart");
            raw.send(WsMessage::text(hello.to_json())).await.unwrap();
            assert_eq!(server.receive().await.unwrap(), Some(hello));
            let reply = text("to dart");
            server.send(&reply).await.unwrap();
            match raw.next().await.unwrap().unwrap() {
                WsMessage::Text(t) => {
                    assert_eq!(Envelope::from_slice(t.as_bytes()).unwrap(), reply)
                }
                other => panic!("expected a text message, got {other:?}"),
            }
            server.close().await.unwrap();
            match raw.next().await.unwrap().unwrap() {
                WsMessage::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
                other => panic!("expected a close frame, got {other:?}"),
            }
        })
        .await;
    }

    #[tokio::test]
    async fn lime_is_picked_among_offered_subprotocols() {
        bounded(async {
            let (listener, port) = listener(None, TransportOptions::default()).await;
            let server = serve_one(listener);
            let (_raw, response) = raw_client(port, Some("chat, lime")).await;
            assert_eq!(response.headers().get(SEC_WEBSOCKET_PROTOCOL).unwrap(), "lime");
            assert_eq!(server.await.unwrap().unwrap().subprotocol(), Some("lime"));
        })
        .await;
    }

    #[tokio::test]
    async fn other_subprotocols_get_no_answer() {
        bounded(async {
            let (listener, port) = listener(None, TransportOptions::default()).await;
            let server = serve_one(listener);
            let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            tcp.write_all(
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                  Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Protocol: chat\r\n\r\n",
            )
            .await
            .unwrap();
            let server = server.await.unwrap().unwrap();
            assert_eq!(server.subprotocol(), None);
            let mut head = vec![0; 1024];
            let n = tcp.read(&mut head).await.unwrap();
            let head = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 101"), "{head}");
            assert!(!head.contains("sec-websocket-protocol"), "{head}");
        })
        .await;
    }

    #[tokio::test]
    async fn plain_http_request_is_refused_with_400() {
        bounded(async {
            let (listener, port) = listener(None, TransportOptions::default()).await;
            let server = serve_one(listener);
            let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            tcp.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
            let err = server.await.unwrap().unwrap_err();
            assert!(matches!(err, TransportError::WebSocket(_)), "{err:?}");
            let mut response = String::new();
            tcp.read_to_string(&mut response).await.unwrap();
            assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        })
        .await;
    }

    /// A listener for `localhost` with a fresh self-signed certificate, and that certificate.
    async fn tls_listener() -> (WebSocketListener, u16, String) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = ck.cert.pem();
        let key = ck.signing_key.serialize_pem();
        let tls = ServerTlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        // Bind where `localhost` leads, preferring IPv4, so the client finds the listener.
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host(("localhost", 0)).await.unwrap().collect();
        let addr = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied().unwrap();
        let listener =
            WebSocketListener::bind(&addr.to_string(), Some(tls), TransportOptions::default())
                .await
                .unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port, cert)
    }

    #[tokio::test]
    async fn wss_with_a_trusted_certificate() {
        bounded(async {
            let (listener, port, cert) = tls_listener().await;
            let server = serve_one(listener);
            let tls = ClientTlsConfig::builder()
                .without_default_roots()
                .add_roots_pem(cert.as_bytes())
                .unwrap()
                .build()
                .unwrap();
            let uri = format!("wss://localhost:{port}");
            let mut client =
                WebSocketTransport::connect(&uri, &tls, TransportOptions::default()).await.unwrap();
            let mut server = server.await.unwrap().unwrap();

            assert_eq!(client.encryption(), SessionEncryption::Tls);
            assert_eq!(server.encryption(), SessionEncryption::Tls);
            assert_eq!(client.supported_encryption(), vec![SessionEncryption::Tls]);
            client.set_encryption(SessionEncryption::Tls).await.unwrap();
            assert!(client.set_encryption(SessionEncryption::None).await.is_err());
            assert!(client.peer_certificate_names().contains(&"localhost".to_owned()));
            assert!(server.peer_certificate_names().is_empty());
            assert_eq!(server.subprotocol(), Some("lime"));

            let new: Envelope = Session::new(SessionState::New).into();
            client.send(&new).await.unwrap();
            assert_eq!(server.receive().await.unwrap(), Some(new));
            let reply = text("secret");
            server.send(&reply).await.unwrap();
            assert_eq!(client.receive().await.unwrap(), Some(reply));
            client.close().await.unwrap();
            assert_eq!(server.receive().await.unwrap(), None);
        })
        .await;
    }

    #[tokio::test]
    async fn wss_with_an_untrusted_certificate_is_a_tls_error() {
        bounded(async {
            let (listener, port, _cert) = tls_listener().await;
            let server = serve_one(listener);
            let uri = format!("wss://localhost:{port}");
            let err = WebSocketTransport::connect(
                &uri,
                &ClientTlsConfig::default(),
                TransportOptions::default(),
            )
            .await
            .unwrap_err();
            assert!(matches!(err, TransportError::Tls(_)), "{err:?}");
            assert!(matches!(server.await.unwrap(), Err(TransportError::Tls(_))));
        })
        .await;
    }

    #[tokio::test]
    async fn oversize_incoming_message_is_too_large() {
        bounded(async {
            let (listener, port) = listener(None, options(1024)).await;
            let server = serve_one(listener);
            let (mut raw, _) = raw_client(port, Some("lime")).await;
            let mut server = server.await.unwrap().unwrap();
            let big = text("x".repeat(4096)).to_json();
            raw.send(WsMessage::text(big)).await.unwrap();
            let err = server.receive().await.unwrap_err();
            assert_eq!(err, TransportError::Frame(FrameError::TooLarge { offset: 0, limit: 1024 }));
        })
        .await;
    }

    #[tokio::test]
    async fn oversize_envelope_is_not_sent_and_the_transport_still_works() {
        bounded(async {
            let (mut client, mut server) = pair(options(1024), TransportOptions::default()).await;
            let big = text("x".repeat(4096));
            let err = client.send(&big).await.unwrap_err();
            assert!(matches!(err, TransportError::EnvelopeTooLarge { limit: 1024, .. }), "{err:?}");
            let small = text("small");
            client.send(&small).await.unwrap();
            assert_eq!(server.receive().await.unwrap(), Some(small));
        })
        .await;
    }

    #[tokio::test]
    async fn non_utf8_payload_is_refused_and_the_transport_still_works() {
        bounded(async {
            let (mut client, mut server) =
                pair(TransportOptions::default(), TransportOptions::default()).await;
            let err = client.send_bytes(Bytes::from_static(b"{\"x\":\"\xff\"}")).await.unwrap_err();
            assert!(matches!(err, TransportError::WebSocket(_)), "{err:?}");
            let ok = text("ok");
            client.send(&ok).await.unwrap();
            assert_eq!(server.receive().await.unwrap(), Some(ok));
        })
        .await;
    }

    #[tokio::test]
    async fn close_is_seen_by_the_peer_and_is_idempotent() {
        bounded(async {
            let (mut client, mut server) =
                pair(TransportOptions::default(), TransportOptions::default()).await;
            client.close().await.unwrap();
            client.close().await.unwrap();
            assert_eq!(server.receive().await.unwrap(), None);
            assert_eq!(server.receive().await.unwrap(), None);
            server.close().await.unwrap();
            assert_eq!(client.receive().await.unwrap(), None);
            assert_eq!(client.send(&text("late")).await.unwrap_err(), TransportError::Closed);

            // And from the server side.
            let (mut client, mut server) =
                pair(TransportOptions::default(), TransportOptions::default()).await;
            server.close().await.unwrap();
            assert_eq!(client.receive().await.unwrap(), None);
        })
        .await;
    }

    #[tokio::test]
    async fn dropped_connection_ends_the_stream() {
        bounded(async {
            let (client, mut server) =
                pair(TransportOptions::default(), TransportOptions::default()).await;
            drop(client);
            assert_eq!(server.receive().await.unwrap(), None);
        })
        .await;
    }

    #[tokio::test]
    async fn split_halves_work_concurrently() {
        bounded(async {
            const N: usize = 200;
            let (client, server) =
                pair(TransportOptions::default(), TransportOptions::default()).await;
            let (mut client_tx, mut client_rx) = (Box::new(client) as Box<dyn Transport>).split();
            let (mut server_tx, mut server_rx) = (Box::new(server) as Box<dyn Transport>).split();

            let client_send = tokio::spawn(async move {
                for i in 0..N {
                    client_tx.send(&text(format!("c{i}"))).await.unwrap();
                }
                client_tx
            });
            let server_send = tokio::spawn(async move {
                for i in 0..N {
                    server_tx.send(&text(format!("s{i}"))).await.unwrap();
                }
                server_tx
            });
            let server_receive = tokio::spawn(async move {
                for i in 0..N {
                    assert_eq!(server_rx.receive().await.unwrap(), Some(text(format!("c{i}"))));
                }
                server_rx
            });
            for i in 0..N {
                assert_eq!(client_rx.receive().await.unwrap(), Some(text(format!("s{i}"))));
            }
            let mut client_tx = client_send.await.unwrap();
            let _server_tx = server_send.await.unwrap();
            let mut server_rx = server_receive.await.unwrap();

            client_tx.close().await.unwrap();
            client_tx.close().await.unwrap();
            assert_eq!(server_rx.receive().await.unwrap(), None);
            assert_eq!(client_tx.send(&text("late")).await.unwrap_err(), TransportError::Closed);
        })
        .await;
    }

    #[tokio::test]
    async fn invalid_json_is_an_invalid_frame() {
        bounded(async {
            let (listener, port) = listener(None, TransportOptions::default()).await;
            let server = serve_one(listener);
            let (mut raw, _) = raw_client(port, Some("lime")).await;
            let mut server = server.await.unwrap().unwrap();
            raw.send(WsMessage::text("{not json")).await.unwrap();
            let err = server.receive().await.unwrap_err();
            assert!(
                matches!(err, TransportError::Frame(FrameError::Invalid { offset: 0, .. })),
                "{err:?}"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn blank_binary_and_control_messages() {
        bounded(async {
            let (listener, port) = listener(None, TransportOptions::default()).await;
            let server = serve_one(listener);
            let (mut raw, _) = raw_client(port, None).await;
            let mut server = server.await.unwrap().unwrap();

            raw.send(WsMessage::text("")).await.unwrap();
            raw.send(WsMessage::text(" \r\n\t ")).await.unwrap();
            raw.send(WsMessage::Ping(Bytes::from_static(b"hi"))).await.unwrap();
            let first = text("after blanks");
            raw.send(WsMessage::text(first.to_json())).await.unwrap();
            let second = text("as binary");
            raw.send(WsMessage::binary(second.to_vec())).await.unwrap();
            assert_eq!(server.receive().await.unwrap(), Some(first));
            assert_eq!(server.receive().await.unwrap(), Some(second));

            // The ping was answered while the server read.
            let reply = text("done");
            server.send(&reply).await.unwrap();
            assert_eq!(
                raw.next().await.unwrap().unwrap(),
                WsMessage::Pong(Bytes::from_static(b"hi"))
            );
            match raw.next().await.unwrap().unwrap() {
                WsMessage::Text(t) => {
                    assert_eq!(Envelope::from_slice(t.as_bytes()).unwrap(), reply)
                }
                other => panic!("expected a text message, got {other:?}"),
            }

            // A close frame from the client ends the stream.
            raw.close(None).await.unwrap();
            assert_eq!(server.receive().await.unwrap(), None);
        })
        .await;
    }

    #[tokio::test]
    async fn invalid_uris_are_refused() {
        bounded(async {
            let tls = ClientTlsConfig::default();
            for uri in [
                "net.tcp://localhost",
                "http://localhost",
                "ws://",
                "wss://",
                "ws://h:notaport",
                "ws:/x",
            ] {
                let err = WebSocketTransport::connect(uri, &tls, TransportOptions::default())
                    .await
                    .unwrap_err();
                assert_eq!(err, TransportError::InvalidUri(uri.to_owned()));
            }
        })
        .await;
    }

    #[tokio::test]
    async fn refused_connection_is_an_io_error() {
        bounded(async {
            let port = {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                listener.local_addr().unwrap().port()
            };
            let uri = format!("ws://127.0.0.1:{port}");
            let err = WebSocketTransport::connect(
                &uri,
                &ClientTlsConfig::default(),
                TransportOptions::default(),
            )
            .await
            .unwrap_err();
            assert!(matches!(err, TransportError::Io(_)), "{err:?}");
        })
        .await;
    }
}
