//! Transports: how envelopes travel between two nodes.
//!
//! A [`Transport`] is object-safe (`Box<dyn Transport>`), so channels work the same over TCP
//! ([`tcp`], with the in-band TLS upgrade), WebSocket ([`websocket`]) and the in-process
//! [`memory`] pair, and foreign code can bring its own. Before a session is established a
//! channel uses the transport as a whole (the TLS upgrade happens on it); afterwards it
//! [`split`](Transport::split)s it so reading and writing proceed independently.
//!
//! `receive` returns `Ok(None)` when the peer closed the connection cleanly (as in
//! mini-redis); every other failure is a [`TransportError`].

pub(crate) mod address;
pub mod memory;
#[cfg(feature = "websocket")]
pub(crate) mod stream;
#[cfg(feature = "tcp")]
pub mod tcp;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(not(feature = "tls"))]
#[path = "no_tls.rs"]
pub mod tls;
pub mod websocket;

use async_trait::async_trait;
use bytes::Bytes;

#[cfg(feature = "websocket")]
pub use self::stream::MaybeTlsStream;
pub use crate::envelope::{Received, RoutableMessage};
pub use crate::error::TransportError;
use crate::{Envelope, SessionCompression, SessionEncryption, DEFAULT_MAX_ENVELOPE_SIZE};

/// Result of transport operations.
pub type TransportResult<T> = Result<T, TransportError>;

/// A bidirectional envelope transport.
#[async_trait]
pub trait Transport: Send {
    /// Sends one serialized envelope (canonical JSON). Fails without closing the transport when
    /// it is larger than the maximum envelope size.
    async fn send_bytes(&mut self, json: Bytes) -> TransportResult<()>;

    /// Receives the next envelope; `Ok(None)` when the peer closed the connection.
    async fn receive(&mut self) -> TransportResult<Option<Envelope>>;

    /// Closes the connection (idempotent).
    async fn close(&mut self) -> TransportResult<()>;

    /// Serializes and sends one envelope.
    async fn send(&mut self, envelope: &Envelope) -> TransportResult<()> {
        self.send_bytes(Bytes::from(envelope.to_vec())).await
    }

    /// Sends several serialized envelopes, draining `batch` (see
    /// [`TransportSender::send_many`]).
    async fn send_many(&mut self, batch: &mut Vec<Bytes>) -> TransportResult<()> {
        let mut result = Ok(());
        for json in batch.drain(..) {
            match self.send_bytes(json).await {
                Err(e @ TransportError::EnvelopeTooLarge { .. }) => result = Err(e),
                other => other?,
            }
        }
        result
    }

    /// The WebSocket subprotocol agreed with the peer, if any.
    fn subprotocol(&self) -> Option<String> {
        None
    }

    /// Encryption options this transport can apply (`[none]` unless it can upgrade to TLS).
    fn supported_encryption(&self) -> Vec<SessionEncryption> {
        vec![SessionEncryption::None]
    }

    /// Compression options this transport can apply.
    fn supported_compression(&self) -> Vec<SessionCompression> {
        vec![SessionCompression::None]
    }

    /// The encryption currently applied.
    fn encryption(&self) -> SessionEncryption {
        SessionEncryption::None
    }

    /// The compression currently applied.
    fn compression(&self) -> SessionCompression {
        SessionCompression::None
    }

    /// Applies an encryption option (for TCP: the TLS handshake on the same socket).
    async fn set_encryption(&mut self, encryption: SessionEncryption) -> TransportResult<()> {
        match encryption {
            SessionEncryption::None => Ok(()),
            other => Err(TransportError::Unsupported(format!("encryption {other}"))),
        }
    }

    /// Applies a compression option.
    async fn set_compression(&mut self, compression: SessionCompression) -> TransportResult<()> {
        match compression {
            SessionCompression::None => Ok(()),
            other => Err(TransportError::Unsupported(format!("compression {other}"))),
        }
    }

    /// DNS names and common name of the peer's verified TLS client certificate, used by
    /// `transport` authentication. Empty without one.
    fn peer_certificate_names(&self) -> Vec<String> {
        Vec::new()
    }

    /// The peer's address, for logs.
    fn remote_addr(&self) -> Option<String> {
        None
    }

    /// Splits into independent halves for concurrent reading and writing.
    fn split(self: Box<Self>) -> (Box<dyn TransportSender>, Box<dyn TransportReceiver>);
}

/// The sending half of a split transport.
#[async_trait]
pub trait TransportSender: Send {
    /// Sends one serialized envelope; see [`Transport::send_bytes`].
    async fn send_bytes(&mut self, json: Bytes) -> TransportResult<()>;

