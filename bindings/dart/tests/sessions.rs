//! Sessions through the API the Dart package calls, against a real in-process lime-core server
//! over WebSocket and TCP (plain, and with TLS negotiated in band).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{future::Future, sync::Arc, time::Duration};

use lime::server::{ServerConfig, ServerHandle};
use lime_dart::api::{
    client::{
        default_channel_options, default_client_options, ChannelEventDto, ChannelEventKind,
        ChannelOptionsDto, ClientOptionsDto, LimeClient,
    },
    credentials::CredentialsDto,
    document::DocumentDto,
    enums::{
        AuthenticationSchemeDto, CommandMethodDto, CommandStatusDto, NotificationEventDto,
        SessionCompressionDto, SessionEncryptionDto, SessionStateDto,
    },
    envelope::{CommandDto, MessageDto, NotificationDto},
    error::{ErrorCategory, LimeError},
    transport::{default_transport_options, LimeTransport, TransportOptionsDto},
};
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(10);

/// Fails the test instead of hanging.
async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

use lime_test_support::{alice_and_guests, certs, server_config, start, tcp_uri, Certs};

async fn server(tls: Option<&Certs>) -> ServerHandle {
    server_with(tls, false).await
}

/// The shared test server with guests and alice, TLS on WebSocket too when `wss`.
async fn server_with(tls: Option<&Certs>, wss: bool) -> ServerHandle {
    start(ServerConfig { wss, authenticator: Arc::new(alice_and_guests()), ..server_config(tls) })
        .await
}

fn ws_uri(h: &ServerHandle) -> String {
    lime_test_support::ws_uri(h, false)
}

fn wss_uri(h: &ServerHandle) -> String {
    lime_test_support::ws_uri(h, true)
}

fn guest() -> CredentialsDto {
    CredentialsDto { scheme: AuthenticationSchemeDto::Guest, secret: None, issuer: None }
}

/// A password in clear text, as every binding passes it (the core encodes it).
fn plain(password: &str) -> CredentialsDto {
    CredentialsDto {
        scheme: AuthenticationSchemeDto::Plain,
        secret: Some(password.into()),
        issuer: None,
    }
}

/// A `text/plain` document: its text as is (lime-core's rule for non-JSON media types).
fn text(s: &str) -> DocumentDto {
    DocumentDto { media_type: "text/plain".into(), text: s.into() }
}

fn request(method: CommandMethodDto, uri: &str, to: Option<&str>) -> CommandDto {
    CommandDto {
        id: None,
        from: None,
        pp: None,
        to: to.map(Into::into),
        metadata: None,
        uri: Some(uri.into()),
        method,
        status: CommandStatusDto::Pending,
        resource: None,
        reason: None,
    }
}

fn transport_options(tls: Option<&Certs>) -> TransportOptionsDto {
    TransportOptionsDto {
        use_default_roots: false,
        trusted_roots_pem: tls.map(|c| c.cert.clone()),
        ..default_transport_options()
    }
}

fn channel_options(receipts: bool) -> ChannelOptionsDto {
    ChannelOptionsDto { auto_notify_receipt: receipts, ..default_channel_options() }
}

fn options(tls: Option<&Certs>, receipts: bool) -> ClientOptionsDto {
    ClientOptionsDto { transport: transport_options(tls), channel: channel_options(receipts) }
}

async fn next(c: &LimeClient) -> ChannelEventDto {
    within(c.next_event()).await.unwrap().expect("the channel ended")
}

/// Collects `c`'s events through [`LimeClient::pump`] (what `events()` does for Dart).
fn pump(c: &Arc<LimeClient>) -> mpsc::UnboundedReceiver<ChannelEventDto> {
    let (tx, rx) = mpsc::unbounded_channel();
    let c = c.clone();
    tokio::spawn(async move { c.pump(move |e| tx.send(e).is_ok()).await });
    rx
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<ChannelEventDto>) -> ChannelEventDto {
    within(rx.recv()).await.expect("the pump ended")
}

