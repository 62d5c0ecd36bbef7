//! [`ClientChannel`]: a LIME client session over any [`Transport`], driven by tokio.
//!
//! Every method takes `&self`, so the channel can be shared (`Arc<ClientChannel>`) between
//! tasks and threads. The handshake methods (`start_new_session`, `negotiate_session`,
//! `authenticate_session`, or all of them through [`ClientChannel::establish_session`]) run on
//! the caller's task and take turns (with [`ClientChannel::finish`]) on one lock that holds
//! the whole transport. Once the session is established the transport is split and two tasks
//! take over: a reader running the crate's one established loop (`channel/driver.rs`, the
//! server sessions' loop too) that feeds [`ChannelCore`] (which answers pings, sends receipts
//! and completes pending commands), and a writer that drains a bounded queue. The application
//! receives messages, notifications, commands and the end of the session from
//! [`ClientChannel::receive`]; the queues are bounded, so a slow consumer slows the peer down
//! instead of growing memory.
//!
//! # Examples
//!
//! ```no_run
//! use lime::channel::client::{ClientChannel, EstablishOptions};
//! use lime::transport::{connect, tls::ClientTlsConfig};
//! use lime::{Message, Authentication};
//!
//! # async fn run() -> Result<(), lime::Error> {
//! let transport = connect("net.tcp://127.0.0.1:55321", &ClientTlsConfig::default()).await?;
//! let channel = ClientChannel::new(transport);
//! channel
//!     .establish_session(EstablishOptions::new("alice@example.com".parse()?, "home", Authentication::Guest))
//!     .await?;
//! channel.send_message(Message::text("Hello!").with_to("bob@example.com".parse()?)).await?;
//! while let Some(event) = channel.receive().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```

use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard, OnceLock, PoisonError,
    },
    time::Duration,
};

use bytes::Bytes;
use tokio::{
    sync::{oneshot, watch},
    task::{AbortHandle, JoinHandle},
    time::timeout,
};

use super::{
    driver::{self, Established},
    events::{events, EventReceiver, EventSender},
    ping::{PingAction, RemotePing},
    queue::{self, write_loop_with_deadline, WriterEnd},
    ChannelCore, ChannelOptions, Role,
};
use crate::{
    error::{SessionError, TransportError},
    transport::{whole, Received, Transport, TransportReceiver, TransportResult},
    Authentication, AuthenticationScheme, Command, Envelope, Error, Identity, Message, Node,
    Notification, Session, SessionCompression, SessionEncryption, SessionState,
    DEFAULT_MAX_ENVELOPE_SIZE,
};

/// What the application receives from an established channel.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelEvent {
    /// A message.
    Message(Message),
    /// A notification.
    Notification(Notification),
    /// A command that is not the response to one of ours (requests, unknown responses).
    Command(Command),
    /// The server finished the session.
    Finished(Session),
    /// The server failed the session (see its reason).
    Failed(Session),
    /// The connection ended without a session envelope.
    Closed {
        /// The error that ended it, if any.
        error: Option<String>,
    },
}

/// Driver settings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Behaviour of the channel core (pings, receipts, ids).
    pub channel: ChannelOptions,
    /// Capacity of the incoming event queue and of the outgoing envelope queue.
    pub buffer: usize,
    /// Largest envelope the channel sends (checked before queuing).
    pub max_envelope_size: usize,
    /// Timeout of each handshake step.
    pub handshake_timeout: Duration,
    /// Send a `/ping` request when the server has been silent this long (off by default).
    pub remote_ping_interval: Option<Duration>,
    /// Finish the session when the server stays silent this long after a ping.
    pub remote_idle_timeout: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            channel: ChannelOptions::client(),
            buffer: 1024,
            max_envelope_size: DEFAULT_MAX_ENVELOPE_SIZE,
            handshake_timeout: Duration::from_secs(30),
            remote_ping_interval: None,
            remote_idle_timeout: None,
        }
    }
}

/// Produces the credentials for each authentication round: given the scheme options and the
/// server's round-trip authentication (if any).
pub type Authenticator =
    Box<dyn FnMut(&[AuthenticationScheme], Option<&Authentication>) -> Authentication + Send>;

