//! The sans-IO client connection driven over byte pipes: against the real server of this crate
//! (a TCP socket whose bytes the test shuttles), and against scripted bytes in memory.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use lime::{
    channel::{ChannelOptions, ClientOptions, EstablishOptions},
    connection::{ClientConnection, Event},
    server::ServerConfig,
    transport::{tls::ClientTlsConfig, TransportOptions},
    Authentication, Command, CommandMethod, CommandStatus, Envelope, Error, FrameError, Message,
    NotificationEvent, SessionCompression, SessionEncryption, SessionError, SessionState,
    TransportError,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

const T: Duration = Duration::from_secs(10);

// ----- the real server -----------------------------------------------------------------------

use lime_test_support::{certs, client_tls, identity, start, tcp_uri, ws_uri, Certs};

/// The shared test server, with gzip offered, and TLS on WebSocket too when `wss`.
fn server_config(certs: Option<&Certs>, wss: bool) -> ServerConfig {
    ServerConfig {
        wss,
        transport: TransportOptions { enable_gzip: true, ..TransportOptions::default() },
        ..lime_test_support::server_config(certs)
    }
}

/// A connection and its socket; the test moves the bytes, `chunk` bytes per `receive` call.
struct Pipe {
    conn: ClientConnection,
    sock: TcpStream,
    chunk: usize,
}

impl Pipe {
    async fn open(uri: &str, tls: ClientTlsConfig, options: ClientOptions, chunk: usize) -> Self {
        let conn = ClientConnection::connect(uri, tls, options).unwrap();
        let sock = timeout(T, TcpStream::connect((conn.host(), conn.port())))
            .await
            .expect("connect timed out")
            .unwrap();
        sock.set_nodelay(true).unwrap();
        let mut pipe = Self { conn, sock, chunk };
        pipe.flush().await;
        pipe
    }

    async fn flush(&mut self) {
        let out = self.conn.take_output();
        if !out.is_empty() {
            self.sock.write_all(&out).await.unwrap();
        }
    }

    /// Reads once from the socket and hands the bytes over; false at EOF.
    async fn pump(&mut self) -> bool {
        let mut buf = vec![0u8; 64 * 1024];
        let n = timeout(T, self.sock.read(&mut buf)).await.expect("read timed out").unwrap();
        if n == 0 {
            let _ = self.conn.receive_eof();
            return false;
        }
        for piece in buf[..n].chunks(self.chunk) {
            if self.conn.receive(piece).is_err() {
                break;
            }
        }
        true
    }

    /// The first event matching `wanted`; earlier ones are returned in `skipped`.
    async fn until(&mut self, wanted: impl Fn(&Event) -> bool) -> (Event, Vec<Event>) {
        let mut skipped = Vec::new();
        timeout(T, async {
            loop {
                self.flush().await;
                while let Some(event) = self.conn.poll_event() {
                    if wanted(&event) {
                        return (event, skipped);
                    }
                    skipped.push(event);
                }
                assert!(!self.conn.is_closed(), "closed before the event came: {skipped:?}");
                if !self.pump().await {
                    assert!(!self.conn.is_closed() || self.conn.poll_event().is_some());
                }
            }
        })
        .await
        .expect("the event did not come in time")
    }

    async fn establish(&mut self, name: &str, options: EstablishOptions) -> lime::Session {
        let _ = name;
        self.conn.establish(options).unwrap();
        let (event, _) = self
            .until(|e| {
                matches!(e, Event::Session(s) if s.state == SessionState::Established)
                    || matches!(e, Event::Closed { .. })
            })
            .await;
        match event {
            Event::Session(s) => s,
            other => panic!("not established: {other:?}"),
        }
    }

    async fn guest(&mut self, name: &str) -> lime::Session {
        self.establish(name, EstablishOptions::new(identity(name), "home", Authentication::Guest))
            .await
    }

    async fn ping(&mut self) -> Command {
        let token = self
            .conn
            .send_command(Command::request(CommandMethod::Get, "/ping".parse().unwrap()), Some(T))
            .unwrap();
        let (event, _) = self
            .until(|e| matches!(e, Event::CommandResponse { token: t, .. } if *t == token))
            .await;
        let Event::CommandResponse { response, .. } = event else { unreachable!() };
        response
    }
}

fn is_ping_response(c: &Command) -> bool {
    c.status == CommandStatus::Success
        && c.resource
            .as_ref()
            .is_some_and(|d| d.media_type().as_str() == "application/vnd.lime.ping+json")
}

fn receipts() -> ClientOptions {
    ClientOptions {
        channel: ChannelOptions { auto_notify_receipt: true, ..ChannelOptions::client() },
        ..ClientOptions::default()
    }
}

/// Alice sends a message to Bob (whose connection answers `received` by itself), and a
/// `get /ping` goes to the server and back.
async fn session_round_trip(alice: &mut Pipe, bob: &mut Pipe) {
    let pong = alice.ping().await;
    assert!(is_ping_response(&pong), "{pong:?}");
    let to = bob.conn.local_node().unwrap().clone();
    let text = "hello {\"} ".repeat(50);
    alice.conn.send_message(Message::text(text.clone()).with_id("m1").with_to(to)).unwrap();
    alice.flush().await;
    let (event, _) = bob.until(|e| matches!(e, Event::Message(_))).await;
    let Event::Message(m) = event else { unreachable!() };
    assert_eq!(m.id.as_deref(), Some("m1"));
    assert_eq!(m.content.as_ref().and_then(|d| d.as_text()).map(str::to_owned), Some(text));
    // The receipt was written while the message was handled; the test only sends it.
    bob.flush().await;
    let (event, _) = alice.until(|e| matches!(e, Event::Notification(_))).await;
    let Event::Notification(n) = event else { unreachable!() };
    assert_eq!((n.id.as_deref(), n.event), (Some("m1"), NotificationEvent::Received));
}

