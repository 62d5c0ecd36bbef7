//! [`LimeTransport`]: an open connection (`net.tcp://`, `ws://`, `wss://`) before a channel
//! takes it over, and the TLS and size options of the connection.
//!
//! The Dart `Transport.open(uri)` connects one (a [`lime::Client`] whose session has not
//! started); `ClientChannel(transport)` then hands it to
//! [`LimeClient::attach`](super::client::LimeClient::attach), which runs the session over it.

use std::sync::{Mutex, PoisonError};

use flutter_rust_bridge::frb;
use lime::{channel::ClientOptions, transport::tls::ClientTlsConfig};

use super::{
    enums::SessionEncryptionDto,
    error::{invalid, LimeError},
};

/// TLS and size settings of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportOptionsDto {
    /// Largest envelope sent or accepted, in bytes (default 8 MiB).
    pub max_envelope_size: Option<u32>,
    /// Trust the Mozilla root certificates for TLS (`tls` negotiated on TCP, `wss://`).
    pub use_default_roots: bool,
    /// Extra trusted root certificates, PEM (for a private CA).
    pub trusted_roots_pem: Option<String>,
    /// A client certificate chain, PEM (for `transport` authentication); needs the key.
    pub client_certificate_pem: Option<String>,
    /// The client certificate's private key, PEM.
    pub client_key_pem: Option<String>,
}

impl Default for TransportOptionsDto {
    fn default() -> Self {
        Self {
            max_envelope_size: None,
            use_default_roots: true,
            trusted_roots_pem: None,
            client_certificate_pem: None,
            client_key_pem: None,
        }
    }
}

/// The default [`TransportOptionsDto`]: Mozilla roots, no client certificate, 8 MiB.
#[frb(sync)]
pub fn default_transport_options() -> TransportOptionsDto {
    TransportOptionsDto::default()
}

/// An open connection that no channel has taken over yet.
#[frb(opaque)]
pub struct LimeTransport {
    inner: Mutex<Option<lime::Client>>,
}

impl std::fmt::Debug for LimeTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimeTransport").field("open", &self.is_open()).finish()
    }
}

pub(crate) fn size(n: Option<u32>, default: usize) -> usize {
    n.map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

fn tls_config(options: &TransportOptionsDto) -> Result<ClientTlsConfig, LimeError> {
    let mut builder = ClientTlsConfig::builder();
    if !options.use_default_roots {
        builder = builder.without_default_roots();
    }
    if let Some(pem) = &options.trusted_roots_pem {
        builder = builder.add_roots_pem(pem.as_bytes())?;
    }
    match (&options.client_certificate_pem, &options.client_key_pem) {
        (Some(cert), Some(key)) => {
            builder = builder.client_certificate_pem(cert.as_bytes(), key.as_bytes())?;
        }
        (None, None) => {}
        _ => return Err(invalid("client_certificate_pem", "the certificate and key go together")),
    }
    Ok(builder.build()?)
}

/// Opens a connection to `uri` (`net.tcp://host[:port]`, default port 55321; `ws://…`;
/// `wss://…`), with the subprotocol `lime` on WebSocket, for a session with `options`.
pub(crate) async fn open(
    uri: &str,
    transport: &TransportOptionsDto,
    mut options: ClientOptions,
) -> Result<lime::Client, LimeError> {
    let tls = tls_config(transport)?;
    // The connection's limit applies to both directions until the channel sets its own.
    let channel_limit = options.max_envelope_size;
    options.max_envelope_size = size(transport.max_envelope_size, channel_limit);
    let client = lime::Client::connect(uri, tls, options.clone()).await?;
    options.max_envelope_size = channel_limit;
    client.set_options(options);
    Ok(client)
}

impl LimeTransport {
    /// Opens a connection to `uri`: `net.tcp://host[:port]` (default port 55321), `ws://…` or
    /// `wss://…` (WebSocket with the subprotocol `lime`).
    pub async fn connect(uri: String, options: TransportOptionsDto) -> Result<Self, LimeError> {
        let client = open(&uri, &options, ClientOptions::default()).await?;
        Ok(Self { inner: Mutex::new(Some(client)) })
    }

    /// True until a channel takes the connection over or it is closed.
    #[frb(sync, getter)]
    pub fn is_open(&self) -> bool {
        self.lock().as_ref().is_some_and(|c| !c.is_closed())
    }

    /// The WebSocket subprotocol agreed with the server (`lime`), if any.
    #[frb(sync, getter)]
    pub fn subprotocol(&self) -> Option<String> {
        self.lock().as_ref().and_then(lime::Client::subprotocol)
    }

    /// The encryption in place (`tls` for `wss://`; TCP starts plain and may negotiate TLS).
    #[frb(sync, getter)]
    pub fn encryption(&self) -> SessionEncryptionDto {
        self.lock().as_ref().map_or(SessionEncryptionDto::None, |c| c.encryption().into())
    }

    /// Closes the connection if no channel has taken it over (otherwise close the channel).
    pub async fn close(&self) -> Result<(), LimeError> {
        let client = self.lock().take();
        if let Some(client) = client {
            client.close().await;
        }
        Ok(())
    }

    /// Hands the connection to a channel; fails once it was taken or closed.
    pub(crate) fn take(&self) -> Result<lime::Client, LimeError> {
        self.lock().take().ok_or(LimeError::Closed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<lime::Client>> {
        // invariant: no code panics while holding the lock; recover the data if one did.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
