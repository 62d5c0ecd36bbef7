//! `lime serve --metrics ADDR`: Prometheus text exposition of the server's counters on
//! `GET /metrics`, and `GET /healthz` (200 `ok` while the server is ready, 503 otherwise).
//!
//! The counters live in the server as atomics ([`lime::server::ServerMetrics`]); a scrape
//! reads a snapshot and renders it with the `prometheus` crate's text encoder. The HTTP side is
//! a minimal HTTP/1.1 responder (one request per connection, bounded in size and time): a
//! scrape endpoint needs nothing more.

use std::{net::SocketAddr, time::Duration};

use lime::server::{metrics::ServerMetrics, ServerMonitor, ServerStats};
use prometheus::{
    proto::{Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType},
    Encoder, TextEncoder,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Largest request head read (a scrape's is a few hundred bytes).
const MAX_REQUEST: usize = 8 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `addr` and serves `/metrics` and `/healthz` for `monitor` until the task is aborted.
pub(crate) async fn serve(
    addr: &str,
    monitor: ServerMonitor,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for --metrics on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let monitor = monitor.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, respond(stream, &monitor)).await;
            });
        }
    });
    Ok((local, task))
}

async fn respond(mut stream: TcpStream, monitor: &ServerMonitor) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return write(&mut stream, "431 Request Header Fields Too Large", "text/plain", b"")
                .await;
        }
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => {
            let body = render(&monitor.metrics(), &monitor.stats());
            write(&mut stream, "200 OK", "text/plain; version=0.0.4; charset=utf-8", &body).await
        }
        ("GET", "/healthz") => {
            if monitor.is_ready() {
                write(&mut stream, "200 OK", "text/plain", b"ok\n").await
            } else {
                write(&mut stream, "503 Service Unavailable", "text/plain", b"not ready\n").await
            }
        }
        ("GET", _) => write(&mut stream, "404 Not Found", "text/plain", b"not found\n").await,
        _ => write(&mut stream, "405 Method Not Allowed", "text/plain", b"GET only\n").await,
    }
}

async fn write(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_owned());
    l.set_value(value.to_owned());
    l
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_owned());
    f.set_help(help.to_owned());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

#[allow(clippy::cast_precision_loss)]
fn gauge(labels: Vec<LabelPair>, value: u64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value as f64);
    let mut m = Metric::default();
    m.set_label(labels);
    m.set_gauge(g);
    m
}

#[allow(clippy::cast_precision_loss)]
fn counter(labels: Vec<LabelPair>, value: u64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value as f64);
    let mut m = Metric::default();
    m.set_label(labels);
    m.set_counter(c);
    m
}

fn by_code(values: &[(i32, u64)]) -> Vec<Metric> {
    values.iter().map(|(code, n)| counter(vec![label("code", &code.to_string())], *n)).collect()
}

/// The Prometheus text exposition of one snapshot.
pub(crate) fn render(m: &ServerMetrics, stats: &ServerStats) -> Vec<u8> {
    use MetricType::{COUNTER, GAUGE, HISTOGRAM};
    let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let mut families = vec![
        family(
            "lime_sessions",
            "Connections by session state (handshaking: negotiating or authenticating).",
            GAUGE,
            vec![
                gauge(vec![label("state", "handshaking")], as_u64(m.sessions_handshaking)),
                gauge(vec![label("state", "established")], as_u64(m.sessions_established)),
            ],
        ),
        family(
            "lime_envelopes_received_total",
            "Envelopes received from established sessions for routing, by kind.",
            COUNTER,
            m.envelopes_received
                .iter()
                .map(|(k, n)| counter(vec![label("kind", k.as_str())], *n))
                .collect(),
        ),
        family(
            "lime_envelopes_delivered_total",
            "Envelopes put into a recipient session's queue, by kind.",
            COUNTER,
            m.envelopes_delivered
                .iter()
                .map(|(k, n)| counter(vec![label("kind", k.as_str())], *n))
                .collect(),
        ),
        family(
            "lime_queued_envelopes",
            "Envelopes waiting in the sessions' outgoing queues.",
            GAUGE,
            vec![gauge(vec![], as_u64(stats.queued_envelopes))],
        ),
        family(
            "lime_queued_bytes",
            "Bytes pending in the sessions' outgoing queues.",
            GAUGE,
            vec![gauge(vec![], as_u64(stats.queued_bytes))],
        ),
        family(
            "lime_slow_consumers_total",
            "Sessions ended because a write stayed blocked past the send timeout.",
            COUNTER,
            vec![counter(vec![], stats.slow_consumers)],
        ),
        family(
            "lime_authentication_failures_total",
            "Session authentications that failed (reason 13).",
            COUNTER,
            vec![counter(vec![], m.authentication_failures)],
        ),
    ];
    if !m.routing_failures.is_empty() {
        families.push(family(
            "lime_routing_failures_total",
            "Envelopes refused or undeliverable, by LIME reason code.",
            COUNTER,
            by_code(&m.routing_failures),
        ));
    }
    if !m.handshake_failures.is_empty() {
        families.push(family(
            "lime_handshake_failures_total",
            "Connections failed before established, by LIME reason code.",
            COUNTER,
            by_code(&m.handshake_failures),
        ));
    }
    if let Some(c) = &m.cluster {
        families.push(family(
            "lime_cluster_published_total",
            "Envelopes published to another server of the cluster.",
            COUNTER,
            vec![counter(vec![], c.published)],
        ));
        families.push(family(
            "lime_cluster_publish_dropped_total",
            "Envelopes for another server dropped (link buffer full or broker error).",
            COUNTER,
            vec![counter(vec![], c.publish_dropped)],
        ));
        families.push(family(
            "lime_cluster_received_total",
            "Envelopes received from other servers of the cluster.",
            COUNTER,
            vec![counter(vec![], c.received)],
        ));
        let mut h = Histogram::default();
        h.set_sample_count(c.latency.count);
        h.set_sample_sum(c.latency.sum);
        h.set_bucket(
            c.latency
                .buckets
                .iter()
                .map(|(bound, n)| {
                    let mut b = Bucket::default();
                    b.set_upper_bound(*bound);
                    b.set_cumulative_count(*n);
                    b
                })
                .collect(),
        );
        let mut metric = Metric::default();
        metric.set_histogram(h);
        families.push(family(
            "lime_cluster_latency_seconds",
            "Time from publishing on one server to queueing on another.",
            HISTOGRAM,
            vec![metric],
        ));
    }
    let mut out = Vec::new();
    // Encoding into a Vec fails only for malformed families, which these are not.
    if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
        tracing::warn!(error = %e, "cannot render the metrics");
    }
    out
}