/// Bob sends Alice an envelope many times tungstenite's read size of the in-memory stream (1
/// KiB), then a small one: both arrive whole and in order.
async fn large_message_arrives(alice: &mut Pipe, bob: &mut Pipe) {
    let to = alice.conn.local_node().unwrap().clone();
    let text: String = (0..20_000).map(|i| format!("{i:05} ")).collect();
    bob.conn.send_message(Message::text(text.clone()).with_id("big").with_to(to.clone())).unwrap();
    bob.conn.send_message(Message::text("after").with_id("small").with_to(to)).unwrap();
    bob.flush().await;
    for (id, body) in [("big", text.as_str()), ("small", "after")] {
        let (event, _) = alice.until(|e| matches!(e, Event::Message(_))).await;
        let Event::Message(m) = event else { unreachable!() };
        assert_eq!(m.id.as_deref(), Some(id));
        assert_eq!(m.content.as_ref().and_then(|d| d.as_text()), Some(body));
    }
}

async fn finish(pipe: &mut Pipe) {
    pipe.conn.send_finishing_session().unwrap();
    let (event, _) = pipe.until(|e| matches!(e, Event::Closed { .. })).await;
    assert!(matches!(event, Event::Closed { error: None }), "{event:?}");
    assert_eq!(pipe.conn.state(), SessionState::Finished);
}

#[tokio::test]
async fn tcp_guest_session_ping_message_and_receipt() {
    let server = start(server_config(None, false)).await;
    let uri = tcp_uri(&server);
    let mut alice = Pipe::open(&uri, ClientTlsConfig::default(), receipts(), 64 * 1024).await;
    let mut bob = Pipe::open(&uri, ClientTlsConfig::default(), receipts(), 64 * 1024).await;
    let established = alice.guest("alice").await;
    assert_eq!(established.to.unwrap().to_string(), "alice@localhost/home");
    bob.guest("bob").await;
    // The server offers none/gzip; the default choice is its first option.
    assert_eq!(alice.conn.compression(), SessionCompression::None);
    session_round_trip(&mut alice, &mut bob).await;
    finish(&mut alice).await;
    assert!(matches!(alice.conn.send_message(Message::text("late")), Err(Error::Closed)));
    server.shutdown().await;
}

