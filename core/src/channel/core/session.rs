//! The session state machine: the envelopes of the client and server handshakes, the session
//! envelopes received, and a local failure.

use super::{ChannelCore, Role};
use crate::{
    error::SessionError, Authentication, Error, Identity, Node, Session, SessionCompression,
    SessionEncryption, SessionState,
};

impl<P> ChannelCore<P> {
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

    /// Marks the channel failed locally (transport lost).
    pub fn fail(&mut self) {
        if !self.state.is_terminal() {
            self.state = SessionState::Failed;
        }
    }

    pub(super) fn receive_session(&mut self, s: &Session) -> Result<(), Error> {
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
}
