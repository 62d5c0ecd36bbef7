//! The driver: the task that owns a client's [`ClientChannel`] and serves the requests of
//! [`LimeClient`](crate::LimeClient).
//!
//! `ClientChannel` is `Send` but not `Sync`, so a future that uses one of its `&self` methods
//! (`receive`, `send_*`, `process_command`) is not `Send` and cannot be spawned on a
//! multi-thread runtime. Each client therefore gets a driver thread that runs a `LocalSet` on
//! the library's runtime ([`crate::runtime`]): requests arrive over a channel and each becomes
//! a local task, so sends, commands and the listener proceed concurrently while the
//! channel's own reader and writer tasks (which are `Send`) run on the runtime's workers.
//!
//! Inside the driver the channel sits in a `RwLock`: sending, commands and the listener's
//! `receive` share it, the handshake and `finish` need it exclusively. The listener waits in
//! `receive` with the lock shared, so an exclusive operation first announces itself on a
//! watch channel ([`Control`]) and the listener steps aside (`receive` is cancel-safe) until
//! the operation is done.

use std::{cell::Cell, future::Future, rc::Rc, sync::Arc, time::Duration};

use lime::{
    channel::{ClientChannel, ClientOptions, EstablishOptions},
    transport::{self, tls::ClientTlsConfig, TransportError, TransportOptions},
    Envelope, Identity, SessionEncryption, SessionState, DEFAULT_MAX_ENVELOPE_SIZE,
};
use tokio::{
    sync::{mpsc, oneshot, watch, RwLock, RwLockWriteGuard},
    task::{spawn_local, LocalSet},
};

use crate::{
    client::ConnectOptions,
    error::{invalid, LimeError},
    listener::{pump, ChannelListener},
    records::{Command, SessionInfo},
    runtime,
    task_handle::CancelSignal,
};

/// Where a request's result goes.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, LimeError>>;

/// What a [`LimeClient`](crate::LimeClient) asks its driver to do.
pub(crate) enum Request {
    Establish {
        identity: Identity,
        instance: String,
        authentication: lime::Authentication,
        reply: Reply<SessionInfo>,
    },
    Send {
        envelope: Envelope,
        reply: Reply<()>,
    },
    ProcessCommand {
        command: lime::Command,
        limit: Duration,
        reply: Reply<Command>,
    },
    Finish {
        reply: Reply<SessionInfo>,
    },
    Subscribe {
        listener: Arc<dyn ChannelListener>,
        cancel: CancelSignal,
    },
    /// Answered at once by the driver loop; a std channel so a foreign thread can block on it.
    State {
        reply: std::sync::mpsc::SyncSender<SessionState>,
    },
}

/// The client's side of a driver: where its requests go. The driver ends when this is dropped.
#[derive(Debug)]
pub(crate) struct Handle {
    requests: mpsc::UnboundedSender<Request>,
}

impl Handle {
    /// Starts a driver thread that connects to `uri`; resolves once connected.
    pub(crate) async fn connect(uri: String, options: ConnectOptions) -> Result<Self, LimeError> {
        let runtime = runtime::handle()?;
        let (requests, inbox) = mpsc::unbounded_channel();
        let (ready, connected) = oneshot::channel();
        std::thread::Builder::new()
            .name("lime-client".into())
            .spawn(move || {
                runtime.block_on(async {
                    let local = LocalSet::new();
                    local.run_until(drive(uri, options, inbox, ready)).await;
                    // Drop the remaining tasks (listeners), and with them the channel, while
                    // the runtime context is still entered.
                    drop(local);
                });
            })
            .map_err(|e| LimeError::Transport {
                msg: format!("cannot start the client thread: {e}"),
            })?;
        connected.await.map_err(|_| LimeError::Closed)??;
        Ok(Self { requests })
    }

    /// Sends the request built around a fresh reply channel and waits for the answer.
    pub(crate) async fn ask<T>(
        &self,
        request: impl FnOnce(Reply<T>) -> Request,
    ) -> Result<T, LimeError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(request(reply)).map_err(|_| LimeError::Closed)?;
        answer.await.map_err(|_| LimeError::Closed)?
    }

    /// The channel's state, asked synchronously (the driver answers at once).
    pub(crate) fn state(&self) -> SessionState {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        if self.requests.send(Request::State { reply }).is_err() {
            return SessionState::Failed;
        }
        answer.recv().unwrap_or(SessionState::Failed)
    }

    /// Starts a listener task; it stops when `cancel` fires. If the driver is gone, `cancel`
    /// is dropped with the request, which marks the task finished.
    pub(crate) fn subscribe(&self, listener: Arc<dyn ChannelListener>, cancel: CancelSignal) {
        let _ = self.requests.send(Request::Subscribe { listener, cancel });
    }
}

async fn drive(
    uri: String,
    options: ConnectOptions,
    mut inbox: mpsc::UnboundedReceiver<Request>,
    mut ready: Reply<()>,
) {
    let connected = tokio::select! {
        result = Driver::connect(&uri, options) => result,
        () = ready.closed() => return,
    };
    let driver = match connected {
        Ok(driver) => Rc::new(driver),
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if ready.send(Ok(())).is_err() {
        return;
    }
    while let Some(request) = inbox.recv().await {
        match request {
            Request::State { reply } => {
                let _ = reply.send(driver.state());
            }
            other => {
                spawn_local(driver.clone().serve(other));
            }
        }
    }
    // The client is gone: returning drops the local tasks (listeners), then the channel,
    // which stops its reader and writer and closes the connection.
}

/// Who is using the channel; watched by the listener.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Control {
    /// Exclusive operations waiting for or holding the channel.
    pub(crate) exclusive: usize,
    /// `establish` was called: from then on `receive` means something.
    pub(crate) started: bool,
}

