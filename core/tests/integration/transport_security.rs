//! Transport security and liveness (issue #12 item 4): `require_tls`, passwords kept off
//! cleartext sessions, failed-authentication throttling, remote ping and idle timeout, RFC 6455
//! close codes and SAN-first certificate names. Every hostile case checks the expected reason
//! or close code, then that an unrelated pair of sessions still routes a message.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use lime::{
    channel::{ClientChannel, ClientOptions, EstablishOptions},
    error::SessionError,
    reason::codes,
    server::{
        AuthConfig, AuthOutcome, AuthRequest, Authenticator, ServerConfig, ServerHandle,
        ThrottleConfig,
    },
    transport::{
        connect,
        memory::MemoryTransport,
        tls::{ClientTlsConfig, ServerTlsConfig},
        Transport,
    },
    Authentication, AuthenticationScheme, Envelope, Error, Identity, Node, Session,
    SessionCompression, SessionEncryption, SessionState,
};
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tokio_tungstenite::tungstenite::{
    client::IntoClientRequest,
    http::HeaderValue,
    protocol::{frame::coding::CloseCode, Message as WsMessage},
};

use crate::common::*;

/// Two fresh guests over `uri` exchange a message: the server still routes.
async fn still_routes_over(uri: &str, tls: &ClientTlsConfig, encryption: SessionEncryption) {
    let n = next_pair();
    let mut a =
        establish(uri, tls, &format!("ts{n}a@localhost"), Authentication::Guest, encryption)
            .await
            .unwrap();
    let mut b =
        establish(uri, tls, &format!("ts{n}b@localhost"), Authentication::Guest, encryption)
            .await
            .unwrap();
    routes_between(&mut a, &mut b, n).await;
}

/// Establishes `identity` over `uri`, choosing `encryption` if the server negotiates.
async fn establish(
    uri: &str,
    tls: &ClientTlsConfig,
    identity: &str,
    authentication: Authentication,
    encryption: SessionEncryption,
) -> Result<ClientChannel, Error> {
    let c = client(uri, tls, ClientOptions::default()).await;
    let identity: Identity = identity.parse().unwrap();
    let options = EstablishOptions::new(identity, "1", authentication)
        .negotiate(SessionCompression::None, encryption);
    within(c.establish_session(options)).await?;
    Ok(c)
}

/// The reason of a failed establishment, checking its code.
fn failed_with(result: Result<ClientChannel, Error>, code: i32) -> String {
    let Err(err) = result else { panic!("the session was established") };
    let Error::Session(SessionError::Failed { reason }) = err else { panic!("{err:?}") };
    assert_eq!(reason.code, code, "{reason:?}");
    reason.description.unwrap_or_default()
}

fn tls_config(certs: &Certs) -> ServerConfig {
    ServerConfig { tls: Some(server_tls(certs)), ..config() }
}

fn alice() -> Authentication {
    Authentication::plain("wonderland")
}

// --- require_tls ----------------------------------------------------------------------------

#[tokio::test]
async fn require_tls_fails_cleartext_sessions_at_negotiation() {
    let certs = certs();
    let tls = client_tls(&certs);
    let server = start(ServerConfig {
        ws: vec!["127.0.0.1:0".into()],
        wss: true,
        require_tls: true,
        ..tls_config(&certs)
    })
    .await;
    let tcp = tcp_uri(&server);

    // Only tls is offered over TCP, even though compression gives no other choice.
    let mut raw = within(connect(&tcp, &tls)).await.unwrap();
    within(raw.send(&Session::new(SessionState::New).into())).await.unwrap();
    let Some(Envelope::Session(offer)) = within(raw.receive()).await.unwrap() else {
        panic!("expected the negotiation offer")
    };
    assert_eq!(offer.state, SessionState::Negotiating);
    assert_eq!(offer.encryption_options, Some(vec![SessionEncryption::Tls]));
    let _ = raw.close().await;

    // A client choosing `none` fails with the negotiation code, whatever its credentials.
    let why = failed_with(
        establish(&tcp, &tls, "g@localhost", Authentication::Guest, SessionEncryption::None).await,
        codes::SESSION_NEGOTIATION_INVALID_OPTIONS,
    );
    assert!(why.contains("requires tls"), "{why}");
    failed_with(
        establish(&tcp, &tls, "alice@localhost", alice(), SessionEncryption::None).await,
        codes::SESSION_NEGOTIATION_INVALID_OPTIONS,
    );

    // With tls, passwords are fine (TCP and wss).
    let c = establish(&tcp, &tls, "alice@localhost", alice(), SessionEncryption::Tls).await;
    within(c.unwrap().finish()).await.unwrap();
    let wss = ws_uri(&server, true);
    let c = establish(&wss, &tls, "alice@localhost", alice(), SessionEncryption::Tls).await;
    within(c.unwrap().finish()).await.unwrap();

    // A transport that cannot encrypt (in-process memory) is refused as well.
    let (mut client, served) = MemoryTransport::pair();
    server.serve(Box::new(served));
    client.send(&Session::new(SessionState::New).into()).await.unwrap();
    let Some(Envelope::Session(failed)) = within(client.receive()).await.unwrap() else {
        panic!("expected failed")
    };
    assert_eq!(failed.state, SessionState::Failed);
    assert_eq!(failed.reason.unwrap().code, codes::SESSION_NEGOTIATION_INVALID_OPTIONS);

    still_routes_over(&tcp, &tls, SessionEncryption::Tls).await;
    still_routes_over(&wss, &tls, SessionEncryption::Tls).await;
    within(server.shutdown()).await;
}

