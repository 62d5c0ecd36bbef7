//! The TCP transport: `net.tcp://host:port` (default port 55321), brace-counting framing, the
//! in-band TLS upgrade at the negotiation confirmation, and optional gzip.
//!
//! LIME over TCP starts in plain text; when a session negotiates `tls`, both ends start a TLS
//! handshake on the same socket right after the server's confirmation (PROTOCOL §2.3). Nothing
//! may have been read past that confirmation: this transport reads only what the socket has,
//! and refuses the upgrade if any unread non-whitespace byte is buffered.
//!
//! TLS and gzip are the sans-IO layers of [`crate::connection`] (rustls' buffer API and
//! flate2), switched on by the same code as in [`ClientConnection`](crate::ClientConnection);
//! this transport only moves their bytes between the socket and the framing. A connection
//! without them reads and writes the socket directly.
//!
//! # Examples
//!
//! ```no_run
//! use lime::transport::{tcp::TcpTransport, tls::ClientTlsConfig, Transport, TransportOptions};
//! use lime::{Session, SessionState};
//!
//! # async fn run() -> Result<(), lime::TransportError> {
//! let mut t = TcpTransport::connect("net.tcp://127.0.0.1:55321", ClientTlsConfig::default(), TransportOptions::default()).await?;
//! t.send(&Session::new(SessionState::New).into()).await?;
//! let reply = t.receive().await?;
//! # Ok(()) }
//! ```

use std::{
    io,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpListener, TcpStream,
    },
};

use super::{
    check_size,
    tls::{ClientTlsConfig, ServerTlsConfig},
    whole, Received, Transport, TransportOptions, TransportReceiver, TransportResult,
    TransportSender,
};
use crate::{
    codec::FrameDecoder,
    connection::layers::{tls_client, tls_server, Layers},
    Envelope, FrameError, SessionCompression, SessionEncryption, TransportError,
};

/// The conventional LIME TCP port.
pub const DEFAULT_PORT: u16 = super::address::TCP_DEFAULT_PORT;
/// First read size of a connection: handshake envelopes are small, and a short-lived large
/// buffer per connection fragments the heap of a server holding many idle sessions.
const MIN_READ_CHUNK: usize = 1024;
/// Reads grow (doubling) up to this size while they keep filling the buffer.
const MAX_READ_CHUNK: usize = 64 * 1024;
/// Read size of a connection with TLS or gzip (the encrypted or compressed bytes).
const LAYERED_READ: usize = 16 * 1024;

enum Role {
    Client { host: String, tls: ClientTlsConfig },
    Server { tls: Option<ServerTlsConfig> },
}

/// The TLS and gzip layers shared by the two halves of a split connection (the TLS session
/// serves both directions). The lock is held only while bytes are transformed, never across
/// an await.
#[derive(Clone, Debug)]
struct SharedLayers(Arc<Mutex<Layers>>);

impl SharedLayers {
    fn lock(&self) -> MutexGuard<'_, Layers> {
        // invariant: nothing panics while holding the lock; recover the data if it did.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A LIME connection over TCP. See the [module docs](self).
pub struct TcpTransport {
    /// `None` once closed.
    tcp: Option<TcpStream>,
    reader: Reader,
    layers: Layers,
    role: Role,
    options: TransportOptions,
    peer_names: Vec<String>,
    remote: Option<SocketAddr>,
}

impl std::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("remote", &self.remote)
            .field("layers", &self.layers)
            .finish_non_exhaustive()
    }
}

/// The framing state of the read side: decoder plus a buffer allocated only while bytes are
/// pending, so idle connections hold no read buffer.
struct Reader {
    buf: BytesMut,
    decoder: FrameDecoder,
    chunk: usize,
    /// The frame of the envelope `take` returned last (see `take_received_bytes`).
    last: Option<Bytes>,
    /// Messages are read only as far as routing needs (`receive_routable`).
    routable: bool,
}

