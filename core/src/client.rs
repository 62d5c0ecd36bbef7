//! [`Client`]: a LIME client session that any number of tasks and threads share.
//!
//! A `Client` is a [`ClientChannel`] with the connection made for it and the event queue
//! readable from the start: every method takes `&self`, so `Arc<Client>` is the way to share
//! it (the bindings do: one client per foreign object, on one shared tokio runtime).
//!
//! - sends queue the serialized envelope for the writer task; they wait only while the
//!   outgoing queue is full (back-pressure);
//! - [`Client::process_command`] registers the command and waits for its response, which the
//!   reader task routes by id; cancelling the call forgets the command;
//! - the handshake steps ([`Client::start_new_session`], [`Client::negotiate_session`],
//!   [`Client::authenticate_session`], [`Client::establish_session`]) and [`Client::finish`]
//!   are serialized inside: a second one waits for the first;
//! - incoming messages, notifications, commands and the end of an established session arrive
//!   on one bounded queue, read with [`Client::receive`] or through a [`Subscription`] (the
//!   queue's reader until it is dropped). While the queue is full the reader task stops
//!   reading the socket, so a slow consumer slows the server down. Responses arrive on the
//!   same socket: a command waits for its response while the queue is full, so read the events
//!   (or give the queue room with [`ClientOptions::buffer`]);
//! - [`Client::state`], [`Client::session_id`] and the nodes are plain reads. Before the
//!   session is established the connection is read only by the handshake steps: a server that
//!   closes it between steps is noticed by the next step ([`Client::is_closed`] stays false
//!   until then).
//!
//! Once established, the session runs on the one established loop of the crate (the reader
//! task of [`ClientChannel`], the same loop as a server session's). Dropping the last reference
//! closes the connection (what is queued and a WebSocket close frame or TLS close_notify are
//! still written, for at most [`CLOSE_FLUSH_LIMIT`]).
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

use std::{sync::Arc, time::Duration};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

pub use crate::channel::client::CLOSE_FLUSH_LIMIT;
use crate::{
    channel::{
        events::EventReceiver, ChannelEvent, ChannelOptions, ClientChannel, ClientOptions,
        EstablishOptions,
    },
    transport::{self, tls::ClientTlsConfig, Transport, TransportOptions},
    Authentication, Command, Error, Identity, Message, Node, Notification, Session,
    SessionCompression, SessionEncryption, SessionState,
};

/// A client session shared behind `Arc`. See the [module docs](self).
pub struct Client {
    channel: ClientChannel,
    /// One reader of the event queue at a time (a [`Subscription`] holds it).
    reader: Arc<AsyncMutex<()>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.channel.state())
            .field("session_id", &self.channel.session_id())
            .finish_non_exhaustive()
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Client>();
    assert_send_sync::<Subscription>();
};

impl Client {
    /// Connects to `uri` (`net.tcp://host[:port]`, default port 55321; `ws://…`; `wss://…`)
    /// within the handshake timeout (for WebSocket, the upgrade and the TLS handshake of
    /// `wss` included). Gzip is offered to a server that negotiates it.
    pub async fn connect(
        uri: &str,
        tls: ClientTlsConfig,
        options: ClientOptions,
    ) -> Result<Self, Error> {
        let limit = options.handshake_timeout;
        let transport_options =
            TransportOptions { max_envelope_size: options.max_envelope_size, enable_gzip: true };
        let connecting = transport::connect_with(uri, &tls, transport_options);
        let transport = match tokio::time::timeout(limit, connecting).await {
            Err(_) => return Err(Error::Timeout(limit)),
            Ok(r) => r?,
        };
        Ok(Self::with_transport(transport, options))
    }

    /// A client over a transport opened by other means (the in-memory pair, a transport of
    /// the application's own).
    pub fn with_transport(transport: Box<dyn Transport>, options: ClientOptions) -> Self {
        Self {
            channel: ClientChannel::with_options(transport, options),
            reader: Arc::new(AsyncMutex::new(())),
        }
    }

    // ----- plain reads --------------------------------------------------------------------

    /// The session state.
    pub fn state(&self) -> SessionState {
        self.channel.state()
    }

    /// The session id (assigned by the server).
    pub fn session_id(&self) -> Option<String> {
        self.channel.session_id()
    }

    /// Our node, as the server registered it (once established).
    pub fn local_node(&self) -> Option<Node> {
        self.channel.local_node()
    }

    /// The server's node (once established).
    pub fn remote_node(&self) -> Option<Node> {
        self.channel.remote_node()
    }

    /// The connection's encryption (`tls` after the in-band upgrade, and for `wss://`).
    pub fn encryption(&self) -> SessionEncryption {
        self.channel.encryption()
    }

    /// The connection's compression.
    pub fn compression(&self) -> SessionCompression {
        self.channel.compression()
    }

    /// The WebSocket sub-protocol the server chose, if any.
    pub fn subprotocol(&self) -> Option<String> {
        self.channel.subprotocol()
    }