/// Everything [`ClientChannel::establish_session`] needs.
pub struct EstablishOptions {
    /// Who we are.
    pub identity: Identity,
    /// Our instance name.
    pub instance: Option<String>,
    /// Credentials per round.
    pub authenticator: Authenticator,
    /// Compression to choose if the server negotiates (default: its first option).
    pub compression: Option<SessionCompression>,
    /// Encryption to choose if the server negotiates (default: its first option).
    pub encryption: Option<SessionEncryption>,
}

impl EstablishOptions {
    /// Fixed credentials for every round.
    pub fn new(identity: Identity, instance: &str, authentication: Authentication) -> Self {
        Self {
            identity,
            instance: Some(instance.to_owned()),
            authenticator: Box::new(move |_, _| authentication.clone()),
            compression: None,
            encryption: None,
        }
    }

    /// Credentials computed per round (multi-round-trip authentication).
    pub fn with_authenticator(
        identity: Identity,
        instance: &str,
        authenticator: Authenticator,
    ) -> Self {
        Self { authenticator, ..Self::new(identity, instance, Authentication::Guest) }
    }

    /// Chooses these options when the server negotiates.
    #[must_use]
    pub fn negotiate(
        mut self,
        compression: SessionCompression,
        encryption: SessionEncryption,
    ) -> Self {
        self.compression = Some(compression);
        self.encryption = Some(encryption);
        self
    }
}

impl EstablishOptions {
    /// The options to answer a negotiation offer with: the chosen ones, else the server's
    /// first offered option (C# default selectors).
    pub(crate) fn choose(&self, offer: &Session) -> (SessionCompression, SessionEncryption) {
        let compression = self
            .compression
            .or_else(|| offer.compression_options.as_ref().and_then(|o| o.first().copied()))
            .unwrap_or(SessionCompression::None);
        // The server's first option, skipping `tls` in a build without the `tls` feature.
        let usable = |e: &SessionEncryption| cfg!(feature = "tls") || *e != SessionEncryption::Tls;
        let encryption = self
            .encryption
            .or_else(|| {
                offer.encryption_options.as_ref().and_then(|o| o.iter().copied().find(usable))
            })
            .unwrap_or(SessionEncryption::None);
        (compression, encryption)
    }

    /// The credentials for one `authenticating` round; `schemes` keeps the scheme options of
    /// the last offer (round trips may omit them).
    pub(crate) fn credentials(
        &mut self,
        schemes: &mut Vec<AuthenticationScheme>,
        session: &Session,
    ) -> Authentication {
        if let Some(offered) = &session.scheme_options {
            schemes.clone_from(offered);
        }
        (self.authenticator)(schemes, session.authentication.as_ref())
    }
}

/// What a handshake that stopped at `session` means: the established session, or the error.
pub(crate) fn establishment_result(session: Session) -> Result<Session, Error> {
    match session.state {
        SessionState::Established => Ok(session),
        SessionState::Failed => Err(SessionError::Failed {
            reason: session.reason.clone().unwrap_or_else(|| {
                crate::Reason::new(
                    crate::reason::codes::GENERAL_ERROR,
                    "Could not establish the session for an unknown reason",
                )
            }),
        }
        .into()),
        SessionState::Finished => Err(SessionError::Finished.into()),
        other => Err(SessionError::Protocol(format!(
            "unexpected session state {other} during establishment"
        ))
        .into()),
    }
}

type Pending = oneshot::Sender<Command>;

/// How long a closing channel keeps writing what is queued (and its goodbye: a close frame,
/// TLS close_notify) to a peer that does not read.
pub const CLOSE_FLUSH_LIMIT: Duration = Duration::from_secs(5);

