//! [`ChannelCore`]: the sans-IO heart of every LIME channel.
//!
//! The session state machine, send rules, id assignment, command correlation, automatic ping
//! replies and `received` receipts are implemented here once. The core never touches a
//! socket, a clock or a task: a driver hands it what arrived and what the application wants to
//! send, and carries out what it returns. Its drivers are the sans-IO
//! [`ClientConnection`](crate::ClientConnection) (which [`Client`](crate::Client) runs on tokio
//! and which the Kotlin/Swift and Dart bindings reach through `Client`), the
//! [`ClientChannel`](super::ClientChannel) over a [`Transport`](crate::transport::Transport),
//! the server's session task ([`crate::server`]) and the Python binding's own asyncio driver.
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
//!
//! The code is laid out by concern: `options` holds the settings and the values exchanged with
//! a driver, `session` the session state machine (both handshakes), `commands` the correlation
//! of command requests and responses, `pings` the automatic ping replies and `receipts` the
//! automatic `received` notifications; this file holds the channel itself and its two entry
//! points, [`ChannelCore::prepare_send`] and [`ChannelCore::receive`].

use std::collections::HashMap;

pub use self::options::{ChannelOptions, IdPolicy, Inbound, ReceiptTarget, Role, Snapshot};
use crate::{
    enums::CommandMethod, error::SessionError, Envelope, Error, Node, Session, SessionState,
};

mod commands;
mod options;
mod pings;
mod receipts;
mod session;

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
    /// The id of the last remote ping sent (see [`ChannelCore::register_remote_ping`]).
    remote_ping: Option<String>,
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
            remote_ping: None,
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
}

#[cfg(test)]
mod tests;
