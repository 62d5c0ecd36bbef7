//! `lime serve`: the routing server on the command line.

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use lime::{
    server::{
        cluster::{
            nats::{NatsBroker, NatsOptions},
            ClusterConfig,
        },
        AuthConfig, DuplicatePolicy, Server, ServerConfig, ServerHandle, ThrottleConfig, UserFile,
    },
    transport::{tls::ServerTlsConfig, TransportOptions},
    Node, DEFAULT_MAX_ENVELOPE_SIZE,
};

/// Arguments of `lime serve`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct Args {
    /// TCP listen address (repeatable); `off` disables TCP.
    #[arg(long, default_value = "127.0.0.1:55321")]
    pub(crate) tcp: Vec<String>,
    /// WebSocket listen address (repeatable); `off` disables WebSocket.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) ws: Vec<String>,
    /// Server certificate chain (PEM): enables `tls` negotiation on TCP (and `--wss`).
    #[arg(long, requires = "key")]
    pub(crate) cert: Option<PathBuf>,
    /// Private key of the certificate (PEM).
    #[arg(long, requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// Request client certificates issued by these roots (PEM), for `transport` authentication.
    #[arg(long, requires = "cert")]
    pub(crate) client_ca: Option<PathBuf>,
    /// Serve WebSocket over TLS (`wss://`) with `--cert`/`--key`.
    #[arg(long, requires = "cert")]
    pub(crate) wss: bool,
    /// The server's domain: its node is `postmaster@DOMAIN/server`.
    #[arg(long, default_value = "localhost")]
    pub(crate) domain: String,
    /// Authentication schemes to accept, comma-separated: guest, plain, key, transport (offered
    /// to clients in this order).
    #[arg(long, default_value = "guest", value_delimiter = ',')]
    pub(crate) auth: Vec<String>,
    /// Confine guests to this domain (guests never get the server's identity nor one with
    /// credentials in --users).
    #[arg(long)]
    pub(crate) guest_domain: Option<String>,
    /// User file for `plain` and `key` (lines `identity scheme secret`).
    #[arg(long)]
    pub(crate) users: Option<PathBuf>,
    /// Largest envelope accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_ENVELOPE_SIZE)]
    pub(crate) max_envelope_size: usize,
    /// Seconds a connection has to establish its session (then failed, reason 16).
    #[arg(long, default_value_t = 30.0)]
    pub(crate) handshake_timeout: f64,
    /// Offer gzip compression on TCP (no other LIME implementation supports it).
    #[arg(long)]
    pub(crate) gzip: bool,
    /// A second session of a connected node: `reject` it (reason 12) or `replace` the first.
    #[arg(long, default_value = "reject", value_parser = ["reject", "replace"])]
    pub(crate) duplicates: String,
    /// Outgoing queue per session, in envelopes queued or being written: an envelope for a
    /// session whose queue is full is refused to its sender (reason 51), never waited for.
    #[arg(long, default_value_t = 256)]
    pub(crate) queue_capacity: usize,
    /// Outgoing queue per session, in bytes queued or being written.
    #[arg(long, default_value_t = lime::server::DEFAULT_QUEUE_MAX_BYTES)]
    pub(crate) queue_max_bytes: usize,
    /// Seconds a write to a session may stay blocked (its peer does not read) before the
    /// session is ended as a slow consumer; 0: never.
    #[arg(long, default_value_t = 30.0)]
    pub(crate) send_timeout: f64,
    /// Every session must be encrypted: TCP sessions must negotiate tls (needs --cert/--key;
    /// WebSocket listeners must be --wss or off).
    #[arg(long, requires = "cert")]
    pub(crate) require_tls: bool,
    /// Accept plain/key passwords on unencrypted sessions although the server has a
    /// certificate (without --cert they are always accepted, for local use).
    #[arg(long)]
    pub(crate) allow_cleartext_passwords: bool,
    /// Failed authentications accepted at once per source address and per identity before
    /// attempts are refused unchecked (reason 13); 0 turns throttling off.
    #[arg(long, default_value_t = 10)]
    pub(crate) auth_failures: u32,
    /// Seconds after which one more failed authentication is accepted once throttled.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) auth_retry_interval: f64,
    /// Seconds of silence after which a session is pinged; 0 turns remote ping off.
    #[arg(long, default_value_t = 60.0)]
    pub(crate) ping_interval: f64,
    /// Seconds of silence (with a ping outstanding) after which a session is ended.
    #[arg(long, default_value_t = 180.0)]
    pub(crate) idle_timeout: f64,
    /// TCP keepalive idle time in seconds on accepted sockets (a dead peer is dropped after about
    /// twice it); 0 leaves the system default.
    #[arg(long, default_value_t = 60.0)]
    pub(crate) tcp_keepalive: f64,
    /// Join a cluster through NATS (JetStream on, 2.10 or later): a seed URL such as
    /// nats://127.0.0.1:4222 (repeatable). Servers with the same NATS and --cluster-name form
    /// one routing domain.
    #[arg(long)]
    pub(crate) cluster: Vec<String>,
    /// Names the cluster (the NATS key-value bucket and subject prefix).
    #[arg(long, default_value = "lime")]
    pub(crate) cluster_name: String,
    /// Seconds a dead server's nodes stay registered after its last lease refresh (refreshed
    /// every third of it).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) cluster_lease: f64,
    /// NATS credentials file (.creds: JWT and nkey seed).
    #[arg(long)]
    pub(crate) cluster_creds: Option<PathBuf>,
    /// NATS user (with --cluster-password).
    #[arg(long, requires = "cluster_password")]
    pub(crate) cluster_user: Option<String>,
    /// NATS password.
    #[arg(long, requires = "cluster_user")]
    pub(crate) cluster_password: Option<String>,
    /// NATS authentication token.
    #[arg(long)]
    pub(crate) cluster_token: Option<String>,
    /// Root certificates (PEM) to verify the NATS servers with.
    #[arg(long)]
    pub(crate) cluster_ca: Option<PathBuf>,
    /// Client certificate (PEM) for NATS mutual TLS.
    #[arg(long, requires = "cluster_key")]
    pub(crate) cluster_cert: Option<PathBuf>,
    /// Key of --cluster-cert (PEM).
    #[arg(long, requires = "cluster_cert")]
    pub(crate) cluster_key: Option<PathBuf>,
    /// Require TLS on the NATS connection.
    #[arg(long)]
    pub(crate) cluster_tls: bool,
    /// Serve Prometheus metrics on http://ADDR/metrics and a health check on /healthz
    /// (`host:port`; port 0 picks a free one, printed at start).
    #[arg(long)]
    pub(crate) metrics: Option<String>,
    /// Log level (error, warn, info, debug, trace) unless RUST_LOG is set.
    #[arg(long, default_value = "info")]
    pub(crate) log_level: String,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            tcp: vec!["127.0.0.1:55321".into()],
            ws: vec!["127.0.0.1:8080".into()],
            cert: None,
            key: None,
            client_ca: None,
            wss: false,
            domain: "localhost".into(),
            auth: vec!["guest".into()],
            guest_domain: None,
            users: None,
            max_envelope_size: DEFAULT_MAX_ENVELOPE_SIZE,
            handshake_timeout: 30.0,
            gzip: false,
            duplicates: "reject".into(),
            queue_capacity: 256,
            queue_max_bytes: lime::server::DEFAULT_QUEUE_MAX_BYTES,
            send_timeout: 30.0,
            require_tls: false,
            allow_cleartext_passwords: false,
            auth_failures: 10,
            auth_retry_interval: 2.0,
            ping_interval: 60.0,
            idle_timeout: 180.0,
            tcp_keepalive: 60.0,
            cluster: Vec::new(),
            cluster_name: "lime".into(),
            cluster_lease: 10.0,
            cluster_creds: None,
            cluster_user: None,
            cluster_password: None,
            cluster_token: None,
            cluster_ca: None,
            cluster_cert: None,
            cluster_key: None,
            cluster_tls: false,
            metrics: None,
            log_level: "info".into(),
        }
    }
}