struct Shared {
    core: Mutex<ChannelCore<Pending>>,
    options: Mutex<ClientOptions>,
    /// Copies of the options read on every send or handshake step.
    max_envelope_size: AtomicUsize,
    handshake_timeout: AtomicU64,
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, ChannelCore<Pending>> {
        // invariant: no code panics while holding the lock; recover the data if one did.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn options(&self) -> MutexGuard<'_, ClientOptions> {
        self.options.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn configure(&self, options: ClientOptions) {
        self.max_envelope_size.store(options.max_envelope_size, Ordering::Release);
        let nanos = u64::try_from(options.handshake_timeout.as_nanos()).unwrap_or(u64::MAX);
        self.handshake_timeout.store(nanos, Ordering::Release);
        self.core().options_mut().clone_from(&options.channel);
        *self.options() = options;
    }

    /// The session is over: it is `failed` unless it ended otherwise, and the commands still
    /// waiting see their sender dropped (`Error::Closed`).
    fn end_session(&self) {
        let mut core = self.core();
        core.fail();
        drop(core.drain_pending());
    }

    fn handshake_timeout(&self) -> Duration {
        Duration::from_nanos(self.handshake_timeout.load(Ordering::Acquire))
    }
}

/// The tasks of an established channel.
struct Running {
    out: queue::Sender,
    ended: watch::Receiver<Option<Session>>,
    reader: JoinHandle<()>,
    writer: AbortHandle,
    /// True once the writer task has stopped (after closing the transport).
    writer_stopped: watch::Receiver<bool>,
    /// The runtime of the tasks, for a close from a thread outside it (a binding object freed
    /// on a foreign thread).
    runtime: tokio::runtime::Handle,
}

impl Running {
    /// Stops reading, lets the writer write what is queued and close the transport, and
    /// aborts it if that takes longer than [`CLOSE_FLUSH_LIMIT`].
    fn stop(&self) {
        self.reader.abort();
        self.out.end();
        if !self.writer.is_finished() {
            let writer = self.writer.clone();
            self.runtime.spawn(async move {
                tokio::time::sleep(CLOSE_FLUSH_LIMIT).await;
                writer.abort();
            });
        }
    }
}

/// The outgoing queue holds at least this many bytes (or `max_envelope_size`, if larger)
/// before a send waits.
const MIN_UNWRITTEN_BYTES: usize = 64 * 1024;

/// What the transport said about itself, kept for reads after it was split.
struct Facts {
    encryption: SessionEncryption,
    compression: SessionCompression,
    subprotocol: Option<String>,
}

/// A client session. See the [module docs](self).
pub struct ClientChannel {
    shared: Arc<Shared>,
    /// The whole transport until the session is established (then it is split between the
    /// reader and writer tasks). The async lock serializes the handshake steps and `finish`.
    handshake: tokio::sync::Mutex<Option<Box<dyn Transport>>>,
    /// The reader and writer tasks, from the establishment on.
    running: OnceLock<Running>,
    /// The event queue exists from the start, so it can be waited on before the session is
    /// established; its sending side moves to the reader task then.
    events: Arc<EventReceiver>,
    event_sender: Mutex<Option<EventSender>>,
    /// Set by [`close_now`](Self::close_now): ends a handshake step in progress.
    closed: watch::Sender<bool>,
    facts: Mutex<Facts>,
}

impl std::fmt::Debug for ClientChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let core = self.shared.core();
        f.debug_struct("ClientChannel")
            .field("state", &core.state())
            .field("session_id", &core.session_id())
            .field("local_node", &core.local_node())
            .finish_non_exhaustive()
    }
}

/// A `ClientChannel` can be shared between tasks and threads (`Arc<ClientChannel>`).
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ClientChannel>();
};

impl Drop for ClientChannel {
    fn drop(&mut self) {
        self.close_now();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // invariant: no code panics while holding these locks; recover the data if one did.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ClientChannel {
    /// A channel over `transport` with the default options.
    pub fn new(transport: Box<dyn Transport>) -> Self {
        Self::with_options(transport, ClientOptions::default())
    }

    /// A channel with explicit options.
    pub fn with_options(transport: Box<dyn Transport>, options: ClientOptions) -> Self {
        let core = ChannelCore::new(Role::Client, options.channel.clone());
        let (event_sender, events) = events(options.buffer);
        let facts = Facts {
            encryption: transport.encryption(),
            compression: transport.compression(),
            subprotocol: transport.subprotocol(),
        };
        let shared = Shared {
            core: Mutex::new(core),
            options: Mutex::new(options.clone()),
            max_envelope_size: AtomicUsize::new(0),
            handshake_timeout: AtomicU64::new(0),
        };
        shared.configure(options);
        Self {
            shared: Arc::new(shared),
            handshake: tokio::sync::Mutex::new(Some(transport)),
            running: OnceLock::new(),
            events: Arc::new(events),
            event_sender: Mutex::new(Some(event_sender)),
            closed: watch::Sender::new(false),
            facts: Mutex::new(facts),
        }
    }

    // ----- plain reads --------------------------------------------------------------------

    /// The session state.
    pub fn state(&self) -> SessionState {
        self.shared.core().state()
    }

    /// The session id.
    pub fn session_id(&self) -> Option<String> {
        self.shared.core().session_id().map(str::to_owned)
    }

    /// Our node, as the server registered it (once established).
    pub fn local_node(&self) -> Option<Node> {
        self.shared.core().local_node().cloned()
    }

    /// The server's node (once established).
    pub fn remote_node(&self) -> Option<Node> {
        self.shared.core().remote_node().cloned()
    }

    /// The transport's encryption (`tls` after the in-band upgrade, and for `wss://`).
    pub fn encryption(&self) -> SessionEncryption {
        lock(&self.facts).encryption
    }

    /// The transport's compression.
    pub fn compression(&self) -> SessionCompression {
        lock(&self.facts).compression
    }

    /// The WebSocket sub-protocol the server chose, if any.
    pub fn subprotocol(&self) -> Option<String> {
        lock(&self.facts).subprotocol.clone()
    }

    /// Number of commands waiting for their response.
    pub fn pending_commands(&self) -> usize {
        self.shared.core().pending_commands()
    }

    /// True once the connection is over (closed by us, or the session or connection ended).
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
            || matches!(self.state(), SessionState::Finished | SessionState::Failed)
            || self.running.get().is_some_and(|r| r.reader.is_finished())
    }

