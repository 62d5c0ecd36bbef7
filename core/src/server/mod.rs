//! The LIME routing server: TCP and WebSocket listeners, session handshakes with negotiation
//! and pluggable authentication, a node registry, and routing between established sessions.
//!
//! Behaviour follows the C# server (PROTOCOL §3.2) with the additions the C# one lacks: a
//! handshake timeout (failed, reason 16), graceful shutdown (every session gets failed,
//! reason 11 "The server is being shut down"), `from` and `pp` validation so no client can
//! impersonate another node (reason 32), identity rules at establishment (the server's identity
//! is reserved, guests cannot take identities with credentials, claimed nodes are checked: see
//! [`identity`] and [`AuthConfig`]), and failures for undeliverable envelopes (reason 42).
//!
//! Flow control: routing never waits for a recipient. Each session's outgoing queue is bounded
//! in envelopes ([`ServerConfig::queue_capacity`], 256) and in bytes queued or being written
//! ([`ServerConfig::queue_max_bytes`], 16 MiB); an envelope that does not fit in its
//! recipient's queue is refused to its sender at once (a message with an id gets `failed`, a
//! command request gets a `failure` response, reason 51 "The destination's queue is full"; a
//! fire-and-forget message, notification or response is dropped, as undeliverable ones are).
//! So one session that stops reading costs its senders a refusal, never a stall: their other
//! messages and pings go on. Only envelopes a session sends to itself wait for room, which
//! slows that connection alone. A write that stays blocked for [`ServerConfig::send_timeout`]
//! (30 s) ends the recipient's session as a slow consumer (its connection is closed, what it
//! had queued is dropped), as C# channels and NATS do. [`ServerHandle::stats`] reports queue
//! usage and the refusals.
//!
//! Envelopes are forwarded as they were received: the server stamps `from` into the received
//! bytes and leaves everything else (content, unknown fields, number spellings, escapes, key
//! order) untouched. An envelope that the stamp makes larger than the maximum envelope size is
//! refused to its sender (reason 21), never dropped silently.
//!
//! Transport security and liveness: with [`ServerConfig::require_tls`] every session is
//! encrypted (TCP sessions must negotiate `tls`: choosing `none` fails with reason 17); `plain`
//! and `key` passwords are not accepted on an unencrypted session of a server that has a
//! certificate unless [`ServerConfig::allow_cleartext_passwords`] (without a certificate there
//! is no alternative and they are accepted, for local use); failed authentications are
//! throttled per source address and per identity ([`ServerConfig::auth_throttle`], refused
//! with reason 13 without being checked); silent sessions are pinged and ended
//! ([`ServerConfig::remote_ping_interval`], [`ServerConfig::remote_idle_timeout`]) and TCP
//! keepalive is set on accepted sockets ([`ServerConfig::tcp_keepalive`]), so a peer that
//! vanishes without closing its connection is cleaned up within 3 minutes by default.
//!
//! # Examples
//!
//! ```no_run
//! use lime::server::{Server, ServerConfig};
//!
//! # async fn run() -> Result<(), lime::Error> {
//! let config = ServerConfig { tcp: vec!["127.0.0.1:55321".into()], ..ServerConfig::default() };
//! let handle = Server::bind(config).await?.start();
//! println!("listening on {:?}", handle.tcp_addrs());
//! tokio::signal::ctrl_c().await.ok();
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod cluster;
pub mod identity;
pub mod metrics;
mod router;
mod session;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use self::router::Router;
pub use self::{
    auth::{
        AuthConfig, AuthOutcome, AuthRequest, AuthThrottle, Authenticator, ThrottleConfig, UserFile,
    },
    metrics::ServerMetrics,
    router::{DuplicatePolicy, ServerStats},
};
use crate::{
    channel::ChannelOptions,
    transport::{
        tcp::TcpTransportListener,
        tls::ServerTlsConfig,
        websocket::{WebSocketListener, WebSocketTransport},
        Transport, TransportOptions,
    },
    Error, Node, SessionCompression, SessionEncryption, TransportError,
};