impl Reader {
    fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            decoder: FrameDecoder::with_max_envelope_size(max),
            chunk: MIN_READ_CHUNK,
            last: None,
            routable: false,
        }
    }

    /// Next envelope from what is buffered, without reading.
    fn take(&mut self) -> TransportResult<Option<Received>> {
        match self.decoder.decode(&mut self.buf)? {
            None => {
                if self.buf.is_empty() && self.buf.capacity() > 0 {
                    self.buf = BytesMut::new();
                }
                Ok(None)
            }
            Some(frame) => {
                let received = if self.routable {
                    Received::from_bytes(frame.bytes.clone())
                } else {
                    Envelope::from_slice(&frame.bytes).map(Received::Envelope)
                }
                .map_err(|error| FrameError::Invalid { offset: frame.offset, error })?;
                if let Received::Envelope(_) = received {
                    self.last = Some(frame.bytes);
                }
                Ok(Some(received))
            }
        }
    }

    /// Makes room for the next read; returns the room.
    fn reserve(&mut self) -> usize {
        if self.buf.capacity() - self.buf.len() < self.chunk / 2 {
            self.buf.reserve(self.chunk.max(self.buf.len()));
        }
        self.buf.capacity() - self.buf.len()
    }

    /// A read that filled all the room asks for bigger reads next time.
    fn read_done(&mut self, read: usize, room: usize) {
        if read >= room {
            self.chunk = (self.chunk * 2).min(MAX_READ_CHUNK);
        }
    }

    fn eof(&self) -> TransportResult<Option<Received>> {
        self.decoder.finish()?;
        Ok(None)
    }

    async fn receive_from(
        &mut self,
        src: &mut (impl AsyncRead + Unpin + ?Sized),
    ) -> TransportResult<Option<Received>> {
        loop {
            if let Some(env) = self.take()? {
                return Ok(Some(env));
            }
            let room = self.reserve();
            let read = src.read_buf(&mut self.buf).await?;
            if read == 0 {
                return self.eof();
            }
            self.read_done(read, room);
        }
    }

    /// Through TLS and/or gzip: socket bytes are decoded by `layers` into the framing buffer.
    /// The read buffer lives only between readiness and decoding, so an idle connection holds
    /// none.
    async fn receive_layered(
        &mut self,
        src: Socket<'_>,
        mut layers: LayersRef<'_>,
    ) -> TransportResult<Option<Received>> {
        loop {
            if let Some(env) = self.take()? {
                return Ok(Some(env));
            }
            // Compressed bytes already received come first, a bounded amount at a time.
            let buf = &mut self.buf;
            let inflated = layers.with(|l| {
                if l.has_backlog() {
                    l.decode_backlog(buf).map(|()| true)
                } else {
                    Ok(false)
                }
            })?;
            if inflated {
                continue;
            }
            if layers.with(|l| l.peer_closed()) {
                return self.eof();
            }
            src.readable().await?;
            let mut raw = [0u8; LAYERED_READ];
            let read = match src.try_read(&mut raw) {
                Ok(0) => return self.eof(),
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.into()),
            };
            let buf = &mut self.buf;
            layers.with(|l| l.decode(&raw[..read], buf))?;
        }
    }

    /// Plain TCP: wait for readability first so an idle connection holds no buffer.
    async fn receive_tcp(&mut self, half: &OwnedReadHalf) -> TransportResult<Option<Received>> {
        loop {
            if let Some(env) = self.take()? {
                return Ok(Some(env));
            }
            half.readable().await?;
            let room = self.reserve();
            match half.try_read_buf(&mut self.buf) {
                Ok(0) => return self.eof(),
                Ok(read) => self.read_done(read, room),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn has_pending_data(&self) -> bool {
        self.decoder.is_inside_envelope() || self.buf.iter().any(|b| !b.is_ascii_whitespace())
    }
}

/// The read side of a whole or a split connection.
#[derive(Clone, Copy)]
enum Socket<'a> {
    Whole(&'a TcpStream),
    Half(&'a OwnedReadHalf),
}

impl Socket<'_> {
    async fn readable(self) -> io::Result<()> {
        match self {
            Self::Whole(s) => s.readable().await,
            Self::Half(h) => h.readable().await,
        }
    }

    fn try_read(self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Whole(s) => s.try_read(buf),
            Self::Half(h) => h.try_read(buf),
        }
    }
}

/// The layers of a whole or a split connection.
enum LayersRef<'a> {
    Owned(&'a mut Layers),
    Shared(&'a SharedLayers),
}

impl LayersRef<'_> {
    /// Runs `f` on the layers (under the lock when shared; never across an await).
    fn with<R>(&mut self, f: impl FnOnce(&mut Layers) -> R) -> R {
        match self {
            Self::Owned(layers) => f(layers),
            Self::Shared(shared) => f(&mut shared.lock()),
        }
    }
}

use super::address::parse_tcp_uri as parse_uri;

impl TcpTransport {
    /// Connects to `net.tcp://host[:port]`.
    pub async fn connect(
        uri: &str,
        tls: ClientTlsConfig,
        options: TransportOptions,
    ) -> TransportResult<Self> {
        let (host, port) = parse_uri(uri)?;
        let stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| TransportError::Io(format!("cannot connect to {host}:{port}: {e}")))?;
        stream.set_nodelay(true)?;
        let remote = stream.peer_addr().ok();
        Ok(Self::new(stream, Role::Client { host, tls }, options, remote))
    }

    /// Wraps a connection accepted by a server. `tls` enables the `tls` negotiation option.
    pub fn accept(
        stream: TcpStream,
        tls: Option<ServerTlsConfig>,
        options: TransportOptions,
    ) -> TransportResult<Self> {
        stream.set_nodelay(true)?;
        let remote = stream.peer_addr().ok();
        Ok(Self::new(stream, Role::Server { tls }, options, remote))
    }

    fn new(
        stream: TcpStream,
        role: Role,
        options: TransportOptions,
        remote: Option<SocketAddr>,
    ) -> Self {
        Self {
            tcp: Some(stream),
            reader: Reader::new(options.max_envelope_size),
            layers: Layers::default(),
            role,
            options,
            peer_names: Vec::new(),
            remote,
        }
    }

    async fn write(&mut self, json: &[u8]) -> TransportResult<()> {
        let tcp = self.tcp.as_mut().ok_or(TransportError::Closed)?;
        if self.layers.is_empty() {
            return write_flush(tcp, json).await;
        }
        let mut out = Vec::new();
        self.layers.encode(json, &mut out)?;
        write_flush(tcp, &out).await
    }

    /// Applies the switch to the layers and runs a TLS handshake it started, on the whole
    /// (unsplit) connection.
    async fn switch(
        &mut self,
        compression: SessionCompression,
        encryption: SessionEncryption,
    ) -> TransportResult<()> {
        let Some(tcp) = self.tcp.as_mut() else { return Err(TransportError::Closed) };
        let role = &self.role;
        let start_tls = || match role {
            Role::Client { host, tls } => tls_client(tls, host),
            Role::Server { tls: Some(tls) } => tls_server(tls),
            Role::Server { tls: None } => {
                Err(TransportError::Unsupported("TLS without a certificate".into()))
            }
        };
        let mut out = Vec::new();
        let inside = self.reader.decoder.is_inside_envelope();
        self.layers.switch(
            compression,
            encryption,
            &mut self.reader.buf,
            inside,
            start_tls,
            &mut out,
        )?;
        let peer = match &self.role {
            Role::Client { host, .. } => format!(" with {host}"),
            Role::Server { .. } => String::new(),
        };
        let mut raw = Vec::new();
        loop {
            if !out.is_empty() {
                tcp.write_all(&out).await?;
                out.clear();
            }
            if !self.layers.is_handshaking() {
                break;
            }
            raw.resize(LAYERED_READ, 0);
            let read = tcp.read(&mut raw).await?;
            if read == 0 {
                return Err(TransportError::Tls(format!(
                    "the connection closed during the TLS handshake{peer}"
                )));
            }
            let decoded = self.layers.decode(&raw[..read], &mut self.reader.buf);
            self.layers.flush_tls(&mut out)?;
            if let Err(e) = decoded {
                // Tell the peer why (the alert), then fail.
                let _ = tcp.write_all(&out).await;
                return Err(TransportError::Tls(format!("handshake{peer} failed: {e}")));
            }
        }
        self.peer_names = self.layers.peer_certificate_names();
        Ok(())
    }
}

