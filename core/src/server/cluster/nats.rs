//! The NATS [`Broker`]: a JetStream key-value bucket is the registry (revisions give the
//! compare-and-set), and each server has a subject `<prefix>.srv.<id>` for the envelopes sent to
//! it. Needs a NATS server with JetStream (`nats-server -js`), 2.10 or later.
//!
//! ```no_run
//! # async fn run() -> Result<(), lime::server::cluster::BrokerError> {
//! use std::sync::Arc;
//! use lime::server::{cluster::{nats::{NatsBroker, NatsOptions}, ClusterConfig}, ServerConfig};
//!
//! let broker = NatsBroker::connect(NatsOptions::new(vec!["nats://127.0.0.1:4222".into()])).await?;
//! let config = ServerConfig {
//!     tcp: vec!["127.0.0.1:55321".into()],
//!     cluster: Some(ClusterConfig::new(Arc::new(broker))),
//!     ..ServerConfig::default()
//! };
//! # let _ = config; Ok(()) }
//! ```

use std::{path::PathBuf, sync::Arc, time::Duration};

use async_nats::{
    jetstream::{
        self,
        kv::{self, CreateErrorKind, Operation, UpdateErrorKind},
    },
    HeaderMap,
};
use bytes::Bytes;
use futures_util::{stream::BoxStream, StreamExt};

use super::{Broker, BrokerError, Forward, RegistryEvent};
use crate::EnvelopeKind;

/// How to reach NATS and where the cluster's data lives.
#[derive(Clone, Debug, Default)]
pub struct NatsOptions {
    /// Seed URLs (`nats://host:port`, `tls://host:port`).
    pub urls: Vec<String>,
    /// A `.creds` file (JWT + nkey seed).
    pub credentials_file: Option<PathBuf>,
    /// User and password.
    pub user_password: Option<(String, String)>,
    /// An authentication token.
    pub token: Option<String>,
    /// Extra root certificates (PEM) to verify the NATS servers with.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// Require TLS on the connection.
    pub require_tls: bool,
    /// Names the key-value bucket (`<name>`) and the subjects (`<name>.srv.<id>`); servers
    /// with the same name form one cluster. Default `lime`.
    pub name: String,
}

impl NatsOptions {
    /// Options for `urls` with no credentials.
    pub fn new(urls: Vec<String>) -> Self {
        Self { urls, name: "lime".into(), ..Self::default() }
    }
}

/// A [`Broker`] on NATS (async-nats, JetStream key-value).
#[derive(Debug)]
pub struct NatsBroker {
    client: async_nats::Client,
    js: jetstream::Context,
    /// The registry bucket; reopened (created again) when a lease refresh finds it gone, as
    /// after a NATS restart that lost its JetStream store.
    kv: std::sync::RwLock<kv::Store>,
    prefix: String,
}

/// Opens the bucket `name`, creating it when it does not exist.
async fn open_bucket(js: &jetstream::Context, name: &str) -> Result<kv::Store, BrokerError> {
    if let Ok(kv) = js.get_key_value(name).await {
        return Ok(kv);
    }
    js.create_key_value(kv::Config {
        bucket: name.to_owned(),
        description: "lime serve: the cluster's node registry".into(),
        history: 1,
        ..kv::Config::default()
    })
    .await
    .map_err(|e| err(&format!("cannot create the key-value bucket {name:?} (JetStream on?)"), e))
}

fn err(context: &str, e: impl std::fmt::Display) -> BrokerError {
    BrokerError(format!("{context}: {e}"))
}

const KIND: &str = "Lime-Kind";
const TO: &str = "Lime-To";
const ORIGIN: &str = "Lime-Origin";
const SENT: &str = "Lime-Sent";

