//! [`LimeClient`]: a LIME client session for Kotlin and Swift, a thin layer over
//! [`lime::Client`] (which drives the connection from one task on the library's runtime).

use std::{sync::Arc, time::Duration};

use lime::{
    channel::{ClientOptions, EstablishOptions},
    transport::tls::ClientTlsConfig,
    SessionEncryption, DEFAULT_MAX_ENVELOPE_SIZE,
};

use crate::{
    error::{invalid, LimeError},
    listener::{listen, ChannelListener},
    records::{Authentication, Command, Message, Notification, SessionInfo, SessionState},
    runtime::{self, run},
    task_handle::TaskHandle,
};

/// How to connect and how the channel behaves.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ConnectOptions {
    /// Extra trusted root certificates (PEM) for TLS (`tls` negotiated on TCP, `wss://`): for
    /// a server with a private CA.
    #[uniffi(default)]
    pub trusted_roots_pem: Option<String>,
    /// Trust the Mozilla root certificates too (default on); off, only `trusted_roots_pem`
    /// is trusted.
    #[uniffi(default = true)]
    pub use_default_roots: bool,
    /// Encryption to choose when the server negotiates: `"tls"` or `"none"` (default: the
    /// server's first option).
    #[uniffi(default)]
    pub encryption: Option<String>,
    /// Send a `received` notification for every message that arrives with an id.
    #[uniffi(default)]
    pub auto_notify_receipt: bool,
    /// Answer the server's `get /ping` requests automatically.
    #[uniffi(default = true)]
    pub auto_reply_pings: bool,
    /// Still hand an automatically answered `get /ping` to the listener's `onCommand`, as
    /// lime-python and lime-js do (default off, as in C#).
    #[uniffi(default)]
    pub deliver_answered_pings: bool,
    /// Largest envelope sent or accepted, in bytes (default 8 MiB).
    #[uniffi(default)]
    pub max_envelope_size: Option<u64>,
    /// A client certificate chain (PEM), for `transport` authentication; needs the key.
    #[uniffi(default)]
    pub client_certificate_pem: Option<String>,
    /// The client certificate's private key (PEM).
    #[uniffi(default)]
    pub client_key_pem: Option<String>,
    /// Timeout of each handshake step and of `finish`, in milliseconds (default 30 s).
    #[uniffi(default)]
    pub handshake_timeout_ms: Option<u64>,
    /// Send a `/ping` to the server after this many milliseconds of silence (default off).
    #[uniffi(default)]
    pub remote_ping_interval_ms: Option<u64>,
    /// Finish the session when the server stays silent this long after a ping, in
    /// milliseconds (default off).
    #[uniffi(default)]
    pub remote_idle_timeout_ms: Option<u64>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            trusted_roots_pem: None,
            use_default_roots: true,
            encryption: None,
            auto_notify_receipt: false,
            auto_reply_pings: true,
            deliver_answered_pings: false,
            max_envelope_size: None,
            client_certificate_pem: None,
            client_key_pem: None,
            handshake_timeout_ms: None,
            remote_ping_interval_ms: None,
            remote_idle_timeout_ms: None,
        }
    }
}

