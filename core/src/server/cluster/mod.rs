//! Several servers, one routing domain: servers that share a [`Broker`] (NATS with the
//! `cluster` feature: the `nats` module) route between each other's sessions.
//!
//! # Design
//!
//! - **Registry.** Every established node is a key in the broker's registry (`n.<hex of the
//!   node>`, value: the owning server's id), written with compare-and-set: `create` when the
//!   node is new, `update` at the read revision when it takes over (duplicate policy
//!   `replace`, or an owner that is dead). So the duplicate-node policy holds across servers;
//!   with `replace`, the old owner sees the new revision and fails its session (reason 11).
//! - **Leases.** Each server refreshes its own key `s.<id>` every third of the lease
//!   ([`ClusterConfig::lease`], default 10 s). Every server watches the whole registry and keeps
//!   a replica of it; a server whose key has not been refreshed for a lease is dead: the others
//!   drop its nodes and delete its keys. So a killed server's nodes linger at most about
//!   `lease + lease/4` after its last refresh; a graceful shutdown deletes them at once.
//! - **Delivery.** A node- or identity-addressed envelope whose destination (or some instance
//!   of it) lives on another server is published once per such server, on that server's
//!   subject, with the bytes as received (`from` stamped). The receiving server queues it for its
//!   local sessions; when none takes it, the failure (reason 42, or 51 for a full queue) travels
//!   back to the origin's server the same way. Receipts, command responses and ping replies are
//!   envelopes like others and take the same path.
//! - **Guarantees.** At most once across servers: an envelope published while the link is down
//!   or its buffer full is dropped (and counted), never retried. A server that loses the broker
//!   keeps routing between its own sessions; sessions that establish meanwhile are accepted
//!   unchecked against the other servers and registered when the link is back.
//!
//! Routing consults only the local replica (no broker round trip per envelope); the registry
//! is written once per session establishment and end, plus one lease refresh per server.

#[cfg(feature = "cluster")]
pub mod nats;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, RwLock, Weak,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures_util::{stream::BoxStream, StreamExt};
use tokio::{sync::mpsc, task::JoinHandle};

use super::{router::Router, DuplicatePolicy, Shared};
use crate::{
    channel::queue::TrySendError, reason::codes, Envelope, EnvelopeKind, Identity, Node, Reason,
};

/// A broker failure (connection, timeout, refusal), as text.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{0}")]
pub struct BrokerError(pub String);

/// An envelope on its way to another server.
#[derive(Clone, Debug)]
pub struct Forward {
    /// The destination as addressed (a node or an identity). Shared: a run of envelopes to one
    /// destination carries one text.
    pub to: Arc<str>,
    /// The server that published it (where failures go back).
    pub origin_server: Arc<str>,
    /// Its kind (for the receiver's counters).
    pub kind: EnvelopeKind,
    /// When it was published, in microseconds since the Unix epoch (sender's clock).
    pub sent_micros: u64,
    /// The envelope's bytes, `from` stamped.
    pub payload: Bytes,
}

/// A change in the shared registry, as [`Broker::watch`] reports it.
#[derive(Clone, Debug)]
pub enum RegistryEvent {
    /// `key` now holds `value` at `revision`.
    Put {
        /// The key.
        key: String,
        /// Its value.
        value: Bytes,
        /// The revision of this write.
        revision: u64,
    },
    /// `key` was deleted.
    Delete {
        /// The key.
        key: String,
    },
}

