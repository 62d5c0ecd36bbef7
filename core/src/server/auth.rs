//! Server-side authentication: the [`Authenticator`] trait and the built-in schemes.
//!
//! The built-in [`AuthConfig`] accepts `guest`, `plain` and `key` against a user file,
//! `transport` through the TLS client certificate, and `external` through a callback — each
//! scheme only when enabled. Multi-round-trip schemes are possible with a custom
//! authenticator returning [`AuthOutcome::Roundtrip`].

use std::{
    collections::HashMap,
    net::IpAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use tokio::time::Instant;

use crate::{
    transport::tls::{domain_role, DomainRole},
    Authentication, AuthenticationScheme, Identity, Node, TransportError,
};

/// One authentication attempt.
#[derive(Debug)]
pub struct AuthRequest<'a> {
    /// The node the client claims (`from` of its `authenticating` session).
    pub node: &'a Node,
    /// Its credentials.
    pub authentication: &'a Authentication,
    /// Names in the client's verified TLS certificate (for `transport`).
    pub certificate_names: &'a [String],
    /// 0 for the first attempt, then 1, 2… for round-trips.
    pub round: u32,
}

/// The decision on an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Authenticated.
    Accept,
    /// Send this authentication back and wait for another attempt.
    Roundtrip(Authentication),
    /// Rejected (failed session, reason 13).
    Reject,
}

/// Decides who may establish a session.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// The schemes offered to clients, in order of preference.
    fn schemes(&self) -> Vec<AuthenticationScheme>;

    /// Checks one attempt. Called only with a scheme from [`Authenticator::schemes`].
    async fn authenticate(&self, request: AuthRequest<'_>) -> AuthOutcome;
}

/// Verifies `external` tokens: `(identity, decoded token, issuer) -> accepted`.
pub type ExternalVerifier = Arc<dyn Fn(&Identity, &str, Option<&str>) -> bool + Send + Sync>;

/// The built-in authenticator. See the [module docs](self).
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// Accept `guest`: anyone, under any name that has no credentials in `users` (a guest
    /// cannot take a password user's identity) and, with `guest_domain`, only in that domain.
    /// The server's own identity is reserved whatever the scheme.
    pub guest: bool,
    /// Confine guests to this domain (compared ignoring case).
    pub guest_domain: Option<String>,
    /// Users for `plain` and `key` (and the schemes are offered only when some user has one).
    pub users: Option<UserFile>,
    /// Accept `transport`: the client certificate must cover the identity's domain.
    pub transport: bool,
    /// Accept `external` through this callback.
    pub external: Option<ExternalVerifier>,
    /// The order in which the enabled schemes are offered (`schemeOptions`). Enabled schemes
    /// missing from it follow in the built-in order (guest, plain, key, transport, external);
    /// schemes listed but not enabled are not offered.
    pub order: Vec<AuthenticationScheme>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("guest", &self.guest)
            .field("guest_domain", &self.guest_domain)
            .field("users", &self.users.as_ref().map(UserFile::len))
            .field("transport", &self.transport)
            .field("external", &self.external.is_some())
            .field("order", &self.order)
            .finish()
    }
}

impl AuthConfig {
    /// Guests only (the server's default).
    pub fn guest() -> Self {
        Self { guest: true, ..Self::default() }
    }
}

#[async_trait]
impl Authenticator for AuthConfig {
    fn schemes(&self) -> Vec<AuthenticationScheme> {
        let mut out = Vec::new();
        if self.guest {
            out.push(AuthenticationScheme::Guest);
        }
        if let Some(users) = &self.users {
            if users.has(AuthenticationScheme::Plain) {
                out.push(AuthenticationScheme::Plain);
            }
            if users.has(AuthenticationScheme::Key) {
                out.push(AuthenticationScheme::Key);
            }
        }
        if self.transport {
            out.push(AuthenticationScheme::Transport);
        }
        if self.external.is_some() {
            out.push(AuthenticationScheme::External);
        }
        let mut ordered = Vec::with_capacity(out.len());
        for s in self.order.iter().chain(&out) {
            if out.contains(s) && !ordered.contains(s) {
                ordered.push(*s);
            }
        }
        ordered
    }