    /// Sends several serialized envelopes, draining `batch`; transports that can write them
    /// in one go (TCP) override this. An oversized envelope is skipped and reported after the
    /// others are sent.
    async fn send_many(&mut self, batch: &mut Vec<Bytes>) -> TransportResult<()> {
        let mut result = Ok(());
        for json in batch.drain(..) {
            match self.send_bytes(json).await {
                Err(e @ TransportError::EnvelopeTooLarge { .. }) => result = Err(e),
                other => other?,
            }
        }
        result
    }

    /// Closes the connection.
    async fn close(&mut self) -> TransportResult<()>;

    /// Serializes and sends one envelope.
    async fn send(&mut self, envelope: &Envelope) -> TransportResult<()> {
        self.send_bytes(Bytes::from(envelope.to_vec())).await
    }
}

/// The receiving half of a split transport.
#[async_trait]
pub trait TransportReceiver: Send {
    /// Receives the next envelope; `Ok(None)` when the peer closed the connection.
    async fn receive(&mut self) -> TransportResult<Option<Envelope>>;

    /// The bytes of the envelope the last [`receive`](Self::receive) returned, exactly as they
    /// arrived, if this transport kept them (TCP, WebSocket and memory do); taken once. The
    /// server forwards these bytes, editing only the header fields it must, so content and
    /// unknown fields reach the recipient unchanged.
    fn take_received_bytes(&mut self) -> Option<Bytes> {
        None
    }

    /// Receives the next envelope for forwarding: a message read only as far as routing needs
    /// ([`Received::Message`], with its bytes as received), any other envelope in full. It
    /// accepts and refuses exactly what [`receive`](Self::receive) does. The default receives
    /// in full; the WebSocket and TCP transports skip building the content of messages, which
    /// a server forwards without looking inside.
    async fn receive_routable(&mut self) -> TransportResult<Option<Received>> {
        Ok(self.receive().await?.map(Received::Envelope))
    }
}

/// Options shared by the transports.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    /// Largest envelope accepted or sent, in bytes (default 8 MiB).
    pub max_envelope_size: usize,
    /// Offer and accept `gzip` compression (TCP only; off by default: no other LIME
    /// implementation supports it).
    pub enable_gzip: bool,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self { max_envelope_size: DEFAULT_MAX_ENVELOPE_SIZE, enable_gzip: false }
    }
}

/// A received envelope in full (a reader that is not `routable` returns only those).
pub(crate) fn whole(
    received: TransportResult<Option<Received>>,
) -> TransportResult<Option<Envelope>> {
    match received? {
        None => Ok(None),
        Some(Received::Envelope(envelope)) => Ok(Some(envelope)),
        Some(Received::Message(message)) => message
            .into_envelope()
            .map(|(envelope, _)| Some(envelope))
            .map_err(|error| crate::FrameError::Invalid { offset: 0, error }.into()),
    }
}

pub(crate) fn check_size(json: &Bytes, limit: usize) -> TransportResult<()> {
    if json.len() > limit {
        return Err(TransportError::EnvelopeTooLarge { size: json.len(), limit });
    }
    Ok(())
}

/// Opens a client transport for `uri`: `net.tcp://host[:port]` (default port 55321),
/// `ws://…` or `wss://…`.
pub async fn connect(uri: &str, tls: &tls::ClientTlsConfig) -> TransportResult<Box<dyn Transport>> {
    connect_with(uri, tls, TransportOptions::default()).await
}

/// [`connect`] with explicit options.
pub async fn connect_with(
    uri: &str,
    tls: &tls::ClientTlsConfig,
    options: TransportOptions,
) -> TransportResult<Box<dyn Transport>> {
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("net.tcp://") {
        #[cfg(feature = "tcp")]
        return Ok(Box::new(tcp::TcpTransport::connect(uri, tls.clone(), options).await?));
        #[cfg(not(feature = "tcp"))]
        return Err(without_feature("net.tcp://", "tcp"));
    }
    if lower.starts_with("ws://") || lower.starts_with("wss://") {
        #[cfg(feature = "websocket")]
        return Ok(Box::new(websocket::WebSocketTransport::connect(uri, tls, options).await?));
        #[cfg(not(feature = "websocket"))]
        return Err(without_feature("ws:// and wss://", "websocket"));
    }
    let _ = (tls, options);
    Err(TransportError::InvalidUri(uri.to_owned()))
}

/// The error for a URI whose transport is compiled out.
#[cfg(not(all(feature = "tcp", feature = "websocket")))]
fn without_feature(what: &str, feature: &str) -> TransportError {
    TransportError::Unsupported(format!(
        "{what} transports need the `{feature}` feature of lime-core"
    ))
}
