//! Hidden modes of `lime bench` used by the Python benchmark runner (`python/bench/run.py`):
//! a raw tokio-tungstenite echo server in its own process (the Python floor's server), and the
//! Rust client's flood and `get /ping` round trips against a server started elsewhere, each
//! printed as one JSON line.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use lime::{
    channel::{ChannelEvent, ChannelOptions, ClientChannel, ClientOptions, EstablishOptions},
    CommandMethod, CommandStatus, Envelope,
};

use super::{close_channel, raw, text_json, within, STALL};

/// Messages sent to the echo bot and not yet answered: below the server's default queue of 256
/// envelopes per session, beyond which the server refuses messages to a busy recipient.
const BOT_WINDOW: usize = 128;

/// The line the echo server child prints before its address.
const LISTENING: &str = "listening on ws://";

/// Runs the raw WebSocket echo server until standard input closes.
pub(super) async fn ws_echo_server_child() -> ExitCode {
    let server = match raw::ws_echo_server().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lime bench: {e}");
            return ExitCode::from(1);
        }
    };
    println!("{LISTENING}{}", server.addr);
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    });
    let _ = stdin_closed.await;
    drop(server);
    ExitCode::SUCCESS
}

/// Flood (receipts on, as lime-python's default) and round trips against `uri`; prints
/// `{"flood": msg/s, "rtt": {"p50": µs, "p99": µs}}`.
pub(super) async fn against(uri: &str, messages: usize, round_trips: usize) -> ExitCode {
    let result = async {
        let rate = flood(uri, messages).await?;
        let (p50, p99) = rtt(uri, round_trips).await?;
        Ok::<_, String>(format!(
            r#"{{"flood": {rate:.1}, "rtt": {{"p50": {p50:.1}, "p99": {p99:.1}}}}}"#
        ))
    }
    .await;
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lime bench: {e}");
            ExitCode::from(1)
        }
    }
}

async fn open(uri: &str, identity: &str, receipts: bool) -> Result<ClientChannel, String> {
    let tls = lime::transport::tls::ClientTlsConfig::default();
    let transport =
        within(STALL, &format!("connecting to {uri}"), lime::transport::connect(uri, &tls)).await?;
    let channel = ChannelOptions { auto_notify_receipt: receipts, ..ChannelOptions::client() };
    let channel = ClientChannel::with_options(
        transport,
        ClientOptions { channel, buffer: 4096, ..ClientOptions::default() },
    );
    let identity: lime::Identity =
        identity.parse().map_err(|e| format!("invalid identity {identity:?}: {e}"))?;
    let options = EstablishOptions::new(identity, "bench", lime::Authentication::Guest);
    within(STALL, &format!("establishing a session on {uri}"), channel.establish_session(options))
        .await?;
    Ok(channel)
}