impl NatsBroker {
    /// Connects (retrying in the background if NATS is not up yet is not done: the first
    /// connection must succeed) and opens or creates the registry bucket.
    pub async fn connect(options: NatsOptions) -> Result<Self, BrokerError> {
        if options.urls.is_empty() {
            return Err(BrokerError("no NATS URL given".into()));
        }
        let name = if options.name.is_empty() { "lime".to_owned() } else { options.name.clone() };
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(BrokerError(format!(
                "cluster name {name:?}: only letters, digits, '_' and '-' are allowed"
            )));
        }
        let mut connect = async_nats::ConnectOptions::new()
            .name("lime serve")
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * u64::try_from(attempts.min(10)).unwrap_or(10))
            });
        if let Some(path) = &options.credentials_file {
            connect = connect
                .credentials_file(path)
                .await
                .map_err(|e| err(&format!("cannot read {}", path.display()), e))?;
        }
        if let Some((user, password)) = &options.user_password {
            connect = connect.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &options.token {
            connect = connect.token(token.clone());
        }
        if let Some(ca) = &options.tls_ca {
            connect = connect.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &options.tls_client {
            connect = connect.add_client_certificate(cert.clone(), key.clone());
        }
        if options.require_tls {
            connect = connect.require_tls(true);
        }
        let client =
            async_nats::connect_with_options(options.urls.clone(), connect).await.map_err(|e| {
                err(&format!("cannot connect to NATS at {}", options.urls.join(", ")), e)
            })?;
        let js = jetstream::new(client.clone());
        let kv = open_bucket(&js, &name).await?;
        Ok(Self { client, js, kv: std::sync::RwLock::new(kv), prefix: name })
    }

    /// The registry bucket (a cheap handle).
    fn kv(&self) -> kv::Store {
        self.kv.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn subject(&self, server: &str) -> String {
        format!("{}.srv.{server}", self.prefix)
    }
}

fn kind_name(kind: EnvelopeKind) -> &'static str {
    kind.as_str()
}

fn kind_of(name: &str) -> EnvelopeKind {
    match name {
        "notification" => EnvelopeKind::Notification,
        "command" => EnvelopeKind::Command,
        "session" => EnvelopeKind::Session,
        _ => EnvelopeKind::Message,
    }
}

/// The most bytes of frames in one NATS message (NATS refuses messages over the server's
/// `max_payload`, 1 MiB by default; a single larger envelope still goes alone).
const BATCH_BYTES: usize = 64 * 1024;

const KINDS: [EnvelopeKind; 4] = [
    EnvelopeKind::Message,
    EnvelopeKind::Notification,
    EnvelopeKind::Command,
    EnvelopeKind::Session,
];

fn frame_len(message: &Forward) -> usize {
    1 + 8 + 2 + message.to.len() + 2 + message.origin_server.len() + 4 + message.payload.len()
}

/// One envelope in a batch: kind (u8), sent time (u64 µs), destination and origin server (u16
/// length + UTF-8 each), the envelope (u32 length + bytes); integers little-endian.
fn encode_frame(buf: &mut bytes::BytesMut, message: &Forward) {
    use bytes::BufMut;
    buf.reserve(frame_len(message));
    let kind = KINDS.iter().position(|k| *k == message.kind).unwrap_or(0);
    buf.put_u8(kind as u8);
    buf.put_u64_le(message.sent_micros);
    for text in [&message.to, &message.origin_server] {
        let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
        buf.put_u16_le(len);
        buf.put_slice(&text.as_bytes()[..usize::from(len)]);
    }
    buf.put_u32_le(u32::try_from(message.payload.len()).unwrap_or(u32::MAX));
    buf.put_slice(&message.payload);
}

