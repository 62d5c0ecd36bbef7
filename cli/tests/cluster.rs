//! `lime serve --cluster`: a real `nats-server` (v2.15.3, installed with `go install` into the
//! target directory when missing) on a loopback port and three `lime serve` processes joined
//! through it, with Rust clients on different servers. Scenarios: messages, commands and
//! receipts across servers; identity fan-out; an unknown destination (failed 42); the duplicate
//! policy across servers (`reject` and `replace`); kill -9 of a server (its nodes vanish within
//! the lease); NATS restarted (routing resumes; local routing meanwhile); graceful shutdown.
//! `real_peers_on_different_servers` (ignored here; `make test-cluster-peers` runs it once the
//! peers are installed) puts the published lime-python 2.0.13 and lime-js 3.0.1 and our Python
//! drop-in on three more servers.
//!
//! Without `go` or network the install fails: under `CI=true` that fails the test with the
//! cause, elsewhere the tests are skipped with the cause printed.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::{
    path::{Path, PathBuf},
    process::Command as Process,
    time::{Duration, Instant},
};

use lime::{Client, Command, CommandStatus, Message, Notification, NotificationEvent};
use support::{client, next_failed, next_text, serve, within, Proc, BIN, T};

const NATS_VERSION: &str = "v2.15.3";
/// The lease the test servers use (seconds): a dead server's nodes go within about 1.25× it.
const LEASE: f64 = 2.0;

