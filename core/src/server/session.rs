//! One server-side connection: handshake, then the established loop.

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    auth::AuthRequest, identity::check_claimed_node, router::RouteCache, AuthOutcome, Shared,
};
use crate::{
    channel::{
        driver::{self, Established},
        new_id,
        ping::{PingAction, RemotePing},
        queue::{self, write_loop_with_deadline, WriterEnd},
        ChannelCore, Role,
    },
    error::SessionError,
    reason::codes,
    transport::{Received, Transport, TransportReceiver},
    AuthenticationScheme, Envelope, Error, Node, Reason, Session, SessionEncryption, SessionState,
    TransportError,
};

/// How a handshake ended without a session.
enum End {
    /// Tell the client why, then close.
    Fail(Reason),
    /// The connection is gone (or unusable): just close.
    Close,
}

impl From<TransportError> for End {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Frame(f) => {
                Self::Fail(Reason::new(codes::SESSION_ERROR, f.to_string()))
            }
            other => {
                tracing::debug!(error = %other, "connection lost during the handshake");
                Self::Close
            }
        }
    }
}

fn fail(code: i32, description: &str) -> End {
    End::Fail(Reason::new(code, description))
}

const MAX_AUTH_ROUNDS: u32 = 16;

/// How long a handshake that failed may take to send its `failed` session and close.
const FAREWELL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

const CLEARTEXT_PASSWORDS: &str = "The session authentication failed: passwords are not accepted \
     on an unencrypted session (negotiate tls; the server may allow them with \
     --allow-cleartext-passwords)";

