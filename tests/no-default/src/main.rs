//! lime-core without features, at run time: `make check-features` runs this with
//! `cargo run -p lime-no-default-check`, which builds lime-core for this package alone (with
//! no features). A build of the whole workspace turns `tls` on through the other members; then
//! the program says so and checks nothing.

use lime::{
    channel::{ClientOptions, EstablishOptions},
    connection::ClientConnection,
    transport::tls::ClientTlsConfig,
    Authentication, Error, TransportError,
};

fn main() -> Result<(), Error> {
    if ClientConnection::connect("wss://localhost", ClientTlsConfig::default(), opts()).is_ok() {
        println!("lime-core was built with TLS here (a workspace build): nothing to check");
        return Ok(());
    }

    // wss:// is refused at once, with the reason.
    let refused = ClientConnection::connect("wss://localhost", ClientTlsConfig::default(), opts());
    let Err(Error::Transport(TransportError::Unsupported(why))) = refused else {
        panic!("wss:// without TLS: expected Unsupported, got {refused:?}");
    };
    println!("wss:// refused: {why}");

    // A server offering `tls` first: the client chooses `none`.
    let mut conn =
        ClientConnection::connect("net.tcp://localhost", ClientTlsConfig::default(), opts())?;
    conn.establish(EstablishOptions::new("a@localhost".parse()?, "home", Authentication::Guest))?;
    let new = String::from_utf8_lossy(&conn.take_output()).into_owned();
    conn.receive(
        br#"{"id":"s1","from":"postmaster@localhost/s","state":"negotiating","encryptionOptions":["tls","none"],"compressionOptions":["none"]}"#,
    )?;
    let choice = String::from_utf8_lossy(&conn.take_output()).into_owned();
    assert_eq!(new, r#"{"state":"new"}"#);
    assert!(choice.contains(r#""encryption":"none""#), "TLS was chosen: {choice}");
    println!("negotiation: sent {choice}");
    Ok(())
}

fn opts() -> ClientOptions {
    ClientOptions::default()
}
