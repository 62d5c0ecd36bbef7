//! The accepting side: [`WebSocketTransport::accept`] and [`WebSocketListener`].

use std::net::SocketAddr;

use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
};
#[cfg(feature = "tls")]
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::{
    accept_hdr_async_with_config,
    tungstenite::{
        handshake::server::{ErrorResponse, Request, Response},
        http::{header::SEC_WEBSOCKET_PROTOCOL, HeaderValue},
        protocol::Role,
        Error as WsError,
    },
    WebSocketStream,
};

use super::{
    framing::{handshake_error, ws_config},
    WebSocketTransport, SUBPROTOCOL,
};
use crate::{
    transport::{tls::ServerTlsConfig, MaybeTlsStream, TransportOptions, TransportResult},
    TransportError,
};

/// True when the request offers the `lime` sub-protocol (the header may be repeated and holds
/// a comma-separated list).
fn offers_lime(request: &Request) -> bool {
    request
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|protocol| protocol.trim() == SUBPROTOCOL)
}

impl WebSocketTransport {
    /// Runs the server side of a new connection: the TLS handshake when `tls` is given, then the
    /// WebSocket handshake. The `lime` sub-protocol is answered when the client offers it;
    /// clients offering none (or only others) are accepted without one.
    ///
    /// An HTTP request that is not a WebSocket upgrade is answered `400 Bad Request` and fails
    /// with [`TransportError::WebSocket`]. Run this in the connection's own task (with a
    /// timeout): a slow client must not hold up the accept loop.
    pub async fn accept(
        stream: TcpStream,
        tls: Option<&ServerTlsConfig>,
        options: TransportOptions,
    ) -> TransportResult<Self> {
        let remote = stream.peer_addr().ok();
        let peer = remote.map_or_else(|| "the client".to_owned(), |a| a.to_string());
        let _ = stream.set_nodelay(true);
        let mut stream = match tls {
            None => MaybeTlsStream::Plain(stream),
            #[cfg(not(feature = "tls"))]
            Some(_) => {
                return Err(TransportError::Unsupported(
                    "wss:// needs the `tls` feature of lime-core".into(),
                ))
            }
            #[cfg(feature = "tls")]
            Some(tls) => {
                let tls_stream =
                    TlsAcceptor::from(tls.rustls()).accept(stream).await.map_err(|e| {
                        TransportError::Tls(format!("TLS handshake with {peer} failed: {e}"))
                    })?;
                MaybeTlsStream::ServerTls(Box::new(tls_stream))
            }
        };

        // The handshake runs on a borrowed stream so that a request which is not a WebSocket
        // upgrade can still be answered 400 (tungstenite just drops it). A client must wait for
        // the response before sending frames, so no data is left behind in the handshake.
        let config = ws_config(options.max_envelope_size);
        let mut lime = false;
        // The signature is tungstenite's `Callback`.
        #[allow(clippy::result_large_err)]
        let callback =
            |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
                if offers_lime(request) {
                    response
                        .headers_mut()
                        .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
                    lime = true;
                }
                Ok(response)
            };
        let handshake = accept_hdr_async_with_config(&mut stream, callback, Some(config)).await;
        if let Err(error) = handshake {
            if matches!(
                error,
                WsError::Protocol(_)
                    | WsError::HttpFormat(_)
                    | WsError::Capacity(_)
                    | WsError::Utf8(_)
            ) {
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                    .await;
                let _ = stream.shutdown().await;
            }
            return Err(handshake_error(error, &peer));
        }
        stream.flush().await.map_err(|e| {
            TransportError::Io(format!("WebSocket handshake with {peer} failed: {e}"))
        })?;
        let ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
        let subprotocol = lime.then(|| SUBPROTOCOL.to_owned());
        tracing::debug!(%peer, ?subprotocol, "WebSocket accepted");
        Ok(Self::new(ws, options.max_envelope_size, remote, subprotocol))
    }
}

/// A TCP listener for WebSocket (`ws://` or, with TLS, `wss://`) clients.
///
/// [`accept`](Self::accept) only accepts the TCP connection; run
/// [`WebSocketTransport::accept`] with [`tls`](Self::tls) and [`options`](Self::options) in the
/// connection's own task so that a slow handshake never blocks the accept loop.
#[derive(Debug)]
pub struct WebSocketListener {
    listener: TcpListener,
    tls: Option<ServerTlsConfig>,
    options: TransportOptions,
}

impl WebSocketListener {
    /// Binds `addr` (`host:port`; port 0 picks a free one). With `tls`, connections are
    /// `wss://`.
    pub async fn bind(
        addr: &str,
        tls: Option<ServerTlsConfig>,
        options: TransportOptions,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, tls, options })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Waits for the next TCP connection; hand it to [`WebSocketTransport::accept`].
    pub async fn accept(&self) -> std::io::Result<(TcpStream, SocketAddr)> {
        self.listener.accept().await
    }

    /// The TLS settings of the connections (`None` for plain `ws://`).
    pub fn tls(&self) -> Option<&ServerTlsConfig> {
        self.tls.as_ref()
    }

    /// The transport options of the connections.
    pub fn options(&self) -> &TransportOptions {
        &self.options
    }
}
