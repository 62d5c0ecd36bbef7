//! Integration tests: real sessions between clients and the server over the memory, TCP,
//! TCP+TLS, WebSocket and WSS transports, on 127.0.0.1 port 0, each bounded in time.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod bad_input;
mod common;
mod flow;
mod hardening;
mod sessions;
mod transport_security;
