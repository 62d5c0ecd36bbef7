use std::time::Duration;

use lime::{
    channel::{ChannelEvent, ChannelOptions, ClientOptions, EstablishOptions},
    reason::codes,
    server::ServerConfig,
    transport::tls::ClientTlsConfig,
    Authentication, Command, CommandMethod, CommandStatus, Error, Message, NotificationEvent,
    SessionEncryption, SessionError, SessionState,
};

use lime::transport::Transport;

use crate::common::*;

/// Two clients on `uri`: a message with a receipt each way, a command round trip, a clean finish.
async fn full_scenario(uri: &str, tls: &ClientTlsConfig) {
    let receipts = ClientOptions {
        channel: ChannelOptions { auto_notify_receipt: true, ..ChannelOptions::client() },
        ..ClientOptions::default()
    };
    let alice = client(uri, tls, receipts.clone()).await;
    within(alice.establish_session(EstablishOptions::new(
        "alice@localhost".parse().unwrap(),
        "home",
        Authentication::plain("wonderland"),
    )))
    .await
    .unwrap();
    assert_eq!(alice.state(), SessionState::Established);
    assert_eq!(alice.local_node().unwrap().to_string(), "alice@localhost/home");
    let bob = client(uri, tls, receipts).await;
    within(bob.establish_session(EstablishOptions::new(
        "bob@localhost".parse().unwrap(),
        "phone",
        Authentication::Guest,
    )))
    .await
    .unwrap();

    alice
        .send_message(
            Message::text("Hello Bob")
                .with_id("m1")
                .with_to("bob@localhost/phone".parse().unwrap()),
        )
        .await
        .unwrap();
    let ChannelEvent::Message(m) = next(&bob).await else { panic!() };
    assert_eq!(m.content.unwrap().as_text(), Some("Hello Bob"));
    assert_eq!(m.from.unwrap().to_string(), "alice@localhost/home");
    let ChannelEvent::Notification(n) = next(&alice).await else { panic!() };
    assert_eq!((n.event, n.id.as_deref()), (NotificationEvent::Received, Some("m1")));
    assert_eq!(n.from.unwrap().to_string(), "bob@localhost/phone");

    // to an identity: every instance of bob
    bob.send_message(
        Message::text("Hi Alice").with_id("m2").with_to("alice@localhost".parse().unwrap()),
    )
    .await
    .unwrap();
    let ChannelEvent::Message(m) = next(&alice).await else { panic!() };
    assert_eq!(m.id.as_deref(), Some("m2"));
    let ChannelEvent::Notification(n) = next(&bob).await else { panic!() };
    assert_eq!(n.event, NotificationEvent::Received);

    // a command round trip through the server to bob, answered by bob's application
    let ask = Command::request(CommandMethod::Get, "/status".parse().unwrap())
        .with_to("bob@localhost/phone".parse().unwrap());
    let pending = alice.process_command(ask, T);
    let answer = async {
        let ChannelEvent::Command(c) = next(&bob).await else { panic!() };
        bob.send_command(Command::success_for(&c, Some(lime::Document::text("fine"))))
            .await
            .unwrap();
    };
    let (response, ()) = tokio::join!(pending, answer);
    let response = response.unwrap();
    assert_eq!(response.status, CommandStatus::Success);
    assert_eq!(response.resource.unwrap().as_text(), Some("fine"));

    // ping to the server, answered by the server
    let ping = Command::request(CommandMethod::Get, "/ping".parse().unwrap());
    let pong = within(alice.process_command(ping, T)).await.unwrap();
    assert_eq!(pong.status, CommandStatus::Success);
    assert_eq!(pong.resource.unwrap().media_type().as_str(), "application/vnd.lime.ping+json");

    // ping to bob: answered by bob's channel, never seen by bob's application
    let ping = Command::request(CommandMethod::Get, "/ping".parse().unwrap())
        .with_to("bob@localhost/phone".parse().unwrap());
    let pong = within(alice.process_command(ping, T)).await.unwrap();
    assert_eq!(pong.status, CommandStatus::Success);

    let finished = within(alice.finish()).await.unwrap();
    assert_eq!(finished.state, SessionState::Finished);
    assert!(matches!(next(&alice).await, ChannelEvent::Finished(_)));
    assert!(within(alice.receive()).await.is_none());
    within(bob.finish()).await.unwrap();
    // bob's app saw nothing but what we consumed
    assert!(matches!(next(&bob).await, ChannelEvent::Finished(_)));
}

#[tokio::test]
async fn tcp_session_routing_receipts_commands_finish() {
    let server = start(config()).await;
    full_scenario(&tcp_uri(&server), &ClientTlsConfig::default()).await;
    assert_eq!(server.session_count(), 0);
    within(server.shutdown()).await;
}

