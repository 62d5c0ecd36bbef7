//! Automatic ping replies: a `get /ping` request addressed to this end is answered at once.

use super::{ChannelCore, Role};
use crate::{Command, Node};

impl<P> ChannelCore<P> {
    /// The reply to `c` when it is a ping request addressed here and pings are answered
    /// automatically. A ping without an id is answered without one, as C# does.
    pub(super) fn ping_reply(&self, c: &Command) -> Option<Command> {
        if !(self.options.auto_reply_pings && c.is_ping_request() && self.is_for_me(c.to.as_ref()))
        {
            return None;
        }
        let mut reply = Command::ping_response(c);
        if self.role == Role::Server {
            reply.from.clone_from(&self.local_node);
            if reply.to.is_none() {
                reply.to.clone_from(&self.remote_node);
            }
        }
        Some(reply)
    }

    fn is_for_me(&self, to: Option<&Node>) -> bool {
        match (to, &self.local_node) {
            (None, _) => true,
            (Some(to), Some(local)) => to.identity() == local.identity(),
            (Some(_), None) => false,
        }
    }
}