/// Drains `batch` into one buffer for a single write; an envelope above `max` is left out and
/// reported (after the others are written).
fn join_batch(batch: &mut Vec<Bytes>, max: usize) -> (Vec<u8>, TransportResult<()>) {
    let mut joined = Vec::with_capacity(batch.iter().map(Bytes::len).sum());
    let mut result = Ok(());
    for json in batch.drain(..) {
        match check_size(&json, max) {
            Ok(()) => joined.extend_from_slice(&json),
            Err(e) => result = Err(e),
        }
    }
    (joined, result)
}

async fn write_flush(
    w: &mut (impl AsyncWrite + Unpin + ?Sized),
    json: &[u8],
) -> TransportResult<()> {
    w.write_all(json).await?;
    w.flush().await?;
    Ok(())
}

async fn shutdown(w: &mut (impl AsyncWrite + Unpin + ?Sized)) -> TransportResult<()> {
    match w.shutdown().await {
        Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e.into()),
        _ => Ok(()),
    }
}

#[async_trait]
impl Transport for TcpTransport {
    async fn send_bytes(&mut self, json: Bytes) -> TransportResult<()> {
        check_size(&json, self.options.max_envelope_size)?;
        self.write(&json).await
    }

    async fn send_many(&mut self, batch: &mut Vec<Bytes>) -> TransportResult<()> {
        let (joined, result) = join_batch(batch, self.options.max_envelope_size);
        self.write(&joined).await?;
        result
    }

