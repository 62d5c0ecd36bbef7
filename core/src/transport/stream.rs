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
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// TLS, this end being the server.
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// True once TLS is applied.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }

    /// Names in the peer's verified certificate (server side with client certificates).
    pub fn peer_certificate_names(&self) -> Vec<String> {
        let certs = match self {
            Self::ServerTls(s) => s.get_ref().1.peer_certificates(),
            Self::ClientTls(s) => s.get_ref().1.peer_certificates(),
            Self::Plain(_) => None,
        };
        certs.and_then(|c| c.first()).map(|c| super::tls::certificate_names(c)).unwrap_or_default()
    }

    /// The peer's socket address.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        match self {
            Self::Plain(s) => s.peer_addr(),
            Self::ClientTls(s) => s.get_ref().0.peer_addr(),
            Self::ServerTls(s) => s.get_ref().0.peer_addr(),
        }
    }
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
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
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Splits `host:port` (or `host` with `default_port`) out of the authority of `uri` after
/// `scheme://`; IPv6 literals in brackets are supported.
pub(crate) fn host_port(
    uri: &str,
    scheme_len: usize,
    default_port: u16,
) -> Option<(String, u16, String)> {
    let rest = uri.get(scheme_len..)?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        let host = &v6[..end];
        let port = match &v6[end + 1..] {
            "" => default_port,
            p => p.strip_prefix(':')?.parse().ok()?,
        };
        (host.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), default_port),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port, if path.is_empty() { "/".to_owned() } else { path.to_owned() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        assert_eq!(
            host_port("net.tcp://a.b:1234", 10, 55321),
            Some(("a.b".into(), 1234, "/".into()))
        );
        assert_eq!(host_port("net.tcp://a.b", 10, 55321), Some(("a.b".into(), 55321, "/".into())));
        assert_eq!(host_port("ws://[::1]:80/x?y", 5, 80), Some(("::1".into(), 80, "/x?y".into())));
        assert_eq!(host_port("ws://", 5, 80), None);
        assert_eq!(host_port("ws://h:notaport", 5, 80), None);
    }
}
