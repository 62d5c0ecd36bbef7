//! [`ClientConnection`]: one LIME client connection as a sans-IO object.
//!
//! It owns everything between the socket and the application for one connection: the framing
//! (the brace-counting [`FrameDecoder`](crate::FrameDecoder) over TCP, or the WebSocket
//! protocol, tungstenite driven over in-memory buffers), TLS (rustls through its buffer API:
//! `read_tls`, `process_new_packets`, `write_tls`), gzip (flate2's streaming codecs) and the
//! [`ChannelCore`] (session states, command correlation, automatic ping replies and receipts).
//! It never touches a socket, a clock source it was not given, a thread or a future:
//!
//! - **bytes in, events out**: [`receive`](ClientConnection::receive) takes what the socket
//!   delivered; [`poll_event`](ClientConnection::poll_event) then yields the deliveries
//!   (messages, notifications, commands), session changes, command completions and the end of
//!   the connection ([`Event`]);
//! - **envelopes in, bytes out**: [`send`](ClientConnection::send),
//!   [`send_command`](ClientConnection::send_command) and the handshake steps append bytes to
//!   an output buffer that the host writes to its socket in one write
//!   ([`take_output`](ClientConnection::take_output));
//! - automatic replies (ping responses, `received` receipts when enabled) and TLS handshake
//!   records are written to the same buffer while the input is handled, within the same
//!   `receive` call;
//! - **timers as deadlines**: remote ping, idle timeout, handshake-step and command timeouts.
//!   The host arms one timer at [`next_deadline`](ClientConnection::next_deadline) and calls
//!   [`handle_timeout`](ClientConnection::handle_timeout) when it fires.
//!
//! The session handshake runs either step by step (lime-python's API:
//! [`start_new_session`](ClientConnection::start_new_session),
//! [`negotiate_session`](ClientConnection::negotiate_session),
//! [`authenticate_session`](ClientConnection::authenticate_session),
//! [`send_finishing_session`](ClientConnection::send_finishing_session), each followed by an
//! [`Event::Session`] with the server's answer) or on its own with
//! [`establish`](ClientConnection::establish), which answers each session envelope with the
//! same choices as [`ClientChannel::establish_session`](crate::channel::ClientChannel::establish_session)
//! (same [`EstablishOptions`], same [`ClientOptions`]). Over TCP the TLS upgrade and gzip are
//! switched on exactly at the server's negotiation confirmation (PROTOCOL §2.3): the envelope
//! after it is read through the new layers, and the ClientHello is written in the same
//! `receive` call that delivered the confirmation.
//!
//! # Examples
//!
//! A session established over TCP, the server's bytes written out by hand:
//!
//! ```
//! use lime::channel::{ClientOptions, EstablishOptions};
//! use lime::connection::{ClientConnection, Event};
//! use lime::transport::tls::ClientTlsConfig;
//! use lime::{Authentication, Message, SessionState};
//!
//! let mut conn = ClientConnection::connect(
//!     "net.tcp://localhost:55321",
//!     ClientTlsConfig::default(),
//!     ClientOptions::default(),
//! )?;
//! assert_eq!((conn.host(), conn.port()), ("localhost", 55321)); // where to open the socket
//! conn.establish(EstablishOptions::new("alice@localhost".parse()?, "home", Authentication::Guest))?;
//! assert_eq!(conn.take_output(), br#"{"state":"new"}"#); // write this to the socket
//!
//! // What the server answered, as read from the socket (in any pieces):
//! conn.receive(br#"{"id":"s1","state":"authenticating","schemeOptions":["guest"]}"#)?;
//! let credentials = conn.take_output(); // answered within the same call
//! assert!(credentials.starts_with(br#"{"state":"authenticating","scheme":"guest""#));
//! conn.receive(br#"{"id":"s1","from":"postmaster@localhost/server","to":"alice@localhost/home","state":"established"}"#)?;
//! let states: Vec<SessionState> = conn
//!     .drain_events()
//!     .filter_map(|e| match e { Event::Session(s) => Some(s.state), _ => None })
//!     .collect();
//! assert_eq!(states, [SessionState::Authenticating, SessionState::Established]);
//!
//! conn.send_message(Message::text("hi").with_to("bob@localhost".parse()?))?;
//! assert!(!conn.take_output().is_empty());
//! # Ok::<(), lime::Error>(())
//! ```
//!
//! # Driving it from a host loop
//!
//! An asyncio protocol, a Dart isolate or a Rust loop of one's own all do the same:
//!
//! ```text
//! connection_made:   conn = ClientConnection::connect(uri, tls, options)
//!                    transport.write(conn.take_output())   # ClientHello / HTTP upgrade, if any
//!                    conn.establish(...) or conn.start_new_session()
//!                    transport.write(conn.take_output())
//! data_received(b):  conn.receive(b)              # errors also arrive as Event::Closed
//!                    transport.write(conn.take_output())
//!                    while ev := conn.poll_event(): run callbacks, resolve futures by token
//!                    re-arm: loop.call_later(conn.next_timeout(), on_timer)
//! on_timer():        conn.handle_timeout(Instant::now()); write output; run events; re-arm
//! send_message(m):   conn.send_message(m); transport.write(conn.take_output())
//! eof_received():    conn.receive_eof(); run events
//! ```
//!
//! The output buffer grows while the host does not drain it; a host that respects flow
//! control (asyncio's `pause_writing`) checks [`pending_output`](ClientConnection::pending_output)
//! and refuses or delays sends beyond its own bound.
//!
//! # Who drives it
//!
//! A host loop that is not tokio: the Python drop-in runs it on the asyncio loop thread (one
//! native call per received chunk). Tokio code uses [`ClientChannel`](crate::channel::ClientChannel) or
//! [`Client`](crate::Client) over the tokio transports, which share this connection's framer,
//! TLS and gzip layers and channel core, and run the crate's one established loop.