    /// Changes the channel behaviour (ping replies, receipts, ids) from now on.
    pub fn set_channel_options(&self, options: ChannelOptions) {
        self.shared.options().channel.clone_from(&options);
        *self.shared.core().options_mut() = options;
    }

    /// Replaces the options given at construction, for a host that opened the transport
    /// before it knew them: the channel behaviour, the event queue's capacity and the send
    /// limit apply at once, the handshake timeout from the next step, the outgoing queue's
    /// capacity, remote ping and idle timeout from the establishment. The limit of received
    /// envelopes stays the transport's.
    pub fn set_options(&self, options: ClientOptions) {
        self.events.set_capacity(options.buffer);
        self.shared.configure(options);
    }

    // ----- handshake ----------------------------------------------------------------------

    /// Sends a session envelope and waits for the server's next session envelope.
    async fn exchange(
        &self,
        slot: &mut Option<Box<dyn Transport>>,
        session: Session,
    ) -> Result<Session, Error> {
        let transport = slot.as_mut().ok_or(Error::Closed)?;
        let sent = self.bounded(transport.send(&session.into())).await;
        if let Err(e) = sent {
            self.abandon(slot).await;
            return Err(e);
        }
        self.receive_session(slot).await
    }

    /// One I/O operation of a handshake step, within the handshake timeout and ended by
    /// [`close_now`](Self::close_now) (as [`Error::Closed`]).
    async fn bounded<T>(
        &self,
        operation: impl std::future::Future<Output = TransportResult<T>>,
    ) -> Result<T, Error> {
        let limit = self.shared.handshake_timeout();
        let mut closed = self.closed.subscribe();
        tokio::select! {
            r = timeout(limit, operation) => match r {
                Err(_) => Err(Error::Timeout(limit)),
                Ok(r) => Ok(r?),
            },
            _ = closed.wait_for(|c| *c) => Err(Error::Closed),
        }
    }

    /// The server's next session envelope. A step that fails (the connection, a timeout, a
    /// protocol error, [`close`](Self::close)) leaves the channel closed: the state is
    /// `failed` and the event queue ends.
    async fn receive_session(
        &self,
        slot: &mut Option<Box<dyn Transport>>,
    ) -> Result<Session, Error> {
        let transport = slot.as_mut().ok_or(Error::Closed)?;
        let envelope = match self.bounded(transport.receive()).await {
            Err(e) => Err(e),
            Ok(None) => Err(Error::Closed),
            Ok(Some(envelope)) => Ok(envelope),
        };
        let inbound = envelope.and_then(|e| self.shared.core().receive(e));
        let session = inbound.and_then(|inbound| {
            let close = inbound.close;
            let session = inbound
                .session
                .ok_or_else(|| SessionError::Protocol("expected a session envelope".into()))?;
            Ok((session, close))
        });
        match session {
            Err(e) => {
                self.abandon(slot).await;
                Err(e)
            }
            Ok((session, true)) => {
                // A failed (or finished) handshake: the server closes; so do we.
                self.abandon(slot).await;
                Ok(session)
            }
            Ok((session, false)) => {
                if session.state == SessionState::Established {
                    self.run(slot);
                    if *self.closed.borrow() {
                        // Closed while establishing: `run` stopped what it started.
                        return Err(Error::Closed);
                    }
                }
                Ok(session)
            }
        }
    }

