//! `lime bench`: throughput, latency, session rate and memory of the server and the channels,
//! each measured next to a raw baseline in the same run, with its target.
//!
//! Results go to standard output (one `<benchmark> ratio:` line per comparison, then a summary
//! table); progress goes to standard error. A missed target is a result, not an error: the exit
//! status is 1 only when a benchmark could not run.

mod cluster;
mod external;
mod flood;
mod memory;
mod raw;
mod rtt;
mod sessions;
mod soak;

use std::{future::Future, process::ExitCode, time::Duration};

/// Which benchmark to run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Which {
    /// Messages echoed through the server over WebSocket vs a raw tokio-tungstenite echo.
    Flood,
    /// Command round-trip latency over WebSocket and TCP vs raw echoes.
    Rtt,
    /// Sessions opened and finished per second vs raw WebSocket connect + close.
    Sessions,
    /// Memory per idle session of `lime serve` vs a raw tokio accept loop (Linux).
    Memory,
    /// 100 clients × 10,000 messages through one server over TCP, 10% of them dropping and
    /// reconnecting: every message accounted for, memory bounded (not part of `all`).
    Soak,
    /// Two sessions on one server vs on two servers of a cluster (flood, `get /ping`), and
    /// sessions/s with the NATS registry vs in memory; needs `--nats URL` (not part of `all`).
    Cluster,
    /// Every benchmark.
    All,
}

/// Arguments of `lime bench`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct Args {
    /// The benchmark to run.
    #[arg(value_enum, default_value_t = Which::All)]
    pub(crate) which: Which,
    /// Shrink every count about 50× (a smoke test, not a measurement).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Messages echoed through the server by `flood` [default: 200000].
    #[arg(long)]
    pub(crate) messages: Option<usize>,
    /// Sequential command round trips per transport and runtime for `rtt` [default: 10000].
    #[arg(long)]
    pub(crate) round_trips: Option<usize>,
    /// Sessions opened and finished one after the other, per runtime, by `sessions`
    /// [default: 3000].
    #[arg(long)]
    pub(crate) sessions: Option<usize>,
    /// Idle established sessions held open by `memory` [default: 10000].
    #[arg(long)]
    pub(crate) idle_sessions: Option<usize>,
    /// Clients of `soak` [default: 100; --quick: 10].
    #[arg(long)]
    pub(crate) clients: Option<usize>,
    /// Messages each `soak` client sends [default: 10000; --quick: 200].
    #[arg(long)]
    pub(crate) per_client: Option<usize>,
    /// NATS server (with JetStream) for `cluster`, e.g. nats://127.0.0.1:4222.
    #[arg(long)]
    pub(crate) nats: Option<String>,
    /// Connections being set up at the same time by `memory`.
    #[arg(long, default_value_t = 200)]
    pub(crate) concurrency: usize,
    /// Internal: run the baseline TCP echo server of `memory` (started as a child process).
    #[arg(long, hide = true)]
    pub(crate) raw_tcp_echo_server: bool,
    /// Internal: run a raw tokio-tungstenite echo server until standard input closes (the
    /// floor of `python/bench/run.py`).
    #[arg(long, hide = true)]
    pub(crate) raw_ws_echo_server: bool,
    /// Internal: flood (receipts on) and `get /ping` round trips from the Rust client against
    /// the LIME server at this URI, printed as one JSON line (`python/bench/run.py`).
    #[arg(long, hide = true)]
    pub(crate) against: Option<String>,
    /// Internal: with `--against`, send `--messages` messages to this echo bot instead (at most
    /// 128 unanswered) and print the reply rate.
    #[arg(long, hide = true)]
    pub(crate) drive_bot: Option<String>,
}

/// Full-size counts; `--quick` divides them by this.
const QUICK_DIVISOR: usize = 50;

/// The counts of one run.
#[derive(Clone, Copy, Debug)]
struct Counts {
    messages: usize,
    round_trips: usize,
    sessions: usize,
    idle_sessions: usize,
    concurrency: usize,
}

