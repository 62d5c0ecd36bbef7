//! A TCP client that upgrades to TLS in band and trusts only a private certificate authority.
//!
//! ```text
//! cargo run -p lime-core --example tls_client -- make-certs DIR
//! lime serve --tcp 127.0.0.1:55321 --ws off --cert DIR/server.pem --key DIR/server-key.pem
//! cargo run -p lime-core --example tls_client -- net.tcp://localhost:55321 DIR/ca.pem
//! ```
//!
//! `make-certs DIR` generates, at run time, a CA (`ca.pem`) and a server certificate it signs
//! (`server.pem`, `server-key.pem`) for `localhost` and `127.0.0.1`. The client then connects
//! twice: first with the default roots (the Mozilla store), which must reject the server,
//! then trusting only `ca.pem`, negotiating `tls` and sending `get /ping` over the encrypted
//! session.

use std::{error::Error, path::Path, time::Duration};

use lime::{
    channel::{ClientChannel, EstablishOptions},
    transport::{connect, tls::ClientTlsConfig},
    Authentication, Command, CommandMethod, CommandStatus, SessionCompression, SessionEncryption,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// Writes `ca.pem`, `server.pem` and `server-key.pem` into `dir`.
fn make_certs(dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "lime example CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;

    let key = KeyPair::generate()?;
    // `new` turns "127.0.0.1" into an IP address entry, so both URIs verify.
    let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?
        .signed_by(&key, &ca)?;

    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    std::fs::write(dir.join("server.pem"), server.pem())?;
    std::fs::write(dir.join("server-key.pem"), key.serialize_pem())?;
    println!("wrote ca.pem, server.pem and server-key.pem to {}", dir.display());
    Ok(())
}

/// Connects, negotiates TLS, and runs one `get /ping` round trip.
async fn ping_over_tls(uri: &str, tls: &ClientTlsConfig) -> Result<Duration, Box<dyn Error>> {
    let started = std::time::Instant::now();
    let channel = ClientChannel::new(connect(uri, tls).await?);
    // The TLS handshake happens inside `establish_session`, right after the server accepts
    // the negotiated `tls` encryption; certificate errors surface there.
    let options = EstablishOptions::new("secure@localhost".parse()?, "tls", Authentication::Guest)
        .negotiate(SessionCompression::None, SessionEncryption::Tls);
    let session = channel.establish_session(options).await?;
    let ping = Command::request(CommandMethod::Get, "/ping".parse()?);
    let response = channel.process_command(ping, Duration::from_secs(5)).await?;
    if response.status != CommandStatus::Success {
        return Err(format!("ping failed: {:?}", response.reason).into());
    }
    println!("session {:?} established after the TLS upgrade", session.id);
    channel.finish().await?;
    Ok(started.elapsed())
}

async fn run(uri: &str, ca: &Path) -> Result<(), Box<dyn Error>> {
    // 1. The default configuration trusts the public roots only: the private CA is unknown.
    match ping_over_tls(uri, &ClientTlsConfig::default()).await {
        Err(e) => println!("default roots: rejected as expected ({e})"),
        Ok(_) => return Err("the server was trusted without its CA".into()),
    }
    // 2. Trust exactly the private CA.
    let tls = ClientTlsConfig::builder().without_default_roots().add_roots_pem_file(ca)?.build()?;
    let elapsed = ping_over_tls(uri, &tls).await?;
    println!("private CA: ping round trip over TLS done in {elapsed:?}");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, dir] if cmd == "make-certs" => make_certs(Path::new(dir)),
        [uri, ca] => run(uri, Path::new(ca)).await,
        _ => Err("usage: tls_client make-certs DIR | tls_client URI CA_PEM".into()),
    }
}
