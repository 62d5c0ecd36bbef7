//! An in-process transport pair, for tests and for hosting client and server in one process.
//!
//! Envelopes cross as canonical JSON bytes and are parsed on arrival, so the same codec runs
//! as on a socket. Each direction is a bounded queue: a sender waits when the peer is not
//! reading (back-pressure).

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{
    check_size, Transport, TransportOptions, TransportReceiver, TransportResult, TransportSender,
};
use crate::{Envelope, SessionCompression, SessionEncryption, TransportError};

/// One end of an in-memory connection.
#[derive(Debug)]
pub struct MemoryTransport {
    tx: Option<mpsc::Sender<Bytes>>,
    rx: mpsc::Receiver<Bytes>,
    max: usize,
    encryption: SessionEncryption,
    compression: SessionCompression,
    supports_tls: bool,
}

impl MemoryTransport {
    /// Two connected ends with the default options and a queue of 64 envelopes each way.
    pub fn pair() -> (Self, Self) {
        Self::pair_with(64, TransportOptions::default())
    }

    /// Two connected ends with `capacity` envelopes of buffering each way.
    pub fn pair_with(capacity: usize, options: TransportOptions) -> (Self, Self) {
        let (a_tx, b_rx) = mpsc::channel(capacity.max(1));
        let (b_tx, a_rx) = mpsc::channel(capacity.max(1));
        let end = |tx, rx| Self {
            tx: Some(tx),
            rx,
            max: options.max_envelope_size,
            encryption: SessionEncryption::None,
            compression: SessionCompression::None,
            supports_tls: false,
        };
        (end(a_tx, a_rx), end(b_tx, b_rx))
    }

    /// Makes this end report `[none, tls]` as supported encryption and accept `tls` (nothing is
    /// encrypted in memory: this lets tests exercise negotiation).
    #[must_use]
    pub fn with_simulated_tls(mut self) -> Self {
        self.supports_tls = true;
        self
    }
}

async fn send(tx: &Option<mpsc::Sender<Bytes>>, max: usize, json: Bytes) -> TransportResult<()> {
    check_size(&json, max)?;
    let tx = tx.as_ref().ok_or(TransportError::Closed)?;
    tx.send(json).await.map_err(|_| TransportError::Closed)
}

async fn receive(
    rx: &mut mpsc::Receiver<Bytes>,
    last: Option<&mut Option<Bytes>>,
) -> TransportResult<Option<Envelope>> {
    match rx.recv().await {
        None => Ok(None),
        Some(bytes) => {
            let envelope = Envelope::from_slice(&bytes).map_err(|error| {
                TransportError::Frame(crate::FrameError::Invalid { offset: 0, error })
            })?;
            if let Some(last) = last {
                *last = Some(bytes);
            }
            Ok(Some(envelope))
        }
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn send_bytes(&mut self, json: Bytes) -> TransportResult<()> {
        send(&self.tx, self.max, json).await
    }

    async fn receive(&mut self) -> TransportResult<Option<Envelope>> {
        receive(&mut self.rx, None).await
    }

    async fn close(&mut self) -> TransportResult<()> {
        self.tx = None;
        self.rx.close();
        Ok(())
    }

    fn supported_encryption(&self) -> Vec<SessionEncryption> {
        if self.supports_tls {
            vec![SessionEncryption::None, SessionEncryption::Tls]
        } else {
            vec![SessionEncryption::None]
        }
    }

    fn encryption(&self) -> SessionEncryption {
        self.encryption
    }

    fn compression(&self) -> SessionCompression {
        self.compression
    }

    async fn set_encryption(&mut self, encryption: SessionEncryption) -> TransportResult<()> {
        if self.supported_encryption().contains(&encryption) {
            self.encryption = encryption;
            Ok(())
        } else {
            Err(TransportError::Unsupported(format!("encryption {encryption}")))
        }
    }

    fn remote_addr(&self) -> Option<String> {
        Some("memory".into())
    }

    fn split(self: Box<Self>) -> (Box<dyn TransportSender>, Box<dyn TransportReceiver>) {
        let me = *self;
        (
            Box::new(MemorySender { tx: me.tx, max: me.max }),
            Box::new(MemoryReceiver { rx: me.rx, last: None }),
        )
    }
}

struct MemorySender {
    tx: Option<mpsc::Sender<Bytes>>,
    max: usize,
}

#[async_trait]
impl TransportSender for MemorySender {
    async fn send_bytes(&mut self, json: Bytes) -> TransportResult<()> {
        send(&self.tx, self.max, json).await
    }

    async fn close(&mut self) -> TransportResult<()> {
        self.tx = None;
        Ok(())
    }
}

struct MemoryReceiver {
    rx: mpsc::Receiver<Bytes>,
    last: Option<Bytes>,
}

#[async_trait]
impl TransportReceiver for MemoryReceiver {
    async fn receive(&mut self) -> TransportResult<Option<Envelope>> {
        self.last = None;
        receive(&mut self.rx, Some(&mut self.last)).await
    }

    fn take_received_bytes(&mut self) -> Option<Bytes> {
        self.last.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, Session, SessionState};

    #[tokio::test]
    async fn envelopes_cross_and_close_is_seen() {
        let (mut a, mut b) = MemoryTransport::pair();
        a.send(&Session::new(SessionState::New).into()).await.unwrap();
        assert_eq!(b.receive().await.unwrap(), Some(Session::new(SessionState::New).into()));
        a.close().await.unwrap();
        assert_eq!(b.receive().await.unwrap(), None);
    }

    #[tokio::test]
    async fn oversize_is_refused_without_closing() {
        let (mut a, mut b) = MemoryTransport::pair_with(
            4,
            TransportOptions { max_envelope_size: 40, ..TransportOptions::default() },
        );
        let big: Envelope = Message::text("x".repeat(100)).into();
        assert!(matches!(a.send(&big).await, Err(TransportError::EnvelopeTooLarge { .. })));
        let small: Envelope = Message::text("ok").into();
        a.send(&small).await.unwrap();
        assert_eq!(b.receive().await.unwrap(), Some(small));
    }
}
