//! The outgoing side of a connection: a bounded queue of serialized envelopes and the writer
//! task that drains it, shared by the client channel and the server's sessions.
//!
//! `tokio::sync::mpsc` allocates a 32-slot block per channel up front (about 1 KiB with
//! `Bytes` items), which dominates the memory of an idle session. This queue allocates only
//! while envelopes are queued, and applies the same back-pressure: `send` waits while
//! `capacity` envelopes are pending, and fails once the writer is gone.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use bytes::Bytes;
use tokio::sync::{Notify, Semaphore};

use crate::{transport::TransportSender, TransportError};

struct Inner {
    items: Mutex<VecDeque<Bytes>>,
    ready: Notify,
    space: Semaphore,
    senders: AtomicUsize,
    closed: AtomicBool,
}

impl Inner {
    fn items(&self) -> std::sync::MutexGuard<'_, VecDeque<Bytes>> {
        self.items.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// A queue holding at most `capacity` envelopes.
pub(crate) fn queue(capacity: usize) -> (Sender, Receiver) {
    let inner = Arc::new(Inner {
        items: Mutex::new(VecDeque::new()),
        ready: Notify::new(),
        space: Semaphore::new(capacity.max(1)),
        senders: AtomicUsize::new(1),
        closed: AtomicBool::new(false),
    });
    (Sender { inner: inner.clone() }, Receiver { inner })
}

/// The receiver is gone.
#[derive(Debug)]
pub(crate) struct Closed;

impl Sender {
    /// Queues one envelope, waiting for room.
    pub(crate) async fn send(&self, item: Bytes) -> Result<(), Closed> {
        let permit = self.inner.space.acquire().await.map_err(|_| Closed)?;
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Closed);
        }
        permit.forget();
        self.inner.items().push_back(item);
        self.inner.ready.notify_one();
        Ok(())
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
    /// The next envelope; `None` once every sender is gone and the queue is empty.
    pub(crate) async fn recv(&mut self) -> Option<Bytes> {
        loop {
            if let Some(item) = self.try_recv() {
                return Some(item);
            }
            if self.inner.senders.load(Ordering::Acquire) == 0 {
                return self.try_recv();
            }
            self.inner.ready.notified().await;
        }
    }

    /// The next envelope if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Bytes> {
        let mut items = self.inner.items();
        let item = items.pop_front();
        if item.is_some() {
            if items.is_empty() && items.capacity() > 0 {
                // an idle session keeps no queue storage
                *items = VecDeque::new();
            }
            drop(items);
            self.inner.space.add_permits(1);
        }
        item
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.space.close();
        self.inner.items().clear();
    }
}

/// Writes what `rx` receives to `sender`, a batch per wake-up, until every queue sender is
/// gone or the transport fails; then closes the transport. An idle writer holds no batch.
pub(crate) async fn write_loop(mut sender: Box<dyn TransportSender>, mut rx: Receiver) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 64 {
            match rx.try_recv() {
                Some(more) => batch.push(more),
                None => break,
            }
        }
        match sender.send_many(&mut batch).await {
            Ok(()) => {}
            Err(TransportError::EnvelopeTooLarge { size, limit }) => {
                tracing::warn!(size, limit, "dropped an envelope larger than the limit");
            }
            Err(e) => {
                tracing::debug!(error = %e, "writer stopped");
                break;
            }
        }
    }
    let _ = sender.close().await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn delivers_in_order_and_ends_when_senders_are_gone() {
        let (tx, mut rx) = queue(4);
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
    async fn full_queue_waits_for_room() {
        use futures_util::FutureExt;
        let (tx, mut rx) = queue(1);
        tx.send(Bytes::from_static(b"1")).await.unwrap();
        let mut second = Box::pin(tx.send(Bytes::from_static(b"2")));
        assert!(second.as_mut().now_or_never().is_none(), "the second send waits for room");
        assert_eq!(rx.recv().await.unwrap(), "1");
        tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap();
        assert_eq!(rx.recv().await.unwrap(), "2");
    }

    #[tokio::test]
    async fn send_fails_once_the_receiver_is_gone() {
        let (tx, rx) = queue(1);
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
    async fn receiver_wakes_for_items_sent_from_other_tasks() {
        let (tx, mut rx) = queue(8);
        let producer = tokio::spawn(async move {
            for i in 0..100u8 {
                tx.send(Bytes::from(vec![i])).await.unwrap();
            }
        });
        for i in 0..100u8 {
            assert_eq!(rx.recv().await.unwrap()[0], i);
        }
        producer.await.unwrap();
        assert!(rx.recv().await.is_none());
    }
}
