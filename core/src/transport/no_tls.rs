//! TLS settings in a build without the `tls` feature: the types exist so that every signature
//! stays the same, but they hold nothing and no TLS session can start.
//!
//! A [`ClientTlsConfig`] here only says "no TLS": a client offers and accepts no encryption but
//! `none`, and `wss://` or a server that insists on `tls` fail with
//! [`TransportError::Unsupported`](crate::TransportError::Unsupported). A
//! [`ServerTlsConfig`] cannot be made at all, so `Option<ServerTlsConfig>` is always `None`.
//! Turn the `tls` feature on (it is a default one) for rustls.

/// Client TLS settings without the `tls` feature: none (see the [module docs](self)).
#[derive(Clone, Debug, Default)]
pub struct ClientTlsConfig {
    _none: (),
}

/// Server TLS settings without the `tls` feature: a type without values (see the
/// [module docs](self)).
#[derive(Clone, Debug)]
pub enum ServerTlsConfig {}