async fn tcp_with(compression: SessionCompression, encryption: SessionEncryption, chunk: usize) {
    let certs = certs();
    let server = start(server_config(Some(&certs), false)).await;
    let uri = tcp_uri(&server);
    let mut alice = Pipe::open(&uri, client_tls(&certs), receipts(), chunk).await;
    let mut bob = Pipe::open(&uri, client_tls(&certs), receipts(), chunk).await;
    let options = |name| {
        EstablishOptions::new(identity(name), "home", Authentication::Guest)
            .negotiate(compression, encryption)
    };
    alice.establish("alice", options("alice")).await;
    bob.establish("bob", options("bob")).await;
    for pipe in [&alice, &bob] {
        assert_eq!(pipe.conn.encryption(), encryption);
        assert_eq!(pipe.conn.compression(), compression);
    }
    session_round_trip(&mut alice, &mut bob).await;
    session_round_trip(&mut bob, &mut alice).await;
    finish(&mut bob).await;
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_tls_upgrade() {
    tcp_with(SessionCompression::None, SessionEncryption::Tls, usize::MAX).await;
}

#[tokio::test]
async fn tcp_gzip() {
    tcp_with(SessionCompression::Gzip, SessionEncryption::None, usize::MAX).await;
}

#[tokio::test]
async fn tcp_tls_and_gzip() {
    tcp_with(SessionCompression::Gzip, SessionEncryption::Tls, usize::MAX).await;
}

#[tokio::test]
async fn tcp_tls_and_gzip_in_tiny_pieces() {
    tcp_with(SessionCompression::Gzip, SessionEncryption::Tls, 3).await;
}

#[tokio::test]
async fn tcp_untrusted_certificate_is_a_tls_error() {
    let certs = certs();
    let server = start(server_config(Some(&certs), false)).await;
    let mut pipe =
        Pipe::open(&tcp_uri(&server), ClientTlsConfig::default(), ClientOptions::default(), 4096)
            .await;
    pipe.conn
        .establish(
            EstablishOptions::new(identity("eve"), "x", Authentication::Guest)
                .negotiate(SessionCompression::None, SessionEncryption::Tls),
        )
        .unwrap();
    let (event, _) = pipe.until(|e| matches!(e, Event::Closed { .. })).await;
    assert!(
        matches!(event, Event::Closed { error: Some(Error::Transport(TransportError::Tls(_))) }),
        "{event:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn wss_with_an_untrusted_certificate_is_a_tls_error() {
    let certs = certs();
    let server = start(server_config(Some(&certs), true)).await;
    let mut pipe = Pipe::open(
        &ws_uri(&server, true),
        ClientTlsConfig::default(),
        ClientOptions::default(),
        4096,
    )
    .await;
    pipe.conn.start_new_session().unwrap();
    let (event, _) = pipe.until(|e| matches!(e, Event::Closed { .. })).await;
    assert!(
        matches!(event, Event::Closed { error: Some(Error::Transport(TransportError::Tls(_))) }),
        "{event:?}"
    );
    server.shutdown().await;
}

async fn websocket_with(secure: bool, chunk: usize) {
    let certs = certs();
    let server = start(server_config(Some(&certs), secure)).await;
    let mut alice =
        Pipe::open(&ws_uri(&server, secure), client_tls(&certs), receipts(), chunk).await;
    // Bob on TCP: the server routes between transports.
    let mut bob = Pipe::open(&tcp_uri(&server), client_tls(&certs), receipts(), 64 * 1024).await;
    alice.guest("alice").await;
    assert_eq!(alice.conn.subprotocol(), Some("lime"));
    let expected = if secure { SessionEncryption::Tls } else { SessionEncryption::None };
    assert_eq!(alice.conn.encryption(), expected);
    bob.guest("bob").await;
    session_round_trip(&mut alice, &mut bob).await;
    session_round_trip(&mut bob, &mut alice).await;
    large_message_arrives(&mut alice, &mut bob).await;
    finish(&mut alice).await;
    server.shutdown().await;
}

#[tokio::test]
async fn websocket_guest_session() {
    websocket_with(false, 64 * 1024).await;
}

#[tokio::test]
async fn secure_websocket_guest_session() {
    websocket_with(true, 64 * 1024).await;
}

/// tungstenite refuses an opening handshake that arrives in many tiny reads; the connection
/// gathers the response first, so a byte-by-byte network still works.
#[tokio::test]
async fn websocket_handshake_arriving_byte_by_byte() {
    websocket_with(false, 1).await;
}

#[tokio::test]
async fn secure_websocket_in_tiny_pieces() {
    websocket_with(true, 2).await;
}

async fn server_ping_answered(websocket: bool) {
    let config = ServerConfig {
        remote_ping_interval: Some(Duration::from_millis(50)),
        remote_idle_timeout: Some(Duration::from_secs(5)),
        ..server_config(None, false)
    };
    let server = start(config).await;
    // Delivering answered pings too lets the test see which request the reply is for.
    let options = ClientOptions {
        channel: ChannelOptions { deliver_answered_pings: true, ..ChannelOptions::client() },
        ..ClientOptions::default()
    };
    let uri = if websocket { ws_uri(&server, false) } else { tcp_uri(&server) };
    let mut pipe = Pipe::open(&uri, ClientTlsConfig::default(), options, 4096).await;
    pipe.guest("polite").await;
    pipe.flush().await;
    let request = timeout(T, async {
        loop {
            assert!(pipe.pump().await, "the server closed the connection");
            while let Some(event) = pipe.conn.poll_event() {
                if let Event::Command(c) = event {
                    return c;
                }
            }
            // Nothing else was written: the host writes what the input produced.
            pipe.flush().await;
        }
    })
    .await
    .expect("no ping from the server");
    assert!(request.is_ping_request());
    // The reply is already in the output, before the host did anything else.
    let output = pipe.conn.pending_output().to_vec();
    if websocket {
        // One masked client text frame around the JSON reply (RFC 6455 5.2).
        assert_eq!(output[0], 0x81, "a final text frame");
        let (len, header) = match output[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([output[2], output[3]])), 4),
            127 => panic!("a ping reply is not that long"),
            short => (usize::from(short), 2),
        };
        assert_eq!(output.len(), header + 4 + len);
        let mask = &output[header..header + 4];
        let json: Vec<u8> =
            output[header + 4..].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        let Envelope::Command(reply) = Envelope::from_slice(&json).unwrap() else { panic!() };
        assert_eq!(reply.id, request.id);
        assert!(is_ping_response(&reply), "{reply:?}");
    } else {
        let reply: Envelope = std::str::from_utf8(&output).unwrap().parse().unwrap();
        let Envelope::Command(reply) = reply else { panic!("{reply:?}") };
        assert_eq!(reply.id, request.id);
        assert!(is_ping_response(&reply), "{reply:?}");
    }
    // The session carries on.
    assert!(is_ping_response(&pipe.ping().await));
    server.shutdown().await;
}

#[tokio::test]
async fn a_ping_from_the_server_is_answered_within_the_same_receive() {
    server_ping_answered(false).await;
}

#[tokio::test]
async fn a_ping_from_the_server_over_websocket_is_answered_within_the_same_receive() {
    server_ping_answered(true).await;
}

// ----- in memory -----------------------------------------------------------------------------

const ESTABLISHED: &str = r#"{"id":"s1","from":"postmaster@localhost/server","to":"me@localhost/home","state":"established"}"#;

/// A manual clock.
fn clock() -> (Arc<Mutex<Instant>>, lime::connection::Clock) {
    let now = Arc::new(Mutex::new(Instant::now()));
    let read = now.clone();
    (now, Arc::new(move || *read.lock().unwrap()))
}

fn tcp(options: ClientOptions) -> ClientConnection {
    ClientConnection::connect("net.tcp://localhost", ClientTlsConfig::default(), options).unwrap()
}

