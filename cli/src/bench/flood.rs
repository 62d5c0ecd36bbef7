//! `flood`: pipelined messages echoed through the server over WebSocket, vs a raw
//! tokio-tungstenite echo.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use lime::{channel::ChannelEvent, Envelope};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};

use super::{
    close_channel, open_channel, print_ratio, raw, start_server, stop_server, text_json,
    text_message, thousands, Row, STALL,
};

const TARGET: f64 = 0.5;

/// Rounds of (ours, raw), alternated: the ratio reported is the median of the rounds' ratios,
/// with their range, because either figure alone moves by a quarter from run to run on a
/// virtual machine.
const ROUNDS: usize = 3;

pub(super) async fn run(n: usize) -> Result<Vec<Row>, String> {
    #[allow(clippy::cast_precision_loss)]
    let rate = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    let mut rounds = Vec::with_capacity(ROUNDS);
    for round in 1..=ROUNDS {
        eprintln!(
            "flood {round}/{ROUNDS}: {n} messages echoed through the LIME server over WebSocket…"
        );
        let ours = rate(ours(n).await?);
        eprintln!(
            "flood {round}/{ROUNDS}: {n} frames through a raw tokio-tungstenite echo server…"
        );
        let raw = rate(raw(n).await?);
        rounds.push((ours, raw, ours / raw));
    }
    println!(
        "flood: {n} × 209-byte text/plain messages, pipelined, WebSocket on loopback, {ROUNDS} rounds alternated"
    );
    for (i, (ours, raw, ratio)) in rounds.iter().enumerate() {
        println!(
            "  round {}: ours (ClientChannel → server routes each message back to its sender) {} msg/s, raw (tokio-tungstenite client → echo server) {} msg/s: {ratio:.2}×",
            i + 1,
            thousands(*ours),
            thousands(*raw),
        );
    }
    let column = |f: fn(&(f64, f64, f64)) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let (ours, ours_lo, ours_hi) = column(|r| r.0);
    let (raw, raw_lo, raw_hi) = column(|r| r.1);
    let (ratio, ratio_lo, ratio_hi) = column(|r| r.2);
    let met = ratio >= TARGET;
    print_ratio(
        "flood",
        &format!("{ratio:.2}× of raw (median of {ROUNDS} rounds, {ratio_lo:.2}–{ratio_hi:.2}×)"),
        "≥ 0.5× of raw",
        Some(met),
    );
    Ok(vec![Row {
        benchmark: format!("flood: 209-byte messages echoed over WebSocket ({n}, median of {ROUNDS} alternated rounds)"),
        ours: format!("{} msg/s ({}–{})", thousands(ours), thousands(ours_lo), thousands(ours_hi)),
        baseline: format!(
            "{} msg/s ({}–{}) (raw tokio-tungstenite echo)",
            thousands(raw),
            thousands(raw_lo),
            thousands(raw_hi)
        ),
        ratio: format!("{ratio:.2}× ({ratio_lo:.2}–{ratio_hi:.2}×)"),
        target: "≥ 0.5×".into(),
        met: Some(met),
    }])
}

/// Time until the last of `n` messages sent to ourselves came back through the server.
async fn ours(n: usize) -> Result<Duration, String> {
    let server = start_server(false, true).await?;
    let result = match server.ws_addrs().first().copied() {
        Some(addr) => ours_on(addr, n).await,
        None => Err("the server has no WebSocket address".into()),
    };
    stop_server(server).await;
    result
}

async fn ours_on(addr: SocketAddr, n: usize) -> Result<Duration, String> {
    let node = "flood@localhost/a";
    let json = text_json(node, node)?;
    let envelope: Envelope =
        json.parse().map_err(|e| format!("the benchmark message does not parse: {e}"))?;
    let size = envelope.to_vec().len();
    let Envelope::Message(message) = envelope else {
        return Err("the benchmark message is not a message".into());
    };
    if size != 209 {
        return Err(format!("the benchmark message serializes to {size} bytes, not 209"));
    }
    let channel = open_channel(&format!("ws://{addr}"), "flood@localhost", "a", 4096).await?;
    let start = Instant::now();
    // `ClientChannel` is `Send` but not `Sync`: sender and receiver share one task.
    let send = async {
        for i in 0..n {
            channel.send_message(message.clone()).await.map_err(|e| format!("send #{i}: {e}"))?;
        }
        Ok::<(), String>(())
    };
    let receive = async {
        let mut got = 0;
        while got < n {
            match tokio::time::timeout(STALL, channel.receive()).await {
                Ok(Some(ChannelEvent::Message(_))) => got += 1,
                Ok(Some(other)) => return Err(format!("unexpected event: {other:?}")),
                Ok(None) => return Err(format!("the channel ended after {got} of {n} echoes")),
                Err(_) => {
                    return Err(format!("no echo for {} s after {got} of {n}", STALL.as_secs()))
                }
            }
        }
        Ok(start.elapsed())
    };
    let ((), elapsed) = tokio::try_join!(send, receive)?;
    close_channel(channel).await?;
    Ok(elapsed)
}

/// Time until the last of `n` frames came back from the raw echo server.
async fn raw(n: usize) -> Result<Duration, String> {
    let server = raw::ws_echo_server().await?;
    let text = Utf8Bytes::from(text_message()?);
    let ws = raw::ws_connect(server.addr).await?;
    let (mut sink, mut stream) = ws.split();
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        let mut frames = futures_util::stream::iter(
            (0..n).map(move |_| Ok::<_, WsError>(WsMessage::Text(text.clone()))),
        );
        sink.send_all(&mut frames).await.map(|()| sink)
    });
    let mut got = 0;
    let received = loop {
        if got == n {
            break Ok(start.elapsed());
        }
        match tokio::time::timeout(STALL, stream.next()).await {
            Ok(Some(Ok(m))) if m.is_text() => got += 1,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => break Err(format!("raw echo failed after {got} of {n}: {e}")),
            Ok(None) => break Err(format!("the raw echo server closed after {got} of {n}")),
            Err(_) => {
                break Err(format!("no raw echo for {} s after {got} of {n}", STALL.as_secs()))
            }
        }
    };
    if received.is_err() {
        sender.abort();
        return received;
    }
    match sender.await {
        Ok(Ok(mut sink)) => {
            let _ = sink.close().await;
            received
        }
        Ok(Err(e)) => Err(format!("raw send failed: {e}")),
        Err(e) => Err(format!("raw sender task failed: {e}")),
    }
}
