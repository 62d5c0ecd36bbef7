//! TLS and gzip as byte layers, and the in-band switch that installs them: implemented once,
//! for the sans-IO [`ClientConnection`](super::ClientConnection) and the tokio TCP transport
//! (client and server side).
//!
//! Bytes from the socket go up through TLS (rustls' buffer API: `read_tls`,
//! `process_new_packets`, `reader()`) and then gzip (one flate2 stream per direction,
//! sync-flushed after each write so that every envelope can be decoded as soon as it arrives);
//! outgoing bytes go down the same layers. The switch of PROTOCOL §2.3 happens between two
//! envelopes: bytes already buffered above TLS continue through gzip, and plaintext left
//! before a TLS handshake is refused (nothing may be read past the confirmation).

use std::io::{Read, Write};

use bytes::BytesMut;
use flate2::{
    write::{GzEncoder, MultiGzDecoder},
    Compression,
};
#[cfg(feature = "tls")]
use rustls::Connection as TlsConnection;
#[cfg(feature = "tls")]
use rustls_pki_types::ServerName;

#[cfg(not(feature = "tls"))]
use self::no_tls::TlsConnection;

#[cfg(feature = "tls")]
use crate::transport::tls::certificate_names;
use crate::{
    transport::tls::{ClientTlsConfig, ServerTlsConfig},
    SessionCompression, SessionEncryption, TransportError,
};

#[cfg(feature = "tls")]
fn tls_err(e: impl std::fmt::Display) -> TransportError {
    TransportError::Tls(e.to_string())
}

/// A client-side TLS session for `host`, not started.
#[cfg(feature = "tls")]
pub(crate) fn tls_client(
    config: &ClientTlsConfig,
    host: &str,
) -> Result<TlsConnection, TransportError> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| TransportError::Tls(format!("invalid server name {host:?}: {e}")))?;
    let conn = rustls::ClientConnection::new(config.rustls(), name).map_err(tls_err)?;
    Ok(TlsConnection::Client(conn))
}

/// A server-side TLS session, not started.
#[cfg_attr(not(feature = "tcp"), allow(dead_code))] // Only the TCP transport uses it.
#[cfg(feature = "tls")]
pub(crate) fn tls_server(config: &ServerTlsConfig) -> Result<TlsConnection, TransportError> {
    let conn = rustls::ServerConnection::new(config.rustls()).map_err(tls_err)?;
    Ok(TlsConnection::Server(conn))
}

/// Without the `tls` feature no TLS session starts.
#[cfg(not(feature = "tls"))]
pub(crate) fn tls_client(_: &ClientTlsConfig, _: &str) -> Result<TlsConnection, TransportError> {
    Err(TransportError::Unsupported("TLS needs the `tls` feature of lime-core".into()))
}

/// Without the `tls` feature there is no server TLS configuration to start from.
#[cfg(not(feature = "tls"))]
#[cfg_attr(not(feature = "tcp"), allow(dead_code))] // Only the TCP transport uses it.
pub(crate) fn tls_server(config: &ServerTlsConfig) -> Result<TlsConnection, TransportError> {
    match *config {}
}

/// Decompressed bytes produced per decode step at most (plus one input slice's worth):
/// compressed input beyond it waits in a backlog, so a small read of a highly compressed
/// stream cannot inflate to many megabytes before the framing sees it.
const INFLATE_BUDGET: usize = 64 * 1024;
/// Compressed bytes inflated at a time (deflate expands at most about 1032 times).
const INFLATE_STEP: usize = 256;

/// gzip in both directions.
struct Gzip {
    encoder: GzEncoder<Vec<u8>>,
    decoder: MultiGzDecoder<Vec<u8>>,
    /// Compressed input not inflated yet.
    backlog: BytesMut,
}

impl Gzip {
    fn new() -> Self {
        Self {
            encoder: GzEncoder::new(Vec::new(), Compression::fast()),
            decoder: MultiGzDecoder::new(Vec::new()),
            backlog: BytesMut::new(),
        }
    }

    /// Compresses `data` with a sync flush: the bytes to send.
    fn compress(&mut self, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        let result = self.encoder.write_all(data).and_then(|()| self.encoder.flush());
        result.map_err(|e| TransportError::Io(format!("gzip: {e}")))?;
        Ok(std::mem::take(self.encoder.get_mut()))
    }