    async fn authenticate(&self, request: AuthRequest<'_>) -> AuthOutcome {
        let identity = request.node.to_identity();
        let ok = match request.authentication {
            Authentication::Guest => {
                self.guest
                    && self.guest_domain.as_deref().is_none_or(|d| {
                        identity.domain().is_some_and(|own| own.to_lowercase() == d.to_lowercase())
                    })
                    && !self.users.as_ref().is_some_and(|u| u.has_identity(&identity))
            }
            Authentication::Plain { .. } | Authentication::Key { .. } => {
                match (&self.users, request.authentication.decoded_secret()) {
                    (Some(users), Some(Ok(secret))) => {
                        users.check(&identity, request.authentication.scheme(), &secret)
                    }
                    _ => false,
                }
            }
            Authentication::Transport => {
                self.transport
                    && identity.domain().is_some_and(|d| {
                        domain_role(request.certificate_names, d) != DomainRole::Unknown
                    })
            }
            Authentication::External { issuer, .. } => {
                match (&self.external, request.authentication.decoded_secret()) {
                    (Some(verify), Some(Ok(token))) => verify(&identity, &token, issuer.as_deref()),
                    _ => false,
                }
            }
        };
        if ok {
            AuthOutcome::Accept
        } else {
            AuthOutcome::Reject
        }
    }
}

/// Limits on failed authentications (see [`AuthThrottle`]): a token bucket per source address
/// and per claimed identity.
///
/// Each bucket holds up to `burst` failures; one failure is forgiven every `refill`. While a
/// bucket is empty, attempts for that address or identity are refused (failed, reason 13)
/// without being checked: at most `burst` checks at once, then one per `refill`, whatever the
/// number of connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures accepted in a burst (per address, per identity).
    pub burst: u32,
    /// Time after which one more failure is accepted.
    pub refill: Duration,
}

impl Default for ThrottleConfig {
    /// 10 failures at once, then one every 2 seconds.
    fn default() -> Self {
        Self { burst: 10, refill: Duration::from_secs(2) }
    }
}

/// The most buckets kept (addresses and identities together). Beyond it, full buckets are
/// dropped, then arbitrary ones down to 7/8 of it (so the scan is paid once per 16,384 new
/// buckets at most), so the table stays bounded under a spray of addresses or identities.
pub const MAX_THROTTLE_BUCKETS: usize = 131_072;

/// What a bucket is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ThrottleKey {
    /// An IPv4 address, or the /64 prefix of an IPv6 address (one host usually holds a whole
    /// /64).
    Address(IpAddr),
    /// A claimed identity (compared ignoring case, as [`Identity`] does).
    Identity(Identity),
}

fn address_key(ip: IpAddr) -> ThrottleKey {
    match ip {
        IpAddr::V4(v4) => ThrottleKey::Address(IpAddr::V4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ThrottleKey::Address(IpAddr::V4(v4)),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                ThrottleKey::Address(IpAddr::V6(prefix.into()))
            }
        },
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Failures still accepted, as of `at`.
    tokens: f64,
    at: Instant,
}

/// Failed-authentication throttling per source address and per identity (token buckets on
/// tokio's clock). See [`ThrottleConfig`].
#[derive(Debug)]
pub struct AuthThrottle {
    config: ThrottleConfig,
    buckets: Mutex<HashMap<ThrottleKey, Bucket>>,
}

impl AuthThrottle {
    /// A throttle with these limits (`burst` 0 or a zero `refill` disables it).
    pub fn new(config: ThrottleConfig) -> Self {
        Self { config, buckets: Mutex::new(HashMap::new()) }
    }

    fn enabled(&self) -> bool {
        self.config.burst > 0 && !self.config.refill.is_zero()
    }

    fn keys(address: Option<IpAddr>, identity: &Identity) -> Vec<ThrottleKey> {
        let mut keys = vec![ThrottleKey::Identity(identity.clone())];
        keys.extend(address.map(address_key));
        keys
    }

