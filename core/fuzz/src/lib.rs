//! Helpers shared by the fuzz targets: the invariants every target checks.

use lime::{Envelope, Node};

/// Whether a node's display parses back to the same node. Not so, as in C#, for a node with an
/// instance but a blank domain: `name@/x` displays as `name/x`, which parses as the name `name/x`
/// (see tests/vectors/nodes.json, `name/inst`).
pub fn node_is_textual(node: &Node) -> bool {
    node.domain().is_some_and(|d| !d.trim().is_empty()) || node.instance().is_none()
}

/// A parsed envelope must serialize to JSON that parses again, and serializing that second
/// parse must give the same bytes (serialization is idempotent). Panics otherwise: a crash the
/// fuzzer reports.
///
/// The one exception is a message without content (`"content": null` parses, as in C#, and
/// serializes without `content`: no envelope kind at all; the server refuses such messages):
/// it is serialized but not parsed again.
pub fn check_envelope_roundtrip(envelope: &Envelope) {
    let bytes = envelope.to_vec();
    // `to_vec` writes common messages without serde: byte for byte what serde writes.
    let serde = serde_json::to_vec(envelope).expect("an envelope always serializes");
    assert_eq!(bytes, serde, "the fast writer and serde disagree");
    if matches!(envelope, Envelope::Message(m) if m.content.is_none()) {
        return;
    }
    let again = match Envelope::from_slice(&bytes) {
        Ok(again) => again,
        Err(e) => panic!(
            "a serialized envelope does not parse again: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        ),
    };
    // Nodes that do not survive text (kept from C#, see `node_is_textual`) change on each
    // round; everything else must be a fixed point.
    if ![envelope.from_node(), envelope.to(), envelope.pp()]
        .into_iter()
        .flatten()
        .all(node_is_textual)
    {
        return;
    }
    let twice = again.to_vec();
    assert!(
        twice == bytes,
        "serialization is not idempotent:\n{}\n{}",
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(&twice)
    );
}

/// Splits `data` into chunks whose sizes come from `sizes` (cycled; 0 counts as 1), so one
/// input exercises every way a stream can be cut.
pub fn chunks<'a>(data: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes.get(i % sizes.len().max(1)).map_or(rest.len(), |&s| usize::from(s).max(1));
        let (head, tail) = rest.split_at(n.min(rest.len()));
        out.push(head);
        rest = tail;
        i += 1;
    }
    out
}

pub mod client {
    //! Client connections at the stages where bytes can arrive, built from scripted server
    //! bytes.

    use std::{
        sync::OnceLock,
        time::{Duration, Instant},
    };

    use flate2::{Compress, Compression, FlushCompress};
    use lime::{
        channel::ClientOptions,
        connection::{ClientConnection, Event},
        transport::tls::ClientTlsConfig,
        SessionCompression, SessionEncryption,
    };

    /// A gzip stream written the way a server does (a sync flush after each write), reusable
    /// across runs (a new compressor per run would cost more than the run).
    pub struct GzipWriter {
        deflate: Compress,
        started: bool,
    }

    impl Default for GzipWriter {
        fn default() -> Self {
            Self { deflate: Compress::new(Compression::fast(), false), started: false }
        }
    }

    impl GzipWriter {
        /// Starts a new stream.
        pub fn reset(&mut self) {
            self.deflate.reset();
            self.started = false;
        }

        /// `data` compressed and flushed (after the gzip header on the first call).
        pub fn write_flush(&mut self, data: &[u8]) -> Vec<u8> {
            let mut out = Vec::with_capacity(data.len() + 64);
            if !self.started {
                out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
                self.started = true;
            }
            let mut input = data;
            loop {
                out.reserve(input.len() / 2 + 64);
                let before = self.deflate.total_in();
                ok("deflate", self.deflate.compress_vec(input, &mut out, FlushCompress::Sync));
                let used = usize::try_from(self.deflate.total_in() - before).unwrap_or(usize::MAX);
                input = &input[used.min(input.len())..];
                // The flush is complete when input is used up and output space was left over.
                if input.is_empty() && out.len() < out.capacity() {
                    return out;
                }
            }
        }
    }