/// What a cluster needs from its broker: a key-value registry with revisions
/// (compare-and-set), a watch of every change, and one subject per server. Implemented for NATS
/// (`nats::NatsBroker`, feature `cluster`); another engine (Redis, …) implements the same.
#[async_trait::async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Writes `key` if it does not exist: `Some(revision)`, or `None` when it exists.
    async fn create(&self, key: &str, value: Bytes) -> Result<Option<u64>, BrokerError>;
    /// The value and revision of `key`, if it exists.
    async fn entry(&self, key: &str) -> Result<Option<(Bytes, u64)>, BrokerError>;
    /// Writes `key` if its revision is still `revision`: `Some(new revision)`, or `None` when
    /// someone else wrote it since.
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        revision: u64,
    ) -> Result<Option<u64>, BrokerError>;
    /// Writes `key` unconditionally (lease refreshes).
    async fn put(&self, key: &str, value: Bytes) -> Result<u64, BrokerError>;
    /// Deletes `key`, only at `revision` when one is given (`Ok(false)`: it had changed).
    async fn delete(&self, key: &str, revision: Option<u64>) -> Result<bool, BrokerError>;
    /// Every key's current value, then every change, in order.
    async fn watch(
        &self,
    ) -> Result<BoxStream<'static, Result<RegistryEvent, BrokerError>>, BrokerError>;
    /// Sends `message` to the server `server` (at most once).
    async fn publish(&self, server: &str, message: Forward) -> Result<(), BrokerError>;
    /// Sends `messages` to the server `server`, in order (at most once each). The publisher
    /// calls it with what it drained from its queue for one server; a broker can carry them in
    /// fewer messages than one each. By default one [`Broker::publish`] each; `Err` after the
    /// first failure (the rest are not sent).
    async fn publish_batch(&self, server: &str, messages: Vec<Forward>) -> Result<(), BrokerError> {
        for message in messages {
            self.publish(server, message).await?;
        }
        Ok(())
    }
    /// What other servers publish to `server`.
    async fn subscribe(&self, server: &str) -> Result<BoxStream<'static, Forward>, BrokerError>;
    /// Whether the broker connection is up now.
    fn is_connected(&self) -> bool;
}

/// Joins a server to a cluster ([`ServerConfig::cluster`](super::ServerConfig::cluster)).
#[derive(Clone)]
pub struct ClusterConfig {
    /// The shared broker.
    pub broker: Arc<dyn Broker>,
    /// How long a server's nodes outlive its last lease refresh (default 10 s; refreshed every
    /// third of it).
    pub lease: Duration,
}

impl ClusterConfig {
    /// A configuration with the default lease.
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        Self { broker, lease: DEFAULT_LEASE }
    }
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig").field("lease", &self.lease).finish_non_exhaustive()
    }
}

/// Default [`ClusterConfig::lease`]: 10 s.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// Envelopes waiting for the broker link; beyond this they are dropped (at most once).
const LINK_BUFFER: usize = 8192;

