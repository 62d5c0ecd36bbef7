//! A TCP stream that may have been upgraded to TLS, as one `AsyncRead + AsyncWrite` type.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// A plain or TLS (client or server side) TCP stream.
#[derive(Debug)]
pub enum MaybeTlsStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS, this end being the client.
    #[cfg(feature = "tls")]
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// TLS, this end being the server.
    #[cfg(feature = "tls")]
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// True once TLS is applied.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }

    /// Names in the peer's verified certificate (server side with client certificates).
    pub fn peer_certificate_names(&self) -> Vec<String> {
        match self {
            Self::Plain(_) => Vec::new(),
            #[cfg(feature = "tls")]
            Self::ServerTls(s) => first_certificate_names(s.get_ref().1.peer_certificates()),
            #[cfg(feature = "tls")]
            Self::ClientTls(s) => first_certificate_names(s.get_ref().1.peer_certificates()),
        }
    }

    /// The peer's socket address.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        match self {
            Self::Plain(s) => s.peer_addr(),
            #[cfg(feature = "tls")]
            Self::ClientTls(s) => s.get_ref().0.peer_addr(),
            #[cfg(feature = "tls")]
            Self::ServerTls(s) => s.get_ref().0.peer_addr(),
        }
    }
}

/// The names in the first (the peer's own) certificate of a chain.
#[cfg(feature = "tls")]
fn first_certificate_names(certs: Option<&[rustls_pki_types::CertificateDer<'_>]>) -> Vec<String> {
    certs.and_then(|c| c.first()).map(|c| super::tls::certificate_names(c)).unwrap_or_default()
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(feature = "tls")]
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