    /// Ends a handshake that cannot go on: closes the transport, fails the session and ends
    /// the event queue.
    async fn abandon(&self, slot: &mut Option<Box<dyn Transport>>) {
        // First, so that a step cancelled during the close below leaves the channel closed.
        self.shared.core().fail();
        lock(&self.event_sender).take();
        if let Some(mut t) = slot.take() {
            let _ = timeout(CLOSE_FLUSH_LIMIT, t.close()).await;
        }
    }

    /// The transport, for a handshake step: waits for the step before it.
    async fn step(&self) -> tokio::sync::MutexGuard<'_, Option<Box<dyn Transport>>> {
        self.handshake.lock().await
    }

    /// Sends `{"state":"new"}` and returns the server's reply (negotiating, authenticating,
    /// established or failed).
    pub async fn start_new_session(&self) -> Result<Session, Error> {
        let mut slot = self.step().await;
        let new = self.shared.core().start_new_session()?;
        self.exchange(&mut slot, new).await
    }

    /// Sends the negotiation choice; on the server's confirmation applies the options to the
    /// transport (the TLS upgrade happens here) and returns the session that follows
    /// (authenticating, established or failed).
    pub async fn negotiate_session(
        &self,
        compression: SessionCompression,
        encryption: SessionEncryption,
    ) -> Result<Session, Error> {
        let mut slot = self.step().await;
        let choice = self.shared.core().negotiate_session(compression, encryption)?;
        let confirmation = self.exchange(&mut slot, choice).await?;
        if confirmation.state != SessionState::Negotiating {
            return Ok(confirmation);
        }
        let compression = confirmation.compression.unwrap_or(compression);
        let encryption = confirmation.encryption.unwrap_or(encryption);
        let transport = slot.as_mut().ok_or(Error::Closed)?;
        let mut switched = Ok(());
        if transport.encryption() != encryption {
            switched = self.bounded(transport.set_encryption(encryption)).await;
        }
        if switched.is_ok() && transport.compression() != compression {
            switched = self.bounded(transport.set_compression(compression)).await;
        }
        {
            let mut facts = lock(&self.facts);
            facts.encryption = transport.encryption();
            facts.compression = transport.compression();
        }
        if let Err(e) = switched {
            self.abandon(&mut slot).await;
            return Err(e);
        }
        self.receive_session(&mut slot).await
    }

    /// Sends credentials and returns the server's reply (a round-trip `authenticating`,
    /// established or failed).
    pub async fn authenticate_session(
        &self,
        identity: &Identity,
        authentication: Authentication,
        instance: Option<&str>,
    ) -> Result<Session, Error> {
        let mut slot = self.step().await;
        let session =
            self.shared.core().authenticate_session(identity, authentication, instance)?;
        self.exchange(&mut slot, session).await
    }

    /// Runs the whole handshake: start, negotiate (first offered option unless chosen),
    /// authenticate (as many rounds as the server asks). Returns the `established` session, or
    /// [`SessionError::Failed`] with the server's reason.
    pub async fn establish_session(&self, mut options: EstablishOptions) -> Result<Session, Error> {
        let mut session = self.start_new_session().await?;
        if session.state == SessionState::Negotiating {
            let (compression, encryption) = options.choose(&session);
            session = self.negotiate_session(compression, encryption).await?;
        }
        let mut schemes = Vec::new();
        while session.state == SessionState::Authenticating {
            let auth = options.credentials(&mut schemes, &session);
            session = self
                .authenticate_session(&options.identity, auth, options.instance.as_deref())
                .await?;
        }
        establishment_result(session)
    }

    /// Starts the reader and writer tasks on the split transport.
    fn run(&self, slot: &mut Option<Box<dyn Transport>>) {
        let (Some(transport), Some(event_tx)) = (slot.take(), lock(&self.event_sender).take())
        else {
            return;
        };
        let (sender, receiver) = transport.split();
        let (capacity, max_bytes) = {
            let options = self.shared.options();
            (options.buffer.max(1), options.max_envelope_size.max(MIN_UNWRITTEN_BYTES))
        };
        let (out_tx, out_rx) = queue::bounded(capacity, max_bytes);
        let (ended_tx, ended_rx) = watch::channel(None);
        let (stopped_tx, stopped_rx) = watch::channel(false);
        let writer = tokio::spawn(async move {
            let end = write_loop_with_deadline(sender, out_rx, None).await;
            let _ = stopped_tx.send(true);
            end
        });
        let writer_abort = writer.abort_handle();
        let reader = tokio::spawn(read_loop(
            self.shared.clone(),
            receiver,
            out_tx.clone(),
            event_tx,
            ended_tx,
            writer,
        ));
        let running = Running {
            out: out_tx,
            ended: ended_rx,
            reader,
            writer: writer_abort,
            writer_stopped: stopped_rx,
            runtime: tokio::runtime::Handle::current(),
        };
        if self.running.set(running).is_err() {
            // invariant: `run` follows the one `established` of the session.
            tracing::warn!("a second establishment of one channel was ignored");
        }
        // `close_now` may have run between taking the event sender and `set`: it found no
        // tasks to stop then.
        if *self.closed.borrow() {
            if let Some(r) = self.running.get() {
                r.stop();
            }
        }
    }

    fn running(&self) -> Result<&Running, Error> {
        self.running.get().ok_or_else(|| {
            SessionError::InvalidState { action: "use the channel", state: self.state() }.into()
        })
    }

    // ----- sending ------------------------------------------------------------------------

    async fn queue(&self, envelope: Envelope) -> Result<(), Error> {
        let envelope = self.shared.core().prepare_send(envelope)?;
        self.queue_prepared(&envelope).await
    }

    async fn queue_prepared(&self, envelope: &Envelope) -> Result<(), Error> {
        let bytes = Bytes::from(envelope.to_vec());
        let limit = self.shared.max_envelope_size.load(Ordering::Acquire);
        if bytes.len() > limit {
            return Err(TransportError::EnvelopeTooLarge { size: bytes.len(), limit }.into());
        }
        self.running()?.out.send(bytes).await.map_err(|_| Error::Closed)
    }

    /// Sends a message (established only: before the session and after its end, a
    /// [`SessionError::InvalidState`]).
    pub async fn send_message(&self, message: Message) -> Result<(), Error> {
        self.queue(message.into()).await
    }

    /// Sends a notification (established only).
    pub async fn send_notification(&self, notification: Notification) -> Result<(), Error> {
        self.queue(notification.into()).await
    }

    /// Sends a command without waiting for a response (established only).
    pub async fn send_command(&self, command: Command) -> Result<(), Error> {
        self.queue(command.into()).await
    }

    /// Sends a command request (an id is assigned when it has none) and waits up to `limit`
    /// for the response with the same id ([`Error::Timeout`] after that). A `failure`
    /// response is returned as is (check its `status` and `reason`). Cancelling the call
    /// forgets the command.
    pub async fn process_command(
        &self,
        command: Command,
        limit: Duration,
    ) -> Result<Command, Error> {
        let (tx, rx) = oneshot::channel();
        let request = self.shared.core().register_command(command, tx)?;
        let mut forget = Forget { shared: &self.shared, id: request.id.clone() };
        self.queue_prepared(&request.into()).await?;
        let result = match timeout(limit, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => return Err(Error::Timeout(limit)), // `forget` cancels it
        };
        // Answered (or dropped at the end of the session): the core no longer holds it, and
        // the id may already be another command's.
        forget.id = None;
        result
    }

    // ----- receiving ----------------------------------------------------------------------

    /// The next event, or `None` once the channel has ended and every event was received
    /// (and at once before the session is established). Safe to call from several tasks
    /// (they take turns).
    pub async fn receive(&self) -> Option<ChannelEvent> {
        self.running.get()?;
        self.events.receive().await
    }

    /// The event queue, readable before the session is established (for [`Client`](crate::Client)).
    pub(crate) fn events(&self) -> &Arc<EventReceiver> {
        &self.events
    }

    // ----- ending -------------------------------------------------------------------------

    /// Sends `finishing` and waits for the server's `finished` (or `failed`). The event queue
    /// delivers the same session, then ends.
    pub async fn finish(&self) -> Result<Session, Error> {
        let _step = self.step().await;
        let finishing = self.shared.core().finishing_session()?;
        let mut ended = self.running()?.ended.clone();
        let limit = self.shared.handshake_timeout();
        let finish = async {
            self.queue_prepared(&finishing.into()).await?;
            match ended.wait_for(Option::is_some).await {
                Err(_) => Err(Error::Closed),
                Ok(session) => session.clone().ok_or(Error::Closed),
            }
        };
        match timeout(limit, finish).await {
            Ok(result) => result,
            Err(_) => {
                // The server neither finished nor failed the session: give up on it.
                self.close_now();
                Err(Error::Timeout(limit))
            }
        }
    }

    /// Closes the connection without a session envelope and waits until what was queued and
    /// the goodbye (close frame, close_notify) are written, for at most
    /// [`CLOSE_FLUSH_LIMIT`]. The event queue ends without an end event; pending commands
    /// fail with [`Error::Closed`].
    pub async fn close(&self) {
        // A transport no step holds is closed here, so that its goodbye is awaited (close_now
        // only starts it).
        let idle = self.handshake.try_lock().ok().and_then(|mut slot| slot.take());
        self.close_now();
        if let Some(mut t) = idle {
            let _ = timeout(CLOSE_FLUSH_LIMIT, t.close()).await;
        }
        if let Some(r) = self.running.get() {
            let mut stopped = r.writer_stopped.clone();
            if timeout(CLOSE_FLUSH_LIMIT, stopped.wait_for(|s| *s)).await.is_err() {
                r.writer.abort();
            }
        }
    }

    /// Starts closing as [`close`](Self::close) does, without waiting (for a host's
    /// synchronous teardown, such as a binding object being freed). A handshake step in
    /// progress fails with [`Error::Closed`].
    pub fn close_now(&self) {
        self.closed.send_replace(true);
        self.shared.end_session();
        // Before the reader stops: what it would still hand over (the end of the connection
        // we are closing) is not an event of the application's.
        self.events.end();
        lock(&self.event_sender).take();
        if let Some(r) = self.running.get() {
            r.stop();
        } else if let Ok(mut slot) = self.handshake.try_lock() {
            // No step is running (one that is ends itself, seeing `closed`): close the
            // transport of a session never established.
            if let Some(mut t) = slot.take() {
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(async move {
                            let _ = timeout(CLOSE_FLUSH_LIMIT, t.close()).await;
                        });
                    }
                    Err(_) => drop(t),
                }
            }
        }
    }
}