/// The description of a `failed` session for a protocol error: the bare text of a protocol
/// violation (so a session envelope without the session id fails with C#'s exact
/// "Invalid session id"), the error's message otherwise.
fn describe(e: &Error) -> String {
    match e {
        Error::Session(SessionError::Protocol(text)) => text.clone(),
        other => other.to_string(),
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut transport: Box<dyn Transport>,
    _guard: mpsc::Sender<()>,
) {
    let mut core: ChannelCore<()> = ChannelCore::new(Role::Server, shared.config.channel.clone());
    core.set_session_id(new_id());
    core.set_local_node(shared.config.node.clone());
    let mut shutdown = shared.shutdown.clone();
    let limit = shared.config.handshake_timeout;
    let handshaking = shared.router.metrics.handshaking();
    let outcome = tokio::select! {
        r = tokio::time::timeout(limit, Box::pin(handshake(&shared, &mut core, transport.as_mut()))) => match r {
            Ok(r) => r,
            Err(_) => Err(fail(codes::SESSION_NEGOTIATION_TIMEOUT, "The session negotiation timed out")),
        },
        _ = shutdown.wait_for(|s| *s) => Err(fail(codes::SESSION_ERROR, "The server is being shut down")),
    };
    drop(handshaking);
    if let Err(End::Fail(reason)) = &outcome {
        shared.router.metrics.handshake_failed(reason.code);
    }
    match outcome {
        // Boxed: the handshake's state is freed once it is over, and an idle session holds
        // only the established loop.
        Ok(node) => Box::pin(established(shared, core, transport, node)).await,
        Err(End::Fail(reason)) => {
            // Bounded: a client that does not read must not keep the connection (and the
            // server's shutdown, which waits for every session) past the farewell.
            let farewell = async {
                if let Ok(failed) = core.server_session(Session::failed(reason)) {
                    let _ = transport.send(&failed.into()).await;
                }
                let _ = transport.close().await;
            };
            if tokio::time::timeout(FAREWELL_TIMEOUT, farewell).await.is_err() {
                tracing::debug!("the client did not take the failed session in time");
            }
        }
        Err(End::Close) => {
            let _ = transport.close().await;
        }
    }
}

async fn receive_session(
    core: &mut ChannelCore<()>,
    t: &mut dyn Transport,
) -> Result<Session, End> {
    let Some(env) = t.receive().await? else { return Err(End::Close) };
    match core.receive(env) {
        Ok(inbound) => inbound.session.ok_or_else(|| {
            fail(codes::SESSION_ERROR, "An empty or unexpected envelope was received")
        }),
        Err(e) => Err(fail(codes::SESSION_ERROR, &describe(&e))),
    }
}

async fn send_session(
    core: &mut ChannelCore<()>,
    t: &mut dyn Transport,
    s: Session,
) -> Result<(), End> {
    let s = core.server_session(s).map_err(|e| fail(codes::SESSION_ERROR, &e.to_string()))?;
    t.send(&s.into()).await?;
    Ok(())
}

async fn handshake(
    shared: &Shared,
    core: &mut ChannelCore<()>,
    t: &mut dyn Transport,
) -> Result<Node, End> {
    let config = &shared.config;
    let first = receive_session(core, t).await?;
    if first.state != SessionState::New {
        return Err(fail(codes::SESSION_ERROR, "The session establishment failed"));
    }

    // Negotiate only when there is a real choice (PROTOCOL §3.2 step 2).
    let supported_enc = t.supported_encryption();
    let supported_comp = t.supported_compression();
    let enc: Vec<_> = config
        .encryption
        .iter()
        .copied()
        .filter(|e| supported_enc.contains(e))
        .filter(|e| !config.require_tls || *e != SessionEncryption::None)
        .collect();
    let comp: Vec<_> =
        config.compression.iter().copied().filter(|c| supported_comp.contains(c)).collect();
    // With `require_tls`, a cleartext session must negotiate `tls` even without another choice.
    let must_encrypt = config.require_tls && t.encryption() == SessionEncryption::None;
    if must_encrypt && !enc.contains(&SessionEncryption::Tls) {
        return Err(fail(
            codes::SESSION_NEGOTIATION_INVALID_OPTIONS,
            "This server requires an encrypted session and this transport cannot encrypt",
        ));
    }
    if enc.len() > 1 || comp.len() > 1 || must_encrypt {
        let mut offer = Session::new(SessionState::Negotiating);
        offer.encryption_options = Some(enc.clone());
        offer.compression_options = Some(comp.clone());
        send_session(core, t, offer).await?;
        let choice = receive_session(core, t).await?;
        let (Some(c), Some(e)) = (choice.compression, choice.encryption) else {
            return Err(fail(
                codes::SESSION_NEGOTIATION_INVALID_OPTIONS,
                "An invalid negotiation option was selected",
            ));
        };
        if must_encrypt && e == SessionEncryption::None {
            return Err(fail(
                codes::SESSION_NEGOTIATION_INVALID_OPTIONS,
                "This server requires tls encryption",
            ));
        }
        if choice.state != SessionState::Negotiating || !comp.contains(&c) || !enc.contains(&e) {
            return Err(fail(
                codes::SESSION_NEGOTIATION_INVALID_OPTIONS,
                "An invalid negotiation option was selected",
            ));
        }
        let mut confirmation = Session::new(SessionState::Negotiating);
        confirmation.compression = Some(c);
        confirmation.encryption = Some(e);
        send_session(core, t, confirmation).await?;
        if t.encryption() != e {
            if let Err(err) = t.set_encryption(e).await {
                tracing::debug!(error = %err, "TLS upgrade failed");
                return Err(End::Close);
            }
        }
        if t.compression() != c {
            if let Err(err) = t.set_compression(c).await {
                tracing::debug!(error = %err, "compression failed");
                return Err(End::Close);
            }
        }
    }

    let mut schemes = config.authenticator.schemes();
    // Passwords travel only encrypted when the server could encrypt (it has a certificate),
    // unless explicitly allowed: `plain` and `key` are not offered on a cleartext session.
    let no_cleartext_passwords = config.tls.is_some()
        && !config.allow_cleartext_passwords
        && t.encryption() == SessionEncryption::None;
    let is_password = |s: &AuthenticationScheme| {
        matches!(s, AuthenticationScheme::Plain | AuthenticationScheme::Key)
    };
    if no_cleartext_passwords {
        schemes.retain(|s| !is_password(s));
        if schemes.is_empty() {
            return Err(fail(codes::SESSION_AUTHENTICATION_FAILED, CLEARTEXT_PASSWORDS));
        }
    }
    let address = t.remote_addr().and_then(|a| a.parse::<SocketAddr>().ok()).map(|a| a.ip());
    let mut offer = Session::new(SessionState::Authenticating);
    offer.scheme_options = Some(schemes.clone());
    send_session(core, t, offer).await?;
    let names = t.peer_certificate_names();
    for round in 0..MAX_AUTH_ROUNDS {
        let attempt = receive_session(core, t).await?;
        if attempt.state != SessionState::Authenticating {
            return Err(fail(codes::SESSION_ERROR, "The session establishment failed"));
        }
        let (Some(node), Some(auth)) = (attempt.from.as_ref(), attempt.authentication.as_ref())
        else {
            return Err(fail(
                codes::SESSION_AUTHENTICATION_FAILED,
                "The authentication requires `from` and `authentication`",
            ));
        };
        if no_cleartext_passwords && is_password(&auth.scheme()) {
            return Err(fail(codes::SESSION_AUTHENTICATION_FAILED, CLEARTEXT_PASSWORDS));
        }
        if !schemes.contains(&auth.scheme()) {
            return Err(fail(
                codes::SESSION_AUTHENTICATION_FAILED,
                "The authentication scheme is not supported",
            ));
        }
        // The claimed node is checked before the credentials: a node the registry would refuse
        // (reason 12, as C# `NodeRegistry`) or the server's own identity (reason 13: reserving
        // identities is an authentication decision in C#, whose authenticator sees only the
        // identity) never reaches the authenticator.
        if let Err(why) = check_claimed_node(node) {
            return Err(fail(
                codes::SESSION_REGISTRATION_ERROR,
                &format!("The session instance registration failed: {why}"),
            ));
        }
        if node.to_identity() == config.node.to_identity() {
            return Err(fail(
                codes::SESSION_AUTHENTICATION_FAILED,
                "The session authentication failed: the server's identity is reserved",
            ));
        }
        // Throttled: refused without checking the credentials (see `ThrottleConfig`).
        let identity = node.to_identity();
        if !shared.throttle.allows(address, &identity) {
            return Err(fail(
                codes::SESSION_AUTHENTICATION_FAILED,
                "The session authentication failed: too many failed attempts, try again later",
            ));
        }
        let request = AuthRequest { node, authentication: auth, certificate_names: &names, round };
        match config.authenticator.authenticate(request).await {
            AuthOutcome::Accept => {
                // Like C#, only a missing instance becomes `default`; an empty one is kept.
                let instance = node.instance().unwrap_or("default");
                return Ok(node.clone().with_instance(Some(instance)));
            }
            AuthOutcome::Roundtrip(challenge) => {
                send_session(
                    core,
                    t,
                    Session::new(SessionState::Authenticating).with_authentication(challenge),
                )
                .await?;
            }
            AuthOutcome::Reject => {
                shared.throttle.failed(address, &identity);
                return Err(fail(
                    codes::SESSION_AUTHENTICATION_FAILED,
                    "The session authentication failed",
                ));
            }
        }
    }
    Err(fail(codes::SESSION_AUTHENTICATION_FAILED, "Too many authentication round-trips"))
}

/// Registers the node, confirms `established`, and routes until the session ends.
async fn established(
    shared: Arc<Shared>,
    mut core: ChannelCore<()>,
    mut transport: Box<dyn Transport>,
    node: Node,
) {
    let (out_tx, out_rx) =
        queue::bounded(shared.config.queue_capacity, shared.config.queue_max_bytes);
    let registered = match shared.router.register(node.clone(), out_tx.clone()) {
        // With a cluster, the node must also be free (or taken over) on the other servers.
        Ok((entry, kick)) => match shared.router.claim(&entry).await {
            Ok(()) => Some((entry, kick)),
            Err(_) => {
                shared.router.unregister(&entry);
                None
            }
        },
        Err(_) => None,
    };
    let Some((entry, kick)) = registered else {
        shared.router.metrics.handshake_failed(codes::SESSION_REGISTRATION_ERROR);
        let reason = Reason::new(
            codes::SESSION_REGISTRATION_ERROR,
            "The session instance registration failed",
        );
        let failed = core
            .server_session(Session::failed(reason))
            .ok()
            .map(|f| Bytes::from(Envelope::from(f).to_vec()));
        if let Some(failed) = failed {
            let _ = transport.send_bytes(failed).await;
        }
        let _ = transport.close().await;
        return;
    };
    let confirmed = core
        .server_session(Session::new(SessionState::Established).with_to(node.clone()))
        .ok()
        .map(|s| Bytes::from(Envelope::from(s).to_vec()));
    let sent = match confirmed {
        Some(s) => transport.send_bytes(s).await.is_ok(),
        None => false,
    };
    if !sent {
        shared.router.unregister(&entry);
        let _ = transport.close().await;
        return;
    }
    tracing::debug!(%node, "session established");
    let (sender, receiver) = transport.split();
    let mut writer =
        Some(tokio::spawn(write_loop_with_deadline(sender, out_rx, shared.config.send_timeout)));
    let mut receiver = receiver;
    let mut ping =
        RemotePing::new(shared.config.remote_ping_interval, shared.config.remote_idle_timeout);
    let mut side = Side {
        shared: &shared,
        core: &mut core,
        node: &node,
        out: &out_tx,
        cache: None,
        shutdown: shared.shutdown.clone(),
        kick,
    };
    let end = driver::run(&mut side, receiver.as_mut(), &mut ping, &mut writer).await;
    shared.router.unregister(&entry);
    drop(entry);
    let last = end
        .and_then(|session| core.server_session(session).ok())
        .map(|s| Bytes::from(Envelope::from(s).to_vec()));
    if let (Some(last), Some(_)) = (last, &writer) {
        // Bounded: a writer that cannot write gives up after the send timeout, which closes
        // the queue.
        let _ = out_tx.send(last).await;
    }
    drop(out_tx);
    if let Some(writer) = writer {
        if let Ok(WriterEnd::Stalled) = writer.await {
            shared.router.slow_consumer();
        }
    }
    tracing::debug!(%node, "session ended");
}

/// A server session as the established loop drives it: each envelope is handled (and routed)
/// as it arrives; the server's shutdown and a replacing session end it from outside.
struct Side<'a> {
    shared: &'a Shared,
    core: &'a mut ChannelCore<()>,
    node: &'a Node,
    out: &'a queue::Sender,
    /// Allocated with the first message routed, so an idle session holds only the pointer.
    cache: Option<Box<RouteCache>>,
    shutdown: watch::Receiver<bool>,
    kick: oneshot::Receiver<Reason>,
}

