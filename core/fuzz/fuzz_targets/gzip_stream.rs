//! The gzip layer of the client connection (after a gzip negotiation).
//!
//! Input: byte 0 picks the mode, bytes 1..4 the chunk sizes, the rest is the payload.
//! - raw: the payload is fed as the compressed stream (corrupt headers, truncated blocks,
//!   trailers, members back to back);
//! - compressed: the payload is compressed with a sync flush after every chunk (at least 32
//!   bytes) and fed one
//!   flushed block at a time, and the events must equal those of an uncompressed established
//!   connection fed the same payload (gzip changes nothing but the bytes on the wire).
//!
//! Checks: no panic; errors close the connection; it closes exactly once.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use lime_fuzz::{chunks, client};

thread_local! {
    static GZIP: RefCell<client::GzipWriter> = RefCell::new(client::GzipWriter::default());
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let small = data[0] & 2 != 0;
    let payload = &data[4..];
    if data[0] & 1 == 0 {
        let mut c = client::gzip_negotiated(small);
        client::feed(&mut c, &chunks(payload, &data[1..4]));
        return;
    }
    // Chunks of at least 32 bytes here: each is a flushed deflate block, and a stream of
    // one-byte blocks costs far more than it teaches.
    let sizes: Vec<u8> = data[1..4].iter().map(|&s| s.max(32)).collect();
    let pieces = chunks(payload, &sizes);
    GZIP.with(|gz| {
        let mut gz = gz.borrow_mut();
        let mut c = client::gzip_established(small, &mut gz);
        let compressed: Vec<Vec<u8>> = pieces.iter().map(|p| gz.write_flush(p)).collect();
        let compressed: Vec<&[u8]> = compressed.iter().map(Vec::as_slice).collect();
        let through_gzip = client::feed(&mut c, &compressed);
        let mut plain = client::established(small);
        let direct = client::feed(&mut plain, &pieces);
        assert_eq!(through_gzip, direct, "gzip changed what was delivered");
    });
});
