//! The connecting side: [`WebSocketTransport::connect`] to a `ws://` or `wss://` URI.

#[cfg(feature = "tls")]
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
#[cfg(feature = "tls")]
use tokio_rustls::TlsConnector;
use tokio_tungstenite::{
    client_async_with_config, tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL,
};

use super::{
    framing::{client_request, handshake_error, ws_config},
    WebSocketTransport,
};
use crate::{
    transport::{tls::ClientTlsConfig, MaybeTlsStream, TransportOptions, TransportResult},
    TransportError,
};

impl WebSocketTransport {
    /// Opens a client connection to `ws://host[:port][/path]` (default port 80) or
    /// `wss://host[:port][/path]` (default port 443, TLS with `tls`, the host being the server
    /// name to verify; IP addresses work too). The `lime` sub-protocol is requested.
    ///
    /// Fails with [`TransportError::InvalidUri`] for another scheme or a malformed authority,
    /// [`TransportError::Io`] when the TCP connection fails, [`TransportError::Tls`] when the
    /// TLS handshake fails (e.g. an untrusted certificate) and [`TransportError::WebSocket`] when
    /// the server refuses the WebSocket handshake.
    pub async fn connect(
        uri: &str,
        tls: &ClientTlsConfig,
        options: TransportOptions,
    ) -> TransportResult<Self> {
        let (request, secure, host, port) = client_request(uri)?;

        let tcp = connect_tcp(&host, port).await?;
        let remote = tcp.peer_addr().ok();
        let _ = tcp.set_nodelay(true);
        let stream = if secure {
            start_tls(tls, &host, port, tcp).await?
        } else {
            MaybeTlsStream::Plain(tcp)
        };

        let config = ws_config(options.max_envelope_size);
        let (ws, response) = client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| handshake_error(e, uri))?;
        let subprotocol = response
            .headers()
            .get(SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned());
        tracing::debug!(%uri, ?subprotocol, "WebSocket connected");
        Ok(Self::new(ws, options.max_envelope_size, remote, subprotocol))
    }
}

/// The TLS layer of a `wss://` connection to `host`, which is also the name to verify.
#[cfg(feature = "tls")]
async fn start_tls(
    tls: &ClientTlsConfig,
    host: &str,
    port: u16,
    tcp: TcpStream,
) -> TransportResult<MaybeTlsStream> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| TransportError::Tls(format!("invalid TLS server name {host:?}: {e}")))?;
    let tls_stream = TlsConnector::from(tls.rustls()).connect(name, tcp).await.map_err(|e| {
        TransportError::Tls(format!("TLS handshake with {host}:{port} failed: {e}"))
    })?;
    Ok(MaybeTlsStream::ClientTls(Box::new(tls_stream)))
}

/// Without the `tls` feature a `wss://` URI is refused.
#[cfg(not(feature = "tls"))]
async fn start_tls(
    _: &ClientTlsConfig,
    _: &str,
    _: u16,
    _: TcpStream,
) -> TransportResult<MaybeTlsStream> {
    Err(TransportError::Unsupported("wss:// needs the `tls` feature of lime-core".into()))
}

/// Connects to the first address of `host` that accepts.
async fn connect_tcp(host: &str, port: u16) -> TransportResult<TcpStream> {
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| TransportError::Io(format!("cannot resolve {host}: {e}")))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(TransportError::Io(match last {
        Some(e) => format!("cannot connect to {host}:{port}: {e}"),
        None => format!("cannot connect to {host}:{port}: no address found"),
    }))
}
