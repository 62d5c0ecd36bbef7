//! A real session through the bindings' API against an in-process server: TCP with the TLS
//! upgrade and WebSocket, a message with its receipt, a command round trip, a refused
//! password, invalid arguments, and both sessions finished.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use lime::{
    server::{AuthConfig, Server, ServerConfig, ServerHandle, UserFile},
    AuthenticationScheme,
};
use lime_ffi::{
    Authentication, ChannelListener, Command, CommandMethod, CommandStatus, ConnectOptions,
    LimeClient, LimeError, Message, Notification, NotificationEvent, SessionInfo, SessionState,
};
use lime_test_support::{alice_and_guests, certs, server_config, start, Certs};
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(10);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

#[derive(Debug)]
enum Event {
    Message(Message),
    Notification(Notification),
    Command(Command),
    Finished(SessionInfo),
    Failed(SessionInfo),
    Closed(Option<String>),
}

/// A listener that forwards every callback to a channel the test reads with a timeout.
struct Recorder(mpsc::UnboundedSender<Event>);

impl ChannelListener for Recorder {
    fn on_message(&self, m: Message) {
        let _ = self.0.send(Event::Message(m));
    }
    fn on_notification(&self, n: Notification) {
        let _ = self.0.send(Event::Notification(n));
    }
    fn on_command(&self, c: Command) {
        let _ = self.0.send(Event::Command(c));
    }
    fn on_finished(&self, s: SessionInfo) {
        let _ = self.0.send(Event::Finished(s));
    }
    fn on_failed(&self, s: SessionInfo) {
        let _ = self.0.send(Event::Failed(s));
    }
    fn on_closed(&self, error: Option<String>) {
        let _ = self.0.send(Event::Closed(error));
    }
}

fn recorder() -> (Arc<dyn ChannelListener>, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(Recorder(tx)), rx)
}

async fn next(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    within(events.recv()).await.expect("listener stream ended")
}

/// The shared test server with TLS, guests and alice.
async fn server(pki: &Certs) -> ServerHandle {
    start(ServerConfig { authenticator: Arc::new(alice_and_guests()), ..server_config(Some(pki)) })
        .await
}

