//! The baselines: a raw tokio-tungstenite echo server and client, and a raw tokio TCP echo
//! server (the one of tokio's README), with no LIME in them.

use std::{future::ready, net::SocketAddr, time::Duration};

use futures_util::{StreamExt, TryStreamExt};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_tungstenite::{accept_async_with_config, client_async_with_config, WebSocketStream};

/// A listener task, stopped when dropped (its connections end with their clients).
pub(super) struct EchoServer {
    pub(super) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen() -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("no local address: {e}"))?;
    Ok((listener, addr))
}

async fn accept_loop<F, Fut>(listener: TcpListener, serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream));
            }
            Err(e) => {
                // Out of file descriptors and the like: let connections close, then go on.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// A WebSocket server that echoes every text and binary message (default tungstenite
/// settings, `forward` from the stream into the sink: writes are batched while more input is
/// ready).
pub(super) async fn ws_echo_server() -> Result<EchoServer, String> {
    let (listener, addr) = listen().await?;
    let task = tokio::spawn(accept_loop(listener, |tcp| async move {
        let _ = tcp.set_nodelay(true);
        let Ok(ws) = accept_async_with_config(tcp, None).await else { return };
        let (sink, stream) = ws.split();
        let _ = stream.try_filter(|m| ready(m.is_text() || m.is_binary())).forward(sink).await;
    }));
    Ok(EchoServer { addr, task })
}

/// The TCP echo server of tokio's README: one task per connection, a 1 KiB buffer.
pub(super) async fn echo_connection(mut socket: TcpStream) {
    let mut buf = [0; 1024];
    loop {
        let n = match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if socket.write_all(&buf[0..n]).await.is_err() {
            return;
        }
    }
}

/// A TCP echo server on 127.0.0.1 in this process.
pub(super) async fn tcp_echo_server() -> Result<EchoServer, String> {
    let (listener, addr) = listen().await?;
    let task = tokio::spawn(accept_loop(listener, |tcp| async move {
        let _ = tcp.set_nodelay(true);
        echo_connection(tcp).await;
    }));
    Ok(EchoServer { addr, task })
}

/// Runs the TCP echo accept loop on `listener` until the task is dropped.
pub(super) async fn serve_tcp_echo(listener: TcpListener) {
    accept_loop(listener, echo_connection).await;
}

/// A raw WebSocket client connection (default tungstenite settings, Nagle off as in LIME).
pub(super) async fn ws_connect(addr: SocketAddr) -> Result<WebSocketStream<TcpStream>, String> {
    let tcp =
        TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (ws, _) = client_async_with_config(format!("ws://{addr}/"), tcp, None)
        .await
        .map_err(|e| format!("WebSocket handshake with {addr} failed: {e}"))?;
    Ok(ws)
}

/// A raw TCP client connection.
pub(super) async fn tcp_connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let tcp =
        TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}