impl ConnectOptions {
    /// The core's TLS configuration and client options.
    fn to_core(
        &self,
    ) -> Result<(ClientTlsConfig, ClientOptions, Option<SessionEncryption>), LimeError> {
        let encryption = self
            .encryption
            .as_deref()
            .map(|e| e.parse::<SessionEncryption>().map_err(|e| invalid("encryption", e)))
            .transpose()?;
        let max_envelope_size = match self.max_envelope_size {
            Some(n) => usize::try_from(n).map_err(|e| invalid("max_envelope_size", e))?,
            None => DEFAULT_MAX_ENVELOPE_SIZE,
        };
        let mut tls = ClientTlsConfig::builder();
        if !self.use_default_roots {
            tls = tls.without_default_roots();
        }
        if let Some(pem) = &self.trusted_roots_pem {
            tls = tls.add_roots_pem(pem.as_bytes()).map_err(|e| invalid("trusted_roots_pem", e))?;
        }
        match (&self.client_certificate_pem, &self.client_key_pem) {
            (Some(cert), Some(key)) => {
                tls = tls
                    .client_certificate_pem(cert.as_bytes(), key.as_bytes())
                    .map_err(|e| invalid("client_certificate_pem", e))?;
            }
            (None, None) => {}
            _ => {
                return Err(invalid(
                    "client_certificate_pem",
                    "the certificate and key go together",
                ))
            }
        }
        let tls = tls.build().map_err(|e| invalid("trusted_roots_pem", e))?;
        let mut client = ClientOptions { max_envelope_size, ..ClientOptions::default() };
        client.channel.auto_notify_receipt = self.auto_notify_receipt;
        client.channel.auto_reply_pings = self.auto_reply_pings;
        client.channel.deliver_answered_pings = self.deliver_answered_pings;
        if let Some(ms) = self.handshake_timeout_ms {
            client.handshake_timeout = Duration::from_millis(ms);
        }
        client.remote_ping_interval = self.remote_ping_interval_ms.map(Duration::from_millis);
        client.remote_idle_timeout = self.remote_idle_timeout_ms.map(Duration::from_millis);
        Ok((tls, client, encryption))
    }
}

/// A LIME client session: connect, establish, send and receive, finish.
///
/// Every method may be called from any thread; async methods are `suspend` functions in
/// Kotlin and `async` in Swift, and cancelling one abandons its work. The connection lives as
/// long as the client: dropping it (Kotlin `close()`, or garbage collection) closes the
/// connection and stops its listeners.
#[derive(uniffi::Object)]
pub struct LimeClient {
    inner: Arc<lime::Client>,
    /// Encryption to choose when the server negotiates.
    encryption: Option<SessionEncryption>,
    /// The library's runtime, where the listeners run.
    runtime: tokio::runtime::Handle,
}

/// The connection ends with the client, even while a listener task still holds the core
/// client: the listener then sees the end of the stream and stops.
impl Drop for LimeClient {
    fn drop(&mut self) {
        self.inner.close_now();
    }
}

impl std::fmt::Debug for LimeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimeClient").field("state", &self.state()).finish_non_exhaustive()
    }
}

#[uniffi::export]
impl LimeClient {
    /// Opens a connection to `uri` (`net.tcp://host:port`, `ws://…`, `wss://…`). The session
    /// starts with [`establish`](Self::establish).
    #[uniffi::constructor]
    pub async fn connect(uri: String, options: ConnectOptions) -> Result<Arc<Self>, LimeError> {
        let (tls, client, encryption) = options.to_core()?;
        let inner = run(async move {
            lime::Client::connect(&uri, tls, client).await.map_err(|e| match e {
                lime::Error::Transport(lime::TransportError::InvalidUri(_)) => invalid("uri", e),
                other => other.into(),
            })
        })
        .await?;
        Ok(Arc::new(Self { inner: Arc::new(inner), encryption, runtime: runtime::handle()? }))
    }

    /// Runs the handshake (start, negotiation, authentication) as `identity`
    /// (`name@domain`) on `instance`. A refusal is [`LimeError::Session`] with the server's
    /// reason code (13: authentication failed).
    pub async fn establish(
        &self,
        identity: String,
        instance: String,
        authentication: Authentication,
    ) -> Result<SessionInfo, LimeError> {
        let identity = identity.parse().map_err(|e| invalid("identity", e))?;
        let mut options = EstablishOptions::new(identity, &instance, authentication.into());
        options.encryption = self.encryption;
        let client = self.inner.clone();
        run(async move {
            let session = client.establish_session(options).await?;
            Ok(SessionInfo::from_session(&session, &client))
        })
        .await
    }

    /// Sends a message.
    pub async fn send_message(&self, message: Message) -> Result<(), LimeError> {
        let message = message.try_into()?;
        let client = self.inner.clone();
        run(async move { Ok(client.send_message(message).await?) }).await
    }

    /// Sends a notification.
    pub async fn send_notification(&self, notification: Notification) -> Result<(), LimeError> {
        let notification = notification.try_into()?;
        let client = self.inner.clone();
        run(async move { Ok(client.send_notification(notification).await?) }).await
    }

