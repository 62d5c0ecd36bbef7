//! Operator counters: sessions by state, envelopes routed by kind, routing failures and failed
//! handshakes by reason code, and (with a cluster) what crossed the broker.
//!
//! Every counter is an atomic updated with a relaxed add where the event happens: the routing
//! path takes no lock for them. [`ServerHandle::metrics`] reads them into a [`ServerMetrics`]
//! snapshot, which an exporter (`lime serve --metrics`) renders.
//!
//! [`ServerHandle::metrics`]: super::ServerHandle::metrics

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::EnvelopeKind;

/// Reason codes are small numbers (1–101 today); one counter slot each, larger ones share
/// the last slot.
const CODE_SLOTS: usize = 128;

/// Upper bounds (seconds) of the cross-server latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

fn kind_index(kind: EnvelopeKind) -> usize {
    match kind {
        EnvelopeKind::Message => 0,
        EnvelopeKind::Notification => 1,
        EnvelopeKind::Command => 2,
        EnvelopeKind::Session => 3,
    }
}

const KINDS: [EnvelopeKind; 4] = [
    EnvelopeKind::Message,
    EnvelopeKind::Notification,
    EnvelopeKind::Command,
    EnvelopeKind::Session,
];

struct ByCode([AtomicU64; CODE_SLOTS]);

impl Default for ByCode {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl ByCode {
    fn add(&self, code: i32) {
        let slot = usize::try_from(code).unwrap_or(CODE_SLOTS - 1).min(CODE_SLOTS - 1);
        self.0[slot].fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Vec<(i32, u64)> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(code, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then(|| (i32::try_from(code).unwrap_or(i32::MAX), n))
            })
            .collect()
    }
}

/// A latency histogram with fixed buckets ([`LATENCY_BUCKETS`]), lock-free.
#[derive(Default)]
pub(crate) struct Histogram {
    /// Per bucket (not cumulative); the last slot counts what exceeds every bound.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    #[cfg_attr(not(test), allow(dead_code))] // observed by the cluster link (server::cluster)
    pub(crate) fn observe(&self, seconds: f64) {
        let seconds = if seconds.is_finite() { seconds.max(0.0) } else { 0.0 };
        let slot =
            LATENCY_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        // Saturating cast: a latency beyond u64 nanoseconds is not a latency.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let nanos = (seconds * 1e9) as u64;
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn snapshot(&self) -> LatencyHistogram {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(LATENCY_BUCKETS.len());
        for (bound, n) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            buckets.push((*bound, cumulative));
        }
        let count = cumulative + self.buckets[LATENCY_BUCKETS.len()].load(Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)]
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        LatencyHistogram { buckets, count, sum }
    }
}

/// The live counters of one server (inside its router).
#[derive(Default)]
pub(crate) struct Metrics {
    handshaking: AtomicI64,
    received: [AtomicU64; 4],
    delivered: [AtomicU64; 4],
    routing_failures: ByCode,
    handshake_failures: ByCode,
    pub(crate) cluster: ClusterCounters,
}

/// What crossed the broker (all zero without a cluster).
#[derive(Default)]
pub(crate) struct ClusterCounters {
    pub(crate) published: AtomicU64,
    pub(crate) publish_dropped: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) latency: Histogram,
}

