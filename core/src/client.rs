//! [`Client`]: a LIME client session that any number of tasks and threads share.
//!
//! A `Client` drives one [`ClientConnection`] (framing, TLS, WebSocket, gzip and the channel
//! core, all sans-IO) over a plain tokio `TcpStream`, from **one** task: it reads into
//! [`ClientConnection::receive`], writes what [`ClientConnection::take_output`] gives, sleeps
//! until [`ClientConnection::next_deadline`] and dispatches the [`Event`]s. The connection sits
//! behind a short-held mutex (no method of it ever waits), so every method of `Client` takes
//! `&self`, and `Arc<Client>` is the way to share it:
//!
//! - sends lock, queue the bytes and wake the driver; they wait only while more than
//!   [`ClientOptions::max_envelope_size`] bytes are still unwritten (back-pressure);
//! - [`Client::process_command`] registers the command with its timeout in the connection and
//!   waits for its completion, which the driver routes by [`CommandToken`]; cancelling the
//!   call forgets the command;
//! - the handshake steps ([`Client::start_new_session`], [`Client::negotiate_session`],
//!   [`Client::authenticate_session`], [`Client::establish_session`]) and [`Client::finish`]
//!   are serialized inside: a second one waits for the first;
//! - incoming messages, notifications, commands and the end of an established session arrive
//!   on one bounded queue, read with [`Client::receive`] or through a [`Subscription`] (the
//!   queue's reader until it is dropped). While the queue is full the driver stops reading the
//!   socket (but still writes and runs its timers), so a slow consumer slows the server down.
//!   Responses arrive on the same socket: a command waits for its response while the queue is
//!   full, so read the events (or give the queue room with [`ClientOptions::buffer`]);
//! - [`Client::state`], [`Client::session_id`] and the nodes are plain reads.
//!
//! Dropping the last reference closes the connection (a WebSocket close frame or TLS
//! close_notify is still written, for at most [`CLOSE_FLUSH_LIMIT`]).
//!
//! # Examples
//!
//! ```no_run
//! use std::sync::Arc;
//! use lime::{channel::EstablishOptions, Authentication, Client, Message};
//!
//! # async fn run() -> Result<(), lime::Error> {
//! let client = Arc::new(Client::connect("net.tcp://127.0.0.1:55321", Default::default(), Default::default()).await?);
//! client
//!     .establish_session(EstablishOptions::new("alice@example.com".parse()?, "home", Authentication::Guest))
//!     .await?;
//! let sender = client.clone();
//! tokio::spawn(async move {
//!     sender.send_message(Message::text("Hello!").with_to("bob@example.com".parse()?)).await
//! });
//! let mut events = client.subscribe().await;
//! while let Some(event) = events.next().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    pin::pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{mpsc, oneshot, watch, Notify, OwnedMutexGuard},
    time::Instant,
};

use crate::{
    channel::{
        client::establishment_result, ChannelEvent, ChannelOptions, ClientOptions, EstablishOptions,
    },
    connection::{ClientConnection, CommandToken, Event},
    error::{SessionError, TransportError},
    transport::tls::ClientTlsConfig,
    Authentication, Command, Envelope, Error, Identity, Message, Node, Notification, Session,
    SessionCompression, SessionEncryption, SessionState,
};

/// How long a closing client keeps trying to write its goodbye (close frame, close_notify,
/// `finishing`) to a peer that does not read.
pub const CLOSE_FLUSH_LIMIT: Duration = Duration::from_secs(5);

const READ_CHUNK: usize = 16 * 1024;

type CommandReply = oneshot::Sender<Result<Command, Error>>;

/// What the driver and the methods share, behind the mutex.
struct State {
    conn: ClientConnection,
    commands: HashMap<CommandToken, CommandReply>,
    /// Session envelopes (and the end of the connection) for the handshake steps and `finish`.
    sessions: mpsc::UnboundedSender<Result<Session, Error>>,
    /// Events of the established session; `None` once the queue has ended.
    events: Option<mpsc::UnboundedSender<ChannelEvent>>,
    established: bool,
    /// The end was asked for by [`Client::close`]: the event queue ends without an end event.
    closed_by_us: bool,
    /// An I/O error of the socket, reported as the end of the connection.
    io_error: Option<Error>,
}