/// Everything a server needs; `ServerConfig::default()` is the embedded configuration of
/// `lime serve` without flags (no listeners: set `tcp`/`ws`).
#[derive(Clone)]
pub struct ServerConfig {
    /// The server's own node (`postmaster@<domain>/<instance>`).
    pub node: Node,
    /// TCP listen addresses (`host:port`).
    pub tcp: Vec<String>,
    /// WebSocket listen addresses (`host:port`).
    pub ws: Vec<String>,
    /// Certificate for the TCP TLS upgrade (offered only with one) and, with `wss`, WebSocket.
    pub tls: Option<ServerTlsConfig>,
    /// Serve WebSocket over TLS (`wss://`) using `tls`.
    pub wss: bool,
    /// Who may establish sessions.
    pub authenticator: Arc<dyn Authenticator>,
    /// Encryption options enabled (intersected with what each transport supports).
    pub encryption: Vec<SessionEncryption>,
    /// Compression options enabled (intersected with what each transport supports).
    pub compression: Vec<SessionCompression>,
    /// Time allowed from connection to `established` (then failed, reason 16).
    pub handshake_timeout: Duration,
    /// Size limit and gzip switch for the transports.
    pub transport: TransportOptions,
    /// What to do when a node connects twice.
    pub duplicates: DuplicatePolicy,
    /// Outgoing queue per session, in envelopes. Routing never waits for room in another
    /// session's queue: an envelope that does not fit is refused (reason 51, see the module
    /// docs); envelopes to the sender's own session wait (back-pressure).
    pub queue_capacity: usize,
    /// Outgoing queue per session, in bytes queued or being written (default 16 MiB); an
    /// envelope larger than this still passes when the queue is empty.
    pub queue_max_bytes: usize,
    /// A write to a session's connection that stays blocked this long (the peer does not
    /// read) ends the session as a slow consumer (default 30 s; `None`: never).
    pub send_timeout: Option<Duration>,
    /// Channel behaviour (ping replies for pings addressed to the server).
    pub channel: ChannelOptions,
    /// Ping a session that has been silent this long (default 60 s; `None` turns remote ping
    /// and the idle timeout off).
    pub remote_ping_interval: Option<Duration>,
    /// End (`finished`) a session that stays silent this long, counted from the last envelope
    /// received, once a ping is outstanding (default 180 s; at least the ping interval).
    pub remote_idle_timeout: Option<Duration>,
    /// Every session must be encrypted: TCP sessions must negotiate `tls` (only `tls` is
    /// offered; choosing `none` fails with reason 17) and WebSocket listeners must be `wss`.
    /// Needs `tls`.
    pub require_tls: bool,
    /// Accept `plain` and `key` credentials on an unencrypted session even though the server has
    /// a certificate (`tls` is `Some`). Off by default: then those schemes are not offered on
    /// cleartext sessions. Without a certificate they are always accepted (no session could be
    /// encrypted; for local use).
    pub allow_cleartext_passwords: bool,
    /// Failed-authentication throttling per source address and per identity (default: 10
    /// failures, then one every 2 s; `burst: 0` turns it off).
    pub auth_throttle: ThrottleConfig,
    /// TCP keepalive on accepted TCP and WebSocket sockets: probes start after this much idle
    /// time and a peer that answers none is dropped after about twice it (on Linux, data left
    /// unacknowledged that long also drops the connection: `TCP_USER_TIMEOUT`). Default 60 s;
    /// `None` leaves the system defaults (keepalive off).
    pub tcp_keepalive: Option<Duration>,
    /// Join a cluster: servers sharing a broker form one routing domain (see [`cluster`]).
    /// `None` (the default): one process, in-memory registry, no broker.
    pub cluster: Option<cluster::ClusterConfig>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("node", &self.node)
            .field("tcp", &self.tcp)
            .field("ws", &self.ws)
            .field("tls", &self.tls.is_some())
            .field("wss", &self.wss)
            .field("schemes", &self.authenticator.schemes())
            .field("handshake_timeout", &self.handshake_timeout)
            .field("require_tls", &self.require_tls)
            .field("allow_cleartext_passwords", &self.allow_cleartext_passwords)
            .field("auth_throttle", &self.auth_throttle)
            .field("remote_ping_interval", &self.remote_ping_interval)
            .field("remote_idle_timeout", &self.remote_idle_timeout)
            .field("tcp_keepalive", &self.tcp_keepalive)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            node: Node::new(Some("postmaster"), Some("localhost"), Some("server")),
            tcp: Vec::new(),
            ws: Vec::new(),
            tls: None,
            wss: false,
            authenticator: Arc::new(AuthConfig::guest()),
            encryption: vec![SessionEncryption::None, SessionEncryption::Tls],
            compression: vec![SessionCompression::None, SessionCompression::Gzip],
            handshake_timeout: Duration::from_secs(30),
            transport: TransportOptions::default(),
            duplicates: DuplicatePolicy::default(),
            queue_capacity: 256,
            queue_max_bytes: DEFAULT_QUEUE_MAX_BYTES,
            send_timeout: Some(DEFAULT_SEND_TIMEOUT),
            channel: ChannelOptions::server(),
            remote_ping_interval: Some(DEFAULT_REMOTE_PING_INTERVAL),
            remote_idle_timeout: Some(DEFAULT_REMOTE_IDLE_TIMEOUT),
            require_tls: false,
            allow_cleartext_passwords: false,
            auth_throttle: ThrottleConfig::default(),
            tcp_keepalive: Some(DEFAULT_TCP_KEEPALIVE),
            cluster: None,
        }
    }
}

