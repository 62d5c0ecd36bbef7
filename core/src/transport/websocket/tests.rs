//! Tests of the WebSocket transport: both sides over loopback sockets, raw peers, TLS, limits.

use std::{future::Future, net::SocketAddr, time::Duration};

use bytes::Bytes;

use futures_util::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_tungstenite::{
    tungstenite::{
        client::IntoClientRequest,
        http::{header::SEC_WEBSOCKET_PROTOCOL, HeaderValue},
        protocol::frame::coding::CloseCode,
        Message as WsMessage,
    },
    WebSocketStream,
};

use super::*;
use crate::{
    transport::{
        tls::{ClientTlsConfig, ServerTlsConfig},
        Transport, TransportOptions, TransportResult,
    },
    Envelope, FrameError, Message, Session, SessionEncryption, SessionState, TransportError,
};

const LIMIT: Duration = Duration::from_secs(10);

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f).await.expect("test timed out")
}

fn options(max: usize) -> TransportOptions {
    TransportOptions { max_envelope_size: max, ..TransportOptions::default() }
}

/// A listener on 127.0.0.1 and its `ws://` URI.
async fn listener(
    tls: Option<ServerTlsConfig>,
    opts: TransportOptions,
) -> (WebSocketListener, u16) {
    let listener = WebSocketListener::bind("127.0.0.1:0", tls, opts).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Accepts one connection on `listener` in a task.
fn serve_one(
    listener: WebSocketListener,
) -> tokio::task::JoinHandle<TransportResult<WebSocketTransport>> {
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        WebSocketTransport::accept(tcp, listener.tls(), listener.options().clone()).await
    })
}

/// A connected (client, server) pair over plain `ws://`.
async fn pair(
    client: TransportOptions,
    server: TransportOptions,
) -> (WebSocketTransport, WebSocketTransport) {
    let (listener, port) = listener(None, server).await;
    let server = serve_one(listener);
    let uri = format!("ws://127.0.0.1:{port}/lime");
    let client =
        WebSocketTransport::connect(&uri, &ClientTlsConfig::default(), client).await.unwrap();
    (client, server.await.unwrap().unwrap())
}

/// A raw tokio-tungstenite client on `port`, offering `protocols` (if any).
async fn raw_client(
    port: u16,
    protocols: Option<&'static str>,
) -> (WebSocketStream<TcpStream>, tokio_tungstenite::tungstenite::handshake::client::Response) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = format!("ws://127.0.0.1:{port}/").into_client_request().unwrap();
    if let Some(p) = protocols {
        request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
    }
    tokio_tungstenite::client_async(request, tcp).await.unwrap()
}

fn text(s: impl Into<String>) -> Envelope {
    Message::text(s).into()
}

#[tokio::test]
async fn envelopes_cross_both_ways_with_the_lime_subprotocol() {
    bounded(async {
        let (mut client, mut server) =
            pair(TransportOptions::default(), TransportOptions::default()).await;
        assert_eq!(server.subprotocol(), Some("lime"));
        assert_eq!(client.subprotocol(), Some("lime"));
        assert_eq!(client.encryption(), SessionEncryption::None);
        assert_eq!(server.encryption(), SessionEncryption::None);
        assert!(client.remote_addr().unwrap().starts_with("127.0.0.1:"));
        assert!(server.remote_addr().unwrap().starts_with("127.0.0.1:"));
        assert!(server.peer_certificate_names().is_empty());

        let new: Envelope = Session::new(SessionState::New).into();
        client.send(&new).await.unwrap();
        assert_eq!(server.receive().await.unwrap(), Some(new));
        let reply = text("hello, client");
        server.send(&reply).await.unwrap();
        assert_eq!(client.receive().await.unwrap(), Some(reply));
        let unicode = text("olá, 世界 🚀");
        client.send(&unicode).await.unwrap();
        assert_eq!(server.receive().await.unwrap(), Some(unicode));
    })
    .await;
}