/// Where the pinned nats-server is installed: `<target>/tools/nats-server-<version>/`.
fn nats_binary() -> Result<PathBuf, String> {
    let target = Path::new(BIN).ancestors().nth(2).expect("the target directory");
    let dir = target.join("tools").join(format!("nats-server-{NATS_VERSION}"));
    let bin = dir.join("nats-server");
    if bin.exists() {
        return Ok(bin);
    }
    let go = ["go", "/usr/local/go/bin/go"]
        .into_iter()
        .find(|go| Process::new(go).arg("version").output().is_ok_and(|o| o.status.success()))
        .ok_or("no Go toolchain (go) to install nats-server with")?;
    let module = format!("github.com/nats-io/nats-server/v2@{NATS_VERSION}");
    eprintln!("installing nats-server {NATS_VERSION} into {} (go install)", dir.display());
    let out = Process::new(go)
        .args(["install", &module])
        .env("GOBIN", &dir)
        .output()
        .map_err(|e| format!("cannot run {go}: {e}"))?;
    if !out.status.success() || !bin.exists() {
        return Err(format!(
            "go install {module} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(bin)
}

/// The nats-server binary, or `None` (test skipped) when it cannot be installed outside CI.
/// Installed once per test process (the tests run in parallel; one `go install` writes the
/// binary).
fn nats_or_skip() -> Option<PathBuf> {
    static INSTALLED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    match INSTALLED.get_or_init(nats_binary).clone() {
        Ok(bin) => Some(bin),
        Err(cause) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("cannot install nats-server {NATS_VERSION} (CI=true): {cause}")
        }
        Err(cause) => {
            eprintln!("SKIPPED: cannot install nats-server {NATS_VERSION}: {cause}");
            None
        }
    }
}

/// A nats-server with JetStream on a loopback port, its store in a temporary directory kept
/// across restarts.
struct Nats {
    bin: PathBuf,
    port: u16,
    store: PathBuf,
    proc: Option<Proc>,
}

impl Nats {
    fn start(bin: PathBuf) -> Self {
        let store = std::env::temp_dir().join(format!(
            "lime-cluster-test-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        let mut nats = Self { bin, port: 0, store, proc: None };
        nats.run("-1");
        nats
    }

    /// Starts the server on `port` ("-1": a free one, read back from its log).
    fn run(&mut self, port: &str) {
        let store = self.store.to_string_lossy().into_owned();
        let bin = self.bin.to_string_lossy().into_owned();
        let p =
            Proc::spawn_reading(&bin, &["-a", "127.0.0.1", "-p", port, "-js", "-sd", &store], true);
        let line = p.wait_for_text("Listening for client connections on");
        self.port = line.rsplit(':').next().and_then(|p| p.trim().parse().ok()).expect("a port");
        p.wait_for_text("Server is ready");
        self.proc = Some(p);
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    fn restart(&mut self) {
        self.stop();
        let port = self.port.to_string();
        self.run(&port);
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// `lime serve --cluster` on free ports: the process and its TCP address.
fn member(nats: &Nats, extra: &[&str]) -> (Proc, String) {
    let url = nats.url();
    let lease = LEASE.to_string();
    let mut args = vec!["--cluster", &url, "--cluster-lease", &lease];
    args.extend_from_slice(extra);
    let (p, addr) = serve(&args);
    (p, addr)
}

fn node(s: &str) -> lime::Node {
    s.parse().unwrap()
}

/// Pings `to` from `from` until it answers (the other servers learn of a new session within
/// milliseconds through the registry watch), bounded by `T`.
async fn reach(from: &Client, to: &str) {
    let deadline = Instant::now() + T;
    loop {
        let ping = Command::ping_request().with_to(node(to));
        let answer = from.process_command(ping, Duration::from_secs(2)).await;
        if matches!(&answer, Ok(c) if c.status == CommandStatus::Success) {
            return;
        }
        assert!(Instant::now() < deadline, "{to} never became reachable: {answer:?}");
        tokio::task::yield_now().await;
    }
}

/// Sends messages with ids to `to` until one fails with `code`; returns how long that took.
async fn until_failed(
    from: &Client,
    events: &mut lime::client::Subscription,
    to: &str,
    code: i32,
) -> Duration {
    let start = Instant::now();
    for i in 0.. {
        let id = format!("probe-{i}");
        within(from.send_message(Message::text("?").with_id(&id).with_to(node(to)))).await.unwrap();
        let got = tokio::time::timeout(Duration::from_millis(500), next_failed(events, &id)).await;
        if got == Ok(code) {
            return start.elapsed();
        }
        assert!(start.elapsed() < T, "{to} never failed with {code}");
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_commands_receipts_fan_out_and_duplicates_across_servers() {
    let Some(bin) = nats_or_skip() else { return };
    let nats = Nats::start(bin);
    let (_a, a) = member(&nats, &[]);
    let (_b, b) = member(&nats, &[]);
    let (_c, c) = member(&nats, &[]);

    let (alice, _) = client(&a, "alice", "home").await.unwrap();
    let (bob, _) = client(&b, "bob", "home").await.unwrap();
    let (carol_c, _) = client(&c, "carol", "x").await.unwrap();
    let (carol_a, _) = client(&a, "carol", "y").await.unwrap();
    let mut alice_events = alice.subscribe().await;
    let mut bob_events = bob.subscribe().await;
    let mut carol_c_events = carol_c.subscribe().await;
    let mut carol_a_events = carol_a.subscribe().await;
    reach(&alice, "bob@localhost/home").await;
    reach(&bob, "carol@localhost/x").await;
    reach(&bob, "carol@localhost/y").await;

    // A message from A to B, and its receipt back from B to A.
    let m = Message::text("hello across").with_id("m1").with_to(node("bob@localhost/home"));
    within(alice.send_message(m)).await.unwrap();
    let got = loop {
        match within(bob_events.next()).await.unwrap() {
            lime::channel::ChannelEvent::Message(m) => break m,
            _ => continue,
        }
    };
    assert_eq!(got.from.as_ref().map(ToString::to_string).as_deref(), Some("alice@localhost/home"));
    let receipt = Notification::new(NotificationEvent::Received)
        .with_id("m1")
        .with_to(got.from.clone().unwrap());
    within(bob.send_notification(receipt)).await.unwrap();
    loop {
        match within(alice_events.next()).await.unwrap() {
            lime::channel::ChannelEvent::Notification(n) if n.id.as_deref() == Some("m1") => {
                assert_eq!(n.event, NotificationEvent::Received);
                assert_eq!(n.from.unwrap().to_string(), "bob@localhost/home");
                break;
            }
            _ => {}
        }
    }

    // A command from B to a node on C and its response.
    let ping = Command::ping_request().with_to(node("carol@localhost/x"));
    let response = within(bob.process_command(ping, T)).await.unwrap();
    assert_eq!(response.status, CommandStatus::Success);
    assert_eq!(response.from.unwrap().to_string(), "carol@localhost/x");

    // Identity fan-out: carol's instances on C and on A both get it.
    let fan = Message::text("to every carol").with_to(node("carol@localhost"));
    within(bob.send_message(fan)).await.unwrap();
    assert_eq!(next_text(&mut carol_c_events).await, "to every carol");
    assert_eq!(next_text(&mut carol_a_events).await, "to every carol");

    // Unknown destination: failed 42, cluster-wide.
    let lost = Message::text("?").with_id("lost").with_to(node("nobody@localhost/x"));
    within(alice.send_message(lost)).await.unwrap();
    assert_eq!(next_failed(&mut alice_events, "lost").await, 42);

    // Duplicate policy `reject` across servers: bob@localhost/home is on B; C refuses it.
    let dup = client(&c, "bob", "home").await;
    assert!(dup.is_err(), "a second bob@localhost/home was accepted on another server");
    // bob still reachable
    reach(&alice, "bob@localhost/home").await;
    drop((alice, bob, carol_a, carol_c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_across_servers_fails_the_old_session() {
    let Some(bin) = nats_or_skip() else { return };
    let nats = Nats::start(bin);
    let (_a, a) = member(&nats, &["--duplicates", "replace"]);
    let (_b, b) = member(&nats, &["--duplicates", "replace"]);
    let (old, _) = client(&a, "dave", "phone").await.unwrap();
    let mut old_events = old.subscribe().await;
    let (probe, _) = client(&b, "probe", "1").await.unwrap();
    reach(&probe, "dave@localhost/phone").await;
    let (new, _) = client(&b, "dave", "phone").await.unwrap();
    loop {
        match within(old_events.next()).await {
            Some(lime::channel::ChannelEvent::Failed(s)) => {
                assert_eq!(s.reason.unwrap().code, 11);
                break;
            }
            Some(_) => {}
            None => panic!("the replaced session ended without `failed`"),
        }
    }
    // The new session is the one reached, from either server.
    let (from_a, _) = client(&a, "erin", "1").await.unwrap();
    reach(&from_a, "dave@localhost/phone").await;
    drop((new, probe, from_a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nats_restart_and_graceful_shutdown() {
    let Some(bin) = nats_or_skip() else { return };
    let mut nats = Nats::start(bin);
    let (_a, a) = member(&nats, &[]);
    let (mut b_proc, b) = member(&nats, &[]);
    let (mut c_proc, c) = member(&nats, &[]);
    let (alice, _) = client(&a, "alice", "home").await.unwrap();
    let (alice2, _) = client(&a, "alice", "work").await.unwrap();
    let (_bob, _) = client(&b, "bob", "home").await.unwrap();
    let (_dave, _) = client(&c, "dave", "home").await.unwrap();
    let mut alice_events = alice.subscribe().await;
    reach(&alice, "bob@localhost/home").await;
    reach(&alice, "dave@localhost/home").await;

    // kill -9 of C: dave vanishes within the lease bound, bob stays reachable.
    c_proc.kill();
    let took = until_failed(&alice, &mut alice_events, "dave@localhost/home", 42).await;
    let bound = Duration::from_secs_f64(LEASE * 1.25 + LEASE / 3.0 + 1.0);
    eprintln!("a killed server's node vanished after {took:?} (lease {LEASE} s, bound {bound:?})");
    assert!(took <= bound, "{took:?} > {bound:?}");
    reach(&alice, "bob@localhost/home").await;

    // NATS down: A still routes between its own sessions; back up: routing across resumes.
    nats.stop();
    reach(&alice, "alice@localhost/work").await;
    nats.restart();
    reach(&alice, "bob@localhost/home").await;

    // Graceful shutdown of B: bob is gone at once (well within the lease).
    let status = b_proc.terminate();
    assert!(status.success(), "{status:?}");
    let took = until_failed(&alice, &mut alice_events, "bob@localhost/home", 42).await;
    eprintln!("a stopped server's node vanished after {took:?}");
    assert!(took < Duration::from_secs_f64(LEASE), "{took:?}");

    // NATS restarted without its JetStream store: the servers create the registry again and
    // register their sessions anew (a new server D, as B and C are gone).
    let (_d_proc, d) = member(&nats, &[]);
    let (_erin, _) = client(&d, "erin", "home").await.unwrap();
    reach(&alice, "erin@localhost/home").await;
    nats.stop();
    let _ = std::fs::remove_dir_all(&nats.store);
    nats.restart();
    reach(&alice, "erin@localhost/home").await;
    drop((alice, alice2));
}

/// `lime bench cluster --quick` against a real NATS: every row runs (a smoke test, not a
/// measurement; the figures are in BENCHMARKS.md).
#[test]
fn bench_cluster_quick_prints_every_row() {
    let Some(bin) = nats_or_skip() else { return };
    let nats = Nats::start(bin);
    let url = nats.url();
    let mut bench = Proc::spawn(BIN, &["bench", "cluster", "--quick", "--nats", &url]);
    for row in ["| cluster flood,", "| cluster get /ping,", "| cluster sessions,"] {
        bench.wait_for_text(row);
    }
    let deadline = Instant::now() + T;
    let status = loop {
        if let Some(status) = bench.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "lime bench cluster did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

/// A Python interpreter for a peer: `$var` when set, else the first of `defaults` (relative to
/// the workspace) that exists; `Err` names what is missing.
fn peer_python(var: &str, defaults: &[&str], what: &str) -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let candidates: Vec<PathBuf> = match std::env::var_os(var) {
        Some(path) => vec![PathBuf::from(path)],
        None => defaults.iter().map(|d| root.join(d)).collect(),
    };
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        format!("no {what} at {} (${var} names another)", tried.join(" or "))
    })
}

/// The venv of the published lime-python 2.0.13: what `make test-python-setup` downloads into
/// python/tests/.cache (the interop one, tests/interop/.cache/venv, as a fallback).
fn lime_python_peer() -> Result<PathBuf, String> {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/tests/.cache");
    let mut defaults: Vec<String> = std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("upstream-venv-py"))
        .map(|n| format!("python/tests/.cache/{n}/bin/python"))
        .collect();
    defaults.sort();
    defaults.push("tests/interop/.cache/venv/bin/python".to_owned());
    let defaults: Vec<&str> = defaults.iter().map(String::as_str).collect();
    peer_python(
        "LIME_CLUSTER_LIME_PYTHON",
        &defaults,
        "lime-python 2.0.13 venv (make test-python-setup downloads it)",
    )
}

/// The packages of the published lime-js 3.0.1 that `make interop` installs
/// (tests/interop/.cache/node/node_modules), for NODE_PATH.
fn lime_js_modules() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("LIME_CLUSTER_NODE_PATH") {
        Some(dir) => PathBuf::from(dir),
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/.cache/node/node_modules")
        }
    };
    if dir.join("lime-js").is_dir() && dir.join("lime-transport-websocket").is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "no lime-js 3.0.1 in {} (make interop installs it; $LIME_CLUSTER_NODE_PATH names \
             another)",
            dir.display()
        ))
    }
}

/// A peer process (`cli/tests/peers/python_echo.py` or `js_echo.js`) established on `ws`,
/// killed on drop (it also exits when its standard input closes, and after 60 s).
struct Peer(std::process::Child);

impl Peer {
    fn start(mut command: std::process::Command, ws: &str, name: &str, extra: &[&str]) -> Self {
        let what = format!("{command:?}");
        let child = command
            .args([&format!("ws://{ws}"), name, "peer"])
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let mut peer = Self(child);
        let out = peer.0.stdout.take().unwrap();
        // The peer bounds its own connect and establishment (10 s each); a dead peer closes
        // its stdout, so this read ends either way.
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "{name} ({what}) did not establish");
        peer
    }

    fn python(python: &Path, ws: &str, name: &str, extra: &[&str]) -> Self {
        let mut command = std::process::Command::new(python);
        command.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/python_echo.py"));
        Self::start(command, ws, name, extra)
    }

    fn js(modules: &Path, ws: &str, name: &str) -> Self {
        let mut command = std::process::Command::new("node");
        command
            .env("NODE_PATH", modules)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/js_echo.js"));
        Self::start(command, ws, name, &[])
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The next message's text and sender, skipping other events.
async fn next_message(events: &mut lime::client::Subscription) -> (String, String) {
    loop {
        match within(events.next()).await {
            Some(lime::channel::ChannelEvent::Message(m)) => {
                let text = m.content.as_ref().and_then(|c| c.as_text()).unwrap_or("").to_owned();
                return (text, m.from.map(|f| f.to_string()).unwrap_or_default());
            }
            Some(_) => {}
            None => panic!("the session ended while waiting for a message"),
        }
    }
}

/// Four clients, each on its own server of one cluster: our Rust client (alice, on A), the
/// published lime-python 2.0.13 (py, on B), our Python drop-in (dropin, on C; the venv `make
/// test-python` builds) and the published lime-js 3.0.1 (js, on D). Commands (pings answered by
/// each library), messages and receipts cross A-B, A-C and A-D, and messages go from the
/// drop-in to lime-python and to lime-js and back (C-B-C, C-D-C) before the drop-in reports
/// them to alice (C-A).
///
/// Ignored by a plain `cargo test`: `make test-cluster-peers` runs it once the peers are
/// installed (after `make test-python` and `make interop`). A missing peer fails it under
/// `CI=true`, naming the cause; elsewhere the test is skipped with the cause printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' venvs and lime-js: make test-cluster-peers"]
async fn real_peers_on_different_servers() {
    let Some(bin) = nats_or_skip() else { return };
    let dropin = peer_python(
        "LIME_CLUSTER_DROPIN_PYTHON",
        &[".venv/bin/python"],
        "venv with our lime_python drop-in (make test-python builds it)",
    );
    let (lime_python, dropin, lime_js) = match (lime_python_peer(), dropin, lime_js_modules()) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (a, b, c) => {
            let cause: Vec<String> = [a.err(), b.err(), c.err()].into_iter().flatten().collect();
            let cause = cause.join("; ");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("the cluster's peers cannot run (CI=true): {cause}");
            }
            eprintln!("SKIPPED: {cause}");
            return;
        }
    };
    let nats = Nats::start(bin);
    let (_a, a) = member(&nats, &[]);
    let mut ws = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..3 {
        let (p, _) = member(&nats, &["--ws", "127.0.0.1:0"]);
        ws.push(p.wait_for("lime serve: listening on ws://"));
        servers.push(p);
    }
    let (alice, _) = client(&a, "alice", "home").await.unwrap();
    let mut events = alice.subscribe().await;
    let _py = Peer::python(&lime_python, &ws[0], "py", &["--receipts"]);
    let _dropin = Peer::python(&dropin, &ws[1], "dropin", &["--report", "alice@localhost/home"]);
    let _js = Peer::js(&lime_js, &ws[2], "js");

    // Commands across servers, answered by each library.
    let peers = ["py@localhost/peer", "dropin@localhost/peer", "js@localhost/peer"];
    for peer in peers {
        reach(&alice, peer).await;
    }

    // Messages and receipts across A-B, A-C and A-D.
    for to in peers {
        let m = Message::text(format!("from rust to {to}")).with_id(to).with_to(node(to));
        within(alice.send_message(m)).await.unwrap();
    }
    let mut echoes = Vec::new();
    let mut receipts = Vec::new();
    while echoes.len() < peers.len() || receipts.len() < peers.len() {
        match within(events.next()).await {
            Some(lime::channel::ChannelEvent::Message(m)) => {
                let text = m.content.as_ref().and_then(|c| c.as_text()).unwrap_or("").to_owned();
                echoes.push((text, m.from.map(|f| f.to_string()).unwrap_or_default()));
            }
            Some(lime::channel::ChannelEvent::Notification(n))
                if n.event == NotificationEvent::Received
                    && !receipts.iter().any(|(id, _)| Some(id) == n.id.as_ref()) =>
            {
                receipts.push((n.id.unwrap_or_default(), n.from.unwrap().to_string()));
            }
            Some(_) => {}
            None => panic!("alice's session ended"),
        }
    }
    echoes.sort();
    receipts.sort();
    let mut expected_echoes: Vec<(String, String)> =
        peers.iter().map(|p| (format!("echo:from rust to {p}"), p.to_string())).collect();
    expected_echoes.sort();
    assert_eq!(echoes, expected_echoes);
    let mut expected_receipts: Vec<(String, String)> =
        peers.iter().map(|p| (p.to_string(), p.to_string())).collect();
    expected_receipts.sort();
    assert_eq!(receipts, expected_receipts);

    // Between the other libraries across servers: the drop-in (C) sends to lime-python (B) and
    // to lime-js (D), which echo back to the drop-in, which reports each echo to alice (A).
    for (to, text) in [("py@localhost/peer", "hop-py"), ("js@localhost/peer", "hop-js")] {
        let m =
            Message::text(format!("forward {to} {text}")).with_to(node("dropin@localhost/peer"));
        within(alice.send_message(m)).await.unwrap();
        let (report, from) = next_message(&mut events).await;
        assert_eq!(report, format!("report:echo:{text} from {to}"));
        assert_eq!(from, "dropin@localhost/peer");
    }
    drop(alice);
}
