//! Remote ping and idle detection (C# `RemotePingChannelModule`), as a timer the drivers poll.
//!
//! Every `interval` without traffic from the peer, a `get /ping` request is sent; if the peer
//! stays silent for `idle_timeout` while a ping is outstanding, the session is ended.

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

/// What the timer asks the driver to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PingAction {
    /// Send a ping request.
    SendPing,
    /// The peer has been idle too long: end the session.
    IdleTimeout,
}

#[derive(Debug)]
pub(crate) struct RemotePing {
    interval: Option<Duration>,
    idle_timeout: Option<Duration>,
    last: Instant,
    pinged_at: Option<Instant>,
}

impl RemotePing {
    pub(crate) fn new(interval: Option<Duration>, idle_timeout: Option<Duration>) -> Self {
        let interval = interval.filter(|d| !d.is_zero());
        let idle_timeout =
            idle_timeout.filter(|d| !d.is_zero()).map(|t| interval.map_or(t, |i| t.max(i)));
        Self { interval, idle_timeout, last: Instant::now(), pinged_at: None }
    }

    /// Records traffic from the peer.
    pub(crate) fn received(&mut self) {
        self.last = Instant::now();
        self.pinged_at = None;
    }

    /// Waits for the next action; never completes when remote ping is off. The timer is boxed
    /// only when remote ping is on, so an idle session without it carries no timer state.
    pub(crate) fn next(
        &mut self,
    ) -> futures_util::future::Either<
        std::pin::Pin<Box<dyn std::future::Future<Output = PingAction> + Send + '_>>,
        std::future::Pending<PingAction>,
    > {
        use futures_util::future::Either;
        if self.interval.is_none() {
            return Either::Right(std::future::pending());
        }
        Either::Left(Box::pin(self.next_action()))
    }

    async fn next_action(&mut self) -> PingAction {
        let Some(interval) = self.interval else { return std::future::pending().await };
        let (deadline, action) = match (self.pinged_at, self.idle_timeout) {
            (None, _) => (self.last + interval, PingAction::SendPing),
            (Some(_), Some(timeout)) => (self.last + timeout, PingAction::IdleTimeout),
            (Some(at), None) => (at + interval, PingAction::SendPing),
        };
        sleep_until(deadline).await;
        if action == PingAction::SendPing {
            self.pinged_at = Some(Instant::now());
        }
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pings_when_idle_then_times_out() {
        let mut p = RemotePing::new(Some(Duration::from_secs(10)), Some(Duration::from_secs(30)));
        let start = Instant::now();
        assert_eq!(p.next().await, PingAction::SendPing);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert_eq!(p.next().await, PingAction::IdleTimeout);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn traffic_postpones_the_ping() {
        let mut p = RemotePing::new(Some(Duration::from_secs(10)), None);
        tokio::time::advance(Duration::from_secs(8)).await;
        p.received();
        let start = Instant::now();
        assert_eq!(p.next().await, PingAction::SendPing);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        // without an idle timeout it keeps pinging every interval
        assert_eq!(p.next().await, PingAction::SendPing);
        assert_eq!(start.elapsed(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn off_never_fires() {
        let mut p = RemotePing::new(None, Some(Duration::from_secs(1)));
        let r = tokio::time::timeout(Duration::from_secs(3600), p.next()).await;
        assert!(r.is_err());
    }
}
