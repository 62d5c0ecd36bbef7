use std::{future::Future, sync::Arc, time::Duration};

use lime::{
    channel::{ChannelEvent, ClientChannel, ClientOptions, EstablishOptions},
    server::{AuthConfig, Server, ServerConfig, ServerHandle, UserFile},
    transport::{connect, tls::ClientTlsConfig},
    Authentication, AuthenticationScheme, Identity,
};

#[path = "../support/certs.rs"]
mod certs;
pub use certs::{certs, client_tls, server_tls, Certs};

pub const T: Duration = Duration::from_secs(10);

/// Fails the test instead of hanging.
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

pub fn users() -> UserFile {
    let mut users = UserFile::default();
    users.insert("alice@localhost".parse().unwrap(), AuthenticationScheme::Plain, "wonderland");
    users
}

pub fn config() -> ServerConfig {
    ServerConfig {
        tcp: vec!["127.0.0.1:0".into()],
        ws: vec!["127.0.0.1:0".into()],
        authenticator: Arc::new(AuthConfig {
            guest: true,
            users: Some(users()),
            ..AuthConfig::default()
        }),
        ..ServerConfig::default()
    }
}

pub async fn start(config: ServerConfig) -> ServerHandle {
    Server::bind(config).await.unwrap().start()
}

pub fn tcp_uri(h: &ServerHandle) -> String {
    format!("net.tcp://localhost:{}", h.tcp_addrs()[0].port())
}

pub fn ws_uri(h: &ServerHandle, secure: bool) -> String {
    format!("{}://localhost:{}", if secure { "wss" } else { "ws" }, h.ws_addrs()[0].port())
}

pub async fn client(uri: &str, tls: &ClientTlsConfig, options: ClientOptions) -> ClientChannel {
    let transport = within(connect(uri, tls)).await.unwrap();
    ClientChannel::with_options(transport, options)
}

pub async fn guest(uri: &str, tls: &ClientTlsConfig, name: &str, instance: &str) -> ClientChannel {
    let mut c = client(uri, tls, ClientOptions::default()).await;
    let identity: Identity = format!("{name}@localhost").parse().unwrap();
    within(c.establish_session(EstablishOptions::new(identity, instance, Authentication::Guest)))
        .await
        .unwrap();
    c
}

pub async fn next(c: &ClientChannel) -> ChannelEvent {
    within(c.receive()).await.expect("channel ended")
}
