//! The established loop: the one place that drives a channel over a split tokio transport.
//!
//! [`ClientChannel`](super::ClientChannel) (and [`Client`](crate::Client), which wraps it) and
//! every server session run [`run`] once their handshake is over. The loop owns what both sides
//! share: it waits for the next received envelope, the remote-ping timer, the writer task's end
//! and whatever else ends the session from outside; it handles what has already arrived as one
//! batch (up to [`RECEIVE_BATCH`] envelopes, without going back to its `select!`, whose futures
//! cost more than routing a message) and tells the side when a batch is over. What an envelope
//! means is the side's business ([`Established`]): the client hands deliveries to the
//! application and completes its commands, a server session routes.

use std::future::Future;

use futures_util::FutureExt;
use tokio::task::JoinHandle;

use super::{
    ping::{PingAction, RemotePing},
    queue::WriterEnd,
};
use crate::transport::{Received, TransportReceiver, TransportResult};

/// Envelopes handled one after the other, without waiting, before the loop looks at its timers
/// and signals again (and before the side's [`Established::batch_end`]).
pub(crate) const RECEIVE_BATCH: usize = 32;

/// One side of an established session, as the loop drives it.
pub(crate) trait Established: Send {
    /// How the session ended.
    type End: Send;

    /// Messages are read by their header only (`receive_routable`), for a side that forwards
    /// them as received; otherwise every envelope is read whole.
    const ROUTABLE: bool;

    /// Handles one receive result; `Err(end)` ends the session (after
    /// [`batch_end`](Self::batch_end)).
    fn handle(
        &mut self,
        received: TransportResult<Option<Received>>,
        receiver: &mut dyn TransportReceiver,
    ) -> impl Future<Output = Result<(), Self::End>> + Send;

    /// Everything that had arrived was handled; `Err(end)` ends the session at once.
    fn batch_end(&mut self) -> impl Future<Output = Result<(), Self::End>> + Send;

    /// The remote-ping timer fired.
    fn ping(&mut self, action: PingAction) -> impl Future<Output = Result<(), Self::End>> + Send;

    /// Resolves when something outside the connection ends the session (a server shutting
    /// down, a session replaced by another); never, for a side without such signals.
    fn interrupted(&mut self) -> impl Future<Output = Self::End> + Send;

    /// The writer task ended first: the connection failed or the peer stopped reading.
    fn writer_ended(&mut self, end: WriterEnd) -> Self::End;
}

/// Drives `side` until the session ends; returns how. `writer` is the task draining the
/// side's outgoing queue; it is left in place (`Some`) unless it ended first.
pub(crate) async fn run<S: Established>(
    side: &mut S,
    receiver: &mut dyn TransportReceiver,
    ping: &mut RemotePing,
    writer: &mut Option<JoinHandle<WriterEnd>>,
) -> S::End {
    loop {
        // The `select!` only says what woke the loop; what follows is awaited after it, so an
        // idle session's future holds the `select!`'s futures and not its output besides.
        let woke = tokio::select! {
            r = read::<S>(receiver) => Woke::Received(r),
            action = ping.next() => Woke::Ping(action),
            end = side.interrupted() => return end,
            end = async {
                match writer.as_mut() {
                    Some(w) => w.await,
                    None => std::future::pending().await,
                }
            }, if writer.is_some() => {
                *writer = None;
                // A writer task that panicked or was aborted failed like a broken transport.
                return side.writer_ended(end.unwrap_or(WriterEnd::Failed));
            }
        };
        let first = match woke {
            Woke::Received(r) => r,
            Woke::Ping(action) => {
                if let Err(end) = side.ping(action).await {
                    return end;
                }
                continue;
            }
        };
        ping.received();
        // Boxed: an idle session's future holds only the `select!` above.
        if let Err(end) = Box::pin(batch(side, receiver, first)).await {
            return end;
        }
    }
}

/// What woke the loop. Short-lived (from the `select!` to the `match` after it, never across an
/// await), so its size is not kept in the session's future; boxing the envelope would cost an
/// allocation per wake-up.
#[allow(clippy::large_enum_variant)]
enum Woke {
    Received(TransportResult<Option<Received>>),
    Ping(PingAction),
}

/// `first`, then whatever else has already arrived (up to a batch), then the batch's end.
async fn batch<S: Established>(
    side: &mut S,
    receiver: &mut dyn TransportReceiver,
    first: TransportResult<Option<Received>>,
) -> Result<(), S::End> {
    let mut received = first;
    let mut handled = 1;
    let outcome = loop {
        if let Err(end) = side.handle(received, receiver).await {
            break Err(end);
        }
        if handled == RECEIVE_BATCH {
            break Ok(());
        }
        match read::<S>(receiver).now_or_never() {
            Some(next) => received = next,
            None => break Ok(()),
        }
        handled += 1;
    };
    side.batch_end().await?;
    outcome
}

async fn read<S: Established>(
    receiver: &mut dyn TransportReceiver,
) -> TransportResult<Option<Received>> {
    if S::ROUTABLE {
        receiver.receive_routable().await
    } else {
        Ok(receiver.receive().await?.map(Received::Envelope))
    }
}
