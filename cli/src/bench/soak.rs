//! `soak`: many clients exchanging many messages through one server over TCP, some of them
//! dropping their connection abruptly (no `finishing`) and reconnecting mid-run; every message
//! must be accounted for and the process's memory must stay bounded.
//!
//! Each message has a unique id (`m<sender>-<k>`). A message is *delivered* when its recipient
//! reads it, *failed* when a `failed` notification with its id reaches its sender; delivered
//! twice, or delivered and failed, is an error. Once every client has sent its messages, every
//! client sends a `fin` to every other client (re-sent when refused): a client that has read every `fin` has read everything
//! routed to it before them, since the server keeps each sender's order. A last message to
//! itself then flushes the `failed` notifications queued for it. Whatever is left unaccounted
//! must involve a client that dropped (it was in flight on the dropped connection: LIME delivers
//! at most once and nobody is told); anything else is an error.
//!
//! Each client keeps at most 64 messages in flight (sent and not yet read or failed), as an
//! application waiting for answers would; a flood would mostly measure queue-full refusals.
//!
//! The server runs in this process (the configuration of `lime serve` without flags, plus
//! duplicate sessions replacing the old one, as reconnecting clients need). Resident memory is
//! read from `/proc/self/status` (server and clients together) every 250 ms.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use lime::{
    channel::{ChannelEvent, ClientOptions, EstablishOptions},
    server::{DuplicatePolicy, ServerConfig},
    transport::tls::ClientTlsConfig,
    Authentication, Client, Identity, Message, NotificationEvent,
};
use tokio::sync::{mpsc, Notify, Semaphore};

use super::{thousands, Row, STALL};

/// One client in this many drops its connection once, halfway through its messages.
const DROP_EVERY: usize = 10;
/// Messages a client may have in flight (sent, neither read by their recipient nor failed):
/// the clients pace themselves as applications that wait for answers do, instead of flooding
/// (`lime bench flood` measures that; here a flood would only measure queue-full refusals).
const WINDOW: usize = 64;
/// Peak resident memory above the level after connecting that still counts as bounded.
const RSS_BOUND: i64 = 256 * 1024 * 1024;

/// What the clients share: the fate of every message and the barrier.
struct Ledger {
    clients: usize,
    per_client: usize,
    delivered: Vec<AtomicU8>,
    failed: Vec<AtomicU8>,
    /// Per sender: room in its window.
    windows: Vec<Semaphore>,
    /// Clients done with their messages (then every dropper is on its last connection).
    sent: AtomicUsize,
    all_sent: Notify,
    /// Per receiver: the senders whose `fin` it has read.
    fins: Vec<Mutex<HashSet<usize>>>,
    fins_complete: AtomicUsize,
    all_fins: Notify,
    /// Per client: its message to itself came back (its notifications are all read).
    flushed: Vec<AtomicBool>,
    flushed_count: AtomicUsize,
    all_flushed: Notify,
    /// Anything at all happened (for the stall check).
    progress: AtomicU64,
    fins_resent: AtomicU64,
    reconnects: AtomicU64,
}

impl Ledger {
    fn slot(&self, id: &str) -> Option<usize> {
        let (sender, k) = id.strip_prefix('m')?.split_once('-')?;
        let (sender, k): (usize, usize) = (sender.parse().ok()?, k.parse().ok()?);
        (sender < self.clients && k < self.per_client).then_some(sender * self.per_client + k)
    }

    /// Counts an outcome of message `slot`; the first one frees its place in the window.
    fn settle(&self, slot: usize, counter: &AtomicU8) {
        let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_add(1));
        let first = self.delivered[slot].load(Ordering::Acquire)
            + self.failed[slot].load(Ordering::Acquire)
            == 1;
        if first {
            self.windows[slot / self.per_client].add_permits(1);
        }
    }

    fn fin_from(&self, receiver: usize, sender: usize) {
        let done = {
            let Ok(mut fins) = self.fins[receiver].lock() else { return };
            fins.insert(sender) && fins.len() == self.clients - 1
        };
        if done && self.fins_complete.fetch_add(1, Ordering::AcqRel) + 1 == self.clients {
            self.all_fins.notify_waiters();
        }
    }

    fn flushed(&self, client: usize) {
        if !self.flushed[client].swap(true, Ordering::AcqRel)
            && self.flushed_count.fetch_add(1, Ordering::AcqRel) + 1 == self.clients
        {
            self.all_flushed.notify_waiters();
        }
    }
}