    /// Number of commands waiting for their response.
    pub fn pending_commands(&self) -> usize {
        self.channel.pending_commands()
    }

    /// True once the connection is over.
    pub fn is_closed(&self) -> bool {
        self.channel.is_closed()
    }

    /// Changes the channel behaviour (ping replies, receipts, ids) from now on.
    pub fn set_channel_options(&self, options: ChannelOptions) {
        self.channel.set_channel_options(options);
    }

    /// Replaces the options given to [`connect`](Self::connect), for a host that opened the
    /// connection before it knew them (see [`ClientChannel::set_options`]).
    pub fn set_options(&self, options: ClientOptions) {
        self.channel.set_options(options);
    }

    // ----- handshake ----------------------------------------------------------------------

    /// Sends `{"state":"new"}` and returns the server's reply (negotiating, authenticating,
    /// established or failed).
    pub async fn start_new_session(&self) -> Result<Session, Error> {
        self.channel.start_new_session().await
    }

    /// Sends the negotiation choice; at the server's confirmation the connection switches
    /// (TLS handshake, gzip). Returns the session after the confirmation (authenticating,
    /// established or failed), or the server's answer when it is not a confirmation.
    pub async fn negotiate_session(
        &self,
        compression: SessionCompression,
        encryption: SessionEncryption,
    ) -> Result<Session, Error> {
        self.channel.negotiate_session(compression, encryption).await
    }

    /// Sends credentials as `identity/instance` and returns the server's reply (a round-trip
    /// `authenticating`, established or failed).
    pub async fn authenticate_session(
        &self,
        identity: &Identity,
        authentication: Authentication,
        instance: Option<&str>,
    ) -> Result<Session, Error> {
        self.channel.authenticate_session(identity, authentication, instance).await
    }

    /// Runs the whole handshake and returns the `established` session, or
    /// [`SessionError::Failed`](crate::SessionError::Failed) with the server's reason.
    pub async fn establish_session(&self, options: EstablishOptions) -> Result<Session, Error> {
        self.channel.establish_session(options).await
    }

    /// Sends `finishing` and waits for the server's `finished` (or `failed`). The event queue
    /// delivers the same session, then ends.
    pub async fn finish(&self) -> Result<Session, Error> {
        self.channel.finish().await
    }

    /// Closes the connection without a session envelope and waits until the goodbye (close
    /// frame, close_notify) is written. The event queue ends without an end event; pending
    /// commands fail with [`Error::Closed`].
    pub async fn close(&self) {
        self.channel.close().await;
    }

    /// Starts closing as [`close`](Self::close) does, without waiting (for a host's
    /// synchronous teardown, such as a binding object being freed).
    pub fn close_now(&self) {
        self.channel.close_now();
    }

    // ----- sending ------------------------------------------------------------------------

    /// Sends a message (established only: before the session and after its end, a
    /// [`SessionError::InvalidState`](crate::SessionError::InvalidState)).
    pub async fn send_message(&self, message: Message) -> Result<(), Error> {
        self.channel.send_message(message).await
    }

    /// Sends a notification (established only).
    pub async fn send_notification(&self, notification: Notification) -> Result<(), Error> {
        self.channel.send_notification(notification).await
    }

    /// Sends a command without waiting for a response (established only).
    pub async fn send_command(&self, command: Command) -> Result<(), Error> {
        self.channel.send_command(command).await
    }

    /// Sends a command request (an id is assigned when it has none) and waits up to `limit`
    /// for the response with the same id ([`Error::Timeout`] after that). A `failure`
    /// response is returned as is. Cancelling the call forgets the command.
    pub async fn process_command(
        &self,
        command: Command,
        limit: Duration,
    ) -> Result<Command, Error> {
        self.channel.process_command(command, limit).await
    }

    // ----- receiving ----------------------------------------------------------------------

    /// The next event of the established session (messages, notifications, commands, then
    /// `Finished`, `Failed` or `Closed`), or `None` once the session has ended (or could not
    /// be established) and every event was taken. Safe from several tasks (they take turns).
    pub async fn receive(&self) -> Option<ChannelEvent> {
        let _turn = self.reader.lock().await;
        self.channel.events().receive().await
    }

    /// Takes the event queue until the returned subscription is dropped: meanwhile it alone
    /// receives the events (others waiting in [`receive`](Self::receive) or `subscribe` wait
    /// for it). Nothing is lost between subscriptions.
    pub async fn subscribe(&self) -> Subscription {
        Subscription {
            _turn: self.reader.clone().lock_owned().await,
            events: self.channel.events().clone(),
        }
    }
}

/// The reader of a [`Client`]'s events until dropped (see [`Client::subscribe`]).
pub struct Subscription {
    _turn: OwnedMutexGuard<()>,
    events: Arc<EventReceiver>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next event, or `None` once the session has ended and every event was taken.
    pub async fn next(&mut self) -> Option<ChannelEvent> {
        self.events.receive().await
    }
}
