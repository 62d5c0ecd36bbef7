//! The byte layers of one client connection, without I/O: TLS (rustls' buffer API), gzip
//! (flate2's streaming codecs) and the framing (the brace-counting [`FrameDecoder`] for TCP,
//! tungstenite over in-memory buffers for WebSocket).
//!
//! Bytes from the socket go up through TLS, then gzip, into the framing; envelopes go down the
//! same layers into the connection's output buffer. The TCP in-band switch
//! ([`Wire::switch`]) installs TLS and gzip between two envelopes: what was buffered past the
//! confirmation is handed to the new layers (compressed bytes may follow it at once), except
//! that plaintext left before a TLS handshake is refused, as in the tokio TCP transport.

use std::{
    collections::VecDeque,
    io::{self, Read, Write},
};

use bytes::{Bytes, BytesMut};
use flate2::{
    write::{GzEncoder, MultiGzDecoder},
    Compression,
};
use rustls::ClientConnection as TlsConnection;
use rustls_pki_types::ServerName;
use tokio_tungstenite::tungstenite::{
    client::client_with_config,
    error::ProtocolError,
    handshake::{client::ClientHandshake, HandshakeError, MidHandshake},
    http::header::SEC_WEBSOCKET_PROTOCOL,
    Error as WsError, Message as WsMessage, WebSocket,
};

use crate::{
    codec::FrameDecoder,
    transport::{
        tls::ClientTlsConfig,
        websocket::{
            envelope_from_payload, handshake_error, ws_config, ws_error, EnvelopeMessages,
        },
    },
    Envelope, FrameError, SessionCompression, SessionEncryption, TransportError,
};

/// Largest HTTP response accepted for the WebSocket opening handshake (tungstenite's limit).
const MAX_HANDSHAKE_RESPONSE: usize = 64 * 1024;

/// What the framing has for the connection.
// Returned and matched at once: boxing the envelope would cost an allocation per envelope.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Next {
    /// A received envelope.
    Envelope(Envelope),
    /// Nothing complete yet.
    NeedMore,
    /// The peer ended the stream (EOF, TLS close_notify or a WebSocket close).
    Ended,
}

fn tls_err(e: impl std::fmt::Display) -> TransportError {
    TransportError::Tls(e.to_string())
}

/// rustls driven through `read_tls`/`process_new_packets`/`write_tls`.
struct Tls {
    conn: TlsConnection,
    peer_closed: bool,
}

impl Tls {
    /// Starts a client handshake: the ClientHello is written to `out` at once.
    fn start(
        config: &ClientTlsConfig,
        host: &str,
        out: &mut Vec<u8>,
    ) -> Result<Self, TransportError> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| TransportError::Tls(format!("invalid server name {host:?}: {e}")))?;
        let mut conn = TlsConnection::new(config.rustls(), name).map_err(tls_err)?;
        // The host drains the output; the connection bounds what it queues by envelope size.
        conn.set_buffer_limit(None);
        let mut tls = Self { conn, peer_closed: false };
        tls.flush(out)?;
        Ok(tls)
    }

    /// Moves every pending TLS record to `out`.
    fn flush(&mut self, out: &mut Vec<u8>) -> Result<(), TransportError> {
        while self.conn.wants_write() {
            self.conn.write_tls(out)?;
        }
        Ok(())
    }

    /// Encrypts `data` into `out` (buffered by rustls until the handshake is done).
    fn write(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        self.conn.writer().write_all(data)?;
        self.flush(out)
    }

    /// Decrypts `data` into `plain`; handshake replies and alerts go to `out`.
    fn read(
        &mut self,
        mut data: &[u8],
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        while !data.is_empty() {
            self.conn.read_tls(&mut data)?;
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    // Tell the peer why (the alert is queued), then fail.
                    let _ = self.flush(out);
                    return Err(TransportError::Tls(format!("TLS failure: {e}")));
                }
            };
            let available = state.plaintext_bytes_to_read();
            if available > 0 {
                let start = plain.len();
                plain.resize(start + available, 0);
                self.conn.reader().read_exact(&mut plain[start..])?;
            }
            if state.peer_has_closed() {
                self.peer_closed = true;
            }
        }
        self.flush(out)
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        self.conn.send_close_notify();
        let _ = self.flush(out);
    }
}

