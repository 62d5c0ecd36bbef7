//! The TCP framer (`FrameDecoder`) and `EnvelopeDecoder` on an arbitrary byte stream.
//!
//! Input: byte 0 picks the size limit (small limits reach the too-large paths), bytes 1..4 the
//! chunk sizes, the rest is the stream. Checks: no panic; every frame starts with `{`, ends with
//! `}`, fits the limit, and starts after the previous one; the frames and the error are the
//! same whether the stream arrives in one piece or in chunks; every decoded envelope
//! round-trips.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use lime::{codec::Frame, EnvelopeDecoder, FrameDecoder, FrameError};
use lime_fuzz::{check_envelope_roundtrip, chunks};

fn frames(stream: &[&[u8]], max: usize) -> (Vec<Frame>, Result<(), FrameError>) {
    let mut decoder = FrameDecoder::with_max_envelope_size(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in stream {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => out.push(frame),
                Ok(None) => break,
                Err(e) => {
                    // The error sticks.
                    assert_eq!(decoder.decode(&mut buf).err(), Some(e.clone()));
                    return (out, Err(e));
                }
            }
        }
    }
    (out, decoder.finish())
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let max = match data[0] % 4 {
        0 => 16,
        1 => 64,
        2 => 1024,
        _ => lime::DEFAULT_MAX_ENVELOPE_SIZE,
    };
    let sizes = &data[1..4];
    let stream = &data[4..];

    let (whole, whole_end) = frames(&[stream], max);
    let pieces = chunks(stream, sizes);
    let (chunked, chunked_end) = frames(&pieces, max);
    assert_eq!(whole, chunked, "chunking changed the frames");
    assert_eq!(whole_end, chunked_end, "chunking changed the end of the stream");
    let mut last_end = 0u64;
    for frame in &whole {
        assert!(frame.bytes.first() == Some(&b'{') && frame.bytes.last() == Some(&b'}'));
        assert!(frame.bytes.len() <= max);
        assert!(frame.offset >= last_end);
        let at = usize::try_from(frame.offset).unwrap_or(usize::MAX);
        assert_eq!(stream.get(at..at + frame.bytes.len()), Some(&frame.bytes[..]));
        last_end = frame.offset + frame.bytes.len() as u64;
    }

    let mut decoder = EnvelopeDecoder::with_max_envelope_size(max);
    'feed: for piece in &pieces {
        decoder.push(piece);
        loop {
            match decoder.next_envelope() {
                Ok(Some((_, envelope))) => check_envelope_roundtrip(&envelope),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    let _ = decoder.finish();
});
