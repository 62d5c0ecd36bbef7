//! Parse and serialize throughput of the envelope codec.
//!
//! `cargo bench -p lime-core --bench codec` prints time per operation and `thrpt` in
//! envelopes per second (criterion's `elem/s`). The target is ≥ 1,000,000 parse+serialize
//! round trips per second on one core for the 209-byte text message.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lime::{Envelope, EnvelopeDecoder};

/// A 209-byte `text/plain` message, the size used by every benchmark in this repository.
fn text_message() -> String {
    let head = r#"{"type":"text/plain","content":""#;
    let tail = r#"","id":"5f3c2a1e-8b7d-4c6a-9e0f-1a2b3c4d5e6f","from":"alice@example.com/home","to":"bob@example.com/phone"}"#;
    let fill = 209 - head.len() - tail.len();
    let text: String = "Hello, Bob! ".chars().cycle().take(fill).collect();
    let s = format!("{head}{text}{tail}");
    assert_eq!(s.len(), 209);
    s
}

const COMMAND: &str = r#"{"uri":"/presence","type":"application/vnd.lime.presence+json","resource":{"status":"available","message":"At work","routingRule":"identity","priority":2,"instances":["home","phone"]},"method":"set","id":"9cbe5fe1-a4e7-4a5b-8a6a-2f43c3b7d1e0","from":"jesse@breakingbad.com/home","to":"postmaster@breakingbad.com"}"#;

const SESSION: &str = r#"{"state":"authenticating","scheme":"plain","authentication":{"password":"aWxvdmV1d3c="},"id":"d35ad2be-1f2c-4d5e-8a9b-0c1d2e3f4a5b","from":"gale@breakingbad.com/lab"}"#;

fn bench_envelopes(c: &mut Criterion) {
    let message = text_message();
    let cases = [
        ("text_message_209B", message.as_str()),
        ("command_json_resource", COMMAND),
        ("session_plain_auth", SESSION),
    ];
    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Elements(1));
    for (name, json) in cases {
        let env: Envelope = json.parse().expect("benchmark input parses");
        group.bench_with_input(BenchmarkId::new("parse", name), json, |b, json| {
            b.iter(|| Envelope::from_slice(json.as_bytes()).expect("parses"));
        });
        let mut out = Vec::with_capacity(512);
        group.bench_with_input(BenchmarkId::new("serialize", name), &env, |b, env| {
            b.iter(|| {
                out.clear();
                env.write_json(&mut out);
                out.len()
            });
        });
        group.bench_with_input(BenchmarkId::new("parse_serialize", name), json, |b, json| {
            b.iter(|| {
                let env = Envelope::from_slice(json.as_bytes()).expect("parses");
                out.clear();
                env.write_json(&mut out);
                out.len()
            });
        });
    }
    group.finish();
}

fn bench_framing(c: &mut Criterion) {
    let message = text_message();
    let stream: Vec<u8> = message.repeat(1000).into_bytes();
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("decode_1000_text_messages_in_4KiB_chunks", |b| {
        b.iter(|| {
            let mut decoder = EnvelopeDecoder::new();
            let mut n = 0;
            for chunk in stream.chunks(4096) {
                decoder.push(chunk);
                while decoder.next_envelope().expect("valid stream").is_some() {
                    n += 1;
                }
            }
            assert_eq!(n, 1000);
        });
    });
    group.finish();
}

criterion_group!(benches, bench_envelopes, bench_framing);
criterion_main!(benches);