/// Alice (plain, whole handshake in one call, pulls events) and Bob (guest, handshake step by
/// step, events pumped): messages both ways with receipts, a command round trip between them
/// and one to the server, then both finish.
async fn full_session(uri: &str, tls: Option<&Certs>) {
    let alice = within(LimeClient::connect(uri.into(), options(tls, true))).await.unwrap();
    // TCP with a server certificate negotiates TLS in band; WebSocket never negotiates.
    let negotiates = tls.is_some() && uri.starts_with("net.tcp://");
    let encryption = negotiates.then_some(SessionEncryptionDto::Tls);
    let established = within(alice.establish_session(
        "alice@localhost".into(),
        Some("home".into()),
        plain("wonderland"),
        None,
        encryption,
    ))
    .await
    .unwrap();
    assert_eq!(established.state, SessionStateDto::Established);
    assert_eq!(established.to.as_deref(), Some("alice@localhost/home"));
    let info = alice.info();
    assert_eq!(info.state, SessionStateDto::Established);
    assert_eq!(info.local_node.as_deref(), Some("alice@localhost/home"));
    assert_eq!(info.remote_node.as_deref(), Some("postmaster@localhost/server"));
    assert!(info.session_id.is_some());

    // bob opens the connection first (Dart: `Transport.open`), then a channel takes it over
    // (Dart: `ClientChannel(transport)`)
    let connection =
        within(LimeTransport::connect(uri.into(), transport_options(tls))).await.unwrap();
    assert!(connection.is_open());
    let websocket = uri.starts_with("ws");
    assert_eq!(connection.subprotocol().as_deref(), websocket.then_some("lime"));
    let wss = uri.starts_with("wss://");
    let initial = if wss { SessionEncryptionDto::Tls } else { SessionEncryptionDto::None };
    assert_eq!(connection.encryption(), initial);
    let bob =
        Arc::new(within(LimeClient::attach(&connection, channel_options(true))).await.unwrap());
    assert!(!connection.is_open());
    let again = within(LimeClient::attach(&connection, channel_options(true))).await.unwrap_err();
    assert_eq!(again, LimeError::Closed);
    let mut session = within(bob.start_new_session()).await.unwrap();
    if negotiates {
        assert_eq!(session.state, SessionStateDto::Negotiating);
        let offered = session.encryption_options.clone().unwrap();
        assert!(offered.contains(&SessionEncryptionDto::Tls), "{offered:?}");
        session =
            within(bob.negotiate_session(SessionCompressionDto::None, SessionEncryptionDto::Tls))
                .await
                .unwrap();
    }
    assert_eq!(session.state, SessionStateDto::Authenticating);
    assert!(session.scheme_options.unwrap().contains(&AuthenticationSchemeDto::Guest));
    assert_eq!(bob.state(), SessionStateDto::Authenticating);
    let session =
        within(bob.authenticate_session("bob@localhost".into(), guest(), Some("phone".into())))
            .await
            .unwrap();
    assert_eq!(session.state, SessionStateDto::Established);
    assert_eq!(bob.state(), SessionStateDto::Established);
    let mut bob_events = pump(&bob);

    // alice → bob, with bob's automatic receipt
    let m1 = MessageDto {
        id: Some("m1".into()),
        to: Some("bob@localhost/phone".into()),
        metadata: Some(vec![("k".into(), "v".into())]),
        content: Some(text("Hello Bob")),
        ..MessageDto::default()
    };
    within(alice.send_message(m1)).await.unwrap();
    let event = recv(&mut bob_events).await;
    assert_eq!(event.kind, ChannelEventKind::Message);
    let m = event.message.unwrap();
    assert_eq!(m.content, Some(text("Hello Bob")));
    assert_eq!(m.from.as_deref(), Some("alice@localhost/home"));
    assert_eq!(m.metadata, Some(vec![("k".into(), "v".into())]));
    let receipt = next(&alice).await.notification.unwrap();
    assert_eq!(
        (receipt.event, receipt.id.as_deref()),
        (NotificationEventDto::Received, Some("m1"))
    );
    assert_eq!(receipt.from.as_deref(), Some("bob@localhost/phone"));

    // bob → alice (JSON content, to the identity), with alice's receipt
    let m2 = MessageDto {
        id: Some("m2".into()),
        to: Some("alice@localhost".into()),
        content: Some(DocumentDto {
            media_type: "application/vnd.lime.chatstate+json".into(),
            text: r#"{"state":"composing"}"#.into(),
        }),
        ..MessageDto::default()
    };
    within(bob.send_message(m2.clone())).await.unwrap();
    let m = next(&alice).await.message.unwrap();
    assert_eq!((m.id, m.content), (m2.id, m2.content));
    let event = recv(&mut bob_events).await;
    assert_eq!(event.notification.unwrap().event, NotificationEventDto::Received);

    // a notification sent by hand
    let consumed = NotificationDto {
        id: Some("m2".into()),
        from: None,
        pp: None,
        to: Some("bob@localhost/phone".into()),
        metadata: None,
        event: NotificationEventDto::Consumed,
        reason: None,
    };
    within(alice.send_notification(consumed)).await.unwrap();
    let event = recv(&mut bob_events).await;
    assert_eq!(event.notification.unwrap().event, NotificationEventDto::Consumed);

    // a command round trip through the server to bob, answered by bob
    let ask = request(CommandMethodDto::Get, "/status", Some("bob@localhost/phone"));
    let answer = async {
        let event = recv(&mut bob_events).await;
        assert_eq!(event.kind, ChannelEventKind::Command);
        let c = event.command.unwrap();
        assert_eq!(c.uri.as_deref(), Some("/status"));
        let response = CommandDto {
            id: c.id.clone(),
            to: c.from.clone(),
            status: CommandStatusDto::Success,
            resource: Some(text("fine")),
            ..request(c.method, "/status", None)
        };
        let response = CommandDto { uri: None, ..response };
        within(bob.send_command(response)).await.unwrap();
    };
    let (response, ()) = tokio::join!(within(alice.process_command(ask, 5_000)), answer);
    let response = response.unwrap();
    assert_eq!(response.status, CommandStatusDto::Success);
    assert_eq!(response.resource, Some(text("fine")));

    // a ping to the server, answered by the server
    let pong = within(alice.process_command(request(CommandMethodDto::Get, "/ping", None), 5_000))
        .await
        .unwrap();
    assert_eq!(pong.status, CommandStatusDto::Success);

    // alice finishes; her events end with the session
    let finished = within(alice.finish()).await.unwrap();
    assert_eq!(finished.state, SessionStateDto::Finished);
    assert_eq!(alice.state(), SessionStateDto::Finished);
    let last = next(&alice).await;
    assert_eq!(last.kind, ChannelEventKind::Finished);
    assert!(within(alice.next_event()).await.unwrap().is_none());
    let err = within(
        alice.send_message(MessageDto { content: Some(text("late")), ..MessageDto::default() }),
    )
    .await
    .unwrap_err();
    assert!(matches!(err.kind(), ErrorCategory::Session | ErrorCategory::Closed), "{err}");

    // bob finishes while his pump waits in `receive`: the pump steps aside, then delivers the
    // end of the session and stops
    let finished = within(bob.finish()).await.unwrap();
    assert_eq!(finished.state, SessionStateDto::Finished);
    assert_eq!(recv(&mut bob_events).await.kind, ChannelEventKind::Finished);
    assert!(within(bob_events.recv()).await.is_none(), "the pump must end with the session");
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_session() {
    let server = server(None).await;
    full_session(&ws_uri(&server), None).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_session() {
    let server = server(None).await;
    full_session(&tcp_uri(&server), None).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_session_with_tls_negotiated_in_band() {
    let certs = certs();
    let server = server(Some(&certs)).await;
    full_session(&tcp_uri(&server), Some(&certs)).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wss_session() {
    let certs = certs();
    let server = server_with(Some(&certs), true).await;
    full_session(&wss_uri(&server), Some(&certs)).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_authentication_is_code_13() {
    let server = server(None).await;
    for uri in [ws_uri(&server), tcp_uri(&server)] {
        let c = within(LimeClient::connect(uri, options(None, false))).await.unwrap();
        let err = within(c.establish_session(
            "alice@localhost".into(),
            Some("home".into()),
            plain("wrong"),
            None,
            None,
        ))
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorCategory::Session);
        assert!(matches!(err, LimeError::Session { code: 13, .. }), "{err}");
        assert_eq!(err.reason().code, 13);
        assert_eq!(c.state(), SessionStateDto::Failed);
        // the session never ran: no events, and the stream ends at once
        assert!(within(c.next_event()).await.unwrap().is_none());
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn state_rules_and_timeouts() {
    let server = server(None).await;
    let c = within(LimeClient::connect(ws_uri(&server), options(None, false))).await.unwrap();
    assert_eq!(c.state(), SessionStateDto::New);
    let early = MessageDto { content: Some(text("too early")), ..MessageDto::default() };
    let err = within(c.send_message(early)).await.unwrap_err();
    assert_eq!((err.kind(), err.reason().code), (ErrorCategory::Session, 15), "{err}");
    let err = within(c.next_event()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorCategory::Session, "{err}");
    // what `events()` puts into the Dart stream as its error (instead of failing the call)
    let err = within(c.pump(|_| -> bool { unreachable!("no event before the session") }))
        .await
        .unwrap_err();
    assert_eq!((err.kind(), err.reason().code), (ErrorCategory::Session, 15), "{err}");
    let bad = MessageDto { to: Some("@".into()), ..MessageDto::default() };
    assert_eq!(
        within(c.send_message(bad)).await.unwrap_err().kind(),
        ErrorCategory::InvalidArgument
    );

    within(c.establish_session("carol@localhost".into(), None, guest(), None, None)).await.unwrap();
    assert_eq!(c.info().local_node.as_deref(), Some("carol@localhost/default"));
    // a command to a node that never answers
    let ask = request(CommandMethodDto::Get, "/x", Some("carol@localhost/default"));
    let silent = async {
        // carol receives her own request and does not answer it
        assert_eq!(next(&c).await.kind, ChannelEventKind::Command);
    };
    let (timed_out, ()) = tokio::join!(within(c.process_command(ask, 300)), silent);
    let err = timed_out.unwrap_err();
    assert_eq!((err.kind(), err.reason().code), (ErrorCategory::Timeout, 0), "{err}");

    within(c.close()).await.unwrap();
    assert_eq!(c.state(), SessionStateDto::Failed);
    assert!(within(c.next_event()).await.unwrap().is_none());
    server.shutdown().await;
}

/// Closing the connection (Dart `Channel.dispose`, `Transport.close`) while a command waits
/// for its response fails that command as `closed`, the category of every binding.
#[tokio::test(flavor = "multi_thread")]
async fn closing_fails_a_pending_command_as_closed() {
    let server = server(None).await;
    let c =
        Arc::new(within(LimeClient::connect(ws_uri(&server), options(None, false))).await.unwrap());
    within(c.establish_session("gina@localhost".into(), Some("x".into()), guest(), None, None))
        .await
        .unwrap();
    let mut events = pump(&c);
    let ask = request(CommandMethodDto::Get, "/x", Some("gina@localhost/x"));
    let pending = {
        let c = c.clone();
        tokio::spawn(async move { c.process_command(ask, 60_000).await })
    };
    // the request reached us (nobody answers it), so it is pending now
    assert_eq!(recv(&mut events).await.kind, ChannelEventKind::Command);
    within(c.close()).await.unwrap();
    let err = within(pending).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorCategory::Closed, "{err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_shutdown_ends_the_event_stream() {
    let server = server(None).await;
    let c = Arc::new(
        within(LimeClient::connect(tcp_uri(&server), options(None, false))).await.unwrap(),
    );
    within(c.establish_session("dave@localhost".into(), Some("x".into()), guest(), None, None))
        .await
        .unwrap();
    let mut events = pump(&c);
    // A command to ourselves that nobody answers: it is pending when the server goes.
    let ask = request(CommandMethodDto::Get, "/x", Some("dave@localhost/x"));
    let pending = {
        let c = c.clone();
        tokio::spawn(async move { c.process_command(ask, 60_000).await })
    };
    assert_eq!(recv(&mut events).await.kind, ChannelEventKind::Command);
    server.shutdown().await;
    // The same category as in every host: the connection is closed.
    let err = within(pending).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorCategory::Closed, "{err}");
    let end = recv(&mut events).await;
    assert_eq!(end.kind, ChannelEventKind::Failed);
    assert_eq!(end.session.unwrap().reason.unwrap().code, 11);
    assert!(within(events.recv()).await.is_none());
    assert_eq!(c.state(), SessionStateDto::Failed);
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_errors() {
    let err = LimeClient::connect("http://localhost:1".into(), default_client_options())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorCategory::Transport);
    let err = LimeClient::connect("net.tcp://127.0.0.1:1".into(), default_client_options())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorCategory::Transport);
    let half = TransportOptionsDto {
        client_certificate_pem: Some("x".into()),
        ..default_transport_options()
    };
    let err = LimeTransport::connect("ws://127.0.0.1:1".into(), half).await.unwrap_err();
    assert_eq!(err.kind(), ErrorCategory::InvalidArgument);
    let bad_pem = TransportOptionsDto {
        trusted_roots_pem: Some("not a certificate".into()),
        ..default_transport_options()
    };
    let err = LimeTransport::connect("ws://127.0.0.1:1".into(), bad_pem).await.unwrap_err();
    assert_eq!(err.kind(), ErrorCategory::Transport);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transport_closes_until_a_channel_takes_it() {
    let server = server(None).await;
    let t = within(LimeTransport::connect(tcp_uri(&server), default_transport_options()))
        .await
        .unwrap();
    within(t.close()).await.unwrap();
    assert!(!t.is_open());
    within(t.close()).await.unwrap();
    assert_eq!(
        within(LimeClient::attach(&t, default_channel_options())).await.unwrap_err(),
        LimeError::Closed
    );
    server.shutdown().await;
}