impl Counts {
    fn from_args(args: &Args) -> Result<Self, String> {
        let pick = |flag: &str, explicit: Option<usize>, full: usize| match explicit {
            Some(0) => Err(format!("--{flag} must be at least 1")),
            Some(n) => Ok(n),
            None if args.quick => Ok((full / QUICK_DIVISOR).max(1)),
            None => Ok(full),
        };
        if args.concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        Ok(Self {
            messages: pick("messages", args.messages, 200_000)?,
            round_trips: pick("round-trips", args.round_trips, 10_000)?,
            sessions: pick("sessions", args.sessions, 3_000)?,
            idle_sessions: pick("idle-sessions", args.idle_sessions, 10_000)?,
            concurrency: args.concurrency,
        })
    }
}

/// One line of the summary table.
#[derive(Debug)]
struct Row {
    benchmark: String,
    ours: String,
    baseline: String,
    ratio: String,
    target: String,
    met: Option<bool>,
}

fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "✅",
        Some(false) => "❌",
        None => "–",
    }
}

/// Prints the `<name> ratio:` line of a comparison.
fn print_ratio(name: &str, ratio: &str, target: &str, met: Option<bool>) {
    println!("{name} ratio: {ratio} (target {target}) {}", mark(met));
}

/// `1234567.8` → `1,234,568`.
fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    // invariant: benchmark figures are far below 2^53, so the rounding is exact enough.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = x.abs().round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 && n != 0 {
        out.insert(0, '-');
    }
    out
}

/// Awaits `f` for at most `limit`, naming `what` in the error.
async fn within<F, R, E>(limit: Duration, what: &str, f: F) -> Result<R, String>
where
    F: Future<Output = Result<R, E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: timed out after {} s", limit.as_secs_f64())),
    }
}

/// A serialized 209-byte `text/plain` message with an id, `from` and `to`: the message of
/// `core/benches/codec.rs` (`text_message()`), with other nodes when asked.
fn text_json(from: &str, to: &str) -> Result<String, String> {
    let head = r#"{"type":"text/plain","content":""#;
    let tail =
        format!(r#"","id":"5f3c2a1e-8b7d-4c6a-9e0f-1a2b3c4d5e6f","from":"{from}","to":"{to}"}}"#);
    let fill = 209usize
        .checked_sub(head.len() + tail.len())
        .ok_or_else(|| format!("the nodes {from} and {to} are too long for a 209-byte message"))?;
    let text: String = "Hello, Bob! ".chars().cycle().take(fill).collect();
    let s = format!("{head}{text}{tail}");
    if s.len() != 209 {
        return Err(format!("the benchmark message is {} bytes, not 209", s.len()));
    }
    Ok(s)
}

/// The 209-byte message of `core/benches/codec.rs`, byte for byte.
fn text_message() -> Result<String, String> {
    text_json("alice@example.com/home", "bob@example.com/phone")
}

pub(crate) async fn run(args: &Args) -> ExitCode {
    if args.raw_tcp_echo_server {
        return memory::echo_server_child().await;
    }
    if args.raw_ws_echo_server {
        return external::ws_echo_server_child().await;
    }
    let counts = match Counts::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lime bench: {e}");
            return ExitCode::from(1);
        }
    };
    if let (Some(uri), Some(bot)) = (&args.against, &args.drive_bot) {
        return external::drive_bot(uri, bot, counts.messages).await;
    }
    if let Some(uri) = &args.against {
        return external::against(uri, counts.messages, counts.round_trips).await;
    }
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "lime bench: {} build, {cores} cores{}",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        if args.quick { ", --quick (counts ÷50: a smoke test, not a measurement)" } else { "" }
    );
    if cfg!(debug_assertions) && !args.quick {
        eprintln!("lime bench: this is a debug build; build with --release for real figures");
    }
    let all = args.which == Which::All;
    let mut rows = Vec::new();
    let mut failed = false;
    let mut record = |name: &str, result: Result<Vec<Row>, String>| match result {
        Ok(r) => rows.extend(r),
        Err(e) => {
            failed = true;
            println!("{name}: ERROR: {e}");
            eprintln!("lime bench: {name} failed: {e}");
        }
    };
    if all || args.which == Which::Flood {
        record("flood", flood::run(counts.messages).await);
    }
    if all || args.which == Which::Rtt {
        record("rtt", rtt::run(counts.round_trips).await);
    }
    if all || args.which == Which::Sessions {
        record("sessions", sessions::run(counts.sessions).await);
    }
    if args.which == Which::Soak {
        let clients = args.clients.unwrap_or(if args.quick { 10 } else { 100 });
        let per_client = args.per_client.unwrap_or(if args.quick { 200 } else { 10_000 });
        record("soak", soak::run(clients, per_client).await);
    }
    if args.which == Which::Cluster {
        let result = match &args.nats {
            Some(nats) => {
                cluster::run(
                    nats,
                    (counts.messages / 4).max(1),
                    (counts.round_trips / 5).max(1),
                    (counts.sessions / 3).max(1),
                )
                .await
            }
            None => Err("needs --nats nats://HOST:PORT (a NATS server with JetStream)".into()),
        };
        record("cluster", result);
    }
    if all || args.which == Which::Memory {
        record("memory", memory::run(counts.idle_sessions, counts.concurrency).await);
    }
    if !rows.is_empty() {
        println!();
        println!("| benchmark | ours | baseline | ratio | target | met? |");
        println!("|---|---|---|---|---|---|");
        for r in &rows {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                r.benchmark,
                r.ours,
                r.baseline,
                r.ratio,
                r.target,
                mark(r.met)
            );
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// How long a benchmark waits for the next expected event before giving up.
const STALL: Duration = Duration::from_secs(30);

/// Runs `f` on a fresh current-thread runtime in its own thread: every task of the
/// measurement (server and clients) then shares one thread, so the figures show the code path
/// without the cost of waking other threads (large on virtual machines with idle vCPUs).
async fn on_current_thread<F, Fut, T>(f: F) -> Result<T, String>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, String>>,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("lime-bench-1-thread".into())
        .spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(f()),
                Err(e) => Err(format!("cannot start a current-thread runtime: {e}")),
            };
            let _ = tx.send(result);
        })
        .map_err(|e| format!("cannot start the benchmark thread: {e}"))?;
    rx.await.map_err(|_| "the one-thread benchmark stopped unexpectedly".to_owned())?
}