#[tokio::test]
async fn require_tls_needs_a_certificate_and_wss() {
    let certs = certs();
    let no_cert = ServerConfig { require_tls: true, ..config() };
    let err = lime::server::Server::bind(no_cert).await.unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    let plain_ws = ServerConfig { require_tls: true, ..tls_config(&certs) };
    let err = lime::server::Server::bind(plain_ws).await.unwrap_err();
    assert!(err.to_string().contains("wss"), "{err}");
    let no_tls_option = ServerConfig {
        require_tls: true,
        ws: vec![],
        encryption: vec![SessionEncryption::None],
        ..tls_config(&certs)
    };
    assert!(lime::server::Server::bind(no_tls_option).await.is_err());
}

// --- passwords and cleartext ------------------------------------------------------------------

#[tokio::test]
async fn passwords_stay_off_cleartext_sessions_of_a_server_with_a_certificate() {
    let certs = certs();
    let tls = client_tls(&certs);
    let server = start(tls_config(&certs)).await;
    let (tcp, ws) = (tcp_uri(&server), ws_uri(&server, false));

    // plain/key are not offered on a cleartext session...
    let mut raw = within(connect(&tcp, &tls)).await.unwrap();
    within(raw.send(&Session::new(SessionState::New).into())).await.unwrap();
    let Some(Envelope::Session(offer)) = within(raw.receive()).await.unwrap() else { panic!() };
    let mut choice = Session::new(SessionState::Negotiating);
    (choice.id, choice.encryption, choice.compression) =
        (offer.id, Some(SessionEncryption::None), Some(SessionCompression::None));
    within(raw.send(&choice.into())).await.unwrap();
    let _confirmation = within(raw.receive()).await.unwrap();
    let Some(Envelope::Session(auth)) = within(raw.receive()).await.unwrap() else { panic!() };
    assert_eq!(auth.scheme_options, Some(vec![AuthenticationScheme::Guest]));
    let _ = raw.close().await;

    // ...and refused with 13 and a description naming the way out.
    for uri in [&tcp, &ws] {
        let why = failed_with(
            establish(uri, &tls, "alice@localhost", alice(), SessionEncryption::None).await,
            codes::SESSION_AUTHENTICATION_FAILED,
        );
        assert!(why.contains("unencrypted") && why.contains("allow-cleartext-passwords"), "{why}");
    }
    // Over tls alice gets in.
    let c = establish(&tcp, &tls, "alice@localhost", alice(), SessionEncryption::Tls).await;
    within(c.unwrap().finish()).await.unwrap();
    still_routes_over(&tcp, &tls, SessionEncryption::None).await;
    still_routes_over(&ws, &tls, SessionEncryption::None).await;
    within(server.shutdown()).await;

    // A password-only server on cleartext fails the session before offering schemes.
    let password_only = ServerConfig {
        authenticator: Arc::new(AuthConfig { users: Some(users()), ..AuthConfig::default() }),
        ..tls_config(&certs)
    };
    let server = start(password_only).await;
    let why = failed_with(
        establish(&tcp_uri(&server), &tls, "alice@localhost", alice(), SessionEncryption::None)
            .await,
        codes::SESSION_AUTHENTICATION_FAILED,
    );
    assert!(why.contains("unencrypted"), "{why}");
    within(server.shutdown()).await;
}