/// gzip in both directions, as the tokio TCP transport does it: one gzip stream per direction,
/// sync-flushed after every write so that each envelope can be decoded as soon as it arrives.
struct Gzip {
    encoder: GzEncoder<Vec<u8>>,
    decoder: MultiGzDecoder<Vec<u8>>,
}

impl Gzip {
    fn new() -> Self {
        Self {
            encoder: GzEncoder::new(Vec::new(), Compression::fast()),
            decoder: MultiGzDecoder::new(Vec::new()),
        }
    }

    /// Compresses `data` (sync flush): the bytes to send.
    fn compress(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        self.encoder.write_all(data)?;
        self.encoder.flush()?;
        Ok(std::mem::take(self.encoder.get_mut()))
    }

    /// Decompresses `data`, appending what can be decoded so far to `plain`.
    fn decompress(&mut self, data: &[u8], plain: &mut Vec<u8>) -> io::Result<()> {
        self.decoder.write_all(data)?;
        self.decoder.flush()?;
        plain.append(self.decoder.get_mut());
        Ok(())
    }
}

fn gzip_err(e: &io::Error) -> TransportError {
    TransportError::Io(format!("invalid gzip stream: {e}"))
}

/// tungstenite's byte stream: an inbox the connection fills and an outbox it drains.
/// Reading an empty inbox would block, until the peer's EOF was seen.
#[derive(Debug, Default)]
struct MemIo {
    inbox: VecDeque<u8>,
    outbox: Vec<u8>,
    eof: bool,
}

impl Read for MemIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inbox.is_empty() {
            return if self.eof { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        }
        self.inbox.read(buf)
    }
}

impl Write for MemIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbox.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum WsState {
    /// The opening handshake: the response is gathered here until its headers are complete,
    /// then handed to tungstenite in one piece (its handshake reader refuses a response that
    /// trickles in through many tiny reads). Envelopes sent meanwhile wait in `queued`.
    Handshake {
        mid: Box<MidHandshake<ClientHandshake<MemIo>>>,
        response: Vec<u8>,
        queued: Vec<Bytes>,
    },
    Open(Box<WebSocket<MemIo>>),
    /// Failed or closed.
    Done,
}

enum Framing {
    Tcp { decoder: FrameDecoder, buf: BytesMut },
    Ws { state: WsState, uri: String, subprotocol: Option<String> },
}

/// All the layers of one connection. See the [module docs](self).
pub(super) struct Wire {
    framing: Framing,
    tls: Option<Tls>,
    gzip: Option<Gzip>,
    tls_config: ClientTlsConfig,
    host: String,
    max: usize,
    peer_closed: bool,
}

impl Wire {
    /// A TCP connection to `host` (the TLS server name, if TLS is negotiated later).
    pub(super) fn tcp(host: String, tls_config: ClientTlsConfig, max: usize) -> Self {
        Self {
            framing: Framing::Tcp {
                decoder: FrameDecoder::with_max_envelope_size(max),
                buf: BytesMut::new(),
            },
            tls: None,
            gzip: None,
            tls_config,
            host,
            max,
            peer_closed: false,
        }
    }