    /// Takes `data` and inflates what the budget allows into `plain`.
    fn decompress(&mut self, data: &[u8], plain: &mut BytesMut) -> Result<(), TransportError> {
        self.backlog.extend_from_slice(data);
        self.inflate(plain)
    }

    /// Inflates backlog into `plain` until the budget is spent.
    fn inflate(&mut self, plain: &mut BytesMut) -> Result<(), TransportError> {
        let mut produced = 0;
        while !self.backlog.is_empty() && produced < INFLATE_BUDGET {
            let piece = self.backlog.split_to(INFLATE_STEP.min(self.backlog.len()));
            let result = self.decoder.write_all(&piece).and_then(|()| self.decoder.flush());
            result.map_err(|e| TransportError::Io(format!("invalid gzip stream: {e}")))?;
            let inflated = self.decoder.get_mut();
            produced += inflated.len();
            plain.extend_from_slice(inflated);
            inflated.clear();
        }
        if self.backlog.is_empty() && self.backlog.capacity() > 0 {
            self.backlog = BytesMut::new();
        }
        Ok(())
    }
}

/// The TLS and gzip layers of one connection; empty (bytes pass unchanged) until a switch.
#[derive(Default)]
pub(crate) struct Layers {
    // Boxed: a connection without layers (most of them) stays small.
    tls: Option<Box<TlsConnection>>,
    gzip: Option<Box<Gzip>>,
    peer_closed: bool,
}

impl std::fmt::Debug for Layers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layers")
            .field("tls", &self.tls.is_some())
            .field("gzip", &self.gzip.is_some())
            .finish_non_exhaustive()
    }
}

impl Layers {
    /// True while no layer is installed.
    pub(crate) fn is_empty(&self) -> bool {
        self.tls.is_none() && self.gzip.is_none()
    }

    /// The encryption in effect.
    pub(crate) fn encryption(&self) -> SessionEncryption {
        if self.tls.is_some() {
            SessionEncryption::Tls
        } else {
            SessionEncryption::None
        }
    }

    /// The compression in effect.
    pub(crate) fn compression(&self) -> SessionCompression {
        if self.gzip.is_some() {
            SessionCompression::Gzip
        } else {
            SessionCompression::None
        }
    }

    /// True while the TLS handshake is in progress.
    #[cfg_attr(not(feature = "tcp"), allow(dead_code))] // Only the TCP transport uses it.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// True once the peer sent TLS close_notify.
    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// DNS names and common name of the peer's TLS certificate.
    #[cfg_attr(not(feature = "tcp"), allow(dead_code))] // Only the TCP transport uses it.
    pub(crate) fn peer_certificate_names(&self) -> Vec<String> {
        #[cfg(feature = "tls")]
        let certs = self.tls.as_ref().and_then(|t| t.peer_certificates());
        #[cfg(feature = "tls")]
        return certs.and_then(|c| c.first()).map(|c| certificate_names(c)).unwrap_or_default();
        #[cfg(not(feature = "tls"))]
        Vec::new()
    }

    /// TLS starts with `conn` on a plain connection (a client's ClientHello goes to `out`).
    pub(crate) fn start_tls(
        &mut self,
        mut conn: TlsConnection,
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        // The drivers drain the output; envelopes are bounded by their maximum size.
        conn.set_buffer_limit(None);
        self.tls = Some(Box::new(conn));
        self.flush_tls(out)
    }

    /// The in-band switch at the negotiation confirmation: installs TLS (from `start_tls`)
    /// and gzip where they differ from what is in effect. `pending` holds the bytes buffered
    /// above the TLS layer past the confirmation: they must be whitespace when TLS starts, and
    /// are otherwise decompressed in place when gzip starts.
    pub(crate) fn switch(
        &mut self,
        compression: SessionCompression,
        encryption: SessionEncryption,
        pending: &mut BytesMut,
        inside_envelope: bool,
        start_tls: impl FnOnce() -> Result<TlsConnection, TransportError>,
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        let tls = encryption != self.encryption();
        let gzip = compression != self.compression();
        if !tls && !gzip {
            return Ok(());
        }
        if tls && (encryption != SessionEncryption::Tls || self.tls.is_some()) {
            return Err(TransportError::Unsupported(format!("encryption {encryption}")));
        }
        if tls && self.gzip.is_some() {
            return Err(TransportError::Unsupported("TLS after compression".into()));
        }
        if gzip && (compression != SessionCompression::Gzip || self.gzip.is_some()) {
            return Err(TransportError::Unsupported(format!("compression {compression}")));
        }
        if inside_envelope {
            return Err(TransportError::Io(
                "the options changed in the middle of an envelope".into(),
            ));
        }
        if tls && pending.iter().any(|b| !b.is_ascii_whitespace()) {
            return Err(TransportError::Tls(
                "unexpected plaintext received before the TLS handshake".into(),
            ));
        }
        let leftover = std::mem::take(pending);
        if tls {
            self.start_tls(start_tls()?, out)?;
        }
        if gzip {
            let mut codec = Gzip::new();
            if !tls && !leftover.is_empty() {
                // The peer compresses right after the confirmation: these bytes are the start
                // of its compressed stream.
                codec.decompress(&leftover, pending)?;
            }
            self.gzip = Some(Box::new(codec));
        }
        Ok(())
    }

