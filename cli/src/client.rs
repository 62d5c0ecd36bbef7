//! `lime client`: connect, establish, send, and print what arrives.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use lime::{
    channel::{ChannelEvent, ClientChannel, ClientOptions, EstablishOptions},
    transport::{connect_with, tls::ClientTlsConfig, TransportOptions},
    Authentication, Command, CommandMethod, Document, Envelope, Identity, MediaType, Message, Node,
    SessionCompression, SessionEncryption, DEFAULT_MAX_ENVELOPE_SIZE,
};

/// Arguments of `lime client`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Server URI: net.tcp://host:port, ws://host:port or wss://host:port.
    #[arg(default_value = "net.tcp://127.0.0.1:55321")]
    uri: String,
    /// Our identity (name@domain).
    #[arg(long, default_value = "cli@localhost")]
    identity: String,
    /// Our instance.
    #[arg(long, default_value = "cli")]
    instance: String,
    /// Authenticate with this password (`plain`); guest without --password/--key.
    #[arg(long, conflicts_with = "key")]
    password: Option<String>,
    /// Authenticate with this key (`key`).
    #[arg(long)]
    key: Option<String>,
    /// Encryption to choose when the server negotiates (tls or none; default: its first option).
    #[arg(long)]
    encryption: Option<String>,
    /// Trust these extra root certificates (PEM), e.g. a test CA.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Present this client certificate (PEM; with --client-key).
    #[arg(long, requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// Private key of --client-cert (PEM).
    #[arg(long, requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// Send a text/plain message with this text.
    #[arg(long, short = 'm')]
    message: Option<String>,
    /// Destination of the message or command (a node or identity).
    #[arg(long)]
    to: Option<String>,
    /// Send a command request: "METHOD URI", e.g. "get /ping".
    #[arg(long, short = 'c')]
    command: Option<String>,
    /// Resource of the command (JSON), sent with --resource-type.
    #[arg(long, requires = "resource_type")]
    resource: Option<String>,
    /// Media type of --resource.
    #[arg(long)]
    resource_type: Option<String>,
    /// Keep printing received envelopes for this many seconds before finishing (0 = finish
    /// as soon as the command response, if any, arrived).
    #[arg(long, default_value_t = 0.0)]
    listen: f64,
    /// Finish after this many messages, notifications or commands arrived (with --listen as
    /// the upper bound when given).
    #[arg(long)]
    count: Option<usize>,
    /// Seconds to wait for the session and the command response.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Send automatic `received` notifications for messages.
    #[arg(long)]
    receipts: bool,
    /// Log level unless RUST_LOG is set.
    #[arg(long, default_value = "warn")]
    pub(crate) log_level: String,
}

fn print(env: &Envelope) {
    println!("{}", env.to_json());
}

fn print_event(event: &ChannelEvent) {
    match event {
        ChannelEvent::Message(m) => print(&m.clone().into()),
        ChannelEvent::Notification(n) => print(&n.clone().into()),
        ChannelEvent::Command(c) => print(&c.clone().into()),
        ChannelEvent::Finished(s) | ChannelEvent::Failed(s) => print(&s.clone().into()),
        ChannelEvent::Closed { error: Some(e) } => eprintln!("lime client: connection closed: {e}"),
        ChannelEvent::Closed { error: None } => eprintln!("lime client: connection closed"),
    }
}

fn tls(args: &Args) -> Result<ClientTlsConfig, String> {
    let mut builder = ClientTlsConfig::builder();
    if let Some(ca) = &args.ca {
        builder = builder.add_roots_pem_file(ca).map_err(|e| e.to_string())?;
    }
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        let read =
            |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        builder =
            builder.client_certificate_pem(&read(cert)?, &read(key)?).map_err(|e| e.to_string())?;
    }
    builder.build().map_err(|e| e.to_string())
}

fn secs(v: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| format!("{what} must be a non-negative number of seconds"))
}

