use lime::{
    channel::{ChannelEvent, ClientOptions, EstablishOptions},
    reason::codes,
    server::ServerConfig,
    transport::{tls::ClientTlsConfig, TransportOptions},
    Authentication, Envelope, Error, Message, Session, SessionState, TransportError,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::common::*;

/// A raw TCP connection read through the envelope decoder, so that an envelope split over
/// several reads, or several envelopes in one read, are handled like the real transport does.
struct Raw {
    stream: TcpStream,
    decoder: lime::EnvelopeDecoder,
}

impl Raw {
    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        within(self.stream.write_all(bytes)).await
    }

    /// The next envelope from the server; fails the test on close or after the deadline.
    async fn next(&mut self) -> Envelope {
        let mut buf = vec![0u8; 4096];
        loop {
            if let Some((_, envelope)) = self.decoder.next_envelope().unwrap() {
                return envelope;
            }
            let n = within(self.stream.read(&mut buf)).await.unwrap();
            assert!(n > 0, "the server closed the connection");
            self.decoder.push(&buf[..n]);
        }
    }
}

async fn raw(server: &lime::server::ServerHandle) -> Raw {
    let stream = within(TcpStream::connect(server.tcp_addrs()[0])).await.unwrap();
    Raw { stream, decoder: lime::EnvelopeDecoder::new() }
}

/// Reads everything until the server closes, decoding the envelopes.
async fn read_all(mut s: Raw) -> Vec<Envelope> {
    let mut bytes = Vec::new();
    within(s.stream.read_to_end(&mut bytes)).await.unwrap();
    s.decoder.push(&bytes);
    let mut out = Vec::new();
    while let Some((_, e)) = s.decoder.next_envelope().unwrap() {
        out.push(e);
    }
    s.decoder.finish().unwrap();
    out
}

