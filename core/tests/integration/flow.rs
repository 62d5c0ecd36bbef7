//! Abuse tests for issue #12 items 2 and 3: a recipient that does not read never stalls its
//! senders and holds a bounded number of bytes; the server forwards the bytes it received,
//! editing only `from`, and refuses (never drops) an envelope that the edit makes too large.
//! Each case ends by checking that an unrelated pair of sessions still routes. Sessions run
//! over the in-memory transport (paused time where timers matter), plus one TCP and WebSocket
//! check of the forwarded bytes.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use lime::{
    channel::{ChannelEvent, ClientChannel},
    reason::codes,
    server::{AuthConfig, ServerConfig, ServerHandle, DEFAULT_SEND_TIMEOUT},
    transport::{
        memory::MemoryTransport, tcp::TcpTransport, tls::ClientTlsConfig,
        websocket::WebSocketTransport, Transport, TransportOptions,
    },
    Authentication, Command, CommandMethod, CommandStatus, Envelope, Message, Node,
    NotificationEvent, Session, SessionState,
};

use crate::common::*;

/// Guests only, no listeners, no remote ping (so the only timer is the send timeout).
fn memory_config() -> ServerConfig {
    ServerConfig {
        tcp: vec![],
        ws: vec![],
        authenticator: Arc::new(AuthConfig::guest()),
        remote_ping_interval: None,
        remote_idle_timeout: None,
        ..config()
    }
}

/// A raw connection to `server` whose transport buffers `capacity` envelopes each way.
fn raw_with(server: &ServerHandle, capacity: usize, options: TransportOptions) -> MemoryTransport {
    let (client, served) = MemoryTransport::pair_with(capacity, options);
    server.serve(Box::new(served));
    client
}

async fn next_raw(t: &mut dyn Transport) -> Envelope {
    within(t.receive()).await.unwrap().expect("the server closed the connection")
}

