//! [`ChannelListener`]: incoming envelopes delivered to the application, and the task that
//! hands them over from the client's event queue.

use std::sync::Arc;

use lime::channel::ChannelEvent;

use crate::records::{Command, Message, Notification, SessionInfo};

/// Receives what arrives on an established session; implemented by the application (a Kotlin
/// class, a Swift type).
///
/// Methods are called one at a time, in arrival order, on a thread of the library's blocking
/// pool: they may block, and may call the client (also synchronously, e.g. with Kotlin's
/// `runBlocking`). An exception thrown by one surfaces as a Rust panic message on standard
/// error, and the stream goes on.
/// Exactly one of `on_finished`, `on_failed` and `on_closed` ends the stream.
#[uniffi::export(foreign)]
pub trait ChannelListener: Send + Sync {
    /// A message (a `received` receipt was already sent if `auto_notify_receipt` is on).
    fn on_message(&self, message: Message);
    /// A notification.
    fn on_notification(&self, notification: Notification);
    /// A command that is not the response to one of ours (requests, unsolicited responses).
    fn on_command(&self, command: Command);
    /// The server finished the session.
    fn on_finished(&self, session: SessionInfo);
    /// The server failed the session (see `session.reason`).
    fn on_failed(&self, session: SessionInfo);
    /// The connection ended without a session envelope, or the session is not running.
    fn on_closed(&self, error: Option<String>);
}

/// What to hand to the listener, taken out of the channel's event.
enum Delivery {
    Message(Message),
    Notification(Notification),
    Command(Command),
    Finished(SessionInfo),
    Failed(SessionInfo),
    Closed(Option<String>),
}

impl Delivery {
    /// True for the last delivery of a stream.
    fn ends(&self) -> bool {
        matches!(self, Self::Finished(_) | Self::Failed(_) | Self::Closed(_))
    }

    fn deliver(self, listener: &dyn ChannelListener) {
        match self {
            Self::Message(m) => listener.on_message(m),
            Self::Notification(n) => listener.on_notification(n),
            Self::Command(c) => listener.on_command(c),
            Self::Finished(info) => listener.on_finished(info),
            Self::Failed(info) => listener.on_failed(info),
            Self::Closed(error) => listener.on_closed(error),
        }
    }
}

/// Delivers the client's events to `listener` until the session ends (or the task is
/// aborted, which releases the event queue for the next listener).
pub(crate) async fn listen(client: Arc<lime::Client>, listener: Arc<dyn ChannelListener>) {
    let mut events = client.subscribe().await;
    loop {
        let delivery = match events.next().await {
            Some(ChannelEvent::Message(m)) => Delivery::Message(m.into()),
            Some(ChannelEvent::Notification(n)) => Delivery::Notification(n.into()),
            Some(ChannelEvent::Command(c)) => Delivery::Command(c.into()),
            Some(ChannelEvent::Finished(s)) => {
                Delivery::Finished(SessionInfo::from_session(&s, &client))
            }
            Some(ChannelEvent::Failed(s)) => {
                Delivery::Failed(SessionInfo::from_session(&s, &client))
            }
            Some(ChannelEvent::Closed { error }) => Delivery::Closed(error),
            None => Delivery::Closed(Some(format!(
                "the session is not running (state: {})",
                client.state()
            ))),
        };
        let ends = delivery.ends();
        let listener = listener.clone();
        // The callback runs on the blocking pool, so it may block and call the client. A
        // panic (an exception thrown by the foreign implementation) ends only the callback.
        let _ = tokio::task::spawn_blocking(move || delivery.deliver(&*listener)).await;
        if ends {
            return;
        }
    }
}