/// A client's channel and what goes with it; lives on the driver thread.
pub(crate) struct Driver {
    pub(crate) channel: RwLock<ClientChannel>,
    pub(crate) control: watch::Sender<Control>,
    /// The state when an exclusive operation last ended, reported while one runs.
    last_state: Cell<SessionState>,
    encryption: Option<SessionEncryption>,
}

/// The channel held exclusively. Dropping it records the state, releases the channel and then
/// lets the listener back in.
struct Exclusive<'a> {
    channel: RwLockWriteGuard<'a, ClientChannel>,
    announced: Announced<'a>,
}

/// One announced exclusive operation; withdrawn on drop, also when it is cancelled while
/// waiting for the channel.
struct Announced<'a>(&'a Driver);

impl Drop for Announced<'_> {
    fn drop(&mut self) {
        self.0.control.send_modify(|c| c.exclusive -= 1);
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        self.announced.0.last_state.set(self.channel.state());
    }
}

impl Driver {
    async fn connect(uri: &str, options: ConnectOptions) -> Result<Self, LimeError> {
        let encryption = options
            .encryption
            .map(|e| e.parse::<SessionEncryption>().map_err(|e| invalid("encryption", e)))
            .transpose()?;
        let max_envelope_size = match options.max_envelope_size {
            Some(n) => usize::try_from(n).map_err(|e| invalid("max_envelope_size", e))?,
            None => DEFAULT_MAX_ENVELOPE_SIZE,
        };
        let tls = match options.root_ca_pem {
            Some(pem) => ClientTlsConfig::builder()
                .add_roots_pem(pem.as_bytes())
                .and_then(|b| b.build())
                .map_err(|e| invalid("root_ca_pem", e))?,
            None => ClientTlsConfig::default(),
        };
        let transport_options =
            TransportOptions { max_envelope_size, ..TransportOptions::default() };
        let transport =
            transport::connect_with(uri, &tls, transport_options).await.map_err(|e| match e {
                TransportError::InvalidUri(_) => invalid("uri", e),
                other => other.into(),
            })?;
        let mut client = ClientOptions { max_envelope_size, ..ClientOptions::default() };
        client.channel.auto_notify_receipt = options.auto_notify_receipt;
        client.channel.auto_reply_pings = options.auto_reply_pings;
        client.channel.deliver_answered_pings = options.deliver_answered_pings;
        let channel = ClientChannel::with_options(transport, client);
        Ok(Self {
            last_state: Cell::new(channel.state()),
            channel: RwLock::new(channel),
            control: watch::Sender::new(Control::default()),
            encryption,
        })
    }

    /// The channel's state; while an exclusive operation holds it, the state before.
    fn state(&self) -> SessionState {
        match self.channel.try_read() {
            Ok(channel) => channel.state(),
            Err(_) => self.last_state.get(),
        }
    }

    /// Takes the channel exclusively, after asking the listener to step aside.
    async fn exclusive(&self) -> Exclusive<'_> {
        self.control.send_modify(|c| c.exclusive += 1);
        let announced = Announced(self);
        Exclusive { channel: self.channel.write().await, announced }
    }

    async fn serve(self: Rc<Self>, request: Request) {
        match request {
            Request::Establish { identity, instance, authentication, reply } => {
                let mut options = EstablishOptions::new(identity, &instance, authentication);
                options.encryption = self.encryption;
                answer(reply, async {
                    let mut turn = self.exclusive().await;
                    self.control.send_modify(|c| c.started = true);
                    let session = turn.channel.establish_session(options).await?;
                    Ok(SessionInfo::from_session(&session, &turn.channel))
                })
                .await;
            }
            Request::Send { envelope, reply } => {
                answer(reply, async {
                    let channel = self.channel.read().await;
                    let sent = match envelope {
                        Envelope::Message(m) => channel.send_message(m).await,
                        Envelope::Notification(n) => channel.send_notification(n).await,
                        Envelope::Command(c) => channel.send_command(c).await,
                        Envelope::Session(_) => {
                            return Err(invalid("envelope", "sessions are sent by the client"))
                        }
                    };
                    Ok(sent?)
                })
                .await;
            }
            Request::ProcessCommand { command, limit, reply } => {
                answer(reply, async {
                    let channel = self.channel.read().await;
                    Ok(channel.process_command(command, limit).await?.into())
                })
                .await;
            }
            Request::Finish { reply } => {
                answer(reply, async {
                    let mut turn = self.exclusive().await;
                    let session = turn.channel.finish().await?;
                    Ok(SessionInfo::from_session(&session, &turn.channel))
                })
                .await;
            }
            Request::Subscribe { listener, mut cancel } => {
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = pump(&self, listener) => {}
                }
            }
            Request::State { reply } => {
                let _ = reply.send(self.state());
            }
        }
    }
}

/// Runs `work` and sends its result, unless the caller stops waiting first (a cancelled
/// coroutine or Swift task), which abandons the work.
async fn answer<T>(mut reply: Reply<T>, work: impl Future<Output = Result<T, LimeError>>) {
    let result = tokio::select! {
        result = work => Some(result),
        () = reply.closed() => None,
    };
    if let Some(result) = result {
        let _ = reply.send(result);
    }
}