    /// A WebSocket connection: starts TLS for `wss` and the opening handshake, writing the
    /// first bytes to `out`.
    pub(super) fn websocket(
        uri: &str,
        tls_config: ClientTlsConfig,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(Self, String, u16), TransportError> {
        let (request, secure, host, port) = crate::transport::websocket::client_request(uri)?;
        let tls = if secure { Some(Tls::start(&tls_config, &host, out)?) } else { None };
        let mid = match client_with_config(request, MemIo::default(), Some(ws_config(max))) {
            Err(HandshakeError::Interrupted(mid)) => mid,
            Err(HandshakeError::Failure(e)) => return Err(handshake_error(e, uri)),
            Ok(_) => {
                return Err(TransportError::WebSocket(
                    "WebSocket handshake completed without a response".into(),
                ))
            }
        };
        let mut wire = Self {
            framing: Framing::Ws {
                state: WsState::Handshake {
                    mid: Box::new(mid),
                    response: Vec::new(),
                    queued: Vec::new(),
                },
                uri: uri.to_owned(),
                subprotocol: None,
            },
            tls,
            gzip: None,
            tls_config,
            host: host.clone(),
            max,
            peer_closed: false,
        };
        wire.flush_ws(out)?;
        Ok((wire, host, port))
    }

    /// The encryption in effect.
    pub(super) fn encryption(&self) -> SessionEncryption {
        if self.tls.is_some() {
            SessionEncryption::Tls
        } else {
            SessionEncryption::None
        }
    }

    /// The compression in effect.
    pub(super) fn compression(&self) -> SessionCompression {
        if self.gzip.is_some() {
            SessionCompression::Gzip
        } else {
            SessionCompression::None
        }
    }

    /// The sub-protocol the WebSocket server agreed to.
    pub(super) fn subprotocol(&self) -> Option<&str> {
        match &self.framing {
            Framing::Ws { subprotocol, .. } => subprotocol.as_deref(),
            Framing::Tcp { .. } => None,
        }
    }

    /// Bytes from the socket.
    pub(super) fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        let mut decrypted = Vec::new();
        let data = match &mut self.tls {
            Some(tls) => {
                tls.read(data, &mut decrypted, out)?;
                self.peer_closed |= tls.peer_closed;
                &decrypted[..]
            }
            None => data,
        };
        let mut inflated = Vec::new();
        let plain = match &mut self.gzip {
            Some(gzip) => {
                gzip.decompress(data, &mut inflated).map_err(|e| gzip_err(&e))?;
                &inflated[..]
            }
            None => data,
        };
        if plain.is_empty() {
            return Ok(());
        }
        match &mut self.framing {
            Framing::Tcp { buf, .. } => {
                buf.extend_from_slice(plain);
                Ok(())
            }
            Framing::Ws { .. } => self.feed_ws(plain, out),
        }
    }

    /// The peer closed its side of the socket.
    pub(super) fn feed_eof(&mut self) {
        self.peer_closed = true;
        if let Framing::Ws { state: WsState::Open(ws), .. } = &mut self.framing {
            ws.get_mut().eof = true;
        }
    }

    /// The next received envelope.
    pub(super) fn next(&mut self, out: &mut Vec<u8>) -> Result<Next, TransportError> {
        let next = match &mut self.framing {
            Framing::Tcp { decoder, buf } => match decoder.decode(buf)? {
                Some(frame) => Envelope::from_slice(&frame.bytes)
                    .map(Next::Envelope)
                    .map_err(|error| FrameError::Invalid { offset: frame.offset, error })?,
                None if self.peer_closed => {
                    decoder.finish()?;
                    Next::Ended
                }
                None => Next::NeedMore,
            },
            Framing::Ws { state, .. } => {
                let next = Self::next_ws(state, self.max, self.peer_closed);
                self.flush_ws(out)?;
                next?
            }
        };
        Ok(next)
    }

