//! `memory`: resident memory per idle established session of a `lime serve` child process, vs
//! per idle connection of the tokio README echo server in another child process (Linux: reads
//! `VmRSS` from `/proc/<pid>/status`).

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, ChildStdout, ExitCode, Stdio},
    time::Duration,
};

use futures_util::StreamExt;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use super::{print_ratio, raw, thousands, Row, STALL};

/// KiB per session.
const TARGET_KIB: f64 = 8.0;

/// Line printed by the baseline child once it listens.
const ECHO_LISTENING: &str = "lime bench: raw TCP echo listening on ";
/// Line printed by `lime serve` for its TCP listener.
const SERVE_LISTENING: &str = "listening on net.tcp://";

/// A child process, killed when dropped.
struct ChildGuard {
    child: Child,
    /// Kept open so that the child never writes into a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
}

impl ChildGuard {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts this executable with `args` and waits for the line containing `marker`, followed by
/// the listening address.
async fn spawn_child(
    args: &[&str],
    marker: &'static str,
) -> Result<(ChildGuard, SocketAddr), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut child = std::process::Command::new(&exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {} {}: {e}", exe.display(), args.join(" ")))?;
    let stdout = child.stdout.take();
    let mut guard = ChildGuard { child, _stdout: None };
    let Some(stdout) = stdout else { return Err("the child has no standard output".into()) };
    let read = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => return Err("the child exited before listening".to_owned()),
                Ok(_) => {
                    if let Some((_, addr)) = line.trim().split_once(marker) {
                        let addr = addr
                            .parse::<SocketAddr>()
                            .map_err(|e| format!("bad address in {:?}: {e}", line.trim()))?;
                        return Ok((addr, reader));
                    }
                }
                Err(e) => return Err(format!("cannot read the child's output: {e}")),
            }
        }
    });
    // On a timeout, dropping the guard kills the child, which ends the blocking read.
    let what = format!("waiting for `{} {}` to listen", exe.display(), args.join(" "));
    match tokio::time::timeout(STALL, read).await {
        Ok(Ok(Ok((addr, reader)))) => {
            guard._stdout = Some(reader);
            Ok((guard, addr))
        }
        Ok(Ok(Err(e))) => Err(format!("{what}: {e}")),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: timed out")),
    }
}

/// `VmRSS` of `pid`, in bytes.
fn rss(pid: u32) -> Result<i64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .ok_or_else(|| format!("no VmRSS line in {path}"))?;
    Ok(kib * 1024)
}

/// Re-reads `VmRSS` every 250 ms until two consecutive readings agree (at most 5 readings).
async fn settled_rss(pid: u32) -> Result<i64, String> {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.tick().await;
    let mut previous = rss(pid)?;
    for _ in 1..5 {
        tick.tick().await;
        let now = rss(pid)?;
        if now == previous {
            break;
        }
        previous = now;
    }
    Ok(previous)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    Lime,
    Echo,
}

/// One connection: `new`, then the guest `authenticating` of idle session `i` with the id the
/// server announced, then read until `established` (LIME); or the same bytes written at once and
/// read back (echo).
async fn connect_one(addr: SocketAddr, i: usize, peer: Peer) -> Result<TcpStream, String> {
    let authenticate = |id: &str| {
        format!(
            r#"{{"id":"{id}","state":"authenticating","from":"idle{i}@localhost/m","scheme":"guest","authentication":{{}}}}"#
        )
    };
    let new = r#"{"state":"new"}"#;
    let mut tcp =
        TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let echo_hello = format!("{new}{}", authenticate("00000000-0000-0000-0000-000000000000"));
    let first = match peer {
        Peer::Lime => new.to_owned(),
        Peer::Echo => echo_hello.clone(),
    };
    tcp.write_all(first.as_bytes()).await.map_err(|e| format!("write to {addr}: {e}"))?;
    let mut got = Vec::with_capacity(512);
    let mut buf = [0; 1024];
    // The server's session envelopes, read through the framing codec the transports use.
    let mut decoder = lime::EnvelopeDecoder::new();
    loop {
        let n = tcp.read(&mut buf).await.map_err(|e| format!("read from {addr}: {e}"))?;
        if n == 0 {
            return Err(format!(
                "connection {i} closed before the session was established: {}",
                String::from_utf8_lossy(&got)
            ));
        }
        got.extend_from_slice(&buf[..n]);
        let done = match peer {
            Peer::Lime => {
                decoder.push(&buf[..n]);
                let mut established = false;
                while let Some((_, envelope)) = decoder
                    .next_envelope()
                    .map_err(|e| format!("session {i}: {e}: {}", String::from_utf8_lossy(&got)))?
                {
                    let lime::Envelope::Session(session) = envelope else { continue };
                    match session.state {
                        lime::SessionState::Authenticating => {
                            let id = session.id.unwrap_or_default();
                            tcp.write_all(authenticate(&id).as_bytes())
                                .await
                                .map_err(|e| format!("write to {addr}: {e}"))?;
                        }
                        lime::SessionState::Established => established = true,
                        _ => {
                            return Err(format!(
                                "session {i} failed: {}",
                                String::from_utf8_lossy(&got)
                            ))
                        }
                    }
                }
                established
            }
            Peer::Echo => got.len() >= echo_hello.len(),
        };
        if done {
            return Ok(tcp);
        }
    }
}

