//! Tests of the sans-IO channel.

use super::*;
use crate::{
    enums::CommandStatus, error::CommandError, reason::codes, Authentication, Command, Identity,
    Message, Reason, SessionCompression, SessionEncryption,
};

fn env(json: &str) -> Envelope {
    json.parse().unwrap()
}

fn established(options: ChannelOptions) -> ChannelCore<u32> {
    let mut core = ChannelCore::new(Role::Client, options);
    let _ = core.receive(env(r#"{"id":"s1","from":"postmaster@x.com/srv","to":"me@x.com/home","state":"established"}"#)).unwrap();
    core
}

#[test]
fn client_handshake_walks_the_states() {
    let mut core: ChannelCore = ChannelCore::new(Role::Client, ChannelOptions::client());
    assert!(core.negotiate_session(SessionCompression::None, SessionEncryption::None).is_err());
    let new = core.start_new_session().unwrap();
    assert_eq!(new.id, None);
    let _ = core.receive(env(r#"{"id":"s1","state":"negotiating","encryptionOptions":["none","tls"],"compressionOptions":["none"]}"#)).unwrap();
    assert_eq!(core.session_id(), Some("s1"));
    let choice = core.negotiate_session(SessionCompression::None, SessionEncryption::Tls).unwrap();
    assert_eq!(
        Envelope::from(choice).to_json(),
        r#"{"state":"negotiating","encryption":"tls","compression":"none","id":"s1"}"#
    );
    let _ = core
        .receive(env(r#"{"id":"s1","state":"authenticating","schemeOptions":["guest"]}"#))
        .unwrap();
    let id: Identity = "me@x.com".parse().unwrap();
    let auth = core.authenticate_session(&id, Authentication::Guest, Some("home")).unwrap();
    assert_eq!(
        Envelope::from(auth).to_json(),
        r#"{"state":"authenticating","scheme":"guest","authentication":{},"id":"s1","from":"me@x.com/home"}"#
    );
    let _ = core
        .receive(env(
            r#"{"id":"s1","from":"postmaster@x.com","to":"me@x.com/home","state":"established"}"#,
        ))
        .unwrap();
    assert_eq!(core.state(), SessionState::Established);
    assert_eq!(core.local_node().unwrap().to_string(), "me@x.com/home");
    let finishing = core.finishing_session().unwrap();
    assert_eq!(finishing.state, SessionState::Finishing);
    let inbound = core.receive(env(r#"{"id":"s1","state":"finished"}"#)).unwrap();
    assert!(inbound.close);
    assert!(core.prepare_send(Message::text("late").into()).is_err());
}

#[test]
fn the_new_session_has_no_id_even_when_every_envelope_gets_one() {
    let mut core: ChannelCore = ChannelCore::new(
        Role::Client,
        ChannelOptions { ids: IdPolicy::All, ..ChannelOptions::client() },
    );
    assert_eq!(core.start_new_session().unwrap().id, None);
}

#[test]
fn new_to_established_directly() {
    let mut core: ChannelCore = ChannelCore::new(Role::Client, ChannelOptions::client());
    core.start_new_session().unwrap();
    let _ = core.receive(env(r#"{"id":"s","to":"a@b/c","state":"established"}"#)).unwrap();
    assert_eq!(core.state(), SessionState::Established);
}

#[test]
fn failed_at_any_step_closes() {
    let mut core: ChannelCore = ChannelCore::new(Role::Client, ChannelOptions::client());
    core.start_new_session().unwrap();
    let inbound = core.receive(env(r#"{"id":"s","state":"failed","reason":{"code":13}}"#)).unwrap();
    assert!(inbound.close);
    assert_eq!(
        inbound.session.unwrap().reason,
        Some(Reason::with_code(codes::SESSION_AUTHENTICATION_FAILED))
    );
    assert!(core.start_new_session().is_err());
}

#[test]
fn send_rules_per_state() {
    let mut core: ChannelCore = ChannelCore::new(Role::Client, ChannelOptions::client());
    let err = core.prepare_send(Message::text("x").into()).unwrap_err();
    assert_eq!(err.to_string(), "cannot send a message in the new state");
    let err = core.receive(Message::text("early").into()).unwrap_err();
    assert!(err.to_string().contains("only session envelopes"), "{err}");
}

#[test]
fn ids_are_assigned_to_commands_but_not_messages_or_observe() {
    let mut core = established(ChannelOptions::client());
    let Envelope::Command(c) = core
        .prepare_send(Command::request(CommandMethod::Get, "/x".parse().unwrap()).into())
        .unwrap()
    else {
        panic!()
    };
    assert!(c.id.is_some());
    let Envelope::Command(c) = core
        .prepare_send(Command::request(CommandMethod::Observe, "/x".parse().unwrap()).into())
        .unwrap()
    else {
        panic!()
    };
    assert!(c.id.is_none());
    assert!(core.prepare_send(Message::text("x").into()).unwrap().id().is_none());
    let mut all = established(ChannelOptions { ids: IdPolicy::All, ..ChannelOptions::client() });
    assert!(all.prepare_send(Message::text("x").into()).unwrap().id().is_some());
}

#[test]
fn correlation_by_id_and_duplicates() {
    let mut core = established(ChannelOptions::client());
    let c = core
        .register_command(
            Command::request(CommandMethod::Get, "/a".parse().unwrap()).with_id("c1"),
            7,
        )
        .unwrap();
    assert_eq!(c.id.as_deref(), Some("c1"));
    let dup = core.register_command(
        Command::request(CommandMethod::Get, "/a".parse().unwrap()).with_id("c1"),
        8,
    );
    assert!(matches!(dup, Err(Error::Command(CommandError::DuplicateId(_)))));
    // a request with the same id is not a response
    let inbound = core.receive(env(r#"{"id":"c1","method":"get","uri":"/a"}"#)).unwrap();
    assert!(inbound.response.is_none() && inbound.deliver.is_some());
    let inbound = core
        .receive(env(r#"{"id":"c1","method":"get","status":"failure","reason":{"code":67}}"#))
        .unwrap();
    let (resp, p) = inbound.response.unwrap();
    assert_eq!((resp.status, p), (CommandStatus::Failure, 7));
    assert!(inbound.deliver.is_none());
    assert_eq!(core.pending_commands(), 0);
    // unknown response ids are delivered
    let inbound = core.receive(env(r#"{"id":"zz","method":"get","status":"success"}"#)).unwrap();
    assert!(inbound.deliver.is_some());
    assert!(core.register_command(Command::success_for(&c, None), 1).is_err());
}

#[test]
fn cancel_and_drain() {
    let mut core = established(ChannelOptions::client());
    core.register_command(
        Command::request(CommandMethod::Get, "/a".parse().unwrap()).with_id("a"),
        1,
    )
    .unwrap();
    core.register_command(
        Command::request(CommandMethod::Get, "/b".parse().unwrap()).with_id("b"),
        2,
    )
    .unwrap();
    assert_eq!(core.cancel_command("a"), Some(1));
    assert_eq!(core.drain_pending(), vec![("b".to_owned(), 2)]);
}

#[test]
fn an_unanswered_remote_ping_is_forgotten_when_the_next_is_sent() {
    let mut core = established(ChannelOptions::client());
    let user = core
        .register_command(Command::request(CommandMethod::Get, "/a".parse().unwrap()), 1)
        .unwrap();
    let mut last = None;
    for n in 2..100 {
        let ping = core.register_remote_ping(n).unwrap();
        assert!(ping.is_ping_request());
        last = ping.id;
    }
    // one ping pending (the last), and the user's command untouched
    assert_eq!(core.pending_commands(), 2);
    let answer = format!(r#"{{"id":"{}","method":"get","status":"success"}}"#, last.unwrap());
    assert_eq!(core.receive(env(&answer)).unwrap().response.map(|(_, p)| p), Some(99));
    assert_eq!(core.cancel_command(user.id.as_deref().unwrap()), Some(1));
    // answered: the next ping forgets nothing else
    core.register_remote_ping(100).unwrap();
    assert_eq!(core.pending_commands(), 1);
}

#[test]
fn ping_requests_are_answered_and_swallowed() {
    let mut core = established(ChannelOptions::client());
    let inbound = core.receive(env(r#"{"id":"p1","from":"postmaster@x.com/srv","pp":"d@x.com/y","method":"get","uri":"/ping"}"#)).unwrap();
    assert!(inbound.deliver.is_none());
    let reply = inbound.reply.unwrap();
    assert_eq!(
        reply.to_json(),
        r#"{"type":"application/vnd.lime.ping+json","resource":{},"method":"get","status":"success","id":"p1","to":"d@x.com/y"}"#
    );
    // addressed to someone else: delivered, not answered
    let inbound = core
        .receive(env(r#"{"id":"p2","to":"other@x.com","method":"get","uri":"/ping"}"#))
        .unwrap();
    assert!(inbound.reply.is_none() && inbound.deliver.is_some());
    // compatibility: answered and still delivered
    let mut compat =
        established(ChannelOptions { deliver_answered_pings: true, ..ChannelOptions::client() });
    let inbound = compat.receive(env(r#"{"id":"p3","method":"get","uri":"/ping"}"#)).unwrap();
    assert!(inbound.reply.is_some() && inbound.deliver.is_some());
}

#[test]
fn a_ping_without_id_is_answered_without_id_and_a_query_is_no_ping() {
    let mut core = established(ChannelOptions::client());
    let inbound = core
        .receive(env(r#"{"from":"postmaster@x.com/srv","method":"get","uri":"/ping"}"#))
        .unwrap();
    assert!(inbound.deliver.is_none());
    let reply = inbound.reply.unwrap();
    assert_eq!(reply.id(), None);
    assert_eq!(reply.to().unwrap().to_string(), "postmaster@x.com/srv");
    let inbound = core.receive(env(r#"{"id":"q","method":"get","uri":"/ping?x=1"}"#)).unwrap();
    assert!(inbound.reply.is_none() && inbound.deliver.is_some());
}

#[test]
fn receipts_go_to_pp_or_from() {
    let mut core =
        established(ChannelOptions { auto_notify_receipt: true, ..ChannelOptions::client() });
    let inbound = core.receive(env(r#"{"id":"m1","from":"bob@x.com/p","to":"me@x.com/home","type":"text/plain","content":"hi"}"#)).unwrap();
    assert_eq!(
        inbound.reply.unwrap().to_json(),
        r#"{"event":"received","id":"m1","to":"bob@x.com/p"}"#
    );
    let inbound = core.receive(env(r#"{"id":"m2","from":"bob@x.com/p","pp":"bot@x.com/q","type":"text/plain","content":"hi"}"#)).unwrap();
    assert_eq!(inbound.reply.unwrap().to().unwrap().to_string(), "bot@x.com/q");
    // no id, no from, or addressed elsewhere: no receipt
    for json in [
        r#"{"from":"bob@x.com/p","type":"text/plain","content":"hi"}"#,
        r#"{"id":"m3","type":"text/plain","content":"hi"}"#,
        r#"{"id":"m4","from":"bob@x.com/p","to":"me@x.com/other","type":"text/plain","content":"hi"}"#,
    ] {
        assert!(core.receive(env(json)).unwrap().reply.is_none(), "{json}");
    }
    let mut compat = established(ChannelOptions {
        auto_notify_receipt: true,
        receipt_target: ReceiptTarget::MessageTo,
        ..ChannelOptions::client()
    });
    let inbound = compat.receive(env(r#"{"id":"m1","from":"bob@x.com/p","to":"me@x.com/home","type":"text/plain","content":"hi"}"#)).unwrap();
    assert_eq!(inbound.reply.unwrap().to().unwrap().to_string(), "me@x.com/home");
}

#[test]
fn fill_envelope_recipients() {
    let mut core =
        established(ChannelOptions { fill_envelope_recipients: true, ..ChannelOptions::client() });
    let inbound = core.receive(env(r#"{"event":"received","id":"1"}"#)).unwrap();
    let n = inbound.deliver.unwrap();
    assert_eq!(n.from_node().unwrap().to_string(), "postmaster@x.com/srv");
    assert_eq!(n.to().unwrap().to_string(), "me@x.com/home");
    let sent = core
        .prepare_send(Message::text("x").with_from("boss@x.com/a".parse().unwrap()).into())
        .unwrap();
    assert_eq!(sent.pp().unwrap().to_string(), "me@x.com/home");
}

#[test]
fn server_assigns_states_and_checks_session_ids() {
    let mut core: ChannelCore = ChannelCore::new(Role::Server, ChannelOptions::server());
    core.set_session_id("sid");
    core.set_local_node("postmaster@x.com/srv".parse().unwrap());
    let _ = core.receive(env(r#"{"state":"new"}"#)).unwrap();
    let auth = core.server_session(Session::new(SessionState::Authenticating)).unwrap();
    assert_eq!(auth.id.as_deref(), Some("sid"));
    assert_eq!(core.state(), SessionState::Authenticating);
    assert!(core.receive(env(r#"{"id":"other","state":"authenticating"}"#)).is_err());
    let err = core.receive(env(r#"{"state":"authenticating"}"#)).unwrap_err();
    assert!(err.to_string().contains("Invalid session id"), "{err}");
    let est = core
        .server_session(
            Session::new(SessionState::Established).with_to("a@x.com/i".parse().unwrap()),
        )
        .unwrap();
    assert_eq!(est.from.unwrap().to_string(), "postmaster@x.com/srv");
    assert_eq!(core.remote_node().unwrap().to_string(), "a@x.com/i");
    let mut client: ChannelCore = ChannelCore::new(Role::Client, ChannelOptions::client());
    assert!(client.server_session(Session::new(SessionState::Established)).is_err());
}