struct Inner {
    state: Mutex<State>,
    /// Sends and handshake steps wrote output, or the connection was closed.
    wake: Notify,
    /// The driver wrote some output (senders waiting for room) or handled input.
    written: Notify,
    /// A reader took an event (the driver may read the socket again).
    drained: Notify,
    /// Events queued and not yet taken.
    backlog: AtomicUsize,
    capacity: AtomicUsize,
    /// The handshake-step timeout, in nanoseconds.
    handshake_timeout: AtomicU64,
    max_unwritten: AtomicUsize,
    /// Serializes the handshake steps and `finish`; holds their session queue.
    handshake: tokio::sync::Mutex<mpsc::UnboundedReceiver<Result<Session, Error>>>,
    /// The event queue, taken by one reader at a time.
    reader: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<ChannelEvent>>>,
    /// True once the driver has stopped.
    stopped: watch::Sender<bool>,
}

impl Inner {
    /// Applies the settings the client reads itself.
    fn configure(&self, options: &ClientOptions) {
        self.capacity.store(options.buffer.max(1), Ordering::Release);
        let nanos = u64::try_from(options.handshake_timeout.as_nanos()).unwrap_or(u64::MAX);
        self.handshake_timeout.store(nanos, Ordering::Release);
        self.max_unwritten.store(options.max_envelope_size.max(64 * 1024), Ordering::Release);
    }

    fn handshake_timeout(&self) -> Duration {
        Duration::from_nanos(self.handshake_timeout.load(Ordering::Acquire))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // invariant: nothing panics while holding the lock; recover the data if something did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A client session shared behind `Arc`. See the [module docs](self).
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("Client")
            .field("state", &state.conn.state())
            .field("session_id", &state.conn.session_id())
            .finish_non_exhaustive()
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
    assert_send_sync::<Subscription>();
};

impl Drop for Client {
    fn drop(&mut self) {
        self.inner.lock().conn.close();
        self.inner.wake.notify_one();
    }
}

impl Client {
    /// Connects to `uri` (`net.tcp://host[:port]`, default port 55321; `ws://…`; `wss://…`)
    /// and starts the driver task on the current tokio runtime. For WebSocket, returns once
    /// the upgrade is done (the TLS handshake of `wss` included), within the handshake timeout.
    pub async fn connect(
        uri: &str,
        tls: ClientTlsConfig,
        options: ClientOptions,
    ) -> Result<Self, Error> {
        let clock = Arc::new(|| Instant::now().into_std());
        let conn = ClientConnection::with_clock(uri, tls, options.clone(), clock)?;
        let addr = (conn.host().to_owned(), conn.port());
        let limit = options.handshake_timeout;
        let stream = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
            Err(_) => return Err(Error::Timeout(limit)),
            Ok(r) => r.map_err(TransportError::from)?,
        };
        let _ = stream.set_nodelay(true);
        let websocket = !uri.get(..10).unwrap_or(uri).eq_ignore_ascii_case("net.tcp://");
        let client = Self::start(conn, stream, &options);
        if websocket {
            client.upgraded(limit).await?;
        }
        Ok(client)
    }

