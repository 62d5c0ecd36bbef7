//! [`LimeClient`]: a LIME client session over TCP (`net.tcp://`, with the in-band TLS
//! upgrade) or WebSocket (`ws://`, `wss://`, subprotocol `lime`): a thin layer over
//! [`lime::Client`], called directly from flutter_rust_bridge's async functions.
//!
//! The connection, session state machine, ping replies, `received` receipts and command
//! correlation all run in Rust; Dart sees async calls and a stream of [`ChannelEventDto`]s.
//! Calls may overlap (a command can wait for its response while messages are sent and events
//! arrive); the handshake steps and `finish` take turns.

use std::{sync::Arc, time::Duration};

use flutter_rust_bridge::frb;
use lime::{
    channel::{ChannelEvent, ChannelOptions, ClientOptions, EstablishOptions},
    Envelope, Identity, SessionState,
};

use super::{
    credentials::CredentialsDto,
    enums::{SessionCompressionDto, SessionEncryptionDto, SessionStateDto},
    envelope::{CommandDto, MessageDto, NotificationDto, SessionDto},
    error::{invalid, LimeError},
    transport::{open, size, LimeTransport, TransportOptionsDto},
};
use crate::frb_generated::StreamSink;

/// How the channel behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelOptionsDto {
    /// Answer the server's `get /ping` requests automatically (they are not delivered).
    pub auto_reply_pings: bool,
    /// Send a `received` notification (to `pp ?? from`) for every message with an id.
    pub auto_notify_receipt: bool,
    /// Timeout of each handshake step and of `finish`, in milliseconds.
    pub handshake_timeout_ms: u32,
    /// Largest envelope the channel sends, in bytes (default 8 MiB).
    pub max_envelope_size: Option<u32>,
    /// Capacity of the incoming event and outgoing envelope queues (default 1024).
    pub buffer: Option<u32>,
    /// Send a `/ping` to the server after this many milliseconds of silence (off by default).
    pub remote_ping_interval_ms: Option<u32>,
    /// Finish the session when the server stays silent this long after a ping.
    pub remote_idle_timeout_ms: Option<u32>,
}

impl Default for ChannelOptionsDto {
    fn default() -> Self {
        Self {
            auto_reply_pings: true,
            auto_notify_receipt: false,
            handshake_timeout_ms: 30_000,
            max_envelope_size: None,
            buffer: None,
            remote_ping_interval_ms: None,
            remote_idle_timeout_ms: None,
        }
    }
}

/// Everything [`LimeClient::connect`] needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientOptionsDto {
    /// TLS and size settings of the connection.
    pub transport: TransportOptionsDto,
    /// Channel behaviour.
    pub channel: ChannelOptionsDto,
}

/// The default [`ChannelOptionsDto`]: ping replies on, receipts off, 30 s handshake steps.
#[frb(sync)]
pub fn default_channel_options() -> ChannelOptionsDto {
    ChannelOptionsDto::default()
}

/// The default [`ClientOptionsDto`].
#[frb(sync)]
pub fn default_client_options() -> ClientOptionsDto {
    ClientOptionsDto::default()
}

/// Where the session stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelInfoDto {
    /// The session state.
    pub state: SessionStateDto,
    /// The session id assigned by the server.
    pub session_id: Option<String>,
    /// Our node, as the server registered it (once established).
    pub local_node: Option<String>,
    /// The server's node (once established).
    pub remote_node: Option<String>,
}

impl ChannelInfoDto {
    pub(crate) fn of(client: &lime::Client) -> Self {
        Self {
            state: client.state().into(),
            session_id: client.session_id(),
            local_node: client.local_node().map(|n| n.to_string()),
            remote_node: client.remote_node().map(|n| n.to_string()),
        }
    }
}