/// `n` messages to the echo bot `bot` ([`BOT_WINDOW`] unanswered at most); replies/s until the last
/// reply came back. Prints `{"bot": msg/s}`.
pub(super) async fn drive_bot(uri: &str, bot: &str, n: usize) -> ExitCode {
    match drive(uri, bot, n).await {
        Ok(rate) => {
            println!(r#"{{"bot": {rate:.1}}}"#);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lime bench: {e}");
            ExitCode::from(1)
        }
    }
}

async fn drive(uri: &str, bot: &str, n: usize) -> Result<f64, String> {
    let node = "botdriver@localhost/bench";
    let json = text_json(node, bot)?;
    let channel = open(uri, "botdriver@localhost", false).await?;
    let window = tokio::sync::Semaphore::new(BOT_WINDOW);
    let start = Instant::now();
    let send = async {
        for i in 0..n {
            within(STALL, "waiting for the bot's replies", window.acquire()).await?.forget();
            let Ok(Envelope::Message(message)) = json.parse::<Envelope>() else {
                return Err("the benchmark message does not parse".to_owned());
            };
            channel.send_message(message).await.map_err(|e| format!("send #{i}: {e}"))?;
        }
        Ok::<(), String>(())
    };
    let receive = async {
        let mut got = 0;
        while got < n {
            match tokio::time::timeout(STALL, channel.receive()).await {
                Ok(Some(ChannelEvent::Message(_))) => {
                    got += 1;
                    window.add_permits(1);
                }
                Ok(Some(_)) => {}
                Ok(None) => return Err(format!("the channel ended after {got} of {n} replies")),
                Err(_) => {
                    return Err(format!("no reply for {} s after {got} of {n}", STALL.as_secs()))
                }
            }
        }
        Ok(start.elapsed())
    };
    let ((), elapsed) = tokio::try_join!(send, receive)?;
    close_channel(channel).await?;
    #[allow(clippy::cast_precision_loss)]
    Ok(n as f64 / elapsed.as_secs_f64().max(1e-9))
}

/// `n` messages to ourselves, each built in the send loop; msg/s until the last came back.
async fn flood(uri: &str, n: usize) -> Result<f64, String> {
    let node = "rustflood@localhost/bench";
    let json = text_json(node, node)?;
    let channel = open(uri, "rustflood@localhost", true).await?;
    let start = Instant::now();
    let send = async {
        for i in 0..n {
            let Ok(Envelope::Message(message)) = json.parse::<Envelope>() else {
                return Err("the benchmark message does not parse".to_owned());
            };
            channel.send_message(message).await.map_err(|e| format!("send #{i}: {e}"))?;
        }
        Ok::<(), String>(())
    };
    let receive = async {
        let (mut got, mut receipts) = (0, 0);
        while got < n {
            let (message, receipt) = next_event(&channel, got, n).await?;
            got += message;
            receipts += receipt;
        }
        Ok((start.elapsed(), receipts))
    };
    let ((), (elapsed, mut receipts)) = tokio::try_join!(send, receive)?;
    // the receipts of the last messages are still coming: read them before finishing, or the
    // `finished` session would wait behind them in the full incoming queue
    while receipts < n {
        receipts += next_event(&channel, n, n).await?.1;
    }
    close_channel(channel).await?;
    #[allow(clippy::cast_precision_loss)]
    Ok(n as f64 / elapsed.as_secs_f64().max(1e-9))
}

/// The next event of the flood: (1, 0) for a message, (0, 1) for a receipt, (0, 0) otherwise.
async fn next_event(
    channel: &ClientChannel,
    got: usize,
    n: usize,
) -> Result<(usize, usize), String> {
    match tokio::time::timeout(STALL, channel.receive()).await {
        Ok(Some(ChannelEvent::Message(_))) => Ok((1, 0)),
        Ok(Some(ChannelEvent::Notification(_))) => Ok((0, 1)),
        Ok(Some(_)) => Ok((0, 0)),
        Ok(None) => Err(format!("the channel ended after {got} of {n} messages")),
        Err(_) => Err(format!("nothing for {} s after {got} of {n} messages", STALL.as_secs())),
    }
}

/// Sequential `get /ping`: p50 and p99 in microseconds.
async fn rtt(uri: &str, n: usize) -> Result<(f64, f64), String> {
    let channel = open(uri, "rustrtt@localhost", false).await?;
    let ping = lime::Command::request(
        CommandMethod::Get,
        "/ping".parse().map_err(|e| format!("invalid ping URI: {e}"))?,
    );
    let mut samples: Vec<Duration> = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        let response = channel
            .process_command(ping.clone(), STALL)
            .await
            .map_err(|e| format!("ping #{i}: {e}"))?;
        if response.status != CommandStatus::Success {
            return Err(format!("ping #{i} answered {:?}", response.status));
        }
        samples.push(start.elapsed());
    }
    close_channel(channel).await?;
    samples.sort_unstable();
    let at = |pct: usize| {
        samples.get((samples.len() * pct / 100).min(samples.len().saturating_sub(1))).copied()
    };
    match (at(50), at(99)) {
        (Some(p50), Some(p99)) => Ok((p50.as_secs_f64() * 1e6, p99.as_secs_f64() * 1e6)),
        _ => Err("no round trip was measured".into()),
    }
}
