//! Everything flutter_rust_bridge exposes to Dart (only this module is scanned).
//!
//! Thin wrappers over lime-core, mirroring its module tree: translatable value types for
//! envelopes ([`envelope`]), enums ([`enums`]), nodes ([`node`]), documents ([`document`]) and
//! URIs ([`uri`]), failure reasons ([`reason`]), the credentials an application
//! authenticates with ([`credentials`]); the opaque [`transport::LimeTransport`] (a connection) and
//! [`client::LimeClient`] (a session over it); one error type ([`error::LimeError`]).
//! The generated Dart lives in `dart/lib/src/rust/`; the idiomatic Dart API in `dart/lib/src/`
//! is built on it.

pub mod client;
pub mod credentials;
pub mod document;
pub mod enums;
pub mod envelope;
pub mod error;
pub mod node;
pub mod reason;
pub mod transport;
pub mod uri;
