//! [`ChannelCore`]: the sans-IO heart of every LIME channel.
//!
//! The session state machine, send rules, id assignment, command correlation, automatic ping
//! replies and `received` receipts are implemented here once. The core never touches a
//! socket, a clock or a task: a driver hands it what arrived and what the application wants to
//! send, and carries out what it returns. The tokio drivers in [`super::client`] and
//! [`super::server`] do that for the native transports; the Python, Dart and Kotlin bindings do
//! it from their own event loops.
//!
//! Pending commands carry a completion value `P` chosen by the driver (a oneshot sender, an
//! asyncio future, …), returned with the matching response.
//!
//! # Examples
//!
//! ```
//! use lime::channel::{ChannelCore, ChannelOptions, Role};
//! use lime::{Command, CommandMethod, Envelope, Session, SessionState};
//!
//! let mut core: ChannelCore<&str> = ChannelCore::new(Role::Client, ChannelOptions::client());
//! let new = core.start_new_session()?;
//! assert_eq!(Envelope::from(new).to_json(), r#"{"state":"new"}"#);
//! let established: Envelope = r#"{"id":"s1","from":"postmaster@x.com/srv","to":"a@x.com/home","state":"established"}"#.parse()?;
//! core.receive(established)?;
//! assert_eq!(core.state(), SessionState::Established);
//!
//! let request = core.register_command(Command::request(CommandMethod::Get, "/account".parse()?), "waiter")?;
//! let response: Envelope = format!(r#"{{"id":"{}","method":"get","status":"success"}}"#, request.id.as_deref().unwrap()).parse()?;
//! let inbound = core.receive(response)?;
//! assert_eq!(inbound.response.map(|(_, waiter)| waiter), Some("waiter"));
//! # Ok::<(), lime::Error>(())
//! ```

use std::collections::HashMap;

use crate::{
    enums::{CommandMethod, CommandStatus, NotificationEvent},
    error::{CommandError, SessionError},
    Authentication, Command, Envelope, Error, Identity, Message, Node, Notification, Session,
    SessionCompression, SessionEncryption, SessionState,
};

/// Which end of the session this channel is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Starts sessions; the server decides its state.
    Client,
    /// Accepts sessions and drives their state.
    Server,
}

/// Where automatic `received` notifications are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptTarget {
    /// `pp ?? from` of the message (C#, correct).
    Sender,
    /// The message's `to` (lime-python 2.0.13 behaviour, kept selectable for compatibility).
    MessageTo,
}

/// Which outgoing envelopes get a generated id when they have none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdPolicy {
    /// Commands other than `observe` (C#).
    Commands,
    /// Every envelope, sessions included (lime-python 2.0.13).
    All,
}

/// Behaviour switches of a channel (C# ctor arguments, plus compatibility choices).
#[derive(Clone, Debug)]
pub struct ChannelOptions {
    /// Answer `get /ping` requests addressed to this node automatically.
    pub auto_reply_pings: bool,
    /// Still deliver answered ping requests to the application (lime-python/js behaviour).
    pub deliver_answered_pings: bool,
    /// Send a `received` notification for every message addressed to this node.
    pub auto_notify_receipt: bool,
    /// Where those receipts go.
    pub receipt_target: ReceiptTarget,
    /// Fill a missing `from` with the remote node and a missing `to` with the local node on
    /// received envelopes, and set `pp` on sent ones (C# `fillEnvelopeRecipients`).
    pub fill_envelope_recipients: bool,
    /// Id assignment for outgoing envelopes.
    pub ids: IdPolicy,
}

impl ChannelOptions {
    /// Client defaults of C#: ping replies on, receipts off.
    pub fn client() -> Self {
        Self {
            auto_reply_pings: true,
            deliver_answered_pings: false,
            auto_notify_receipt: false,
            receipt_target: ReceiptTarget::Sender,
            fill_envelope_recipients: false,
            ids: IdPolicy::Commands,
        }
    }

    /// Server defaults: ping replies on (for pings addressed to the server), receipts off.
    pub fn server() -> Self {
        Self::client()
    }
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self::client()
    }
}