/// Establishes `t` as the guest `node` with raw session envelopes.
async fn establish_raw(t: &mut dyn Transport, node: &str) {
    t.send_bytes(Bytes::from_static(br#"{"state":"new"}"#)).await.unwrap();
    let Envelope::Session(offer) = next_raw(t).await else { panic!("expected a session") };
    assert_eq!(offer.state, SessionState::Authenticating, "{offer:?}");
    let mut attempt =
        Session::new(SessionState::Authenticating).with_authentication(Authentication::Guest);
    attempt.id = offer.id;
    attempt.from = Some(node.parse().unwrap());
    t.send(&attempt.into()).await.unwrap();
    let Envelope::Session(last) = next_raw(t).await else { panic!("expected a session") };
    assert_eq!(last.state, SessionState::Established, "{last:?}");
}

/// The `failed` notification `c` receives next, as (id, reason code).
async fn next_failure(c: &ClientChannel) -> (String, i32) {
    let ChannelEvent::Notification(n) = next(c).await else { panic!("expected a notification") };
    assert_eq!(n.event, NotificationEvent::Failed, "{n:?}");
    (n.id.unwrap(), n.reason.unwrap().code)
}

#[tokio::test(start_paused = true)]
async fn a_stuck_recipient_never_stalls_its_senders_and_is_dropped_after_the_send_timeout() {
    let capacity = 8;
    let server = start(ServerConfig { queue_capacity: capacity, ..memory_config() }).await;
    // bob's connection buffers one envelope and bob never reads after `established`.
    let mut bob = raw_with(&server, 1, TransportOptions::default());
    establish_raw(&mut bob, "bob@localhost/1").await;
    let carol = memory_guest(&server, "carol").await;
    let dave = memory_guest(&server, "dave").await;
    let bob_node: Node = "bob@localhost/1".parse().unwrap();

    let sent = 40;
    for i in 0..sent {
        let m = Message::text(format!("to bob #{i}")).with_id(format!("b{i}"));
        carol.send_message(m.with_to(bob_node.clone())).await.unwrap();
    }
    // While bob is stuck, carol's other traffic is served at once: no timer had to fire
    // (paused time would have jumped to it) and nothing waited for bob.
    let started = tokio::time::Instant::now();
    let to_dave =
        Message::text("hello dave").with_id("d1").with_to("dave@localhost/1".parse().unwrap());
    carol.send_message(to_dave).await.unwrap();
    let ChannelEvent::Message(m) = next(&dave).await else { panic!("expected carol's message") };
    assert_eq!(m.content.unwrap().as_text(), Some("hello dave"));
    let ping = Command::request(CommandMethod::Get, "/ping".parse().unwrap());
    let pong = within(carol.process_command(ping, T)).await.unwrap();
    assert_eq!(pong.status, CommandStatus::Success);
    assert!(started.elapsed() < Duration::from_millis(1), "{:?}", started.elapsed());

    // What did not fit in bob's queue was refused to carol with reason 51: at most the queue
    // (envelopes queued or being written) and the transport's one slot were taken.
    let accepted_at_most = capacity + 1;
    for _ in 0..sent - accepted_at_most {
        let (id, code) = next_failure(&carol).await;
        assert!(id.starts_with('b'), "{id}");
        assert_eq!(code, codes::DISPATCH_ERROR);
    }
    let stats = server.stats();
    assert!(stats.refused_queue_full >= (sent - accepted_at_most) as u64, "{stats:?}");
    assert!(stats.queued_envelopes <= capacity, "{stats:?}");
    still_routes(&server).await;

    // bob stays stuck past the send timeout: the server ends his session, and then carol's
    // messages to him are not found (42) instead of refused (51).
    tokio::time::advance(DEFAULT_SEND_TIMEOUT + Duration::from_secs(1)).await;
    let mut gone = false;
    for i in 0..1000 {
        let m = Message::text("still there?").with_id(format!("x{i}"));
        carol.send_message(m.with_to(bob_node.clone())).await.unwrap();
        let (mut id, mut code) = next_failure(&carol).await;
        while id.starts_with('b') {
            // the rest of the first refusals
            assert_eq!(code, codes::DISPATCH_ERROR);
            (id, code) = next_failure(&carol).await;
        }
        assert_eq!(id, format!("x{i}"));
        if code == codes::ROUTING_DESTINATION_NOT_FOUND {
            gone = true;
            break;
        }
        assert_eq!(code, codes::DISPATCH_ERROR);
    }
    assert!(gone, "bob's session was not ended");
    assert_eq!(server.stats().slow_consumers, 1);
    // bob's connection was closed: what it buffered, then the end.
    let mut buffered = 0;
    while within(bob.receive()).await.unwrap().is_some() {
        buffered += 1;
        assert!(buffered <= 2, "more than the transport buffered");
    }
    still_routes(&server).await;
}

#[tokio::test]
async fn forty_large_messages_to_a_stuck_recipient_stay_within_the_byte_bound() {
    let server = start(memory_config()).await;
    let mut bob = raw_with(&server, 1, TransportOptions::default());
    establish_raw(&mut bob, "bob@localhost/1").await;
    let mut carol = raw_with(&server, 64, TransportOptions::default());
    establish_raw(&mut carol, "carol@localhost/1").await;

    let content = "x".repeat(4 << 20);
    let sent = 40;
    for i in 0..sent {
        let json = format!(
            r#"{{"id":"big{i}","to":"bob@localhost/1","type":"text/plain","content":"{content}"}}"#
        );
        carol.send_bytes(Bytes::from(json)).await.unwrap();
    }
    // 16 MiB (queued or being written) hold three of them (each is 4 MiB plus its header)
    // besides the one in bob's transport: every other one is refused to carol.
    let limit = lime::server::DEFAULT_QUEUE_MAX_BYTES;
    let mut refused = 0;
    let mut seen = std::collections::HashSet::new();
    while refused < sent - 4 {
        let Envelope::Notification(n) = next_raw(&mut carol).await else { panic!() };
        assert_eq!(n.event, NotificationEvent::Failed, "{n:?}");
        assert_eq!(n.reason.unwrap().code, codes::DISPATCH_ERROR);
        assert!(seen.insert(n.id.unwrap()));
        refused += 1;
    }
    let stats = server.stats();
    assert!(stats.peak_queued_bytes <= limit, "{stats:?}");
    assert!(stats.queued_bytes <= limit, "{stats:?}");
    // the accounting is live: the queue did fill up to the bound
    assert!(stats.peak_queued_bytes > 3 * (4 << 20), "{stats:?}");
    drop(carol);
    drop(bob);
    still_routes(&server).await;
}

/// Sends `json` from `alice` to `bob` (both established) and returns the bytes bob receives.
async fn forwarded(
    alice: &mut dyn Transport,
    bob: &mut dyn lime::transport::TransportReceiver,
    json: &str,
) -> String {
    alice.send_bytes(Bytes::from(json.to_owned())).await.unwrap();
    within(bob.receive()).await.unwrap().expect("bob's connection ended");
    let bytes = bob.take_received_bytes().expect("the transport keeps the received bytes");
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Content and unknown fields that a re-serialization would change.
const TRICKY: &str = r#""zeta":{"b":1,"a":[18446744073709551616,123456789012345678901234567890,1.50,-0e0]},"to":"bob@localhost/1","id":"t1","type":"application/json","content":{"n":18446744073709551616,"big":123456789012345678901234567890,"s":"\u00e9\/\"x\"","z":1,"a":2},"unknown":null}"#;

/// Over each transport, what bob receives is what alice sent, with `from` stamped.
async fn check_forwarding(
    alice: &mut dyn Transport,
    bob: &mut dyn lime::transport::TransportReceiver,
) {
    // without `from`: inserted first, every other byte as sent
    let got = forwarded(alice, bob, &format!("{{{TRICKY}")).await;
    assert_eq!(got, format!(r#"{{"from":"alice@localhost/1",{TRICKY}"#));
    // with `from` as alice's identity: completed in place
    let sent = format!(r#"{{ "a":1, "from" : "alice@localhost" ,{TRICKY}"#);
    let got = forwarded(alice, bob, &sent).await;
    assert_eq!(got, sent.replace(r#""alice@localhost""#, r#""alice@localhost/1""#));
    // a command and a notification keep their bytes too
    let cmd = r#"{"to":"bob@localhost/1","method":"set","uri":"/x","id":"c1","type":"application/json","resource":{"v":1.0e-7,"k":123456789012345678901234567890}}"#;
    let got = forwarded(alice, bob, cmd).await;
    assert_eq!(got, format!(r#"{{"from":"alice@localhost/1",{}"#, &cmd[1..]));
    // Another spelling of `from` or `pp`, which C#'s Newtonsoft reader would take for the member
    // itself (a forged sender after the stamped one): re-serialized, so it does not travel on.
    for forged in [
        r#"{"to":"bob@localhost/1","id":"f1","type":"text/plain","content":"hi","From":"ceo@localhost/1"}"#,
        r#"{"to":"bob@localhost/1","id":"f2","type":"text/plain","content":"hi","PP":"ceo@localhost"}"#,
    ] {
        let got = forwarded(alice, bob, forged).await;
        let value: serde_json::Value = serde_json::from_str(&got).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(!keys.iter().any(|k| matches!(*k, "From" | "PP")), "{got}");
        assert_eq!(value["from"], "alice@localhost/1", "{got}");
        assert_eq!(value["content"], "hi", "{got}");
    }
}

#[tokio::test]
async fn forwarded_envelopes_keep_their_bytes_over_memory() {
    let server = start(memory_config()).await;
    let mut alice = raw_with(&server, 8, TransportOptions::default());
    establish_raw(&mut alice, "alice@localhost/1").await;
    let mut bob = raw_with(&server, 8, TransportOptions::default());
    establish_raw(&mut bob, "bob@localhost/1").await;
    let (_bob_out, mut bob_in) = Box::new(bob).split();
    check_forwarding(&mut alice, bob_in.as_mut()).await;
    still_routes(&server).await;
}

#[tokio::test]
async fn forwarded_envelopes_keep_their_bytes_over_tcp_and_websocket() {
    let server = start(ServerConfig {
        authenticator: Arc::new(AuthConfig::guest()),
        remote_ping_interval: None,
        remote_idle_timeout: None,
        ..config()
    })
    .await;
    let tls = ClientTlsConfig::default();
    let tcp = format!("net.tcp://127.0.0.1:{}", server.tcp_addrs()[0].port());
    let ws = format!("ws://127.0.0.1:{}", server.ws_addrs()[0].port());
    for uri in [tcp, ws] {
        let connect = |uri: String| {
            let tls = tls.clone();
            async move {
                let t: Box<dyn Transport> = if uri.starts_with("ws") {
                    Box::new(
                        within(WebSocketTransport::connect(
                            &uri,
                            &tls,
                            TransportOptions::default(),
                        ))
                        .await
                        .unwrap(),
                    )
                } else {
                    Box::new(
                        within(TcpTransport::connect(&uri, tls, TransportOptions::default()))
                            .await
                            .unwrap(),
                    )
                };
                t
            }
        };
        let mut alice = connect(uri.clone()).await;
        establish_raw(alice.as_mut(), "alice@localhost/1").await;
        let mut bob = connect(uri.clone()).await;
        establish_raw(bob.as_mut(), "bob@localhost/1").await;
        let (mut bob_out, mut bob_in) = bob.split();
        check_forwarding(alice.as_mut(), bob_in.as_mut()).await;
        let _ = alice.close().await;
        let _ = bob_out.close().await;
    }
    still_routes(&server).await;
}

#[tokio::test]
async fn an_envelope_the_from_stamp_makes_too_large_is_refused_to_its_sender() {
    let max = 4096;
    let options = TransportOptions { max_envelope_size: max, ..TransportOptions::default() };
    let server = start(ServerConfig { transport: options.clone(), ..memory_config() }).await;
    let mut alice = raw_with(&server, 8, options.clone());
    establish_raw(&mut alice, "alice@localhost/1").await;
    let mut bob = raw_with(&server, 8, options.clone());
    establish_raw(&mut bob, "bob@localhost/1").await;

    // exactly the limit as sent; over it once `"from":"alice@localhost/1",` is stamped
    let head = r#"{"id":"big","to":"bob@localhost/1","type":"text/plain","content":""#;
    let padding = max - head.len() - 2;
    let json = format!("{head}{}\"}}", "y".repeat(padding));
    assert_eq!(json.len(), max);
    alice.send_bytes(Bytes::from(json)).await.unwrap();
    let Envelope::Notification(n) = next_raw(&mut alice).await else {
        panic!("expected a failure")
    };
    assert_eq!((n.event, n.id.as_deref()), (NotificationEvent::Failed, Some("big")));
    let reason = n.reason.unwrap();
    assert_eq!(reason.code, codes::VALIDATION_ERROR, "{reason:?}");
    assert!(reason.description.unwrap().contains("4096"));
    assert_eq!(server.stats().refused_too_large, 1);
    // bob never saw it: the next thing he receives is the next message
    let small = r#"{"id":"small","to":"bob@localhost/1","type":"text/plain","content":"ok"}"#;
    alice.send_bytes(Bytes::from_static(small.as_bytes())).await.unwrap();
    let got = next_raw(&mut bob).await;
    assert_eq!(got.id(), Some("small"));
    still_routes(&server).await;
}

/// A raw client connection to `uri` (TCP or WebSocket).
async fn connect_raw(uri: &str) -> Box<dyn Transport> {
    let tls = ClientTlsConfig::default();
    if uri.starts_with("ws") {
        Box::new(
            within(WebSocketTransport::connect(uri, &tls, TransportOptions::default()))
                .await
                .unwrap(),
        )
    } else {
        Box::new(
            within(TcpTransport::connect(uri, tls, TransportOptions::default())).await.unwrap(),
        )
    }
}

/// carol's `/ping`, answered while she takes the events that arrive before the answer: the
/// refusal codes among them.
async fn ping_taking_refusals(carol: &ClientChannel, uri: &str) -> Vec<i32> {
    let ping = Command::request(CommandMethod::Get, "/ping".parse().unwrap());
    let ping = carol.process_command(ping, T);
    tokio::pin!(ping);
    let mut refusals = Vec::new();
    loop {
        tokio::select! {
            biased;
            event = carol.receive() => match event {
                Some(ChannelEvent::Notification(n)) => {
                    assert_eq!(n.event, NotificationEvent::Failed, "{uri}: {n:?}");
                    refusals.push(n.reason.unwrap().code);
                }
                other => panic!("{uri}: unexpected {other:?}"),
            },
            pong = &mut ping => {
                assert_eq!(pong.unwrap().status, CommandStatus::Success, "{uri}");
                return refusals;
            }
        }
    }
}

/// Issue #12 item 2 over real sockets: bob establishes and then never reads. carol sends him
/// 64 KiB messages, each followed by a `/ping` (answered after the message was routed), until
/// his socket buffers and his queue are full and the server refuses one with 51; then her
/// message to dave and her `/ping` are answered at once, long before the send timeout that
/// would end bob. No sleeps: the refusal is the signal.
#[tokio::test]
async fn a_stuck_reader_over_tcp_and_websocket_never_stalls_other_traffic() {
    let send_timeout = Duration::from_secs(60);
    let server = start(ServerConfig {
        authenticator: Arc::new(AuthConfig::guest()),
        remote_ping_interval: None,
        remote_idle_timeout: None,
        queue_capacity: 16,
        queue_max_bytes: 1 << 20,
        send_timeout: Some(send_timeout),
        // Small envelopes keep the WebSocket write buffer (two envelopes) small.
        transport: TransportOptions {
            max_envelope_size: 128 * 1024,
            ..TransportOptions::default()
        },
        ..config()
    })
    .await;
    let tcp = format!("net.tcp://127.0.0.1:{}", server.tcp_addrs()[0].port());
    let ws = format!("ws://127.0.0.1:{}", server.ws_addrs()[0].port());
    let tls = ClientTlsConfig::default();
    for (n, uri) in [tcp, ws].into_iter().enumerate() {
        let bob_node: Node = format!("bob{n}@localhost/1").parse().unwrap();
        let mut bob = connect_raw(&uri).await;
        establish_raw(bob.as_mut(), &bob_node.to_string()).await;
        let carol = guest(&uri, &tls, &format!("carol{n}"), "1").await;
        let dave = guest(&uri, &tls, &format!("dave{n}"), "1").await;

        let big = "x".repeat(64 * 1024);
        let mut sent = 0;
        let refusals = loop {
            let m = Message::text(big.clone()).with_id(format!("b{sent}"));
            carol.send_message(m.with_to(bob_node.clone())).await.unwrap();
            sent += 1;
            let refusals = ping_taking_refusals(&carol, &uri).await;
            if !refusals.is_empty() {
                break refusals;
            }
            assert!(sent < 4096, "{uri}: bob's queue never filled");
        };
        assert_eq!(refusals, [codes::DISPATCH_ERROR], "{uri}");

        // bob is stuck now: carol's other traffic goes through at once.
        let started = std::time::Instant::now();
        let dave_node = dave.local_node().unwrap();
        carol
            .send_message(Message::text("hello dave").with_id("d1").with_to(dave_node))
            .await
            .unwrap();
        let ChannelEvent::Message(m) = next(&dave).await else {
            panic!("expected carol's message")
        };
        assert_eq!(m.content.unwrap().as_text(), Some("hello dave"));
        assert!(ping_taking_refusals(&carol, &uri).await.is_empty());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{uri}: carol waited {took:?} behind bob");
        assert_eq!(server.stats().slow_consumers, 0, "{uri}: bob was not ended yet");
        drop((bob, carol, dave));
    }
    assert!(server.stats().refused_queue_full >= 2);
    still_routes(&server).await;
}
