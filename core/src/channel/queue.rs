//! The outgoing side of a connection: a bounded queue of serialized envelopes and the writer
//! task that drains it, shared by the client channel and the server's sessions.
//!
//! `tokio::sync::mpsc` allocates a 32-slot block per channel up front (about 1 KiB with
//! `Bytes` items), which dominates the memory of an idle session. This queue allocates only
//! while envelopes are queued.
//!
//! It is bounded twice: at most `capacity` envelopes and `max_bytes` bytes are pending, counting
//! both the queued envelopes and the batch the writer is writing (an envelope larger than
//! `max_bytes` still passes when nothing else is pending). [`Sender::send`]
//! waits for room (back-pressure); [`Sender::try_send`] never waits, which is what the server's
//! router uses so that one recipient that does not read never stalls its senders.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::Notify;

use crate::{transport::TransportSender, TransportError};

struct State {
    items: VecDeque<Bytes>,
    /// Envelopes queued or being written.
    pending: usize,
    /// Bytes queued or being written.
    bytes: usize,
    /// The largest `bytes` ever reached.
    peak: usize,
    /// Senders waiting in `send` for room.
    waiting: usize,
    /// The receiver is gone.
    closed: bool,
}

struct Inner {
    state: Mutex<State>,
    /// Items are available, or the last sender is gone.
    ready: Notify,
    /// Room was freed, or the receiver is gone.
    space: Notify,
    capacity: usize,
    max_bytes: usize,
    senders: AtomicUsize,
    /// [`Sender::end`] was called: the receiver ends once the queue is empty.
    ended: AtomicBool,
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fits(&self, st: &State, len: usize) -> bool {
        st.pending < self.capacity
            && (st.bytes == 0 || st.bytes.saturating_add(len) <= self.max_bytes)
    }

    /// Wakes the senders waiting for room, if any (called with the state lock released).
    fn freed(&self, waiting: bool) {
        if waiting {
            self.space.notify_waiters();
        }
    }
}

/// The sending side; cloneable.
pub(crate) struct Sender {
    inner: Arc<Inner>,
}

/// The receiving side.
pub(crate) struct Receiver {
    inner: Arc<Inner>,
}

/// A queue holding at most `capacity` envelopes and `max_bytes` pending bytes.
pub(crate) fn bounded(capacity: usize, max_bytes: usize) -> (Sender, Receiver) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            items: VecDeque::new(),
            pending: 0,
            bytes: 0,
            peak: 0,
            waiting: 0,
            closed: false,
        }),
        ready: Notify::new(),
        space: Notify::new(),
        capacity: capacity.max(1),
        max_bytes: max_bytes.max(1),
        senders: AtomicUsize::new(1),
        ended: AtomicBool::new(false),
    });
    (Sender { inner: inner.clone() }, Receiver { inner })
}

/// The receiver is gone.
#[derive(Debug)]
pub(crate) struct Closed;

/// Why [`Sender::try_send`] did not queue an envelope.
#[cfg_attr(not(feature = "server"), allow(dead_code))] // Only the server uses it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrySendError {
    /// No room: `capacity` envelopes or `max_bytes` bytes are pending.
    Full,
    /// The receiver is gone.
    Closed,
}

/// How many envelopes and bytes a queue holds.
#[cfg_attr(not(feature = "server"), allow(dead_code))] // Only the server uses it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Envelopes queued or being written.
    pub(crate) envelopes: usize,
    /// Bytes queued or being written.
    pub(crate) bytes: usize,
    /// The most bytes ever pending at once.
    pub(crate) peak_bytes: usize,
}

