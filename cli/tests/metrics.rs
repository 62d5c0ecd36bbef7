//! `lime serve --metrics`: a real server process with its metrics endpoint on a free loopback
//! port, some traffic (routed messages, an unknown destination, a refused authentication), then
//! `/metrics` scraped and parsed, and `/healthz`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use lime::Message;
use support::{client, http_get, next_failed, next_text, parse_prometheus, serve, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_sessions_envelopes_failures_and_health() {
    let (server, addr) = serve(&["--metrics", "127.0.0.1:0"]);
    let metrics = server.wait_for("lime serve: metrics on http://");
    let metrics = metrics.strip_suffix("/metrics").unwrap().to_owned();

    assert_eq!(http_get(&metrics, "/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(http_get(&metrics, "/nothing").0, 404);

    let (alice, _) = client(&addr, "alice", "home").await.unwrap();
    let (bob, _) = client(&addr, "bob", "home").await.unwrap();
    let mut bob_events = bob.subscribe().await;
    let mut alice_events = alice.subscribe().await;
    for i in 0..3 {
        let m = Message::text(format!("m{i}")).with_to("bob@localhost/home".parse().unwrap());
        within(alice.send_message(m)).await.unwrap();
    }
    for i in 0..3 {
        assert_eq!(next_text(&mut bob_events).await, format!("m{i}"));
    }
    let lost = Message::text("?").with_id("lost-1").with_to("nobody@localhost/x".parse().unwrap());
    within(alice.send_message(lost)).await.unwrap();
    assert_eq!(next_failed(&mut alice_events, "lost-1").await, 42);
    // The server's own identity is reserved: authentication fails with reason 13.
    assert!(client(&addr, "postmaster", "x").await.is_err());

    let (status, text) = http_get(&metrics, "/metrics");
    assert_eq!(status, 200);
    let m = parse_prometheus(&text);
    let get = |series: &str| *m.get(series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert_eq!(get(r#"lime_sessions{state="established"}"#), 2.0);
    assert_eq!(get(r#"lime_sessions{state="handshaking"}"#), 0.0);
    assert_eq!(get(r#"lime_envelopes_received_total{kind="message"}"#), 4.0);
    assert_eq!(get(r#"lime_envelopes_delivered_total{kind="message"}"#), 3.0);
    assert_eq!(get(r#"lime_routing_failures_total{code="42"}"#), 1.0);
    assert_eq!(get("lime_authentication_failures_total"), 1.0);
    assert_eq!(get(r#"lime_handshake_failures_total{code="13"}"#), 1.0);
    assert_eq!(get("lime_queued_envelopes"), 0.0);
    assert!(m.contains_key("lime_queued_bytes"));
    assert!(text.contains("# TYPE lime_envelopes_received_total counter"), "{text}");
    // No cluster: no cluster series.
    assert!(!text.contains("lime_cluster_"), "{text}");
    drop((alice, bob));
}
