//! [`LimeClient`]: a LIME client session for Kotlin and Swift.

use std::{sync::Arc, time::Duration};

use lime::Envelope;

use crate::{
    driver::{Handle, Request},
    error::{invalid, LimeError},
    listener::ChannelListener,
    records::{Authentication, Command, Message, Notification, SessionInfo, SessionState},
    task_handle::TaskHandle,
};

/// How to connect and how the channel behaves.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ConnectOptions {
    /// Extra trusted root certificates (PEM) for TLS (`tls` negotiated on TCP, `wss://`), on
    /// top of the Mozilla roots: for a server with a private CA.
    #[uniffi(default)]
    pub root_ca_pem: Option<String>,
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
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            root_ca_pem: None,
            encryption: None,
            auto_notify_receipt: false,
            auto_reply_pings: true,
            deliver_answered_pings: false,
            max_envelope_size: None,
        }
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
    inner: Handle,
}

impl std::fmt::Debug for LimeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimeClient").field("state", &self.state()).finish_non_exhaustive()
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl LimeClient {
    /// Opens a connection to `uri` (`net.tcp://host:port`, `ws://…`, `wss://…`). The session
    /// starts with [`establish`](Self::establish).
    #[uniffi::constructor]
    pub async fn connect(uri: String, options: ConnectOptions) -> Result<Arc<Self>, LimeError> {
        Ok(Arc::new(Self { inner: Handle::connect(uri, options).await? }))
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
        let authentication = authentication.into();
        self.inner
            .ask(|reply| Request::Establish { identity, instance, authentication, reply })
            .await
    }

    /// Sends a message.
    pub async fn send_message(&self, message: Message) -> Result<(), LimeError> {
        let envelope = Envelope::Message(message.try_into()?);
        self.inner.ask(|reply| Request::Send { envelope, reply }).await
    }

    /// Sends a notification.
    pub async fn send_notification(&self, notification: Notification) -> Result<(), LimeError> {
        let envelope = Envelope::Notification(notification.try_into()?);
        self.inner.ask(|reply| Request::Send { envelope, reply }).await
    }

    /// Sends a command without waiting for a response: the answer to a request received by
    /// a listener, or an `observe`.
    pub async fn send_command(&self, command: Command) -> Result<(), LimeError> {
        let envelope = Envelope::Command(command.try_into()?);
        self.inner.ask(|reply| Request::Send { envelope, reply }).await
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
        self.inner.ask(|reply| Request::ProcessCommand { command, limit, reply }).await
    }

    /// Finishes the session and waits for the server's `finished` (or `failed`).
    pub async fn finish(&self) -> Result<SessionInfo, LimeError> {
        self.inner.ask(|reply| Request::Finish { reply }).await
    }

    /// The session state. While `establish` or `finish` runs, the state before the call.
    pub fn state(&self) -> SessionState {
        self.inner.state().into()
    }

    /// Delivers incoming envelopes to `listener` until the session ends, from a background
    /// task that stops when the returned handle is cancelled or dropped (keep it!). May be
    /// called before `establish`; nothing is lost either way, envelopes wait in a bounded
    /// queue until a listener takes them. Use one listener per client: several would take
    /// turns, each seeing only some of the envelopes.
    pub fn subscribe(&self, listener: Arc<dyn ChannelListener>) -> Arc<TaskHandle> {
        let (handle, cancel) = TaskHandle::new();
        self.inner.subscribe(listener, cancel);
        Arc::new(handle)
    }
}
