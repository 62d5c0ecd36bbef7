//! The bounded queue between a [`ClientChannel`](super::ClientChannel)'s read loop and the
//! application: the read loop hands over a whole batch of events under one lock and one
//! wake-up, the application takes them one at a time.
//!
//! `tokio::sync::mpsc` costs a semaphore permit and a wake per event, and the channel's
//! `receive(&self)` needed an async mutex around its receiver on top. During a flood those
//! were a tenth of the client's work.
//!
//! At most `capacity` events wait: [`EventSender::send_all`] waits for room (so a slow reader
//! stops the read loop, which stops reading the socket: back-pressure to the server).

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
};

use tokio::sync::Notify;

use super::ChannelEvent;

struct State {
    items: VecDeque<ChannelEvent>,
    /// The sender is gone: once `items` is empty, `receive` returns `None`.
    sender_gone: bool,
    /// The receiver is gone: sends fail.
    receiver_gone: bool,
}

struct Inner {
    state: Mutex<State>,
    /// Events were queued, or the sender is gone.
    ready: Notify,
    /// Events were taken, or the receiver is gone.
    space: Notify,
    capacity: AtomicUsize,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // invariant: no code panics while holding the lock; recover the data if one did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The read loop's side.
pub(crate) struct EventSender {
    inner: Arc<Inner>,
}

/// The application's side; `receive` takes `&self`, so several tasks may share it.
pub(crate) struct EventReceiver {
    inner: Arc<Inner>,
}

/// The receiver is gone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ReceiverGone;

/// A queue holding at most `capacity` (at least 1) events.
pub(crate) fn events(capacity: usize) -> (EventSender, EventReceiver) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            items: VecDeque::new(),
            sender_gone: false,
            receiver_gone: false,
        }),
        ready: Notify::new(),
        space: Notify::new(),
        capacity: AtomicUsize::new(capacity.max(1)),
    });
    (EventSender { inner: inner.clone() }, EventReceiver { inner })
}

impl EventSender {
    /// Queues every event of `batch` in order (emptying it), waiting for room as needed.
    pub(crate) async fn send_all(&self, batch: &mut Vec<ChannelEvent>) -> Result<(), ReceiverGone> {
        let mut batch = batch.drain(..).peekable();
        while batch.peek().is_some() {
            let space = self.inner.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let mut st = self.inner.state();
                if st.receiver_gone {
                    return Err(ReceiverGone);
                }
                let room =
                    self.inner.capacity.load(Ordering::Relaxed).saturating_sub(st.items.len());
                if room > 0 {
                    st.items.extend(batch.by_ref().take(room));
                    drop(st);
                    self.inner.ready.notify_waiters();
                    continue;
                }
            }
            space.await;
        }
        Ok(())
    }

    /// Queues the last event at once, beyond the capacity if the queue is full (it is one more
    /// at the most: nothing is sent after it). Lost only if the receiver is gone.
    pub(crate) fn push_end(self, event: ChannelEvent) {
        let mut st = self.inner.state();
        if st.receiver_gone {
            return;
        }
        st.items.push_back(event);
        drop(st);
        self.inner.ready.notify_waiters();
    }

    /// Queues one event, waiting for room.
    #[cfg(test)]
    pub(crate) async fn send(&self, event: ChannelEvent) -> Result<(), ReceiverGone> {
        self.send_all(&mut vec![event]).await
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        self.inner.state().sender_gone = true;
        self.inner.ready.notify_waiters();
    }
}

impl EventReceiver {
    /// Ends the queue from the receiving side: what is queued can still be taken, then
    /// `receive` returns `None`; later sends fail as if the receiver were gone.
    pub(crate) fn end(&self) {
        {
            let mut st = self.inner.state();
            st.sender_gone = true;
            st.receiver_gone = true;
        }
        self.inner.ready.notify_waiters();
        self.inner.space.notify_waiters();
    }

    /// Holds at most `capacity` (at least 1) events from now on.
    pub(crate) fn set_capacity(&self, capacity: usize) {
        self.inner.capacity.store(capacity.max(1), Ordering::Relaxed);
        self.inner.space.notify_waiters();
    }

    /// The next event; `None` once the sender is gone and every event was taken.
    pub(crate) async fn receive(&self) -> Option<ChannelEvent> {
        loop {
            let ready = self.inner.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            {
                let mut st = self.inner.state();
                if let Some(event) = st.items.pop_front() {
                    let was_full =
                        st.items.len() + 1 >= self.inner.capacity.load(Ordering::Relaxed);
                    drop(st);
                    if was_full {
                        self.inner.space.notify_waiters();
                    }
                    return Some(event);
                }
                if st.sender_gone {
                    return None;
                }
            }
            ready.await;
        }
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        self.inner.state().receiver_gone = true;
        self.inner.space.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Message;

    fn message(i: usize) -> ChannelEvent {
        ChannelEvent::Message(Message::text(i.to_string()))
    }

    fn number(event: Option<ChannelEvent>) -> Option<String> {
        match event {
            Some(ChannelEvent::Message(m)) => m.content?.as_text().map(|t| format!("{t:?}")),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_batch_arrives_in_order_and_the_end_after_it() {
        let (tx, rx) = events(8);
        let mut batch: Vec<_> = (0..5).map(message).collect();
        tx.send_all(&mut batch).await.unwrap();
        assert!(batch.is_empty());
        drop(tx);
        for i in 0..5 {
            assert_eq!(number(rx.receive().await), Some(format!("\"{i}\"")));
        }
        assert!(rx.receive().await.is_none());
    }

    #[tokio::test]
    async fn a_full_queue_holds_the_sender_until_the_reader_takes_events() {
        let (tx, rx) = events(2);
        let sender = tokio::spawn(async move {
            let mut batch: Vec<_> = (0..5).map(message).collect();
            tx.send_all(&mut batch).await.map(|()| tx)
        });
        // The sender cannot finish: only two fit.
        tokio::task::yield_now().await;
        assert_eq!(rx.inner.state().items.len(), 2);
        assert!(!sender.is_finished());
        for i in 0..5 {
            let got = tokio::time::timeout(Duration::from_secs(5), rx.receive()).await.unwrap();
            assert_eq!(number(got), Some(format!("\"{i}\"")));
        }
        let tx = tokio::time::timeout(Duration::from_secs(5), sender).await.unwrap().unwrap();
        assert!(tx.is_ok());
    }

    #[tokio::test]
    async fn a_gone_receiver_fails_the_sender_even_while_it_waits() {
        let (tx, rx) = events(1);
        tx.send(message(0)).await.unwrap();
        let waiting = tokio::spawn(async move { tx.send(message(1)).await });
        tokio::task::yield_now().await;
        drop(rx);
        let result = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        assert_eq!(result, Err(ReceiverGone));
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_an_event_and_for_the_end() {
        let (tx, rx) = events(4);
        let rx = Arc::new(rx);
        let reader = {
            let rx = rx.clone();
            tokio::spawn(async move { (number(rx.receive().await), rx.receive().await.is_none()) })
        };
        tokio::task::yield_now().await;
        tx.send(message(7)).await.unwrap();
        drop(tx);
        let (first, ended) =
            tokio::time::timeout(Duration::from_secs(5), reader).await.unwrap().unwrap();
        assert_eq!(first, Some("\"7\"".into()));
        assert!(ended);
    }
}
