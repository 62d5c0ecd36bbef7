//! A self-signed certificate for `localhost`, and the TLS configurations that serve it and
//! trust it. Shared by the test files of `lime-core` and `lime-dart` (included with `#[path]`).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use lime::transport::tls::{ClientTlsConfig, ServerTlsConfig};

/// A certificate and its private key, both PEM.
pub struct Certs {
    pub cert: String,
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
