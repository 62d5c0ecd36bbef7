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
use tungstenite::{
    client::client_with_config,
    error::ProtocolError,
    handshake::{client::ClientHandshake, HandshakeError, MidHandshake},
    http::header::SEC_WEBSOCKET_PROTOCOL,
    Error as WsError, Message as WsMessage, WebSocket,
};

use super::layers::{tls_client, Layers};
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
/// How much tungstenite takes from the in-memory stream per read (see [`Wire::websocket`]).
const MEMORY_READ_SIZE: usize = 1024;

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
    layers: Layers,
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
            layers: Layers::default(),
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
        let mut layers = Layers::default();
        if secure {
            layers.start_tls(tls_client(&tls_config, &host)?, out)?;
        }
        // tungstenite zero-fills up to its read size of buffer before every read, including the
        // one that finds nothing more (one per received frame): a socket's read size saves
        // system calls, but reads from memory cost only a copy, so one typical envelope is
        // enough.
        let config = ws_config(max).read_buffer_size(MEMORY_READ_SIZE);
        let mid = match client_with_config(request, MemIo::default(), Some(config)) {
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
            layers,
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
        self.layers.encryption()
    }

    /// The compression in effect.
    pub(super) fn compression(&self) -> SessionCompression {
        self.layers.compression()
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
        match &mut self.framing {
            Framing::Tcp { buf, .. } => {
                let decoded = self.layers.decode(data, buf);
                // Handshake records, or the alert that tells the peer why TLS failed.
                self.layers.flush_tls(out)?;
                decoded?;
            }
            Framing::Ws { .. } => {
                let mut plain = BytesMut::new();
                let decoded = self.layers.decode(data, &mut plain);
                self.layers.flush_tls(out)?;
                decoded?;
                if !plain.is_empty() {
                    self.feed_ws(&plain, out)?;
                }
            }
        }
        if self.layers.peer_closed() {
            // A TLS close_notify ends the stream as the socket's end does (for a WebSocket too:
            // its reader then sees the end instead of waiting for more).
            self.feed_eof();
        }
        Ok(())
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
            Framing::Tcp { decoder, buf } => loop {
                match decoder.decode(buf)? {
                    Some(frame) => {
                        break Envelope::from_slice(&frame.bytes)
                            .map(Next::Envelope)
                            .map_err(|error| FrameError::Invalid { offset: frame.offset, error })?
                    }
                    None if self.layers.has_backlog() => self.layers.decode_backlog(buf)?,
                    None if self.peer_closed => {
                        decoder.finish()?;
                        break Next::Ended;
                    }
                    None => break Next::NeedMore,
                }
            },
            Framing::Ws { state, .. } => {
                let next = Self::next_ws(state, self.max, self.peer_closed);
                self.flush_ws(out)?;
                next?
            }
        };
        Ok(next)
    }

    /// True when envelopes go to the socket as they are (TCP without TLS or gzip).
    pub(super) fn is_plain_tcp(&self) -> bool {
        matches!(self.framing, Framing::Tcp { .. }) && self.layers.is_empty()
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
        if compression == self.compression() && encryption == self.encryption() {
            return Ok(());
        }
        let Framing::Tcp { decoder, buf } = &mut self.framing else {
            return Err(TransportError::Unsupported(format!(
                "{encryption} encryption and {compression} compression over WebSocket"
            )));
        };
        let (config, host) = (&self.tls_config, &self.host);
        self.layers.switch(
            compression,
            encryption,
            buf,
            decoder.is_inside_envelope(),
            || tls_client(config, host),
            out,
        )
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
        self.layers.close(out);
    }

    /// Down through gzip and TLS into `out`.
    fn write_down(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        self.layers.encode(data, out)
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
            let parsed = match ws.read() {
                // A text frame is UTF-8 (tungstenite checked): its strings are not checked again.
                Ok(WsMessage::Text(text)) => envelope_from_payload(text.as_bytes(), Some(&text)),
                Ok(WsMessage::Binary(bytes)) => envelope_from_payload(&bytes, None),
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
            if let Some(envelope) = parsed? {
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
            .field("layers", &self.layers)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use tungstenite::{
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
}