    fn level(&self, bucket: &Bucket, now: Instant) -> f64 {
        let regained = now.saturating_duration_since(bucket.at).as_secs_f64()
            / self.config.refill.as_secs_f64();
        (bucket.tokens + regained).min(f64::from(self.config.burst))
    }

    /// True when an attempt from `address` for `identity` may be checked now.
    pub fn allows(&self, address: Option<IpAddr>, identity: &Identity) -> bool {
        if !self.enabled() {
            return true;
        }
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Self::keys(address, identity)
            .iter()
            .all(|key| buckets.get(key).is_none_or(|b| self.level(b, now) >= 1.0))
    }

    /// Records a failed attempt from `address` for `identity`.
    pub fn failed(&self, address: Option<IpAddr>, identity: &Identity) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let burst = f64::from(self.config.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in Self::keys(address, identity) {
            let level = buckets.get(&key).map_or(burst, |b| self.level(b, now));
            buckets.insert(key, Bucket { tokens: (level - 1.0).max(0.0), at: now });
        }
        if buckets.len() > MAX_THROTTLE_BUCKETS {
            buckets.retain(|_, b| self.level(b, now) < burst);
            let excess = buckets.len().saturating_sub(MAX_THROTTLE_BUCKETS / 8 * 7);
            let drop: Vec<ThrottleKey> = buckets.keys().take(excess).cloned().collect();
            for key in drop {
                buckets.remove(&key);
            }
        }
    }

