//! The sans-IO client connection (`ClientConnection::receive`) fed arbitrary server bytes at
//! each stage: after `new`, established (default and 512-byte limits), waiting for the TLS
//! handshake, waiting for the WebSocket upgrade answer, and with gzip negotiated.
//!
//! Input: byte 0 picks the stage, bytes 1..4 the chunk sizes, the rest is what the server
//! sends. Checks: no panic; a failed `receive` closes the connection; the connection closes
//! exactly once after the end of the stream and a timeout.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lime_fuzz::{chunks, client};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let mut c = match data[0] % 6 {
        0 => client::new_session(false),
        1 => client::established(false),
        2 => client::established(true),
        3 => client::negotiating_tls(),
        4 => client::websocket(),
        _ => client::gzip_negotiated(false),
    };
    client::feed(&mut c, &chunks(&data[4..], &data[1..4]));
});
