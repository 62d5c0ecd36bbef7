//! What the Rust test suites of lime-core, lime-dart and lime-ffi share, so that it is written
//! once: a fresh self-signed certificate for `localhost` with the TLS configurations that
//! present and trust it, an in-process server listening on `127.0.0.1:0` (TCP and WebSocket),
//! the URIs that reach it, and the users the binding tests log in with.
//!
//! A dev-dependency only (`publish = false`). Like the tests that use it, it panics on a setup
//! failure: there is nothing a test could do with the error.
//!
//! ```no_run
//! # async fn demo() {
//! use lime_test_support::{certs, client_tls, server_config, start, tcp_uri};
//!
//! let certs = certs();
//! let server = start(server_config(Some(&certs))).await;
//! let uri = tcp_uri(&server); // net.tcp://localhost:<port>, TLS offered in band
//! let client = lime::Client::connect(&uri, client_tls(&certs), Default::default()).await;
//! # }
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use lime::{
    server::{AuthConfig, Server, ServerConfig, ServerHandle, UserFile},
    transport::tls::{ClientTlsConfig, ServerTlsConfig},
    AuthenticationScheme, Identity,
};

/// The user the binding tests authenticate with a password ([`alice_and_guests`]).
pub const ALICE: &str = "alice@localhost";
/// [`ALICE`]'s password.
pub const ALICE_PASSWORD: &str = "wonderland";

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct Certs {
    /// The certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
}

/// A fresh self-signed certificate for `localhost`.
pub fn certs() -> Certs {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    Certs { cert: ck.cert.pem(), key: ck.signing_key.serialize_pem() }
}

/// A client configuration that trusts `certs` and nothing else.
pub fn client_tls(certs: &Certs) -> ClientTlsConfig {
    ClientTlsConfig::builder()
        .without_default_roots()
        .add_roots_pem(certs.cert.as_bytes())
        .unwrap()
        .build()
        .unwrap()
}

/// A server configuration presenting `certs`.
pub fn server_tls(certs: &Certs) -> ServerTlsConfig {
    ServerTlsConfig::from_pem(certs.cert.as_bytes(), certs.key.as_bytes()).unwrap()
}

/// A server on `127.0.0.1:0` for TCP and WebSocket that lets guests in; with `certs`, TCP
/// sessions can negotiate TLS (set `wss` for TLS on the WebSocket listener). Adjust the rest
/// with struct update syntax.
pub fn server_config(certs: Option<&Certs>) -> ServerConfig {
    ServerConfig {
        tcp: vec!["127.0.0.1:0".into()],
        ws: vec!["127.0.0.1:0".into()],
        tls: certs.map(server_tls),
        authenticator: Arc::new(AuthConfig::guest()),
        ..ServerConfig::default()
    }
}

/// One user: [`ALICE`] with the plain password [`ALICE_PASSWORD`].
pub fn users() -> UserFile {
    let mut users = UserFile::default();
    users.insert(ALICE.parse().unwrap(), AuthenticationScheme::Plain, ALICE_PASSWORD);
    users
}

/// Guests, and the [`users`].
pub fn alice_and_guests() -> AuthConfig {
    AuthConfig { guest: true, users: Some(users()), ..AuthConfig::default() }
}

/// Binds and starts `config`.
pub async fn start(config: ServerConfig) -> ServerHandle {
    Server::bind(config).await.unwrap().start()
}

/// `net.tcp://localhost:<port>` of the server's first TCP listener.
pub fn tcp_uri(server: &ServerHandle) -> String {
    format!("net.tcp://localhost:{}", server.tcp_addrs()[0].port())
}

/// `ws://` (or, when `secure`, `wss://`) `localhost:<port>` of its first WebSocket listener.
pub fn ws_uri(server: &ServerHandle, secure: bool) -> String {
    format!("{}://localhost:{}", if secure { "wss" } else { "ws" }, server.ws_addrs()[0].port())
}

/// `name@localhost`.
pub fn identity(name: &str) -> Identity {
    format!("{name}@localhost").parse().unwrap()
}