    /// Sends one serialized envelope.
    pub(super) fn send(&mut self, json: Bytes, out: &mut Vec<u8>) -> Result<(), TransportError> {
        match &mut self.framing {
            Framing::Tcp { .. } => self.write_down(&json, out),
            Framing::Ws { state: WsState::Handshake { queued, .. }, .. } => {
                queued.push(json);
                Ok(())
            }
            Framing::Ws { state: WsState::Open(ws), .. } => {
                for message in EnvelopeMessages::new(json)? {
                    ws.write(message).map_err(|e| ws_error(e, self.max))?;
                }
                self.flush_ws(out)
            }
            Framing::Ws { state: WsState::Done, .. } => Err(TransportError::Closed),
        }
    }

    /// The TCP in-band switch at the negotiation confirmation: TLS (the ClientHello goes to
    /// `out`), then gzip inside it. Bytes buffered past the confirmation continue through the
    /// new layers.
    pub(super) fn switch(
        &mut self,
        compression: SessionCompression,
        encryption: SessionEncryption,
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        let tls = encryption != self.encryption();
        let gzip = compression != self.compression();
        if !tls && !gzip {
            return Ok(());
        }
        let Framing::Tcp { decoder, buf } = &mut self.framing else {
            return Err(TransportError::Unsupported(format!(
                "{encryption} encryption and {compression} compression over WebSocket"
            )));
        };
        if tls && (encryption != SessionEncryption::Tls || self.tls.is_some()) {
            return Err(TransportError::Unsupported(format!("encryption {encryption}")));
        }
        if gzip && (compression != SessionCompression::Gzip || self.gzip.is_some()) {
            return Err(TransportError::Unsupported(format!("compression {compression}")));
        }
        if decoder.is_inside_envelope() {
            return Err(TransportError::Io(
                "the options changed in the middle of an envelope".into(),
            ));
        }
        let leftover = std::mem::take(buf);
        if tls {
            if leftover.iter().any(|b| !b.is_ascii_whitespace()) {
                return Err(TransportError::Tls(
                    "unexpected plaintext received before the TLS handshake".into(),
                ));
            }
            self.tls = Some(Tls::start(&self.tls_config, &self.host, out)?);
        }
        if gzip {
            self.gzip = Some(Gzip::new());
        }
        if tls {
            Ok(())
        } else {
            self.feed(&leftover, out)
        }
    }

    /// Ends the connection from this side: a WebSocket close frame, a TLS close_notify.
    pub(super) fn close(&mut self, out: &mut Vec<u8>) {
        if let Framing::Ws { state, .. } = &mut self.framing {
            if let WsState::Open(ws) = state {
                let _ = ws.close(None);
                let _ = ws.flush();
            }
            let _ = self.flush_ws(out);
            if let Framing::Ws { state, .. } = &mut self.framing {
                *state = WsState::Done;
            }
        }
        if let Some(tls) = &mut self.tls {
            tls.close(out);
        }
    }

    /// Down through gzip and TLS into `out`.
    fn write_down(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        let compressed;
        let data = match &mut self.gzip {
            Some(gzip) => {
                compressed = gzip.compress(data).map_err(|e| gzip_err(&e))?;
                &compressed[..]
            }
            None => data,
        };
        match &mut self.tls {
            Some(tls) => tls.write(data, out),
            None => {
                out.extend_from_slice(data);
                Ok(())
            }
        }
    }

    /// Moves what tungstenite wrote down to `out`.
    fn flush_ws(&mut self, out: &mut Vec<u8>) -> Result<(), TransportError> {
        let pending = match &mut self.framing {
            Framing::Ws { state: WsState::Handshake { mid, .. }, .. } => {
                std::mem::take(&mut mid.get_mut().get_mut().outbox)
            }
            Framing::Ws { state: WsState::Open(ws), .. } => {
                // Queued control frames (pongs, the close reply) are written out here.
                match ws.flush() {
                    Ok(()) => {}
                    Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {}
                    Err(e) => return Err(ws_error(e, self.max)),
                }
                std::mem::take(&mut ws.get_mut().outbox)
            }
            _ => return Ok(()),
        };
        if pending.is_empty() {
            return Ok(());
        }
        self.write_down(&pending, out)
    }