/// Forgets a command in the core when its caller stops waiting before it was answered (timed
/// out, or the call was cancelled).
struct Forget<'a> {
    shared: &'a Shared,
    id: Option<String>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Some(id) = &self.id {
            self.shared.core().cancel_command(id);
        }
    }
}

/// The reader task: the established loop over the client's side, then the end of the channel.
async fn read_loop(
    shared: Arc<Shared>,
    mut receiver: Box<dyn TransportReceiver>,
    out: queue::Sender,
    events: EventSender,
    ended: watch::Sender<Option<Session>>,
    writer: JoinHandle<WriterEnd>,
) {
    let mut ping = {
        let options = shared.options();
        RemotePing::new(options.remote_ping_interval, options.remote_idle_timeout)
    };
    let mut side = Side { shared: &shared, out: &out, events: &events, pending: Vec::new() };
    // A failed write ends the channel (as the end of the connection).
    let end = driver::run(&mut side, receiver.as_mut(), &mut ping, &mut Some(writer)).await;
    let Some(end) = end else {
        // The application dropped the channel.
        return;
    };
    shared.end_session();
    // The end event is queued (after the events that came before it, beyond the queue's
    // capacity if need be) before `finish` hears of it, so it is there for whoever reads next.
    let session = match &end {
        ChannelEvent::Finished(session) | ChannelEvent::Failed(session) => Some(session.clone()),
        _ => None,
    };
    events.push_end(end);
    let _ = ended.send(session);
    // The writer writes what is queued, closes the transport and stops: nothing more can be
    // sent in a session that ended.
    out.end();
}

