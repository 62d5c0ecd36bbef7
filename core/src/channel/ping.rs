//! Remote ping and idle detection (C# `RemotePingChannelModule`).
//!
//! Every `interval` without traffic from the peer, a `get /ping` request is sent; if the peer
//! stays silent for `idle_timeout` while a ping is outstanding, the session is ended.
//! [`PingSchedule`] is the sans-IO rule (deadlines from explicit instants), used by the
//! [`ClientConnection`](crate::connection::ClientConnection) and wrapped by [`RemotePing`]
//! for the tokio drivers.

use std::time::{Duration, Instant as StdInstant};

use tokio::time::{sleep_until, Instant};

/// What the timer asks the driver to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PingAction {
    /// Send a ping request.
    SendPing,
    /// The peer has been idle too long: end the session.
    IdleTimeout,
}

/// The remote-ping rule over explicit instants: no clock, no timer.
#[derive(Clone, Debug)]
pub(crate) struct PingSchedule {
    interval: Option<Duration>,
    idle_timeout: Option<Duration>,
    last: StdInstant,
    pinged_at: Option<StdInstant>,
}

impl PingSchedule {
    /// A schedule that counts silence from `now`; off when `interval` is `None` or zero.
    pub(crate) fn new(
        interval: Option<Duration>,
        idle_timeout: Option<Duration>,
        now: StdInstant,
    ) -> Self {
        let interval = interval.filter(|d| !d.is_zero());
        let idle_timeout =
            idle_timeout.filter(|d| !d.is_zero()).map(|t| interval.map_or(t, |i| t.max(i)));
        Self { interval, idle_timeout, last: now, pinged_at: None }
    }

    /// Records traffic from the peer at `now`.
    pub(crate) fn received(&mut self, now: StdInstant) {
        self.last = now;
        self.pinged_at = None;
    }

    /// When the next action is due, and which; `None` when remote ping is off (or the interval
    /// is too large for the clock to add: never due).
    pub(crate) fn next(&self) -> Option<(StdInstant, PingAction)> {
        let interval = self.interval?;
        Some(match (self.pinged_at, self.idle_timeout) {
            (None, _) => (self.last.checked_add(interval)?, PingAction::SendPing),
            (Some(_), Some(timeout)) => (self.last.checked_add(timeout)?, PingAction::IdleTimeout),
            (Some(at), None) => (at.checked_add(interval)?, PingAction::SendPing),
        })
    }

    /// The action due at `now`, if any, recording a sent ping.
    pub(crate) fn fire(&mut self, now: StdInstant) -> Option<PingAction> {
        let (deadline, action) = self.next()?;
        if now < deadline {
            return None;
        }
        if action == PingAction::SendPing {
            self.pinged_at = Some(now);
        }
        Some(action)
    }
}

/// [`PingSchedule`] on tokio's clock (paused time in tests).
#[derive(Debug)]
pub(crate) struct RemotePing {
    schedule: PingSchedule,
}

impl RemotePing {
    pub(crate) fn new(interval: Option<Duration>, idle_timeout: Option<Duration>) -> Self {
        Self { schedule: PingSchedule::new(interval, idle_timeout, Instant::now().into_std()) }
    }

    /// Records traffic from the peer.
    pub(crate) fn received(&mut self) {
        self.schedule.received(Instant::now().into_std());
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
        if self.schedule.next().is_none() {
            return Either::Right(std::future::pending());
        }
        Either::Left(Box::pin(self.next_action()))
    }

    async fn next_action(&mut self) -> PingAction {
        loop {
            let Some((deadline, _)) = self.schedule.next() else {
                return std::future::pending().await;
            };
            sleep_until(Instant::from_std(deadline)).await;
            if let Some(action) = self.schedule.fire(Instant::now().into_std()) {
                return action;
            }
        }
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

    #[test]
    fn the_schedule_is_pure_deadlines() {
        let t0 = StdInstant::now();
        let s = Duration::from_secs;
        let mut p = PingSchedule::new(Some(s(10)), Some(s(5)), t0);
        // the idle timeout is at least the interval
        assert_eq!(p.next(), Some((t0 + s(10), PingAction::SendPing)));
        assert_eq!(p.fire(t0 + s(9)), None);
        assert_eq!(p.fire(t0 + s(10)), Some(PingAction::SendPing));
        assert_eq!(p.next(), Some((t0 + s(10), PingAction::IdleTimeout)));
        p.received(t0 + s(12));
        assert_eq!(p.next(), Some((t0 + s(22), PingAction::SendPing)));
        assert_eq!(PingSchedule::new(Some(Duration::ZERO), Some(s(1)), t0).next(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn off_never_fires() {
        let mut p = RemotePing::new(None, Some(Duration::from_secs(1)));
        let r = tokio::time::timeout(Duration::from_secs(3600), p.next()).await;
        assert!(r.is_err());
    }
}
