//! The node registry and envelope routing between established sessions.
//!
//! Routing never waits for another session: an envelope goes into its recipient's outgoing
//! queue only if there is room now (see [`ServerConfig::queue_capacity`] and
//! [`ServerConfig::queue_max_bytes`]), else it is refused like an undeliverable one (reason 51).
//! Only envelopes to the sender's own session wait for room, so the back-pressure of a
//! connection that does not read falls on that connection alone.
//!
//! Envelopes are forwarded as received: the router stamps `from` into the received bytes and
//! leaves every other byte as it arrived (see `envelope::splice`).
//!
//! [`ServerConfig::queue_capacity`]: super::ServerConfig::queue_capacity
//! [`ServerConfig::queue_max_bytes`]: super::ServerConfig::queue_max_bytes

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, RwLock, Weak,
    },
};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::{
    channel::queue::{self, TrySendError},
    envelope::splice,
};

use crate::{
    envelope::RoutableMessage, reason::codes, Command, CommandStatus, Envelope, EnvelopeKind,
    Identity, Node, Notification, Reason,
};

use super::{cluster::Cluster, metrics::Metrics};

/// What happens when a node that is already connected establishes another session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DuplicatePolicy {
    /// The new session fails with reason 12 (C# `NodeRegistry` default).
    #[default]
    Reject,
    /// The old session fails with reason 11 and the new one takes its place.
    Replace,
}

/// One established session, as other sessions see it.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) node: Node,
    pub(crate) serial: u64,
    pub(crate) out: queue::Sender,
    kick: Mutex<Option<oneshot::Sender<Reason>>>,
}

#[derive(Default)]
struct Tables {
    nodes: HashMap<Node, Arc<Entry>>,
    identities: HashMap<Identity, Vec<Node>>,
}

/// The registry of established sessions, shared by every connection of a server.
pub(crate) struct Router {
    server: Node,
    policy: DuplicatePolicy,
    /// Largest envelope a recipient accepts (the transports' limit).
    max_envelope_size: usize,
    tables: RwLock<Tables>,
    /// Changes (under the write lock) whenever a session registers or leaves, so a
    /// [`RouteCache`] knows its targets are still the registry's.
    generation: AtomicU64,
    serial: AtomicU64,
    /// The largest queue peak of sessions that have ended.
    peak_gone: AtomicUsize,
    refused_full: AtomicU64,
    refused_too_large: AtomicU64,
    slow_consumers: AtomicU64,
    /// Operator counters (atomic adds on the routing path).
    pub(crate) metrics: Metrics,
    /// The other servers of a cluster, if any (see `server::cluster`).
    pub(crate) cluster: Option<Arc<Cluster>>,
}

/// A snapshot of the server's routing counters ([`ServerHandle::stats`]).
///
/// [`ServerHandle::stats`]: super::ServerHandle::stats
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Established sessions.
    pub sessions: usize,
    /// Envelopes waiting in the sessions' outgoing queues.
    pub queued_envelopes: usize,
    /// Bytes pending in the sessions' outgoing queues (queued or being written).
    pub queued_bytes: usize,
    /// The most bytes one session's outgoing queue has held at once since the server started.
    pub peak_queued_bytes: usize,
    /// Envelopes refused because the recipient's queue was full (reason 51 to the sender).
    pub refused_queue_full: u64,
    /// Envelopes refused because they would exceed the maximum envelope size once `from` is
    /// stamped (reason 21 to the sender).
    pub refused_too_large: u64,
    /// Sessions ended because a write to them stayed blocked past the send timeout.
    pub slow_consumers: u64,
}

/// Why a registration failed.
#[derive(Debug)]
pub(crate) struct Duplicate;

impl Router {
    pub(crate) fn new(server: Node, policy: DuplicatePolicy, max_envelope_size: usize) -> Self {
        Self {
            server,
            policy,
            max_envelope_size,
            tables: RwLock::default(),
            generation: AtomicU64::new(0),
            serial: AtomicU64::new(1),
            peak_gone: AtomicUsize::new(0),
            refused_full: AtomicU64::new(0),
            refused_too_large: AtomicU64::new(0),
            slow_consumers: AtomicU64::new(0),
            metrics: Metrics::default(),
            cluster: None,
        }
    }