#[tokio::test]
async fn cleartext_passwords_when_allowed_or_without_a_certificate() {
    let certs = certs();
    let tls = client_tls(&certs);
    let allowed =
        start(ServerConfig { allow_cleartext_passwords: true, ..tls_config(&certs) }).await;
    let no_cert = start(config()).await;
    for server in [&allowed, &no_cert] {
        for uri in [tcp_uri(server), ws_uri(server, false)] {
            let c =
                establish(&uri, &tls, "alice@localhost", alice(), SessionEncryption::None).await;
            within(c.unwrap().finish()).await.unwrap();
        }
    }
    within(allowed.shutdown()).await;
    within(no_cert.shutdown()).await;
}

// --- throttling -------------------------------------------------------------------------------

/// Counts the attempts that reach the real authenticator.
struct Counting {
    inner: AuthConfig,
    checked: AtomicUsize,
}

#[async_trait]
impl Authenticator for Counting {
    fn schemes(&self) -> Vec<AuthenticationScheme> {
        self.inner.schemes()
    }

    async fn authenticate(&self, request: AuthRequest<'_>) -> AuthOutcome {
        self.checked.fetch_add(1, Ordering::Relaxed);
        self.inner.authenticate(request).await
    }
}

fn counting() -> Arc<Counting> {
    Arc::new(Counting {
        inner: AuthConfig { guest: true, users: Some(users()), ..AuthConfig::default() },
        checked: AtomicUsize::new(0),
    })
}

#[tokio::test]
async fn failed_authentications_are_throttled_per_address() {
    let auth = counting();
    let server = start(ServerConfig {
        authenticator: auth.clone(),
        auth_throttle: ThrottleConfig { burst: 3, refill: Duration::from_secs(3600) },
        ..config()
    })
    .await;
    let (tcp, tls) = (tcp_uri(&server), ClientTlsConfig::default());
    // Three wrong passwords for three identities from 127.0.0.1...
    for n in 0..3 {
        let identity = format!("nobody{n}@localhost");
        let bad = Authentication::plain("guess");
        failed_with(
            establish(&tcp, &tls, &identity, bad, SessionEncryption::None).await,
            codes::SESSION_AUTHENTICATION_FAILED,
        );
    }
    assert_eq!(auth.checked.load(Ordering::Relaxed), 3);
    // ...and the address is refused unchecked, even with alice's right password.
    for _ in 0..5 {
        let why = failed_with(
            establish(&tcp, &tls, "alice@localhost", alice(), SessionEncryption::None).await,
            codes::SESSION_AUTHENTICATION_FAILED,
        );
        assert!(why.contains("too many failed attempts"), "{why}");
    }
    assert_eq!(auth.checked.load(Ordering::Relaxed), 3);
    // Sessions from elsewhere (here: in-process) are not affected.
    still_routes(&server).await;
    within(server.shutdown()).await;
}

#[tokio::test(start_paused = true)]
async fn failed_authentications_are_throttled_per_identity_and_recover() {
    let auth = counting();
    let server = start(ServerConfig {
        tcp: vec![],
        ws: vec![],
        authenticator: auth.clone(),
        auth_throttle: ThrottleConfig { burst: 4, refill: Duration::from_secs(2) },
        ..config()
    })
    .await;
    let attempt = |password: &'static str| {
        let (client, served) = MemoryTransport::pair();
        server.serve(Box::new(served));
        async move {
            let c = ClientChannel::new(Box::new(client));
            let identity: Identity = "alice@localhost".parse().unwrap();
            let options = EstablishOptions::new(identity, "1", Authentication::plain(password));
            within(c.establish_session(options)).await.map(|_| c)
        }
    };
    // 100 wrong guesses at once: only the burst is checked.
    for _ in 0..100 {
        failed_with(attempt("guess").await, codes::SESSION_AUTHENTICATION_FAILED);
    }
    assert_eq!(auth.checked.load(Ordering::Relaxed), 4);
    let why = failed_with(attempt("wonderland").await, codes::SESSION_AUTHENTICATION_FAILED);
    assert!(why.contains("too many failed attempts"), "{why}");
    // One more check every 2 s.
    tokio::time::sleep(Duration::from_millis(1_900)).await;
    failed_with(attempt("wonderland").await, codes::SESSION_AUTHENTICATION_FAILED);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = attempt("wonderland").await.expect("the right password after the cool-down");
    assert_eq!(auth.checked.load(Ordering::Relaxed), 5);
    within(c.finish()).await.unwrap();
    // Other identities were never throttled.
    still_routes(&server).await;
    within(server.shutdown()).await;
}