/// The session ends with the session envelope to send last (finished or failed), if any.
impl Established for Side<'_> {
    type End = Option<Session>;
    const ROUTABLE: bool = true;

    async fn handle(
        &mut self,
        received: Result<Option<Received>, TransportError>,
        receiver: &mut dyn TransportReceiver,
    ) -> Result<(), Option<Session>> {
        let Self { shared, core, node, out, cache, .. } = self;
        receive_one(shared, core, receiver, node, out, cache, received).await
    }

    async fn batch_end(&mut self) -> Result<(), Option<Session>> {
        Ok(())
    }

    async fn ping(&mut self, action: PingAction) -> Result<(), Option<Session>> {
        if action == PingAction::IdleTimeout {
            return Err(Some(Session::new(SessionState::Finished)));
        }
        // Serialized before the await: the envelope is not kept in the session's future.
        let Ok(req) = self.core.register_remote_ping(()) else {
            return Ok(());
        };
        let bytes = Bytes::from(Envelope::from(req).to_vec());
        if self.out.send(bytes).await.is_err() {
            return Err(None);
        }
        Ok(())
    }

    async fn interrupted(&mut self) -> Option<Session> {
        tokio::select! {
            _ = self.shutdown.wait_for(|s| *s) => {
                Some(Session::failed(Reason::new(codes::SESSION_ERROR, "The server is being shut down")))
            }
            reason = &mut self.kick => {
                Some(Session::failed(reason.unwrap_or_else(|_| Reason::new(codes::SESSION_ERROR, "The session was terminated by the server"))))
            }
        }
    }

    fn writer_ended(&mut self, end: WriterEnd) -> Option<Session> {
        if end == WriterEnd::Stalled {
            tracing::debug!(node = %self.node, "ending a slow consumer: a write stayed blocked past the send timeout");
            self.shared.router.slow_consumer();
        }
        None
    }
}

