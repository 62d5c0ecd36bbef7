//! `rtt`: sequential `get /ping` command round trips answered by the server, over WebSocket and
//! TCP, vs raw request/echo of the same JSON over tokio-tungstenite and over TCP.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use lime::{Command, CommandMethod, CommandStatus, Envelope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

use super::{
    close_channel, on_current_thread, open_channel, print_ratio, raw, start_server, stop_server,
    Row, STALL,
};

/// p50 of ours at most twice the raw p50 (our choice, in line with `flood`).
const TARGET: f64 = 0.5;

/// p50 and p99 of a sample.
#[derive(Clone, Copy, Debug)]
struct Latency {
    p50: Duration,
    p99: Duration,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Result<Self, String> {
        if samples.is_empty() {
            return Err("no round trip was measured".into());
        }
        samples.sort_unstable();
        let at = |pct: usize| samples[(samples.len() * pct / 100).min(samples.len() - 1)];
        Ok(Self { p50: at(50), p99: at(99) })
    }

    fn show(self) -> String {
        format!("{:.0} / {:.0} µs", micros(self.p50), micros(self.p99))
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Round trips made before measuring (connection and allocator warm-up).
fn warm_up(n: usize) -> usize {
    (n / 10).clamp(10, 1000)
}

fn ping() -> Result<Command, String> {
    let uri = "/ping".parse().map_err(|e| format!("invalid ping URI: {e}"))?;
    Ok(Command::request(CommandMethod::Get, uri))
}

/// The four medians of one runtime.
struct Measured {
    ours_ws: Latency,
    ours_tcp: Latency,
    raw_ws: Latency,
    raw_tcp: Latency,
}

/// The ping request the raw clients send: the one our channel sends (with an id).
fn raw_request() -> Result<String, String> {
    let request = ping()?.with_id("0b4f4c7e-3a5d-4b8e-9c1f-2d3e4f5a6b7c");
    String::from_utf8(Envelope::from(request).to_vec())
        .map_err(|e| format!("the ping request is not UTF-8: {e}"))
}

/// Measures ours and the raw baselines on the current runtime.
async fn measure(n: usize, runtime: &'static str) -> Result<Measured, String> {
    let request = raw_request()?;
    let server = start_server(true, true).await?;
    let (ws_addr, tcp_addr) =
        (server.ws_addrs().first().copied(), server.tcp_addrs().first().copied());
    let ours = async {
        let (Some(ws_addr), Some(tcp_addr)) = (ws_addr, tcp_addr) else {
            return Err("the server lacks a WebSocket or TCP address".to_owned());
        };
        eprintln!("rtt ({runtime}): {n} sequential `get /ping` commands over WebSocket…");
        let ws = ours(&format!("ws://{ws_addr}"), "rtt-ws@localhost", n).await?;
        eprintln!("rtt ({runtime}): {n} sequential `get /ping` commands over TCP…");
        let tcp = ours(&format!("net.tcp://{tcp_addr}"), "rtt-tcp@localhost", n).await?;
        Ok((ws, tcp))
    }
    .await;
    stop_server(server).await;
    let (ours_ws, ours_tcp) = ours?;
    eprintln!("rtt ({runtime}): {n} sequential request/echo exchanges over raw tokio-tungstenite…");
    let raw_ws = raw_ws(&request, n).await?;
    eprintln!("rtt ({runtime}): {n} sequential request/echo exchanges over raw TCP…");
    let raw_tcp = raw_tcp(&request, n).await?;
    Ok(Measured { ours_ws, ours_tcp, raw_ws, raw_tcp })
}

pub(super) async fn run(n: usize) -> Result<Vec<Row>, String> {
    let size = raw_request()?.len();
    let multi = measure(n, "multi-thread runtime").await?;
    let single = on_current_thread(move || measure(n, "one thread")).await?;
    println!(
        "rtt: {n} sequential round trips each (after {} warm-up), p50 / p99, loopback; \
         the raw clients send the same {size}-byte ping request",
        warm_up(n)
    );
    let mut rows = Vec::new();
    for (m, runtime, suffix) in [
        (&multi, "multi-thread runtime (as `lime serve`)", ""),
        (&single, "one thread (current-thread runtime: no cross-thread wake-ups)", " 1-thread"),
    ] {
        println!("  {runtime}:");
        for (name, ours, raw, what) in [
            ("WebSocket", m.ours_ws, m.raw_ws, "raw tokio-tungstenite echo"),
            ("TCP", m.ours_tcp, m.raw_tcp, "raw tokio TCP echo"),
        ] {
            let ratio = micros(raw.p50) / micros(ours.p50).max(1e-3);
            let met = ratio >= TARGET;
            println!(
                "    {name}: ours {} (ClientChannel::process_command, answered by the server); \
                 raw {} ({what})",
                ours.show(),
                raw.show()
            );
            print_ratio(
                &format!("rtt {name}{suffix}"),
                &format!("p50 {ratio:.2}× of raw (raw p50 / ours p50)"),
                "≥ 0.5× of raw",
                Some(met),
            );
            let threads = if suffix.is_empty() { "" } else { ", one thread" };
            rows.push(Row {
                benchmark: format!(
                    "rtt: `get /ping` round trip over {name}{threads}, p50 / p99 ({n})"
                ),
                ours: ours.show(),
                baseline: format!("{} ({what})", raw.show()),
                ratio: format!("{ratio:.2}× (p50)"),
                target: "≥ 0.5× (p50)".into(),
                met: Some(met),
            });
        }
    }
    Ok(rows)
}

async fn ours(uri: &str, identity: &str, n: usize) -> Result<Latency, String> {
    let channel = open_channel(uri, identity, "rtt", 64).await?;
    let request = ping()?;
    let warm = warm_up(n);
    let mut samples = Vec::with_capacity(n);
    let mut failure = None;
    for i in 0..warm + n {
        let start = Instant::now();
        match channel.process_command(request.clone(), STALL).await {
            Ok(response) if response.status == CommandStatus::Success => {}
            Ok(response) => {
                failure = Some(format!(
                    "ping #{i} on {uri} answered {:?}: {:?}",
                    response.status, response.reason
                ));
                break;
            }
            Err(e) => {
                failure = Some(format!("ping #{i} on {uri}: {e}"));
                break;
            }
        }
        if i >= warm {
            samples.push(start.elapsed());
        }
    }
    let closed = close_channel(channel).await;
    if let Some(f) = failure {
        return Err(f);
    }
    closed?;
    Latency::of(samples)
}

async fn raw_ws(request: &str, n: usize) -> Result<Latency, String> {
    let server = raw::ws_echo_server().await?;
    let mut ws = raw::ws_connect(server.addr).await?;
    let frame = Utf8Bytes::from(request.to_owned());
    let warm = warm_up(n);
    let mut samples = Vec::with_capacity(n);
    for i in 0..warm + n {
        let start = Instant::now();
        ws.send(WsMessage::Text(frame.clone()))
            .await
            .map_err(|e| format!("raw WebSocket send #{i}: {e}"))?;
        loop {
            match tokio::time::timeout(STALL, ws.next()).await {
                Ok(Some(Ok(m))) if m.is_text() => break,
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => return Err(format!("raw WebSocket echo #{i}: {e}")),
                Ok(None) => return Err(format!("the raw WebSocket echo server closed at #{i}")),
                Err(_) => {
                    return Err(format!("no raw WebSocket echo #{i} for {} s", STALL.as_secs()))
                }
            }
        }
        if i >= warm {
            samples.push(start.elapsed());
        }
    }
    let _ = ws.close(None).await;
    Latency::of(samples)
}

async fn raw_tcp(request: &str, n: usize) -> Result<Latency, String> {
    let server = raw::tcp_echo_server().await?;
    let mut tcp = raw::tcp_connect(server.addr).await?;
    let mut echo = vec![0; request.len()];
    let warm = warm_up(n);
    let mut samples = Vec::with_capacity(n);
    for i in 0..warm + n {
        let start = Instant::now();
        let exchange = async {
            tcp.write_all(request.as_bytes()).await?;
            tcp.read_exact(&mut echo).await
        };
        match tokio::time::timeout(STALL, exchange).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("raw TCP echo #{i}: {e}")),
            Err(_) => return Err(format!("no raw TCP echo #{i} for {} s", STALL.as_secs())),
        }
        if i >= warm {
            samples.push(start.elapsed());
        }
    }
    Latency::of(samples)
}
