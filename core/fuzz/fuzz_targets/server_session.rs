//! The server's handshake and established loop over the in-memory transport.
//!
//! One server per process (guest and `plain` users, throttling off so runs are repeatable) on
//! a current-thread tokio runtime, with one established peer, `bob@localhost/peer`, whose
//! incoming envelopes are read and dropped (so routing to a live session is exercised). Each
//! input is one connection: its lines (split at `\n`, at most 64) are sent as frames, in order;
//! `$ID` in a line is replaced by the session id the server announced (so the fuzzer can get
//! past the handshake; the target waits for that answer). Then the connection closes, and the
//! session must end: the server closes its side within 10 s, or the target fails. The runtime's
//! clock is paused (it jumps to the next timer whenever every task waits), so the server's
//! timeouts fire without real waiting and every run is bounded.
//!
//! Checks: no panic in the server; every session ends once its peer is gone.
#![no_main]

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use bytes::Bytes;
use futures_util::FutureExt;
use libfuzzer_sys::fuzz_target;
use lime::{
    server::{auth::ThrottleConfig, AuthConfig, Server, ServerConfig, ServerHandle},
    transport::{memory::MemoryTransport, Transport, TransportReceiver},
    AuthenticationScheme, Envelope, TransportError,
};
use tokio::runtime::Runtime;

struct World {
    runtime: Runtime,
    server: ServerHandle,
    peer_alive: Arc<AtomicBool>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // Paused clock: when every task waits, time jumps to the next timer, so the server's
        // timeouts (handshake, remote ping, idle) fire at once instead of stalling a run.
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("runtime: {e}"),
        };
        let mut users = lime::server::auth::UserFile::default();
        if let Ok(alice) = "alice@localhost".parse() {
            users.insert(alice, AuthenticationScheme::Plain, "d29uZGVybGFuZA==");
        }
        let config = ServerConfig {
            authenticator: Arc::new(AuthConfig {
                guest: true,
                users: Some(users),
                ..AuthConfig::default()
            }),
            auth_throttle: ThrottleConfig { burst: 0, ..ThrottleConfig::default() },
            // Small limits, so the fuzzer reaches the size and queue checks.
            queue_capacity: 8,
            queue_max_bytes: 4096,
            transport: lime::transport::TransportOptions {
                max_envelope_size: 2048,
                ..lime::transport::TransportOptions::default()
            },
            ..ServerConfig::default()
        };
        let server = runtime.block_on(async {
            match Server::bind(config).await {
                Ok(server) => server.start(),
                Err(e) => panic!("server: {e}"),
            }
        });
        World { runtime, server, peer_alive: Arc::new(AtomicBool::new(false)) }
    })
}

/// The id in a session envelope from the server.
fn session_id(envelope: &Envelope) -> Option<String> {
    match envelope {
        Envelope::Session(s) => s.id.clone(),
        _ => None,
    }
}

/// Establishes `bob@localhost/peer` and leaves a task reading his envelopes.
async fn start_peer(world: &World) {
    let (client, server_end) = MemoryTransport::pair();
    world.server.serve(Box::new(server_end));
    let (mut tx, mut rx) = Box::new(client).split();
    let fail = |why: String| -> ! { panic!("peer handshake: {why}") };
    let send = |json: String| Bytes::from(json.into_bytes());
    if let Err(e) = tx.send_bytes(send(r#"{"state":"new"}"#.into())).await {
        fail(e.to_string());
    }
    let id = match rx.receive().await {
        Ok(Some(env)) => session_id(&env).unwrap_or_else(|| fail(format!("{env:?}"))),
        other => fail(format!("{other:?}")),
    };
    let auth = format!(
        r#"{{"id":"{id}","from":"bob@localhost/peer","state":"authenticating","scheme":"guest","authentication":{{}}}}"#
    );
    if let Err(e) = tx.send_bytes(send(auth)).await {
        fail(e.to_string());
    }
    match rx.receive().await {
        Ok(Some(Envelope::Session(s))) if s.state == lime::SessionState::Established => {}
        other => fail(format!("{other:?}")),
    }
    world.peer_alive.store(true, Ordering::SeqCst);
    let alive = world.peer_alive.clone();
    tokio::spawn(async move {
        let _tx = tx;
        while let Ok(Some(_)) = rx.receive().await {}
        alive.store(false, Ordering::SeqCst);
    });
}

/// Reads what the server sent so far without waiting; learns the session id.
fn drain_ready(rx: &mut Box<dyn TransportReceiver>, id: &mut Option<String>, open: &mut bool) {
    while *open {
        match rx.receive().now_or_never() {
            None => break,
            Some(Ok(Some(env))) => {
                if id.is_none() {
                    *id = session_id(&env);
                }
            }
            Some(Ok(None)) | Some(Err(TransportError::Closed)) => *open = false,
            Some(Err(_)) => {}
        }
    }
}

async fn one_connection(world: &World, data: &[u8]) {
    if !world.peer_alive.load(Ordering::SeqCst) {
        start_peer(world).await;
    }
    let (client, server_end) = MemoryTransport::pair();
    world.server.serve(Box::new(server_end));
    let (mut tx, mut rx) = Box::new(client).split();
    let mut id: Option<String> = None;
    let mut open = true;
    for line in data.split(|&b| b == b'\n').take(64) {
        tokio::task::yield_now().await;
        drain_ready(&mut rx, &mut id, &mut open);
        if !open {
            break;
        }
        let mut frame = line.to_vec();
        if let Some(at) = frame.windows(3).position(|w| w == b"$ID") {
            if id.is_none() {
                // The id comes with the server's first answer: wait for it (or the end).
                while open && id.is_none() {
                    match rx.receive().await {
                        Ok(Some(env)) => id = session_id(&env),
                        Ok(None) | Err(TransportError::Closed) => open = false,
                        Err(_) => {}
                    }
                }
            }
            if let Some(id) = &id {
                frame.splice(at..at + 3, id.bytes());
            }
        }
        // A full queue waits for the server, which may be waiting for us to read.
        let sent = tokio::select! {
            r = tx.send_bytes(Bytes::from(frame)) => r,
            _ = async { loop { if !matches!(rx.receive().await, Ok(Some(_)) | Err(TransportError::Frame(_))) { break } } } => Err(TransportError::Closed),
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = tx.close().await;
    drop(tx);
    // The session must end now that the client is gone.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.receive().await {
                Ok(None) | Err(TransportError::Closed) => break,
                _ => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the session did not end within 10 s of its connection closing");
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    world.runtime.block_on(one_connection(world, data));
});