    fn start(conn: ClientConnection, stream: TcpStream, options: &ClientOptions) -> Self {
        let (sessions, session_queue) = mpsc::unbounded_channel();
        let (events, event_queue) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                conn,
                commands: HashMap::new(),
                sessions,
                events: Some(events),
                established: false,
                closed_by_us: false,
                io_error: None,
            }),
            wake: Notify::new(),
            written: Notify::new(),
            drained: Notify::new(),
            backlog: AtomicUsize::new(0),
            capacity: AtomicUsize::new(0),
            handshake_timeout: AtomicU64::new(0),
            max_unwritten: AtomicUsize::new(0),
            handshake: tokio::sync::Mutex::new(session_queue),
            reader: Arc::new(tokio::sync::Mutex::new(event_queue)),
            stopped: watch::Sender::new(false),
        });
        inner.configure(options);
        tokio::spawn(drive(inner.clone(), stream));
        Self { inner }
    }

    /// Waits until the WebSocket upgrade is done (the sub-protocol is known) or the
    /// connection ended.
    async fn upgraded(&self, limit: Duration) -> Result<(), Error> {
        let mut stopped = self.inner.stopped.subscribe();
        let wait = async {
            loop {
                let written = self.inner.written.notified();
                let mut written = pin!(written);
                written.as_mut().enable();
                {
                    let state = self.inner.lock();
                    if state.conn.subprotocol().is_some() {
                        return Ok(());
                    }
                    if state.conn.is_closed() {
                        return Err(state.io_error.clone().unwrap_or(Error::Closed));
                    }
                }
                tokio::select! {
                    () = written => {}
                    _ = stopped.wait_for(|s| *s) => {}
                }
                if *stopped.borrow() {
                    let state = self.inner.lock();
                    return Err(state.io_error.clone().unwrap_or(Error::Closed));
                }
            }
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(result) => result,
            Err(_) => {
                self.close_now();
                Err(Error::Timeout(limit))
            }
        }
    }

    // ----- plain reads --------------------------------------------------------------------

    /// The session state.
    pub fn state(&self) -> SessionState {
        self.inner.lock().conn.state()
    }

    /// The session id (assigned by the server).
    pub fn session_id(&self) -> Option<String> {
        self.inner.lock().conn.session_id().map(str::to_owned)
    }

    /// Our node, as the server registered it (once established).
    pub fn local_node(&self) -> Option<Node> {
        self.inner.lock().conn.local_node().cloned()
    }

    /// The server's node (once established).
    pub fn remote_node(&self) -> Option<Node> {
        self.inner.lock().conn.remote_node().cloned()
    }

    /// The encryption in effect (TLS after the in-band upgrade, or for `wss`).
    pub fn encryption(&self) -> SessionEncryption {
        self.inner.lock().conn.encryption()
    }

    /// The compression in effect.
    pub fn compression(&self) -> SessionCompression {
        self.inner.lock().conn.compression()
    }

    /// The WebSocket sub-protocol the server agreed to (`lime`).
    pub fn subprotocol(&self) -> Option<String> {
        self.inner.lock().conn.subprotocol().map(str::to_owned)
    }

    /// Number of commands waiting for their response.
    pub fn pending_commands(&self) -> usize {
        self.inner.lock().conn.pending_commands()
    }

    /// True once the connection is over.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().conn.is_closed()
    }

    /// Changes the channel behaviour (ping replies, receipts, ids) from now on.
    pub fn set_channel_options(&self, options: ChannelOptions) {
        *self.inner.lock().conn.channel_options_mut() = options;
    }

    /// Replaces the options given to [`connect`](Self::connect), for a host that opened the
    /// connection before it knew them: the channel behaviour, queue capacity and send limit
    /// apply at once, the handshake timeout from the next step, the remote ping and idle
    /// timeout from the establishment. The limit of received envelopes stays the one the
    /// connection was opened with.
    pub fn set_options(&self, options: ClientOptions) {
        self.inner.configure(&options);
        let mut state = self.inner.lock();
        *state.conn.channel_options_mut() = options.channel.clone();
        *state.conn.options_mut() = options;
    }

    // ----- handshake ----------------------------------------------------------------------

    /// Runs `step` on the connection (serialized with the other steps) and returns the
    /// server's next session envelope, skipping a negotiation confirmation when `through` is
    /// set (the TLS upgrade happens between the two).
    async fn step(
        &self,
        through_confirmation: bool,
        step: impl FnOnce(&mut ClientConnection) -> Result<(), Error>,
    ) -> Result<Session, Error> {
        let mut sessions = self.inner.handshake.lock().await;
        // Whatever is queued answered an earlier (abandoned) step.
        while sessions.try_recv().is_ok() {}
        {
            let mut state = self.inner.lock();
            step(&mut state.conn)?;
        }
        self.inner.wake.notify_one();
        let mut session = self.next_session(&mut sessions).await?;
        if through_confirmation && session.state == SessionState::Negotiating {
            session = self.next_session(&mut sessions).await?;
        }
        Ok(session)
    }

    async fn next_session(
        &self,
        sessions: &mut mpsc::UnboundedReceiver<Result<Session, Error>>,
    ) -> Result<Session, Error> {
        let limit = self.inner.handshake_timeout();
        match tokio::time::timeout(limit, sessions.recv()).await {
            Ok(Some(result)) => result,
            Ok(None) => Err(Error::Closed),
            Err(_) => {
                self.close_now();
                Err(Error::Timeout(limit))
            }
        }
    }

    /// Sends `{"state":"new"}` and returns the server's reply (negotiating, authenticating,
    /// established or failed).
    pub async fn start_new_session(&self) -> Result<Session, Error> {
        self.step(false, ClientConnection::start_new_session).await
    }

    /// Sends the negotiation choice; at the server's confirmation the connection switches
    /// (TLS handshake, gzip). Returns the session after the confirmation (authenticating,
    /// established or failed), or the server's answer when it is not a confirmation.
    pub async fn negotiate_session(
        &self,
        compression: SessionCompression,
        encryption: SessionEncryption,
    ) -> Result<Session, Error> {
        self.step(true, |c| c.negotiate_session(compression, encryption)).await
    }

    /// Sends credentials as `identity/instance` and returns the server's reply (a round-trip
    /// `authenticating`, established or failed).
    pub async fn authenticate_session(
        &self,
        identity: &Identity,
        authentication: Authentication,
        instance: Option<&str>,
    ) -> Result<Session, Error> {
        self.step(false, |c| c.authenticate_session(identity, authentication, instance)).await
    }

    /// Runs the whole handshake (see [`ClientConnection::establish`]) and returns the
    /// `established` session, or [`SessionError::Failed`] with the server's reason.
    pub async fn establish_session(&self, options: EstablishOptions) -> Result<Session, Error> {
        let mut sessions = self.inner.handshake.lock().await;
        while sessions.try_recv().is_ok() {}
        {
            let mut state = self.inner.lock();
            state.conn.establish(options)?;
        }
        self.inner.wake.notify_one();
        loop {
            let session = self.next_session(&mut sessions).await?;
            match session.state {
                SessionState::Negotiating | SessionState::Authenticating => {}
                _ => return establishment_result(session),
            }
        }
    }

    /// Sends `finishing` and waits for the server's `finished` (or `failed`). The event queue
    /// delivers the same session, then ends.
    pub async fn finish(&self) -> Result<Session, Error> {
        let mut sessions = self.inner.handshake.lock().await;
        while sessions.try_recv().is_ok() {}
        {
            let mut state = self.inner.lock();
            state.conn.send_finishing_session()?;
        }
        self.inner.wake.notify_one();
        loop {
            let session = self.next_session(&mut sessions).await?;
            if matches!(session.state, SessionState::Finished | SessionState::Failed) {
                return Ok(session);
            }
        }
    }

    /// Closes the connection without a session envelope and waits until the driver has
    /// written the goodbye (close frame, close_notify) and stopped. The event queue ends
    /// without an end event; pending commands fail with [`Error::Closed`].
    pub async fn close(&self) {
        self.close_now();
        let mut stopped = self.inner.stopped.subscribe();
        let _ = stopped.wait_for(|s| *s).await;
    }

    /// Starts closing as [`close`](Self::close) does, without waiting (for a host's
    /// synchronous teardown, such as a binding object being freed).
    pub fn close_now(&self) {
        {
            let mut state = self.inner.lock();
            state.closed_by_us = true;
            state.conn.close();
        }
        self.inner.wake.notify_one();
    }

    // ----- sending ------------------------------------------------------------------------

    /// Queues an envelope, waiting while too much output is still unwritten.
    async fn send(&self, envelope: Envelope) -> Result<(), Error> {
        let mut envelope = Some(envelope);
        loop {
            let written = self.inner.written.notified();
            let mut written = pin!(written);
            written.as_mut().enable();
            {
                let mut state = self.inner.lock();
                if state.conn.is_closed() {
                    // As the channel core says of an envelope sent in a state that allows none.
                    let state = state.conn.state();
                    return Err(SessionError::InvalidState { action: "send", state }.into());
                }
                if state.conn.pending_output().len()
                    < self.inner.max_unwritten.load(Ordering::Acquire)
                {
                    let envelope = envelope.take().ok_or(Error::Closed)?;
                    state.conn.send(envelope)?;
                    break;
                }
            }
            self.inner.wake.notify_one();
            written.await;
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Sends a message (established only: before the session and after its end, a
    /// [`SessionError::InvalidState`]).
    pub async fn send_message(&self, message: Message) -> Result<(), Error> {
        self.send(message.into()).await
    }

    /// Sends a notification (established only).
    pub async fn send_notification(&self, notification: Notification) -> Result<(), Error> {
        self.send(notification.into()).await
    }

    /// Sends a command without waiting for a response (established only).
    pub async fn send_command(&self, command: Command) -> Result<(), Error> {
        self.send(command.into()).await
    }

    /// Sends a command request (an id is assigned when it has none) and waits up to `limit`
    /// for the response with the same id ([`Error::Timeout`] after that). A `failure`
    /// response is returned as is. Cancelling the call forgets the command.
    pub async fn process_command(
        &self,
        command: Command,
        limit: Duration,
    ) -> Result<Command, Error> {
        let (reply, response) = oneshot::channel();
        let token = {
            let mut state = self.inner.lock();
            let token = state.conn.send_command(command, Some(limit))?;
            state.commands.insert(token, reply);
            token
        };
        self.inner.wake.notify_one();
        let forget = Forget { inner: &self.inner, token: Some(token) };
        let result = response.await.unwrap_or(Err(Error::Closed));
        forget.done();
        result
    }

    // ----- receiving ----------------------------------------------------------------------

    /// The next event of the established session (messages, notifications, commands, then
    /// `Finished`, `Failed` or `Closed`), or `None` once the session has ended and every event
    /// was taken. Safe from several tasks (they take turns).
    pub async fn receive(&self) -> Option<ChannelEvent> {
        let mut queue = self.inner.reader.lock().await;
        let event = queue.recv().await;
        self.inner.taken(event.is_some());
        event
    }

    /// Takes the event queue until the returned subscription is dropped: meanwhile it alone
    /// receives the events (others waiting in [`receive`](Self::receive) or `subscribe` wait
    /// for it). Nothing is lost between subscriptions.
    pub async fn subscribe(&self) -> Subscription {
        Subscription {
            queue: self.inner.reader.clone().lock_owned().await,
            inner: self.inner.clone(),
        }
    }
}

impl Inner {
    fn taken(&self, some: bool) {
        if some {
            self.backlog.fetch_sub(1, Ordering::AcqRel);
            self.drained.notify_one();
        }
    }
}

/// Forgets a command whose caller stopped waiting.
struct Forget<'a> {
    inner: &'a Inner,
    token: Option<CommandToken>,
}

impl Forget<'_> {
    fn done(mut self) {
        self.token = None;
    }
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Some(token) = self.token {
            let mut state = self.inner.lock();
            state.commands.remove(&token);
            state.conn.cancel_command(token);
        }
    }
}