/// Default [`ServerConfig::remote_ping_interval`]: 60 s.
pub const DEFAULT_REMOTE_PING_INTERVAL: Duration = Duration::from_secs(60);
/// Default [`ServerConfig::remote_idle_timeout`]: 180 s.
pub const DEFAULT_REMOTE_IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// Default [`ServerConfig::tcp_keepalive`]: 60 s.
pub const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Default [`ServerConfig::queue_max_bytes`]: 16 MiB.
pub const DEFAULT_QUEUE_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Default [`ServerConfig::send_timeout`]: 30 s.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Shared {
    config: ServerConfig,
    router: Router,
    shutdown: watch::Receiver<bool>,
    throttle: AuthThrottle,
}

/// A bound server, not yet accepting. See [`Server::start`].
pub struct Server {
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    tcp: Vec<TcpTransportListener>,
    ws: Vec<WebSocketListener>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

impl Server {
    /// Binds every listener of `config` (errors such as "address in use" surface here).
    pub async fn bind(config: ServerConfig) -> Result<Self, Error> {
        if config.wss && config.tls.is_none() {
            return Err(TransportError::Tls("wss needs a certificate and key".into()).into());
        }
        if config.require_tls {
            if config.tls.is_none() {
                return Err(
                    TransportError::Tls("require_tls needs a certificate and key".into()).into()
                );
            }
            if !config.encryption.contains(&SessionEncryption::Tls) {
                return Err(TransportError::Tls(
                    "require_tls needs the tls encryption option enabled".into(),
                )
                .into());
            }
            if !config.ws.is_empty() && !config.wss {
                return Err(TransportError::Tls(
                    "require_tls: WebSocket listeners must be wss (or turned off)".into(),
                )
                .into());
            }
        }
        if config.authenticator.schemes().is_empty() {
            return Err(
                TransportError::Unsupported("no authentication scheme is enabled".into()).into()
            );
        }
        let mut tcp = Vec::new();
        for addr in &config.tcp {
            let l = TcpTransportListener::bind(addr, config.tls.clone(), config.transport.clone())
                .await
                .map_err(|e| TransportError::Io(format!("cannot listen on TCP {addr}: {e}")))?
                .with_keepalive(config.tcp_keepalive);
            tcp.push(l);
        }
        let mut ws = Vec::new();
        for addr in &config.ws {
            let tls = if config.wss { config.tls.clone() } else { None };
            let l = WebSocketListener::bind(addr, tls, config.transport.clone()).await.map_err(
                |e| TransportError::Io(format!("cannot listen on WebSocket {addr}: {e}")),
            )?;
            ws.push(l);
        }
        let (shutdown_tx, shutdown) = watch::channel(false);
        let cluster = config.cluster.as_ref().map(|c| Arc::new(cluster::Cluster::new(c)));
        let router =
            Router::new(config.node.clone(), config.duplicates, config.transport.max_envelope_size)
                .with_cluster(cluster);
        let throttle = AuthThrottle::new(config.auth_throttle);
        Ok(Self {
            shared: Arc::new(Shared { config, router, shutdown, throttle }),
            shutdown_tx,
            tcp,
            ws,
        })
    }

    /// Starts accepting on every listener.
    pub fn start(self) -> ServerHandle {
        let (guard, done) = mpsc::channel::<()>(1);
        let tcp_addrs = self.tcp.iter().filter_map(|l| l.local_addr().ok()).collect();
        let ws_addrs = self.ws.iter().filter_map(|l| l.local_addr().ok()).collect();
        if let Some(cluster) = &self.shared.router.cluster {
            cluster.start(&self.shared);
        }
        let mut accept_loops = Vec::new();
        for l in self.tcp {
            accept_loops.push(tokio::spawn(accept_tcp(self.shared.clone(), l, guard.clone())));
        }
        for l in self.ws {
            accept_loops.push(tokio::spawn(accept_ws(self.shared.clone(), l, guard.clone())));
        }
        ServerHandle {
            shared: self.shared,
            shutdown_tx: self.shutdown_tx,
            accept_loops,
            guard: Some(guard),
            done,
            tcp_addrs,
            ws_addrs,
        }
    }
}

/// A running server.
pub struct ServerHandle {
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
    accept_loops: Vec<JoinHandle<()>>,
    guard: Option<mpsc::Sender<()>>,
    done: mpsc::Receiver<()>,
    tcp_addrs: Vec<SocketAddr>,
    ws_addrs: Vec<SocketAddr>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("tcp", &self.tcp_addrs)
            .field("ws", &self.ws_addrs)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Bound TCP addresses.
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp_addrs
    }

