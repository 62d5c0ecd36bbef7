//! Abuse tests for the server's identity rules and the C# divergences of issue #12 (items 1 and
//! 5). Every hostile case checks the expected reason code, then that an unrelated pair of
//! sessions still routes a message. Sessions run over the in-memory transport.

use std::sync::Arc;

use bytes::Bytes;
use lime::{
    channel::ChannelEvent,
    reason::codes,
    server::{AuthConfig, ServerConfig, ServerHandle},
    transport::{memory::MemoryTransport, Transport},
    Authentication, AuthenticationScheme, CommandStatus, Envelope, Message, NotificationEvent,
    Reason, Session, SessionState,
};

use crate::common::*;

fn memory_config(auth: AuthConfig) -> ServerConfig {
    ServerConfig { tcp: vec![], ws: vec![], authenticator: Arc::new(auth), ..config() }
}

/// Guests and alice (plain `wonderland`), over memory only.
async fn server() -> ServerHandle {
    start(memory_config(AuthConfig { guest: true, users: Some(users()), ..AuthConfig::default() }))
        .await
}

fn raw(server: &ServerHandle) -> MemoryTransport {
    let (client, served) = MemoryTransport::pair();
    server.serve(Box::new(served));
    client
}

async fn next_raw(t: &mut MemoryTransport) -> Envelope {
    within(t.receive()).await.unwrap().expect("the server closed the connection")
}

async fn send_json(t: &mut MemoryTransport, json: &str) {
    t.send_bytes(Bytes::from(json.to_owned())).await.unwrap();
}