#[tokio::test]
async fn client_without_subprotocol_is_accepted() {
    bounded(async {
        let (listener, port) = listener(None, TransportOptions::default()).await;
        let server = serve_one(listener);
        let (mut raw, response) = raw_client(port, None).await;
        assert!(response.headers().get(SEC_WEBSOCKET_PROTOCOL).is_none());
        let mut server = server.await.unwrap().unwrap();
        assert_eq!(server.subprotocol(), None);

        let hello = text("from dart");
        raw.send(WsMessage::text(hello.to_json())).await.unwrap();
        assert_eq!(server.receive().await.unwrap(), Some(hello));
        let reply = text("to dart");
        server.send(&reply).await.unwrap();
        match raw.next().await.unwrap().unwrap() {
            WsMessage::Text(t) => {
                assert_eq!(Envelope::from_slice(t.as_bytes()).unwrap(), reply)
            }
            other => panic!("expected a text message, got {other:?}"),
        }
        server.close().await.unwrap();
        match raw.next().await.unwrap().unwrap() {
            WsMessage::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
            other => panic!("expected a close frame, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn lime_is_picked_among_offered_subprotocols() {
    bounded(async {
        let (listener, port) = listener(None, TransportOptions::default()).await;
        let server = serve_one(listener);
        let (_raw, response) = raw_client(port, Some("chat, lime")).await;
        assert_eq!(response.headers().get(SEC_WEBSOCKET_PROTOCOL).unwrap(), "lime");
        assert_eq!(server.await.unwrap().unwrap().subprotocol(), Some("lime"));
    })
    .await;
}

#[tokio::test]
async fn other_subprotocols_get_no_answer() {
    bounded(async {
        let (listener, port) = listener(None, TransportOptions::default()).await;
        let server = serve_one(listener);
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.write_all(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Protocol: chat\r\n\r\n",
        )
        .await
        .unwrap();
        let server = server.await.unwrap().unwrap();
        assert_eq!(server.subprotocol(), None);
        let mut head = vec![0; 1024];
        let n = tcp.read(&mut head).await.unwrap();
        let head = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(!head.contains("sec-websocket-protocol"), "{head}");
    })
    .await;
}

#[tokio::test]
async fn plain_http_request_is_refused_with_400() {
    bounded(async {
        let (listener, port) = listener(None, TransportOptions::default()).await;
        let server = serve_one(listener);
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        let err = server.await.unwrap().unwrap_err();
        assert!(matches!(err, TransportError::WebSocket(_)), "{err:?}");
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    })
    .await;
}

/// A listener for `localhost` with a fresh self-signed certificate, and that certificate.
async fn tls_listener() -> (WebSocketListener, u16, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = ck.cert.pem();
    let key = ck.signing_key.serialize_pem();
    let tls = ServerTlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    // Bind where `localhost` leads, preferring IPv4, so the client finds the listener.
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(("localhost", 0)).await.unwrap().collect();
    let addr = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied().unwrap();
    let listener =
        WebSocketListener::bind(&addr.to_string(), Some(tls), TransportOptions::default())
            .await
            .unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port, cert)
}

#[tokio::test]
async fn wss_with_a_trusted_certificate() {
    bounded(async {
        let (listener, port, cert) = tls_listener().await;
        let server = serve_one(listener);
        let tls = ClientTlsConfig::builder()
            .without_default_roots()
            .add_roots_pem(cert.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let uri = format!("wss://localhost:{port}");
        let mut client =
            WebSocketTransport::connect(&uri, &tls, TransportOptions::default()).await.unwrap();
        let mut server = server.await.unwrap().unwrap();

        assert_eq!(client.encryption(), SessionEncryption::Tls);
        assert_eq!(server.encryption(), SessionEncryption::Tls);
        assert_eq!(client.supported_encryption(), vec![SessionEncryption::Tls]);
        client.set_encryption(SessionEncryption::Tls).await.unwrap();
        assert!(client.set_encryption(SessionEncryption::None).await.is_err());
        assert!(client.peer_certificate_names().contains(&"localhost".to_owned()));
        assert!(server.peer_certificate_names().is_empty());
        assert_eq!(server.subprotocol(), Some("lime"));

        let new: Envelope = Session::new(SessionState::New).into();
        client.send(&new).await.unwrap();
        assert_eq!(server.receive().await.unwrap(), Some(new));
        let reply = text("secret");
        server.send(&reply).await.unwrap();
        assert_eq!(client.receive().await.unwrap(), Some(reply));
        client.close().await.unwrap();
        assert_eq!(server.receive().await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn wss_with_an_untrusted_certificate_is_a_tls_error() {
    bounded(async {
        let (listener, port, _cert) = tls_listener().await;
        let server = serve_one(listener);
        let uri = format!("wss://localhost:{port}");
        let err = WebSocketTransport::connect(
            &uri,
            &ClientTlsConfig::default(),
            TransportOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, TransportError::Tls(_)), "{err:?}");
        assert!(matches!(server.await.unwrap(), Err(TransportError::Tls(_))));
    })
    .await;
}

#[tokio::test]
async fn oversize_incoming_message_is_too_large() {
    bounded(async {
        let (listener, port) = listener(None, options(1024)).await;
        let server = serve_one(listener);
        let (mut raw, _) = raw_client(port, Some("lime")).await;
        let mut server = server.await.unwrap().unwrap();
        let big = text("x".repeat(4096)).to_json();
        raw.send(WsMessage::text(big)).await.unwrap();
        let err = server.receive().await.unwrap_err();
        assert_eq!(err, TransportError::Frame(FrameError::TooLarge { offset: 0, limit: 1024 }));
    })
    .await;
}

#[tokio::test]
async fn oversize_envelope_is_not_sent_and_the_transport_still_works() {
    bounded(async {
        let (mut client, mut server) = pair(options(1024), TransportOptions::default()).await;
        let big = text("x".repeat(4096));
        let err = client.send(&big).await.unwrap_err();
        assert!(matches!(err, TransportError::EnvelopeTooLarge { limit: 1024, .. }), "{err:?}");
        let small = text("small");
        client.send(&small).await.unwrap();
        assert_eq!(server.receive().await.unwrap(), Some(small));
    })
    .await;
}

#[tokio::test]
async fn non_utf8_payload_is_refused_and_the_transport_still_works() {
    bounded(async {
        let (mut client, mut server) =
            pair(TransportOptions::default(), TransportOptions::default()).await;
        let err = client.send_bytes(Bytes::from_static(b"{\"x\":\"\xff\"}")).await.unwrap_err();
        assert!(matches!(err, TransportError::WebSocket(_)), "{err:?}");
        let ok = text("ok");
        client.send(&ok).await.unwrap();
        assert_eq!(server.receive().await.unwrap(), Some(ok));
    })
    .await;
}

#[tokio::test]
async fn close_is_seen_by_the_peer_and_is_idempotent() {
    bounded(async {
        let (mut client, mut server) =
            pair(TransportOptions::default(), TransportOptions::default()).await;
        client.close().await.unwrap();
        client.close().await.unwrap();
        assert_eq!(server.receive().await.unwrap(), None);
        assert_eq!(server.receive().await.unwrap(), None);
        server.close().await.unwrap();
        assert_eq!(client.receive().await.unwrap(), None);
        assert_eq!(client.send(&text("late")).await.unwrap_err(), TransportError::Closed);

        // And from the server side.
        let (mut client, mut server) =
            pair(TransportOptions::default(), TransportOptions::default()).await;
        server.close().await.unwrap();
        assert_eq!(client.receive().await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn dropped_connection_ends_the_stream() {
    bounded(async {
        let (client, mut server) =
            pair(TransportOptions::default(), TransportOptions::default()).await;
        drop(client);
        assert_eq!(server.receive().await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn split_halves_work_concurrently() {
    bounded(async {
        const N: usize = 200;
        let (client, server) = pair(TransportOptions::default(), TransportOptions::default()).await;
        let (mut client_tx, mut client_rx) = (Box::new(client) as Box<dyn Transport>).split();
        let (mut server_tx, mut server_rx) = (Box::new(server) as Box<dyn Transport>).split();

        let client_send = tokio::spawn(async move {
            for i in 0..N {
                client_tx.send(&text(format!("c{i}"))).await.unwrap();
            }
            client_tx
        });
        let server_send = tokio::spawn(async move {
            for i in 0..N {
                server_tx.send(&text(format!("s{i}"))).await.unwrap();
            }
            server_tx
        });
        let server_receive = tokio::spawn(async move {
            for i in 0..N {
                assert_eq!(server_rx.receive().await.unwrap(), Some(text(format!("c{i}"))));
            }
            server_rx
        });
        for i in 0..N {
            assert_eq!(client_rx.receive().await.unwrap(), Some(text(format!("s{i}"))));
        }
        let mut client_tx = client_send.await.unwrap();
        let _server_tx = server_send.await.unwrap();
        let mut server_rx = server_receive.await.unwrap();

        client_tx.close().await.unwrap();
        client_tx.close().await.unwrap();
        assert_eq!(server_rx.receive().await.unwrap(), None);
        assert_eq!(client_tx.send(&text("late")).await.unwrap_err(), TransportError::Closed);
    })
    .await;
}

#[tokio::test]
async fn invalid_json_is_an_invalid_frame() {
    bounded(async {
        let (listener, port) = listener(None, TransportOptions::default()).await;
        let server = serve_one(listener);
        let (mut raw, _) = raw_client(port, Some("lime")).await;
        let mut server = server.await.unwrap().unwrap();
        raw.send(WsMessage::text("{not json")).await.unwrap();
        let err = server.receive().await.unwrap_err();
        assert!(
            matches!(err, TransportError::Frame(FrameError::Invalid { offset: 0, .. })),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn blank_binary_and_control_messages() {
    bounded(async {
        let (listener, port) = listener(None, TransportOptions::default()).await;
        let server = serve_one(listener);
        let (mut raw, _) = raw_client(port, None).await;
        let mut server = server.await.unwrap().unwrap();

        raw.send(WsMessage::text("")).await.unwrap();
        raw.send(WsMessage::text(" \r\n\t ")).await.unwrap();
        raw.send(WsMessage::Ping(Bytes::from_static(b"hi"))).await.unwrap();
        let first = text("after blanks");
        raw.send(WsMessage::text(first.to_json())).await.unwrap();
        let second = text("as binary");
        raw.send(WsMessage::binary(second.to_vec())).await.unwrap();
        assert_eq!(server.receive().await.unwrap(), Some(first));
        assert_eq!(server.receive().await.unwrap(), Some(second));

        // The ping was answered while the server read.
        let reply = text("done");
        server.send(&reply).await.unwrap();
        assert_eq!(raw.next().await.unwrap().unwrap(), WsMessage::Pong(Bytes::from_static(b"hi")));
        match raw.next().await.unwrap().unwrap() {
            WsMessage::Text(t) => {
                assert_eq!(Envelope::from_slice(t.as_bytes()).unwrap(), reply)
            }
            other => panic!("expected a text message, got {other:?}"),
        }

        // A close frame from the client ends the stream.
        raw.close(None).await.unwrap();
        assert_eq!(server.receive().await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn invalid_uris_are_refused() {
    bounded(async {
        let tls = ClientTlsConfig::default();
        for uri in [
            "net.tcp://localhost",
            "http://localhost",
            "ws://",
            "wss://",
            "ws://h:notaport",
            "ws:/x",
        ] {
            let err = WebSocketTransport::connect(uri, &tls, TransportOptions::default())
                .await
                .unwrap_err();
            assert_eq!(err, TransportError::InvalidUri(uri.to_owned()));
        }
    })
    .await;
}

#[tokio::test]
async fn refused_connection_is_an_io_error() {
    bounded(async {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let uri = format!("ws://127.0.0.1:{port}");
        let err = WebSocketTransport::connect(
            &uri,
            &ClientTlsConfig::default(),
            TransportOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, TransportError::Io(_)), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn large_envelopes_are_fragmented_and_reassembled() {
    let listener =
        WebSocketListener::bind("127.0.0.1:0", None, TransportOptions::default()).await.unwrap();
    let uri = format!("ws://{}", listener.local_addr().unwrap());
    let server = async {
        let (stream, _) = listener.accept().await.unwrap();
        WebSocketTransport::accept(stream, None, TransportOptions::default()).await.unwrap()
    };
    let tls = ClientTlsConfig::default();
    let (mut server, client) =
        tokio::join!(server, WebSocketTransport::connect(&uri, &tls, TransportOptions::default()));
    let mut client = client.unwrap();
    let big: Envelope = Message::text("é".repeat(300_000)).into();
    client.send(&big).await.unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), server.receive())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, Some(big));
}