    /// Joins the router to a cluster: destinations on other servers are reached through it.
    pub(crate) fn with_cluster(mut self, cluster: Option<Arc<Cluster>>) -> Self {
        self.cluster = cluster;
        self
    }

    /// Registers a registered session's node cluster-wide (nothing without a cluster); `Err`
    /// when another server holds the node and the policy is `reject`.
    pub(crate) async fn claim(&self, entry: &Entry) -> Result<(), Duplicate> {
        match &self.cluster {
            Some(cluster) => {
                cluster.claim(&entry.node, entry.serial, self.policy).await.map_err(|()| Duplicate)
            }
            None => Ok(()),
        }
    }

    /// Ends the local session of `node` because another server took the node (reason 11);
    /// `false` when there is none.
    pub(crate) fn kick(&self, node: &Node) -> bool {
        let t = self.read();
        let Some(entry) = t.nodes.get(node) else { return false };
        let kick = entry.kick.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        kick.is_some_and(|kick| {
            kick.send(Reason::new(
                codes::SESSION_ERROR,
                "The session was replaced by a new session of the same node",
            ))
            .is_ok()
        })
    }

    /// Every local session's node and serial.
    pub(crate) fn local_nodes(&self) -> Vec<(Node, u64)> {
        self.read().nodes.values().map(|e| (e.node.clone(), e.serial)).collect()
    }

    /// The routing counters and queue usage now.
    pub(crate) fn stats(&self) -> ServerStats {
        let t = self.read();
        let mut stats = ServerStats {
            sessions: t.nodes.len(),
            peak_queued_bytes: self.peak_gone.load(Ordering::Relaxed),
            refused_queue_full: self.refused_full.load(Ordering::Relaxed),
            refused_too_large: self.refused_too_large.load(Ordering::Relaxed),
            slow_consumers: self.slow_consumers.load(Ordering::Relaxed),
            ..ServerStats::default()
        };
        for entry in t.nodes.values() {
            let usage = entry.out.usage();
            stats.queued_envelopes += usage.envelopes;
            stats.queued_bytes += usage.bytes;
            stats.peak_queued_bytes = stats.peak_queued_bytes.max(usage.peak_bytes);
        }
        stats
    }