/// Handles one result of `receive_routable`; `Err(end)` ends the session.
async fn receive_one(
    shared: &Shared,
    core: &mut ChannelCore<()>,
    receiver: &mut dyn TransportReceiver,
    node: &Node,
    out: &queue::Sender,
    cache: &mut Option<Box<RouteCache>>,
    received: Result<Option<Received>, TransportError>,
) -> Result<(), Option<Session>> {
    let received = match received {
        Ok(Some(r)) => r,
        Ok(None) => return Err(None),
        Err(TransportError::Frame(f)) => {
            return Err(Some(Session::failed(Reason::new(codes::SESSION_ERROR, f.to_string()))));
        }
        Err(e) => {
            tracing::debug!(%node, error = %e, "connection lost");
            return Err(None);
        }
    };
    let (envelope, raw) = match received {
        // A message the channel core would only pass on: routed from its header.
        Received::Message(message) if forwards_messages_as_received(core) => {
            let cache = cache.get_or_insert_with(Box::default);
            if let Some(back) = shared.router.route_message(node, message, cache).await {
                if out.send(Bytes::from(back.to_vec())).await.is_err() {
                    return Err(None);
                }
            }
            return Ok(());
        }
        Received::Message(message) => match message.into_envelope() {
            Ok((envelope, raw)) => (envelope, Some(raw)),
            Err(e) => {
                let reason = Reason::new(codes::SESSION_ERROR, describe(&e.into()));
                return Err(Some(Session::failed(reason)));
            }
        },
        Received::Envelope(envelope) => (envelope, receiver.take_received_bytes()),
    };
    handle(shared, core, node, out, envelope, raw).await
}