/// What a [`ChannelEventDto`] carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelEventKind {
    /// A message ([`ChannelEventDto::message`]).
    Message,
    /// A notification ([`ChannelEventDto::notification`]).
    Notification,
    /// A command that is not the response to one of ours ([`ChannelEventDto::command`]).
    Command,
    /// The server finished the session ([`ChannelEventDto::session`]).
    Finished,
    /// The server failed the session ([`ChannelEventDto::session`], see its reason).
    Failed,
    /// The connection ended without a session envelope ([`ChannelEventDto::error`]).
    Closed,
}

/// One incoming event of an established channel: `kind` says which field is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelEventDto {
    /// What happened.
    pub kind: ChannelEventKind,
    /// For [`ChannelEventKind::Message`].
    pub message: Option<MessageDto>,
    /// For [`ChannelEventKind::Notification`].
    pub notification: Option<NotificationDto>,
    /// For [`ChannelEventKind::Command`].
    pub command: Option<CommandDto>,
    /// For [`ChannelEventKind::Finished`] and [`ChannelEventKind::Failed`].
    pub session: Option<SessionDto>,
    /// For [`ChannelEventKind::Closed`]: the error that ended the connection, if any.
    pub error: Option<String>,
}

impl From<ChannelEvent> for ChannelEventDto {
    fn from(event: ChannelEvent) -> Self {
        let mut dto = Self {
            kind: ChannelEventKind::Closed,
            message: None,
            notification: None,
            command: None,
            session: None,
            error: None,
        };
        match event {
            ChannelEvent::Message(m) => {
                dto.kind = ChannelEventKind::Message;
                dto.message = Some((&m).into());
            }
            ChannelEvent::Notification(n) => {
                dto.kind = ChannelEventKind::Notification;
                dto.notification = Some((&n).into());
            }
            ChannelEvent::Command(c) => {
                dto.kind = ChannelEventKind::Command;
                dto.command = Some((&c).into());
            }
            ChannelEvent::Finished(s) => {
                dto.kind = ChannelEventKind::Finished;
                dto.session = Some((&s).into());
            }
            ChannelEvent::Failed(s) => {
                dto.kind = ChannelEventKind::Failed;
                dto.session = Some((&s).into());
            }
            ChannelEvent::Closed { error } => dto.error = error,
        }
        dto
    }
}

/// What a failed [`LimeClient::pump`] puts into the Dart event stream: the error's one-line
/// description (flutter_rust_bridge delivers stream errors to Dart as text).
fn stream_error(result: Result<(), LimeError>) -> Result<(), String> {
    result.map_err(|e| e.message())
}

/// A LIME client session: connect, establish, send and receive, finish.
///
/// Dart: `await LimeClient.connect(uri: …, options: …)`, then `establishSession(…)` (or the
/// steps `startNewSession`, `negotiateSession`, `authenticateSession`), then `events()` for
/// incoming envelopes. Call `finish()` (or `close()`) when done; dropping the client closes
/// the connection.
#[frb(opaque)]
#[derive(Debug)]
pub struct LimeClient {
    inner: Arc<lime::Client>,
}

fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

fn client_options(options: &ChannelOptionsDto) -> ClientOptions {
    // Field by field, so fields a later lime-core adds keep their defaults.
    let mut client = ClientOptions::default();
    client.channel = ChannelOptions {
        auto_reply_pings: options.auto_reply_pings,
        auto_notify_receipt: options.auto_notify_receipt,
        ..ChannelOptions::client()
    };
    client.buffer = size(options.buffer, client.buffer);
    client.max_envelope_size = size(options.max_envelope_size, client.max_envelope_size);
    client.handshake_timeout = millis(options.handshake_timeout_ms);
    client.remote_ping_interval = options.remote_ping_interval_ms.map(millis);
    client.remote_idle_timeout = options.remote_idle_timeout_ms.map(millis);
    client
}

fn identity(text: &str) -> Result<Identity, LimeError> {
    text.parse().map_err(|e| invalid("identity", e))
}