    /// Counts a session ended as a slow consumer.
    pub(crate) fn slow_consumer(&self) {
        self.slow_consumers.fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Number of registered sessions.
    pub(crate) fn len(&self) -> usize {
        self.read().nodes.len()
    }

    /// Registers `node`; returns its entry and a receiver that fires when the session must end
    /// (replaced by another session of the same node).
    pub(crate) fn register(
        &self,
        node: Node,
        out: queue::Sender,
    ) -> Result<(Arc<Entry>, oneshot::Receiver<Reason>), Duplicate> {
        let (kick_tx, kick_rx) = oneshot::channel();
        let entry = Arc::new(Entry {
            node: node.clone(),
            serial: self.serial.fetch_add(1, Ordering::Relaxed),
            out,
            kick: Mutex::new(Some(kick_tx)),
        });
        let mut t = self.write();
        if let Some(old) = t.nodes.get(&node) {
            match self.policy {
                DuplicatePolicy::Reject => return Err(Duplicate),
                DuplicatePolicy::Replace => {
                    let kick =
                        old.kick.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                    if let Some(kick) = kick {
                        let _ = kick.send(Reason::new(
                            codes::SESSION_ERROR,
                            "The session was replaced by a new session of the same node",
                        ));
                    }
                }
            }
        }
        self.generation.fetch_add(1, Ordering::Release);
        t.nodes.insert(node.clone(), entry.clone());
        let instances = t.identities.entry(node.to_identity()).or_default();
        if !instances.contains(&node) {
            instances.push(node);
        }
        Ok((entry, kick_rx))
    }

    /// Removes `entry` (only if it is still the registered session of its node).
    pub(crate) fn unregister(&self, entry: &Entry) {
        if let Some(cluster) = &self.cluster {
            cluster.release(&entry.node, entry.serial);
        }
        self.peak_gone.fetch_max(entry.out.usage().peak_bytes, Ordering::Relaxed);
        let mut t = self.write();
        if t.nodes.get(&entry.node).is_some_and(|e| e.serial == entry.serial) {
            self.generation.fetch_add(1, Ordering::Release);
            t.nodes.remove(&entry.node);
            let identity = entry.node.to_identity();
            if let Some(list) = t.identities.get_mut(&identity) {
                list.retain(|n| n != &entry.node);
                if list.is_empty() {
                    t.identities.remove(&identity);
                }
            }
        }
    }

    pub(crate) fn targets(&self, to: &Node) -> Vec<Arc<Entry>> {
        let t = self.read();
        if to.instance().is_some() {
            t.nodes.get(to).cloned().into_iter().collect()
        } else {
            let identity = to.to_identity();
            t.identities
                .get(&identity)
                .map(|nodes| nodes.iter().filter_map(|n| t.nodes.get(n).cloned()).collect())
                .unwrap_or_default()
        }
    }

    fn is_server(&self, to: &Node) -> bool {
        to.identity() == self.server.identity()
            || (to.name().is_none()
                && to
                    .domain()
                    .zip(self.server.domain())
                    .is_some_and(|(a, b)| a.to_lowercase() == b.to_lowercase()))
    }

    /// Routes an envelope received from the session of `origin`, `raw` being its bytes as
    /// received when the transport kept them. Returns an envelope to send back to the origin
    /// (a failure), if any.
    pub(crate) async fn route(
        &self,
        origin: &Node,
        mut env: Envelope,
        raw: Option<Bytes>,
    ) -> Option<Envelope> {
        self.metrics.received(env.kind());
        match env.from_node() {
            None => env.set_from(Some(origin.clone())),
            Some(f) if f == origin => {}
            Some(f) if f.instance().is_none() && f.identity() == origin.identity() => {
                env.set_from(Some(origin.clone()))
            }
            Some(_) => {
                return self.failure(
                    origin,
                    &env,
                    Reason::new(
                        codes::AUTHORIZATION_UNAUTHORIZED_SENDER,
                        "The sender is not authorized to send on behalf of the `from` node",
                    ),
                );
            }
        }
        // `pp` names the sender of record (replies and receipts go to `pp ?? from`), so it is
        // held to the same rule as `from`: absent, or the sender's own node or identity.
        if let Some(pp) = env.pp() {
            let own =
                pp == origin || (pp.instance().is_none() && pp.identity() == origin.identity());
            if !own {
                return self.failure(
                    origin,
                    &env,
                    Reason::new(
                        codes::AUTHORIZATION_UNAUTHORIZED_SENDER,
                        "The sender is not authorized to send on behalf of the `pp` node",
                    ),
                );
            }
        }
        // A message without content (`"content": null`) has no wire form a recipient could
        // read back as a message: refuse it rather than deliver something that is no envelope.
        if matches!(&env, Envelope::Message(m) if m.content.is_none()) {
            return self.failure(
                origin,
                &env,
                Reason::new(codes::VALIDATION_EMPTY_DOCUMENT, "The message has no content"),
            );
        }
        let Some(to) = env.to().cloned() else { return self.to_server(origin, &env) };
        if self.is_server(&to) {
            return self.to_server(origin, &env);
        }
        let targets = self.targets(&to);
        let remote = self.cluster.as_ref().map(|c| c.servers_for(&to)).unwrap_or_default();
        if targets.is_empty() && remote.is_empty() {
            return self.not_found(origin, &env);
        }
        // The received bytes with `from` stamped (always: the parsed `from` may have been
        // accepted in another spelling or filled in by the channel core); re-serialized only
        // when the transport kept no bytes or they cannot be edited safely.
        let bytes = raw
            .and_then(|raw| {
                let from = serde_json::to_vec(&origin.to_string()).ok()?;
                splice::set_member(&raw, "from", &from)
            })
            .map_or_else(|| Bytes::from(env.to_vec()), Bytes::from);
        if bytes.len() > self.max_envelope_size {
            self.refused_too_large.fetch_add(1, Ordering::Relaxed);
            let description = format!(
                "The envelope is larger than the maximum envelope size of {} bytes once the \
                 server stamps `from` ({} bytes)",
                self.max_envelope_size,
                bytes.len()
            );
            return self.failure(origin, &env, Reason::new(codes::VALIDATION_ERROR, description));
        }
        let mut delivered = false;
        let mut full = false;
        if let Some(cluster) = &self.cluster {
            for server in remote {
                let queued = cluster.forward(self, server, &to, env.kind(), bytes.clone());
                delivered |= queued;
                full |= !queued;
            }
        }
        for target in targets {
            if target.node == *origin {
                // Its own session: wait for room (back-pressure on this connection only).
                if target.out.send(bytes.clone()).await.is_ok() {
                    delivered = true;
                    self.metrics.delivered(env.kind());
                }
                continue;
            }
            match target.out.try_send(bytes.clone()) {
                Ok(()) => {
                    delivered = true;
                    self.metrics.delivered(env.kind());
                }
                Err(TrySendError::Full) => full = true,
                Err(TrySendError::Closed) => {}
            }
        }
        if delivered {
            None
        } else if full {
            self.refused_full.fetch_add(1, Ordering::Relaxed);
            self.failure(
                origin,
                &env,
                Reason::new(
                    codes::DISPATCH_ERROR,
                    "The destination's queue is full: it is not reading fast enough",
                ),
            )
        } else {
            self.not_found(origin, &env)
        }
    }

    fn not_found(&self, origin: &Node, env: &Envelope) -> Option<Envelope> {
        self.failure(
            origin,
            env,
            Reason::new(
                codes::ROUTING_DESTINATION_NOT_FOUND,
                "The message destination was not found",
            ),
        )
    }

    fn to_server(&self, origin: &Node, env: &Envelope) -> Option<Envelope> {
        match env {
            // Any address of the server answers pings, `@domain` included (the channel core
            // answers those to the server's identity before they reach the router).
            Envelope::Command(c) if c.is_ping_request() => {
                let mut reply = Command::ping_response(c);
                reply.to = Some(origin.clone());
                reply.from = Some(self.server.clone());
                Some(reply.into())
            }
            Envelope::Command(c) if c.is_request() => self.failure(
                origin,
                env,
                Reason::new(
                    codes::COMMAND_RESOURCE_NOT_SUPPORTED,
                    "The server does not support this resource",
                ),
            ),
            Envelope::Message(_) => self.failure(
                origin,
                env,
                Reason::new(
                    codes::ROUTING_DESTINATION_NOT_FOUND,
                    "The message destination was not found",
                ),
            ),
            _ => {
                tracing::debug!(kind = %env.kind(), "ignoring an envelope addressed to the server");
                None
            }
        }
    }

    /// The failure to send back to `origin` for `env`: a `failed` notification for messages
    /// with an id, a `failure` response for command requests, nothing otherwise (never answer
    /// notifications or responses, which could loop).
    pub(crate) fn failure(
        &self,
        origin: &Node,
        env: &Envelope,
        reason: Reason,
    ) -> Option<Envelope> {
        self.metrics.routing_failure(reason.code);
        // Always the origin: its `pp`/`from` may be the very thing being refused.
        let back_to = origin.clone();
        match env {
            Envelope::Message(m) => {
                let id = m.id.clone()?;
                let mut n = Notification::failed(reason).with_id(id).with_to(back_to);
                n.from = Some(self.server.clone());
                Some(n.into())
            }
            Envelope::Command(c) if c.status == CommandStatus::Pending && c.id.is_some() => {
                let mut r = Command::failure_for(c, reason);
                r.to = Some(back_to);
                r.from = Some(self.server.clone());
                Some(r.into())
            }
            _ => {
                tracing::debug!(kind = %env.kind(), code = reason.code, "dropping an undeliverable envelope");
                None
            }
        }
    }
}

/// One session's routing state for [`Router::route_message`]: the destination of its last
/// message with the sessions it reached (weakly held, so an ended session's queue is not kept
/// open), valid while the registry's generation is unchanged, and its own node as the JSON
/// string stamped into `from`.
#[derive(Debug, Default)]
pub(crate) struct RouteCache {
    from_json: Vec<u8>,
    last: Option<(Node, u64, Vec<Weak<Entry>>)>,
}

impl Router {
    /// The sessions `to` reaches, and the registry generation they belong to.
    fn weak_targets(&self, to: &Node) -> (u64, Vec<Weak<Entry>>) {
        let t = self.read();
        let generation = self.generation.load(Ordering::Acquire);
        let weak = |n: &Node| t.nodes.get(n).map(Arc::downgrade);
        let targets = if to.instance().is_some() {
            weak(to).into_iter().collect()
        } else {
            t.identities
                .get(&to.to_identity())
                .map(|nodes| nodes.iter().filter_map(weak).collect())
                .unwrap_or_default()
        };
        (generation, targets)
    }