/// The reader of a [`Client`]'s events until dropped (see [`Client::subscribe`]).
pub struct Subscription {
    queue: OwnedMutexGuard<mpsc::UnboundedReceiver<ChannelEvent>>,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next event, or `None` once the session has ended and every event was taken.
    pub async fn next(&mut self) -> Option<ChannelEvent> {
        let event = self.queue.recv().await;
        self.inner.taken(event.is_some());
        event
    }
}

// ----- the driver -------------------------------------------------------------------------

/// The one task of a client: socket reads and writes, timers, event dispatch.
async fn drive(inner: Arc<Inner>, stream: TcpStream) {
    let (mut read, mut write) = stream.into_split();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut pending: Vec<u8> = Vec::new();
    let mut eof = false;
    let flush_deadline = loop {
        let (deadline, closed) = {
            let mut state = inner.lock();
            if pending.is_empty() {
                pending = state.conn.take_output();
            }
            (state.conn.next_deadline(), state.conn.is_closed())
        };
        if !pending.is_empty() {
            inner.written.notify_waiters();
        }
        if closed {
            break Instant::now() + CLOSE_FLUSH_LIMIT;
        }
        let room = inner.backlog.load(Ordering::Acquire) < inner.capacity.load(Ordering::Acquire);
        let timer = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = read.read(&mut buf), if room && !eof => {
                let mut state = inner.lock();
                let _ = match r {
                    Ok(0) => {
                        eof = true;
                        state.conn.receive_eof()
                    }
                    Ok(n) => state.conn.receive(&buf[..n]),
                    Err(e) => {
                        state.io_error = Some(TransportError::from(e).into());
                        state.conn.close();
                        Ok(())
                    }
                };
                dispatch(&inner, &mut state);
                drop(state);
                // Progress for whoever waits on the connection's state (the WebSocket upgrade).
                inner.written.notify_waiters();
            }
            r = write.write(&pending), if !pending.is_empty() => {
                match r {
                    Ok(n) => {
                        pending.drain(..n);
                        inner.written.notify_waiters();
                    }
                    Err(e) => {
                        let mut state = inner.lock();
                        state.io_error = Some(TransportError::from(e).into());
                        state.conn.close();
                        pending.clear();
                        dispatch(&inner, &mut state);
                    }
                }
            }
            () = inner.wake.notified() => {
                dispatch(&inner, &mut inner.lock());
            }
            () = inner.drained.notified(), if !room => {}
            () = timer => {
                let mut state = inner.lock();
                state.conn.handle_timeout(Instant::now().into_std());
                dispatch(&inner, &mut state);
            }
        }
    };
    // The goodbye: what is left of the output, within a bound.
    {
        let mut state = inner.lock();
        dispatch(&inner, &mut state);
        pending.extend(state.conn.take_output());
    }
    let goodbye = async {
        if !pending.is_empty() {
            write.write_all(&pending).await?;
        }
        write.shutdown().await
    };
    let _ = tokio::time::timeout_at(flush_deadline, goodbye).await;
    {
        let mut state = inner.lock();
        for (_, reply) in state.commands.drain() {
            let _ = reply.send(Err(Error::Closed));
        }
        state.events = None;
    }
    inner.written.notify_waiters();
    inner.stopped.send_replace(true);
}