    /// The `established` a scripted server sends.
    pub const ESTABLISHED: &[u8] = br#"{"id":"s1","from":"postmaster@localhost/server","to":"me@localhost/home","state":"established"}"#;
    const OFFER_GZIP: &[u8] = br#"{"id":"s1","state":"negotiating","encryptionOptions":["none"],"compressionOptions":["none","gzip"]}"#;
    const CHOSE_GZIP: &[u8] =
        br#"{"id":"s1","state":"negotiating","encryption":"none","compression":"gzip"}"#;
    const OFFER_TLS: &[u8] = br#"{"id":"s1","state":"negotiating","encryptionOptions":["none","tls"],"compressionOptions":["none"]}"#;
    const CHOSE_TLS: &[u8] =
        br#"{"id":"s1","state":"negotiating","encryption":"tls","compression":"none"}"#;

    fn tls() -> ClientTlsConfig {
        static TLS: OnceLock<ClientTlsConfig> = OnceLock::new();
        TLS.get_or_init(ClientTlsConfig::default).clone()
    }

    fn options(small: bool) -> ClientOptions {
        ClientOptions {
            max_envelope_size: if small { 512 } else { lime::DEFAULT_MAX_ENVELOPE_SIZE },
            ..ClientOptions::default()
        }
    }

    /// A scripted step that must succeed (the scripts are fixed: a failure is a bug).
    fn ok<T, E: std::fmt::Debug>(step: &str, r: Result<T, E>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => panic!("scripted step {step} failed: {e:?}"),
        }
    }

    fn tcp(small: bool) -> ClientConnection {
        ok("connect", ClientConnection::connect("net.tcp://localhost", tls(), options(small)))
    }

    /// After `new` was sent.
    pub fn new_session(small: bool) -> ClientConnection {
        let mut c = tcp(small);
        ok("new", c.start_new_session());
        c.take_output();
        c
    }

    /// Established over plain TCP.
    pub fn established(small: bool) -> ClientConnection {
        let mut c = new_session(small);
        ok("established", c.receive(ESTABLISHED));
        c.drain_events().for_each(drop);
        c.take_output();
        c
    }

    /// Waiting for the TLS handshake after choosing `tls`.
    pub fn negotiating_tls() -> ClientConnection {
        let mut c = new_session(false);
        ok("offer", c.receive(OFFER_TLS));
        ok("choose", c.negotiate_session(SessionCompression::None, SessionEncryption::Tls));
        ok("confirm", c.receive(CHOSE_TLS));
        c.drain_events().for_each(drop);
        c.take_output();
        c
    }

    /// Waiting for the server's HTTP upgrade answer.
    pub fn websocket() -> ClientConnection {
        let mut c = ok("ws", ClientConnection::connect("ws://localhost", tls(), options(false)));
        ok("new", c.start_new_session());
        c.take_output();
        c
    }

    /// Gzip negotiated, nothing compressed received yet.
    pub fn gzip_negotiated(small: bool) -> ClientConnection {
        let mut c = new_session(small);
        ok("offer", c.receive(OFFER_GZIP));
        ok("choose", c.negotiate_session(SessionCompression::Gzip, SessionEncryption::None));
        ok("confirm", c.receive(CHOSE_GZIP));
        c.drain_events().for_each(drop);
        c.take_output();
        c
    }

    /// Gzip negotiated and `established` received through `gz` (reset first).
    pub fn gzip_established(small: bool, gz: &mut GzipWriter) -> ClientConnection {
        let mut c = gzip_negotiated(small);
        gz.reset();
        ok("established", c.receive(&gz.write_flush(ESTABLISHED)));
        c.drain_events().for_each(drop);
        c.take_output();
        c
    }

    /// Feeds `pieces`, then the end of the stream and a timeout far in the future; checks that
    /// an error always closes the connection and that it closes exactly once. Returns the
    /// events other than `Closed`, as text.
    pub fn feed(c: &mut ClientConnection, pieces: &[&[u8]]) -> Vec<String> {
        let mut seen = Vec::new();
        let mut closed = 0;
        let mut collect = |c: &mut ClientConnection, seen: &mut Vec<String>| {
            for event in c.drain_events() {
                match event {
                    Event::Closed { .. } => closed += 1,
                    other => seen.push(format!("{other:?}")),
                }
            }
            c.take_output();
        };
        for piece in pieces {
            let r = c.receive(piece);
            collect(c, &mut seen);
            if r.is_err() {
                assert!(c.is_closed(), "receive failed but the connection is not closed");
                break;
            }
        }
        let _ = c.receive_eof();
        c.handle_timeout(Instant::now() + Duration::from_secs(3600));
        collect(c, &mut seen);
        assert!(c.is_closed(), "not closed after the end of the stream and a timeout");
        assert_eq!(closed, 1, "closed {closed} times; events: {seen:?}");
        seen
    }
}