impl Metrics {
    /// An envelope received from a session, to be routed.
    pub(crate) fn received(&self, kind: EnvelopeKind) {
        self.received[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    /// An envelope put into a recipient session's queue.
    pub(crate) fn delivered(&self, kind: EnvelopeKind) {
        self.delivered[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    /// An envelope the router refused or could not deliver, with the reason code it got
    /// (counted whether or not a failure goes back to the sender).
    pub(crate) fn routing_failure(&self, code: i32) {
        self.routing_failures.add(code);
    }

    /// A connection that ended before `established`, with the reason it was given.
    pub(crate) fn handshake_failed(&self, code: i32) {
        self.handshake_failures.add(code);
    }

    /// Counts a connection in its handshake until the guard is dropped.
    pub(crate) fn handshaking(&self) -> HandshakeGuard<'_> {
        self.handshaking.fetch_add(1, Ordering::Relaxed);
        HandshakeGuard(self)
    }

    pub(crate) fn snapshot(&self, established: usize, cluster: bool) -> ServerMetrics {
        let kinds = |a: &[AtomicU64; 4]| {
            KINDS.iter().map(|k| (*k, a[kind_index(*k)].load(Ordering::Relaxed))).collect()
        };
        let handshake_failures = self.handshake_failures.snapshot();
        let authentication_failures = handshake_failures
            .iter()
            .filter(|(code, _)| *code == crate::reason::codes::SESSION_AUTHENTICATION_FAILED)
            .map(|(_, n)| n)
            .sum();
        ServerMetrics {
            sessions_handshaking: usize::try_from(self.handshaking.load(Ordering::Relaxed))
                .unwrap_or(0),
            sessions_established: established,
            envelopes_received: kinds(&self.received),
            envelopes_delivered: kinds(&self.delivered),
            routing_failures: self.routing_failures.snapshot(),
            handshake_failures,
            authentication_failures,
            cluster: cluster.then(|| ClusterMetrics {
                published: self.cluster.published.load(Ordering::Relaxed),
                publish_dropped: self.cluster.publish_dropped.load(Ordering::Relaxed),
                received: self.cluster.received.load(Ordering::Relaxed),
                latency: self.cluster.latency.snapshot(),
            }),
        }
    }
}

/// See [`Metrics::handshaking`].
pub(crate) struct HandshakeGuard<'a>(&'a Metrics);

impl Drop for HandshakeGuard<'_> {
    fn drop(&mut self) {
        self.0.handshaking.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A snapshot of a server's operator counters ([`ServerHandle::metrics`]). Counters count
/// from the server's start.
///
/// [`ServerHandle::metrics`]: super::ServerHandle::metrics
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ServerMetrics {
    /// Connections between accept and `established` (negotiating, authenticating).
    pub sessions_handshaking: usize,
    /// Established sessions.
    pub sessions_established: usize,
    /// Envelopes received from established sessions, by kind (session envelopes are not
    /// routed and are not counted).
    pub envelopes_received: Vec<(EnvelopeKind, u64)>,
    /// Envelopes put into a recipient session's outgoing queue, by kind (one per recipient).
    pub envelopes_delivered: Vec<(EnvelopeKind, u64)>,
    /// Envelopes refused or undeliverable, by the reason code they got (`(code, count)`,
    /// codes with a zero count left out).
    pub routing_failures: Vec<(i32, u64)>,
    /// Connections failed before `established`, by reason code (13: authentication, 16:
    /// handshake timeout, 12: registration, …).
    pub handshake_failures: Vec<(i32, u64)>,
    /// Failed authentications (the reason-13 share of `handshake_failures`).
    pub authentication_failures: u64,
    /// What crossed the cluster broker; `None` without a cluster.
    pub cluster: Option<ClusterMetrics>,
}

/// Cluster traffic counters ([`ServerMetrics::cluster`]).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ClusterMetrics {
    /// Envelopes published to another server.
    pub published: u64,
    /// Envelopes for another server dropped because the link's send buffer was full or the
    /// broker refused them (delivery across servers is at most once).
    pub publish_dropped: u64,
    /// Envelopes received from other servers.
    pub received: u64,
    /// Time from publishing on one server to delivery into a queue on another (from the
    /// sender's wall clock: meaningful when the servers' clocks agree).
    pub latency: LatencyHistogram,
}

/// A histogram snapshot in Prometheus's shape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencyHistogram {
    /// `(upper bound in seconds, cumulative count)`, ascending.
    pub buckets: Vec<(f64, u64)>,
    /// Observations in total.
    pub count: u64,
    /// Sum of the observations, in seconds.
    pub sum: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histogram_snapshot() {
        let m = Metrics::default();
        m.received(EnvelopeKind::Message);
        m.received(EnvelopeKind::Message);
        m.delivered(EnvelopeKind::Command);
        m.routing_failure(42);
        m.routing_failure(42);
        m.routing_failure(-5);
        m.handshake_failed(13);
        {
            let _g = m.handshaking();
            assert_eq!(m.snapshot(0, false).sessions_handshaking, 1);
        }
        m.cluster.latency.observe(0.0002);
        m.cluster.latency.observe(3.0);
        let s = m.snapshot(2, true);
        assert_eq!(s.sessions_handshaking, 0);
        assert_eq!(s.sessions_established, 2);
        assert_eq!(s.envelopes_received[0], (EnvelopeKind::Message, 2));
        assert_eq!(s.envelopes_delivered[2], (EnvelopeKind::Command, 1));
        assert_eq!(s.routing_failures, vec![(42, 2), (127, 1)]);
        assert_eq!(s.authentication_failures, 1);
        let h = s.cluster.unwrap().latency;
        assert_eq!(h.count, 2);
        assert_eq!(h.buckets[0], (0.0001, 0));
        assert_eq!(h.buckets[1], (0.00025, 1));
        assert_eq!(h.buckets.last(), Some(&(1.0, 1)));
        assert!((h.sum - 3.0002).abs() < 1e-6);
    }
}