/// The envelopes of a batch (the payloads share its buffer); a truncated or malformed frame
/// ends it (what came before is kept).
/// Consecutive frames with the same destination (or origin) share one text.
fn decode_frames(mut data: Bytes) -> Vec<Forward> {
    use bytes::Buf;
    fn text(data: &mut Bytes, last: &mut Option<Arc<str>>) -> Option<Arc<str>> {
        if data.remaining() < 2 {
            return None;
        }
        let len = usize::from(data.get_u16_le());
        let raw = data.chunk().get(..len)?;
        let text = match last {
            Some(text) if text.as_bytes() == raw => text.clone(),
            _ => {
                let text: Arc<str> = Arc::from(std::str::from_utf8(raw).ok()?);
                *last = Some(text.clone());
                text
            }
        };
        data.advance(len);
        Some(text)
    }
    let (mut last_to, mut last_origin) = (None, None);
    let mut out = Vec::new();
    while data.has_remaining() {
        if data.remaining() < 9 {
            break;
        }
        let kind = KINDS.get(usize::from(data.get_u8())).copied().unwrap_or(EnvelopeKind::Message);
        let sent_micros = data.get_u64_le();
        let (Some(to), Some(origin_server)) =
            (text(&mut data, &mut last_to), text(&mut data, &mut last_origin))
        else {
            break;
        };
        if data.remaining() < 4 {
            break;
        }
        let len = data.get_u32_le() as usize;
        if data.remaining() < len {
            break;
        }
        let payload = data.split_to(len);
        out.push(Forward { to, origin_server, kind, sent_micros, payload });
    }
    out
}

#[async_trait::async_trait]
impl Broker for NatsBroker {
    async fn create(&self, key: &str, value: Bytes) -> Result<Option<u64>, BrokerError> {
        match self.kv().create(key, value).await {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(err("registry create", e)),
        }
    }

    async fn entry(&self, key: &str) -> Result<Option<(Bytes, u64)>, BrokerError> {
        match self.kv().entry(key).await.map_err(|e| err("registry read", e))? {
            Some(e) if e.operation == Operation::Put => Ok(Some((e.value, e.revision))),
            _ => Ok(None),
        }
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        revision: u64,
    ) -> Result<Option<u64>, BrokerError> {
        match self.kv().update(key, value, revision).await {
            Ok(revision) => Ok(Some(revision)),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(e) => Err(err("registry update", e)),
        }
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<u64, BrokerError> {
        match self.kv().put(key, value.clone()).await {
            Ok(revision) => Ok(revision),
            // A connected client whose put fails: the bucket may be gone (a NATS restart without
            // its JetStream store); open or create it again and retry once.
            Err(e) if self.is_connected() => {
                let kv = open_bucket(&self.js, &self.prefix)
                    .await
                    .map_err(|reopen| err(&format!("registry put ({e})"), reopen))?;
                *self.kv.write().unwrap_or_else(std::sync::PoisonError::into_inner) = kv;
                self.kv().put(key, value).await.map_err(|e| err("registry put", e))
            }
            Err(e) => Err(err("registry put", e)),
        }
    }

    async fn delete(&self, key: &str, revision: Option<u64>) -> Result<bool, BrokerError> {
        match self.kv().delete_expect_revision(key, revision).await {
            Ok(()) => Ok(true),
            Err(e) if e.to_string().contains("wrong last sequence") => Ok(false),
            Err(e) => Err(err("registry delete", e)),
        }
    }

    async fn watch(
        &self,
    ) -> Result<BoxStream<'static, Result<RegistryEvent, BrokerError>>, BrokerError> {
        let watch =
            self.kv().watch_with_history(">").await.map_err(|e| err("registry watch", e))?;
        Ok(watch
            .map(|entry| {
                let entry = entry.map_err(|e| err("registry watch", e))?;
                Ok(match entry.operation {
                    Operation::Put => RegistryEvent::Put {
                        key: entry.key,
                        value: entry.value,
                        revision: entry.revision,
                    },
                    Operation::Delete | Operation::Purge => {
                        RegistryEvent::Delete { key: entry.key }
                    }
                })
            })
            .boxed())
    }