/// Routes the connection's events: sessions to the handshake, completions to the waiting
/// commands, deliveries to the event queue.
fn dispatch(inner: &Inner, state: &mut State) {
    while let Some(event) = state.conn.poll_event() {
        match event {
            Event::Session(session) => {
                let ending = matches!(session.state, SessionState::Finished | SessionState::Failed);
                if session.state == SessionState::Established {
                    state.established = true;
                }
                if ending && state.established {
                    let end = if session.state == SessionState::Finished {
                        ChannelEvent::Finished(session.clone())
                    } else {
                        ChannelEvent::Failed(session.clone())
                    };
                    push(inner, state, end);
                    state.events = None;
                }
                let _ = state.sessions.send(Ok(session));
            }
            Event::Message(m) => push(inner, state, ChannelEvent::Message(m)),
            Event::Notification(n) => push(inner, state, ChannelEvent::Notification(n)),
            Event::Command(c) => push(inner, state, ChannelEvent::Command(c)),
            Event::CommandResponse { token, response } => {
                if let Some(reply) = state.commands.remove(&token) {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::CommandFailed { token, error } => {
                if let Some(reply) = state.commands.remove(&token) {
                    let _ = reply.send(Err(error));
                }
            }
            Event::Closed { error } => {
                let error = error.or_else(|| state.io_error.clone());
                // Kept for whoever waits on the connection itself (the WebSocket upgrade of
                // `connect`): a TLS or protocol failure must reach them, not a bare `Closed`.
                if state.io_error.is_none() {
                    state.io_error.clone_from(&error);
                }
                let _ = state.sessions.send(Err(error.clone().unwrap_or(Error::Closed)));
                if state.established && !state.closed_by_us {
                    push(
                        inner,
                        state,
                        ChannelEvent::Closed { error: error.map(|e| e.to_string()) },
                    );
                }
                state.events = None;
            }
        }
    }
}

fn push(inner: &Inner, state: &mut State, event: ChannelEvent) {
    if let Some(events) = &state.events {
        if events.send(event).is_ok() {
            inner.backlog.fetch_add(1, Ordering::AcqRel);
        }
    }
}