#[tokio::test]
async fn websocket_session_routing_receipts_commands_finish() {
    let server = start(config()).await;
    full_scenario(&ws_uri(&server, false), &ClientTlsConfig::default()).await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn tcp_tls_negotiated_in_band() {
    let certs = certs();
    let server = start(ServerConfig { tls: Some(server_tls(&certs)), ..config() }).await;
    let tls = client_tls(&certs);
    let uri = tcp_uri(&server);
    // the server offers [none, tls]; establish picks the first unless told: choose tls
    let c = client(&uri, &tls, ClientOptions::default()).await;
    let first = within(c.start_new_session()).await.unwrap();
    assert_eq!(first.state, SessionState::Negotiating);
    assert_eq!(
        first.encryption_options,
        Some(vec![SessionEncryption::None, SessionEncryption::Tls])
    );
    let next_session =
        within(c.negotiate_session(lime::SessionCompression::None, SessionEncryption::Tls))
            .await
            .unwrap();
    assert_eq!(next_session.state, SessionState::Authenticating);
    let est = within(c.authenticate_session(
        &"carol@localhost".parse().unwrap(),
        Authentication::Guest,
        Some("x"),
    ))
    .await
    .unwrap();
    assert_eq!(est.state, SessionState::Established);
    drop(c);
    full_scenario_tls(&uri, &tls).await;
    within(server.shutdown()).await;
}

async fn full_scenario_tls(uri: &str, tls: &ClientTlsConfig) {
    let a = client(uri, tls, ClientOptions::default()).await;
    within(
        a.establish_session(
            EstablishOptions::new(
                "alice@localhost".parse().unwrap(),
                "tls",
                Authentication::plain("wonderland"),
            )
            .negotiate(lime::SessionCompression::None, SessionEncryption::Tls),
        ),
    )
    .await
    .unwrap();
    let b = client(uri, tls, ClientOptions::default()).await;
    within(
        b.establish_session(
            EstablishOptions::new("bob@localhost".parse().unwrap(), "tls", Authentication::Guest)
                .negotiate(lime::SessionCompression::None, SessionEncryption::Tls),
        ),
    )
    .await
    .unwrap();
    a.send_message(Message::text("secret").with_to("bob@localhost/tls".parse().unwrap()))
        .await
        .unwrap();
    let ChannelEvent::Message(m) = next(&b).await else { panic!() };
    assert_eq!(m.content.unwrap().as_text(), Some("secret"));
    within(a.finish()).await.unwrap();
    within(b.finish()).await.unwrap();
}

#[tokio::test]
async fn wss_session() {
    let certs = certs();
    let server = start(ServerConfig { tls: Some(server_tls(&certs)), wss: true, ..config() }).await;
    let tls = client_tls(&certs);
    let uri = ws_uri(&server, true);
    let a = guest(&uri, &tls, "a", "1").await;
    let b = guest(&uri, &tls, "b", "1").await;
    a.send_message(Message::text("over wss").with_to("b@localhost/1".parse().unwrap()))
        .await
        .unwrap();
    let ChannelEvent::Message(m) = next(&b).await else { panic!() };
    assert_eq!(m.content.unwrap().as_text(), Some("over wss"));
    within(a.finish()).await.unwrap();
    within(server.shutdown()).await;
}

#[tokio::test]
async fn gzip_negotiated_when_both_enable_it() {
    let mut cfg = config();
    cfg.transport.enable_gzip = true;
    cfg.encryption = vec![SessionEncryption::None];
    let server = start(cfg).await;
    let options = lime::transport::TransportOptions { enable_gzip: true, ..Default::default() };
    let transport = within(lime::transport::connect_with(
        &tcp_uri(&server),
        &ClientTlsConfig::default(),
        options,
    ))
    .await
    .unwrap();
    let a = lime::channel::ClientChannel::new(transport);
    let first = within(a.start_new_session()).await.unwrap();
    assert_eq!(
        first.compression_options,
        Some(vec![lime::SessionCompression::None, lime::SessionCompression::Gzip])
    );
    within(a.negotiate_session(lime::SessionCompression::Gzip, SessionEncryption::None))
        .await
        .unwrap();
    within(a.authenticate_session(
        &"z@localhost".parse().unwrap(),
        Authentication::Guest,
        Some("gz"),
    ))
    .await
    .unwrap();
    let b = guest(&tcp_uri(&server), &ClientTlsConfig::default(), "y", "1").await;
    b.send_message(Message::text("zipped ".repeat(50)).with_to("z@localhost/gz".parse().unwrap()))
        .await
        .unwrap();
    let ChannelEvent::Message(m) = next(&a).await else { panic!() };
    assert!(m.content.unwrap().as_text().unwrap().starts_with("zipped"));
    within(a.finish()).await.unwrap();
    within(server.shutdown()).await;
}

#[tokio::test]
async fn wrong_password_fails_with_reason_13() {
    let server = start(config()).await;
    let c = client(&tcp_uri(&server), &ClientTlsConfig::default(), ClientOptions::default()).await;
    let err = within(c.establish_session(EstablishOptions::new(
        "alice@localhost".parse().unwrap(),
        "x",
        Authentication::plain("nope"),
    )))
    .await
    .unwrap_err();
    let Error::Session(SessionError::Failed { reason }) = err else { panic!("{err:?}") };
    assert_eq!(reason.code, codes::SESSION_AUTHENTICATION_FAILED);
    assert_eq!(c.state(), SessionState::Failed);
    within(server.shutdown()).await;
}

#[tokio::test]
async fn unknown_destination_gets_failed_42() {
    let server = start(config()).await;
    let a = guest(&tcp_uri(&server), &ClientTlsConfig::default(), "a", "1").await;
    a.send_message(
        Message::text("anyone?").with_id("lost").with_to("nobody@localhost/x".parse().unwrap()),
    )
    .await
    .unwrap();
    let ChannelEvent::Notification(n) = next(&a).await else { panic!() };
    assert_eq!(
        (n.event, n.id.as_deref(), n.reason.unwrap().code),
        (NotificationEvent::Failed, Some("lost"), codes::ROUTING_DESTINATION_NOT_FOUND)
    );
    let cmd = Command::request(CommandMethod::Get, "/x".parse().unwrap())
        .with_to("nobody@localhost/x".parse().unwrap());
    let r = within(a.process_command(cmd, T)).await.unwrap();
    assert_eq!(
        (r.status, r.reason.unwrap().code),
        (CommandStatus::Failure, codes::ROUTING_DESTINATION_NOT_FOUND)
    );
    within(server.shutdown()).await;
}

#[tokio::test]
async fn duplicate_node_is_rejected_with_reason_12() {
    let server = start(config()).await;
    let uri = tcp_uri(&server);
    let _first = guest(&uri, &ClientTlsConfig::default(), "dup", "same").await;
    let second = client(&uri, &ClientTlsConfig::default(), ClientOptions::default()).await;
    let err = within(second.establish_session(EstablishOptions::new(
        "dup@localhost".parse().unwrap(),
        "same",
        Authentication::Guest,
    )))
    .await
    .unwrap_err();
    let Error::Session(SessionError::Failed { reason }) = err else { panic!("{err:?}") };
    assert_eq!(reason.code, codes::SESSION_REGISTRATION_ERROR);
    within(server.shutdown()).await;
}

#[tokio::test]
async fn missing_instance_registers_as_default() {
    let server = start(config()).await;
    let c = client(&tcp_uri(&server), &ClientTlsConfig::default(), ClientOptions::default()).await;
    within(c.start_new_session()).await.unwrap();
    let est = within(c.authenticate_session(
        &"noinst@localhost".parse().unwrap(),
        Authentication::Guest,
        None,
    ))
    .await
    .unwrap();
    assert_eq!(est.to.unwrap().to_string(), "noinst@localhost/default");
    within(server.shutdown()).await;
}

/// A raw in-memory connection to `server` (no sockets: with paused time, the clock advances only
/// when every task is idle, so the server's timers fire exactly when they are due).
fn raw_memory(server: &lime::server::ServerHandle) -> lime::transport::memory::MemoryTransport {
    let (client, served) = lime::transport::memory::MemoryTransport::pair();
    server.serve(Box::new(served));
    client
}

#[tokio::test(start_paused = true)]
async fn handshake_timeout_fails_with_reason_16() {
    let timeout = Duration::from_millis(200);
    let server =
        start(ServerConfig { tcp: vec![], ws: vec![], handshake_timeout: timeout, ..config() })
            .await;
    let mut t = raw_memory(&server);
    let started = tokio::time::Instant::now();
    t.send(&lime::Session::new(SessionState::New).into()).await.unwrap();
    let Some(lime::Envelope::Session(auth)) = within(t.receive()).await.unwrap() else { panic!() };
    assert_eq!(auth.state, SessionState::Authenticating);
    // never authenticate: the server gives up, at the deadline and not before
    let Some(lime::Envelope::Session(failed)) = within(t.receive()).await.unwrap() else {
        panic!()
    };
    assert_eq!(failed.state, SessionState::Failed);
    assert_eq!(failed.reason.unwrap().code, codes::SESSION_NEGOTIATION_TIMEOUT);
    assert_eq!(started.elapsed(), timeout, "failed exactly at the handshake deadline");
    assert_eq!(within(t.receive()).await.unwrap(), None, "the server closes the connection");
    within(server.shutdown()).await;
}

#[tokio::test]
async fn shutdown_fails_every_session_with_reason_11() {
    let server = start(config()).await;
    let uri = tcp_uri(&server);
    let a = guest(&uri, &ClientTlsConfig::default(), "a", "1").await;
    let b = guest(&ws_uri(&server, false), &ClientTlsConfig::default(), "b", "1").await;
    within(server.shutdown()).await;
    for c in [&a, &b] {
        let ChannelEvent::Failed(s) = next(c).await else { panic!() };
        let reason = s.reason.unwrap();
        assert_eq!(reason.code, codes::SESSION_ERROR);
        assert_eq!(reason.description.as_deref(), Some("The server is being shut down"));
    }
    assert_eq!(a.state(), SessionState::Failed);
}

#[tokio::test]
async fn memory_transport_sessions() {
    let server = start(ServerConfig { tcp: vec![], ws: vec![], ..config() }).await;
    let (mut clients, mut names) = (Vec::new(), Vec::new());
    for i in 0..3 {
        let (a, b) = lime::transport::memory::MemoryTransport::pair();
        server.serve(Box::new(b));
        let c = lime::channel::ClientChannel::new(Box::new(a));
        within(c.establish_session(EstablishOptions::new(
            format!("m{i}@localhost").parse().unwrap(),
            "mem",
            Authentication::Guest,
        )))
        .await
        .unwrap();
        clients.push(c);
        names.push(format!("m{i}@localhost/mem"));
    }
    for (i, c) in clients.iter().enumerate() {
        let to = names[(i + 1) % 3].parse().unwrap();
        c.send_message(Message::text(format!("from {i}")).with_to(to)).await.unwrap();
    }
    for (i, c) in clients.iter().enumerate() {
        let ChannelEvent::Message(m) = next(c).await else { panic!() };
        assert_eq!(m.content.unwrap().as_text().unwrap(), format!("from {}", (i + 2) % 3));
    }
    assert_eq!(server.session_count(), 3);
    within(server.shutdown()).await;
}

#[tokio::test(start_paused = true)]
async fn server_pings_idle_sessions_and_finishes_silent_ones() {
    let (interval, idle) = (Duration::from_millis(100), Duration::from_millis(300));
    let server = start(ServerConfig {
        tcp: vec![],
        ws: vec![],
        remote_ping_interval: Some(interval),
        remote_idle_timeout: Some(idle),
        ..config()
    })
    .await;
    // a well-behaved client answers the pings automatically and stays established
    let polite = lime::channel::ClientChannel::new(Box::new(raw_memory(&server)));
    within(polite.establish_session(EstablishOptions::new(
        "polite@localhost".parse().unwrap(),
        "1",
        Authentication::Guest,
    )))
    .await
    .unwrap();
    // a raw client that never answers
    let mut t = raw_memory(&server);
    t.send(&lime::Session::new(SessionState::New).into()).await.unwrap();
    let Some(lime::Envelope::Session(offer)) = within(t.receive()).await.unwrap() else { panic!() };
    let mut auth = lime::Session::new(SessionState::Authenticating)
        .with_from("silent@localhost/1".parse().unwrap())
        .with_authentication(Authentication::Guest);
    auth.id = offer.id; // every session envelope after `new` echoes the session id
    t.send(&auth.into()).await.unwrap();
    let Some(lime::Envelope::Session(est)) = within(t.receive()).await.unwrap() else { panic!() };
    assert_eq!(est.state, SessionState::Established);
    let established = tokio::time::Instant::now();
    let Some(lime::Envelope::Command(ping)) = within(t.receive()).await.unwrap() else { panic!() };
    assert!(ping.is_ping_request() && ping.id.is_some());
    assert_eq!(established.elapsed(), interval, "the first ping comes after one interval");
    let Some(lime::Envelope::Session(end)) = within(t.receive()).await.unwrap() else { panic!() };
    assert_eq!(end.state, SessionState::Finished);
    let silent_for = established.elapsed();
    assert!(
        silent_for >= idle && silent_for <= idle + interval,
        "finished after {silent_for:?} of silence (idle timeout {idle:?}, checked every {interval:?})"
    );
    // the polite one lived through more than the idle timeout and still works
    assert_eq!(polite.state(), SessionState::Established);
    let pong = within(polite.process_command(Command::ping_request(), T)).await.unwrap();
    assert_eq!(pong.status, CommandStatus::Success);
    within(server.shutdown()).await;
}
