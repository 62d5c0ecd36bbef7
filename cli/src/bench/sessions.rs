//! `sessions`: connect + establish (guest) + finish + close over WebSocket, one after the
//! other, vs raw WebSocket connect + close handshakes.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use futures_util::StreamExt;

use super::{
    close_channel, on_current_thread, open_channel, print_ratio, raw, start_server, stop_server,
    thousands, Row, STALL,
};

/// Sessions per second.
const TARGET: f64 = 3000.0;

fn warm_up(n: usize) -> usize {
    (n / 20).clamp(5, 100)
}

/// Ours and the raw baseline on the current runtime.
async fn measure(n: usize, runtime: &'static str) -> Result<(Duration, Duration), String> {
    eprintln!("sessions ({runtime}): {n} WebSocket sessions opened and finished in turn…");
    let server = start_server(false, true).await?;
    let ours = match server.ws_addrs().first().copied() {
        Some(addr) => ours(addr, n).await,
        None => Err("the server has no WebSocket address".into()),
    };
    stop_server(server).await;
    let ours = ours?;
    eprintln!("sessions ({runtime}): {n} raw tokio-tungstenite connect + close handshakes…");
    let raw = raw_sessions(n).await?;
    Ok((ours, raw))
}

pub(super) async fn run(n: usize) -> Result<Vec<Row>, String> {
    let multi = measure(n, "multi-thread runtime").await?;
    let single = on_current_thread(move || measure(n, "one thread")).await?;
    #[allow(clippy::cast_precision_loss)]
    let rate = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "sessions: {n} sequential WebSocket sessions on loopback (after {} warm-up); ours = \
         connect + new / authenticating (guest) / established + finishing / finished + close, \
         raw = tokio-tungstenite connect (HTTP upgrade) + close handshake",
        warm_up(n)
    );
    let mut rows = Vec::new();
    for ((ours, raw), runtime, suffix) in [
        (multi, "multi-thread runtime (as `lime serve`)", ""),
        (single, "one thread (current-thread runtime: no cross-thread wake-ups)", " 1-thread"),
    ] {
        let (ours_rate, raw_rate) = (rate(ours), rate(raw));
        let ratio = ours_rate / raw_rate;
        let met = ours_rate >= TARGET;
        println!(
            "  {runtime}: ours {} sessions/s ({:.3} s); raw {} connections/s ({:.3} s)",
            thousands(ours_rate),
            ours.as_secs_f64(),
            thousands(raw_rate),
            raw.as_secs_f64()
        );
        print_ratio(
            &format!("sessions{suffix}"),
            &format!("{ratio:.2}× of raw ({} sessions/s)", thousands(ours_rate)),
            "≥ 3,000 sessions/s",
            Some(met),
        );
        let threads = if suffix.is_empty() { "" } else { ", one thread" };
        rows.push(Row {
            benchmark: format!(
                "sessions: WebSocket connect + establish + finish + close, sequential{threads} ({n})"
            ),
            ours: format!("{} sessions/s", thousands(ours_rate)),
            baseline: format!("{} connections/s (raw WebSocket connect + close)", thousands(raw_rate)),
            ratio: format!("{ratio:.2}×"),
            target: "≥ 3,000/s".into(),
            met: Some(met),
        });
    }
    Ok(rows)
}

async fn one_session(uri: &str, i: usize) -> Result<(), String> {
    let channel = open_channel(uri, &format!("s{i}@localhost"), "b", 16).await?;
    close_channel(channel).await
}

async fn ours(addr: SocketAddr, n: usize) -> Result<Duration, String> {
    let uri = format!("ws://{addr}");
    let warm = warm_up(n);
    for i in 0..warm {
        one_session(&uri, n + i).await.map_err(|e| format!("warm-up session #{i}: {e}"))?;
    }
    let start = Instant::now();
    for i in 0..n {
        one_session(&uri, i).await.map_err(|e| format!("session #{i}: {e}"))?;
    }
    Ok(start.elapsed())
}

async fn raw_one(addr: SocketAddr) -> Result<(), String> {
    let mut ws = raw::ws_connect(addr).await?;
    ws.close(None).await.map_err(|e| format!("raw WebSocket close: {e}"))?;
    // Wait for the server's close frame: the closing handshake is complete then.
    let drain = async { while let Some(Ok(_)) = ws.next().await {} };
    tokio::time::timeout(STALL, drain)
        .await
        .map_err(|_| format!("no raw WebSocket close reply for {} s", STALL.as_secs()))
}

async fn raw_sessions(n: usize) -> Result<Duration, String> {
    let server = raw::ws_echo_server().await?;
    for i in 0..warm_up(n) {
        raw_one(server.addr).await.map_err(|e| format!("raw warm-up #{i}: {e}"))?;
    }
    let start = Instant::now();
    for i in 0..n {
        raw_one(server.addr).await.map_err(|e| format!("raw connection #{i}: {e}"))?;
    }
    Ok(start.elapsed())
}