    async fn receive(&mut self) -> TransportResult<Option<Envelope>> {
        let Some(tcp) = self.tcp.as_mut() else { return Err(TransportError::Closed) };
        let received = if self.layers.is_empty() {
            self.reader.receive_from(tcp).await
        } else {
            self.reader
                .receive_layered(Socket::Whole(tcp), LayersRef::Owned(&mut self.layers))
                .await
        };
        // Frames are kept only for the split receiver (`take_received_bytes`).
        self.reader.last = None;
        whole(received)
    }

    async fn close(&mut self) -> TransportResult<()> {
        let Some(mut tcp) = self.tcp.take() else { return Ok(()) };
        let mut out = Vec::new();
        self.layers.close(&mut out);
        if !out.is_empty() {
            // The peer may be gone already; the shutdown below reports what matters.
            let _ = tcp.write_all(&out).await;
        }
        shutdown(&mut tcp).await
    }

    fn supported_encryption(&self) -> Vec<SessionEncryption> {
        match &self.role {
            Role::Server { tls: None } => vec![SessionEncryption::None],
            // Without the `tls` feature a client cannot upgrade.
            _ if !cfg!(feature = "tls") => vec![SessionEncryption::None],
            _ => vec![SessionEncryption::None, SessionEncryption::Tls],
        }
    }

    fn supported_compression(&self) -> Vec<SessionCompression> {
        if self.options.enable_gzip {
            vec![SessionCompression::None, SessionCompression::Gzip]
        } else {
            vec![SessionCompression::None]
        }
    }

    fn encryption(&self) -> SessionEncryption {
        self.layers.encryption()
    }

    fn compression(&self) -> SessionCompression {
        self.layers.compression()
    }

    async fn set_encryption(&mut self, encryption: SessionEncryption) -> TransportResult<()> {
        if encryption == self.encryption() {
            return Ok(());
        }
        if encryption != SessionEncryption::Tls
            || !self.supported_encryption().contains(&encryption)
        {
            return Err(TransportError::Unsupported(format!("encryption {encryption}")));
        }
        if self.reader.has_pending_data() {
            return Err(TransportError::Tls(
                "unexpected plaintext received before the TLS handshake".into(),
            ));
        }
        self.switch(self.compression(), encryption).await
    }

    async fn set_compression(&mut self, compression: SessionCompression) -> TransportResult<()> {
        if compression == self.compression() {
            return Ok(());
        }
        if compression != SessionCompression::Gzip || !self.options.enable_gzip {
            return Err(TransportError::Unsupported(format!("compression {compression}")));
        }
        self.switch(compression, self.encryption()).await
    }

    fn peer_certificate_names(&self) -> Vec<String> {
        self.peer_names.clone()
    }

    fn remote_addr(&self) -> Option<String> {
        self.remote.map(|a| a.to_string())
    }

    fn split(self: Box<Self>) -> (Box<dyn TransportSender>, Box<dyn TransportReceiver>) {
        let me = *self;
        let max = me.options.max_envelope_size;
        let Some(tcp) = me.tcp else {
            let sender = TcpSender { w: None, layers: None, max };
            return (
                Box::new(sender),
                Box::new(TcpReceiver { r: None, layers: None, reader: me.reader }),
            );
        };
        let (r, w) = tcp.into_split();
        let layers = (!me.layers.is_empty()).then(|| SharedLayers(Arc::new(Mutex::new(me.layers))));
        let sender = TcpSender { w: Some(w), layers: layers.clone(), max };
        (Box::new(sender), Box::new(TcpReceiver { r: Some(r), layers, reader: me.reader }))
    }
}