pub(crate) mod layers;
mod wire;

use std::{
    collections::VecDeque,
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;

use self::wire::{Next, Wire};
use crate::{
    channel::{
        client::{establishment_result, ClientOptions, EstablishOptions},
        ping::{PingAction, PingSchedule},
        ChannelCore, ChannelOptions, Role, Snapshot,
    },
    error::TransportError,
    transport::{address::parse_tcp_uri, tls::ClientTlsConfig},
    Authentication, AuthenticationScheme, Command, Envelope, Error, Identity, Message, Node,
    Notification, Session, SessionCompression, SessionEncryption, SessionState,
};

/// Identifies a command sent with [`ClientConnection::send_command`]; its completion event
/// carries the same token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandToken(pub u64);

/// What the host must act on after a call.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A session envelope from the server (the state is already updated): each handshake
    /// step's answer, `established`, and `finished`/`failed` (followed by [`Event::Closed`]).
    Session(Session),
    /// A received message.
    Message(Message),
    /// A received notification.
    Notification(Notification),
    /// A received command that is not the response to one of ours (requests, unknown
    /// responses). Ping requests are answered automatically and not delivered (unless the
    /// channel options ask for it).
    Command(Command),
    /// The response to a command sent with [`ClientConnection::send_command`] (a `failure`
    /// response too: check its status).
    CommandResponse {
        /// The token returned when it was sent.
        token: CommandToken,
        /// The response.
        response: Command,
    },
    /// A command that will get no response: its timeout passed ([`Error::Timeout`]) or the
    /// connection ended ([`Error::Closed`]).
    CommandFailed {
        /// The token returned when it was sent.
        token: CommandToken,
        /// Why.
        error: Error,
    },
    /// The connection is over; the host writes the remaining output and closes the socket.
    /// `error` is `None` after `finished`, a peer's clean close or [`ClientConnection::close`].
    Closed {
        /// What ended it.
        error: Option<Error>,
    },
}

/// The time source of a connection (tests use a manual one).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Whose completion a pending command carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Completion {
    User(CommandToken),
    /// A remote ping of ours: only its arrival matters.
    Ping,
}

struct Establishing {
    options: EstablishOptions,
    schemes: Vec<AuthenticationScheme>,
}

