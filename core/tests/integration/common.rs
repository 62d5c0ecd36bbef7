use std::{
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use lime::{
    channel::{ChannelEvent, ClientChannel, ClientOptions, EstablishOptions},
    server::{ServerConfig, ServerHandle},
    transport::{connect, memory::MemoryTransport, tls::ClientTlsConfig},
    Authentication, Identity, Message, SessionState,
};

pub use lime_test_support::{certs, client_tls, server_tls, start, tcp_uri, users, ws_uri, Certs};

pub const T: Duration = Duration::from_secs(10);

/// Fails the test instead of hanging.
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

/// Guests and alice (password `wonderland`) on loopback TCP and WebSocket, without TLS.
pub fn config() -> ServerConfig {
    ServerConfig {
        authenticator: Arc::new(lime_test_support::alice_and_guests()),
        ..lime_test_support::server_config(None)
    }
}

pub async fn client(uri: &str, tls: &ClientTlsConfig, options: ClientOptions) -> ClientChannel {
    let transport = within(connect(uri, tls)).await.unwrap();
    ClientChannel::with_options(transport, options)
}

pub async fn guest(uri: &str, tls: &ClientTlsConfig, name: &str, instance: &str) -> ClientChannel {
    let c = client(uri, tls, ClientOptions::default()).await;
    let identity: Identity = format!("{name}@localhost").parse().unwrap();
    within(c.establish_session(EstablishOptions::new(identity, instance, Authentication::Guest)))
        .await
        .unwrap();
    c
}

pub async fn next(c: &ClientChannel) -> ChannelEvent {
    within(c.receive()).await.expect("channel ended")
}

/// A guest `name@domain/instance` over a new in-memory connection to `server`.
pub async fn memory_guest_in(
    server: &ServerHandle,
    name: &str,
    domain: &str,
    instance: &str,
) -> ClientChannel {
    let (client, served) = MemoryTransport::pair();
    server.serve(Box::new(served));
    let c = ClientChannel::new(Box::new(client));
    let identity: Identity = format!("{name}@{domain}").parse().unwrap();
    within(c.establish_session(EstablishOptions::new(identity, instance, Authentication::Guest)))
        .await
        .unwrap();
    c
}

/// A guest `name@localhost/1` over a new in-memory connection to `server`.
pub async fn memory_guest(server: &ServerHandle, name: &str) -> ClientChannel {
    memory_guest_in(server, name, "localhost", "1").await
}

static PAIRS: AtomicUsize = AtomicUsize::new(0);

/// A number no other pair of this test binary uses (for unique node names).
pub fn next_pair() -> usize {
    PAIRS.fetch_add(1, Ordering::Relaxed)
}

/// `a` sends `b` a message, which arrives intact and from `a`; then both finish.
pub async fn routes_between(a: &mut ClientChannel, b: &mut ClientChannel, n: usize) {
    let to = b.local_node().expect("b is established");
    a.send_message(Message::text("still routing").with_id(format!("pair{n}")).with_to(to))
        .await
        .unwrap();
    let ChannelEvent::Message(m) = next(b).await else { panic!("expected the message") };
    assert_eq!(m.content.unwrap().as_text(), Some("still routing"));
    assert_eq!(m.from, a.local_node(), "the message comes from its sender");
    assert_eq!(within(a.finish()).await.unwrap().state, SessionState::Finished);
    assert_eq!(within(b.finish()).await.unwrap().state, SessionState::Finished);
}

/// Two fresh guests in `domain` over the in-memory transport exchange a message: the server
/// still routes.
pub async fn still_routes_in(server: &ServerHandle, domain: &str) {
    let n = next_pair();
    let mut a = memory_guest_in(server, &format!("pair{n}a"), domain, "1").await;
    let mut b = memory_guest_in(server, &format!("pair{n}b"), domain, "1").await;
    routes_between(&mut a, &mut b, n).await;
}

/// [`still_routes_in`] `localhost`.
pub async fn still_routes(server: &ServerHandle) {
    still_routes_in(server, "localhost").await;
}