struct TcpReceiver {
    r: Option<OwnedReadHalf>,
    layers: Option<SharedLayers>,
    reader: Reader,
}

#[async_trait]
impl TransportReceiver for TcpReceiver {
    async fn receive(&mut self) -> TransportResult<Option<Envelope>> {
        self.reader.routable = false;
        whole(self.receive_next().await)
    }

    fn take_received_bytes(&mut self) -> Option<Bytes> {
        self.reader.last.take()
    }

    async fn receive_routable(&mut self) -> TransportResult<Option<Received>> {
        self.reader.routable = true;
        self.receive_next().await
    }
}

impl TcpReceiver {
    async fn receive_next(&mut self) -> TransportResult<Option<Received>> {
        self.reader.last = None;
        let Some(half) = self.r.as_mut() else { return Err(TransportError::Closed) };
        match &self.layers {
            None => self.reader.receive_tcp(half).await,
            Some(shared) => {
                self.reader.receive_layered(Socket::Half(half), LayersRef::Shared(shared)).await
            }
        }
    }
}

struct TcpSender {
    w: Option<OwnedWriteHalf>,
    layers: Option<SharedLayers>,
    max: usize,
}

impl TcpSender {
    async fn write(&mut self, json: &[u8]) -> TransportResult<()> {
        let w = self.w.as_mut().ok_or(TransportError::Closed)?;
        match &self.layers {
            None => write_flush(w, json).await,
            Some(shared) => {
                let mut out = Vec::new();
                shared.lock().encode(json, &mut out)?;
                write_flush(w, &out).await
            }
        }
    }
}

#[async_trait]
impl TransportSender for TcpSender {
    async fn send_bytes(&mut self, json: Bytes) -> TransportResult<()> {
        check_size(&json, self.max)?;
        self.write(&json).await
    }

    async fn send_many(&mut self, batch: &mut Vec<Bytes>) -> TransportResult<()> {
        let (joined, result) = join_batch(batch, self.max);
        self.write(&joined).await?;
        result
    }

    async fn close(&mut self) -> TransportResult<()> {
        let Some(mut w) = self.w.take() else { return Ok(()) };
        if let Some(shared) = &self.layers {
            let mut out = Vec::new();
            shared.lock().close(&mut out);
            if !out.is_empty() {
                let _ = w.write_all(&out).await;
            }
        }
        shutdown(&mut w).await
    }
}

/// Accepts LIME TCP connections.
#[derive(Debug)]
pub struct TcpTransportListener {
    listener: TcpListener,
    tls: Option<ServerTlsConfig>,
    options: TransportOptions,
    keepalive: Option<Duration>,
}

/// Turns TCP keepalive on for `stream`: probes after `idle` without traffic, then every
/// `idle / 4` (at least 1 s), 4 of them, so a silent dead peer is dropped after about
/// `2 × idle`. On Linux, `TCP_USER_TIMEOUT` is set to `2 × idle` as well, so data left
/// unacknowledged that long (a peer that vanished while data was in flight, which keepalive does
/// not probe) also drops the connection.
pub(crate) fn set_keepalive(stream: &TcpStream, idle: Duration) -> io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new().with_time(idle);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "windows"
    ))]
    let keepalive = keepalive.with_interval((idle / 4).max(Duration::from_secs(1))).with_retries(4);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(idle.saturating_mul(2)))?;
    Ok(())
}

impl TcpTransportListener {
    /// Binds `addr` (`host:port`). With `tls`, accepted connections can negotiate TLS.
    pub async fn bind(
        addr: &str,
        tls: Option<ServerTlsConfig>,
        options: TransportOptions,
    ) -> io::Result<Self> {
        Ok(Self { listener: TcpListener::bind(addr).await?, tls, options, keepalive: None })
    }

