//! [`lime::Client`] shared behind `Arc` against the real server on 127.0.0.1: commands from
//! many tasks at once, sends while receiving, subscriptions, plain state reads, the TLS
//! upgrade, WebSocket and `wss`, timeouts and the end of a session. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{future::Future, sync::Arc, time::Duration};

use lime::{
    channel::{ChannelEvent, ClientOptions, EstablishOptions},
    server::{ServerConfig, ServerHandle},
    transport::{tls::ClientTlsConfig, TransportOptions},
    Authentication, Client, Command, CommandMethod, CommandStatus, Error, Message,
    SessionCompression, SessionEncryption, SessionError, SessionState,
};

/// The bound of every wait in these tests.
const T: Duration = Duration::from_secs(20);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

use lime_test_support::{certs, client_tls, identity, start, tcp_uri, ws_uri, Certs};

/// The shared test server, with gzip offered, and TLS on WebSocket too when `wss`.
async fn server(certs: Option<&Certs>, wss: bool) -> ServerHandle {
    start(ServerConfig {
        wss,
        transport: TransportOptions { enable_gzip: true, ..TransportOptions::default() },
        ..lime_test_support::server_config(certs)
    })
    .await
}

async fn connect(uri: &str, tls: ClientTlsConfig) -> Arc<Client> {
    Arc::new(within(Client::connect(uri, tls, ClientOptions::default())).await.unwrap())
}

async fn establish(client: &Client, name: &str, encryption: Option<SessionEncryption>) {
    let mut options = EstablishOptions::new(identity(name), "home", Authentication::Guest);
    options.encryption = encryption;
    let session = within(client.establish_session(options)).await.unwrap();
    assert_eq!(session.state, SessionState::Established);
    assert_eq!(client.state(), SessionState::Established);
}

fn to(name: &str, text: &str) -> Message {
    Message::text(text).with_to(format!("{name}@localhost/home").parse().unwrap())
}

