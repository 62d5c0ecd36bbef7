//! `lime demo`: a server and two clients in one process, over real loopback sockets.

use std::{process::ExitCode, sync::Arc, time::Duration};

use lime::{
    channel::{ChannelEvent, ChannelOptions, ClientChannel, ClientOptions, EstablishOptions},
    server::{AuthConfig, Server, ServerConfig, UserFile},
    transport::{
        connect,
        tls::{ClientTlsConfig, ServerTlsConfig},
    },
    Authentication, AuthenticationScheme, Command, CommandMethod, Document, Envelope, Message,
    SessionCompression, SessionEncryption,
};

/// Arguments of `lime demo`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Log level unless RUST_LOG is set.
    #[arg(long, default_value = "warn")]
    pub(crate) log_level: String,
}

const T: Duration = Duration::from_secs(10);

fn show(who: &str, what: &str, env: &Envelope) {
    println!("  {who:<14} {what:<28} {}", env.to_json());
}

async fn step<F, R, E>(what: &str, f: F) -> Result<R, String>
where
    F: std::future::Future<Output = Result<R, E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(T, f).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: timed out")),
    }
}

async fn next(who: &str, c: &ClientChannel) -> Result<ChannelEvent, String> {
    match tokio::time::timeout(T, c.receive()).await {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Err(format!("{who}: the channel ended unexpectedly")),
        Err(_) => Err(format!("{who}: nothing arrived in time")),
    }
}

fn event_envelope(e: &ChannelEvent) -> Option<Envelope> {
    match e {
        ChannelEvent::Message(m) => Some(m.clone().into()),
        ChannelEvent::Notification(n) => Some(n.clone().into()),
        ChannelEvent::Command(c) => Some(c.clone().into()),
        ChannelEvent::Finished(s) | ChannelEvent::Failed(s) => Some(s.clone().into()),
        ChannelEvent::Closed { .. } => None,
    }
}

async fn demo() -> Result<(), String> {
    println!("lime demo: a LIME server and two clients over loopback sockets\n");
    // A throwaway certificate so alice's TCP session can negotiate TLS in band.
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).map_err(|e| e.to_string())?;
    let (cert, key) = (ck.cert.pem(), ck.signing_key.serialize_pem());
    let server_tls =
        ServerTlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).map_err(|e| e.to_string())?;
    let client_tls = ClientTlsConfig::builder()
        .without_default_roots()
        .add_roots_pem(cert.as_bytes())
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let mut users = UserFile::default();
    users.insert(
        "alice@localhost".parse().map_err(|e| format!("{e}"))?,
        AuthenticationScheme::Plain,
        "wonderland",
    );
    let config = ServerConfig {
        tcp: vec!["127.0.0.1:0".into()],
        ws: vec!["127.0.0.1:0".into()],
        tls: Some(server_tls),
        authenticator: Arc::new(AuthConfig {
            guest: true,
            users: Some(users),
            ..AuthConfig::default()
        }),
        ..ServerConfig::default()
    };
    let server = Server::bind(config).await.map_err(|e| e.to_string())?.start();
    let tcp = format!("net.tcp://localhost:{}", server.tcp_addrs()[0].port());
    let ws = format!("ws://localhost:{}", server.ws_addrs()[0].port());
    println!("server  postmaster@localhost/server listening on {tcp} and {ws}\n");

    let options = ClientOptions {
        channel: ChannelOptions { auto_notify_receipt: true, ..ChannelOptions::client() },
        ..ClientOptions::default()
    };

    println!(
        "1. alice connects over TCP, negotiates TLS in band and authenticates with a password"
    );
    let transport = step("alice connects", connect(&tcp, &client_tls)).await?;
    let alice = ClientChannel::with_options(transport, options.clone());
    let s = step("alice starts", alice.start_new_session()).await?;
    show("server → alice", "offers options", &s.into());
    println!("  alice → server chooses encryption tls; after the server confirms, both ends run the TLS handshake on the same socket");
    let s = step(
        "alice negotiates",
        alice.negotiate_session(SessionCompression::None, SessionEncryption::Tls),
    )
    .await?;
    show("server → alice", "(now inside TLS)", &s.into());
    let alice_id = "alice@localhost".parse().map_err(|e| format!("{e}"))?;
    let s = step(
        "alice authenticates",
        alice.authenticate_session(&alice_id, Authentication::plain("wonderland"), Some("home")),
    )
    .await?;
    show("server → alice", "session established", &s.into());

    println!("\n2. bob connects over WebSocket as a guest");
    let transport = step("bob connects", connect(&ws, &ClientTlsConfig::default())).await?;
    let bob = ClientChannel::with_options(transport, options);
    let bob_id = "bob@localhost".parse().map_err(|e| format!("{e}"))?;
    let s = step(
        "bob establishes",
        bob.establish_session(EstablishOptions::new(bob_id, "phone", Authentication::Guest)),
    )
    .await?;
    show("server → bob", "session established", &s.into());

    println!("\n3. alice sends bob a message; bob's channel confirms receipt automatically");
    let hello = Message::text("Hi Bob, lunch at noon?")
        .with_id("msg-1")
        .with_to("bob@localhost/phone".parse().map_err(|e| format!("{e}"))?);
    show("alice → bob", "message", &hello.clone().into());
    step("alice sends", alice.send_message(hello)).await?;
    let got = next("bob", &bob).await?;
    let Some(env) = event_envelope(&got) else { return Err("bob: connection closed".into()) };
    show("bob receives", "routed by the server", &env);
    let receipt = next("alice", &alice).await?;
    let Some(env) = event_envelope(&receipt) else { return Err("alice: connection closed".into()) };
    show("alice receives", "received notification", &env);

    println!("\n4. a command round trip: alice asks bob's application for its status");
    let ask = Command::request(CommandMethod::Get, "/status".parse().map_err(|e| format!("{e}"))?)
        .with_to("bob@localhost/phone".parse().map_err(|e| format!("{e}"))?);
    let pending = alice.process_command(ask, T);
    let answer = async {
        let ChannelEvent::Command(request) = next("bob", &bob).await? else {
            return Err("bob expected a command".to_owned());
        };
        show("bob receives", "command request", &request.clone().into());
        let response = Command::success_for(&request, Some(Document::text("available")));
        step("bob answers", bob.send_command(response)).await
    };
    let (response, answered) = tokio::join!(pending, answer);
    answered?;
    let response = response.map_err(|e| format!("alice's command: {e}"))?;
    show("alice receives", "the response (correlated)", &response.into());
    let pong = step(
        "ping",
        alice.process_command(
            Command::request(CommandMethod::Get, "/ping".parse().map_err(|e| format!("{e}"))?),
            T,
        ),
    )
    .await?;
    show("alice receives", "the server's ping reply", &pong.into());

    println!("\n5. both finish their sessions; the server shuts down");
    let s = step("alice finishes", alice.finish()).await?;
    show("server → alice", "finished", &s.into());
    let s = step("bob finishes", bob.finish()).await?;
    show("server → bob", "finished", &s.into());
    tokio::time::timeout(T, server.shutdown())
        .await
        .map_err(|_| "server shutdown timed out".to_owned())?;
    println!(
        "\nlime demo: done (TLS over TCP, WebSocket, routing, receipts, commands, clean finish)"
    );
    Ok(())
}

pub(crate) async fn run(_args: &Args) -> ExitCode {
    match demo().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lime demo: {e}");
            ExitCode::from(1)
        }
    }
}