fn text(to: &str, id: &str, content: &str) -> Message {
    Message {
        id: Some(id.into()),
        from: None,
        to: Some(to.into()),
        pp: None,
        metadata: HashMap::from([("via".into(), "ffi".into())]),
        media_type: "text/plain".into(),
        content: content.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_through_the_bindings() {
    let pki = certs();
    let server = server(&pki).await;
    let tcp = format!("net.tcp://localhost:{}", server.tcp_addrs()[0].port());
    let ws = format!("ws://127.0.0.1:{}", server.ws_addrs()[0].port());
    let receipts = ConnectOptions { auto_notify_receipt: true, ..ConnectOptions::default() };

    // alice: TCP upgraded to TLS, trusting the test CA; subscribed before establishing.
    let tls = ConnectOptions {
        trusted_roots_pem: Some(pki.cert.clone()),
        encryption: Some("tls".into()),
        ..receipts.clone()
    };
    let alice = within(LimeClient::connect(tcp.clone(), tls)).await.unwrap();
    assert_eq!(alice.state(), SessionState::New);
    let (listener, mut alice_events) = recorder();
    let alice_task = alice.subscribe(listener);
    let password = Authentication::Plain { password: "wonderland".into() };
    let info =
        within(alice.establish("alice@localhost".into(), "home".into(), password)).await.unwrap();
    assert_eq!(info.state, SessionState::Established);
    assert_eq!(info.local_node.as_deref(), Some("alice@localhost/home"));
    assert_eq!(info.remote_node.as_deref(), Some("postmaster@localhost/server"));
    assert!(info.session_id.is_some());
    assert_eq!(alice.state(), SessionState::Established);

    // bob: WebSocket, guest; subscribed after establishing.
    let bob = within(LimeClient::connect(ws, receipts)).await.unwrap();
    within(bob.establish("bob@localhost".into(), "phone".into(), Authentication::Guest))
        .await
        .unwrap();
    let (listener, mut bob_events) = recorder();
    let bob_task = bob.subscribe(listener);

    // A message from alice to bob, and bob's automatic receipt back to alice.
    within(alice.send_message(text("bob@localhost/phone", "m1", "hello bob"))).await.unwrap();
    let Event::Message(m) = next(&mut bob_events).await else { panic!("expected a message") };
    assert_eq!((m.id.as_deref(), m.content.as_str()), (Some("m1"), "hello bob"));
    assert_eq!(m.from.as_deref(), Some("alice@localhost/home"));
    assert_eq!(m.metadata.get("via").map(String::as_str), Some("ffi"));
    let Event::Notification(n) = next(&mut alice_events).await else {
        panic!("expected a receipt")
    };
    assert_eq!((n.id.as_deref(), n.event), (Some("m1"), NotificationEvent::Received));
    assert_eq!(n.from.as_deref(), Some("bob@localhost/phone"));

    // JSON content, and the receipt the other way.
    let json = Message {
        media_type: "application/json".into(),
        content: r#"{"n":1}"#.into(),
        ..text("alice@localhost/home", "m2", "")
    };
    within(bob.send_message(json)).await.unwrap();
    let Event::Message(m) = next(&mut alice_events).await else { panic!("expected a message") };
    assert_eq!((m.media_type.as_str(), m.content.as_str()), ("application/json", r#"{"n":1}"#));
    let Event::Notification(n) = next(&mut bob_events).await else { panic!("expected a receipt") };
    assert_eq!((n.id.as_deref(), n.event), (Some("m2"), NotificationEvent::Received));

    // A command round trip with the server.
    let ping = Command {
        id: None,
        from: None,
        to: None,
        pp: None,
        metadata: HashMap::new(),
        uri: Some("/ping".into()),
        method: CommandMethod::Get,
        status: CommandStatus::Pending,
        media_type: None,
        resource: None,
        reason: None,
    };
    let response = within(alice.process_command(ping.clone(), 5_000)).await.unwrap();
    assert_eq!(response.status, CommandStatus::Success);
    assert_eq!(response.media_type.as_deref(), Some("application/vnd.lime.ping+json"));
    // Commands run concurrently with sends and with the listener.
    let (a, b) = tokio::join!(
        alice.process_command(ping.clone(), 5_000),
        alice.send_message(text("bob@localhost/phone", "m3", "again")),
    );
    assert_eq!(a.unwrap().status, CommandStatus::Success);
    b.unwrap();
    let Event::Message(m) = next(&mut bob_events).await else { panic!("expected a message") };
    assert_eq!(m.id.as_deref(), Some("m3"));
    let Event::Notification(n) = next(&mut alice_events).await else {
        panic!("expected a receipt")
    };
    assert_eq!(n.id.as_deref(), Some("m3"));
    // A command to bob, answered by the test through bob's listener and client.
    let request = Command {
        id: Some("c1".into()),
        to: Some("bob@localhost/phone".into()),
        uri: Some("/status".into()),
        ..ping.clone()
    };
    let answering = async {
        let Event::Command(c) = next(&mut bob_events).await else { panic!("expected a command") };
        assert_eq!((c.id.as_deref(), c.uri.as_deref()), (Some("c1"), Some("/status")));
        let response = Command {
            id: c.id.clone(),
            to: c.from.clone(),
            uri: None,
            status: CommandStatus::Success,
            media_type: Some("text/plain".into()),
            resource: Some("busy".into()),
            ..ping.clone()
        };
        within(bob.send_command(response)).await.unwrap();
    };
    let (response, ()) = tokio::join!(within(alice.process_command(request, 5_000)), answering);
    let response = response.unwrap();
    assert_eq!(response.from.as_deref(), Some("bob@localhost/phone"));
    assert_eq!(response.resource.as_deref(), Some("busy"));

    // Invalid arguments never reach the channel.
    let err = within(alice.send_message(text("@", "x", "y"))).await.unwrap_err();
    assert!(matches!(&err, LimeError::InvalidArgument { msg } if msg.contains("`to`")), "{err}");

    // A wrong password: the server's reason 13.
    let carol = within(LimeClient::connect(tcp.clone(), ConnectOptions::default())).await.unwrap();
    let (listener, mut carol_events) = recorder();
    let _carol_task = carol.subscribe(listener);
    let wrong = Authentication::Plain { password: "guess".into() };
    let err = within(carol.establish("alice@localhost".into(), "x".into(), wrong)).await;
    assert!(matches!(err, Err(LimeError::Session { code: 13, .. })), "{err:?}");
    assert_eq!(carol.state(), SessionState::Failed);
    let Event::Closed(Some(why)) = next(&mut carol_events).await else { panic!("expected closed") };
    assert!(why.contains("failed"), "{why}");

    // Both finish; their listeners see the end and stop.
    let finished = within(alice.finish()).await.unwrap();
    assert_eq!(finished.state, SessionState::Finished);
    assert_eq!(alice.state(), SessionState::Finished);
    let Event::Finished(s) = next(&mut alice_events).await else { panic!("expected finished") };
    assert_eq!(s.local_node.as_deref(), Some("alice@localhost/home"));
    within(bob.finish()).await.unwrap();
    let Event::Finished(s) = next(&mut bob_events).await else { panic!("expected finished") };
    assert_eq!(s.state, SessionState::Finished);
    within(async {
        while !(alice_task.is_finished() && bob_task.is_finished()) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let err = within(alice.send_message(text("bob@localhost", "late", "x"))).await.unwrap_err();
    assert!(matches!(err, LimeError::Session { .. }), "{err:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_are_typed() {
    let err = LimeClient::connect("ftp://x".into(), ConnectOptions::default()).await.unwrap_err();
    assert!(matches!(&err, LimeError::InvalidArgument { msg } if msg.contains("`uri`")), "{err}");
    let bad = ConnectOptions { encryption: Some("rot13".into()), ..ConnectOptions::default() };
    let err = LimeClient::connect("net.tcp://127.0.0.1:1".into(), bad).await.unwrap_err();
    assert!(matches!(&err, LimeError::InvalidArgument { msg } if msg.contains("encryption")));
    // Nothing listens on port 1.
    let err =
        within(LimeClient::connect("net.tcp://127.0.0.1:1".into(), ConnectOptions::default()))
            .await
            .unwrap_err();
    assert!(matches!(err, LimeError::Transport { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_listener_lets_another_take_over() {
    let pki = certs();
    let server = server(&pki).await;
    let tcp = format!("net.tcp://127.0.0.1:{}", server.tcp_addrs()[0].port());
    let client = within(LimeClient::connect(tcp.clone(), ConnectOptions::default())).await.unwrap();
    within(client.establish("dave@localhost".into(), "a".into(), Authentication::Guest))
        .await
        .unwrap();
    let (listener, _first) = recorder();
    let first = client.subscribe(listener);
    first.cancel();
    within(async {
        while !first.is_finished() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let (listener, mut second) = recorder();
    let _second = client.subscribe(listener);
    let peer = within(LimeClient::connect(tcp, ConnectOptions::default())).await.unwrap();
    within(peer.establish("erin@localhost".into(), "b".into(), Authentication::Guest))
        .await
        .unwrap();
    within(peer.send_message(text("dave@localhost/a", "m1", "hi"))).await.unwrap();
    let Event::Message(m) = next(&mut second).await else { panic!("expected a message") };
    assert_eq!(m.content, "hi");
    // Dropping the peer closes its connection: no finish needed.
    assert_eq!(server.session_count(), 2);
    drop(peer);
    within(async {
        while server.session_count() != 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // A command to ourselves that nobody answers is pending when the server goes: Closed,
    // the same category as in every host.
    let ask = Command {
        id: None,
        from: None,
        to: Some("dave@localhost/a".into()),
        pp: None,
        metadata: HashMap::new(),
        uri: Some("/x".into()),
        method: CommandMethod::Get,
        status: CommandStatus::Pending,
        media_type: None,
        resource: None,
        reason: None,
    };
    let pending = {
        let client = client.clone();
        tokio::spawn(async move { client.process_command(ask, 60_000).await })
    };
    let Event::Command(c) = next(&mut second).await else { panic!("expected the request") };
    assert_eq!(c.uri.as_deref(), Some("/x"));
    // Shutting the server down fails the remaining session with reason 11.
    server.shutdown().await;
    assert_eq!(within(pending).await.unwrap(), Err(LimeError::Closed));
    let Event::Failed(s) = next(&mut second).await else { panic!("expected failed") };
    assert_eq!(s.reason.map(|r| r.code), Some(11));
    assert_eq!(client.state(), SessionState::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_pings_reach_the_listener_only_when_asked() {
    let pki = certs();
    let server = server(&pki).await;
    let tcp = format!("net.tcp://127.0.0.1:{}", server.tcp_addrs()[0].port());
    let ping = |to: &str| Command {
        id: None,
        from: None,
        to: Some(to.into()),
        pp: None,
        metadata: HashMap::new(),
        uri: Some("/ping".into()),
        method: CommandMethod::Get,
        status: CommandStatus::Pending,
        media_type: None,
        resource: None,
        reason: None,
    };
    let asker = within(LimeClient::connect(tcp.clone(), ConnectOptions::default())).await.unwrap();
    within(asker.establish("asker@localhost".into(), "a".into(), Authentication::Guest))
        .await
        .unwrap();
    for (instance, deliver) in [("quiet", false), ("told", true)] {
        let options = ConnectOptions { deliver_answered_pings: deliver, ..Default::default() };
        let client = within(LimeClient::connect(tcp.clone(), options)).await.unwrap();
        let (listener, mut events) = recorder();
        let _task = client.subscribe(listener);
        within(client.establish("pinged@localhost".into(), instance.into(), Authentication::Guest))
            .await
            .unwrap();
        let node = format!("pinged@localhost/{instance}");
        let response = within(asker.process_command(ping(&node), 5_000)).await.unwrap();
        assert_eq!(response.status, CommandStatus::Success, "{instance}");
        assert_eq!(response.from.as_deref(), Some(node.as_str()));
        // A message after the ping: the listener sees the ping first only when asked to.
        within(asker.send_message(text(&node, "after", "after the ping"))).await.unwrap();
        match next(&mut events).await {
            Event::Command(c) if deliver => assert_eq!(c.uri.as_deref(), Some("/ping")),
            Event::Message(m) if !deliver => assert_eq!(m.id.as_deref(), Some("after")),
            other => panic!("{instance}: unexpected {other:?}"),
        }
        within(client.finish()).await.unwrap();
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_client_closes_the_connection_and_ends_its_listener() {
    let pki = certs();
    let server = server(&pki).await;
    let tcp = format!("net.tcp://127.0.0.1:{}", server.tcp_addrs()[0].port());
    let client = within(LimeClient::connect(tcp, ConnectOptions::default())).await.unwrap();
    within(client.establish("frank@localhost".into(), "a".into(), Authentication::Guest))
        .await
        .unwrap();
    let (listener, mut events) = recorder();
    let task = client.subscribe(listener);
    assert_eq!(server.session_count(), 1);
    // The listener task holds the core client too; dropping the binding's client still ends
    // the connection, and the listener hears of it.
    drop(client);
    let Event::Closed(_) = next(&mut events).await else { panic!("expected closed") };
    within(async {
        while !task.is_finished() || server.session_count() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    server.shutdown().await;
}

/// The rules every host shares (`lime::convert`), end to end through a server: non-JSON
/// content is the raw text (JSON-looking text included), metadata arrives as sent, and
/// passwords are given in clear text (the core sends base64; a host that encodes it itself
/// is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_metadata_and_passwords_follow_the_host_rules() {
    let mut users = UserFile::default();
    users.insert("dora@localhost".parse().unwrap(), AuthenticationScheme::Plain, "pässwörd 1");
    let config = ServerConfig {
        tcp: vec!["127.0.0.1:0".into()],
        authenticator: Arc::new(AuthConfig {
            guest: true,
            users: Some(users),
            ..AuthConfig::default()
        }),
        ..ServerConfig::default()
    };
    let server = Server::bind(config).await.unwrap().start();
    let tcp = format!("net.tcp://127.0.0.1:{}", server.tcp_addrs()[0].port());

    let dora = within(LimeClient::connect(tcp.clone(), ConnectOptions::default())).await.unwrap();
    let clear = Authentication::Plain { password: "pässwörd 1".into() };
    within(dora.establish("dora@localhost".into(), "a".into(), clear)).await.unwrap();
    let eve = within(LimeClient::connect(tcp.clone(), ConnectOptions::default())).await.unwrap();
    within(eve.establish("eve@localhost".into(), "b".into(), Authentication::Guest)).await.unwrap();
    let (listener, mut eve_events) = recorder();
    let _eve_task = eve.subscribe(listener);

    let raw = r#"{"looks":"like JSON"} and "quotes" \ too"#;
    let metadata: HashMap<String, String> =
        [("z", "1"), ("a", "é"), ("#scope", "x")].map(|(k, v)| (k.into(), v.into())).into();
    let message = Message {
        metadata: metadata.clone(),
        media_type: "text/plain".into(),
        content: raw.into(),
        ..text("eve@localhost/b", "d1", "")
    };
    within(dora.send_message(message)).await.unwrap();
    let Event::Message(m) = next(&mut eve_events).await else { panic!("expected a message") };
    assert_eq!((m.media_type.as_str(), m.content.as_str()), ("text/plain", raw));
    assert_eq!(m.metadata, metadata);
    // JSON media types stay JSON text, whatever the suffix.
    let json = Message {
        media_type: "application/vnd.x.y+json".into(),
        content: r#"{"a":[1,"two"]}"#.into(),
        ..text("eve@localhost/b", "d2", "")
    };
    within(dora.send_message(json)).await.unwrap();
    let Event::Message(m) = next(&mut eve_events).await else { panic!("expected a message") };
    assert_eq!(m.content, r#"{"a":[1,"two"]}"#);
    let bad = Message { media_type: "application/json".into(), ..text("eve@localhost/b", "", "x") };
    let err = within(dora.send_message(bad)).await.unwrap_err();
    assert!(matches!(&err, LimeError::InvalidArgument { msg } if msg.contains("`content`")));

    // The password already in base64 is a different password.
    let encoded = Authentication::Plain { password: "cMOkc3N3w7ZyZCAx".into() };
    let again = within(LimeClient::connect(tcp, ConnectOptions::default())).await.unwrap();
    let err = within(again.establish("dora@localhost".into(), "c".into(), encoded)).await;
    assert!(matches!(err, Err(LimeError::Session { code: 13, .. })), "{err:?}");
    server.shutdown().await;
}

/// A peer that closes the connection is `LimeError::Closed`, as in every host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_by_the_peer_is_closed() {
    use tokio::io::AsyncReadExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("net.tcp://{}", listener.local_addr().unwrap());
    // Reads the client's `new` session envelope, then closes cleanly (nothing left unread,
    // so the close is a FIN, not a reset).
    let peer = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let mut seen = Vec::new();
        while !seen.contains(&b'}') {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client sent nothing");
            seen.extend_from_slice(&buf[..n]);
        }
    });
    let client = within(LimeClient::connect(uri, ConnectOptions::default())).await.unwrap();
    let err = within(client.establish("x@localhost".into(), "a".into(), Authentication::Guest))
        .await
        .unwrap_err();
    assert_eq!(err, LimeError::Closed);
    within(peer).await.unwrap();
}
