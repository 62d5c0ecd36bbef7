//! Command correlation: requests registered with a completion value, matched with their
//! response by id, cancelled or drained when the channel ends.

use super::{new_id, ChannelCore, Inbound};
use crate::{enums::CommandStatus, error::CommandError, Command, Envelope, Error};

impl<P> ChannelCore<P> {
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

    /// Registers the channel's own remote ping, as [`register_command`](Self::register_command)
    /// registers a `get /ping` request, and forgets the previous one if it is still unanswered.
    /// A peer that answers no ping but keeps the session alive with other traffic (so the idle
    /// timeout never ends it) would otherwise add one pending entry per interval, for as long
    /// as the session lasts.
    pub fn register_remote_ping(&mut self, completion: P) -> Result<Command, Error> {
        if let Some(previous) = self.remote_ping.take() {
            self.pending.remove(&previous);
        }
        let ping = self.register_command(Command::ping_request(), completion)?;
        self.remote_ping = ping.id.clone();
        Ok(ping)
    }

    /// Forgets a pending command (after its timeout), returning its completion.
    pub fn cancel_command(&mut self, id: &str) -> Option<P> {
        self.pending.remove(id)
    }

    /// Takes every pending completion (the channel ended; fail them all).
    pub fn drain_pending(&mut self) -> Vec<(String, P)> {
        self.pending.drain().collect()
    }

    pub(super) fn receive_command(&mut self, c: Command, out: &mut Inbound<P>) {
        if c.status != CommandStatus::Pending {
            if let Some(p) = c.id.as_deref().and_then(|id| self.pending.remove(id)) {
                out.response = Some((c, p));
                return;
            }
        }
        if let Some(reply) = self.ping_reply(&c) {
            out.reply = Some(Envelope::Command(reply));
            if !self.options.deliver_answered_pings {
                return;
            }
        }
        out.deliver = Some(Envelope::Command(c));
    }
}