/// Runs the handshake as `from` (the envelope's exact text is ours, so any node can be claimed)
/// and returns the last session the server sent: `established` or `failed`.
async fn claim(
    t: &mut MemoryTransport,
    from: &str,
    authentication: Option<Authentication>,
) -> Session {
    send_json(t, r#"{"state":"new"}"#).await;
    let Envelope::Session(offer) = next_raw(t).await else { panic!("expected a session") };
    assert_eq!(offer.state, SessionState::Authenticating);
    let mut attempt = Session::new(SessionState::Authenticating)
        .with_authentication(authentication.unwrap_or(Authentication::Guest));
    attempt.id = offer.id;
    let mut json: serde_json::Value =
        serde_json::from_str(&Envelope::from(attempt).to_json()).unwrap();
    json["from"] = serde_json::Value::String(from.to_owned());
    send_json(t, &json.to_string()).await;
    let Envelope::Session(last) = next_raw(t).await else { panic!("expected a session") };
    last
}

fn failed_with(s: &Session, code: i32) -> String {
    assert_eq!(s.state, SessionState::Failed, "{s:?}");
    let reason = s.reason.clone().unwrap();
    assert_eq!(reason.code, code, "{reason:?}");
    reason.description.unwrap_or_default()
}

/// A raw session established as `node` (a guest), with the session's `established` envelope.
async fn raw_established(server: &ServerHandle, node: &str) -> (MemoryTransport, Session) {
    let mut t = raw(server);
    let s = claim(&mut t, node, None).await;
    assert_eq!(s.state, SessionState::Established, "{s:?}");
    (t, s)
}

#[tokio::test]
async fn the_server_identity_is_reserved_for_every_instance_and_case() {
    let mut users = users();
    // even with credentials in the user file, nobody is the server
    users.insert("postmaster@localhost".parse().unwrap(), AuthenticationScheme::Plain, "pw");
    let server = start(memory_config(AuthConfig {
        guest: true,
        users: Some(users),
        ..AuthConfig::default()
    }))
    .await;
    for (from, auth) in [
        ("postmaster@localhost/server", None),
        ("postmaster@localhost/other", None),
        ("POSTMASTER@LocalHost/server", None),
        ("postmaster@localhost", None),
        ("postmaster@localhost/x", Some(Authentication::plain("pw"))),
    ] {
        let mut t = raw(&server);
        let s = claim(&mut t, from, auth).await;
        let why = failed_with(&s, codes::SESSION_AUTHENTICATION_FAILED);
        assert!(why.contains("reserved"), "{from}: {why}");
        assert!(within(t.receive()).await.unwrap().is_none(), "{from}: the connection closes");
    }
    assert_eq!(server.session_count(), 0);
    still_routes(&server).await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn a_guest_cannot_take_a_password_users_identity() {
    let server = server().await;
    for from in ["alice@localhost/home", "ALICE@localhost", "alice@LOCALHOST/x"] {
        let mut t = raw(&server);
        let s = claim(&mut t, from, None).await;
        failed_with(&s, codes::SESSION_AUTHENTICATION_FAILED);
    }
    // alice herself, with her password
    let mut t = raw(&server);
    let s = claim(&mut t, "alice@localhost/home", Some(Authentication::plain("wonderland"))).await;
    assert_eq!(s.state, SessionState::Established);
    assert_eq!(s.to.unwrap().to_string(), "alice@localhost/home");
    still_routes(&server).await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn guest_domain_confines_guests() {
    let server = start(memory_config(AuthConfig {
        guest: true,
        guest_domain: Some("guests.localhost".into()),
        users: Some(users()),
        ..AuthConfig::default()
    }))
    .await;
    for from in ["g@localhost/1", "g@other.example/1", "g@sub.guests.localhost/1"] {
        let mut t = raw(&server);
        let s = claim(&mut t, from, None).await;
        failed_with(&s, codes::SESSION_AUTHENTICATION_FAILED);
    }
    let mut t = raw(&server);
    assert_eq!(claim(&mut t, "g@Guests.Localhost/1", None).await.state, SessionState::Established);
    // password users are not guests: alice keeps her domain
    let mut t = raw(&server);
    let s = claim(&mut t, "alice@localhost/1", Some(Authentication::plain("wonderland"))).await;
    assert_eq!(s.state, SessionState::Established);
    still_routes_in(&server, "guests.localhost").await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn claimed_nodes_are_validated() {
    let server = server().await;
    let long_instance = format!("i@localhost/{}", "x".repeat(64 * 1024));
    let long_name = format!("{}@localhost/1", "n".repeat(1024));
    for (from, why) in [
        ("bell\u{7}@localhost/1", "name contains a control character"),
        ("esc\u{1b}[2J@localhost/1", "name contains a control character"),
        ("x@localhost/line\nbreak", "instance contains a control character"),
        ("nul@local\u{0}host/1", "domain contains a control character"),
        ("a/b@localhost/1", "name contains `/` or `@`"),
        ("@localhost/1", "no name"),
        ("justaname", "no domain"),
        (long_instance.as_str(), "instance is longer than 1023 characters"),
        (long_name.as_str(), "name is longer than 1023 characters"),
    ] {
        let mut t = raw(&server);
        let s = claim(&mut t, from, None).await;
        let description = failed_with(&s, codes::SESSION_REGISTRATION_ERROR);
        assert!(description.contains(why), "{from:?}: {description}");
        assert!(description.starts_with("The session instance registration failed"));
    }
    assert_eq!(server.session_count(), 0);
    // the bounds themselves are fine
    let mut t = raw(&server);
    let longest = format!("{}@localhost/{}", "n".repeat(1023), "i".repeat(1023));
    assert_eq!(claim(&mut t, &longest, None).await.state, SessionState::Established);
    still_routes(&server).await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn a_forged_pp_is_refused_like_a_forged_from() {
    let server = server().await;
    let (mut alice, _) = raw_established(&server, "mallory@localhost/1").await;
    let bob = memory_guest(&server, "bob").await;
    let carol = memory_guest(&server, "carol").await;
    for json in [
        r#"{"id":"m1","to":"bob@localhost/1","pp":"carol@localhost/1","type":"text/plain","content":"reply to carol"}"#,
        r#"{"id":"m2","to":"bob@localhost/1","pp":"postmaster@localhost/server","type":"text/plain","content":"x"}"#,
        r#"{"id":"m3","to":"bob@localhost/1","from":"carol@localhost/1","type":"text/plain","content":"x"}"#,
    ] {
        send_json(&mut alice, json).await;
        let Envelope::Notification(n) = next_raw(&mut alice).await else { panic!("{json}") };
        assert_eq!(n.event, NotificationEvent::Failed);
        assert_eq!(n.reason.unwrap().code, codes::AUTHORIZATION_UNAUTHORIZED_SENDER, "{json}");
        assert_eq!(
            n.to.unwrap().to_string(),
            "mallory@localhost/1",
            "the failure goes to the sender"
        );
    }
    // the server's own ping reply goes to the sender, not to the forged pp
    send_json(&mut alice, r#"{"id":"p","pp":"carol@localhost/1","method":"get","uri":"/ping"}"#)
        .await;
    let Envelope::Command(r) = next_raw(&mut alice).await else { panic!() };
    assert_eq!((r.id.as_deref(), r.status), (Some("p"), CommandStatus::Success));
    assert_eq!(r.to.unwrap().to_string(), "mallory@localhost/1");
    // a forged pp on a notification is dropped, not forwarded
    send_json(
        &mut alice,
        r#"{"id":"m0","to":"bob@localhost/1","pp":"carol@localhost","event":"received"}"#,
    )
    .await;
    // its own identity as pp is fine, and is the first thing bob sees
    send_json(&mut alice, r#"{"id":"m4","to":"bob@localhost/1","pp":"Mallory@localhost","type":"text/plain","content":"own"}"#).await;
    let ChannelEvent::Message(m) = next(&bob).await else { panic!() };
    assert_eq!(m.id.as_deref(), Some("m4"));
    assert_eq!(m.pp.unwrap().to_string(), "Mallory@localhost");
    // carol heard nothing: the next thing she gets is this
    bob.send_message(Message::text("hi carol").with_to("carol@localhost/1".parse().unwrap()))
        .await
        .unwrap();
    let ChannelEvent::Message(m) = next(&carol).await else { panic!() };
    assert_eq!(m.content.unwrap().as_text(), Some("hi carol"));
    still_routes(&server).await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn a_session_envelope_without_id_fails_with_invalid_session_id() {
    let server = server().await;
    // during the handshake
    let mut t = raw(&server);
    send_json(&mut t, r#"{"state":"new"}"#).await;
    next_raw(&mut t).await;
    send_json(
        &mut t,
        r#"{"state":"authenticating","from":"x@localhost/1","scheme":"guest","authentication":{}}"#,
    )
    .await;
    let Envelope::Session(s) = next_raw(&mut t).await else { panic!() };
    assert_eq!(failed_with(&s, codes::SESSION_ERROR), "Invalid session id");
    // once established
    let (mut t, _) = raw_established(&server, "y@localhost/1").await;
    send_json(&mut t, r#"{"state":"finishing"}"#).await;
    let Envelope::Session(s) = next_raw(&mut t).await else { panic!() };
    assert_eq!(failed_with(&s, codes::SESSION_ERROR), "Invalid session id");
    // with the id, finishing works
    let (mut t, est) = raw_established(&server, "z@localhost/1").await;
    let finishing = format!(r#"{{"id":"{}","state":"finishing"}}"#, est.id.unwrap());
    send_json(&mut t, &finishing).await;
    let Envelope::Session(s) = next_raw(&mut t).await else { panic!() };
    assert_eq!(s.state, SessionState::Finished);
    still_routes(&server).await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn lenient_envelopes_are_routed_not_fatal() {
    let server = server().await;
    let (mut a, _) = raw_established(&server, "a@localhost/1").await;
    let b = memory_guest(&server, "b").await;
    send_json(&mut a, r#"{"id":"m1","to":"b@localhost/1","content":"no type"}"#).await;
    let ChannelEvent::Message(m) = next(&b).await else { panic!() };
    let content = m.content.unwrap();
    assert_eq!(
        (content.media_type().to_string().as_str(), content.as_text()),
        ("text/plain", Some("no type"))
    );
    send_json(&mut a, r#"{"id":"m2","to":"b@localhost/1","content":{"k":1}}"#).await;
    let ChannelEvent::Message(m) = next(&b).await else { panic!() };
    assert_eq!(m.content.unwrap().media_type().to_string(), "application/json");
    send_json(&mut a, r#"{"id":"m1","to":"b@localhost/1","event":5}"#).await;
    let ChannelEvent::Notification(n) = next(&b).await else { panic!() };
    assert_eq!(n.event, NotificationEvent::Received);
    send_json(&mut a, r#"{"id":"m2","to":"b@localhost/1","event":"failed","reason":{"code":"42","description":"d"}}"#).await;
    let ChannelEvent::Notification(n) = next(&b).await else { panic!() };
    assert_eq!(n.reason, Some(Reason::new(42, "d")));
    // a's session is still up: the server answers its ping
    send_json(&mut a, r#"{"id":"p","method":0,"uri":"/ping"}"#).await;
    let Envelope::Command(r) = next_raw(&mut a).await else { panic!() };
    assert_eq!((r.id.as_deref(), r.status), (Some("p"), CommandStatus::Success));
    still_routes(&server).await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn a_message_with_null_content_is_refused_and_the_recipient_lives() {
    let server = server().await;
    let (mut a, _) = raw_established(&server, "a@localhost/1").await;
    let b = memory_guest(&server, "b").await;
    send_json(&mut a, r#"{"id":"m1","to":"b@localhost/1","content":null}"#).await;
    let Envelope::Notification(n) = next_raw(&mut a).await else { panic!() };
    assert_eq!((n.id.as_deref(), n.event), (Some("m1"), NotificationEvent::Failed));
    assert_eq!(n.reason.unwrap().code, codes::VALIDATION_EMPTY_DOCUMENT);
    // without an id there is nobody to tell; still nothing reaches b
    send_json(&mut a, r#"{"to":"b@localhost/1","content":null,"type":"text/plain"}"#).await;
    send_json(&mut a, r#"{"id":"m2","to":"b@localhost/1","type":"text/plain","content":"after"}"#)
        .await;
    let ChannelEvent::Message(m) = next(&b).await else { panic!() };
    assert_eq!(m.id.as_deref(), Some("m2"), "b's channel is alive and got nothing before");
    assert_eq!(b.state(), SessionState::Established);
    still_routes(&server).await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn pings_without_id_with_a_query_and_to_the_domain() {
    let server = server().await;
    let (mut a, _) = raw_established(&server, "a@localhost/1").await;
    // no id: answered without one
    send_json(&mut a, r#"{"method":"get","uri":"/ping"}"#).await;
    let Envelope::Command(r) = next_raw(&mut a).await else { panic!() };
    assert_eq!((r.id, r.status), (None, CommandStatus::Success));
    assert_eq!(r.resource.unwrap().media_type().to_string(), "application/vnd.lime.ping+json");
    // a query makes it another resource, which the server does not have
    send_json(&mut a, r#"{"id":"q","method":"get","uri":"/ping?x=1"}"#).await;
    let Envelope::Command(r) = next_raw(&mut a).await else { panic!() };
    assert_eq!((r.id.as_deref(), r.status), (Some("q"), CommandStatus::Failure));
    assert_eq!(r.reason.unwrap().code, codes::COMMAND_RESOURCE_NOT_SUPPORTED);
    // every address of the server answers
    for to in
        ["@localhost", "@LOCALHOST/x", "postmaster@localhost/elsewhere", "postmaster@localhost"]
    {
        let ping = format!(r#"{{"id":"d","to":"{to}","method":"get","uri":"/ping"}}"#);
        send_json(&mut a, &ping).await;
        let Envelope::Command(r) = next_raw(&mut a).await else { panic!() };
        assert_eq!((r.id.as_deref(), r.status), (Some("d"), CommandStatus::Success), "{to}");
        assert_eq!(r.to.unwrap().to_string(), "a@localhost/1");
    }
    still_routes(&server).await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn an_empty_instance_is_kept() {
    let server = server().await;
    let (mut e, est) = raw_established(&server, "e@localhost/").await;
    let node = est.to.unwrap();
    assert_eq!((node.to_string().as_str(), node.instance()), ("e@localhost/", Some("")));
    let (_, other) = raw_established(&server, "e@localhost").await;
    assert_eq!(other.to.unwrap().to_string(), "e@localhost/default");
    let b = memory_guest(&server, "b").await;
    b.send_message(Message::text("to the empty instance").with_to(node)).await.unwrap();
    let Envelope::Message(m) = next_raw(&mut e).await else { panic!() };
    assert_eq!(m.content.unwrap().as_text(), Some("to the empty instance"));
    still_routes(&server).await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn scheme_options_follow_the_configured_order() {
    let server = start(memory_config(AuthConfig {
        guest: true,
        users: Some(users()),
        order: vec![AuthenticationScheme::Plain, AuthenticationScheme::Guest],
        ..AuthConfig::default()
    }))
    .await;
    let mut t = raw(&server);
    send_json(&mut t, r#"{"state":"new"}"#).await;
    let Envelope::Session(offer) = next_raw(&mut t).await else { panic!() };
    assert_eq!(
        offer.scheme_options,
        Some(vec![AuthenticationScheme::Plain, AuthenticationScheme::Guest])
    );
    drop(t);
    still_routes(&server).await;
    within(server.shutdown()).await;
}