fn identity(i: usize) -> Result<Identity, String> {
    format!("soak{i}@localhost").parse().map_err(|e| format!("identity: {e}"))
}

fn node(i: usize) -> Result<lime::Node, String> {
    format!("soak{i}@localhost/soak").parse().map_err(|e| format!("node: {e}"))
}

/// The recipient of message `k` of `sender`: spread over every other client.
fn recipient(sender: usize, k: usize, clients: usize) -> usize {
    (sender + 1 + (k * 7919) % (clients - 1)) % clients
}

async fn connect(port: u16, i: usize) -> Result<Client, String> {
    let uri = format!("net.tcp://127.0.0.1:{port}");
    let options = ClientOptions::default();
    let client = Client::connect(&uri, ClientTlsConfig::default(), options)
        .await
        .map_err(|e| format!("client {i}: connect: {e}"))?;
    let establish = EstablishOptions::new(identity(i)?, "soak", Authentication::Guest);
    client.establish_session(establish).await.map_err(|e| format!("client {i}: establish: {e}"))?;
    Ok(client)
}

/// Reads one incarnation's events into the ledger; `fin` refusals go to `retry`.
async fn read(
    client: Arc<Client>,
    me: usize,
    ledger: Arc<Ledger>,
    retry: mpsc::UnboundedSender<usize>,
) {
    while let Some(event) = client.receive().await {
        ledger.progress.fetch_add(1, Ordering::Relaxed);
        match event {
            ChannelEvent::Message(m) => {
                let Some(id) = m.id.as_deref() else { continue };
                if let Some(slot) = ledger.slot(id) {
                    ledger.settle(slot, &ledger.delivered[slot]);
                } else if let Some(sender) = id
                    .strip_prefix("fin")
                    .and_then(|s| s.split_once('-'))
                    .and_then(|(sender, _)| sender.parse().ok())
                {
                    ledger.fin_from(me, sender);
                } else if id == format!("flush{me}") {
                    ledger.flushed(me);
                }
            }
            ChannelEvent::Notification(n) if n.event == NotificationEvent::Failed => {
                let Some(id) = n.id.as_deref() else { continue };
                if let Some(slot) = ledger.slot(id) {
                    ledger.settle(slot, &ledger.failed[slot]);
                } else if let Some(to) = id.strip_prefix(&format!("fin{me}-")) {
                    if let Ok(to) = to.parse() {
                        let _ = retry.send(to);
                    }
                } else if id == format!("flush{me}") {
                    // Its own queue was full: send it again (the retry loop does).
                    let _ = retry.send(me);
                }
            }
            ChannelEvent::Finished(_) | ChannelEvent::Failed(_) | ChannelEvent::Closed { .. } => {
                break
            }
            _ => {}
        }
    }
}

async fn send(client: &Client, id: String, to: lime::Node, text: String) -> Result<(), String> {
    let mut message = Message::text(text);
    message.id = Some(id);
    message.to = Some(to);
    client.send_message(message).await.map_err(|e| format!("send: {e}"))
}