/// `Some(seconds)` for a positive number, `None` for 0, an error otherwise.
fn seconds(flag: &str, value: f64) -> Result<Option<Duration>, String> {
    if !(value.is_finite() && value >= 0.0) || Duration::try_from_secs_f64(value).is_err() {
        return Err(format!("--{flag} must be a number of seconds (0 turns it off)"));
    }
    Ok((value > 0.0).then(|| Duration::from_secs_f64(value)))
}

fn addrs(list: &[String]) -> Vec<String> {
    list.iter().filter(|a| !a.eq_ignore_ascii_case("off")).cloned().collect()
}

/// Builds the server configuration from the flags.
pub(crate) fn config(args: &Args) -> Result<ServerConfig, String> {
    let mut auth = AuthConfig::default();
    let mut wants_users = false;
    for scheme in &args.auth {
        let scheme = scheme.trim().to_ascii_lowercase();
        if let Ok(parsed) = scheme.parse::<lime::AuthenticationScheme>() {
            auth.order.push(parsed);
        }
        match scheme.as_str() {
            "guest" => auth.guest = true,
            "plain" | "key" => wants_users = true,
            "transport" => auth.transport = true,
            "" => {}
            other => {
                return Err(format!(
                    "unknown authentication scheme {other:?} (guest, plain, key, transport)"
                ))
            }
        }
    }
    if wants_users {
        let path = args.users.as_ref().ok_or("`plain` and `key` need --users FILE")?;
        let users = UserFile::load(path).map_err(|e| e.to_string())?;
        let allowed: Vec<String> =
            args.auth.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        let mut filtered = UserFile::default();
        for scheme in [lime::AuthenticationScheme::Plain, lime::AuthenticationScheme::Key] {
            if allowed.iter().any(|a| a == scheme.as_str()) {
                filtered.extend_from(&users, scheme);
            }
        }
        auth.users = Some(filtered);
    }
    if let Some(domain) = &args.guest_domain {
        if !auth.guest {
            return Err("--guest-domain needs `guest` in --auth".into());
        }
        let domain = domain.trim();
        if domain.is_empty() || domain.contains(['/', '@']) || domain.chars().any(char::is_control)
        {
            return Err(format!("--guest-domain {domain:?} is not a domain"));
        }
        auth.guest_domain = Some(domain.to_owned());
    }
    if auth.transport && args.client_ca.is_none() {
        return Err("`transport` authentication needs --client-ca (and --cert/--key)".into());
    }
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            let read = |p: &PathBuf| {
                std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            };
            let (cert, key) = (read(cert)?, read(key)?);
            let tls = match &args.client_ca {
                Some(ca) => ServerTlsConfig::with_client_roots_pem(&cert, &key, &read(ca)?),
                None => ServerTlsConfig::from_pem(&cert, &key),
            };
            Some(tls.map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    if !(args.handshake_timeout.is_finite() && args.handshake_timeout > 0.0) {
        return Err("--handshake-timeout must be a positive number of seconds".into());
    }
    if !(args.send_timeout.is_finite() && args.send_timeout >= 0.0)
        || Duration::try_from_secs_f64(args.send_timeout).is_err()
    {
        return Err("--send-timeout must be a number of seconds (0 turns it off)".into());
    }
    if args.queue_capacity == 0 || args.queue_max_bytes == 0 {
        return Err("--queue-capacity and --queue-max-bytes must be positive".into());
    }
    if args.require_tls && !addrs(&args.ws).is_empty() && !args.wss {
        return Err("--require-tls: WebSocket listeners must be --wss (or --ws off)".into());
    }
    let ping_interval = seconds("ping-interval", args.ping_interval)?;
    let idle_timeout = seconds("idle-timeout", args.idle_timeout)?;
    let tcp_keepalive = seconds("tcp-keepalive", args.tcp_keepalive)?;
    let refill = seconds("auth-retry-interval", args.auth_retry_interval)?;
    if refill.is_none() && args.auth_failures > 0 {
        return Err("--auth-retry-interval must be positive (turn throttling off with \
                    --auth-failures 0)"
            .into());
    }
    Ok(ServerConfig {
        node: Node::new(Some("postmaster"), Some(&args.domain), Some("server")),
        tcp: addrs(&args.tcp),
        ws: addrs(&args.ws),
        tls,
        wss: args.wss,
        authenticator: Arc::new(auth),
        handshake_timeout: Duration::from_secs_f64(args.handshake_timeout),
        transport: TransportOptions {
            max_envelope_size: args.max_envelope_size,
            enable_gzip: args.gzip,
        },
        duplicates: if args.duplicates == "replace" {
            DuplicatePolicy::Replace
        } else {
            DuplicatePolicy::Reject
        },
        queue_capacity: args.queue_capacity,
        queue_max_bytes: args.queue_max_bytes,
        send_timeout: (args.send_timeout > 0.0).then(|| Duration::from_secs_f64(args.send_timeout)),
        require_tls: args.require_tls,
        allow_cleartext_passwords: args.allow_cleartext_passwords,
        auth_throttle: ThrottleConfig {
            burst: args.auth_failures,
            refill: refill.unwrap_or(Duration::ZERO),
        },
        remote_ping_interval: ping_interval,
        remote_idle_timeout: idle_timeout,
        tcp_keepalive,
        ..ServerConfig::default()
    })
}

/// The NATS connection options of the `--cluster*` flags (`None` without `--cluster`).
fn nats_options(args: &Args) -> Result<Option<(NatsOptions, Duration)>, String> {
    if args.cluster.is_empty() {
        return Ok(None);
    }
    let lease = match seconds("cluster-lease", args.cluster_lease)? {
        Some(lease) if lease >= Duration::from_secs(1) => lease,
        _ => return Err("--cluster-lease must be at least 1 second".into()),
    };
    let options = NatsOptions {
        credentials_file: args.cluster_creds.clone(),
        user_password: args.cluster_user.clone().zip(args.cluster_password.clone()),
        token: args.cluster_token.clone(),
        tls_ca: args.cluster_ca.clone(),
        tls_client: args.cluster_cert.clone().zip(args.cluster_key.clone()),
        require_tls: args.cluster_tls,
        name: args.cluster_name.clone(),
        ..NatsOptions::new(args.cluster.clone())
    };
    Ok(Some((options, lease)))
}

/// Binds and starts a server for `args`, printing where it listens.
pub(crate) async fn start(args: &Args) -> Result<ServerHandle, String> {
    let mut config = config(args)?;
    if let Some((options, lease)) = nats_options(args)? {
        let broker = NatsBroker::connect(options).await.map_err(|e| e.to_string())?;
        config.cluster = Some(ClusterConfig { lease, ..ClusterConfig::new(Arc::new(broker)) });
        println!("lime serve: cluster {:?} via {}", args.cluster_name, args.cluster.join(", "));
    }
    if config.tcp.is_empty() && config.ws.is_empty() {
        return Err("nothing to listen on: both --tcp and --ws are off".into());
    }
    let wss = config.wss;
    let passwords =
        config.authenticator.schemes().iter().any(|s| {
            matches!(s, lime::AuthenticationScheme::Plain | lime::AuthenticationScheme::Key)
        });
    if passwords && config.tls.is_none() {
        tracing::warn!(
            "plain/key passwords travel unencrypted: without --cert no session can negotiate tls"
        );
    } else if passwords && config.allow_cleartext_passwords && !config.require_tls {
        tracing::warn!("--allow-cleartext-passwords: passwords may travel unencrypted");
    }
    let handle = Server::bind(config).await.map_err(|e| e.to_string())?.start();
    for a in handle.tcp_addrs() {
        println!("lime serve: listening on net.tcp://{a}");
    }
    for a in handle.ws_addrs() {
        println!("lime serve: listening on {}://{a}", if wss { "wss" } else { "ws" });
    }
    Ok(handle)
}

/// Raises the open-file limit to its maximum: every session is a socket. (Unix only: Windows
/// has no such limit on sockets.)
pub(crate) fn raise_fd_limit() {
    #[cfg(unix)]
    if let Ok((soft, hard)) = rlimit::Resource::NOFILE.get() {
        if soft < hard {
            let _ = rlimit::Resource::NOFILE.set(hard, hard);
        }
    }
}

/// What stops the server gracefully: SIGTERM or SIGINT (Ctrl-C).
///
/// Installed before the server binds, so a signal that arrives while it starts, prints its
/// addresses or serves its first sessions is caught and ends them with `failed` (reason 11).
/// Installed after (as it once was, when `run` reached its wait), a SIGTERM sent as soon as
/// the addresses were printed could still meet the default action and kill the process: the
/// sessions saw their connection drop with no `failed` envelope. (Elsewhere than on Unix, Ctrl-C
/// is listened to from [`StopSignal::recv`] only.)
struct StopSignal {
    #[cfg(unix)]
    listeners: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignal {
    /// Takes over SIGTERM and SIGINT now (within the runtime). On Unix a failure to install
    /// them falls back to Ctrl-C, listened to from [`StopSignal::recv`].
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let listeners = signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok();
            Self { listeners }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Waits for the first signal (received since [`StopSignal::install`]).
    async fn recv(self) {
        #[cfg(unix)]
        if let Some((mut term, mut interrupt)) = self.listeners {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub(crate) async fn run(args: &Args) -> ExitCode {
    raise_fd_limit();
    let stop = StopSignal::install();
    let handle = match start(args).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("lime serve: {e}");
            return ExitCode::from(1);
        }
    };
    let metrics = match &args.metrics {
        Some(addr) => match crate::metrics::serve(addr, handle.monitor()).await {
            Ok((local, task)) => {
                println!("lime serve: metrics on http://{local}/metrics");
                Some(task)
            }
            Err(e) => {
                eprintln!("lime serve: {e}");
                handle.shutdown().await;
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    tracing::info!("server running; press Ctrl-C to stop");
    stop.recv().await;
    println!("lime serve: shutting down ({} sessions)", handle.session_count());
    handle.shutdown().await;
    if let Some(task) = metrics {
        task.abort();
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use lime::{server::AuthRequest, AuthenticationScheme, Node};

    use super::*;

    fn args(auth: &[&str], guest_domain: Option<&str>) -> Args {
        Args {
            auth: auth.iter().map(|s| (*s).to_owned()).collect(),
            guest_domain: guest_domain.map(str::to_owned),
            ..Args::default()
        }
    }

    #[test]
    fn scheme_options_follow_the_auth_flag_order() {
        let users = std::env::temp_dir().join(format!("lime-serve-order-{}", std::process::id()));
        std::fs::write(&users, "alice@localhost plain pw\nbot@localhost key k\n").unwrap();
        let a = Args { users: Some(users.clone()), ..args(&["key", "guest", "plain"], None) };
        let config = config(&a);
        let _ = std::fs::remove_file(&users);
        let config = config.unwrap();
        use AuthenticationScheme::{Guest, Key, Plain};
        assert_eq!(config.authenticator.schemes(), vec![Key, Guest, Plain]);
    }

    #[tokio::test]
    async fn guest_domain_confines_guests() {
        let config = config(&args(&["guest"], Some("guests.example"))).unwrap();
        let check = |node: &str| {
            let node: Node = node.parse().unwrap();
            let auth = lime::Authentication::Guest;
            let names: Vec<String> = Vec::new();
            let authenticator = config.authenticator.clone();
            async move {
                authenticator
                    .authenticate(AuthRequest {
                        node: &node,
                        authentication: &auth,
                        certificate_names: &names,
                        round: 0,
                    })
                    .await
            }
        };
        assert_eq!(check("g@guests.example/x").await, lime::server::AuthOutcome::Accept);
        assert_eq!(check("g@localhost/x").await, lime::server::AuthOutcome::Reject);
    }

    #[test]
    fn security_and_liveness_flags() {
        let defaults = config(&Args::default()).unwrap();
        assert!(!defaults.require_tls && !defaults.allow_cleartext_passwords);
        assert_eq!(defaults.remote_ping_interval, Some(Duration::from_secs(60)));
        assert_eq!(defaults.remote_idle_timeout, Some(Duration::from_secs(180)));
        assert_eq!(defaults.tcp_keepalive, Some(Duration::from_secs(60)));
        assert_eq!(defaults.auth_throttle, ThrottleConfig::default());
        let off = Args {
            ping_interval: 0.0,
            tcp_keepalive: 0.0,
            auth_failures: 0,
            auth_retry_interval: 0.0,
            allow_cleartext_passwords: true,
            ..Args::default()
        };
        let off = config(&off).unwrap();
        assert_eq!((off.remote_ping_interval, off.tcp_keepalive), (None, None));
        assert_eq!(off.auth_throttle.burst, 0);
        assert!(off.allow_cleartext_passwords);
        let err = config(&Args { ping_interval: -1.0, ..Args::default() }).unwrap_err();
        assert!(err.contains("--ping-interval"), "{err}");
        let err = config(&Args { auth_retry_interval: 0.0, ..Args::default() }).unwrap_err();
        assert!(err.contains("--auth-failures 0"), "{err}");
        // --require-tls: WebSocket must be wss or off (checked before reading certificates)
        let err = config(&Args { require_tls: true, ..Args::default() }).unwrap_err();
        assert!(err.contains("--wss"), "{err}");
    }

    #[test]
    fn queue_flags() {
        let c = config(&Args::default()).unwrap();
        assert_eq!(c.queue_capacity, 256);
        assert_eq!(c.queue_max_bytes, 16 * 1024 * 1024);
        assert_eq!(c.send_timeout, Some(Duration::from_secs(30)));
        let custom = Args {
            queue_capacity: 10,
            queue_max_bytes: 1000,
            send_timeout: 0.0,
            ..Args::default()
        };
        let c = config(&custom).unwrap();
        assert_eq!((c.queue_capacity, c.queue_max_bytes), (10, 1000));
        assert_eq!(c.send_timeout, None);
        for bad in [
            Args { queue_capacity: 0, ..Args::default() },
            Args { queue_max_bytes: 0, ..Args::default() },
            Args { send_timeout: -1.0, ..Args::default() },
            Args { send_timeout: f64::NAN, ..Args::default() },
        ] {
            assert!(config(&bad).unwrap_err().starts_with("--"), "{bad:?}");
        }
    }

    #[test]
    fn bad_guest_domains_are_clear_errors() {
        let err = config(&args(&["guest"], Some("a/b"))).unwrap_err();
        assert!(err.contains("is not a domain"), "{err}");
        let err = config(&args(&["transport"], Some("x.com"))).unwrap_err();
        assert!(err.contains("needs `guest`"), "{err}");
    }
}