/// The client as the established loop drives it: deliveries are collected over a batch and
/// passed to the application at its end (it is woken once per batch, not per envelope).
struct Side<'a> {
    shared: &'a Shared,
    out: &'a queue::Sender,
    events: &'a EventSender,
    pending: Vec<ChannelEvent>,
}

/// The channel ends with its last event, or `None` when the application is gone.
impl Established for Side<'_> {
    type End = Option<ChannelEvent>;
    const ROUTABLE: bool = false;

    async fn handle(
        &mut self,
        received: TransportResult<Option<Received>>,
        _: &mut dyn TransportReceiver,
    ) -> Result<(), Option<ChannelEvent>> {
        let received = whole(received);
        match handle_received(self.shared, self.out, self.events, &mut self.pending, received).await
        {
            Ok(Some(event)) => self.pending.push(event),
            Ok(None) => {}
            Err(end) => return Err(Some(end)),
        }
        Ok(())
    }

    async fn batch_end(&mut self) -> Result<(), Option<ChannelEvent>> {
        self.events.send_all(&mut self.pending).await.map_err(|_| None)
    }

    async fn ping(&mut self, action: PingAction) -> Result<(), Option<ChannelEvent>> {
        let outgoing = match action {
            PingAction::SendPing => {
                // The response is matched and dropped: only its arrival matters.
                let (tx, _) = oneshot::channel();
                self.shared.core().register_remote_ping(tx).map(Envelope::from)
            }
            PingAction::IdleTimeout => self.shared.core().finishing_session().map(Envelope::from),
        };
        // Serialized before the await: the envelope is not kept in the reader's future.
        if let Ok(bytes) = outgoing.map(|env| Bytes::from(env.to_vec())) {
            if self.out.send(bytes).await.is_err() {
                return Err(Some(ChannelEvent::Closed {
                    error: Some("the writer stopped".into()),
                }));
            }
        }
        if action == PingAction::IdleTimeout {
            return Err(Some(ChannelEvent::Closed {
                error: Some("the server did not answer pings in time".into()),
            }));
        }
        Ok(())
    }

    async fn interrupted(&mut self) -> Option<ChannelEvent> {
        std::future::pending().await
    }

    fn writer_ended(&mut self, _: WriterEnd) -> Option<ChannelEvent> {
        Some(ChannelEvent::Closed { error: Some("the connection failed while writing".into()) })
    }
}

