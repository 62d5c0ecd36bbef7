//! TLS configuration for the TCP upgrade and `wss://` (rustls, TLS 1.2 and 1.3, ring).
//!
//! Clients verify servers against the Mozilla roots (webpki-roots) plus any roots you add;
//! servers present a certificate and key from PEM and may request (not require) a client
//! certificate, which `transport` authentication then uses.

use std::{path::Path, sync::Arc};

use rustls::{
    crypto::{ring, CryptoProvider},
    server::WebPkiClientVerifier,
    ClientConfig, RootCertStore, ServerConfig,
};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

use crate::TransportError;

/// The *ring* provider with its default cipher suites and key-exchange groups.
///
/// rustls 0.23.48 deprecates `ring::default_provider` because *ring* has no post-quantum key
/// exchange; the alternative provider (aws-lc-rs) needs CMake and a C toolchain for every
/// target, which the Android, iOS and Windows builds of the bindings would then inherit. So the
/// crate keeps *ring* and says so here, for every 0.23 release, with or without the
/// deprecation. An application that wants aws-lc-rs builds its own rustls configuration and
/// passes it through [`ClientTlsConfig::from_rustls`] / [`ServerTlsConfig::from_rustls`].
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn tls_err(e: impl std::fmt::Display) -> TransportError {
    TransportError::Tls(e.to_string())
}

fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(format!("invalid certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err("no certificate found in the PEM data"));
    }
    Ok(certs)
}

fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TransportError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| tls_err(format!("invalid private key PEM: {e}")))
}

fn read(path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path)
        .map_err(|e| TransportError::Io(format!("cannot read {}: {e}", path.display())))
}

/// Client-side TLS settings (server verification, optional client certificate).
#[derive(Clone, Debug)]
pub struct ClientTlsConfig {
    config: Arc<ClientConfig>,
}

impl Default for ClientTlsConfig {
    /// Verifies servers against the Mozilla root store; no client certificate.
    fn default() -> Self {
        // invariant: the default builder has no custom input and cannot fail; fall back to an
        // empty root store rather than panicking if a future rustls disagrees.
        ClientTlsBuilder::new().build().unwrap_or_else(|_| Self {
            config: Arc::new(
                ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map(|b| b.with_root_certificates(RootCertStore::empty()).with_no_client_auth())
                    .unwrap_or_else(|_| {
                        ClientConfig::builder()
                            .with_root_certificates(RootCertStore::empty())
                            .with_no_client_auth()
                    }),
            ),
        })
    }
}

impl ClientTlsConfig {
    /// A builder starting from the Mozilla root store.
    pub fn builder() -> ClientTlsBuilder {
        ClientTlsBuilder::new()
    }

    /// Wraps a ready rustls configuration.
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        Self { config }
    }

    /// The rustls configuration.
    pub fn rustls(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }
}

/// Builds a [`ClientTlsConfig`].
#[derive(Debug)]
pub struct ClientTlsBuilder {
    roots: RootCertStore,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl ClientTlsBuilder {
    fn new() -> Self {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self { roots, client: None }
    }

    /// Trusts only the roots added afterwards (not the Mozilla store).
    #[must_use]
    pub fn without_default_roots(mut self) -> Self {
        self.roots = RootCertStore::empty();
        self
    }

    /// Trusts the certificates in `pem` as roots (e.g. a private CA).
    pub fn add_roots_pem(mut self, pem: &[u8]) -> Result<Self, TransportError> {
        for cert in certs_from_pem(pem)? {
            self.roots.add(cert).map_err(tls_err)?;
        }
        Ok(self)
    }

    /// Trusts the certificates in a PEM file.
    pub fn add_roots_pem_file(self, path: impl AsRef<Path>) -> Result<Self, TransportError> {
        let pem = read(path.as_ref())?;
        self.add_roots_pem(&pem)
    }

    /// Presents a client certificate (chain PEM + private key PEM).
    pub fn client_certificate_pem(
        mut self,
        cert: &[u8],
        key: &[u8],
    ) -> Result<Self, TransportError> {
        self.client = Some((certs_from_pem(cert)?, key_from_pem(key)?));
        Ok(self)
    }

    /// Builds the configuration.
    pub fn build(self) -> Result<ClientTlsConfig, TransportError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_root_certificates(self.roots);
        let config = match self.client {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(tls_err)?,
        };
        Ok(ClientTlsConfig { config: Arc::new(config) })
    }
}

/// Server-side TLS settings: certificate, key and optional client-certificate roots.
#[derive(Clone, Debug)]
pub struct ServerTlsConfig {
    config: Arc<ServerConfig>,
}