/// A command waiting for its response: timed or not, so that cancelling it finds its id.
struct CommandTimer {
    /// None: no timeout (or one so large that the clock cannot add it).
    deadline: Option<Instant>,
    token: CommandToken,
    id: String,
    limit: Duration,
}

/// One client connection, without I/O. See the [module docs](self).
pub struct ClientConnection {
    core: ChannelCore<Completion>,
    options: ClientOptions,
    wire: Wire,
    host: String,
    port: u16,
    events: VecDeque<Event>,
    output: Vec<u8>,
    establishing: Option<Establishing>,
    /// The negotiation choice sent, until the server confirms it.
    negotiated: Option<(SessionCompression, SessionEncryption)>,
    /// Deadline of the server's answer to a session envelope of ours.
    session_deadline: Option<Instant>,
    ping: Option<PingSchedule>,
    commands: Vec<CommandTimer>,
    next_token: u64,
    closed: bool,
    clock: Clock,
}

impl fmt::Debug for ClientConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConnection")
            .field("state", &self.core.state())
            .field("session_id", &self.core.session_id())
            .field("wire", &self.wire)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// The connection moves between threads with its host loop.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<ClientConnection>();
};

impl ClientConnection {
    /// A connection for `uri`: `net.tcp://host[:port]` (default port 55321), `ws://…` or
    /// `wss://…`. Open a socket to [`host`](Self::host):[`port`](Self::port) and write
    /// [`take_output`](Self::take_output) to it (WebSocket starts with its upgrade request,
    /// `wss` with the TLS ClientHello).
    ///
    /// `options` are those of the tokio [`ClientChannel`](crate::channel::ClientChannel):
    /// channel behaviour, maximum envelope size, handshake-step timeout, remote ping and idle
    /// timeout; `buffer` does not apply (the host bounds its own queues, see
    /// [`pending_output`](Self::pending_output)).
    pub fn connect(uri: &str, tls: ClientTlsConfig, options: ClientOptions) -> Result<Self, Error> {
        Self::with_clock(uri, tls, options, Arc::new(Instant::now))
    }

    /// [`connect`](Self::connect) with a time source.
    pub fn with_clock(
        uri: &str,
        tls: ClientTlsConfig,
        options: ClientOptions,
        clock: Clock,
    ) -> Result<Self, Error> {
        let max = options.max_envelope_size;
        let mut output = Vec::new();
        let lower = uri.get(..10).unwrap_or(uri).to_ascii_lowercase();
        let (wire, host, port) = if lower.starts_with("net.tcp://") {
            let (host, port) = parse_tcp_uri(uri)?;
            (Wire::tcp(host.clone(), tls, max), host, port)
        } else if lower.starts_with("ws://") || lower.starts_with("wss://") {
            Wire::websocket(uri, tls, max, &mut output)?
        } else {
            return Err(TransportError::InvalidUri(uri.to_owned()).into());
        };
        Ok(Self {
            core: ChannelCore::new(Role::Client, options.channel.clone()),
            options,
            wire,
            host,
            port,
            events: VecDeque::new(),
            output,
            establishing: None,
            negotiated: None,
            session_deadline: None,
            ping: None,
            commands: Vec::new(),
            next_token: 1,
            closed: false,
            clock,
        })
    }

    // ----- state --------------------------------------------------------------------------

    /// The host to open the socket to (and the TLS server name).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to open the socket to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The session state.
    pub fn state(&self) -> SessionState {
        self.core.state()
    }

    /// The session id (assigned by the server).
    pub fn session_id(&self) -> Option<&str> {
        self.core.session_id()
    }

    /// Our node, as the server registered it (once established).
    pub fn local_node(&self) -> Option<&Node> {
        self.core.local_node()
    }

    /// The server's node (once established).
    pub fn remote_node(&self) -> Option<&Node> {
        self.core.remote_node()
    }

    /// The state, session id and nodes (see [`ChannelCore::snapshot`]).
    pub fn snapshot(&self) -> Snapshot {
        self.core.snapshot()
    }

