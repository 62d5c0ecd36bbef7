//! A routing server with its own [`Authenticator`]: clients authenticate with the `key`
//! scheme against keys given on the command line, and only in the server's domain.
//!
//! ```text
//! cargo run -p lime-core --example auth_server -- [ADDR] [IDENTITY=KEY ...]
//! ```
//!
//! `ADDR` is the TCP listen address (default `127.0.0.1:55321`; port 0 picks a free one, and
//! the server prints the address it got). Without `IDENTITY=KEY` pairs the only user is
//! `alice@localhost` with key `alice-secret`. The server runs until Ctrl-C, then fails every
//! session with reason 11 and exits once the connections are closed.
//!
//! ```text
//! lime client net.tcp://127.0.0.1:55321 --identity alice@localhost --key alice-secret
//! ```
//!
//! [`Authenticator`]: lime::server::Authenticator

use std::{collections::HashMap, error::Error, sync::Arc};

use async_trait::async_trait;
use lime::{
    server::{AuthOutcome, AuthRequest, Authenticator, Server, ServerConfig},
    Authentication, AuthenticationScheme, Identity,
};

/// Accepts `key` authentication for known identities of one domain.
struct KeyTable {
    domain: String,
    keys: HashMap<Identity, String>,
}

#[async_trait]
impl Authenticator for KeyTable {
    /// Offered to clients in the `authenticating` session, in order of preference.
    fn schemes(&self) -> Vec<AuthenticationScheme> {
        vec![AuthenticationScheme::Key]
    }

    /// Called once per attempt, only with a scheme from `schemes()`.
    async fn authenticate(&self, request: AuthRequest<'_>) -> AuthOutcome {
        let identity = request.node.to_identity();
        if identity.domain() != Some(self.domain.as_str()) {
            println!("rejected {identity}: not in {}", self.domain);
            return AuthOutcome::Reject;
        }
        // `decoded_secret` undoes the base64 of the wire form; it is `None` for schemes
        // without a secret and an error for invalid base64.
        let given = match request.authentication {
            Authentication::Key { .. } => request.authentication.decoded_secret(),
            _ => None,
        };
        match (given, self.keys.get(&identity)) {
            (Some(Ok(given)), Some(expected)) if &given == expected => {
                println!("accepted {identity}");
                AuthOutcome::Accept
            }
            _ => {
                println!("rejected {identity}: wrong or missing key");
                AuthOutcome::Reject
            }
        }
    }
}

fn key_table(pairs: &[String]) -> Result<KeyTable, Box<dyn Error>> {
    let mut keys = HashMap::new();
    for pair in pairs {
        let (identity, key) =
            pair.split_once('=').ok_or_else(|| format!("expected IDENTITY=KEY, got {pair:?}"))?;
        keys.insert(identity.parse::<Identity>()?, key.to_owned());
    }
    if keys.is_empty() {
        keys.insert("alice@localhost".parse()?, "alice-secret".to_owned());
    }
    Ok(KeyTable { domain: "localhost".to_owned(), keys })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (addr, pairs) = match args.split_first() {
        Some((first, rest)) if !first.contains('=') => (first.clone(), rest),
        _ => ("127.0.0.1:55321".to_owned(), args.as_slice()),
    };
    let config = ServerConfig {
        tcp: vec![addr],
        authenticator: Arc::new(key_table(pairs)?),
        ..ServerConfig::default()
    };
    let server = Server::bind(config).await?.start();
    for addr in server.tcp_addrs() {
        println!("listening on net.tcp://{addr}");
    }
    tokio::signal::ctrl_c().await?;
    println!("shutting down ({} sessions)", server.session_count());
    server.shutdown().await;
    Ok(())
}