    /// Bound WebSocket addresses.
    pub fn ws_addrs(&self) -> &[SocketAddr] {
        &self.ws_addrs
    }

    /// Number of established sessions.
    pub fn session_count(&self) -> usize {
        self.shared.router.len()
    }

    /// Routing counters and the sessions' outgoing queue usage, now.
    pub fn stats(&self) -> ServerStats {
        self.shared.router.stats()
    }

    /// The operator counters now (sessions by state, envelopes by kind, failures by reason
    /// code; see [`metrics`]).
    pub fn metrics(&self) -> ServerMetrics {
        self.monitor().metrics()
    }

    /// A cheap, clonable view of the running server's counters, for an exporter that lives
    /// apart from the handle (the handle is consumed by [`ServerHandle::shutdown`]).
    pub fn monitor(&self) -> ServerMonitor {
        ServerMonitor { shared: self.shared.clone() }
    }

    /// Runs a session over any transport (e.g. one end of a [`MemoryTransport`] pair) as if it
    /// had been accepted by a listener.
    ///
    /// [`MemoryTransport`]: crate::transport::memory::MemoryTransport
    pub fn serve(&self, transport: Box<dyn Transport>) {
        if let Some(guard) = &self.guard {
            tokio::spawn(session::run(self.shared.clone(), transport, guard.clone()));
        }
    }

    /// Stops accepting, fails every session with reason 11 "The server is being shut down",
    /// and returns once every connection is closed.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        for l in &self.accept_loops {
            l.abort();
        }
        for l in self.accept_loops.drain(..) {
            let _ = l.await;
        }
        self.guard = None;
        while self.done.recv().await.is_some() {}
        // Leaves the cluster: this server's nodes are released at once, not after the lease.
        if let Some(cluster) = &self.shared.router.cluster {
            cluster.stop().await;
        }
    }
}

/// Reads a running server's counters ([`ServerHandle::monitor`]).
#[derive(Clone)]
pub struct ServerMonitor {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerMonitor").finish_non_exhaustive()
    }
}

impl ServerMonitor {
    /// See [`ServerHandle::metrics`].
    pub fn metrics(&self) -> ServerMetrics {
        let router = &self.shared.router;
        router.metrics.snapshot(router.len(), router.cluster.is_some())
    }

    /// See [`ServerHandle::stats`].
    pub fn stats(&self) -> ServerStats {
        self.shared.router.stats()
    }

    /// Whether the server serves: its listeners are up (they are from [`Server::start`] until
    /// shutdown begins) and, in a cluster, its broker link is up.
    pub fn is_ready(&self) -> bool {
        let linked = self.shared.router.cluster.as_ref().is_none_or(|c| c.is_linked());
        !*self.shared.shutdown.borrow() && linked
    }
}

async fn accept_tcp(shared: Arc<Shared>, listener: TcpTransportListener, guard: mpsc::Sender<()>) {
    loop {
        match listener.accept().await {
            Ok(t) => {
                tokio::spawn(session::run(shared.clone(), Box::new(t), guard.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn accept_ws(shared: Arc<Shared>, listener: WebSocketListener, guard: mpsc::Sender<()>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                if let Some(idle) = shared.config.tcp_keepalive {
                    if let Err(e) = crate::transport::tcp::set_keepalive(&stream, idle) {
                        tracing::debug!(%addr, error = %e, "cannot set TCP keepalive");
                    }
                }
                let shared = shared.clone();
                let guard = guard.clone();
                let tls = listener.tls().cloned();
                let options = listener.options().clone();
                let limit = shared.config.handshake_timeout;
                tokio::spawn(async move {
                    match tokio::time::timeout(
                        limit,
                        WebSocketTransport::accept(stream, tls.as_ref(), options),
                    )
                    .await
                    {
                        Ok(Ok(t)) => session::run(shared, Box::new(t), guard).await,
                        Ok(Err(e)) => {
                            tracing::debug!(%addr, error = %e, "WebSocket handshake failed")
                        }
                        Err(_) => tracing::debug!(%addr, "WebSocket handshake timed out"),
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "WebSocket accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