    /// Number of buckets held (addresses and identities with recent failures).
    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// True when no failure is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Users for `plain` and `key` authentication.
///
/// The file has one user per line: `identity scheme secret`, where scheme is `plain` or `key`
/// and the secret is the clear-text password or key (the rest of the line, so it may contain
/// spaces). Blank lines and lines starting with `#` are ignored. Identities compare
/// case-insensitively.
///
/// ```text
/// # name@domain   scheme  secret
/// alice@example.com plain wonderland
/// bot@example.com   key   0f8e-secret-key
/// ```
#[derive(Clone, Debug, Default)]
pub struct UserFile {
    entries: HashMap<(Identity, AuthenticationScheme), String>,
}

impl UserFile {
    /// Parses the file format above.
    pub fn parse(text: &str) -> Result<Self, TransportError> {
        let mut entries = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad =
                |why: &str| TransportError::Unsupported(format!("user file line {}: {why}", n + 1));
            let mut parts = line.splitn(3, char::is_whitespace);
            let (Some(identity), Some(scheme), Some(secret)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad("expected `identity scheme secret`"));
            };
            let identity: Identity = identity.parse().map_err(|e| bad(&format!("{e}")))?;
            if identity.name().is_none() || identity.domain().is_none() {
                return Err(bad("the identity must be name@domain"));
            }
            let scheme = match scheme.to_ascii_lowercase().as_str() {
                "plain" => AuthenticationScheme::Plain,
                "key" => AuthenticationScheme::Key,
                other => {
                    return Err(bad(&format!("unknown scheme {other:?} (expected plain or key)")))
                }
            };
            entries.insert((identity, scheme), secret.trim_start().to_owned());
        }
        Ok(Self { entries })
    }

    /// Reads and parses a user file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TransportError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            TransportError::Io(format!("cannot read user file {}: {e}", path.display()))
        })?;
        Self::parse(&text)
    }

    /// Adds or replaces a user.
    pub fn insert(
        &mut self,
        identity: Identity,
        scheme: AuthenticationScheme,
        secret: impl Into<String>,
    ) {
        self.entries.insert((identity, scheme), secret.into());
    }

    /// Copies the entries of `other` that use `scheme`.
    pub fn extend_from(&mut self, other: &Self, scheme: AuthenticationScheme) {
        for ((identity, s), secret) in &other.entries {
            if *s == scheme {
                self.entries.insert((identity.clone(), *s), secret.clone());
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when `identity` has credentials (of any scheme) in the file.
    pub fn has_identity(&self, identity: &Identity) -> bool {
        [AuthenticationScheme::Plain, AuthenticationScheme::Key]
            .into_iter()
            .any(|scheme| self.entries.contains_key(&(identity.clone(), scheme)))
    }

    fn has(&self, scheme: AuthenticationScheme) -> bool {
        self.entries.keys().any(|(_, s)| *s == scheme)
    }

    fn check(&self, identity: &Identity, scheme: AuthenticationScheme, secret: &str) -> bool {
        self.entries
            .get(&(identity.clone(), scheme))
            .is_some_and(|expected| constant_time_eq(expected.as_bytes(), secret.as_bytes()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(node: &'a Node, auth: &'a Authentication, names: &'a [String]) -> AuthRequest<'a> {
        AuthRequest { node, authentication: auth, certificate_names: names, round: 0 }
    }

    #[tokio::test]
    async fn user_file_plain_and_key() {
        let users = UserFile::parse(
            "# comment\nalice@example.com plain won der\n\nbot@example.com key k1\n",
        )
        .unwrap();
        assert_eq!(users.len(), 2);
        let config = AuthConfig { users: Some(users), ..AuthConfig::default() };
        assert_eq!(config.schemes(), vec![AuthenticationScheme::Plain, AuthenticationScheme::Key]);
        let alice: Node = "ALICE@example.com/home".parse().unwrap();
        let good = Authentication::plain("won der");
        assert_eq!(config.authenticate(req(&alice, &good, &[])).await, AuthOutcome::Accept);
        let bad = Authentication::plain("wonder");
        assert_eq!(config.authenticate(req(&alice, &bad, &[])).await, AuthOutcome::Reject);
        let bot: Node = "bot@example.com/x".parse().unwrap();
        assert_eq!(
            config.authenticate(req(&bot, &Authentication::key("k1"), &[])).await,
            AuthOutcome::Accept
        );
        assert_eq!(
            config.authenticate(req(&bot, &Authentication::plain("k1"), &[])).await,
            AuthOutcome::Reject
        );
        assert_eq!(
            config.authenticate(req(&bot, &Authentication::Guest, &[])).await,
            AuthOutcome::Reject
        );
    }

    #[tokio::test]
    async fn guests_cannot_take_credentialed_identities_or_leave_their_domain() {
        let mut users = UserFile::default();
        users.insert("alice@example.com".parse().unwrap(), AuthenticationScheme::Key, "k");
        let config = AuthConfig { guest: true, users: Some(users), ..AuthConfig::default() };
        let guest = Authentication::Guest;
        for (node, expected) in [
            ("ALICE@Example.com/any", AuthOutcome::Reject),
            ("alice@example.com", AuthOutcome::Reject),
            ("alice@other.com/x", AuthOutcome::Accept),
            ("bob@example.com/x", AuthOutcome::Accept),
        ] {
            let n: Node = node.parse().unwrap();
            assert_eq!(config.authenticate(req(&n, &guest, &[])).await, expected, "{node}");
        }
        let confined =
            AuthConfig { guest_domain: Some("Guests.Example.com".into()), ..config.clone() };
        for (node, expected) in [
            ("bob@guests.example.com/x", AuthOutcome::Accept),
            ("bob@example.com/x", AuthOutcome::Reject),
            ("bob@sub.guests.example.com/x", AuthOutcome::Reject),
        ] {
            let n: Node = node.parse().unwrap();
            assert_eq!(confined.authenticate(req(&n, &guest, &[])).await, expected, "{node}");
        }
        // the user still logs in with the key
        let alice: Node = "alice@example.com/x".parse().unwrap();
        let key = Authentication::key("k");
        assert_eq!(confined.authenticate(req(&alice, &key, &[])).await, AuthOutcome::Accept);
    }

    #[test]
    fn schemes_follow_the_configured_order() {
        let mut users = UserFile::default();
        users.insert("a@x.com".parse().unwrap(), AuthenticationScheme::Plain, "p");
        let mut config = AuthConfig {
            guest: true,
            users: Some(users),
            transport: true,
            ..AuthConfig::default()
        };
        use AuthenticationScheme::{Guest, Key, Plain, Transport};
        assert_eq!(config.schemes(), vec![Guest, Plain, Transport]);
        config.order = vec![Transport, Key, Plain, Transport];
        assert_eq!(config.schemes(), vec![Transport, Plain, Guest]);
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_buckets_per_address_and_identity() {
        let throttle =
            AuthThrottle::new(ThrottleConfig { burst: 3, refill: Duration::from_secs(2) });
        let alice: Identity = "alice@example.com".parse().unwrap();
        let bob: Identity = "BOB@example.com".parse().unwrap();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(throttle.allows(Some(a), &alice));
            throttle.failed(Some(a), &alice);
        }
        // alice's bucket and a's bucket are empty
        assert!(!throttle.allows(Some(a), &alice));
        assert!(!throttle.allows(Some(b), &alice));
        assert!(!throttle.allows(Some(a), &bob));
        assert!(!throttle.allows(None, &alice));
        assert!(throttle.allows(Some(b), &bob));
        // one failure is forgiven per refill period
        tokio::time::advance(Duration::from_millis(1_900)).await;
        assert!(!throttle.allows(Some(a), &alice));
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(throttle.allows(Some(a), &alice));
        throttle.failed(Some(a), &alice);
        assert!(!throttle.allows(Some(a), &alice));
        // IPv6 addresses share a bucket per /64; mapped IPv4 is IPv4
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let other: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let carol: Identity = "carol@example.com".parse().unwrap();
        for n in 0..3 {
            let id: Identity = format!("u{n}@example.com").parse().unwrap();
            throttle.failed(Some(v6a), &id);
        }
        assert!(!throttle.allows(Some(v6b), &carol));
        assert!(throttle.allows(Some(other), &carol));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert!(!throttle.allows(Some(mapped), &carol));
        // a disabled throttle remembers nothing
        let off = AuthThrottle::new(ThrottleConfig { burst: 0, refill: Duration::from_secs(1) });
        off.failed(Some(a), &alice);
        assert!(off.allows(Some(a), &alice) && off.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_table_stays_bounded() {
        let throttle =
            AuthThrottle::new(ThrottleConfig { burst: 5, refill: Duration::from_secs(1) });
        let first: Identity = "first@example.com".parse().unwrap();
        throttle.failed(None, &first);
        // one second later `first` is full again: pruned first
        tokio::time::advance(Duration::from_secs(1)).await;
        for n in 0..MAX_THROTTLE_BUCKETS + 10 {
            throttle.failed(None, &Identity::new(Some(&n.to_string()), Some("example.com")));
        }
        assert!(throttle.len() <= MAX_THROTTLE_BUCKETS, "{}", throttle.len());
        assert!(throttle.len() >= MAX_THROTTLE_BUCKETS / 8 * 7, "{}", throttle.len());
        assert!(!throttle.buckets.lock().unwrap().contains_key(&ThrottleKey::Identity(first)));
    }

    #[test]
    fn user_file_errors_name_the_line() {
        let err =
            UserFile::parse("alice@example.com plain x\nbob@example.com token y\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(UserFile::parse("alice plain x").is_err());
    }

    #[tokio::test]
    async fn transport_and_external() {
        let verify: ExternalVerifier = Arc::new(|id, token, issuer| {
            id.name() == Some("a") && token == "t0k" && issuer == Some("iss")
        });
        let config =
            AuthConfig { transport: true, external: Some(verify), ..AuthConfig::default() };
        let node: Node = "a@example.com/i".parse().unwrap();
        let names = vec!["example.com".to_owned()];
        assert_eq!(
            config.authenticate(req(&node, &Authentication::Transport, &names)).await,
            AuthOutcome::Accept
        );
        assert_eq!(
            config.authenticate(req(&node, &Authentication::Transport, &[])).await,
            AuthOutcome::Reject
        );
        let ext = Authentication::external("t0k", "iss");
        assert_eq!(config.authenticate(req(&node, &ext, &[])).await, AuthOutcome::Accept);
        let wrong = Authentication::external("nope", "iss");
        assert_eq!(config.authenticate(req(&node, &wrong, &[])).await, AuthOutcome::Reject);
    }
}
