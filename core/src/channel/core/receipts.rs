//! Automatic `received` receipts for the messages addressed to this end.

use super::{ChannelCore, ReceiptTarget};
use crate::{enums::NotificationEvent, Message, Notification};

impl<P> ChannelCore<P> {
    pub(super) fn receipt_for(&self, m: &Message) -> Option<Notification> {
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