    /// Overrides the state, session id and nodes, for bindings whose users assign them
    /// (see [`ChannelCore::restore`]).
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.core.restore(snapshot);
    }

    /// The encryption in effect (TLS after the upgrade, or for `wss`).
    pub fn encryption(&self) -> SessionEncryption {
        self.wire.encryption()
    }

    /// The compression in effect.
    pub fn compression(&self) -> SessionCompression {
        self.wire.compression()
    }

    /// The WebSocket sub-protocol the server agreed to (`lime`), once the upgrade is done.
    pub fn subprotocol(&self) -> Option<&str> {
        self.wire.subprotocol()
    }

    /// The options, to change after construction (for a host that opened the connection
    /// before it knew them): the handshake-step timeout applies from the next step, the
    /// remote ping and idle timeout from the establishment, `max_envelope_size` to what is
    /// sent from now on (received envelopes keep the limit given to
    /// [`connect`](Self::connect)); the channel behaviour is changed with
    /// [`channel_options_mut`](Self::channel_options_mut).
    pub fn options_mut(&mut self) -> &mut ClientOptions {
        &mut self.options
    }

    /// The channel behaviour (ping replies, receipts, ids), to change after construction.
    pub fn channel_options_mut(&mut self) -> &mut ChannelOptions {
        self.core.options_mut()
    }

    /// True once the connection is over (an [`Event::Closed`] was queued).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Number of commands waiting for their response.
    pub fn pending_commands(&self) -> usize {
        self.core.pending_commands()
    }

    // ----- output and events --------------------------------------------------------------

    /// The bytes to write to the socket, leaving the buffer empty.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// The bytes waiting to be written.
    pub fn pending_output(&self) -> &[u8] {
        &self.output
    }

    /// Drops the first `n` bytes of the output (a host that wrote only part of it).
    pub fn advance_output(&mut self, n: usize) {
        self.output.drain(..n.min(self.output.len()));
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Every pending event, oldest first.
    pub fn drain_events(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.events.drain(..)
    }

    // ----- input --------------------------------------------------------------------------

    /// Handles bytes received from the socket: decrypts, decompresses, frames, runs the
    /// channel (automatic replies are written to the output now) and queues the events.
    ///
    /// An error (malformed or oversized input, TLS or WebSocket failure, protocol violation)
    /// ends the connection: it is returned here and also queued as [`Event::Closed`], and
    /// pending commands fail with [`Error::Closed`]. After the end, `receive` returns
    /// [`Error::Closed`].
    pub fn receive(&mut self, data: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        let result = self.wire.feed(data, &mut self.output).map_err(Error::from);
        let result = result.and_then(|()| self.drain_input());
        self.fatal(result)
    }

    /// The peer closed its side of the socket (a 0-byte read). Fails with
    /// [`FrameError::Truncated`](crate::FrameError::Truncated) when the stream ended inside
    /// an envelope; either way the connection is over.
    pub fn receive_eof(&mut self) -> Result<(), Error> {
        self.check_open()?;
        self.wire.feed_eof();
        let result = self.drain_input();
        let result = self.fatal(result);
        if result.is_ok() && !self.closed {
            self.shutdown(None, false);
        }
        result
    }

    fn drain_input(&mut self) -> Result<(), Error> {
        while !self.closed {
            match self.wire.next(&mut self.output)? {
                Next::NeedMore => break,
                Next::Ended => {
                    self.shutdown(None, false);
                    break;
                }
                Next::Envelope(envelope) => self.handle(envelope)?,
            }
        }
        Ok(())
    }

    fn handle(&mut self, envelope: Envelope) -> Result<(), Error> {
        let now = (self.clock)();
        if let Some(ping) = &mut self.ping {
            ping.received(now);
        }
        let inbound = self.core.receive(envelope)?;
        if let Some(reply) = &inbound.reply {
            self.write_envelope(reply)?;
        }
        if let Some((response, Completion::User(token))) = inbound.response {
            self.commands.retain(|t| t.token != token);
            self.events.push_back(Event::CommandResponse { token, response });
        }
        if let Some(session) = inbound.session {
            self.on_session(session, inbound.close, now)?;
        }
        let event = match inbound.deliver {
            Some(Envelope::Message(m)) => Event::Message(m),
            Some(Envelope::Notification(n)) => Event::Notification(n),
            Some(Envelope::Command(c)) => Event::Command(c),
            Some(Envelope::Session(_)) | None => return Ok(()),
        };
        self.events.push_back(event);
        Ok(())
    }

    fn on_session(&mut self, session: Session, close: bool, now: Instant) -> Result<(), Error> {
        self.session_deadline = None;
        let state = session.state;
        let confirmation = match self.negotiated.take() {
            Some((compression, encryption)) if state == SessionState::Negotiating => {
                let compression = session.compression.unwrap_or(compression);
                let encryption = session.encryption.unwrap_or(encryption);
                self.wire.switch(compression, encryption, &mut self.output)?;
                // The session after the confirmation is still part of this step.
                self.session_deadline = now.checked_add(self.options.handshake_timeout);
                true
            }
            _ => false,
        };
        if state == SessionState::Established && self.ping.is_none() {
            self.ping = Some(PingSchedule::new(
                self.options.remote_ping_interval,
                self.options.remote_idle_timeout,
                now,
            ));
        }
        self.events.push_back(Event::Session(session.clone()));
        if close {
            let error = match state {
                SessionState::Failed => establishment_result(session).err(),
                _ => None,
            };
            self.shutdown(error, true);
            return Ok(());
        }
        let Some(mut establishing) = self.establishing.take() else { return Ok(()) };
        match state {
            SessionState::Negotiating if !confirmation => {
                let (compression, encryption) = establishing.options.choose(&session);
                self.establishing = Some(establishing);
                self.negotiate_session(compression, encryption)?;
            }
            SessionState::Negotiating => self.establishing = Some(establishing),
            SessionState::Authenticating => {
                let auth = establishing.options.credentials(&mut establishing.schemes, &session);
                let identity = establishing.options.identity.clone();
                let instance = establishing.options.instance.clone();
                self.establishing = Some(establishing);
                self.authenticate_session(&identity, auth, instance.as_deref())?;
            }
            // Established (or an unexpected state, which the host sees in the event).
            _ => {}
        }
        Ok(())
    }

    // ----- handshake ----------------------------------------------------------------------

    /// Runs the whole handshake from here: sends `new`, then answers the server's negotiation
    /// (with the options' choice, else its first offer) and authentication rounds, as
    /// [`ClientChannel::establish_session`](crate::channel::ClientChannel::establish_session)
    /// does. Each server answer arrives as [`Event::Session`]; the last one is `established`,
    /// or `failed` followed by [`Event::Closed`] with [`SessionError::Failed`](crate::error::SessionError::Failed).
    pub fn establish(&mut self, options: EstablishOptions) -> Result<(), Error> {
        self.start_new_session()?;
        self.establishing = Some(Establishing { options, schemes: Vec::new() });
        Ok(())
    }

    /// Sends `{"state":"new"}`.
    pub fn start_new_session(&mut self) -> Result<(), Error> {
        self.check_open()?;
        let new = self.core.start_new_session()?;
        self.send_session(new)
    }

    /// Sends the negotiation choice; at the server's confirmation the options are applied
    /// to the connection (TCP: TLS handshake, gzip).
    pub fn negotiate_session(
        &mut self,
        compression: SessionCompression,
        encryption: SessionEncryption,
    ) -> Result<(), Error> {
        self.check_open()?;
        let choice = self.core.negotiate_session(compression, encryption)?;
        self.send_session(choice)?;
        self.negotiated = Some((compression, encryption));
        Ok(())
    }

    /// Sends credentials as `identity/instance`.
    pub fn authenticate_session(
        &mut self,
        identity: &Identity,
        authentication: Authentication,
        instance: Option<&str>,
    ) -> Result<(), Error> {
        self.check_open()?;
        let session = self.core.authenticate_session(identity, authentication, instance)?;
        self.send_session(session)
    }

    /// Asks the server to end the session (`finishing`); its `finished` ends the connection.
    pub fn send_finishing_session(&mut self) -> Result<(), Error> {
        self.check_open()?;
        let finishing = self.core.finishing_session()?;
        self.send_session(finishing)
    }

    fn send_session(&mut self, session: Session) -> Result<(), Error> {
        self.write_envelope(&session.into())?;
        // A limit too large for the clock is no limit.
        self.session_deadline = (self.clock)().checked_add(self.options.handshake_timeout);
        Ok(())
    }

    // ----- sending ------------------------------------------------------------------------

    /// Sends an envelope (messages, notifications and commands once established). An
    /// envelope over the maximum size fails with [`TransportError::EnvelopeTooLarge`] and
    /// leaves the connection open.
    ///
    /// A session envelope sent this way counts as a handshake step (lime-python's
    /// `send_session`): a `negotiating` one with both options set is the negotiation choice,
    /// and the server's confirmation switches the connection as with
    /// [`negotiate_session`](Self::negotiate_session).
    pub fn send(&mut self, envelope: Envelope) -> Result<(), Error> {
        self.check_open()?;
        let choice = match &envelope {
            Envelope::Session(s) => Some(match (s.state, s.compression, s.encryption) {
                (SessionState::Negotiating, Some(c), Some(e)) => Some((c, e)),
                _ => None,
            }),
            _ => None,
        };
        let envelope = self.core.prepare_send(envelope)?;
        match choice {
            None => self.write_envelope(&envelope),
            Some(choice) => {
                let Envelope::Session(session) = envelope else { return Ok(()) };
                self.send_session(session)?;
                if choice.is_some() {
                    self.negotiated = choice;
                }
                Ok(())
            }
        }
    }

    /// Sends a message.
    pub fn send_message(&mut self, message: Message) -> Result<(), Error> {
        self.send(message.into())
    }

    /// Sends a notification.
    pub fn send_notification(&mut self, notification: Notification) -> Result<(), Error> {
        self.send(notification.into())
    }

    /// Sends a command request and returns the token its completion will carry
    /// ([`Event::CommandResponse`], or [`Event::CommandFailed`] after `timeout` or when the
    /// connection ends). An id is assigned when it has none.
    pub fn send_command(
        &mut self,
        command: Command,
        timeout: Option<Duration>,
    ) -> Result<CommandToken, Error> {
        self.check_open()?;
        let token = CommandToken(self.next_token);
        let request = self.core.register_command(command, Completion::User(token))?;
        self.next_token += 1;
        let id = request.id.clone().unwrap_or_default();
        if let Err(e) = self.write_envelope(&request.into()) {
            self.core.cancel_command(&id);
            return Err(e);
        }
        let deadline = timeout.and_then(|limit| (self.clock)().checked_add(limit));
        self.commands.push(CommandTimer {
            deadline,
            token,
            id,
            limit: timeout.unwrap_or_default(),
        });
        Ok(token)
    }

    /// Sends an envelope the host serialized itself (for example to keep a document exactly as
    /// the application wrote it, with numbers no [`Envelope`] can hold), as one envelope: over
    /// the maximum size it fails with [`TransportError::EnvelopeTooLarge`] and the connection
    /// stays open. The JSON is not parsed or checked here: the host prepared it (state rules,
    /// id), for example with a [`ChannelCore`] restored from [`snapshot`](Self::snapshot).
    pub fn send_serialized(&mut self, json: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        let limit = self.options.max_envelope_size;
        if json.len() > limit {
            return Err(TransportError::EnvelopeTooLarge { size: json.len(), limit }.into());
        }
        if self.wire.is_plain_tcp() {
            self.output.extend_from_slice(json);
            return Ok(());
        }
        let result =
            self.wire.send(Bytes::copy_from_slice(json), &mut self.output).map_err(Error::from);
        self.fatal(result)
    }

    /// Forgets a pending command (its completion will never be reported).
    pub fn cancel_command(&mut self, token: CommandToken) -> bool {
        let Some(i) = self.commands.iter().position(|t| t.token == token) else { return false };
        let timer = self.commands.swap_remove(i);
        self.core.cancel_command(&timer.id).is_some()
    }

    fn write_envelope(&mut self, envelope: &Envelope) -> Result<(), Error> {
        let limit = self.options.max_envelope_size;
        if self.wire.is_plain_tcp() {
            // Serialized straight into the output: no copy.
            let start = self.output.len();
            envelope.write_json(&mut self.output);
            let size = self.output.len() - start;
            if size > limit {
                self.output.truncate(start);
                return Err(TransportError::EnvelopeTooLarge { size, limit }.into());
            }
            return Ok(());
        }
        let json = Bytes::from(envelope.to_vec());
        if json.len() > limit {
            return Err(TransportError::EnvelopeTooLarge { size: json.len(), limit }.into());
        }
        let result = self.wire.send(json, &mut self.output).map_err(Error::from);
        self.fatal(result)
    }

    // ----- timers -------------------------------------------------------------------------

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let ping = self.ping.as_ref().and_then(PingSchedule::next).map(|(at, _)| at);
        let commands = self.commands.iter().filter_map(|t| t.deadline).min();
        [self.session_deadline, ping, commands].into_iter().flatten().min()
    }

    /// How long from now (the connection's clock) until [`next_deadline`](Self::next_deadline),
    /// zero when it has passed: for hosts whose timers take a delay (asyncio `call_later`, a
    /// Dart `Timer`).
    pub fn next_timeout(&self) -> Option<Duration> {
        let deadline = self.next_deadline()?;
        Some(deadline.saturating_duration_since((self.clock)()))
    }

    /// Runs what is due at `now`: failed commands whose timeout passed, a remote ping (or the
    /// idle timeout, which sends `finishing` and ends the connection), and a handshake step
    /// the server did not answer in time (which ends the connection with [`Error::Timeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        let mut i = 0;
        while i < self.commands.len() {
            if self.commands[i].deadline.is_some_and(|d| d <= now) {
                let timer = self.commands.swap_remove(i);
                if let Some(Completion::User(token)) = self.core.cancel_command(&timer.id) {
                    let error = Error::Timeout(timer.limit);
                    self.events.push_back(Event::CommandFailed { token, error });
                }
            } else {
                i += 1;
            }
        }
        if self.session_deadline.is_some_and(|d| d <= now) {
            self.session_deadline = None;
            self.shutdown(Some(Error::Timeout(self.options.handshake_timeout)), true);
            return;
        }
        let action = self.ping.as_mut().and_then(|p| p.fire(now));
        match action {
            Some(PingAction::SendPing) => {
                let ping = self.core.register_remote_ping(Completion::Ping);
                if let Ok(ping) = ping {
                    // A failure to write ends the connection and is reported as its event.
                    let _ = self.write_envelope(&ping.into());
                }
            }
            Some(PingAction::IdleTimeout) => {
                if let Ok(finishing) = self.core.finishing_session() {
                    let _ = self.write_envelope(&finishing.into());
                }
                let limit = self.options.remote_idle_timeout.unwrap_or_default();
                self.shutdown(Some(Error::Timeout(limit)), true);
            }
            None => {}
        }
    }

    // ----- ending -------------------------------------------------------------------------

    /// Closes the connection without a session envelope (a WebSocket close frame and a TLS
    /// close_notify are written to the output). Pending commands fail with [`Error::Closed`].
    pub fn close(&mut self) {
        self.shutdown(None, true);
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Ends the connection on an error of the input or the layers (reported as
    /// [`Event::Closed`] too).
    fn fatal<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result {
            self.shutdown(Some(e.clone()), false);
        }
        result
    }

    fn shutdown(&mut self, error: Option<Error>, say_goodbye: bool) {
        if self.closed {
            return;
        }
        self.closed = true;
        if say_goodbye {
            self.wire.close(&mut self.output);
        }
        self.core.fail();
        for (_, completion) in self.core.drain_pending() {
            if let Completion::User(token) = completion {
                self.events.push_back(Event::CommandFailed { token, error: Error::Closed });
            }
        }
        self.commands.clear();
        self.session_deadline = None;
        self.ping = None;
        self.establishing = None;
        self.negotiated = None;
        self.events.push_back(Event::Closed { error });
    }
}