fn failed_reason(envs: &[Envelope]) -> lime::Reason {
    match envs.last() {
        Some(Envelope::Session(s)) if s.state == SessionState::Failed => s.reason.clone().unwrap(),
        other => panic!("expected a failed session last, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_json_before_established_fails_that_session_only() {
    let server = start(config()).await;
    let bystander = guest(&tcp_uri(&server), &ClientTlsConfig::default(), "ok", "1").await;
    let mut s = raw(&server).await;
    s.write_all(b"{\"state\":\"new\",}").await.unwrap();
    let envs = read_all(s).await;
    let reason = failed_reason(&envs);
    assert_eq!(reason.code, codes::SESSION_ERROR);
    assert!(reason.description.unwrap().contains("invalid JSON"));
    // the other session is untouched
    bystander
        .send_message(Message::text("still here").with_to("ok@localhost/1".parse().unwrap()))
        .await
        .unwrap();
    let ChannelEvent::Message(m) = next(&bystander).await else { panic!() };
    assert_eq!(m.content.unwrap().as_text(), Some("still here"));
    within(server.shutdown()).await;
}

#[tokio::test]
async fn non_session_envelope_before_established_fails() {
    let server = start(config()).await;
    let mut s = raw(&server).await;
    s.write_all(br#"{"state":"new"}{"to":"a@b/c","type":"text/plain","content":"too early"}"#)
        .await
        .unwrap();
    let envs = read_all(s).await;
    assert!(matches!(&envs[0], Envelope::Session(a) if a.state == SessionState::Authenticating));
    let reason = failed_reason(&envs);
    assert_eq!(reason.code, codes::SESSION_ERROR);
    assert!(reason.description.unwrap().contains("only session envelopes"));
    within(server.shutdown()).await;
}

#[tokio::test]
async fn wrong_session_id_fails() {
    let server = start(config()).await;
    let mut s = raw(&server).await;
    s.write_all(br#"{"state":"new"}{"id":"not-the-session","from":"a@localhost/x","state":"authenticating","scheme":"guest","authentication":{}}"#).await.unwrap();
    let envs = read_all(s).await;
    let reason = failed_reason(&envs);
    assert_eq!(reason.code, codes::SESSION_ERROR);
    assert!(reason.description.unwrap().contains("Invalid session id"));
    within(server.shutdown()).await;
}

#[tokio::test]
async fn unsupported_scheme_and_invalid_negotiation_choice() {
    let certs = certs();
    let server = start(ServerConfig { tls: Some(server_tls(&certs)), ..config() }).await;
    // the server negotiates (none/tls); choose an option it did not offer
    let mut s = raw(&server).await;
    s.write_all(br#"{"state":"new"}"#).await.unwrap();
    let Envelope::Session(offer) = s.next().await else { panic!() };
    assert_eq!(offer.state, SessionState::Negotiating);
    let id = offer.id.unwrap();
    s.write_all(
        format!(
            r#"{{"id":"{id}","state":"negotiating","compression":"gzip","encryption":"none"}}"#
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let reason = failed_reason(&read_all(s).await);
    assert_eq!(reason.code, codes::SESSION_NEGOTIATION_INVALID_OPTIONS);

    // a scheme the server did not offer (key) → 13
    let c = client(&tcp_uri(&server), &ClientTlsConfig::default(), ClientOptions::default()).await;
    let err = within(
        c.establish_session(
            EstablishOptions::new("k@localhost".parse().unwrap(), "x", Authentication::key("k"))
                .negotiate(lime::SessionCompression::None, lime::SessionEncryption::None),
        ),
    )
    .await
    .unwrap_err();
    let Error::Session(lime::SessionError::Failed { reason }) = err else { panic!("{err:?}") };
    assert_eq!(reason.code, codes::SESSION_AUTHENTICATION_FAILED);
    within(server.shutdown()).await;
}

#[tokio::test]
async fn oversize_envelope_closes_the_receivers_connection_and_the_sender_stays_up() {
    let mut cfg = config();
    cfg.transport = TransportOptions { max_envelope_size: 1024, ..TransportOptions::default() };
    let server = start(cfg).await;
    // sender side: our client refuses to send it and its channel stays usable
    let small = ClientOptions { max_envelope_size: 1024, ..ClientOptions::default() };
    let a = client(&tcp_uri(&server), &ClientTlsConfig::default(), small).await;
    within(a.establish_session(EstablishOptions::new(
        "a@localhost".parse().unwrap(),
        "1",
        Authentication::Guest,
    )))
    .await
    .unwrap();
    let big = Message::text("x".repeat(4096)).with_to("a@localhost/1".parse().unwrap());
    let err = a.send_message(big).await.unwrap_err();
    assert!(matches!(err, Error::Transport(TransportError::EnvelopeTooLarge { .. })), "{err:?}");
    a.send_message(Message::text("small").with_to("a@localhost/1".parse().unwrap())).await.unwrap();
    let ChannelEvent::Message(m) = next(&a).await else { panic!() };
    assert_eq!(m.content.unwrap().as_text(), Some("small"));

    // receiver side: a peer that sends it anyway is disconnected after a failed session
    let mut s = raw(&server).await;
    s.write_all(br#"{"state":"new"}"#).await.unwrap();
    let mut huge =
        br#"{"state":"authenticating","scheme":"guest","authentication":{},"from":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'y', 4096));
    huge.extend_from_slice(b"\"}");
    s.write_all(&huge).await.unwrap();
    let envs = read_all(s).await;
    let reason = failed_reason(&envs);
    assert!(reason.description.unwrap().contains("exceeds the maximum size"));
    // a stays up
    a.send_message(Message::text("after").with_to("a@localhost/1".parse().unwrap())).await.unwrap();
    let ChannelEvent::Message(m) = next(&a).await else { panic!() };
    assert_eq!(m.content.unwrap().as_text(), Some("after"));
    within(server.shutdown()).await;
}

#[tokio::test]
async fn malformed_json_after_established_fails_only_that_session() {
    let server = start(config()).await;
    let bystander = guest(&tcp_uri(&server), &ClientTlsConfig::default(), "b", "1").await;
    let mut s = raw(&server).await;
    s.write_all(br#"{"state":"new"}"#).await.unwrap();
    let Envelope::Session(auth) = s.next().await else { panic!() };
    let id = auth.id.unwrap();
    s.write_all(format!(r#"{{"id":"{id}","from":"m@localhost/1","state":"authenticating","scheme":"guest","authentication":{{}}}}"#).as_bytes()).await.unwrap();
    let Envelope::Session(est) = s.next().await else { panic!() };
    assert_eq!(est.state, SessionState::Established);
    s.write_all(br#"{"to":"b@localhost/1","type":"text/plain","content":}"#).await.unwrap();
    let reason = failed_reason(&read_all(s).await);
    assert_eq!(reason.code, codes::SESSION_ERROR);
    bystander
        .send_message(Message::text("fine").with_to("b@localhost/1".parse().unwrap()))
        .await
        .unwrap();
    assert!(matches!(next(&bystander).await, ChannelEvent::Message(_)));
    within(server.shutdown()).await;
}

#[tokio::test]
async fn abrupt_disconnect_releases_the_node() {
    let server = start(config()).await;
    let uri = tcp_uri(&server);
    let first = guest(&uri, &ClientTlsConfig::default(), "gone", "1").await;
    assert_eq!(server.session_count(), 1);
    first.close().await;
    drop(first);
    // the same node can register again once the server noticed the disconnect
    let mut attempts = 0;
    let again = loop {
        attempts += 1;
        let c = client(&uri, &ClientTlsConfig::default(), ClientOptions::default()).await;
        match within(c.establish_session(EstablishOptions::new(
            "gone@localhost".parse().unwrap(),
            "1",
            Authentication::Guest,
        )))
        .await
        {
            Ok(_) => break c,
            Err(e) if attempts < 50 => {
                assert!(
                    matches!(&e, Error::Session(lime::SessionError::Failed { reason }) if reason.code == codes::SESSION_REGISTRATION_ERROR),
                    "{e:?}"
                );
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("never released: {e:?}"),
        }
    };
    assert_eq!(again.state(), SessionState::Established);
    within(server.shutdown()).await;
}

#[tokio::test]
async fn first_session_must_be_new() {
    let server = start(config()).await;
    let mut s = raw(&server).await;
    let finishing: Envelope = Session::new(SessionState::Finishing).into();
    s.write_all(&finishing.to_vec()).await.unwrap();
    let reason = failed_reason(&read_all(s).await);
    assert_eq!(reason.code, codes::SESSION_ERROR);
    within(server.shutdown()).await;
}