/// What the driver must do with a received envelope. Fields that are `None` need nothing.
#[derive(Debug)]
#[must_use]
pub struct Inbound<P> {
    /// Hand this to the application.
    pub deliver: Option<Envelope>,
    /// Transmit this (automatic ping reply or receipt).
    pub reply: Option<Envelope>,
    /// The response to a pending command, with the completion registered for it.
    pub response: Option<(Command, P)>,
    /// A session envelope was received (the state is already updated).
    pub session: Option<Session>,
    /// The session ended (`finished`/`failed` received): close the transport.
    pub close: bool,
}

impl<P> Default for Inbound<P> {
    fn default() -> Self {
        Self { deliver: None, reply: None, response: None, session: None, close: false }
    }
}

/// The assignable part of a channel's session (see [`ChannelCore::snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The session state.
    pub state: SessionState,
    /// The session id.
    pub session_id: Option<String>,
    /// This end's node.
    pub local_node: Option<Node>,
    /// The other end's node.
    pub remote_node: Option<Node>,
}

/// The sans-IO channel. See the [module docs](crate::channel).
#[derive(Debug)]
pub struct ChannelCore<P = ()> {
    role: Role,
    options: ChannelOptions,
    state: SessionState,
    session_id: Option<String>,
    local_node: Option<Node>,
    remote_node: Option<Node>,
    pending: HashMap<String, P>,
}