fn text_of(event: &ChannelEvent) -> String {
    match event {
        ChannelEvent::Message(m) => m.content.as_ref().unwrap().as_text().unwrap().to_owned(),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_from_many_tasks_commands_and_sends_while_receiving() {
    let certs = certs();
    let server = server(Some(&certs), false).await;
    let alice = connect(&tcp_uri(&server), client_tls(&certs)).await;
    let bob = connect(&tcp_uri(&server), client_tls(&certs)).await;
    assert_eq!(alice.state(), SessionState::New);
    // the TLS upgrade happens inside the connection, at the negotiation confirmation
    establish(&alice, "alice", Some(SessionEncryption::Tls)).await;
    establish(&bob, "bob", Some(SessionEncryption::Tls)).await;
    assert_eq!(alice.encryption(), SessionEncryption::Tls);
    assert_eq!(alice.local_node().unwrap().to_string(), "alice@localhost/home");

    // bob receives on one task while alice sends from N tasks and runs N commands at once
    const N: usize = 8;
    let receiver = {
        let bob = bob.clone();
        tokio::spawn(async move {
            let mut events = bob.subscribe().await;
            let mut texts = Vec::new();
            while texts.len() < N {
                texts.push(text_of(&within(events.next()).await.unwrap()));
            }
            texts
        })
    };
    let mut tasks = Vec::new();
    for i in 0..N {
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            alice.send_message(to("bob", &format!("m{i}"))).await.unwrap();
            let ping = Command::request(CommandMethod::Get, "/ping".parse().unwrap());
            alice.process_command(ping, T).await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        let response = within(task).await.unwrap();
        assert_eq!(response.status, CommandStatus::Success);
        ids.push(response.id.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N, "every command got its own response");
    let mut texts = within(receiver).await.unwrap();
    texts.sort();
    let mut expected: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(texts, expected);

    // bob sends to alice while bob's own subscription is gone and alice sends back
    let (a, b) = tokio::join!(
        alice.send_message(to("bob", "ping-pong")),
        bob.send_message(to("alice", "pong-ping"))
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(text_of(&within(alice.receive()).await.unwrap()), "pong-ping");
    assert_eq!(text_of(&within(bob.receive()).await.unwrap()), "ping-pong");

    let finished = within(alice.finish()).await.unwrap();
    assert_eq!(finished.state, SessionState::Finished);
    assert!(matches!(within(alice.receive()).await, Some(ChannelEvent::Finished(_))));
    assert!(within(alice.receive()).await.is_none());
    assert_eq!(alice.state(), SessionState::Finished);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_holds_the_queue_until_dropped() {
    let server = server(None, false).await;
    let alice = connect(&tcp_uri(&server), ClientTlsConfig::default()).await;
    let bob = connect(&tcp_uri(&server), ClientTlsConfig::default()).await;
    establish(&alice, "alice", None).await;
    establish(&bob, "bob", None).await;

    let mut first = alice.subscribe().await;
    // a second reader waits while the subscription lives
    let second = {
        let alice = alice.clone();
        tokio::spawn(async move { alice.receive().await })
    };
    bob.send_message(to("alice", "one")).await.unwrap();
    assert_eq!(text_of(&within(first.next()).await.unwrap()), "one");
    bob.send_message(to("alice", "two")).await.unwrap();
    // dropping the subscription hands the queue over: "two" goes to the waiting reader
    drop(first);
    let event = within(second).await.unwrap().expect("the queue ended");
    assert_eq!(text_of(&event), "two");

    // the end of the session ends a subscription
    let mut events = alice.subscribe().await;
    within(bob.send_message(to("alice", "three"))).await.unwrap();
    assert_eq!(text_of(&within(events.next()).await.unwrap()), "three");
    server.shutdown().await;
    match within(events.next()).await {
        Some(ChannelEvent::Failed(session)) => assert_eq!(session.reason.unwrap().code, 11),
        Some(ChannelEvent::Closed { .. }) => {}
        other => panic!("expected the end of the session, got {other:?}"),
    }
    assert!(within(events.next()).await.is_none());
    assert!(alice.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_a_plain_read_and_steps_are_serialized() {
    let server = server(None, false).await;
    let alice = connect(&ws_uri(&server, false), ClientTlsConfig::default()).await;
    assert_eq!(alice.subprotocol().as_deref(), Some("lime"));
    // before the session: sends are refused, state reads do not wait
    let err = alice.send_message(to("bob", "early")).await.unwrap_err();
    assert!(matches!(err, Error::Session(SessionError::InvalidState { .. })), "{err}");
    // two handshakes at once: the second waits for the first and then finds the wrong state
    let (a, b) = tokio::join!(
        alice.establish_session(EstablishOptions::new(
            identity("alice"),
            "home",
            Authentication::Guest
        )),
        async {
            // read the state many times while the handshake runs on the other branch
            for _ in 0..100 {
                let _ = alice.state();
                tokio::task::yield_now().await;
            }
            alice.start_new_session().await
        }
    );
    assert_eq!(a.unwrap().state, SessionState::Established);
    assert!(b.is_err(), "a new session on an established channel is refused");
    assert_eq!(alice.state(), SessionState::Established);
    assert!(alice.session_id().is_some());

    // a command nobody answers times out, and the client goes on
    let ask = Command::request(CommandMethod::Get, "/x".parse().unwrap())
        .with_to("alice@localhost/home".parse().unwrap());
    let (timed_out, own) =
        tokio::join!(alice.process_command(ask, Duration::from_millis(300)), alice.receive());
    assert!(matches!(timed_out, Err(Error::Timeout(_))), "{timed_out:?}");
    assert!(matches!(own, Some(ChannelEvent::Command(_))));

    // a command in flight when the client closes fails with Closed; the queue ends
    let ask = Command::request(CommandMethod::Get, "/x".parse().unwrap())
        .with_to("alice@localhost/home".parse().unwrap());
    let waiting = {
        let alice = alice.clone();
        tokio::spawn(async move { alice.process_command(ask, T).await })
    };
    assert!(matches!(within(alice.receive()).await, Some(ChannelEvent::Command(_))));
    within(alice.close()).await;
    assert!(matches!(within(waiting).await.unwrap(), Err(Error::Closed)));
    assert!(within(alice.receive()).await.is_none());
    assert_eq!(alice.state(), SessionState::Failed);
    let late = alice.send_message(to("bob", "late")).await;
    assert!(matches!(late, Err(Error::Session(SessionError::InvalidState { .. }))), "{late:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_by_step_over_wss_and_tcp_with_gzip() {
    let certs = certs();
    let server = server(Some(&certs), true).await;
    let wss = connect(&ws_uri(&server, true), client_tls(&certs)).await;
    assert_eq!(wss.encryption(), SessionEncryption::Tls);
    assert_eq!(wss.subprotocol().as_deref(), Some("lime"));
    establish(&wss, "carol", None).await;

    let tcp = connect(&tcp_uri(&server), client_tls(&certs)).await;
    let offer = within(tcp.start_new_session()).await.unwrap();
    assert_eq!(offer.state, SessionState::Negotiating);
    let auth = within(tcp.negotiate_session(SessionCompression::Gzip, SessionEncryption::Tls))
        .await
        .unwrap();
    assert_eq!(auth.state, SessionState::Authenticating);
    assert_eq!(tcp.encryption(), SessionEncryption::Tls);
    assert_eq!(tcp.compression(), SessionCompression::Gzip);
    let done =
        within(tcp.authenticate_session(&identity("dave"), Authentication::Guest, Some("home")))
            .await
            .unwrap();
    assert_eq!(done.state, SessionState::Established);

    tcp.send_message(to("carol", "over gzip and tls")).await.unwrap();
    assert_eq!(text_of(&within(wss.receive()).await.unwrap()), "over gzip and tls");
    drop(tcp);
    within(wss.finish()).await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_failures_are_errors() {
    let err = Client::connect("http://localhost:1", ClientTlsConfig::default(), Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err}");
    // a port nobody listens on (bound and released: nothing accepts there)
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let uri = format!("net.tcp://127.0.0.1:{port}");
    let err = within(Client::connect(&uri, ClientTlsConfig::default(), Default::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err}");

    // a refused authentication: the handshake fails with the reason; no events
    let server = server(None, false).await;
    let c = connect(&tcp_uri(&server), ClientTlsConfig::default()).await;
    let options = EstablishOptions::new(identity("eve"), "home", Authentication::plain("nope"));
    let err = within(c.establish_session(options)).await.unwrap_err();
    assert!(matches!(err, Error::Session(SessionError::Failed { .. })), "{err}");
    assert_eq!(c.state(), SessionState::Failed);
    assert!(within(c.receive()).await.is_none());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_wss_certificate_fails_connect_with_the_tls_error() {
    let certs = certs();
    let server = server(Some(&certs), true).await;
    // trusting another certificate only: the TLS handshake of `wss` must fail, and `connect`
    // must say why (not a bare "closed")
    let other = client_tls(&self::certs());
    let err = within(Client::connect(&ws_uri(&server, true), other, ClientOptions::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(lime::TransportError::Tls(_))), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
    server.shutdown().await;
}

#[test]
fn every_error_has_the_category_hosts_show() {
    use lime::{
        CommandError, ErrorCategory as C, FrameError, Reason, SessionError, TransportError,
    };
    let cases: Vec<(Error, C)> = vec![
        ("@".parse::<lime::Node>().unwrap_err().into(), C::Parse),
        (FrameError::Truncated { offset: 0 }.into(), C::Parse),
        (TransportError::Closed.into(), C::Closed),
        (Error::Closed, C::Closed),
        (TransportError::Io("reset".into()).into(), C::Transport),
        (TransportError::Tls("bad certificate".into()).into(), C::Transport),
        (TransportError::EnvelopeTooLarge { size: 2, limit: 1 }.into(), C::Transport),
        (Error::Timeout(Duration::from_secs(1)), C::Timeout),
        (SessionError::Failed { reason: Reason::with_code(13) }.into(), C::Session),
        (
            SessionError::InvalidState { action: "send", state: SessionState::New }.into(),
            C::Session,
        ),
        (CommandError::Failed { reason: Reason::with_code(67) }.into(), C::Command),
    ];
    for (error, category) in cases {
        assert_eq!(error.category(), category, "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_command_is_forgotten_and_a_full_queue_loses_nothing() {
    let server = server(None, false).await;
    let uri = tcp_uri(&server);
    // alice's queue holds 2 events: past that her driver stops reading the socket
    let small = ClientOptions { buffer: 2, ..ClientOptions::default() };
    let alice =
        Arc::new(within(Client::connect(&uri, ClientTlsConfig::default(), small)).await.unwrap());
    let bob = connect(&uri, ClientTlsConfig::default()).await;
    establish(&alice, "alice", None).await;
    establish(&bob, "bob", None).await;

    // a command whose caller stops waiting is forgotten
    let ask = Command::request(CommandMethod::Get, "/x".parse().unwrap())
        .with_to("alice@localhost/home".parse().unwrap());
    let waiting = {
        let alice = alice.clone();
        tokio::spawn(async move { alice.process_command(ask, T).await })
    };
    assert!(matches!(within(alice.receive()).await, Some(ChannelEvent::Command(_))));
    assert_eq!(alice.pending_commands(), 1);
    waiting.abort();
    assert!(within(waiting).await.unwrap_err().is_cancelled());
    assert_eq!(alice.pending_commands(), 0);

    // 50 messages into a queue of 2, read only afterwards: all arrive, in order
    const COUNT: usize = 50;
    for i in 0..COUNT {
        within(bob.send_message(to("alice", &format!("n{i}")))).await.unwrap();
    }
    // bob's last send is acknowledged by the server once it answers a command of bob's
    let ping = Command::request(CommandMethod::Get, "/ping".parse().unwrap());
    within(bob.process_command(ping, T)).await.unwrap();
    let mut events = alice.subscribe().await;
    for i in 0..COUNT {
        assert_eq!(text_of(&within(events.next()).await.unwrap()), format!("n{i}"));
    }
    drop(events);
    // alice still works both ways
    alice.send_message(to("bob", "done")).await.unwrap();
    assert_eq!(text_of(&within(bob.receive()).await.unwrap()), "done");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_the_in_memory_pair_and_a_close_during_a_handshake_step() {
    let server = server(None, false).await;
    // any transport: the in-memory pair, served by the same server
    let (ours, served) = lime::transport::memory::MemoryTransport::pair();
    server.serve(Box::new(served));
    let alice = Arc::new(Client::with_transport(Box::new(ours), ClientOptions::default()));
    establish(&alice, "alice", None).await;
    let bob = connect(&tcp_uri(&server), ClientTlsConfig::default()).await;
    establish(&bob, "bob", None).await;
    bob.send_message(to("alice", "through memory")).await.unwrap();
    assert_eq!(text_of(&within(alice.receive()).await.unwrap()), "through memory");

    // a step waiting for the server's answer ends with Closed when the client is closed: a
    // raw peer that never answers holds the step open
    let (ours, mut peer) = lime::transport::memory::MemoryTransport::pair();
    let carol = Arc::new(Client::with_transport(Box::new(ours), ClientOptions::default()));
    let step = {
        let carol = carol.clone();
        tokio::spawn(async move { carol.start_new_session().await })
    };
    // the `new` session reached the peer: the step now waits for its answer
    let new = within(lime::transport::Transport::receive(&mut peer)).await.unwrap().unwrap();
    assert!(matches!(new, lime::Envelope::Session(ref s) if s.state == SessionState::New));
    carol.close_now();
    assert!(matches!(within(step).await.unwrap(), Err(Error::Closed)));
    assert_eq!(carol.state(), SessionState::Failed);
    assert!(carol.is_closed());
    assert!(within(carol.receive()).await.is_none(), "the event queue ended");
    // the peer sees the connection end
    assert!(within(lime::transport::Transport::receive(&mut peer)).await.unwrap().is_none());
    server.shutdown().await;
}

/// A client over one end of an in-memory pair (holding `capacity` envelopes each way) whose
/// other end, played by the test, answered `new` with `established`.
async fn established_over_raw_peer(
    capacity: usize,
) -> (Client, lime::transport::memory::MemoryTransport) {
    use lime::transport::Transport as _;
    let (ours, mut peer) =
        lime::transport::memory::MemoryTransport::pair_with(capacity, TransportOptions::default());
    let client = Client::with_transport(Box::new(ours), ClientOptions::default());
    let (session, ()) = tokio::join!(client.start_new_session(), async {
        let new = within(peer.receive()).await.unwrap().unwrap();
        assert!(matches!(new, lime::Envelope::Session(ref s) if s.state == SessionState::New));
        let established = lime::Envelope::from_slice(
            br#"{"id":"s1","from":"postmaster@localhost/server","to":"alice@localhost/home","state":"established"}"#,
        )
        .unwrap();
        within(peer.send(&established)).await.unwrap();
    });
    assert_eq!(session.unwrap().state, SessionState::Established);
    (client, peer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_on_a_thread_without_a_runtime_the_client_still_writes_what_it_queued() {
    use lime::transport::Transport as _;
    // one envelope of room each way: the writer blocks after the first message
    let (client, mut peer) = established_over_raw_peer(1).await;
    const COUNT: usize = 20;
    for i in 0..COUNT {
        within(client.send_message(to("bob", &format!("q{i}")))).await.unwrap();
    }
    // freed by a foreign thread, as a binding object is: no tokio runtime there
    std::thread::spawn(move || drop(client)).join().unwrap();
    for i in 0..COUNT {
        let Some(lime::Envelope::Message(m)) = within(peer.receive()).await.unwrap() else {
            panic!("message q{i} was lost");
        };
        assert_eq!(m.content.unwrap().as_text().unwrap(), format!("q{i}"));
    }
    assert!(within(peer.receive()).await.unwrap().is_none(), "then the connection closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_now_before_any_step_closes_the_connection() {
    use lime::transport::Transport as _;
    let (ours, mut peer) = lime::transport::memory::MemoryTransport::pair();
    let client = Arc::new(Client::with_transport(Box::new(ours), ClientOptions::default()));
    client.close_now();
    assert!(within(peer.receive()).await.unwrap().is_none());
    assert!(client.is_closed());
    assert!(within(client.receive()).await.is_none());
    let late = client.start_new_session().await;
    assert!(late.is_err(), "{late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finished_event_is_there_right_after_finish_even_if_the_client_closes() {
    let server = server(None, false).await;
    for _ in 0..20 {
        let alice = connect(&tcp_uri(&server), ClientTlsConfig::default()).await;
        establish(&alice, "alice", None).await;
        within(alice.finish()).await.unwrap();
        alice.close_now();
        assert!(matches!(within(alice.receive()).await, Some(ChannelEvent::Finished(_))));
        assert!(within(alice.receive()).await.is_none());
    }
    server.shutdown().await;
}
