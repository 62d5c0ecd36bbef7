//! The channel's settings ([`ChannelOptions`], [`Role`], [`ReceiptTarget`], [`IdPolicy`]) and
//! the values it exchanges with a driver ([`Inbound`], [`Snapshot`]).

use crate::{Command, Envelope, Node, Session, SessionState};

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

/// The assignable part of a channel's session (see [`ChannelCore::snapshot`](super::ChannelCore::snapshot)).
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