    /// True while received compressed bytes wait to be inflated: call
    /// [`decode_backlog`](Self::decode_backlog) once the framing has taken what it could.
    pub(crate) fn has_backlog(&self) -> bool {
        self.gzip.as_ref().is_some_and(|g| !g.backlog.is_empty())
    }

    /// Inflates the next part of the backlog into `plain`.
    pub(crate) fn decode_backlog(&mut self, plain: &mut BytesMut) -> Result<(), TransportError> {
        match &mut self.gzip {
            Some(gzip) => gzip.inflate(plain),
            None => Ok(()),
        }
    }

    /// Moves pending TLS records (handshake, alerts, key updates) to `out`.
    pub(crate) fn flush_tls(&mut self, out: &mut Vec<u8>) -> Result<(), TransportError> {
        if let Some(tls) = &mut self.tls {
            while tls.wants_write() {
                tls.write_tls(out)?;
            }
        }
        Ok(())
    }

    /// Bytes from the socket, up through TLS and gzip into `plain` (gzip inflates a bounded
    /// amount per call, see [`has_backlog`](Self::has_backlog)). TLS records to send back
    /// stay queued until [`flush_tls`](Self::flush_tls) or the next
    /// [`encode`](Self::encode); after a TLS error they hold the alert for the peer.
    pub(crate) fn decode(
        &mut self,
        data: &[u8],
        plain: &mut BytesMut,
    ) -> Result<(), TransportError> {
        let Some(tls) = &mut self.tls else {
            return match &mut self.gzip {
                Some(gzip) => gzip.decompress(data, plain),
                None => {
                    plain.extend_from_slice(data);
                    Ok(())
                }
            };
        };
        let mut decrypted = BytesMut::new();
        let target = if self.gzip.is_some() { &mut decrypted } else { &mut *plain };
        let mut data = data;
        // After the peer's close_notify rustls takes nothing more (`read_tls` returns 0): what
        // follows it is dropped (RFC 8446 §6.1), not offered again for ever.
        while !data.is_empty() {
            if tls.read_tls(&mut data)? == 0 {
                break;
            }
            let state = tls
                .process_new_packets()
                .map_err(|e| TransportError::Tls(format!("TLS failure: {e}")))?;
            let available = state.plaintext_bytes_to_read();
            if available > 0 {
                let start = target.len();
                target.resize(start + available, 0);
                tls.reader().read_exact(&mut target[start..])?;
            }
            if state.peer_has_closed() {
                self.peer_closed = true;
            }
        }
        match &mut self.gzip {
            Some(gzip) if !decrypted.is_empty() => gzip.decompress(&decrypted, plain),
            _ => Ok(()),
        }
    }

    /// Bytes to send, down through gzip and TLS into `out`.
    pub(crate) fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        let compressed;
        let data = match &mut self.gzip {
            Some(gzip) => {
                compressed = gzip.compress(data)?;
                &compressed[..]
            }
            None => data,
        };
        match &mut self.tls {
            Some(tls) => {
                tls.writer().write_all(data)?;
                self.flush_tls(out)
            }
            None => {
                out.extend_from_slice(data);
                Ok(())
            }
        }
    }

    /// Ends TLS with close_notify (written to `out`).
    pub(crate) fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
            let _ = self.flush_tls(out);
        }
    }
}

/// Stands for rustls' connection in a build without the `tls` feature: it has no values, so
/// the TLS paths of [`Layers`] type-check but can never run.
#[cfg(not(feature = "tls"))]
mod no_tls {
    use std::{
        convert::Infallible,
        io::{self, Empty, Sink},
    };