/// A new random envelope id (UUID v4, lowercase, like C#).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl<P> ChannelCore<P> {
    /// A channel in the `new` state.
    pub fn new(role: Role, options: ChannelOptions) -> Self {
        Self {
            role,
            options,
            state: SessionState::New,
            session_id: None,
            local_node: None,
            remote_node: None,
            pending: HashMap::new(),
        }
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The options.
    pub fn options(&self) -> &ChannelOptions {
        &self.options
    }

    /// The session state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The session id (assigned by the server).
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// This end's node (known once established, or set by a server).
    pub fn local_node(&self) -> Option<&Node> {
        self.local_node.as_ref()
    }

    /// The other end's node.
    pub fn remote_node(&self) -> Option<&Node> {
        self.remote_node.as_ref()
    }

    /// Sets the session id (servers assign it before their first reply).
    pub fn set_session_id(&mut self, id: impl Into<String>) {
        self.session_id = Some(id.into());
    }

    /// Sets this end's node (servers know theirs up front).
    pub fn set_local_node(&mut self, node: Node) {
        self.local_node = Some(node);
    }

    /// The state, session id and nodes, to change some of them with [`ChannelCore::restore`].
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state,
            session_id: self.session_id.clone(),
            local_node: self.local_node.clone(),
            remote_node: self.remote_node.clone(),
        }
    }

    /// Overrides the state, session id and nodes: for bindings whose public API lets users
    /// assign them (lime-python's tests and applications set `channel.state` directly).
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.state = snapshot.state;
        self.session_id = snapshot.session_id;
        self.local_node = snapshot.local_node;
        self.remote_node = snapshot.remote_node;
    }

    /// The options, to change them after construction.
    pub fn options_mut(&mut self) -> &mut ChannelOptions {
        &mut self.options
    }

    /// Number of commands waiting for their response.
    pub fn pending_commands(&self) -> usize {
        self.pending.len()
    }

    fn require(&self, allowed: &[SessionState], action: &'static str) -> Result<(), SessionError> {
        if allowed.contains(&self.state) {
            Ok(())
        } else {
            Err(SessionError::InvalidState { action, state: self.state })
        }
    }

    fn session(&self, state: SessionState) -> Session {
        let mut s = Session::new(state);
        s.id.clone_from(&self.session_id);
        // The client's first `new` never carries an id (the server assigns it; lime-go rejects
        // a `new` with one), whatever the id policy.
        if self.options.ids == IdPolicy::All && s.id.is_none() && state != SessionState::New {
            s.id = Some(new_id());
        }
        s
    }

    // ----- client handshake -------------------------------------------------------------

    /// The `new` session that starts a session (client, state `new`).
    pub fn start_new_session(&mut self) -> Result<Session, Error> {
        self.require(&[SessionState::New], "start a session")?;
        Ok(self.session(SessionState::New))
    }

    /// The client's choice in the `negotiating` state.
    pub fn negotiate_session(
        &mut self,
        compression: SessionCompression,
        encryption: SessionEncryption,
    ) -> Result<Session, Error> {
        self.require(&[SessionState::Negotiating], "negotiate a session")?;
        let mut s = self.session(SessionState::Negotiating);
        s.compression = Some(compression);
        s.encryption = Some(encryption);
        Ok(s)
    }

    /// The client's credentials in the `authenticating` state, from `identity/instance`.
    pub fn authenticate_session(
        &mut self,
        identity: &Identity,
        authentication: Authentication,
        instance: Option<&str>,
    ) -> Result<Session, Error> {
        self.require(&[SessionState::Authenticating], "authenticate a session")?;
        let mut s = self.session(SessionState::Authenticating);
        s.from = Some(Node::from(identity.clone()).with_instance(instance));
        s.authentication = Some(authentication);
        Ok(s)
    }

    /// The client's request to end an established session.
    pub fn finishing_session(&mut self) -> Result<Session, Error> {
        self.require(&[SessionState::Established], "finish a session")?;
        Ok(self.session(SessionState::Finishing))
    }

    // ----- server handshake -------------------------------------------------------------

    /// A session envelope the server sends: stamped with the session id and the server's node,
    /// and moving the channel to its state (only the server changes state).
    pub fn server_session(&mut self, mut session: Session) -> Result<Session, Error> {
        if self.role != Role::Server {
            return Err(
                SessionError::Protocol("only a server assigns session states".into()).into()
            );
        }
        if self.state.is_terminal() {
            return Err(
                SessionError::InvalidState { action: "send a session", state: self.state }.into()
            );
        }
        session.id.clone_from(&self.session_id);
        if session.from.is_none() {
            session.from.clone_from(&self.local_node);
        }
        if session.state == SessionState::Established {
            self.remote_node.clone_from(&session.to);
        }
        if session.state.is_terminal() && session.to.is_none() {
            // C# writes `{id, from, to, state}` when ending a session.
            session.to.clone_from(&self.remote_node);
        }
        self.state = session.state;
        Ok(session)
    }

    // ----- established ------------------------------------------------------------------

    /// Validates and completes an envelope the application sends: state rules, id assignment,
    /// `pp` filling. Sessions go through the handshake methods instead.
    pub fn prepare_send(&mut self, mut envelope: Envelope) -> Result<Envelope, Error> {
        match &envelope {
            Envelope::Session(s) => {
                if self.state.is_terminal() {
                    return Err(SessionError::InvalidState {
                        action: "send a session",
                        state: self.state,
                    }
                    .into());
                }
                if s.id.is_none() {
                    envelope.set_id(self.session_id.clone());
                }
                return Ok(envelope);
            }
            Envelope::Message(_) => self.require(&[SessionState::Established], "send a message")?,
            Envelope::Notification(_) => {
                self.require(&[SessionState::Established], "send a notification")?
            }
            Envelope::Command(_) => self.require(&[SessionState::Established], "send a command")?,
        }
        if envelope.id().is_none() {
            let wants_id = match (&envelope, self.options.ids) {
                (_, IdPolicy::All) => true,
                (Envelope::Command(c), IdPolicy::Commands) => c.method != CommandMethod::Observe,
                _ => false,
            };
            if wants_id {
                envelope.set_id(Some(new_id()));
            }
        }
        if self.options.fill_envelope_recipients && self.role == Role::Client {
            if let (None, Some(from), Some(local)) =
                (envelope.pp(), envelope.from_node(), &self.local_node)
            {
                if from != local {
                    let local = local.clone();
                    envelope.set_pp(Some(local));
                }
            }
        }
        Ok(envelope)
    }

    /// Registers a command request for correlation and returns it ready to send (id assigned).
    /// `completion` comes back with the response from [`ChannelCore::receive`].
    pub fn register_command(
        &mut self,
        mut command: Command,
        completion: P,
    ) -> Result<Command, Error> {
        if command.status != CommandStatus::Pending {
            return Err(
                CommandError::InvalidRequest("the status of a request must be pending").into()
            );
        }
        if command.id.as_deref().is_none_or(str::is_empty) {
            command.id = Some(new_id());
        }
        let id = command.id.clone().unwrap_or_default();
        if self.pending.contains_key(&id) {
            return Err(CommandError::DuplicateId(id).into());
        }
        let Envelope::Command(command) = self.prepare_send(command.into())? else {
            return Err(CommandError::InvalidRequest("not a command").into());
        };
        self.pending.insert(id, completion);
        Ok(command)
    }

    /// Forgets a pending command (after its timeout), returning its completion.
    pub fn cancel_command(&mut self, id: &str) -> Option<P> {
        self.pending.remove(id)
    }

    /// Takes every pending completion (the channel ended; fail them all).
    pub fn drain_pending(&mut self) -> Vec<(String, P)> {
        self.pending.drain().collect()
    }

    /// Marks the channel failed locally (transport lost).
    pub fn fail(&mut self) {
        if !self.state.is_terminal() {
            self.state = SessionState::Failed;
        }
    }

    /// Processes a received envelope.
    pub fn receive(&mut self, envelope: Envelope) -> Result<Inbound<P>, Error> {
        let mut out = Inbound::default();
        let mut envelope = match envelope {
            Envelope::Session(s) => {
                self.receive_session(&s)?;
                out.close = self.role == Role::Client && s.state.is_terminal();
                out.session = Some(s);
                return Ok(out);
            }
            other => other,
        };
        if !matches!(self.state, SessionState::Established | SessionState::Finishing) {
            return Err(SessionError::Protocol(format!(
                "a {} was received in the {} state; only session envelopes are allowed before established",
                envelope.kind(),
                self.state
            ))
            .into());
        }
        if self.options.fill_envelope_recipients {
            if envelope.from_node().is_none() {
                envelope.set_from(self.remote_node.clone());
            }
            if envelope.to().is_none() {
                envelope.set_to(self.local_node.clone());
            }
        }
        match envelope {
            Envelope::Command(c) => self.receive_command(c, &mut out),
            Envelope::Message(m) => {
                out.reply = self.receipt_for(&m).map(Envelope::Notification);
                out.deliver = Some(Envelope::Message(m));
            }
            other => out.deliver = Some(other),
        }
        Ok(out)
    }

    fn receive_session(&mut self, s: &Session) -> Result<(), Error> {
        match self.role {
            Role::Client => {
                if s.id.is_some() {
                    self.session_id.clone_from(&s.id);
                }
                self.state = s.state;
                if s.state == SessionState::Established {
                    self.local_node.clone_from(&s.to);
                    self.remote_node.clone_from(&s.from);
                }
                Ok(())
            }
            Role::Server => {
                // Like C# `ServerChannel.ReceiveSessionAsync`: every session envelope after
                // `new` must echo the session id, so a missing id is as wrong as another one.
                if s.state != SessionState::New && s.id != self.session_id {
                    return Err(SessionError::Protocol("Invalid session id".into()).into());
                }
                Ok(())
            }
        }
    }

    fn receive_command(&mut self, c: Command, out: &mut Inbound<P>) {
        if c.status != CommandStatus::Pending {
            if let Some(p) = c.id.as_deref().and_then(|id| self.pending.remove(id)) {
                out.response = Some((c, p));
                return;
            }
        }
        // A ping without an id is answered without one, as C# does.
        if self.options.auto_reply_pings && c.is_ping_request() && self.is_for_me(c.to.as_ref()) {
            let mut reply = Command::ping_response(&c);
            if self.role == Role::Server {
                reply.from.clone_from(&self.local_node);
                if reply.to.is_none() {
                    reply.to.clone_from(&self.remote_node);
                }
            }
            out.reply = Some(Envelope::Command(reply));
            if !self.options.deliver_answered_pings {
                return;
            }
        }
        out.deliver = Some(Envelope::Command(c));
    }

    fn is_for_me(&self, to: Option<&Node>) -> bool {
        match (to, &self.local_node) {
            (None, _) => true,
            (Some(to), Some(local)) => to.identity() == local.identity(),
            (Some(_), None) => false,
        }
    }

    fn receipt_for(&self, m: &Message) -> Option<Notification> {
        if !self.options.auto_notify_receipt {
            return None;
        }
        let id = m.id.as_deref().filter(|id| !id.is_empty())?;
        let from = m.from.as_ref()?;
        let addressed_here = match (&m.to, &self.local_node) {
            (None, _) => true,
            (Some(to), Some(local)) => {
                to == local || (to.instance().is_none() && to.identity() == local.identity())
            }
            (Some(_), None) => false,
        };
        if !addressed_here {
            return None;
        }
        let to = match self.options.receipt_target {
            ReceiptTarget::Sender => Some(m.pp.clone().unwrap_or_else(|| from.clone())),
            ReceiptTarget::MessageTo => m.to.clone(),
        };
        let mut n = Notification::new(NotificationEvent::Received).with_id(id);
        n.to = to;
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{reason::codes, Reason};

    fn env(json: &str) -> Envelope {
        json.parse().unwrap()
    }

    fn established(options: ChannelOptions) -> ChannelCore<u32> {
        let mut core = ChannelCore::new(Role::Client, options);
        let _ = core.receive(env(r#"{"id":"s1","from":"postmaster@x.com/srv","to":"me@x.com/home","state":"established"}"#)).unwrap();
        core
    }

    #[test]
    fn client_handshake_walks_the_states() {
        let mut core: ChannelCore = ChannelCore::new(Role::Client, ChannelOptions::client());
        assert!(core.negotiate_session(SessionCompression::None, SessionEncryption::None).is_err());
        let new = core.start_new_session().unwrap();
        assert_eq!(new.id, None);
        let _ = core.receive(env(r#"{"id":"s1","state":"negotiating","encryptionOptions":["none","tls"],"compressionOptions":["none"]}"#)).unwrap();
        assert_eq!(core.session_id(), Some("s1"));
        let choice =
            core.negotiate_session(SessionCompression::None, SessionEncryption::Tls).unwrap();
        assert_eq!(
            Envelope::from(choice).to_json(),
            r#"{"state":"negotiating","encryption":"tls","compression":"none","id":"s1"}"#
        );
        let _ = core
            .receive(env(r#"{"id":"s1","state":"authenticating","schemeOptions":["guest"]}"#))
            .unwrap();
        let id: Identity = "me@x.com".parse().unwrap();
        let auth = core.authenticate_session(&id, Authentication::Guest, Some("home")).unwrap();
        assert_eq!(
            Envelope::from(auth).to_json(),
            r#"{"state":"authenticating","scheme":"guest","authentication":{},"id":"s1","from":"me@x.com/home"}"#
        );
        let _ = core.receive(env(r#"{"id":"s1","from":"postmaster@x.com","to":"me@x.com/home","state":"established"}"#)).unwrap();
        assert_eq!(core.state(), SessionState::Established);
        assert_eq!(core.local_node().unwrap().to_string(), "me@x.com/home");
        let finishing = core.finishing_session().unwrap();
        assert_eq!(finishing.state, SessionState::Finishing);
        let inbound = core.receive(env(r#"{"id":"s1","state":"finished"}"#)).unwrap();
        assert!(inbound.close);
        assert!(core.prepare_send(Message::text("late").into()).is_err());
    }

    #[test]
    fn the_new_session_has_no_id_even_when_every_envelope_gets_one() {
        let mut core: ChannelCore = ChannelCore::new(
            Role::Client,
            ChannelOptions { ids: IdPolicy::All, ..ChannelOptions::client() },
        );
        assert_eq!(core.start_new_session().unwrap().id, None);
    }

    #[test]
    fn new_to_established_directly() {
        let mut core: ChannelCore = ChannelCore::new(Role::Client, ChannelOptions::client());
        core.start_new_session().unwrap();
        let _ = core.receive(env(r#"{"id":"s","to":"a@b/c","state":"established"}"#)).unwrap();
        assert_eq!(core.state(), SessionState::Established);
    }

    #[test]
    fn failed_at_any_step_closes() {
        let mut core: ChannelCore = ChannelCore::new(Role::Client, ChannelOptions::client());
        core.start_new_session().unwrap();
        let inbound =
            core.receive(env(r#"{"id":"s","state":"failed","reason":{"code":13}}"#)).unwrap();
        assert!(inbound.close);
        assert_eq!(
            inbound.session.unwrap().reason,
            Some(Reason::with_code(codes::SESSION_AUTHENTICATION_FAILED))
        );
        assert!(core.start_new_session().is_err());
    }

    #[test]
    fn send_rules_per_state() {
        let mut core: ChannelCore = ChannelCore::new(Role::Client, ChannelOptions::client());
        let err = core.prepare_send(Message::text("x").into()).unwrap_err();
        assert_eq!(err.to_string(), "cannot send a message in the new state");
        let err = core.receive(Message::text("early").into()).unwrap_err();
        assert!(err.to_string().contains("only session envelopes"), "{err}");
    }

    #[test]
    fn ids_are_assigned_to_commands_but_not_messages_or_observe() {
        let mut core = established(ChannelOptions::client());
        let Envelope::Command(c) = core
            .prepare_send(Command::request(CommandMethod::Get, "/x".parse().unwrap()).into())
            .unwrap()
        else {
            panic!()
        };
        assert!(c.id.is_some());
        let Envelope::Command(c) = core
            .prepare_send(Command::request(CommandMethod::Observe, "/x".parse().unwrap()).into())
            .unwrap()
        else {
            panic!()
        };
        assert!(c.id.is_none());
        assert!(core.prepare_send(Message::text("x").into()).unwrap().id().is_none());
        let mut all =
            established(ChannelOptions { ids: IdPolicy::All, ..ChannelOptions::client() });
        assert!(all.prepare_send(Message::text("x").into()).unwrap().id().is_some());
    }

    #[test]
    fn correlation_by_id_and_duplicates() {
        let mut core = established(ChannelOptions::client());
        let c = core
            .register_command(
                Command::request(CommandMethod::Get, "/a".parse().unwrap()).with_id("c1"),
                7,
            )
            .unwrap();
        assert_eq!(c.id.as_deref(), Some("c1"));
        let dup = core.register_command(
            Command::request(CommandMethod::Get, "/a".parse().unwrap()).with_id("c1"),
            8,
        );
        assert!(matches!(dup, Err(Error::Command(CommandError::DuplicateId(_)))));
        // a request with the same id is not a response
        let inbound = core.receive(env(r#"{"id":"c1","method":"get","uri":"/a"}"#)).unwrap();
        assert!(inbound.response.is_none() && inbound.deliver.is_some());
        let inbound = core
            .receive(env(r#"{"id":"c1","method":"get","status":"failure","reason":{"code":67}}"#))
            .unwrap();
        let (resp, p) = inbound.response.unwrap();
        assert_eq!((resp.status, p), (CommandStatus::Failure, 7));
        assert!(inbound.deliver.is_none());
        assert_eq!(core.pending_commands(), 0);
        // unknown response ids are delivered
        let inbound =
            core.receive(env(r#"{"id":"zz","method":"get","status":"success"}"#)).unwrap();
        assert!(inbound.deliver.is_some());
        assert!(core.register_command(Command::success_for(&c, None), 1).is_err());
    }

    #[test]
    fn cancel_and_drain() {
        let mut core = established(ChannelOptions::client());
        core.register_command(
            Command::request(CommandMethod::Get, "/a".parse().unwrap()).with_id("a"),
            1,
        )
        .unwrap();
        core.register_command(
            Command::request(CommandMethod::Get, "/b".parse().unwrap()).with_id("b"),
            2,
        )
        .unwrap();
        assert_eq!(core.cancel_command("a"), Some(1));
        assert_eq!(core.drain_pending(), vec![("b".to_owned(), 2)]);
    }

    #[test]
    fn ping_requests_are_answered_and_swallowed() {
        let mut core = established(ChannelOptions::client());
        let inbound = core.receive(env(r#"{"id":"p1","from":"postmaster@x.com/srv","pp":"d@x.com/y","method":"get","uri":"/ping"}"#)).unwrap();
        assert!(inbound.deliver.is_none());
        let reply = inbound.reply.unwrap();
        assert_eq!(
            reply.to_json(),
            r#"{"type":"application/vnd.lime.ping+json","resource":{},"method":"get","status":"success","id":"p1","to":"d@x.com/y"}"#
        );
        // addressed to someone else: delivered, not answered
        let inbound = core
            .receive(env(r#"{"id":"p2","to":"other@x.com","method":"get","uri":"/ping"}"#))
            .unwrap();
        assert!(inbound.reply.is_none() && inbound.deliver.is_some());
        // compatibility: answered and still delivered
        let mut compat = established(ChannelOptions {
            deliver_answered_pings: true,
            ..ChannelOptions::client()
        });
        let inbound = compat.receive(env(r#"{"id":"p3","method":"get","uri":"/ping"}"#)).unwrap();
        assert!(inbound.reply.is_some() && inbound.deliver.is_some());
    }

    #[test]
    fn a_ping_without_id_is_answered_without_id_and_a_query_is_no_ping() {
        let mut core = established(ChannelOptions::client());
        let inbound = core
            .receive(env(r#"{"from":"postmaster@x.com/srv","method":"get","uri":"/ping"}"#))
            .unwrap();
        assert!(inbound.deliver.is_none());
        let reply = inbound.reply.unwrap();
        assert_eq!(reply.id(), None);
        assert_eq!(reply.to().unwrap().to_string(), "postmaster@x.com/srv");
        let inbound = core.receive(env(r#"{"id":"q","method":"get","uri":"/ping?x=1"}"#)).unwrap();
        assert!(inbound.reply.is_none() && inbound.deliver.is_some());
    }

    #[test]
    fn receipts_go_to_pp_or_from() {
        let mut core =
            established(ChannelOptions { auto_notify_receipt: true, ..ChannelOptions::client() });
        let inbound = core.receive(env(r#"{"id":"m1","from":"bob@x.com/p","to":"me@x.com/home","type":"text/plain","content":"hi"}"#)).unwrap();
        assert_eq!(
            inbound.reply.unwrap().to_json(),
            r#"{"event":"received","id":"m1","to":"bob@x.com/p"}"#
        );
        let inbound = core.receive(env(r#"{"id":"m2","from":"bob@x.com/p","pp":"bot@x.com/q","type":"text/plain","content":"hi"}"#)).unwrap();
        assert_eq!(inbound.reply.unwrap().to().unwrap().to_string(), "bot@x.com/q");
        // no id, no from, or addressed elsewhere: no receipt
        for json in [
            r#"{"from":"bob@x.com/p","type":"text/plain","content":"hi"}"#,
            r#"{"id":"m3","type":"text/plain","content":"hi"}"#,
            r#"{"id":"m4","from":"bob@x.com/p","to":"me@x.com/other","type":"text/plain","content":"hi"}"#,
        ] {
            assert!(core.receive(env(json)).unwrap().reply.is_none(), "{json}");
        }
        let mut compat = established(ChannelOptions {
            auto_notify_receipt: true,
            receipt_target: ReceiptTarget::MessageTo,
            ..ChannelOptions::client()
        });
        let inbound = compat.receive(env(r#"{"id":"m1","from":"bob@x.com/p","to":"me@x.com/home","type":"text/plain","content":"hi"}"#)).unwrap();
        assert_eq!(inbound.reply.unwrap().to().unwrap().to_string(), "me@x.com/home");
    }

    #[test]
    fn fill_envelope_recipients() {
        let mut core = established(ChannelOptions {
            fill_envelope_recipients: true,
            ..ChannelOptions::client()
        });
        let inbound = core.receive(env(r#"{"event":"received","id":"1"}"#)).unwrap();
        let n = inbound.deliver.unwrap();
        assert_eq!(n.from_node().unwrap().to_string(), "postmaster@x.com/srv");
        assert_eq!(n.to().unwrap().to_string(), "me@x.com/home");
        let sent = core
            .prepare_send(Message::text("x").with_from("boss@x.com/a".parse().unwrap()).into())
            .unwrap();
        assert_eq!(sent.pp().unwrap().to_string(), "me@x.com/home");
    }

    #[test]
    fn server_assigns_states_and_checks_session_ids() {
        let mut core: ChannelCore = ChannelCore::new(Role::Server, ChannelOptions::server());
        core.set_session_id("sid");
        core.set_local_node("postmaster@x.com/srv".parse().unwrap());
        let _ = core.receive(env(r#"{"state":"new"}"#)).unwrap();
        let auth = core.server_session(Session::new(SessionState::Authenticating)).unwrap();
        assert_eq!(auth.id.as_deref(), Some("sid"));
        assert_eq!(core.state(), SessionState::Authenticating);
        assert!(core.receive(env(r#"{"id":"other","state":"authenticating"}"#)).is_err());
        let err = core.receive(env(r#"{"state":"authenticating"}"#)).unwrap_err();
        assert!(err.to_string().contains("Invalid session id"), "{err}");
        let est = core
            .server_session(
                Session::new(SessionState::Established).with_to("a@x.com/i".parse().unwrap()),
            )
            .unwrap();
        assert_eq!(est.from.unwrap().to_string(), "postmaster@x.com/srv");
        assert_eq!(core.remote_node().unwrap().to_string(), "a@x.com/i");
        let mut client: ChannelCore = ChannelCore::new(Role::Client, ChannelOptions::client());
        assert!(client.server_session(Session::new(SessionState::Established)).is_err());
    }
}