/// A TCP connection established by scripted server bytes.
fn established(options: ClientOptions) -> ClientConnection {
    let mut c = tcp(options);
    c.start_new_session().unwrap();
    assert_eq!(c.take_output(), br#"{"state":"new"}"#);
    c.receive(ESTABLISHED.as_bytes()).unwrap();
    assert!(
        matches!(c.poll_event(), Some(Event::Session(s)) if s.state == SessionState::Established)
    );
    c
}

fn closed_with(c: &mut ClientConnection) -> Option<Error> {
    let events: Vec<Event> = c.drain_events().collect();
    match events.last() {
        Some(Event::Closed { error }) => error.clone(),
        other => panic!("not closed: {other:?} in {events:?}"),
    }
}

#[test]
fn uris_are_checked() {
    for uri in ["http://x", "net.tcp://", "ws://", "tcp://a:1", "net.tcp://h:port"] {
        let err =
            ClientConnection::connect(uri, ClientTlsConfig::default(), ClientOptions::default())
                .unwrap_err();
        assert!(matches!(err, Error::Transport(TransportError::InvalidUri(_))), "{uri}: {err:?}");
    }
    let c = tcp(ClientOptions::default());
    assert_eq!((c.host(), c.port()), ("localhost", 55321));
    let ws = ClientConnection::connect(
        "ws://example.com/lime",
        ClientTlsConfig::default(),
        ClientOptions::default(),
    )
    .unwrap();
    assert_eq!(ws.port(), 80);
    let first = String::from_utf8_lossy(ws.pending_output()).to_string();
    assert!(first.starts_with("GET /lime HTTP/1.1\r\n"), "{first}");
    assert!(first.to_ascii_lowercase().contains("sec-websocket-protocol: lime"), "{first}");
}

#[test]
fn envelopes_split_anywhere_and_several_per_read() {
    let mut c = established(ClientOptions::default());
    let stream = br#"{"id":"1","from":"a@b/c","type":"text/plain","content":"x{\"}"}  {"id":"2","event":"received"}"#;
    for piece in stream.chunks(5) {
        c.receive(piece).unwrap();
    }
    let events: Vec<Event> = c.drain_events().collect();
    assert!(
        matches!(&events[..], [Event::Message(m), Event::Notification(n)]
        if m.id.as_deref() == Some("1") && n.id.as_deref() == Some("2")),
        "{events:?}"
    );
}

#[test]
fn malformed_input_ends_the_connection_with_a_frame_error() {
    let mut c = established(ClientOptions::default());
    let token =
        c.send_command(Command::request(CommandMethod::Get, "/x".parse().unwrap()), None).unwrap();
    let err = c.receive(br#"{"nope":1}"#).unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::Frame(FrameError::Invalid { .. }))),
        "{err:?}"
    );
    let events: Vec<Event> = c.drain_events().collect();
    assert!(
        matches!(&events[..], [
        Event::CommandFailed { token: t, error: Error::Closed },
        Event::Closed { error: Some(Error::Transport(TransportError::Frame(_))) },
    ] if *t == token),
        "{events:?}"
    );
    assert!(matches!(c.receive(ESTABLISHED.as_bytes()), Err(Error::Closed)));
    assert!(c.is_closed() && c.state() == SessionState::Failed);

    let mut c = established(ClientOptions::default());
    assert!(matches!(
        c.receive(b"{\"id\":\"1\",]}"),
        Err(Error::Transport(TransportError::Frame(_)))
    ));
}

#[test]
fn messages_before_established_break_the_protocol() {
    let mut c = tcp(ClientOptions::default());
    c.start_new_session().unwrap();
    let err = c.receive(br#"{"type":"text/plain","content":"early"}"#).unwrap_err();
    assert!(matches!(err, Error::Session(SessionError::Protocol(_))), "{err:?}");
    assert!(closed_with(&mut c).is_some());
}

#[test]
fn oversize_input_is_refused_and_oversize_output_leaves_the_connection_open() {
    let small = ClientOptions { max_envelope_size: 128, ..ClientOptions::default() };
    let mut c = established(small.clone());
    let big = Message::text("x".repeat(200));
    let err = c.send_message(big.clone()).unwrap_err();
    assert!(matches!(err, Error::Transport(TransportError::EnvelopeTooLarge { .. })), "{err:?}");
    assert!(!c.is_closed() && c.pending_output().is_empty());
    c.send_message(Message::text("fits")).unwrap();
    assert!(!c.take_output().is_empty());

    let err = c.receive(&Envelope::from(big).to_vec()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport(TransportError::Frame(FrameError::TooLarge { limit: 128, .. }))
        ),
        "{err:?}"
    );
    assert!(closed_with(&mut c).is_some());
}

#[test]
fn finished_closes_and_fails_pending_commands() {
    let mut c = established(ClientOptions::default());
    let token =
        c.send_command(Command::request(CommandMethod::Get, "/x".parse().unwrap()), None).unwrap();
    c.send_finishing_session().unwrap();
    let sent = String::from_utf8(c.take_output()).unwrap();
    assert!(sent.ends_with(r#"{"state":"finishing","id":"s1"}"#), "{sent}");
    c.receive(br#"{"id":"s1","state":"finished"}"#).unwrap();
    let events: Vec<Event> = c.drain_events().collect();
    assert!(
        matches!(&events[..], [
        Event::Session(s),
        Event::CommandFailed { token: t, error: Error::Closed },
        Event::Closed { error: None },
    ] if s.state == SessionState::Finished && *t == token),
        "{events:?}"
    );
    assert!(matches!(c.send_message(Message::text("late")), Err(Error::Closed)));
}

#[test]
fn failed_session_reports_its_reason() {
    let mut c = tcp(ClientOptions::default());
    c.establish(EstablishOptions::new(identity("me"), "home", Authentication::Guest)).unwrap();
    c.receive(br#"{"id":"s1","state":"authenticating","schemeOptions":["plain"]}"#).unwrap();
    let sent = String::from_utf8(c.take_output()).unwrap();
    assert!(sent.ends_with(r#"{"state":"authenticating","scheme":"guest","authentication":{},"id":"s1","from":"me@localhost/home"}"#), "{sent}");
    c.receive(br#"{"id":"s1","state":"failed","reason":{"code":13,"description":"no"}}"#).unwrap();
    let Some(Error::Session(SessionError::Failed { reason })) = closed_with(&mut c) else {
        panic!()
    };
    assert_eq!(reason.code, 13);
}

#[test]
fn local_close_and_eof() {
    let mut c = established(ClientOptions::default());
    c.close();
    assert!(closed_with(&mut c).is_none());
    assert!(matches!(c.send_message(Message::text("x")), Err(Error::Closed)));

    let mut c = established(ClientOptions::default());
    c.receive(br#"{"id":"1","event":"rec"#).unwrap();
    let err = c.receive_eof().unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::Frame(FrameError::Truncated { .. }))),
        "{err:?}"
    );

    let mut c = established(ClientOptions::default());
    c.receive_eof().unwrap();
    assert!(closed_with(&mut c).is_none());
}

#[test]
fn pings_are_answered_and_receipts_sent_while_receiving() {
    let mut c = established(receipts());
    c.receive(br#"{"id":"p1","from":"postmaster@localhost/server","method":"get","uri":"/ping"}{"id":"m1","from":"bob@localhost/x","to":"me@localhost/home","type":"text/plain","content":"hi"}"#).unwrap();
    let out = String::from_utf8(c.take_output()).unwrap();
    assert_eq!(
        out,
        concat!(
            r#"{"type":"application/vnd.lime.ping+json","resource":{},"method":"get","status":"success","id":"p1","to":"postmaster@localhost/server"}"#,
            r#"{"event":"received","id":"m1","to":"bob@localhost/x"}"#
        )
    );
    let events: Vec<Event> = c.drain_events().collect();
    assert!(matches!(&events[..], [Event::Message(_)]), "{events:?}");
}

/// Starts a session and negotiates TLS up to the server's confirmation (the ClientHello is
/// then in the output).
fn negotiate_tls(c: &mut ClientConnection) {
    c.start_new_session().unwrap();
    c.receive(br#"{"id":"s1","state":"negotiating","encryptionOptions":["none","tls"],"compressionOptions":["none"]}"#).unwrap();
    c.negotiate_session(SessionCompression::None, SessionEncryption::Tls).unwrap();
    c.take_output();
    c.receive(br#"{"id":"s1","state":"negotiating","encryption":"tls","compression":"none"}"#)
        .unwrap();
}

#[test]
fn tls_garbage_after_the_confirmation_is_a_tls_error() {
    let mut c = tcp(ClientOptions::default());
    negotiate_tls(&mut c);
    // The ClientHello was written in the call that delivered the confirmation.
    let hello = c.take_output();
    assert_eq!(hello.first(), Some(&0x16), "a TLS handshake record");
    assert_eq!(c.encryption(), SessionEncryption::Tls);
    let err = c.receive(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap_err();
    assert!(matches!(err, Error::Transport(TransportError::Tls(_))), "{err:?}");
}

#[test]
fn a_negotiation_sent_as_a_raw_session_switches_too() {
    let mut c = tcp(ClientOptions::default());
    c.start_new_session().unwrap();
    c.receive(br#"{"id":"s1","state":"negotiating","encryptionOptions":["none"],"compressionOptions":["none","gzip"]}"#).unwrap();
    let mut choice = lime::Session::new(SessionState::Negotiating);
    choice.compression = Some(SessionCompression::Gzip);
    choice.encryption = Some(SessionEncryption::None);
    c.send(choice.into()).unwrap();
    let sent = String::from_utf8(c.take_output()).unwrap();
    assert!(
        sent.ends_with(
            r#"{"state":"negotiating","encryption":"none","compression":"gzip","id":"s1"}"#
        ),
        "{sent}"
    );
    // The compressed stream may follow the confirmation in the same read.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut gz,
        br#"{"id":"s1","state":"authenticating","schemeOptions":["guest"]}"#,
    )
    .unwrap();
    std::io::Write::flush(&mut gz).unwrap();
    let mut input =
        br#"{"id":"s1","state":"negotiating","encryption":"none","compression":"gzip"}"#.to_vec();
    input.extend(gz.get_ref());
    c.receive(&input).unwrap();
    assert_eq!(c.compression(), SessionCompression::Gzip);
    assert_eq!(c.state(), SessionState::Authenticating);
    c.authenticate_session(&identity("me"), Authentication::Guest, Some("home")).unwrap();
    let mut plain = Vec::new();
    let mut gunzip = flate2::write::MultiGzDecoder::new(&mut plain);
    std::io::Write::write_all(&mut gunzip, &c.take_output()).unwrap();
    std::io::Write::flush(&mut gunzip).unwrap();
    drop(gunzip);
    assert!(String::from_utf8(plain).unwrap().contains(r#""scheme":"guest""#));
}

/// A connection that negotiated gzip from scripted bytes; returns it and the server's encoder.
fn gzip_established(
    options: ClientOptions,
) -> (ClientConnection, flate2::write::GzEncoder<Vec<u8>>) {
    let mut c = tcp(options);
    c.start_new_session().unwrap();
    c.receive(br#"{"id":"s1","state":"negotiating","encryptionOptions":["none"],"compressionOptions":["none","gzip"]}"#).unwrap();
    c.negotiate_session(SessionCompression::Gzip, SessionEncryption::None).unwrap();
    c.receive(br#"{"id":"s1","state":"negotiating","encryption":"none","compression":"gzip"}"#)
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, ESTABLISHED.as_bytes()).unwrap();
    std::io::Write::flush(&mut gz).unwrap();
    c.receive(&std::mem::take(gz.get_mut())).unwrap();
    assert_eq!(c.state(), SessionState::Established);
    c.drain_events().for_each(drop);
    (c, gz)
}

#[test]
fn large_compressed_envelopes_arrive_and_bombs_are_refused() {
    let (mut c, mut gz) = gzip_established(ClientOptions::default());
    let text = "lime ".repeat(600_000);
    let json = Envelope::from(Message::text(text.clone()).with_id("big")).to_vec();
    std::io::Write::write_all(&mut gz, &json).unwrap();
    std::io::Write::flush(&mut gz).unwrap();
    let compressed = std::mem::take(gz.get_mut());
    assert!(compressed.len() < json.len() / 50);
    c.receive(&compressed).unwrap();
    let events: Vec<Event> = c.drain_events().collect();
    assert!(
        matches!(&events[..], [Event::Message(m)]
        if m.content.as_ref().and_then(|d| d.as_text()) == Some(text.as_str())),
        "{} events",
        events.len()
    );

    let small = ClientOptions { max_envelope_size: 1024 * 1024, ..ClientOptions::default() };
    let (mut c, mut gz) = gzip_established(small);
    std::io::Write::write_all(&mut gz, br#"{"type":"text/plain","content":""#).unwrap();
    std::io::Write::write_all(&mut gz, &vec![b'x'; 8 * 1024 * 1024]).unwrap();
    std::io::Write::flush(&mut gz).unwrap();
    let err = c.receive(gz.get_ref()).unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::Frame(FrameError::TooLarge { .. }))),
        "{err:?}"
    );
}

#[test]
fn plaintext_after_the_tls_confirmation_is_refused() {
    let mut c = tcp(ClientOptions::default());
    c.start_new_session().unwrap();
    c.receive(br#"{"id":"s1","state":"negotiating","encryptionOptions":["none","tls"],"compressionOptions":["none"]}"#).unwrap();
    c.negotiate_session(SessionCompression::None, SessionEncryption::Tls).unwrap();
    let err = c
        .receive(br#"{"id":"s1","state":"negotiating","encryption":"tls","compression":"none"}{"id":"s1","state":"authenticating"}"#)
        .unwrap_err();
    assert!(matches!(err, Error::Transport(TransportError::Tls(_))), "{err:?}");
}

#[test]
fn a_bad_websocket_upgrade_response_is_a_websocket_error() {
    let mut c = ClientConnection::connect(
        "ws://localhost:1",
        ClientTlsConfig::default(),
        ClientOptions::default(),
    )
    .unwrap();
    c.start_new_session().unwrap();
    // Nothing is sent before the upgrade is done.
    let request = String::from_utf8(c.take_output()).unwrap();
    assert!(!request.contains("state"), "{request}");
    let err = c.receive(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").unwrap_err();
    assert!(matches!(err, Error::Transport(TransportError::WebSocket(_))), "{err:?}");
    assert!(closed_with(&mut c).is_some());

    let mut c = ClientConnection::connect(
        "ws://localhost:1",
        ClientTlsConfig::default(),
        ClientOptions::default(),
    )
    .unwrap();
    let err = c.receive(&vec![b'x'; 70 * 1024]).unwrap_err();
    assert!(matches!(err, Error::Transport(TransportError::WebSocket(_))), "{err:?}");
}

#[test]
fn command_timeouts_are_deadlines() {
    let (now, clock) = clock();
    let mut c = ClientConnection::with_clock(
        "net.tcp://localhost",
        ClientTlsConfig::default(),
        ClientOptions::default(),
        clock,
    )
    .unwrap();
    c.start_new_session().unwrap();
    let start = *now.lock().unwrap();
    // The handshake step has its deadline.
    assert_eq!(c.next_deadline(), Some(start + Duration::from_secs(30)));
    c.receive(ESTABLISHED.as_bytes()).unwrap();
    assert_eq!(c.next_deadline(), None);
    let slow = c
        .send_command(
            Command::request(CommandMethod::Get, "/slow".parse().unwrap()),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    let fast = c
        .send_command(
            Command::request(CommandMethod::Get, "/fast".parse().unwrap()).with_id("f"),
            Some(Duration::from_secs(2)),
        )
        .unwrap();
    assert_eq!(c.next_deadline(), Some(start + Duration::from_secs(2)));
    assert_eq!(c.next_timeout(), Some(Duration::from_secs(2)));
    c.receive(br#"{"id":"f","method":"get","status":"success"}"#).unwrap();
    c.drain_events().for_each(drop);
    assert_eq!(c.next_deadline(), Some(start + Duration::from_secs(5)));
    c.handle_timeout(start + Duration::from_secs(4));
    assert!(c.poll_event().is_none());
    *now.lock().unwrap() = start + Duration::from_secs(5);
    c.handle_timeout(start + Duration::from_secs(5));
    let events: Vec<Event> = c.drain_events().collect();
    assert!(
        matches!(&events[..], [Event::CommandFailed { token, error: Error::Timeout(d) }]
        if *token == slow && *d == Duration::from_secs(5)),
        "{events:?}"
    );
    assert_ne!(slow, fast);
    assert_eq!((c.pending_commands(), c.next_deadline()), (0, None));
    assert!(!c.is_closed());
}

#[test]
fn an_unanswered_handshake_step_times_out() {
    let (_, clock) = clock();
    let options =
        ClientOptions { handshake_timeout: Duration::from_secs(3), ..ClientOptions::default() };
    let mut c = ClientConnection::with_clock(
        "net.tcp://localhost",
        ClientTlsConfig::default(),
        options,
        clock,
    )
    .unwrap();
    c.start_new_session().unwrap();
    let deadline = c.next_deadline().unwrap();
    c.handle_timeout(deadline - Duration::from_millis(1));
    assert!(!c.is_closed());
    c.handle_timeout(deadline);
    assert!(matches!(closed_with(&mut c), Some(Error::Timeout(d)) if d == Duration::from_secs(3)));
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn remote_ping_then_idle_timeout() {
    let (now, clock) = clock();
    let options = ClientOptions {
        remote_ping_interval: Some(Duration::from_secs(10)),
        remote_idle_timeout: Some(Duration::from_secs(30)),
        ..ClientOptions::default()
    };
    let mut c = ClientConnection::with_clock(
        "net.tcp://localhost",
        ClientTlsConfig::default(),
        options,
        clock,
    )
    .unwrap();
    c.start_new_session().unwrap();
    c.receive(ESTABLISHED.as_bytes()).unwrap();
    c.take_output();
    c.drain_events().for_each(drop);
    let start = *now.lock().unwrap();
    assert_eq!(c.next_deadline(), Some(start + Duration::from_secs(10)));
    // Traffic postpones the ping.
    *now.lock().unwrap() = start + Duration::from_secs(8);
    c.receive(br#"{"event":"received","id":"x"}"#).unwrap();
    assert!(matches!(c.poll_event(), Some(Event::Notification(_))));
    assert_eq!(c.next_deadline(), Some(start + Duration::from_secs(18)));
    c.handle_timeout(start + Duration::from_secs(18));
    let ping: Envelope = String::from_utf8(c.take_output()).unwrap().parse().unwrap();
    let Envelope::Command(ping) = ping else { panic!("{ping:?}") };
    assert!(ping.is_ping_request() && ping.id.is_some());
    // Its response is swallowed and resets the schedule.
    *now.lock().unwrap() = start + Duration::from_secs(19);
    let response = format!(r#"{{"id":"{}","method":"get","status":"success"}}"#, ping.id.unwrap());
    c.receive(response.as_bytes()).unwrap();
    assert!(c.poll_event().is_none());
    assert_eq!(c.next_deadline(), Some(start + Duration::from_secs(29)));
    // Then silence: a ping, and the idle timeout ends the session with `finishing`.
    c.handle_timeout(start + Duration::from_secs(29));
    c.take_output();
    assert_eq!(c.next_deadline(), Some(start + Duration::from_secs(49)));
    c.handle_timeout(start + Duration::from_secs(49));
    let out = String::from_utf8(c.take_output()).unwrap();
    assert_eq!(out, r#"{"state":"finishing","id":"s1"}"#);
    assert!(matches!(closed_with(&mut c), Some(Error::Timeout(d)) if d == Duration::from_secs(30)));
}

// ----- no input panics -----------------------------------------------------------------------

/// Connections at each stage where bytes can arrive.
fn stages() -> Vec<ClientConnection> {
    let mut negotiating_tls = tcp(ClientOptions::default());
    negotiating_tls.start_new_session().unwrap();
    negotiating_tls.receive(br#"{"id":"s1","state":"negotiating","encryptionOptions":["none","tls"],"compressionOptions":["none"]}"#).unwrap();
    negotiating_tls.negotiate_session(SessionCompression::None, SessionEncryption::Tls).unwrap();
    negotiating_tls
        .receive(br#"{"id":"s1","state":"negotiating","encryption":"tls","compression":"none"}"#)
        .unwrap();
    let small = ClientOptions { max_envelope_size: 512, ..receipts() };
    let mut new = tcp(ClientOptions::default());
    new.start_new_session().unwrap();
    let ws = ClientConnection::connect(
        "ws://localhost",
        ClientTlsConfig::default(),
        ClientOptions::default(),
    )
    .unwrap();
    vec![new, established(small.clone()), gzip_established(small).0, negotiating_tls, ws]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), 0..8),
        json_like in proptest::collection::vec(proptest::sample::select(&b"{}\\\"abc:,[] \r\n"[..]), 0..600),
    ) {
        for mut c in stages() {
            for chunk in chunks.iter().chain(std::iter::once(&json_like)) {
                if c.receive(chunk).is_err() {
                    proptest::prop_assert!(c.is_closed());
                    break;
                }
            }
            let _ = c.receive_eof();
            c.handle_timeout(Instant::now() + Duration::from_secs(3600));
            proptest::prop_assert!(c.is_closed());
            let events: Vec<Event> = c.drain_events().collect();
            let closed = events.iter().filter(|e| matches!(e, Event::Closed { .. })).count();
            proptest::prop_assert_eq!(closed, 1, "{:?}", events);
        }
    }
}

#[test]
fn serialized_envelopes_go_out_as_written_within_the_size_limit() {
    let small = ClientOptions { max_envelope_size: 160, ..ClientOptions::default() };
    let mut c = established(small);
    let json = br#"{"id":"m1","type":"text/plain","content":1180591620717411303424}"#;
    c.send_serialized(json).unwrap();
    assert_eq!(c.take_output(), json);
    let err = c.send_serialized(&[b' '; 161]).unwrap_err();
    assert!(matches!(err, Error::Transport(TransportError::EnvelopeTooLarge { .. })), "{err:?}");
    assert!(!c.is_closed() && c.pending_output().is_empty());
    c.close();
    assert!(matches!(c.send_serialized(json), Err(Error::Closed)));
}

#[test]
fn a_cancelled_command_without_timeout_is_forgotten_and_its_response_delivered() {
    let mut c = established(ClientOptions::default());
    let token = c
        .send_command(
            Command::request(CommandMethod::Get, "/x".parse().unwrap()).with_id("n"),
            None,
        )
        .unwrap();
    c.take_output();
    assert_eq!(c.pending_commands(), 1);
    assert!(c.cancel_command(token));
    assert_eq!(c.pending_commands(), 0);
    assert!(!c.cancel_command(token));
    // the late response is an envelope like any other, not a completion
    c.receive(br#"{"id":"n","method":"get","status":"success"}"#).unwrap();
    let events: Vec<Event> = c.drain_events().collect();
    assert!(
        matches!(&events[..], [Event::Command(r)] if r.id.as_deref() == Some("n")),
        "{events:?}"
    );
}

#[test]
fn limits_too_large_for_the_clock_are_no_limit() {
    let huge = Duration::from_secs(u64::MAX / 2);
    let options = ClientOptions {
        handshake_timeout: huge,
        remote_ping_interval: Some(huge),
        remote_idle_timeout: Some(huge),
        ..ClientOptions::default()
    };
    let mut c = established(options);
    assert_eq!(c.next_deadline(), None);
    c.send_command(Command::request(CommandMethod::Get, "/x".parse().unwrap()), Some(huge))
        .unwrap();
    c.take_output();
    assert_eq!((c.pending_commands(), c.next_deadline()), (1, None));
    c.handle_timeout(Instant::now());
    assert!(c.poll_event().is_none() && !c.is_closed());
}

// ----- the end of TLS, against an in-memory rustls server ------------------------------------

fn tls_server_in(s: &mut rustls::ServerConnection, mut data: &[u8]) {
    while !data.is_empty() {
        s.read_tls(&mut data).unwrap();
        s.process_new_packets().unwrap();
    }
}

fn tls_server_out(s: &mut rustls::ServerConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while s.wants_write() {
        s.write_tls(&mut out).unwrap();
    }
    out
}

/// Shuttles bytes between the connection and the server until neither has more to say.
fn tls_pump(c: &mut ClientConnection, s: &mut rustls::ServerConnection) {
    for _ in 0..20 {
        let out = c.take_output();
        tls_server_in(s, &out);
        let back = tls_server_out(s);
        if !back.is_empty() {
            c.receive(&back).unwrap();
        }
        if out.is_empty() && back.is_empty() {
            return;
        }
    }
    panic!("the TLS handshake did not settle");
}

fn tls_pair(uri: &str) -> (ClientConnection, rustls::ServerConnection) {
    let certs = certs();
    let c = ClientConnection::connect(uri, client_tls(&certs), ClientOptions::default()).unwrap();
    let s = rustls::ServerConnection::new(lime_test_support::server_tls(&certs).rustls()).unwrap();
    (c, s)
}

/// `receive(bytes)` on another thread, or None when it did not return within `T`.
fn receive_within(mut c: ClientConnection, bytes: Vec<u8>) -> Option<ClientConnection> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = c.receive(&bytes);
        let _ = tx.send(c);
    });
    rx.recv_timeout(T).ok()
}

#[test]
fn bytes_after_the_peers_close_notify_end_the_connection_instead_of_hanging() {
    // TCP upgraded to TLS at the confirmation: rustls takes nothing after a close_notify, and the
    // rest of the read (here more than it reads at once) was offered to it again for ever.
    let (mut c, mut s) = tls_pair("net.tcp://localhost");
    negotiate_tls(&mut c);
    tls_pump(&mut c, &mut s);
    std::io::Write::write_all(&mut s.writer(), ESTABLISHED.as_bytes()).unwrap();
    c.receive(&tls_server_out(&mut s)).unwrap();
    assert_eq!(c.state(), SessionState::Established);
    c.drain_events().for_each(drop);
    s.send_close_notify();
    let mut bytes = tls_server_out(&mut s);
    bytes.extend_from_slice(&[0x17; 5000]);
    let mut c = receive_within(c, bytes).expect("receive() did not return");
    assert!(c.is_closed());
    assert!(closed_with(&mut c).is_none());
}

#[test]
fn a_close_notify_ends_a_secure_websocket_too() {
    let (mut c, mut s) = tls_pair("wss://localhost/");
    tls_pump(&mut c, &mut s);
    let mut request = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s.reader(), &mut request);
    let request = String::from_utf8(request).unwrap();
    let key = request
        .lines()
        .find_map(|l| {
            l.strip_prefix("Sec-WebSocket-Key: ").or(l.strip_prefix("sec-websocket-key: "))
        })
        .expect("the upgrade request has a key");
    let accept = tungstenite::handshake::derive_accept_key(key.trim().as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: lime\r\n\r\n"
    );
    std::io::Write::write_all(&mut s.writer(), response.as_bytes()).unwrap();
    c.receive(&tls_server_out(&mut s)).unwrap();
    assert_eq!(c.subprotocol(), Some("lime"));
    assert!(!c.is_closed());
    s.send_close_notify();
    c.receive(&tls_server_out(&mut s)).unwrap();
    assert!(c.is_closed(), "a close_notify left the connection open");
    // and a byte after it neither hangs nor reopens anything
    let c = receive_within(c, b"x".to_vec()).expect("receive() did not return");
    assert!(c.is_closed());
}