    /// Routes a message received from the session of `origin` and read only as far as its
    /// header: the common case (a sender that names itself or no one, a destination that is a
    /// connected session, room in its queue) is forwarded from here with `from` stamped into
    /// the received bytes, without parsing the content or looking up the registry again for
    /// the same destination. Everything else (refusals, messages to the server, a destination
    /// that is gone or full) takes [`route`](Self::route) with the message parsed in full, so
    /// both paths answer alike. Returns an envelope to send back to the origin, if any.
    pub(crate) async fn route_message(
        &self,
        origin: &Node,
        message: RoutableMessage,
        cache: &mut RouteCache,
    ) -> Option<Envelope> {
        let own =
            |n: &Node| n == origin || (n.instance().is_none() && n.identity() == origin.identity());
        let to = match &message.to {
            Some(to)
                if message.content
                    && (self.cluster.is_none() || to.instance().is_some())
                    && message.from.as_ref().is_none_or(own)
                    && message.pp.as_ref().is_none_or(own)
                    && !self.is_server(to) =>
            {
                to
            }
            _ => return self.route_in_full(origin, message).await,
        };
        if cache.from_json.is_empty() {
            cache.from_json = serde_json::to_vec(&origin.to_string()).unwrap_or_default();
        }
        let Some(bytes) = splice::set_member(&message.bytes, "from", &cache.from_json) else {
            return self.route_in_full(origin, message).await;
        };
        let bytes = Bytes::from(bytes);
        if bytes.len() > self.max_envelope_size {
            return self.route_in_full(origin, message).await;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let fresh = matches!(&cache.last, Some((n, g, _)) if *g == generation && n == to);
        if !fresh {
            let (generation, targets) = self.weak_targets(to);
            cache.last = Some((to.clone(), generation, targets));
        }
        let targets = cache.last.as_ref().map_or(&[][..], |(_, _, t)| t.as_slice());
        let mut delivered = false;
        for target in targets.iter().filter_map(Weak::upgrade) {
            let sent = if target.node == *origin {
                // Its own session: wait for room (back-pressure on this connection only).
                target.out.send(bytes.clone()).await.is_ok()
            } else {
                target.out.try_send(bytes.clone()).is_ok()
            };
            if sent {
                if !delivered {
                    self.metrics.received(EnvelopeKind::Message);
                }
                delivered = true;
                self.metrics.delivered(EnvelopeKind::Message);
            }
        }
        if delivered {
            None
        } else {
            // Nothing was queued: the full path finds out why and answers the origin.
            self.route_in_full(origin, message).await
        }
    }

    async fn route_in_full(&self, origin: &Node, message: RoutableMessage) -> Option<Envelope> {
        match message.into_envelope() {
            Ok((envelope, raw)) => Box::pin(self.route(origin, envelope, Some(raw))).await,
            Err(e) => {
                // Not reached: the transport parsed the header with the same checks.
                tracing::debug!(error = %e, "dropping a message that does not parse");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, NotificationEvent};

    fn node(s: &str) -> Node {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn routes_to_nodes_and_identities() {
        let router = Router::new(node("postmaster@x.com/server"), DuplicatePolicy::Reject, 1 << 20);
        let (a_tx, mut a_rx) = queue::bounded(8, usize::MAX);
        let (b1_tx, mut b1_rx) = queue::bounded(8, usize::MAX);
        let (b2_tx, mut b2_rx) = queue::bounded(8, usize::MAX);
        let (_a, _) = router.register(node("a@x.com/1"), a_tx).unwrap();
        router.register(node("b@x.com/1"), b1_tx).unwrap();
        let (b2, _) = router.register(node("b@x.com/2"), b2_tx).unwrap();
        assert!(router.register(node("B@X.com/1"), queue::bounded(1, usize::MAX).0).is_err());
        assert_eq!(router.len(), 3);

        let back = router
            .route(&node("a@x.com/1"), Message::text("hi").with_to(node("b@x.com/2")).into(), None)
            .await;
        assert!(back.is_none());
        let got = Envelope::from_slice(&b2_rx.recv().await.unwrap()).unwrap();
        assert_eq!(got.from_node().unwrap().to_string(), "a@x.com/1");
        assert!(b1_rx.try_recv().is_none());

        router
            .route(&node("a@x.com/1"), Message::text("all").with_to(node("b@x.com")).into(), None)
            .await;
        assert!(b1_rx.recv().await.is_some() && b2_rx.recv().await.is_some());

        router.unregister(&b2);
        let back = router
            .route(
                &node("a@x.com/1"),
                Message::text("x").with_id("m1").with_to(node("b@x.com/2")).into(),
                None,
            )
            .await;
        let Some(Envelope::Notification(n)) = back else { panic!("{back:?}") };
        assert_eq!((n.event, n.reason.unwrap().code), (NotificationEvent::Failed, 42));
        assert_eq!(n.to.unwrap().to_string(), "a@x.com/1");
        assert!(a_rx.try_recv().is_none());
    }

    #[tokio::test]
    async fn impersonation_is_refused() {
        let router = Router::new(node("postmaster@x.com/server"), DuplicatePolicy::Reject, 1 << 20);
        let (b_tx, mut b_rx) = queue::bounded(8, usize::MAX);
        router.register(node("b@x.com/1"), b_tx).unwrap();
        let forged = Message::text("x")
            .with_id("m")
            .with_from(node("boss@x.com/1"))
            .with_to(node("b@x.com/1"));
        let back = router.route(&node("a@x.com/1"), forged.into(), None).await;
        let Some(Envelope::Notification(n)) = back else { panic!() };
        assert_eq!(n.reason.unwrap().code, codes::AUTHORIZATION_UNAUTHORIZED_SENDER);
        assert!(b_rx.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_forged_pp_is_refused_and_the_failure_goes_to_the_origin() {
        let router = Router::new(node("postmaster@x.com/server"), DuplicatePolicy::Reject, 1 << 20);
        let (b_tx, mut b_rx) = queue::bounded(8, usize::MAX);
        router.register(node("b@x.com/1"), b_tx).unwrap();
        let alice = node("a@x.com/1");
        let forged =
            Message::text("x").with_id("m").with_pp(node("c@x.com/x")).with_to(node("b@x.com/1"));
        let back = router.route(&alice, forged.into(), None).await;
        let Some(Envelope::Notification(n)) = back else { panic!("{back:?}") };
        assert_eq!(n.reason.unwrap().code, codes::AUTHORIZATION_UNAUTHORIZED_SENDER);
        assert_eq!(n.to.as_ref(), Some(&alice));
        assert!(b_rx.try_recv().is_none());
        // a forged notification or command is dropped, not forwarded
        let n = Notification::new(NotificationEvent::Received)
            .with_id("m")
            .with_pp(node("c@x.com"))
            .with_to(node("b@x.com/1"));
        assert!(router.route(&alice, n.into(), None).await.is_none());
        assert!(b_rx.try_recv().is_none());
        // its own node or identity is fine
        for own in ["a@x.com/1", "A@X.com"] {
            let m = Message::text("x").with_pp(node(own)).with_to(node("b@x.com/1"));
            assert!(router.route(&alice, m.into(), None).await.is_none(), "{own}");
            let got = Envelope::from_slice(&b_rx.recv().await.unwrap()).unwrap();
            assert_eq!(got.pp().unwrap().to_string(), own);
        }
    }

    #[tokio::test]
    async fn a_message_without_content_is_refused_not_forwarded() {
        let router = Router::new(node("postmaster@x.com/server"), DuplicatePolicy::Reject, 1 << 20);
        let (b_tx, mut b_rx) = queue::bounded(8, usize::MAX);
        router.register(node("b@x.com/1"), b_tx).unwrap();
        let empty: Envelope = r#"{"id":"m","to":"b@x.com/1","content":null}"#.parse().unwrap();
        let back = router.route(&node("a@x.com/1"), empty, None).await;
        let Some(Envelope::Notification(n)) = back else { panic!("{back:?}") };
        assert_eq!(n.reason.unwrap().code, codes::VALIDATION_EMPTY_DOCUMENT);
        assert!(b_rx.try_recv().is_none());
    }

    #[tokio::test]
    async fn pings_to_the_domain_are_answered() {
        let router = Router::new(node("postmaster@x.com/server"), DuplicatePolicy::Reject, 1 << 20);
        let alice = node("a@x.com/1");
        for to in ["@x.com", "@X.COM/any", "postmaster@x.com/other"] {
            let ping = Command::ping_request().with_to(node(to));
            let back = router.route(&alice, ping.into(), None).await;
            let Some(Envelope::Command(r)) = back else { panic!("{to}: {back:?}") };
            assert_eq!((r.status, r.id.as_deref()), (CommandStatus::Success, None), "{to}");
            assert_eq!(r.to.as_ref(), Some(&alice));
            assert_eq!(r.from.unwrap().to_string(), "postmaster@x.com/server");
        }
    }

    #[tokio::test]
    async fn replace_policy_kicks_the_old_session() {
        let router =
            Router::new(node("postmaster@x.com/server"), DuplicatePolicy::Replace, 1 << 20);
        let (old, kick) =
            router.register(node("a@x.com/1"), queue::bounded(1, usize::MAX).0).unwrap();
        let (new, _) = router.register(node("a@x.com/1"), queue::bounded(1, usize::MAX).0).unwrap();
        assert_eq!(kick.await.unwrap().code, codes::SESSION_ERROR);
        router.unregister(&old); // stale: must not remove the new one
        assert_eq!(router.len(), 1);
        router.unregister(&new);
        assert_eq!(router.len(), 0);
    }

    #[tokio::test]
    async fn commands_to_the_server_get_a_failure_response() {
        let router = Router::new(node("postmaster@x.com/server"), DuplicatePolicy::Reject, 1 << 20);
        let cmd =
            Command::request(crate::CommandMethod::Get, "/account".parse().unwrap()).with_id("c1");
        let back = router.route(&node("a@x.com/1"), cmd.into(), None).await;
        let Some(Envelope::Command(r)) = back else { panic!() };
        assert_eq!((r.status, r.id.as_deref()), (CommandStatus::Failure, Some("c1")));
        let n = Notification::new(crate::NotificationEvent::Received).with_id("m");
        assert!(router.route(&node("a@x.com/1"), n.into(), None).await.is_none());
    }
}