/// Measures how many wrong-password attempts per second reach the password check from one
/// address over TCP, without and with the default throttle. Not part of the default run:
/// `cargo test -p lime-core --test integration -- --ignored --nocapture auth_attempts_per_second`
/// (release: add `--release`). RELIABILITY.md records the figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run on demand"]
async fn auth_attempts_per_second() {
    const WINDOW: Duration = Duration::from_secs(5);
    const CLIENTS: usize = 16;
    let mut rates = Vec::new();
    for throttle in
        [ThrottleConfig { burst: 0, ..ThrottleConfig::default() }, ThrottleConfig::default()]
    {
        let auth = counting();
        let server = start(ServerConfig {
            authenticator: auth.clone(),
            auth_throttle: throttle,
            ..config()
        })
        .await;
        let tcp = tcp_uri(&server);
        let attempts = Arc::new(AtomicUsize::new(0));
        let deadline = tokio::time::Instant::now() + WINDOW;
        let mut tasks = Vec::new();
        for t in 0..CLIENTS {
            let (tcp, attempts) = (tcp.clone(), attempts.clone());
            tasks.push(tokio::spawn(async move {
                let tls = ClientTlsConfig::default();
                let mut n = 0;
                while tokio::time::Instant::now() < deadline {
                    // identities sprayed over the attempts, as a guesser would
                    let identity = if n % 2 == 0 {
                        "alice@localhost".to_owned()
                    } else {
                        format!("u{t}x{n}@localhost")
                    };
                    let r = establish(
                        &tcp,
                        &tls,
                        &identity,
                        Authentication::plain("guess"),
                        SessionEncryption::None,
                    )
                    .await;
                    assert!(r.is_err());
                    attempts.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let secs = WINDOW.as_secs_f64();
        let checked = auth.checked.load(Ordering::Relaxed);
        let tried = attempts.load(Ordering::Relaxed);
        println!(
            "throttle {throttle:?}: {tried} attempts ({:.0}/s), {checked} checked ({:.1}/s)",
            tried as f64 / secs,
            checked as f64 / secs
        );
        rates.push(checked as f64 / secs);
        if throttle.burst > 0 {
            // the burst, then one per refill period, from one address
            let bound = f64::from(throttle.burst) + secs / throttle.refill.as_secs_f64() + 1.0;
            assert!(checked as f64 <= bound, "{checked} > {bound}");
        }
        within(server.shutdown()).await;
    }
    assert!(rates[0] > rates[1], "{rates:?}");
}

// --- liveness ---------------------------------------------------------------------------------

/// A raw guest session over memory (it never answers anything by itself).
async fn raw_guest(server: &ServerHandle, node: &str) -> MemoryTransport {
    let (mut t, served) = MemoryTransport::pair();
    server.serve(Box::new(served));
    t.send(&Session::new(SessionState::New).into()).await.unwrap();
    let Some(Envelope::Session(offer)) = t.receive().await.unwrap() else { panic!() };
    let mut attempt =
        Session::new(SessionState::Authenticating).with_authentication(Authentication::Guest);
    attempt.id = offer.id;
    attempt.from = Some(node.parse().unwrap());
    t.send(&attempt.into()).await.unwrap();
    let Some(Envelope::Session(s)) = t.receive().await.unwrap() else { panic!() };
    assert_eq!(s.state, SessionState::Established, "{s:?}");
    t
}

#[tokio::test(start_paused = true)]
async fn silent_sessions_are_pinged_then_ended_by_default() {
    let server = start(ServerConfig { tcp: vec![], ws: vec![], ..config() }).await;
    let start_at = tokio::time::Instant::now();
    let mut silent = raw_guest(&server, "silent@localhost/1").await;
    // A client that answers pings (the channel does) stays.
    let mut alive = memory_guest(&server, "alive").await;
    assert_eq!(server.session_count(), 2);

    // 60 s of silence: a ping.
    let Some(Envelope::Command(ping)) = silent.receive().await.unwrap() else {
        panic!("expected a ping")
    };
    assert_eq!(ping.uri.map(|u| u.to_string()).as_deref(), Some("/ping"));
    let waited = start_at.elapsed();
    assert!(waited >= Duration::from_secs(60) && waited < Duration::from_secs(61), "{waited:?}");

    // Still silent 180 s after its last envelope: finished, and unregistered.
    let Some(Envelope::Session(end)) = silent.receive().await.unwrap() else {
        panic!("expected the end of the session")
    };
    assert_eq!(end.state, SessionState::Finished);
    let waited = start_at.elapsed();
    assert!(waited >= Duration::from_secs(180) && waited < Duration::from_secs(181), "{waited:?}");
    assert_eq!(silent.receive().await.unwrap(), None);
    assert_eq!(server.session_count(), 1);

    // The answering client is still there ten minutes on and still routes.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(server.session_count(), 1);
    let mut other = memory_guest(&server, "other").await;
    let n = next_pair();
    routes_between(&mut alive, &mut other, n).await;
    within(server.shutdown()).await;
}

#[tokio::test(start_paused = true)]
async fn remote_ping_can_be_turned_off() {
    let server =
        start(ServerConfig { tcp: vec![], ws: vec![], remote_ping_interval: None, ..config() })
            .await;
    let mut silent = raw_guest(&server, "silent@localhost/1").await;
    let quiet = tokio::time::timeout(Duration::from_secs(3600), silent.receive()).await;
    assert!(quiet.is_err(), "nothing is sent to a silent session: {quiet:?}");
    assert_eq!(server.session_count(), 1);
    still_routes(&server).await;
    within(server.shutdown()).await;
}

// --- WebSocket close codes ----------------------------------------------------------------------

type RawWs = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn raw_ws(server: &ServerHandle) -> RawWs {
    let addr = server.ws_addrs()[0];
    let stream = within(TcpStream::connect(addr)).await.unwrap();
    let mut request = format!("ws://{addr}/").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("lime"));
    let (ws, _) = within(tokio_tungstenite::client_async(request, stream)).await.unwrap();
    ws
}

/// A masked client frame (mask 0: the payload is sent as is).
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut out = vec![first, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    out.extend_from_slice(payload);
    out
}

/// Reads until the server's close frame; returns its code and the LIME envelopes seen before.
async fn close_code(ws: &mut RawWs) -> (CloseCode, Vec<String>) {
    let mut texts = Vec::new();
    loop {
        match within(ws.next()).await {
            Some(Ok(WsMessage::Close(Some(frame)))) => return (frame.code, texts),
            Some(Ok(WsMessage::Text(text))) => texts.push(text.to_string()),
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            Some(Err(e)) => panic!("no close frame: {e}"),
            None => panic!("no close frame"),
        }
    }
}

/// A raw guest WebSocket session established as `node`, with its session id.
async fn ws_established(server: &ServerHandle, node: &str) -> (RawWs, String) {
    let mut ws = raw_ws(server).await;
    ws.send(WsMessage::text(r#"{"state":"new"}"#)).await.unwrap();
    let Some(Ok(WsMessage::Text(offer))) = within(ws.next()).await else { panic!() };
    let offer: serde_json::Value = serde_json::from_str(&offer).unwrap();
    let attempt = serde_json::json!({
        "id": offer["id"], "from": node, "state": "authenticating",
        "scheme": "guest", "authentication": {}
    });
    ws.send(WsMessage::text(attempt.to_string())).await.unwrap();
    let Some(Ok(WsMessage::Text(established))) = within(ws.next()).await else { panic!() };
    assert!(established.contains("\"established\""), "{established}");
    (ws, offer["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn websocket_errors_close_with_rfc6455_codes() {
    let server = start(ServerConfig {
        tcp: vec![],
        transport: lime::transport::TransportOptions {
            max_envelope_size: 1024,
            ..Default::default()
        },
        ..config()
    })
    .await;
    let ws_uri = ws_uri(&server, false);
    let tls = ClientTlsConfig::default();

    // A reserved opcode is a protocol error: 1002 (before and after establishment).
    let mut ws = raw_ws(&server).await;
    ws.get_mut().write_all(&frame(0x83, b"")).await.unwrap();
    assert_eq!(close_code(&mut ws).await.0, CloseCode::Protocol);
    let (mut ws, _id) = ws_established(&server, "ws1@localhost/1").await;
    ws.get_mut().write_all(&frame(0x83, b"")).await.unwrap();
    assert_eq!(close_code(&mut ws).await.0, CloseCode::Protocol);
    still_routes_over(&ws_uri, &tls, SessionEncryption::None).await;

    // A text message that is not UTF-8: 1007.
    let mut ws = raw_ws(&server).await;
    ws.get_mut().write_all(&frame(0x81, b"{\"state\":\"\xff\"}")).await.unwrap();
    assert_eq!(close_code(&mut ws).await.0, CloseCode::Invalid);

    // Text that is no envelope: failed 11, then 1007.
    let (mut ws, _id) = ws_established(&server, "ws2@localhost/1").await;
    ws.send(WsMessage::text("not json")).await.unwrap();
    let (code, texts) = close_code(&mut ws).await;
    assert_eq!(code, CloseCode::Invalid);
    assert!(
        texts.iter().any(|t| t.contains("\"failed\"") && t.contains("\"code\":11")),
        "{texts:?}"
    );
    still_routes_over(&ws_uri, &tls, SessionEncryption::None).await;

    // Over the size limit: failed 11, then 1009.
    let (mut ws, _id) = ws_established(&server, "ws3@localhost/1").await;
    let big = format!(
        r#"{{"id":"1","to":"x@localhost/1","type":"text/plain","content":"{}"}}"#,
        "x".repeat(2000)
    );
    ws.send(WsMessage::text(big)).await.unwrap();
    let (code, texts) = close_code(&mut ws).await;
    assert_eq!(code, CloseCode::Size);
    assert!(texts.iter().any(|t| t.contains("\"failed\"")), "{texts:?}");

    // A clean finish still closes with 1000.
    let (mut ws, id) = ws_established(&server, "ws4@localhost/1").await;
    let finishing = serde_json::json!({"id": id, "state": "finishing"});
    ws.send(WsMessage::text(finishing.to_string())).await.unwrap();
    let (code, texts) = close_code(&mut ws).await;
    assert_eq!(code, CloseCode::Normal);
    assert!(texts.iter().any(|t| t.contains("\"finished\"")), "{texts:?}");

    still_routes_over(&ws_uri, &tls, SessionEncryption::None).await;
    within(server.shutdown()).await;
}

// --- transport authentication: SAN first --------------------------------------------------------

struct Pki {
    ca_pem: String,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
}

fn pki() -> Pki {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "lime test CA");
    let key = rcgen::KeyPair::generate().unwrap();
    let ca_pem = params.self_signed(&key).unwrap().pem();
    Pki { ca_pem, ca: rcgen::Issuer::new(params, key) }
}

/// A client certificate with this CN and these DNS SANs, as a client TLS configuration.
fn client_cert(pki: &Pki, server_ca: &Certs, cn: &str, sans: &[&str]) -> ClientTlsConfig {
    let mut params =
        rcgen::CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &pki.ca).unwrap();
    ClientTlsConfig::builder()
        .without_default_roots()
        .add_roots_pem(server_ca.cert.as_bytes())
        .unwrap()
        .client_certificate_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
        .unwrap()
        .build()
        .unwrap()
}

#[tokio::test]
async fn transport_authentication_reads_sans_before_the_common_name() {
    let certs = certs();
    let pki = pki();
    let server_tls = ServerTlsConfig::with_client_roots_pem(
        certs.cert.as_bytes(),
        certs.key.as_bytes(),
        pki.ca_pem.as_bytes(),
    )
    .unwrap();
    let server = start(ServerConfig {
        tls: Some(server_tls),
        wss: true,
        authenticator: Arc::new(AuthConfig {
            guest: true,
            transport: true,
            ..AuthConfig::default()
        }),
        ..config()
    })
    .await;
    let (tcp, wss) = (tcp_uri(&server), ws_uri(&server, true));
    let sans = client_cert(&pki, &certs, "victim.example", &["good.example"]);
    let cn_only = client_cert(&pki, &certs, "legacy.example", &[]);
    for uri in [&tcp, &wss] {
        // The CN of a certificate with SANs vouches for nothing.
        failed_with(
            establish(
                uri,
                &sans,
                "x@victim.example",
                Authentication::Transport,
                SessionEncryption::Tls,
            )
            .await,
            codes::SESSION_AUTHENTICATION_FAILED,
        );
        let c = establish(
            uri,
            &sans,
            "x@good.example",
            Authentication::Transport,
            SessionEncryption::Tls,
        )
        .await
        .unwrap();
        assert_eq!(c.local_node(), Some("x@good.example/1".parse::<Node>().unwrap()));
        within(c.finish()).await.unwrap();
        // Without SANs, the CN is the name.
        let c = establish(
            uri,
            &cn_only,
            "y@legacy.example",
            Authentication::Transport,
            SessionEncryption::Tls,
        )
        .await
        .unwrap();
        within(c.finish()).await.unwrap();
    }
    still_routes_over(&tcp, &client_tls(&certs), SessionEncryption::Tls).await;
    within(server.shutdown()).await;
}
