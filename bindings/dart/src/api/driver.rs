//! The driver: the thread that owns a client's [`ClientChannel`] and runs the work of
//! [`LimeClient`](super::client::LimeClient).
//!
//! `ClientChannel` is `Send` but not `Sync` (it holds the `Box<dyn Transport>` until the session
//! is established), so a future that borrows it through one of its `&self` methods
//! (`receive`, `send_*`, `process_command`) is not `Send`, while flutter_rust_bridge runs every
//! async function on its multi-thread tokio runtime, which needs `Send` futures. Each client
//! therefore gets a thread that drives a `LocalSet` on that runtime: the API sends it jobs
//! (`Send` closures), each job runs as a local task, and its result comes back over a oneshot
//! channel. The channel's own reader and writer tasks (which are `Send`) still run on the
//! runtime's workers.
//!
//! Inside the driver the channel sits in a `RwLock`. Sends, commands and the event pump share
//! it; the handshake steps, `finish` and `close` need it exclusively. The pump waits in
//! `receive` holding a shared lock, so an exclusive operation first announces itself on a
//! watch channel and the pump steps aside (`receive` is cancel-safe) until it is done.

use std::{
    future::Future,
    pin::Pin,
    rc::Rc,
    sync::{Arc, Mutex, PoisonError},
};

use lime::channel::{ChannelEvent, ClientChannel};
use tokio::{
    sync::{mpsc, oneshot, watch, RwLock, RwLockReadGuard, RwLockWriteGuard},
    task::{spawn_local, LocalSet},
};

use super::{client::ChannelInfoDto, error::LimeError};

type Job = Box<dyn FnOnce(Rc<Driver>) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// The client's side of a driver: where jobs are sent, and the last known channel state.
#[derive(Debug)]
pub(crate) struct DriverHandle {
    jobs: mpsc::UnboundedSender<Job>,
    info: Arc<Mutex<ChannelInfoDto>>,
}

/// What lives on the driver thread.
pub(crate) struct Driver {
    channel: RwLock<ClientChannel>,
    /// Exclusive operations waiting for or holding the channel; the pump watches it.
    exclusive: watch::Sender<usize>,
    info: Arc<Mutex<ChannelInfoDto>>,
}

impl DriverHandle {
    /// Starts the driver thread for `channel` on the current tokio runtime (which must be a
    /// multi-thread runtime: flutter_rust_bridge's, or a test's). The thread ends when the
    /// handle is dropped, dropping the channel (which closes the connection).
    pub(crate) fn start(channel: ClientChannel) -> Result<Self, LimeError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| LimeError::Transport {
            message: "no tokio runtime: call this from an async function".into(),
        })?;
        let info = Arc::new(Mutex::new(ChannelInfoDto::of(&channel)));
        let driver = Driver {
            channel: RwLock::new(channel),
            exclusive: watch::Sender::new(0),
            info: info.clone(),
        };
        let (jobs, inbox) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("lime-dart-client".into())
            .spawn(move || runtime.block_on(LocalSet::new().run_until(serve(driver, inbox))))
            .map_err(|e| LimeError::Transport {
                message: format!("cannot start the client thread: {e}"),
            })?;
        Ok(Self { jobs, info })
    }

    /// Runs `work` on the driver thread and returns its result.
    pub(crate) async fn call<T, F, Fut>(&self, work: F) -> Result<T, LimeError>
    where
        T: Send + 'static,
        F: FnOnce(Rc<Driver>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, LimeError>> + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |driver| {
            Box::pin(async move {
                // The caller may have given up waiting: nothing to do then.
                let _ = reply.send(work(driver).await);
            })
        });
        self.jobs.send(job).map_err(|_| LimeError::Closed)?;
        answer.await.map_err(|_| LimeError::Closed)?
    }

    /// The channel's state as of the end of the last operation or event.
    pub(crate) fn info(&self) -> ChannelInfoDto {
        self.info.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

async fn serve(driver: Driver, mut inbox: mpsc::UnboundedReceiver<Job>) {
    let driver = Rc::new(driver);
    while let Some(job) = inbox.recv().await {
        spawn_local(job(driver.clone()));
    }
    // Every handle is gone: returning drops the local tasks, then the channel, which stops
    // its reader and writer and closes the connection.
}

/// Counts an exclusive operation from the moment it asks for the channel until it ends
/// (including when it is cancelled while waiting).
struct Ticket<'a>(&'a watch::Sender<usize>);

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Exclusive access to the channel; the pump resumes when it is dropped.
pub(crate) struct Exclusive<'a> {
    // Declared first: the lock is released before the ticket lets the pump back in.
    channel: RwLockWriteGuard<'a, ClientChannel>,
    driver: &'a Driver,
    _ticket: Ticket<'a>,
}

impl std::ops::Deref for Exclusive<'_> {
    type Target = ClientChannel;
    fn deref(&self) -> &ClientChannel {
        &self.channel
    }
}

impl std::ops::DerefMut for Exclusive<'_> {
    fn deref_mut(&mut self) -> &mut ClientChannel {
        &mut self.channel
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        self.driver.remember(&self.channel);
    }
}

impl Driver {
    /// The channel for a handshake step, `finish` or `close`.
    pub(crate) async fn exclusive(&self) -> Exclusive<'_> {
        self.exclusive.send_modify(|n| *n += 1);
        let ticket = Ticket(&self.exclusive);
        let channel = self.channel.write().await;
        Exclusive { channel, driver: self, _ticket: ticket }
    }

    /// The channel for sending and commands.
    pub(crate) async fn shared(&self) -> RwLockReadGuard<'_, ClientChannel> {
        self.channel.read().await
    }

    /// Records the state for [`DriverHandle::info`].
    pub(crate) fn remember(&self, channel: &ClientChannel) {
        *self.info.lock().unwrap_or_else(PoisonError::into_inner) = ChannelInfoDto::of(channel);
    }

    /// The next event of the established channel; `None` once it has ended and every event
    /// was taken. Steps aside while an exclusive operation runs.
    pub(crate) async fn next_event(&self) -> Result<Option<ChannelEvent>, LimeError> {
        let mut control = self.exclusive.subscribe();
        loop {
            // The sender lives in `self`: waiting cannot fail.
            let _ = control.wait_for(|n| *n == 0).await.map(drop);
            let channel = self.channel.read().await;
            if channel.state() < lime::SessionState::Established {
                return Err(LimeError::Session {
                    code: lime::reason::codes::SESSION_INVALID_ACTION_FOR_STATE,
                    description: format!(
                        "cannot receive events in the {} state: establish the session first",
                        channel.state()
                    ),
                });
            }
            tokio::select! {
                event = channel.receive() => {
                    self.remember(&channel);
                    return Ok(event);
                }
                _ = control.wait_for(|n| *n > 0) => {}
            }
        }
    }
}