impl Sender {
    /// Queues one envelope, waiting for room.
    pub(crate) async fn send(&self, item: Bytes) -> Result<(), Closed> {
        loop {
            let notified = self.inner.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.inner.state();
                if st.closed || self.inner.ended.load(Ordering::Acquire) {
                    return Err(Closed);
                }
                if self.inner.fits(&st, item.len()) {
                    Self::push(&mut st, item);
                    drop(st);
                    self.inner.ready.notify_one();
                    return Ok(());
                }
                st.waiting += 1;
            }
            // Counted as waiting until woken or cancelled.
            let _waiting = Waiting(&self.inner);
            notified.await;
        }
    }

    /// Queues one envelope if there is room now.
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // Only the server uses it.
    pub(crate) fn try_send(&self, item: Bytes) -> Result<(), TrySendError> {
        let mut st = self.inner.state();
        if st.closed {
            return Err(TrySendError::Closed);
        }
        if !self.inner.fits(&st, item.len()) {
            return Err(TrySendError::Full);
        }
        Self::push(&mut st, item);
        drop(st);
        self.inner.ready.notify_one();
        Ok(())
    }

    fn push(st: &mut State, item: Bytes) {
        st.pending += 1;
        st.bytes = st.bytes.saturating_add(item.len());
        st.peak = st.peak.max(st.bytes);
        st.items.push_back(item);
    }

    /// What the queue holds now.
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // Only the server uses it.
    pub(crate) fn usage(&self) -> Usage {
        let st = self.inner.state();
        Usage { envelopes: st.pending, bytes: st.bytes, peak_bytes: st.peak }
    }
}

struct Waiting<'a>(&'a Inner);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.state().waiting -= 1;
    }
}

impl Sender {
    /// Ends the queue for every sender: later sends fail, and the receiver ends once what is
    /// queued was taken (as when the last sender is dropped).
    pub(crate) fn end(&self) {
        self.inner.ended.store(true, Ordering::Release);
        self.inner.ready.notify_one();
    }
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.inner.senders.fetch_add(1, Ordering::AcqRel);
        Self { inner: self.inner.clone() }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if self.inner.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // the last sender: wake the receiver so it sees the end
            self.inner.ready.notify_one();
        }
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl Receiver {
    /// The next envelope; `None` once every sender is gone and the queue is empty. It stays
    /// counted as pending until [`written`](Self::written).
    pub(crate) async fn recv(&mut self) -> Option<Bytes> {
        loop {
            if let Some(item) = self.try_recv() {
                return Some(item);
            }
            if self.inner.senders.load(Ordering::Acquire) == 0
                || self.inner.ended.load(Ordering::Acquire)
            {
                return self.try_recv();
            }
            self.inner.ready.notified().await;
        }
    }

    /// The next envelope if one is queued. It stays counted as pending until
    /// [`written`](Self::written).
    pub(crate) fn try_recv(&mut self) -> Option<Bytes> {
        let mut st = self.inner.state();
        let item = st.items.pop_front();
        if item.is_some() {
            release_if_empty(&mut st);
        }
        item
    }

    /// Moves queued envelopes to `batch` (under one lock) until it holds `max`; returns their
    /// bytes. They stay counted as pending until [`written`](Self::written).
    pub(crate) fn take_more(&mut self, batch: &mut Vec<Bytes>, max: usize) -> usize {
        let mut st = self.inner.state();
        let n = max.saturating_sub(batch.len()).min(st.items.len());
        let mut bytes = 0;
        for item in st.items.drain(..n) {
            bytes += item.len();
            batch.push(item);
        }
        release_if_empty(&mut st);
        bytes
    }

    /// Releases `count` envelopes of `bytes` bytes taken from the queue, once written (or
    /// dropped).
    pub(crate) fn written(&self, count: usize, bytes: usize) {
        let mut st = self.inner.state();
        st.pending = st.pending.saturating_sub(count);
        st.bytes = st.bytes.saturating_sub(bytes);
        let waiting = st.waiting > 0;
        drop(st);
        self.inner.freed(waiting);
    }
}

/// An idle session keeps no queue storage: an emptied queue gives its buffer back.
fn release_if_empty(st: &mut State) {
    if st.items.is_empty() && st.items.capacity() > 0 {
        st.items = VecDeque::new();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut st = self.inner.state();
        st.closed = true;
        st.items = VecDeque::new();
        st.pending = 0;
        st.bytes = 0;
        drop(st);
        self.inner.space.notify_waiters();
    }
}