    /// Sets TCP keepalive (probes after `idle` without traffic) on every accepted connection;
    /// `None` leaves the system defaults.
    #[must_use]
    pub fn with_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.keepalive = idle.filter(|d| !d.is_zero());
        self
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts the next connection.
    pub async fn accept(&self) -> io::Result<TcpTransport> {
        let (stream, addr) = self.listener.accept().await?;
        if let Some(idle) = self.keepalive {
            if let Err(e) = set_keepalive(&stream, idle) {
                tracing::debug!(%addr, error = %e, "cannot set TCP keepalive");
            }
        }
        TcpTransport::accept(stream, self.tls.clone(), self.options.clone())
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::timeout;

    use super::*;
    use crate::{Message, Session, SessionState};

    const T: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn accepted_connections_get_tcp_keepalive() {
        let listener = TcpTransportListener::bind("127.0.0.1:0", None, TransportOptions::default())
            .await
            .unwrap()
            .with_keepalive(Some(Duration::from_secs(40)));
        let addr = listener.local_addr().unwrap();
        let (server, client) = tokio::join!(listener.accept(), TcpStream::connect(addr));
        let (server, client) = (server.unwrap(), client.unwrap());
        let socket = socket2::SockRef::from(server.tcp.as_ref().unwrap());
        assert!(socket.keepalive().unwrap());
        #[cfg(target_os = "linux")]
        {
            assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(40));
            assert_eq!(socket.tcp_keepalive_interval().unwrap(), Duration::from_secs(10));
            assert_eq!(socket.tcp_keepalive_retries().unwrap(), 4);
            assert_eq!(socket.tcp_user_timeout().unwrap(), Some(Duration::from_secs(80)));
        }
        // without it, the system default (off) is left alone
        let plain = TcpTransportListener::bind("127.0.0.1:0", None, TransportOptions::default())
            .await
            .unwrap();
        let addr = plain.local_addr().unwrap();
        let (server, _client2) = tokio::join!(plain.accept(), TcpStream::connect(addr));
        let server = server.unwrap();
        assert!(!socket2::SockRef::from(server.tcp.as_ref().unwrap()).keepalive().unwrap());
        drop(client);
    }

    async fn pair(
        server_tls: Option<ServerTlsConfig>,
        client_tls: ClientTlsConfig,
        options: TransportOptions,
    ) -> (TcpTransport, TcpTransport) {
        let listener =
            TcpTransportListener::bind("127.0.0.1:0", server_tls, options.clone()).await.unwrap();
        let uri = format!("net.tcp://localhost:{}", listener.local_addr().unwrap().port());
        let (server, client) =
            tokio::join!(listener.accept(), TcpTransport::connect(&uri, client_tls, options));
        (server.unwrap(), client.unwrap())
    }