fn node_key(node: &Node) -> String {
    let canonical = node.to_string().to_lowercase();
    let mut key = String::with_capacity(2 + canonical.len() * 2);
    key.push_str("n.");
    for b in canonical.as_bytes() {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

fn node_of_key(key: &str) -> Option<Node> {
    let hex = key.strip_prefix("n.")?;
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()?.parse().ok()
}

fn server_key(id: &str) -> String {
    format!("s.{id}")
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Another server's node in the replica.
struct Remote {
    server: Arc<str>,
    revision: u64,
}

/// This server's view of the registry (other servers' nodes only).
#[derive(Default)]
struct Replica {
    nodes: HashMap<Node, Remote>,
    identities: HashMap<Identity, Vec<Node>>,
    /// Servers by the time their lease was last seen refreshed.
    servers: HashMap<Arc<str>, Instant>,
    /// When the current watch started (no server is judged dead before a lease has passed).
    since: Option<Instant>,
    /// When this server's own refresh was last seen coming back through the watch.
    own_seen: Option<Instant>,
}

impl Replica {
    fn insert(&mut self, node: Node, server: Arc<str>, revision: u64) {
        self.identities.entry(node.to_identity()).or_default().retain(|n| n != &node);
        self.identities.entry(node.to_identity()).or_default().push(node.clone());
        self.nodes.insert(node, Remote { server, revision });
    }

    fn remove(&mut self, node: &Node) -> Option<Remote> {
        let removed = self.nodes.remove(node);
        if let Some(list) = self.identities.get_mut(&node.to_identity()) {
            list.retain(|n| n != node);
            if list.is_empty() {
                self.identities.remove(&node.to_identity());
            }
        }
        removed
    }
}

/// An envelope for the link: the server it goes to, and the message.
type Outgoing = (Arc<str>, Forward);

/// A registry key's node and the revision it was seen at.
type NodeRevision = (Node, u64);

/// A server's membership in a cluster.
pub(crate) struct Cluster {
    broker: Arc<dyn Broker>,
    id: Arc<str>,
    lease: Duration,
    replica: RwLock<Replica>,
    /// This server's registry keys: node -> (revision, session serial).
    owned: Mutex<HashMap<Node, (u64, u64)>>,
    link: mpsc::Sender<Outgoing>,
    link_rx: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    /// The last destination forwarded, and its text (shared by the envelopes of a flood).
    last_to: Mutex<Option<(Node, Arc<str>)>>,
    /// The last lease refresh succeeded.
    linked: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Key deletions of ended sessions still in flight (awaited by a graceful stop).
    releases: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("id", &self.id).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Cluster {
    pub(crate) fn new(config: &ClusterConfig) -> Self {
        let (link, link_rx) = mpsc::channel(LINK_BUFFER);
        Self {
            broker: config.broker.clone(),
            id: Arc::from(uuid::Uuid::new_v4().simple().to_string()),
            lease: config.lease.max(Duration::from_millis(300)),
            replica: RwLock::default(),
            owned: Mutex::default(),
            link,
            link_rx: Mutex::new(Some(link_rx)),
            last_to: Mutex::default(),
            linked: AtomicBool::new(false),
            tasks: Mutex::default(),
            releases: Mutex::default(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Replica> {
        self.replica.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Replica> {
        self.replica.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the link to the broker is up (the last lease refresh succeeded).
    pub(crate) fn is_linked(&self) -> bool {
        self.linked.load(Ordering::Relaxed) && self.broker.is_connected()
    }

    /// The other servers holding `to` (a node, or an identity's instances).
    pub(crate) fn servers_for(&self, to: &Node) -> Vec<Arc<str>> {
        let r = self.read();
        if to.instance().is_some() {
            r.nodes.get(to).map(|n| n.server.clone()).into_iter().collect()
        } else {
            let mut servers: Vec<Arc<str>> = Vec::new();
            for node in r.identities.get(&to.to_identity()).into_iter().flatten() {
                if let Some(remote) = r.nodes.get(node) {
                    if !servers.contains(&remote.server) {
                        servers.push(remote.server.clone());
                    }
                }
            }
            servers
        }
    }

    /// Queues `payload` for `server` without waiting: `false` when the link's buffer is full.
    pub(crate) fn forward(
        &self,
        router: &Router,
        server: Arc<str>,
        to: &Node,
        kind: EnvelopeKind,
        payload: Bytes,
    ) -> bool {
        let text = {
            let mut last = lock(&self.last_to);
            match &*last {
                Some((node, text)) if node == to => text.clone(),
                _ => {
                    let text: Arc<str> = Arc::from(to.to_string());
                    *last = Some((to.clone(), text.clone()));
                    text
                }
            }
        };
        let message = Forward {
            to: text,
            origin_server: self.id.clone(),
            kind,
            sent_micros: now_micros(),
            payload,
        };
        let counters = &router.metrics.cluster;
        if self.link.try_send((server, message)).is_ok() {
            counters.published.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            counters.publish_dropped.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    /// Registers `node` (session `serial`) cluster-wide. `Err` when another live server holds
    /// it and the policy is `reject`. Without a broker link the session is accepted unchecked
    /// (and registered once the link is back).
    pub(crate) async fn claim(
        &self,
        node: &Node,
        serial: u64,
        policy: DuplicatePolicy,
    ) -> Result<(), ()> {
        if !self.broker.is_connected() {
            tracing::debug!(%node, "no broker link: the session is registered later");
            return Ok(());
        }
        let key = node_key(node);
        let me = Bytes::from(self.id.as_bytes().to_vec());
        for _ in 0..4 {
            let result = match self.broker.create(&key, me.clone()).await {
                Ok(Some(revision)) => Ok(Some(revision)),
                Ok(None) => match self.broker.entry(&key).await {
                    Ok(None) => continue,
                    Ok(Some((owner, revision))) => {
                        let owner = String::from_utf8_lossy(&owner).into_owned();
                        let mine = *owner == *self.id;
                        if mine || policy == DuplicatePolicy::Replace || !self.is_alive(&owner) {
                            match self.broker.update(&key, me.clone(), revision).await {
                                Ok(Some(r)) => Ok(Some(r)),
                                Ok(None) => continue,
                                Err(e) => Err(e),
                            }
                        } else {
                            Ok(None)
                        }
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            return match result {
                Ok(Some(revision)) => {
                    lock(&self.owned).insert(node.clone(), (revision, serial));
                    Ok(())
                }
                Ok(None) => Err(()),
                Err(e) => {
                    tracing::warn!(%node, error = %e, "cannot register the node in the cluster");
                    Ok(())
                }
            };
        }
        Err(())
    }

    /// Releases `node`'s key if session `serial` still owns it (in the background).
    pub(crate) fn release(&self, node: &Node, serial: u64) {
        let revision = {
            let mut owned = lock(&self.owned);
            match owned.get(node) {
                Some((revision, s)) if *s == serial => {
                    let revision = *revision;
                    owned.remove(node);
                    revision
                }
                _ => return,
            }
        };
        let broker = self.broker.clone();
        let key = node_key(node);
        let task = tokio::spawn(async move {
            if let Err(e) = broker.delete(&key, Some(revision)).await {
                tracing::debug!(%key, error = %e, "cannot release a node key");
            }
        });
        let mut releases = lock(&self.releases);
        releases.retain(|t| !t.is_finished());
        releases.push(task);
    }

    fn is_alive(&self, server: &str) -> bool {
        if server == &*self.id {
            return true;
        }
        let r = self.read();
        let seen = r.servers.get(server).copied().or(r.since);
        seen.is_some_and(|t| t.elapsed() < self.lease)
    }

    /// Starts the link tasks: publisher, receiver, registry watch, lease refresh and sweep.
    pub(crate) fn start(self: &Arc<Self>, shared: &Arc<Shared>) {
        let weak = Arc::downgrade(shared);
        let mut tasks = lock(&self.tasks);
        if let Some(rx) = lock(&self.link_rx).take() {
            tasks.push(tokio::spawn(publisher(self.clone(), weak.clone(), rx)));
        }
        tasks.push(tokio::spawn(receiver(self.clone(), weak.clone())));
        tasks.push(tokio::spawn(watcher(self.clone(), weak.clone())));
        tasks.push(tokio::spawn(heartbeat(self.clone(), weak)));
    }

    /// Graceful leave: deletes this server's keys (its nodes, then its lease) and stops.
    pub(crate) async fn stop(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        let owned: Vec<(Node, u64)> =
            lock(&self.owned).drain().map(|(n, (revision, _))| (n, revision)).collect();
        let deletes = owned.iter().map(|(node, revision)| {
            let key = node_key(node);
            async move { self.broker.delete(&key, Some(*revision)).await }
        });
        let releases: Vec<JoinHandle<()>> = lock(&self.releases).drain(..).collect();
        let leave = async {
            futures_util::future::join_all(releases).await;
            futures_util::future::join_all(deletes).await;
            let _ = self.broker.delete(&server_key(&self.id), None).await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), leave).await;
    }

    fn apply(&self, router: &Router, event: RegistryEvent) {
        match event {
            RegistryEvent::Put { key, value, revision } => {
                if let Some(id) = key.strip_prefix("s.") {
                    let mut r = self.write();
                    if id == &*self.id {
                        r.own_seen = Some(Instant::now());
                    } else {
                        r.servers.insert(Arc::from(id), Instant::now());
                    }
                } else if let Some(node) = node_of_key(&key) {
                    let owner = String::from_utf8_lossy(&value);
                    if *owner == *self.id {
                        self.write().remove(&node);
                        return;
                    }
                    // Another server took a node this one holds (`replace`, or a take-over
                    // after this server's lease lapsed): end the local session. Only a write
                    // newer than this server's own claim counts.
                    let newer = lock(&self.owned)
                        .get(&node)
                        .is_none_or(|(own_revision, _)| revision > *own_revision);
                    if newer && router.kick(&node) {
                        lock(&self.owned).remove(&node);
                    }
                    let server = Arc::from(owner.as_ref());
                    self.write().insert(node, server, revision);
                }
            }
            RegistryEvent::Delete { key } => {
                if let Some(id) = key.strip_prefix("s.") {
                    let mut r = self.write();
                    r.servers.remove(id);
                    let gone: Vec<Node> = r
                        .nodes
                        .iter()
                        .filter(|(_, n)| &*n.server == id)
                        .map(|(node, _)| node.clone())
                        .collect();
                    for node in gone {
                        r.remove(&node);
                    }
                } else if let Some(node) = node_of_key(&key) {
                    self.write().remove(&node);
                }
            }
        }
    }

    /// Drops the nodes of servers whose lease lapsed, and deletes their keys.
    async fn sweep(&self) {
        let dead: Vec<(Arc<str>, Vec<NodeRevision>)> = {
            let mut r = self.write();
            let Some(since) = r.since else { return };
            if since.elapsed() < self.lease {
                return;
            }
            let lease = self.lease;
            let lapsed = |server: &Arc<str>, r: &Replica| {
                r.servers.get(server).copied().unwrap_or(since).elapsed() >= lease
            };
            let mut dead: HashMap<Arc<str>, Vec<NodeRevision>> = HashMap::new();
            for (node, remote) in &r.nodes {
                if lapsed(&remote.server, &r) {
                    dead.entry(remote.server.clone())
                        .or_default()
                        .push((node.clone(), remote.revision));
                }
            }
            let silent: Vec<Arc<str>> =
                r.servers.keys().filter(|s| lapsed(s, &r)).cloned().collect();
            for server in silent {
                r.servers.remove(&server);
                dead.entry(server).or_default();
            }
            for nodes in dead.values() {
                for (node, _) in nodes {
                    r.remove(node);
                }
            }
            dead.into_iter().collect()
        };
        for (server, nodes) in dead {
            tracing::info!(%server, nodes = nodes.len(), "a cluster server's lease lapsed: dropping its nodes");
            for (node, revision) in nodes {
                let _ = self.broker.delete(&node_key(&node), Some(revision)).await;
            }
            let _ = self.broker.delete(&server_key(&server), None).await;
        }
    }

    /// Registers every local session again once the link is back: the ones accepted while it
    /// was down, and all of them when NATS lost its store (an existing key of this server is
    /// just rewritten).
    async fn reconcile(&self, router: &Router, policy: DuplicatePolicy) {
        for (node, serial) in router.local_nodes() {
            if self.claim(&node, serial, policy).await.is_err() {
                tracing::warn!(%node, "after the link came back, another server holds this node");
            }
        }
    }
}

/// The destination of the last envelope received, as text and parsed: a flood to one node
/// arrives as runs of frames with the same destination, parsed once per run.
#[derive(Default)]
struct LastDestination(Option<(Arc<str>, Node)>);

impl LastDestination {
    fn parse(&mut self, text: &Arc<str>) -> Option<&Node> {
        if self.0.as_ref().is_none_or(|(last, _)| !Arc::ptr_eq(last, text) && last != text) {
            self.0 = Some((text.clone(), text.parse().ok()?));
        }
        self.0.as_ref().map(|(_, node)| node)
    }
}

/// Delivers what another server published to this one's local sessions; a failure goes back
/// to the origin's server.
fn deliver(cluster: &Cluster, router: &Router, message: Forward, last: &mut LastDestination) {
    let counters = &router.metrics.cluster;
    counters.received.fetch_add(1, Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss)]
    let latency = now_micros().saturating_sub(message.sent_micros) as f64 / 1e6;
    counters.latency.observe(latency);
    let Some(to) = last.parse(&message.to) else { return };
    let mut delivered = false;
    let mut full = false;
    for target in router.targets(to) {
        match target.out.try_send(message.payload.clone()) {
            Ok(()) => {
                delivered = true;
                router.metrics.delivered(message.kind);
            }
            Err(TrySendError::Full) => full = true,
            Err(TrySendError::Closed) => {}
        }
    }
    if delivered {
        return;
    }
    let Ok(env) = Envelope::from_slice(&message.payload) else { return };
    let Some(origin) = env.from_node().cloned() else { return };
    let reason = if full {
        Reason::new(
            codes::DISPATCH_ERROR,
            "The destination's queue is full: it is not reading fast enough",
        )
    } else {
        Reason::new(codes::ROUTING_DESTINATION_NOT_FOUND, "The message destination was not found")
    };
    if let Some(back) = router.failure(&origin, &env, reason) {
        cluster.forward(
            router,
            message.origin_server.clone(),
            &origin,
            back.kind(),
            Bytes::from(back.to_vec()),
        );
    }
}

/// Backoff between attempts to re-establish a watch or subscription.
fn retry_delay(lease: Duration) -> Duration {
    (lease / 10).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// The most envelopes the publisher drains from its queue at once.
const PUBLISH_BATCH: usize = 256;

/// Drains the link's queue in batches and hands each server its part in one
/// [`Broker::publish_batch`] (in queue order per server), so a flood costs one broker call per
/// batch instead of one per envelope.
async fn publisher(cluster: Arc<Cluster>, shared: Weak<Shared>, mut rx: mpsc::Receiver<Outgoing>) {
    let mut drained: Vec<Outgoing> = Vec::with_capacity(PUBLISH_BATCH);
    let mut groups: Vec<(Arc<str>, Vec<Forward>)> = Vec::new();
    while rx.recv_many(&mut drained, PUBLISH_BATCH).await > 0 {
        for (server, message) in drained.drain(..) {
            match groups.iter_mut().find(|(s, _)| *s == server) {
                Some((_, messages)) => messages.push(message),
                None => groups.push((server, vec![message])),
            }
        }
        for (server, messages) in groups.drain(..) {
            let count = messages.len() as u64;
            if let Err(e) = cluster.broker.publish_batch(&server, messages).await {
                tracing::debug!(error = %e, "cluster publish failed");
                if let Some(shared) = shared.upgrade() {
                    let counters = &shared.router.metrics.cluster;
                    counters.publish_dropped.fetch_add(count, Ordering::Relaxed);
                }
            }
        }
    }
}

async fn receiver(cluster: Arc<Cluster>, shared: Weak<Shared>) {
    loop {
        match cluster.broker.subscribe(&cluster.id).await {
            Ok(mut stream) => {
                let mut last = LastDestination::default();
                while let Some(message) = stream.next().await {
                    let Some(shared) = shared.upgrade() else { return };
                    deliver(&cluster, &shared.router, message, &mut last);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to this server's subject"),
        }
        tokio::time::sleep(retry_delay(cluster.lease)).await;
    }
}

async fn watcher(cluster: Arc<Cluster>, shared: Weak<Shared>) {
    loop {
        match cluster.broker.watch().await {
            Ok(mut stream) => {
                {
                    let mut r = cluster.write();
                    *r = Replica::default();
                    r.since = Some(Instant::now());
                    r.own_seen = Some(Instant::now());
                }
                let mut check = tokio::time::interval(cluster.lease);
                check.tick().await;
                loop {
                    tokio::select! {
                        event = stream.next() => match event {
                            Some(Ok(event)) => {
                                let Some(shared) = shared.upgrade() else { return };
                                cluster.apply(&shared.router, event);
                            }
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "the registry watch failed");
                                break;
                            }
                            None => break,
                        },
                        _ = check.tick() => {
                            // This server's own refreshes must come back through the watch;
                            // when they stop while the link is up, the watch is stale.
                            let own = cluster.read().own_seen;
                            let stale = own.is_none_or(|t| t.elapsed() > cluster.lease);
                            if stale && cluster.is_linked() {
                                tracing::info!("the registry watch went quiet: restarting it");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot watch the registry"),
        }
        tokio::time::sleep(retry_delay(cluster.lease)).await;
    }
}

async fn heartbeat(cluster: Arc<Cluster>, shared: Weak<Shared>) {
    let mut tick = tokio::time::interval(cluster.lease / 4);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_refresh: Option<Instant> = None;
    // The revision of the last refresh: registry revisions only grow, so a smaller one means
    // the registry was lost and created again (a NATS restart without its store).
    let mut last_revision = 0;
    loop {
        tick.tick().await;
        let refresh_due = last_refresh.is_none_or(|t| t.elapsed() >= cluster.lease / 3);
        if refresh_due {
            let value = Bytes::from(now_micros().to_string());
            let key = server_key(&cluster.id);
            let put = cluster.broker.put(&key, value);
            let revision = match tokio::time::timeout(cluster.lease / 3, put).await {
                Ok(Ok(revision)) => Some(revision),
                _ => None,
            };
            let ok = revision.is_some();
            let was = cluster.linked.swap(ok, Ordering::Relaxed);
            if let Some(revision) = revision {
                last_refresh = Some(Instant::now());
                let reset = revision <= last_revision;
                last_revision = revision;
                if reset {
                    tracing::warn!(
                        "the cluster registry was reset: registering this server's sessions again"
                    );
                }
                if !was || reset {
                    tracing::info!("cluster link up");
                    if let Some(shared) = shared.upgrade() {
                        cluster.reconcile(&shared.router, shared.config.duplicates).await;
                    }
                }
            } else if was {
                tracing::warn!("cluster link down: routing between this server's sessions only");
            }
        }
        if cluster.is_linked() {
            cluster.sweep().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_keys_round_trip_and_ignore_case() {
        let node: Node = "Alice@Example.com/Home".parse().unwrap();
        let key = node_key(&node);
        assert!(key.starts_with("n.") && key[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(key, node_key(&"alice@example.com/home".parse().unwrap()));
        assert_eq!(node_of_key(&key), Some(node));
        assert_eq!(node_of_key("s.abc"), None);
        assert_eq!(node_of_key("n.zz"), None);
    }
}