/// One client: its messages (with one abrupt drop for droppers), its `fin`s, its flush.
async fn client_task(port: u16, me: usize, ledger: Arc<Ledger>) -> Result<(), String> {
    let (retry_tx, mut retry_rx) = mpsc::unbounded_channel();
    let dropper = me % DROP_EVERY == 0;
    let n = ledger.per_client;
    let mut client = Arc::new(connect(port, me).await?);
    let mut reader = tokio::spawn(read(client.clone(), me, ledger.clone(), retry_tx.clone()));
    for k in 0..n {
        if dropper && k == n / 2 {
            // Abrupt: the connection closes without `finishing`; the server finds out from the
            // socket. Then a new connection under the same identity (it replaces the old
            // session if the server has not noticed yet).
            client.close().await;
            let _ = reader.await;
            client = Arc::new(connect(port, me).await?);
            ledger.reconnects.fetch_add(1, Ordering::Relaxed);
            // What was in flight on the old connection may never be settled: a fresh window
            // (the late ones that do settle only widen it).
            ledger.windows[me].add_permits(WINDOW);
            reader = tokio::spawn(read(client.clone(), me, ledger.clone(), retry_tx.clone()));
        }
        // Bounded: the stall check of `run` ends a run whose windows never reopen.
        match ledger.windows[me].acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return Err("the window closed".into()),
        }
        let to = recipient(me, k, ledger.clients);
        send(&client, format!("m{me}-{k}"), node(to)?, format!("soak message {k} of {me}")).await?;
        ledger.progress.fetch_add(1, Ordering::Relaxed);
    }
    // `fin`s only once every client is done sending: a `fin` to a dropper's old connection
    // would be lost without a word.
    if ledger.sent.fetch_add(1, Ordering::AcqRel) + 1 == ledger.clients {
        ledger.all_sent.notify_waiters();
    }
    loop {
        let notified = ledger.all_sent.notified();
        if ledger.sent.load(Ordering::Acquire) == ledger.clients {
            break;
        }
        notified.await;
    }
    for to in (0..ledger.clients).filter(|&j| j != me) {
        send(&client, format!("fin{me}-{to}"), node(to)?, "fin".into()).await?;
    }
    let all_fins = async {
        loop {
            let notified = ledger.all_fins.notified();
            if ledger.fins_complete.load(Ordering::Acquire) == ledger.clients {
                return;
            }
            notified.await;
        }
    };
    tokio::pin!(all_fins);
    let mut flushing = false;
    loop {
        tokio::select! {
            () = &mut all_fins, if !flushing => {
                flushing = true;
                send(&client, format!("flush{me}"), node(me)?, "flush".into()).await?;
            }
            Some(to) = retry_rx.recv() => {
                ledger.fins_resent.fetch_add(1, Ordering::Relaxed);
                let id = if to == me { format!("flush{me}") } else { format!("fin{me}-{to}") };
                send(&client, id, node(to)?, "again".into()).await?;
            }
            () = wait_flushed(&ledger), if flushing => break,
        }
    }
    client.finish().await.map_err(|e| format!("client {me}: finish: {e}"))?;
    let _ = reader.await;
    Ok(())
}

async fn wait_flushed(ledger: &Ledger) {
    loop {
        let notified = ledger.all_flushed.notified();
        if ledger.flushed_count.load(Ordering::Acquire) == ledger.clients {
            return;
        }
        notified.await;
    }
}

/// `VmRSS` of this process, in bytes (`None` off Linux).
fn rss() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    kb.trim().trim_end_matches("kB").trim().parse::<i64>().ok().map(|kb| kb * 1024)
}

fn mib(bytes: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = bytes as f64 / (1024.0 * 1024.0);
    format!("{m:.1} MiB")
}