/// What one side measured.
struct Measured {
    before: i64,
    after: i64,
    /// The open connections, to be dropped after the child is killed (so the server side
    /// closes first and TIME_WAIT does not pile up on this side's ephemeral ports).
    open: Vec<TcpStream>,
}

/// Opens `n` connections to `child` (`concurrency` at a time) and measures its resident
/// memory before and after.
async fn measure(
    child: &ChildGuard,
    addr: SocketAddr,
    peer: Peer,
    n: usize,
    concurrency: usize,
    label: &str,
) -> Result<Measured, String> {
    let before = settled_rss(child.pid()).await?;
    let mut pending = futures_util::stream::iter(0..n)
        .map(|i| async move {
            match tokio::time::timeout(STALL, connect_one(addr, i, peer)).await {
                Ok(r) => r,
                Err(_) => Err(format!("connection {i} timed out")),
            }
        })
        .buffer_unordered(concurrency);
    let mut open = Vec::with_capacity(n);
    let step = (n / 5).max(1);
    while let Some(r) = pending.next().await {
        open.push(r?);
        if open.len() % step == 0 {
            eprintln!("memory: {label}: {} of {n} connections open", open.len());
        }
    }
    let after = settled_rss(child.pid()).await?;
    Ok(Measured { before, after, open })
}

#[allow(clippy::cast_precision_loss)]
fn per(m: &Measured, n: usize) -> f64 {
    (m.after - m.before) as f64 / n as f64
}

fn kib(bytes: f64) -> String {
    format!("{:.2} KiB", bytes / 1024.0)
}

fn mib(bytes: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = bytes as f64 / (1024.0 * 1024.0);
    format!("{m:.1} MiB")
}

pub(super) async fn run(n: usize, concurrency: usize) -> Result<Vec<Row>, String> {
    if !cfg!(target_os = "linux") {
        println!("memory: skipped: it reads VmRSS from /proc/<pid>/status, which only Linux has");
        print_ratio("memory", "skipped (not Linux)", "≤ 8 KiB per session", None);
        return Ok(Vec::new());
    }
    crate::serve::raise_fd_limit();
    #[cfg(unix)]
    if let Ok((soft, _)) = rlimit::Resource::NOFILE.get() {
        let need = u64::try_from(n).unwrap_or(u64::MAX).saturating_add(256);
        if soft < need {
            return Err(format!(
                "{n} connections need about {need} open files but the limit is {soft} \
                 (raise `ulimit -n` or pass a smaller --idle-sessions)"
            ));
        }
    }

    eprintln!("memory: starting `lime serve --tcp 127.0.0.1:0 --ws off --log-level warn`…");
    let (child, addr) = spawn_child(
        &["serve", "--tcp", "127.0.0.1:0", "--ws", "off", "--log-level", "warn"],
        SERVE_LISTENING,
    )
    .await?;
    let ours = measure(&child, addr, Peer::Lime, n, concurrency, "lime serve").await;
    drop(child);
    let ours = ours?;
    let ours_per = per(&ours, n);
    drop(ours.open);

    eprintln!(
        "memory: starting the raw tokio TCP echo server (`lime bench --raw-tcp-echo-server`)…"
    );
    let (child, addr) = spawn_child(&["bench", "--raw-tcp-echo-server"], ECHO_LISTENING).await?;
    let raw = measure(&child, addr, Peer::Echo, n, concurrency, "raw echo").await;
    drop(child);
    let raw = raw?;
    let raw_per = per(&raw, n);
    drop(raw.open);

    let met = ours_per <= TARGET_KIB * 1024.0;
    println!("memory: resident memory (VmRSS) per idle connection, {n} connections held open");
    println!(
        "  ours: `lime serve` child, established guest sessions over TCP: {} per session (RSS {} → {})",
        kib(ours_per),
        mib(ours.before),
        mib(ours.after)
    );
    println!(
        "  raw:  tokio README echo server child (task + 1 KiB buffer per connection): {} per connection (RSS {} → {})",
        kib(raw_per),
        mib(raw.before),
        mib(raw.after)
    );
    let ratio =
        if raw_per > 0.0 { format!("{:.1}× raw", ours_per / raw_per) } else { "n/a".into() };
    print_ratio(
        "memory",
        &format!("{ratio} ({} per session)", kib(ours_per)),
        "≤ 8 KiB per session",
        Some(met),
    );
    Ok(vec![Row {
        benchmark: format!(
            "memory: RSS per idle established session, `lime serve` over TCP ({})",
            thousands(usize_f64(n))
        ),
        ours: kib(ours_per),
        baseline: format!("{} (raw tokio echo connection)", kib(raw_per)),
        ratio,
        target: "≤ 8 KiB".into(),
        met: Some(met),
    }])
}

#[allow(clippy::cast_precision_loss)]
fn usize_f64(x: usize) -> f64 {
    x as f64
}

/// `lime bench --raw-tcp-echo-server`: the baseline child. Prints its address and serves until
/// its standard input ends (the parent is gone) or it is killed.
pub(super) async fn echo_server_child() -> ExitCode {
    crate::serve::raise_fd_limit();
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lime bench: cannot listen on 127.0.0.1: {e}");
            return ExitCode::from(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("{ECHO_LISTENING}{addr}"),
        Err(e) => {
            eprintln!("lime bench: no local address: {e}");
            return ExitCode::from(1);
        }
    }
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    });
    tokio::select! {
        () = raw::serve_tcp_echo(listener) => {}
        _ = stdin_closed => {}
    }
    ExitCode::SUCCESS
}