    fn feed_ws(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        let Framing::Ws { state, uri, subprotocol } = &mut self.framing else { return Ok(()) };
        match state {
            WsState::Open(ws) => {
                ws.get_mut().inbox.extend(plain);
                return Ok(());
            }
            WsState::Done => return Ok(()),
            WsState::Handshake { response, .. } => {
                let from = response.len().saturating_sub(3);
                response.extend_from_slice(plain);
                if response.len() > MAX_HANDSHAKE_RESPONSE {
                    *state = WsState::Done;
                    return Err(TransportError::WebSocket(
                        "the WebSocket handshake response is too large".into(),
                    ));
                }
                if memchr::memmem::find(&response[from..], b"\r\n\r\n").is_none() {
                    return Ok(());
                }
            }
        }
        let WsState::Handshake { mut mid, response, queued } =
            std::mem::replace(state, WsState::Done)
        else {
            return Ok(());
        };
        mid.get_mut().get_mut().inbox.extend(response);
        match mid.handshake() {
            Ok((mut ws, reply)) => {
                *subprotocol = reply
                    .headers()
                    .get(SEC_WEBSOCKET_PROTOCOL)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim().to_owned());
                for json in queued {
                    for message in EnvelopeMessages::new(json)? {
                        ws.write(message).map_err(|e| ws_error(e, self.max))?;
                    }
                }
                *state = WsState::Open(Box::new(ws));
                self.flush_ws(out)
            }
            Err(HandshakeError::Interrupted(_)) => Err(TransportError::WebSocket(
                "the WebSocket handshake response was incomplete".into(),
            )),
            Err(HandshakeError::Failure(e)) => Err(handshake_error(e, uri)),
        }
    }

    fn next_ws(state: &mut WsState, max: usize, peer_closed: bool) -> Result<Next, TransportError> {
        let ws = match state {
            WsState::Open(ws) => ws,
            WsState::Handshake { .. } if peer_closed => {
                *state = WsState::Done;
                return Err(TransportError::WebSocket(
                    "the connection ended during the WebSocket handshake".into(),
                ));
            }
            WsState::Handshake { .. } => return Ok(Next::NeedMore),
            WsState::Done => return Ok(if peer_closed { Next::Ended } else { Next::NeedMore }),
        };
        loop {
            let payload = match ws.read() {
                Ok(WsMessage::Text(text)) => Bytes::from(text),
                Ok(WsMessage::Binary(bytes)) => bytes,
                Ok(WsMessage::Close(_)) => return Ok(Next::Ended),
                Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_)) => continue,
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Next::NeedMore)
                }
                Err(
                    WsError::ConnectionClosed
                    | WsError::AlreadyClosed
                    | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                ) => return Ok(Next::Ended),
                Err(e) => return Err(ws_error(e, max)),
            };
            if let Some(envelope) = envelope_from_payload(&payload)? {
                return Ok(Next::Envelope(envelope));
            }
        }
    }
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let framing = match &self.framing {
            Framing::Tcp { .. } => "tcp",
            Framing::Ws { .. } => "websocket",
        };
        f.debug_struct("Wire")
            .field("framing", &framing)
            .field("tls", &self.tls.is_some())
            .field("gzip", &self.gzip.is_some())
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::{
        accept_hdr,
        client::IntoClientRequest,
        handshake::server::{ErrorResponse, Request, Response},
        http::HeaderValue,
    };

    use super::*;

    /// The server side of the opening handshake for `request`: the socket and its response.
    // tungstenite's callback signature returns its (large) HTTP error response.
    #[allow(clippy::result_large_err)]
    fn accept(request: &[u8]) -> (WebSocket<MemIo>, Vec<u8>) {
        let mut io = MemIo::default();
        io.inbox.extend(request);
        let answer_lime = |_: &Request, mut r: Response| -> Result<Response, ErrorResponse> {
            r.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("lime"));
            Ok(r)
        };
        let mut ws = match accept_hdr(io, answer_lime) {
            Ok(ws) => ws,
            Err(e) => panic!("server handshake: {e}"),
        };
        let response = std::mem::take(&mut ws.get_mut().outbox);
        (ws, response)
    }

    #[test]
    fn the_upgrade_response_may_arrive_byte_by_byte() {
        let mut out = Vec::new();
        let (mut wire, _, _) =
            Wire::websocket("ws://localhost/", ClientTlsConfig::default(), 1024, &mut out).unwrap();
        let (mut server, response) = accept(&out);
        out.clear();

        // The gotcha: tungstenite alone rejects a response handed over one byte per read.
        let mut request = "ws://localhost/".into_client_request().unwrap();
        request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("lime"));
        let Err(HandshakeError::Interrupted(mut mid)) =
            client_with_config(request, MemIo::default(), None)
        else {
            panic!("the handshake cannot finish without a response")
        };
        let mut refused = false;
        for byte in &response {
            mid.get_mut().get_mut().inbox.push_back(*byte);
            match mid.handshake() {
                Err(HandshakeError::Interrupted(m)) => mid = m,
                Err(HandshakeError::Failure(e)) => {
                    refused = matches!(e, WsError::AttackAttempt);
                    break;
                }
                Ok(_) => break,
            }
        }
        assert!(refused, "tungstenite accepted a byte-by-byte response");

        // The connection gathers it first; an envelope sent meanwhile waits for the upgrade.
        wire.send(Bytes::from_static(br#"{"state":"new"}"#), &mut out).unwrap();
        assert!(out.is_empty());
        for byte in &response {
            wire.feed(std::slice::from_ref(byte), &mut out).unwrap();
        }
        assert_eq!(wire.subprotocol(), Some("lime"));
        server.get_mut().inbox.extend(&out);
        match server.read().unwrap() {
            WsMessage::Text(text) => assert_eq!(text.as_str(), r#"{"state":"new"}"#),
            other => panic!("{other:?}"),
        }

        // Frames have no such limit: one byte at a time, then the envelope.
        server.send(WsMessage::text(r#"{"id":"s","state":"established"}"#)).unwrap();
        let frame = std::mem::take(&mut server.get_mut().outbox);
        for byte in &frame {
            assert!(matches!(wire.next(&mut out).unwrap(), Next::NeedMore));
            wire.feed(std::slice::from_ref(byte), &mut out).unwrap();
        }
        assert!(matches!(wire.next(&mut out).unwrap(), Next::Envelope(Envelope::Session(_))));

        // A ping is answered (the pong is written while reading), a close ends the stream.
        server.send(WsMessage::Ping(Bytes::from_static(b"hi"))).unwrap();
        server.close(None).unwrap();
        let frames = std::mem::take(&mut server.get_mut().outbox);
        wire.feed(&frames, &mut out).unwrap();
        out.clear();
        assert!(matches!(wire.next(&mut out).unwrap(), Next::Ended));
        server.get_mut().inbox.extend(&out);
        assert!(matches!(server.read().unwrap(), WsMessage::Pong(p) if p.as_ref() == b"hi"));
    }

    #[test]
    fn gzip_round_trip_in_pieces() {
        let mut sender = Gzip::new();
        let mut receiver = Gzip::new();
        let mut wire = Vec::new();
        for text in ["{\"a\":1}", "{\"b\":2}"] {
            wire.extend(sender.compress(text.as_bytes()).unwrap());
        }
        let mut plain = Vec::new();
        for byte in &wire {
            receiver.decompress(std::slice::from_ref(byte), &mut plain).unwrap();
        }
        assert_eq!(plain, b"{\"a\":1}{\"b\":2}");
        let err = Gzip::new().decompress(b"not gzip at all", &mut plain).unwrap_err();
        assert!(!gzip_err(&err).to_string().is_empty());
    }
}