/// Handles one received envelope: `Ok(Some(event))` for the application, `Err(end)` when the
/// channel ends with it. The answer to a command is handed over after the `pending` events
/// received before it, as when every event was passed on at once.
async fn handle_received(
    shared: &Shared,
    out: &queue::Sender,
    events: &EventSender,
    pending: &mut Vec<ChannelEvent>,
    received: TransportResult<Option<Envelope>>,
) -> Result<Option<ChannelEvent>, ChannelEvent> {
    let envelope = match received {
        Ok(Some(e)) => e,
        Ok(None) => return Err(ChannelEvent::Closed { error: None }),
        Err(e) => return Err(ChannelEvent::Closed { error: Some(e.to_string()) }),
    };
    let inbound = match shared.core().receive(envelope) {
        Ok(i) => i,
        Err(e) => return Err(ChannelEvent::Closed { error: Some(e.to_string()) }),
    };
    if let Some(reply) = inbound.reply {
        if out.send(Bytes::from(reply.to_vec())).await.is_err() {
            return Err(ChannelEvent::Closed { error: Some("the writer stopped".into()) });
        }
    }
    if let Some((response, waiter)) = inbound.response {
        if events.send_all(pending).await.is_err() {
            // The application dropped the channel.
            return Err(ChannelEvent::Closed { error: None });
        }
        // The waiter may have timed out and gone: nothing to do then.
        let _ = waiter.send(response);
    }
    if let Some(session) = inbound.session {
        match session.state {
            SessionState::Finished => return Err(ChannelEvent::Finished(session)),
            SessionState::Failed => return Err(ChannelEvent::Failed(session)),
            _ => {
                tracing::debug!(state = %session.state, "ignoring session envelope after establishment")
            }
        }
    }
    Ok(match inbound.deliver {
        Some(Envelope::Message(m)) => Some(ChannelEvent::Message(m)),
        Some(Envelope::Notification(n)) => Some(ChannelEvent::Notification(n)),
        Some(Envelope::Command(c)) => Some(ChannelEvent::Command(c)),
        Some(Envelope::Session(_)) | None => None,
    })
}