impl LimeClient {
    /// Opens a connection to `uri` (`net.tcp://host[:port]`, default port 55321; `ws://…`;
    /// `wss://…`) and a channel over it. The session starts with
    /// [`LimeClient::establish_session`] or [`LimeClient::start_new_session`].
    pub async fn connect(uri: String, options: ClientOptionsDto) -> Result<Self, LimeError> {
        let client = open(&uri, &options.transport, client_options(&options.channel)).await?;
        Ok(Self { inner: Arc::new(client) })
    }

    /// A channel over a connection opened with [`LimeTransport::connect`], which it takes
    /// over (the transport is no longer open afterwards).
    pub async fn attach(
        transport: &LimeTransport,
        options: ChannelOptionsDto,
    ) -> Result<Self, LimeError> {
        let client = transport.take()?;
        client.set_options(client_options(&options));
        Ok(Self { inner: Arc::new(client) })
    }

    /// The session state (a plain read).
    #[frb(sync, getter)]
    pub fn state(&self) -> SessionStateDto {
        self.inner.state().into()
    }

    /// State, session id and nodes.
    #[frb(sync, getter)]
    pub fn info(&self) -> ChannelInfoDto {
        ChannelInfoDto::of(&self.inner)
    }

    /// Sends `{"state":"new"}` and returns the server's reply: `negotiating`,
    /// `authenticating`, `established` or `failed`.
    pub async fn start_new_session(&self) -> Result<SessionDto, LimeError> {
        Ok(SessionDto::from(&self.inner.start_new_session().await?))
    }

    /// Sends the negotiation choice; on the server's confirmation applies it to the
    /// connection (the TLS upgrade happens here) and returns the session that follows
    /// (`authenticating`, `established` or `failed`).
    pub async fn negotiate_session(
        &self,
        compression: SessionCompressionDto,
        encryption: SessionEncryptionDto,
    ) -> Result<SessionDto, LimeError> {
        let session = self.inner.negotiate_session(compression.into(), encryption.into()).await?;
        Ok(SessionDto::from(&session))
    }

    /// Sends `credentials` (secrets in clear text; the core encodes them) as `identity`
    /// (`name@domain`) on `instance` and returns the server's reply: `established`, `failed`,
    /// or another `authenticating` round.
    pub async fn authenticate_session(
        &self,
        identity: String,
        credentials: CredentialsDto,
        instance: Option<String>,
    ) -> Result<SessionDto, LimeError> {
        let identity = self::identity(&identity)?;
        let authentication = credentials.try_into()?;
        let session =
            self.inner.authenticate_session(&identity, authentication, instance.as_deref()).await?;
        Ok(SessionDto::from(&session))
    }

    /// Runs the whole handshake: start, negotiation when the server asks (the given options,
    /// else its first ones), authentication with the same `credentials` (secrets in clear
    /// text) in every round.
    /// Returns the `established` session; a refusal is [`LimeError::Session`] with the
    /// server's reason (13: authentication failed).
    pub async fn establish_session(
        &self,
        identity: String,
        instance: Option<String>,
        credentials: CredentialsDto,
        compression: Option<SessionCompressionDto>,
        encryption: Option<SessionEncryptionDto>,
    ) -> Result<SessionDto, LimeError> {
        let mut options =
            EstablishOptions::new(self::identity(&identity)?, "", credentials.try_into()?);
        options.instance = instance;
        options.compression = compression.map(Into::into);
        options.encryption = encryption.map(Into::into);
        Ok(SessionDto::from(&self.inner.establish_session(options).await?))
    }

    /// Sends a message (established sessions only).
    pub async fn send_message(&self, message: MessageDto) -> Result<(), LimeError> {
        self.send(Envelope::Message(message.try_into()?)).await
    }

    /// Sends a notification (established sessions only).
    pub async fn send_notification(&self, notification: NotificationDto) -> Result<(), LimeError> {
        self.send(Envelope::Notification(notification.try_into()?)).await
    }