/// How a writer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriterEnd {
    /// Every queue sender is gone.
    Drained,
    /// The transport failed.
    Failed,
    /// One write did not complete within the deadline: the peer does not read.
    Stalled,
}

/// Writes what `rx` receives to `sender`, a batch per wake-up, until every queue sender is
/// gone (or the queue was ended) or the transport fails; then closes the transport. An idle
/// writer holds no batch. With a `deadline`, each batch must be written within it: a writer
/// that stays blocked longer gives up (a slow consumer) and drops the transport.
pub(crate) async fn write_loop_with_deadline(
    mut sender: Box<dyn TransportSender>,
    mut rx: Receiver,
    deadline: Option<Duration>,
) -> WriterEnd {
    let mut end = WriterEnd::Drained;
    while let Some(first) = rx.recv().await {
        let mut bytes = first.len();
        let mut batch = vec![first];
        bytes += rx.take_more(&mut batch, 64);
        let count = batch.len();
        let result = match deadline {
            None => sender.send_many(&mut batch).await,
            Some(limit) => {
                // The timer is armed only for a write that does not complete at once (the
                // socket's buffer is full): most writes cost no timer entry.
                let mut send = sender.send_many(&mut batch);
                match (&mut send).now_or_never() {
                    Some(result) => result,
                    None => match tokio::time::timeout(limit, send).await {
                        Ok(result) => result,
                        Err(_) => {
                            tracing::debug!(?limit, "writer stalled: the peer does not read");
                            end = WriterEnd::Stalled;
                            break;
                        }
                    },
                }
            }
        };
        drop(batch);
        rx.written(count, bytes);
        match result {
            Ok(()) => {}
            Err(TransportError::EnvelopeTooLarge { size, limit }) => {
                tracing::warn!(size, limit, "dropped an envelope larger than the limit");
            }
            Err(e) => {
                tracing::debug!(error = %e, "writer stopped");
                end = WriterEnd::Failed;
                break;
            }
        }
    }
    if end == WriterEnd::Stalled {
        // The stalled write may never complete: do not wait for a close handshake.
        drop(rx);
        drop(sender);
    } else {
        let _ = sender.close().await;
    }
    end
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn delivers_in_order_and_ends_when_senders_are_gone() {
        let (tx, mut rx) = bounded(4, usize::MAX);
        let tx2 = tx.clone();
        tx.send(Bytes::from_static(b"a")).await.unwrap();
        tx2.send(Bytes::from_static(b"b")).await.unwrap();
        drop(tx);
        drop(tx2);
        assert_eq!(rx.recv().await.unwrap(), "a");
        assert_eq!(rx.recv().await.unwrap(), "b");
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_batch_is_taken_in_order_up_to_its_size_and_stays_pending_until_written() {
        let (tx, mut rx) = bounded(8, usize::MAX);
        for item in ["a", "bb", "ccc", "dddd", "eeeee"] {
            tx.send(Bytes::from(item)).await.unwrap();
        }
        let mut batch = vec![rx.recv().await.unwrap()];
        assert_eq!(rx.take_more(&mut batch, 3), 5);
        assert_eq!(batch, ["a", "bb", "ccc"]);
        assert_eq!(tx.usage().envelopes, 5, "taken but not yet written");
        rx.written(3, 6);
        assert_eq!(tx.usage(), Usage { envelopes: 2, bytes: 9, peak_bytes: 15 });
        let mut rest = Vec::new();
        assert_eq!(rx.take_more(&mut rest, 64), 9);
        assert_eq!(rest, ["dddd", "eeeee"]);
        assert_eq!(rx.take_more(&mut rest, 64), 0);
    }

    #[tokio::test]
    async fn full_queue_waits_for_room() {
        use futures_util::FutureExt;
        let (tx, mut rx) = bounded(1, usize::MAX);
        tx.send(Bytes::from_static(b"1")).await.unwrap();
        let mut second = Box::pin(tx.send(Bytes::from_static(b"2")));
        assert!(second.as_mut().now_or_never().is_none(), "the second send waits for room");
        assert_eq!(rx.recv().await.unwrap(), "1");
        assert!(second.as_mut().now_or_never().is_none(), "taken but not yet written");
        rx.written(1, 1);
        tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap();
        assert_eq!(rx.recv().await.unwrap(), "2");
    }

    #[tokio::test]
    async fn send_fails_once_the_receiver_is_gone() {
        let (tx, rx) = bounded(1, usize::MAX);
        tx.send(Bytes::from_static(b"1")).await.unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(Bytes::from_static(b"2")).await }
        });
        drop(rx);
        assert!(tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap()
            .is_err());
        assert!(tx.send(Bytes::from_static(b"3")).await.is_err());
    }

    #[tokio::test]
    async fn try_send_is_bounded_in_envelopes_and_bytes_until_written() {
        let (tx, mut rx) = bounded(3, 10);
        tx.try_send(Bytes::from_static(b"1234")).unwrap();
        tx.try_send(Bytes::from_static(b"5678")).unwrap();
        assert_eq!(tx.try_send(Bytes::from_static(b"abc")), Err(TrySendError::Full), "bytes");
        tx.try_send(Bytes::from_static(b"ab")).unwrap();
        assert_eq!(tx.try_send(Bytes::new()), Err(TrySendError::Full), "envelopes");
        let usage = tx.usage();
        assert_eq!((usage.envelopes, usage.bytes, usage.peak_bytes), (3, 10, 10));
        // taken by the writer but not yet written: still pending
        assert_eq!(rx.try_recv().unwrap(), "1234");
        assert_eq!(tx.try_send(Bytes::new()), Err(TrySendError::Full));
        rx.written(1, 4);
        tx.try_send(Bytes::from_static(b"cd")).unwrap();
        assert_eq!(tx.usage().bytes, 8);
        // an envelope larger than the byte bound passes into an empty queue only
        while rx.try_recv().is_some() {}
        assert_eq!(tx.try_send(Bytes::from(vec![0; 11])), Err(TrySendError::Full));
        rx.written(3, 8);
        tx.try_send(Bytes::from(vec![0; 11])).unwrap();
        assert_eq!(tx.usage().peak_bytes, 11);
        drop(rx);
        assert_eq!(tx.try_send(Bytes::new()), Err(TrySendError::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_blocked_past_the_deadline_gives_up() {
        use crate::transport::{memory::MemoryTransport, Transport};
        let (ours, mut peer) = MemoryTransport::pair_with(1, Default::default());
        let (sender, _receiver) = Box::new(ours).split();
        let (tx, rx) = bounded(8, usize::MAX);
        let writer =
            tokio::spawn(write_loop_with_deadline(sender, rx, Some(Duration::from_secs(5))));
        for _ in 0..3 {
            tx.send(Bytes::from_static(br#"{"state":"new"}"#)).await.unwrap();
        }
        let start = tokio::time::Instant::now();
        // the peer never reads: the second write blocks until the deadline
        assert_eq!(writer.await.unwrap(), WriterEnd::Stalled);
        assert!(start.elapsed() >= Duration::from_secs(5));
        assert!(tx.send(Bytes::new()).await.is_err(), "the queue is closed");
        // what the transport buffered, then the end
        assert!(peer.receive().await.unwrap().is_some());
        assert!(peer.receive().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn receiver_wakes_for_items_sent_from_other_tasks() {
        let (tx, mut rx) = bounded(8, usize::MAX);
        let producer = tokio::spawn(async move {
            for i in 0..100u8 {
                tx.send(Bytes::from(vec![i])).await.unwrap();
            }
        });
        for i in 0..100u8 {
            assert_eq!(rx.recv().await.unwrap()[0], i);
            rx.written(1, 1);
        }
        producer.await.unwrap();
        assert!(rx.recv().await.is_none());
    }
}