impl ServerTlsConfig {
    /// A server certificate chain and private key, both PEM. Client certificates are not
    /// requested.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Self, TransportError> {
        Self::build(cert, key, None)
    }

    /// Like [`ServerTlsConfig::from_pem`], reading PEM files.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TransportError> {
        Self::from_pem(&read(cert.as_ref())?, &read(key.as_ref())?)
    }

    /// Also requests a client certificate issued by one of `client_roots` (PEM). Clients
    /// without one are still accepted; a client with an invalid one is rejected.
    pub fn with_client_roots_pem(
        cert: &[u8],
        key: &[u8],
        client_roots: &[u8],
    ) -> Result<Self, TransportError> {
        Self::build(cert, key, Some(client_roots))
    }

    fn build(cert: &[u8], key: &[u8], client_roots: Option<&[u8]>) -> Result<Self, TransportError> {
        let chain = certs_from_pem(cert)?;
        let key = key_from_pem(key)?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        let builder = match client_roots {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for c in certs_from_pem(pem)? {
                    roots.add(c).map_err(tls_err)?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .allow_unauthenticated()
                        .build()
                        .map_err(tls_err)?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(chain, key).map_err(tls_err)?;
        Ok(Self { config: Arc::new(config) })
    }

    /// Wraps a ready rustls configuration.
    pub fn from_rustls(config: Arc<ServerConfig>) -> Self {
        Self { config }
    }

    /// The rustls configuration.
    pub fn rustls(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }
}

/// The names a DER certificate vouches for, SAN first as C# reads them (and as RFC 6125
/// requires): its DNS subject alternative names when it has any, its subject's common names
/// only otherwise. A certificate for `good.example` whose CN says `victim.example` does not
/// vouch for `victim.example`.
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    use x509_parser::prelude::*;
    let Ok((_, cert)) = X509Certificate::from_der(der) else { return Vec::new() };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                names.push((*dns).to_owned());
            }
        }
    }
    if !names.is_empty() {
        return names;
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(cn) = cn.as_str() {
            names.push(cn.to_owned());
        }
    }
    names
}

/// How strongly a certificate vouches for a domain (C# `GetDomainRole`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainRole {
    /// The certificate does not cover the identity's domain.
    Unknown,
    /// The certificate is for the domain itself (or a wildcard of its parent).
    Authority,
    /// The certificate is a wildcard for the domain (`*.domain`): it vouches for sub-domains.
    RootAuthority,
}

/// The role certificate `names` give for `domain`.
pub fn domain_role(names: &[String], domain: &str) -> DomainRole {
    let wildcard = format!("*.{domain}");
    if names.iter().any(|n| n.eq_ignore_ascii_case(&wildcard)) {
        return DomainRole::RootAuthority;
    }
    let parent_wildcard = domain.split_once('.').map(|(_, parent)| format!("*.{parent}"));
    if names.iter().any(|n| {
        n.eq_ignore_ascii_case(domain)
            || parent_wildcard.as_deref().is_some_and(|p| n.eq_ignore_ascii_case(p))
    }) {
        return DomainRole::Authority;
    }
    DomainRole::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_roles() {
        let names = vec!["*.example.com".to_owned(), "other.org".to_owned()];
        assert_eq!(domain_role(&names, "example.com"), DomainRole::RootAuthority);
        assert_eq!(domain_role(&names, "a.example.com"), DomainRole::Authority);
        assert_eq!(domain_role(&names, "other.org"), DomainRole::Authority);
        assert_eq!(domain_role(&names, "evil.com"), DomainRole::Unknown);
    }

    #[test]
    fn bad_pem_is_a_clear_error() {
        let err = ServerTlsConfig::from_pem(b"nope", b"nope").unwrap_err();
        assert!(err.to_string().contains("certificate"), "{err}");
    }

    #[test]
    fn generated_certificates_load_and_expose_names() {
        let ck = rcgen::generate_simple_self_signed(vec!["lime.test".into()]).unwrap();
        let cert = ck.cert.pem();
        let key = ck.signing_key.serialize_pem();
        ServerTlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        ClientTlsConfig::builder().add_roots_pem(cert.as_bytes()).unwrap().build().unwrap();
        assert!(certificate_names(ck.cert.der()).contains(&"lime.test".to_owned()));
    }

    fn cert_with(cn: &str, sans: &[&str]) -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn subject_alternative_names_come_before_the_common_name() {
        // With DNS SANs, the CN is ignored (C# and RFC 6125).
        let names = certificate_names(&cert_with("victim.example", &["good.example"]));
        assert_eq!(names, vec!["good.example".to_owned()]);
        assert_eq!(domain_role(&names, "victim.example"), DomainRole::Unknown);
        // Without SANs, the CN is the name.
        let names = certificate_names(&cert_with("legacy.example", &[]));
        assert_eq!(names, vec!["legacy.example".to_owned()]);
        assert_eq!(domain_role(&names, "legacy.example"), DomainRole::Authority);
        assert!(certificate_names(b"not a certificate").is_empty());
    }
}
