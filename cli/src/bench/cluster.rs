//! `lime bench cluster --nats URL`: two sessions on the same server vs on two servers of one
//! cluster (flood throughput and `get /ping` round trips), and sessions/s with the shared
//! registry vs without. Needs a running NATS with JetStream (`nats-server -js`); the servers run
//! in this process (ephemeral loopback ports), each with its own NATS connection, under the
//! cluster name `limebench`.
//!
//! Every comparison runs three rounds, alternating the two sides within each round; the
//! figures are medians with the range (min–max) of the rounds.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use lime::{
    channel::{ChannelEvent, ClientOptions, EstablishOptions},
    server::{
        cluster::{
            nats::{NatsBroker, NatsOptions},
            ClusterConfig,
        },
        Server, ServerConfig, ServerHandle,
    },
    transport::tls::ClientTlsConfig,
    Authentication, Client, Command, CommandStatus, Message, Node,
};

use super::{print_ratio, stop_server, thousands, within, Row, STALL};

const ROUNDS: usize = 3;
/// Messages in flight at most during a flood: below the recipient's queue (256 envelopes; a
/// message without id that does not fit is dropped) and far below the cluster link's buffer
/// (cross-server delivery is at most once), so both sides of the comparison are lossless.
const WINDOW: usize = 128;

async fn server(nats: Option<&str>) -> Result<ServerHandle, String> {
    let cluster = match nats {
        Some(url) => {
            let options =
                NatsOptions { name: "limebench".into(), ..NatsOptions::new(vec![url.into()]) };
            let broker = NatsBroker::connect(options).await.map_err(|e| e.to_string())?;
            Some(ClusterConfig::new(Arc::new(broker)))
        }
        None => None,
    };
    let config = ServerConfig {
        tcp: vec!["127.0.0.1:0".into()],
        ws: Vec::new(),
        cluster,
        ..ServerConfig::default()
    };
    let server = Server::bind(config).await.map_err(|e| format!("cannot start a server: {e}"))?;
    Ok(server.start())
}

fn uri(server: &ServerHandle) -> Result<String, String> {
    let addr = server.tcp_addrs().first().ok_or("the server has no TCP listener")?;
    Ok(format!("net.tcp://{addr}"))
}

async fn client(uri: &str, name: &str, instance: &str) -> Result<Client, String> {
    let c = within(
        STALL,
        &format!("connecting to {uri}"),
        Client::connect(uri, ClientTlsConfig::default(), ClientOptions::default()),
    )
    .await?;
    let identity = format!("{name}@localhost").parse().map_err(|e| format!("{e}"))?;
    let options = EstablishOptions::new(identity, instance, Authentication::Guest);
    within(STALL, "establishing a session", c.establish_session(options)).await?;
    Ok(c)
}

fn node(name: &str, instance: &str) -> Result<Node, String> {
    format!("{name}@localhost/{instance}").parse().map_err(|e| format!("{e}"))
}