    async fn publish(&self, server: &str, message: Forward) -> Result<(), BrokerError> {
        let mut headers = HeaderMap::new();
        headers.insert(TO, &*message.to);
        headers.insert(ORIGIN, &*message.origin_server);
        headers.insert(KIND, kind_name(message.kind));
        headers.insert(SENT, message.sent_micros.to_string().as_str());
        self.client
            .publish_with_headers(self.subject(server), headers, message.payload)
            .await
            .map_err(|e| err("publish", e))
    }

    /// The messages go in as few NATS messages as fit `BATCH_BYTES` each, without headers:
    /// the payload is a sequence of frames (see `encode_frame`). One publish per NATS message;
    /// async-nats buffers them and writes them together.
    async fn publish_batch(&self, server: &str, messages: Vec<Forward>) -> Result<(), BrokerError> {
        let subject = self.subject(server);
        let mut buf = bytes::BytesMut::new();
        for message in &messages {
            let frame = frame_len(message);
            if !buf.is_empty() && buf.len() + frame > BATCH_BYTES {
                let full = buf.split().freeze();
                self.client.publish(subject.clone(), full).await.map_err(|e| err("publish", e))?;
            }
            encode_frame(&mut buf, message);
        }
        if !buf.is_empty() {
            self.client.publish(subject, buf.freeze()).await.map_err(|e| err("publish", e))?;
        }
        Ok(())
    }

    async fn subscribe(&self, server: &str) -> Result<BoxStream<'static, Forward>, BrokerError> {
        let subscriber =
            self.client.subscribe(self.subject(server)).await.map_err(|e| err("subscribe", e))?;
        Ok(subscriber
            .flat_map(|m| {
                let forwards = match m.headers {
                    // One envelope with its fields in headers (`publish`).
                    Some(headers) => {
                        let get = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
                        let one = (|| {
                            Some(Forward {
                                to: Arc::from(get(TO)?),
                                origin_server: Arc::from(get(ORIGIN)?),
                                kind: kind_of(&get(KIND).unwrap_or_default()),
                                sent_micros: get(SENT).and_then(|s| s.parse().ok()).unwrap_or(0),
                                payload: m.payload,
                            })
                        })();
                        one.into_iter().collect()
                    }
                    // Frames (`publish_batch`).
                    None => decode_frames(m.payload),
                };
                futures_util::stream::iter(forwards)
            })
            .boxed())
    }

    fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(to: &str, kind: EnvelopeKind, payload: &'static [u8]) -> Forward {
        Forward {
            to: Arc::from(to),
            origin_server: Arc::from("server-a"),
            kind,
            sent_micros: 1_733_000_000_123_456,
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn frames_round_trip_and_a_truncated_frame_ends_the_batch() {
        let sent = [
            forward("bob@localhost/home", EnvelopeKind::Message, b"{\"id\":\"1\"}"),
            forward("carol@localhost", EnvelopeKind::Notification, b""),
            forward("dave@localhost/x", EnvelopeKind::Command, b"{\"method\":\"get\"}"),
        ];
        let mut buf = bytes::BytesMut::new();
        for f in &sent {
            encode_frame(&mut buf, f);
        }
        assert_eq!(buf.len(), sent.iter().map(frame_len).sum::<usize>());
        let data = buf.freeze();
        let got = decode_frames(data.clone());
        assert_eq!(got.len(), 3);
        for (a, b) in sent.iter().zip(&got) {
            assert_eq!((&a.to, &a.origin_server, a.kind), (&b.to, &b.origin_server, b.kind));
            assert_eq!((a.sent_micros, &a.payload), (b.sent_micros, &b.payload));
        }
        // The same origin in consecutive frames: one shared text.
        assert!(Arc::ptr_eq(&got[0].origin_server, &got[2].origin_server));
        // The last frame cut short: the first two are kept.
        let cut = decode_frames(data.slice(..data.len() - 3));
        assert_eq!(
            cut.iter().map(|f| &*f.to).collect::<Vec<_>>(),
            ["bob@localhost/home", "carol@localhost"]
        );
        assert!(decode_frames(Bytes::from_static(b"\x00\x01")).is_empty());
    }
}
