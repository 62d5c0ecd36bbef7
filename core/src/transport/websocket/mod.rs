//! WebSocket transport (`ws://` and `wss://`), as in `Lime.Transport.WebSocket`.
//!
//! One envelope travels as one WebSocket message of UTF-8 JSON, sent as a Text message; Text and
//! Binary messages are both accepted on receipt, and empty or whitespace-only messages are
//! skipped. Clients request the sub-protocol `lime`; servers answer it when offered and also
//! accept clients that offer none (lime-dart sends none). There is no LIME-level negotiation on
//! WebSocket: TLS, if any, is the `wss://` layer, and [`Transport::encryption`] reports it.
//!
//! A message larger than [`TransportOptions::max_envelope_size`] is refused on receipt with
//! [`FrameError::TooLarge`]; buffers are kept small (4 KiB read buffer, writes go straight to
//! the socket) so that many idle connections cost little memory.
//!
//! ```no_run
//! use lime::transport::{
//!     tls::ClientTlsConfig, websocket::WebSocketTransport, Transport, TransportOptions,
//! };
//! use lime::{Session, SessionState};
//!
//! # async fn demo() -> Result<(), lime::TransportError> {
//! let tls = ClientTlsConfig::default();
//! let mut transport =
//!     WebSocketTransport::connect("wss://lime.example.com", &tls, TransportOptions::default())
//!         .await?;
//! transport.send(&Session::new(SessionState::New).into()).await?;
//! while let Some(envelope) = transport.receive().await? {
//!     println!("{}", envelope.to_json());
//! }
//! transport.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The module is laid out by side: `framing` holds what both sides and the sans-IO
//! [`ClientConnection`](crate::ClientConnection) share (message building, size limits, error
//! mapping, `ws://` URIs), `transport` the [`WebSocketTransport`] over a socket and its split
//! halves, `client` the connecting side and `server` the accepting side with
//! [`WebSocketListener`].
//!
//! [`Transport::encryption`]: super::Transport::encryption
//! [`TransportOptions::max_envelope_size`]: super::TransportOptions::max_envelope_size
//! [`FrameError::TooLarge`]: crate::FrameError::TooLarge

#[cfg(feature = "websocket")]
mod client;
mod framing;
#[cfg(feature = "websocket")]
mod server;
#[cfg(feature = "websocket")]
mod transport;

pub(crate) use self::framing::{
    client_request, envelope_from_payload, handshake_error, ws_config, ws_error, EnvelopeMessages,
};
#[cfg(feature = "websocket")]
pub use self::{server::WebSocketListener, transport::WebSocketTransport};

/// The WebSocket sub-protocol of LIME.
pub const SUBPROTOCOL: &str = "lime";

// The tests need both sides of the tokio transport (`websocket`); `cfg(test)` alone on the
// module keeps clippy's test allowances.
#[cfg(test)]
#[cfg(feature = "websocket")]
mod tests;