fn command(args: &Args) -> Result<Option<Command>, String> {
    let Some(text) = &args.command else { return Ok(None) };
    let (method, uri) =
        text.split_once(' ').ok_or("--command takes \"METHOD URI\", e.g. \"get /ping\"")?;
    let method: CommandMethod = method.parse().map_err(|e| format!("{e}"))?;
    let mut cmd = Command::request(method, uri.trim().parse().map_err(|e| format!("{e}"))?);
    if let (Some(resource), Some(ty)) = (&args.resource, &args.resource_type) {
        let ty: MediaType = ty.parse().map_err(|e| format!("{e}"))?;
        let value = if ty.is_json() {
            serde_json::from_str(resource).map_err(|e| format!("--resource is not JSON: {e}"))?
        } else {
            serde_json::Value::String(resource.clone())
        };
        cmd.resource = Some(Document::new(ty, value));
    }
    if let Some(to) = &args.to {
        cmd.to = Some(to.parse::<Node>().map_err(|e| format!("{e}"))?);
    }
    Ok(Some(cmd))
}

async fn session(args: &Args) -> Result<(), String> {
    let identity: Identity = args.identity.parse().map_err(|e| format!("--identity: {e}"))?;
    let limit = secs(args.timeout, "--timeout")?;
    let listen = secs(args.listen, "--listen")?;
    let request = command(args)?;
    let encryption = match args.encryption.as_deref() {
        None => None,
        Some(e) => Some(e.parse::<SessionEncryption>().map_err(|e| format!("--encryption: {e}"))?),
    };
    let transport = tokio::time::timeout(
        limit,
        connect_with(&args.uri, &tls(args)?, TransportOptions::default()),
    )
    .await
    .map_err(|_| format!("timed out connecting to {}", args.uri))?
    .map_err(|e| format!("cannot connect to {}: {e}", args.uri))?;
    let mut options = ClientOptions {
        handshake_timeout: limit,
        max_envelope_size: DEFAULT_MAX_ENVELOPE_SIZE,
        ..ClientOptions::default()
    };
    options.channel.auto_notify_receipt = args.receipts;
    let channel = ClientChannel::with_options(transport, options);
    let auth = match (&args.password, &args.key) {
        (Some(p), _) => Authentication::plain(p),
        (_, Some(k)) => Authentication::key(k),
        _ => Authentication::Guest,
    };
    let mut establish = EstablishOptions::new(identity, &args.instance, auth);
    if let Some(e) = encryption {
        establish = establish.negotiate(SessionCompression::None, e);
    }
    let established =
        channel.establish_session(establish).await.map_err(|e| format!("session: {e}"))?;
    print(&established.into());

    if let Some(text) = &args.message {
        let mut m = Message::text(text.clone()).with_id(lime::channel::new_id());
        if let Some(to) = &args.to {
            m.to = Some(to.parse::<Node>().map_err(|e| format!("--to: {e}"))?);
        }
        print(&m.clone().into());
        channel.send_message(m).await.map_err(|e| format!("send: {e}"))?;
    }
    if let Some(cmd) = request {
        let response =
            channel.process_command(cmd, limit).await.map_err(|e| format!("command: {e}"))?;
        print(&response.into());
    }
    let listen = if args.count.is_some() && listen.is_zero() { limit } else { listen };
    let deadline = tokio::time::Instant::now() + listen;
    let mut received = 0;
    while args.count.is_none_or(|n| received < n) {
        match tokio::time::timeout_at(deadline, channel.receive()).await {
            Err(_) => break,
            Ok(None) => return Ok(()),
            Ok(Some(event)) => {
                print_event(&event);
                received += 1;
                if matches!(
                    event,
                    ChannelEvent::Finished(_)
                        | ChannelEvent::Failed(_)
                        | ChannelEvent::Closed { .. }
                ) {
                    return Ok(());
                }
            }
        }
    }
    let finished = channel.finish().await.map_err(|e| format!("finish: {e}"))?;
    print(&finished.into());
    Ok(())
}

pub(crate) async fn run(args: &Args) -> ExitCode {
    match session(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lime client: {e}");
            ExitCode::from(1)
        }
    }
}