/// A LIME server on 127.0.0.1 (ephemeral ports), guest authentication.
async fn start_server(tcp: bool, ws: bool) -> Result<lime::server::ServerHandle, String> {
    let local = |on: bool| if on { vec!["127.0.0.1:0".to_owned()] } else { Vec::new() };
    let config = lime::server::ServerConfig {
        tcp: local(tcp),
        ws: local(ws),
        ..lime::server::ServerConfig::default()
    };
    let server = lime::server::Server::bind(config)
        .await
        .map_err(|e| format!("cannot start the LIME server: {e}"))?;
    Ok(server.start())
}

async fn stop_server(server: lime::server::ServerHandle) {
    if tokio::time::timeout(Duration::from_secs(5), server.shutdown()).await.is_err() {
        eprintln!("lime bench: the server took more than 5 s to shut down");
    }
}

/// Connects to `uri` and establishes a guest session as `identity/instance`.
async fn open_channel(
    uri: &str,
    identity: &str,
    instance: &str,
    buffer: usize,
) -> Result<lime::channel::ClientChannel, String> {
    use lime::channel::{ClientChannel, ClientOptions, EstablishOptions};
    let tls = lime::transport::tls::ClientTlsConfig::default();
    let transport =
        within(STALL, &format!("connecting to {uri}"), lime::transport::connect(uri, &tls)).await?;
    let channel = ClientChannel::with_options(
        transport,
        ClientOptions { buffer, ..ClientOptions::default() },
    );
    let identity: lime::Identity =
        identity.parse().map_err(|e| format!("invalid identity {identity:?}: {e}"))?;
    let options = EstablishOptions::new(identity, instance, lime::Authentication::Guest);
    within(STALL, &format!("establishing a session on {uri}"), channel.establish_session(options))
        .await?;
    Ok(channel)
}

/// Finishes the session (expecting `finished`) and closes the channel.
async fn close_channel(channel: lime::channel::ClientChannel) -> Result<(), String> {
    let end = within(STALL, "finishing the session", channel.finish()).await;
    channel.close().await;
    match end?.state {
        lime::SessionState::Finished => Ok(()),
        other => Err(format!("the server answered `finishing` with `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_the_codec_one() {
        let m = text_message().unwrap_or_default();
        assert_eq!(m.len(), 209);
        assert!(m.starts_with(r#"{"type":"text/plain","content":"Hello, Bob! "#));
        assert!(m.ends_with(r#""from":"alice@example.com/home","to":"bob@example.com/phone"}"#));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-4096.0), "-4,096");
    }
}