    fn cert() -> (String, String) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (ck.cert.pem(), ck.signing_key.serialize_pem())
    }

    #[tokio::test]
    async fn envelopes_flow_both_ways_and_eof_is_none() {
        let (mut s, mut c) =
            pair(None, ClientTlsConfig::default(), TransportOptions::default()).await;
        let new: Envelope = Session::new(SessionState::New).into();
        c.send(&new).await.unwrap();
        assert_eq!(timeout(T, s.receive()).await.unwrap().unwrap(), Some(new));
        let msg: Envelope = Message::text("hi {\"}").with_id("1").into();
        s.send(&msg).await.unwrap();
        assert_eq!(timeout(T, c.receive()).await.unwrap().unwrap(), Some(msg));
        c.close().await.unwrap();
        assert_eq!(timeout(T, s.receive()).await.unwrap().unwrap(), None);
    }

    #[tokio::test]
    async fn tls_upgrade_in_band() {
        let (cert, key) = cert();
        let server_tls = ServerTlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let client_tls = ClientTlsConfig::builder()
            .without_default_roots()
            .add_roots_pem(cert.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let (mut s, mut c) = pair(Some(server_tls), client_tls, TransportOptions::default()).await;
        assert!(s.supported_encryption().contains(&SessionEncryption::Tls));
        let confirmation: Envelope = Session::new(SessionState::Negotiating).into();
        s.send(&confirmation).await.unwrap();
        assert_eq!(c.receive().await.unwrap(), Some(confirmation));
        let (a, b) = tokio::join!(
            s.set_encryption(SessionEncryption::Tls),
            c.set_encryption(SessionEncryption::Tls)
        );
        a.unwrap();
        b.unwrap();
        let auth: Envelope = Session::new(SessionState::Authenticating).into();
        c.send(&auth).await.unwrap();
        assert_eq!(timeout(T, s.receive()).await.unwrap().unwrap(), Some(auth));
        // after splitting, both halves still speak TLS
        let (mut ss, mut sr) = Box::new(s).split();
        let (mut cs, mut cr) = Box::new(c).split();
        ss.send(&Message::text("over tls").into()).await.unwrap();
        assert!(timeout(T, cr.receive()).await.unwrap().unwrap().is_some());
        cs.send(&Message::text("back").into()).await.unwrap();
        assert!(timeout(T, sr.receive()).await.unwrap().unwrap().is_some());
    }

    #[tokio::test]
    async fn untrusted_server_certificate_fails_the_upgrade() {
        let (cert, key) = cert();
        let server_tls = ServerTlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let (mut s, mut c) =
            pair(Some(server_tls), ClientTlsConfig::default(), TransportOptions::default()).await;
        let (_, b) = tokio::join!(
            s.set_encryption(SessionEncryption::Tls),
            c.set_encryption(SessionEncryption::Tls)
        );
        assert!(matches!(b, Err(TransportError::Tls(_))), "{b:?}");
    }

    #[tokio::test]
    async fn server_without_certificate_offers_no_tls() {
        let (s, c) = pair(None, ClientTlsConfig::default(), TransportOptions::default()).await;
        assert_eq!(s.supported_encryption(), vec![SessionEncryption::None]);
        assert!(c.supported_encryption().contains(&SessionEncryption::Tls));
    }

    #[tokio::test]
    async fn plaintext_read_ahead_refuses_the_upgrade() {
        let (cert, key) = cert();
        let server_tls = ServerTlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        let (mut s, mut c) =
            pair(Some(server_tls), ClientTlsConfig::default(), TransportOptions::default()).await;
        c.write(b"{\"state\":\"negotiating\"}{\"state\"").await.unwrap();
        assert!(s.receive().await.unwrap().is_some());
        let err = s.set_encryption(SessionEncryption::Tls).await.unwrap_err();
        assert!(matches!(err, TransportError::Tls(_)), "{err:?}");
    }

    #[tokio::test]
    async fn gzip_when_both_enable_it() {
        let options = TransportOptions { enable_gzip: true, ..TransportOptions::default() };
        let (mut s, mut c) = pair(None, ClientTlsConfig::default(), options).await;
        assert!(s.supported_compression().contains(&SessionCompression::Gzip));
        s.set_compression(SessionCompression::Gzip).await.unwrap();
        c.set_compression(SessionCompression::Gzip).await.unwrap();
        let msg: Envelope = Message::text("compressed ".repeat(100)).into();
        c.send(&msg).await.unwrap();
        assert_eq!(timeout(T, s.receive()).await.unwrap().unwrap(), Some(msg.clone()));
        let (mut ss, _sr) = Box::new(s).split();
        ss.send(&msg).await.unwrap();
        assert_eq!(timeout(T, c.receive()).await.unwrap().unwrap(), Some(msg));
    }

    #[tokio::test]
    async fn oversize_incoming_is_an_error_and_outgoing_is_refused() {
        let small = TransportOptions { max_envelope_size: 64, ..TransportOptions::default() };
        let (mut s, mut c) = pair(None, ClientTlsConfig::default(), small).await;
        let big: Envelope = Message::text("x".repeat(200)).into();
        assert!(matches!(c.send(&big).await, Err(TransportError::EnvelopeTooLarge { .. })));
        c.send(&Message::text("ok").into()).await.unwrap();
        assert!(s.receive().await.unwrap().is_some());
        c.write(&big.to_vec()).await.unwrap();
        let err = timeout(T, s.receive()).await.unwrap().unwrap_err();
        assert!(matches!(err, TransportError::Frame(FrameError::TooLarge { .. })), "{err:?}");
    }

    #[tokio::test]
    async fn invalid_uris() {
        for uri in ["tcp://x:1", "net.tcp://", "net.tcp://h:port"] {
            let err =
                TcpTransport::connect(uri, ClientTlsConfig::default(), TransportOptions::default())
                    .await
                    .unwrap_err();
            assert!(matches!(err, TransportError::InvalidUri(_)), "{uri}: {err:?}");
        }
    }
}