pub(super) async fn run(clients: usize, per_client: usize) -> Result<Vec<Row>, String> {
    if clients < 2 {
        return Err("soak needs at least 2 clients".into());
    }
    let total = clients * per_client;
    let droppers = clients.div_ceil(DROP_EVERY);
    eprintln!(
        "soak: {clients} clients × {per_client} messages through one server over TCP, \
         {droppers} of them dropping and reconnecting once…"
    );
    let config = ServerConfig {
        tcp: vec!["127.0.0.1:0".into()],
        duplicates: DuplicatePolicy::Replace,
        ..ServerConfig::default()
    };
    let server = lime::server::Server::bind(config)
        .await
        .map_err(|e| format!("cannot start the LIME server: {e}"))?
        .start();
    let port =
        server.tcp_addrs().first().map(|a| a.port()).ok_or("the server has no TCP address")?;
    let ledger = Arc::new(Ledger {
        clients,
        per_client,
        delivered: (0..total).map(|_| AtomicU8::new(0)).collect(),
        failed: (0..total).map(|_| AtomicU8::new(0)).collect(),
        windows: (0..clients).map(|_| Semaphore::new(WINDOW)).collect(),
        fins: (0..clients).map(|_| Mutex::new(HashSet::new())).collect(),
        sent: AtomicUsize::new(0),
        all_sent: Notify::new(),
        fins_complete: AtomicUsize::new(0),
        all_fins: Notify::new(),
        flushed: (0..clients).map(|_| AtomicBool::new(false)).collect(),
        flushed_count: AtomicUsize::new(0),
        all_flushed: Notify::new(),
        progress: AtomicU64::new(0),
        fins_resent: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
    });
    let rss_start = rss();
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                if let Some(r) = rss() {
                    peak.fetch_max(u64::try_from(r).unwrap_or(0), Ordering::Relaxed);
                }
            }
        })
    };
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for me in 0..clients {
        tasks.spawn(client_task(port, me, ledger.clone()));
    }
    // Bounded: an error, or no progress at all for STALL, ends the run.
    let mut errors = Vec::new();
    let mut last = (u64::MAX, Instant::now());
    loop {
        match tokio::time::timeout(Duration::from_secs(1), tasks.join_next()).await {
            Ok(None) => break,
            Ok(Some(Ok(Ok(())))) => {}
            Ok(Some(Ok(Err(e)))) => errors.push(e),
            Ok(Some(Err(e))) => errors.push(format!("a client task failed: {e}")),
            Err(_) => {
                let now = ledger.progress.load(Ordering::Relaxed);
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() > STALL {
                    tasks.abort_all();
                    let missing: Vec<String> = (0..clients)
                        .filter_map(|r| {
                            let fins = ledger.fins[r].lock().ok()?;
                            let from: Vec<usize> =
                                (0..clients).filter(|s| *s != r && !fins.contains(s)).collect();
                            (!from.is_empty()).then(|| format!("{r} lacks fins from {from:?}"))
                        })
                        .collect();
                    errors.push(format!(
                        "no progress for {} s ({} of {clients} flushed; {})",
                        STALL.as_secs(),
                        ledger.flushed_count.load(Ordering::Relaxed),
                        missing.join("; ")
                    ));
                }
            }
        }
    }
    let elapsed = started.elapsed();
    sampler.abort();
    let stats = server.stats();
    server.shutdown().await;
    let rss_end = rss();

    let (mut delivered, mut failed, mut twice, mut both, mut lost_drop, mut lost) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for slot in 0..total {
        let d = ledger.delivered[slot].load(Ordering::Relaxed);
        let f = ledger.failed[slot].load(Ordering::Relaxed);
        let (sender, k) = (slot / per_client, slot % per_client);
        let to = recipient(sender, k, clients);
        match (d, f) {
            (1, 0) => delivered += 1,
            (0, 1) => failed += 1,
            (0, 0) if sender % DROP_EVERY == 0 || to % DROP_EVERY == 0 => lost_drop += 1,
            (0, 0) => lost += 1,
            (d, 0) if d > 1 => twice += 1,
            _ => both += 1,
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = total as f64 / elapsed.as_secs_f64().max(1e-9);
    let peak = i64::try_from(peak.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
    let bounded = rss_start.map(|start| peak - start <= RSS_BOUND);
    let accounted = twice == 0 && both == 0 && lost == 0 && errors.is_empty();
    println!(
        "soak: {clients} clients × {per_client} messages ({} in all), {droppers} clients dropped \
         their connection once and reconnected; {:.1} s, {} msg/s",
        thousands(total as f64),
        elapsed.as_secs_f64(),
        thousands(rate)
    );
    println!("| outcome | messages |");
    println!("|---|---|");
    println!("| delivered exactly once | {delivered} |");
    println!("| refused, `failed` notification reached the sender | {failed} |");
    println!(
        "| lost in flight on a dropped connection (at-most-once, nobody told) | {lost_drop} |"
    );
    println!("| unaccounted, no dropped connection involved | {lost} |");
    println!("| delivered more than once | {twice} |");
    println!("| delivered and failed | {both} |");
    println!(
        "server: {} refused (recipient queue full), peak queue {} bytes, {} slow consumers; \
         reconnects {}, fins re-sent {}",
        stats.refused_queue_full,
        thousands(stats.peak_queued_bytes as f64),
        stats.slow_consumers,
        ledger.reconnects.load(Ordering::Relaxed),
        ledger.fins_resent.load(Ordering::Relaxed)
    );
    match (rss_start, rss_end) {
        (Some(start), Some(end)) => println!(
            "memory (VmRSS of the process, server and clients): {} after start, peak {}, {} at \
             the end; bounded (peak ≤ start + {}): {}",
            mib(start),
            mib(peak),
            mib(end),
            mib(RSS_BOUND),
            if bounded == Some(true) { "yes" } else { "NO" }
        ),
        _ => println!("memory: not measured (no /proc/self/status)"),
    }
    for e in &errors {
        println!("soak: ERROR: {e}");
    }
    if !accounted {
        return Err(format!(
            "{lost} messages unaccounted without a drop, {twice} delivered twice, {both} \
             delivered and failed, {} errors",
            errors.len()
        ));
    }
    if bounded == Some(false) {
        return Err(format!("resident memory grew by {}", mib(peak - rss_start.unwrap_or(0))));
    }
    Ok(vec![Row {
        benchmark: format!("soak: {clients} clients × {per_client} messages, {droppers} drops"),
        ours: format!("{delivered} delivered, {failed} failed, {lost_drop} lost in drops"),
        baseline: "–".into(),
        ratio: "–".into(),
        target: "all accounted, RSS bounded".into(),
        met: Some(accounted && bounded != Some(false)),
    }])
}