    pub(crate) enum TlsConnection {}

    /// What `process_new_packets` would report (nothing is ever read).
    pub(crate) struct IoState;

    impl TlsConnection {
        pub(crate) fn is_handshaking(&self) -> bool {
            match *self {}
        }
        pub(crate) fn wants_write(&self) -> bool {
            match *self {}
        }
        pub(crate) fn write_tls(&mut self, _: &mut dyn io::Write) -> io::Result<usize> {
            match *self {}
        }
        pub(crate) fn read_tls(&mut self, _: &mut dyn io::Read) -> io::Result<usize> {
            match *self {}
        }
        pub(crate) fn process_new_packets(&mut self) -> Result<IoState, Infallible> {
            match *self {}
        }
        pub(crate) fn reader(&mut self) -> Empty {
            match *self {}
        }
        pub(crate) fn writer(&mut self) -> Sink {
            match *self {}
        }
        pub(crate) fn send_close_notify(&mut self) {
            match *self {}
        }
        pub(crate) fn set_buffer_limit(&mut self, _: Option<usize>) {
            match *self {}
        }
    }

    impl IoState {
        pub(crate) fn plaintext_bytes_to_read(&self) -> usize {
            0
        }
        pub(crate) fn peer_has_closed(&self) -> bool {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Layers switched to gzip without TLS, as after a `gzip`/`none` negotiation.
    fn gzip_layers() -> Layers {
        let mut layers = Layers::default();
        layers
            .switch(
                SessionCompression::Gzip,
                SessionEncryption::None,
                &mut BytesMut::new(),
                false,
                || Err(TransportError::Closed),
                &mut Vec::new(),
            )
            .unwrap();
        layers
    }

    #[test]
    fn gzip_round_trip_in_pieces() {
        let (mut sender, mut receiver) = (gzip_layers(), gzip_layers());
        let mut wire = Vec::new();
        for text in ["{\"a\":1}", "{\"b\":2}"] {
            sender.encode(text.as_bytes(), &mut wire).unwrap();
        }
        let mut plain = BytesMut::new();
        for byte in &wire {
            receiver.decode(std::slice::from_ref(byte), &mut plain).unwrap();
        }
        assert_eq!(&plain[..], b"{\"a\":1}{\"b\":2}");
        let mut bad = gzip_layers();
        let err = bad.decode(b"not gzip at all", &mut plain).unwrap_err();
        assert!(err.to_string().contains("gzip"), "{err}");
    }

    #[test]
    fn a_gzip_bomb_inflates_in_bounded_steps() {
        let (mut sender, mut receiver) = (gzip_layers(), gzip_layers());
        let total = 16 * 1024 * 1024;
        let mut wire = Vec::new();
        sender.encode(&vec![b'x'; total], &mut wire).unwrap();
        assert!(wire.len() < total / 100, "{} compressed bytes", wire.len());
        let mut plain = BytesMut::new();
        receiver.decode(&wire, &mut plain).unwrap();
        let bound = INFLATE_BUDGET + INFLATE_STEP * 1032;
        assert!(plain.len() <= bound, "{} bytes in one step", plain.len());
        let mut steps = 1;
        while receiver.has_backlog() {
            let before = plain.len();
            receiver.decode_backlog(&mut plain).unwrap();
            assert!(plain.len() - before <= bound);
            steps += 1;
        }
        assert_eq!(plain.len(), total);
        assert!(steps > 10, "{steps} steps");
    }

    #[test]
    fn switch_rules() {
        let mut layers = Layers::default();
        let mut out = Vec::new();
        let mut pending = BytesMut::from(&b" {\"x\""[..]);
        let err = layers
            .switch(
                SessionCompression::None,
                SessionEncryption::Tls,
                &mut pending,
                false,
                || Err(TransportError::Closed),
                &mut out,
            )
            .unwrap_err();
        assert!(matches!(err, TransportError::Tls(_)), "{err:?}");
        let err = layers
            .switch(
                SessionCompression::Gzip,
                SessionEncryption::None,
                &mut BytesMut::new(),
                true,
                || Err(TransportError::Closed),
                &mut out,
            )
            .unwrap_err();
        assert!(matches!(err, TransportError::Io(_)), "{err:?}");
        assert!(layers.is_empty());
    }
}
