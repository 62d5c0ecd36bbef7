//! Channels: the LIME session machine with its features, over any transport.
//!
//! [`ChannelCore`] is the sans-IO implementation shared by every driver and binding;
//! [`ClientChannel`] drives it over a tokio transport.

pub mod client;
mod core;
pub(crate) mod driver;
pub(crate) mod events;
pub(crate) mod ping;
pub(crate) mod queue;

pub use self::core::{
    new_id, ChannelCore, ChannelOptions, IdPolicy, Inbound, ReceiptTarget, Role, Snapshot,
};

pub use self::client::{ChannelEvent, ClientChannel, ClientOptions, EstablishOptions};