    /// Sends a command without waiting for a response: the answer to a request received by
    /// a listener, or an `observe`.
    pub async fn send_command(&self, command: Command) -> Result<(), LimeError> {
        let command = command.try_into()?;
        let client = self.inner.clone();
        run(async move { Ok(client.send_command(command).await?) }).await
    }

    /// Sends a command request (an id is assigned when absent) and waits up to `timeout_ms`
    /// for its response. A `failure` response is returned, not thrown: check `status` and
    /// `reason`.
    pub async fn process_command(
        &self,
        command: Command,
        timeout_ms: u64,
    ) -> Result<Command, LimeError> {
        let command = command.try_into()?;
        let limit = Duration::from_millis(timeout_ms);
        let client = self.inner.clone();
        run(async move { Ok(client.process_command(command, limit).await?.into()) }).await
    }

    /// Finishes the session and waits for the server's `finished` (or `failed`).
    pub async fn finish(&self) -> Result<SessionInfo, LimeError> {
        let client = self.inner.clone();
        run(async move {
            let session = client.finish().await?;
            Ok(SessionInfo::from_session(&session, &client))
        })
        .await
    }

    /// The session state (a plain read: it never waits).
    pub fn state(&self) -> SessionState {
        self.inner.state()
    }

    /// Delivers incoming envelopes to `listener` until the session ends, from a background
    /// task that stops when the returned handle is cancelled or dropped (keep it!). May be
    /// called before `establish`; nothing is lost either way, envelopes wait in the client's
    /// queue until a listener takes them. One listener takes the queue at a time: a second
    /// one waits until the first is cancelled or done.
    pub fn subscribe(&self, listener: Arc<dyn ChannelListener>) -> Arc<TaskHandle> {
        let task = self.runtime.spawn(listen(self.inner.clone(), listener));
        Arc::new(TaskHandle::new(task.abort_handle()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_options_reach_the_core() {
        let options = ConnectOptions {
            encryption: Some("tls".into()),
            auto_notify_receipt: true,
            max_envelope_size: Some(1024),
            handshake_timeout_ms: Some(1500),
            remote_ping_interval_ms: Some(2000),
            remote_idle_timeout_ms: Some(3000),
            ..ConnectOptions::default()
        };
        let (_, client, encryption) = options.to_core().unwrap();
        assert_eq!(encryption, Some(SessionEncryption::Tls));
        assert!(client.channel.auto_notify_receipt && client.channel.auto_reply_pings);
        assert_eq!(client.max_envelope_size, 1024);
        assert_eq!(client.handshake_timeout, Duration::from_millis(1500));
        assert_eq!(client.remote_ping_interval, Some(Duration::from_secs(2)));
        assert_eq!(client.remote_idle_timeout, Some(Duration::from_secs(3)));
        let defaults = ConnectOptions::default().to_core().unwrap().1;
        assert_eq!(defaults.handshake_timeout, ClientOptions::default().handshake_timeout);
        assert_eq!(defaults.remote_ping_interval, None);
    }

    #[test]
    fn a_certificate_needs_its_key_and_bad_pem_is_named() {
        let half = ConnectOptions {
            client_certificate_pem: Some("x".into()),
            ..ConnectOptions::default()
        };
        let err = half.to_core().unwrap_err();
        assert!(
            matches!(&err, LimeError::InvalidArgument { msg } if msg.contains("client_certificate_pem")),
            "{err}"
        );
        let bad = ConnectOptions {
            trusted_roots_pem: Some("not pem".into()),
            ..ConnectOptions::default()
        };
        let err = bad.to_core().unwrap_err();
        assert!(
            matches!(&err, LimeError::InvalidArgument { msg } if msg.contains("trusted_roots_pem"))
        );
        // Only a private CA.
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let private = ConnectOptions {
            use_default_roots: false,
            trusted_roots_pem: Some(ca.cert.pem()),
            ..ConnectOptions::default()
        };
        assert!(private.to_core().is_ok());
    }
}