    /// Sends a command without waiting for a response: the answer to a received request, or
    /// an `observe`.
    pub async fn send_command(&self, command: CommandDto) -> Result<(), LimeError> {
        self.send(Envelope::Command(command.try_into()?)).await
    }

    async fn send(&self, envelope: Envelope) -> Result<(), LimeError> {
        match envelope {
            Envelope::Message(m) => self.inner.send_message(m).await?,
            Envelope::Notification(n) => self.inner.send_notification(n).await?,
            Envelope::Command(c) => self.inner.send_command(c).await?,
            Envelope::Session(_) => {
                return Err(invalid("envelope", "sessions are sent by the handshake"))
            }
        }
        Ok(())
    }

    /// Sends a command request (an id is assigned when it has none) and waits up to
    /// `timeout_ms` for the response with the same id. A `failure` response is returned, not
    /// thrown: check its `status` and `reason`.
    pub async fn process_command(
        &self,
        command: CommandDto,
        timeout_ms: u32,
    ) -> Result<CommandDto, LimeError> {
        let command: lime::Command = command.try_into()?;
        let response = self.inner.process_command(command, millis(timeout_ms)).await?;
        Ok(CommandDto::from(&response))
    }

    /// Sends `finishing` and waits for the server's `finished` (or `failed`). The event
    /// stream delivers the same session, then ends.
    pub async fn finish(&self) -> Result<SessionDto, LimeError> {
        Ok(SessionDto::from(&self.inner.finish().await?))
    }

    /// Closes the connection without a session envelope; the event stream ends.
    pub async fn close(&self) -> Result<(), LimeError> {
        self.inner.close().await;
        Ok(())
    }

    /// The next incoming event; `None` once the session has ended and every event was
    /// taken. Fails before the session is established.
    pub async fn next_event(&self) -> Result<Option<ChannelEventDto>, LimeError> {
        self.check_started()?;
        Ok(self.inner.receive().await.map(ChannelEventDto::from))
    }

    /// Streams every incoming event (messages, notifications, commands, then the end of the
    /// session) until the session ends. Call once, after the session is established.
    ///
    /// Never fails as a call: a failure (such as calling it before the session is established)
    /// is an error event of the stream, followed by its end. A failing call would complete a
    /// future that the generated Dart code does not await, an uncaught error in the app's zone.
    pub async fn events(&self, sink: StreamSink<ChannelEventDto>) {
        let events = sink.clone();
        let result = self.pump(move |event| events.add(event).is_ok()).await;
        if let Err(message) = stream_error(result) {
            // Fails only when Dart no longer listens: nobody to tell.
            let _ = sink.add_error(message);
        }
    }

    /// Hands every incoming event to `emit` until the session ends or `emit` returns false;
    /// what [`LimeClient::events`] does with a Dart stream.
    #[frb(ignore)]
    pub async fn pump<F>(&self, mut emit: F) -> Result<(), LimeError>
    where
        F: FnMut(ChannelEventDto) -> bool + Send + 'static,
    {
        self.check_started()?;
        let mut events = self.inner.subscribe().await;
        while let Some(event) = events.next().await {
            if !emit(event.into()) {
                break;
            }
        }
        Ok(())
    }

    /// Events mean something once the session is established (or has ended).
    fn check_started(&self) -> Result<(), LimeError> {
        let state = self.inner.state();
        if state < SessionState::Established {
            return Err(LimeError::Session {
                code: lime::reason::codes::SESSION_INVALID_ACTION_FOR_STATE,
                description: format!(
                    "cannot receive events in the {state} state: establish the session first"
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_pump_becomes_a_stream_error_with_its_description() {
        let failure = LimeError::Session { code: 15, description: "establish first".into() };
        assert_eq!(stream_error(Err(failure.clone())), Err(failure.message()));
        assert_eq!(stream_error(Err(LimeError::Closed)), Err("the channel is closed".into()));
        assert_eq!(stream_error(Ok(())), Ok(()));
    }
}