/// Whether the channel core passes a received message on unchanged (no receipt to send, no
/// recipient to fill in), so the router may take it as received.
fn forwards_messages_as_received(core: &ChannelCore<()>) -> bool {
    let options = core.options();
    !options.auto_notify_receipt
        && !options.fill_envelope_recipients
        && matches!(core.state(), SessionState::Established | SessionState::Finishing)
}

/// Processes one received envelope; `Err(end)` ends the session.
async fn handle(
    shared: &Shared,
    core: &mut ChannelCore<()>,
    node: &Node,
    out: &queue::Sender,
    envelope: Envelope,
    raw: Option<Bytes>,
) -> Result<(), Option<Session>> {
    let inbound = match core.receive(envelope) {
        Ok(i) => i,
        Err(e) => {
            return Err(Some(Session::failed(Reason::new(codes::SESSION_ERROR, describe(&e)))))
        }
    };
    if let Some(session) = inbound.session {
        return Err(Some(match session.state {
            SessionState::Finishing => Session::new(SessionState::Finished),
            _ => Session::failed(Reason::new(
                codes::SESSION_ERROR,
                "The session was terminated by the server",
            )),
        }));
    }
    if let Some(mut reply) = inbound.reply {
        // The core's automatic replies (pings to the server) travel back on this connection,
        // so they are addressed to this session's node, never to an unchecked `pp`/`from`.
        reply.set_to(Some(node.clone()));
        if out.send(Bytes::from(reply.to_vec())).await.is_err() {
            return Err(None);
        }
    }
    if let Some(env) = inbound.deliver {
        if let Some(back) = shared.router.route(node, env, raw).await {
            if out.send(Bytes::from(back.to_vec())).await.is_err() {
                return Err(None);
            }
        }
    }
    Ok(())
}