/// Pings `to` until it answers (a new session reaches the other servers' replicas through the
/// registry watch within milliseconds), bounded by `STALL`.
async fn reach(from: &Client, to: &Node) -> Result<(), String> {
    let deadline = Instant::now() + STALL;
    loop {
        let ping = Command::ping_request().with_to(to.clone());
        if let Ok(c) = from.process_command(ping, Duration::from_secs(2)).await {
            if c.status == CommandStatus::Success {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{to} never became reachable"));
        }
        tokio::task::yield_now().await;
    }
}

/// Messages per second from `from` to `to` (at most `WINDOW` unreceived).
async fn flood(from: &Client, to: &Client, to_node: &Node, n: usize) -> Result<f64, String> {
    let mut events = to.subscribe().await;
    let text = "x".repeat(100);
    let start = Instant::now();
    let (mut sent, mut got) = (0, 0);
    while got < n {
        while sent < n && sent - got < WINDOW {
            let m = Message::text(text.as_str()).with_to(to_node.clone());
            within(STALL, "sending", from.send_message(m)).await?;
            sent += 1;
        }
        match tokio::time::timeout(STALL, events.next()).await {
            Ok(Some(ChannelEvent::Message(_))) => got += 1,
            Ok(Some(_)) => {}
            Ok(None) => return Err("the receiving session ended".into()),
            Err(_) => return Err(format!("flood stalled after {got} of {n} messages")),
        }
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// `get /ping` round trips from `from` to `to`: (p50, p99) in microseconds.
async fn rtt(from: &Client, to: &Node, n: usize) -> Result<(f64, f64), String> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let ping = Command::ping_request().with_to(to.clone());
        let c = within(STALL, "a ping round trip", from.process_command(ping, STALL)).await?;
        if c.status != CommandStatus::Success {
            return Err(format!("a ping failed: {:?}", c.reason));
        }
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().unwrap_or(0.0)
    };
    Ok((at(0.5), at(0.99)))
}

/// Sessions opened, established and finished per second, one after the other.
async fn sessions(uri: &str, n: usize, tag: &str) -> Result<f64, String> {
    let start = Instant::now();
    for i in 0..n {
        let c = client(uri, "s", &format!("{tag}{i}")).await?;
        within(STALL, "finishing", c.finish()).await?;
        c.close().await;
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Median and range of the rounds.
fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn rate(values: &[f64]) -> String {
    let (m, lo, hi) = summary(values);
    format!("{}/s ({}–{})", thousands(m), thousands(lo), thousands(hi))
}

pub(super) async fn run(
    nats: &str,
    messages: usize,
    round_trips: usize,
    count: usize,
) -> Result<Vec<Row>, String> {
    let a = server(Some(nats)).await?;
    let b = server(Some(nats)).await?;
    let plain = server(None).await?;
    let (ua, ub) = (uri(&a)?, uri(&b)?);
    // Instances unique to this run: a node of an earlier run that was killed stays registered
    // in the shared bucket until its lease lapses.
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let sender = client(&ua, "sender", &run).await?;
    let local = client(&ua, "local", &run).await?;
    let remote = client(&ub, "remote", &run).await?;
    let (local_node, remote_node) = (node("local", &run)?, node("remote", &run)?);
    reach(&sender, &local_node).await?;
    reach(&sender, &remote_node).await?;

    let (mut same, mut cross) = (Vec::new(), Vec::new());
    let (mut same_p, mut cross_p) = (Vec::new(), Vec::new());
    let (mut with_reg, mut without_reg) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        eprintln!("lime bench cluster: round {} of {ROUNDS}", round + 1);
        same.push(flood(&sender, &local, &local_node, messages).await?);
        cross.push(flood(&sender, &remote, &remote_node, messages).await?);
        same_p.push(rtt(&sender, &local_node, round_trips).await?);
        cross_p.push(rtt(&sender, &remote_node, round_trips).await?);
        with_reg.push(sessions(&ua, count, &format!("{run}-r{round}-")).await?);
        without_reg.push(sessions(&uri(&plain)?, count, &format!("{run}-p{round}-")).await?);
    }
    drop((sender, local, remote));
    for s in [a, b, plain] {
        stop_server(s).await;
    }

    let mut rows = Vec::new();
    let ratio = summary(&cross).0 / summary(&same).0;
    let met = ratio >= 0.5;
    print_ratio(
        "cluster flood (cross-server / same-server)",
        &format!("{ratio:.2}×"),
        "≥ 0.5×",
        Some(met),
    );
    rows.push(Row {
        benchmark: format!("cluster flood, {messages} msgs, window {WINDOW}: two servers vs one"),
        ours: rate(&cross),
        baseline: rate(&same),
        ratio: format!("{ratio:.2}×"),
        target: "≥ 0.5×".into(),
        met: Some(met),
    });
    let p50 = |v: &[(f64, f64)]| summary(&v.iter().map(|p| p.0).collect::<Vec<_>>());
    let p99 = |v: &[(f64, f64)]| summary(&v.iter().map(|p| p.1).collect::<Vec<_>>());
    let us = |(m, lo, hi): (f64, f64, f64)| format!("{m:.0} µs ({lo:.0}–{hi:.0})");
    let added = format!(
        "+{:.0} µs p50, +{:.0} µs p99",
        p50(&cross_p).0 - p50(&same_p).0,
        p99(&cross_p).0 - p99(&same_p).0
    );
    print_ratio("cluster get /ping (added by crossing servers)", &added, "report", None);
    rows.push(Row {
        benchmark: format!("cluster get /ping, {round_trips} round trips: two servers vs one"),
        ours: format!("p50 {}, p99 {}", us(p50(&cross_p)), us(p99(&cross_p))),
        baseline: format!("p50 {}, p99 {}", us(p50(&same_p)), us(p99(&same_p))),
        ratio: added,
        target: "report".into(),
        met: None,
    });
    let ratio = summary(&with_reg).0 / summary(&without_reg).0;
    print_ratio(
        "cluster sessions/s (shared registry / in-memory)",
        &format!("{ratio:.2}×"),
        "report",
        None,
    );
    rows.push(Row {
        benchmark: format!(
            "cluster sessions, {count} one after the other: NATS registry vs in-memory"
        ),
        ours: rate(&with_reg),
        baseline: rate(&without_reg),
        ratio: format!("{ratio:.2}×"),
        target: "report".into(),
        met: None,
    });
    Ok(rows)
}
