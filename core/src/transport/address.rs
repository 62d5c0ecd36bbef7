//! Where a transport URI leads: the host, port and path of `net.tcp://`, `ws://` and `wss://`
//! URIs (shared by the sans-IO connection and the tokio transports).

use crate::TransportError;

/// The conventional LIME TCP port.
pub(crate) const TCP_DEFAULT_PORT: u16 = 55321;
const TCP_SCHEME: &str = "net.tcp://";

/// The host and port of `net.tcp://host[:port]` (default port 55321).
pub(crate) fn parse_tcp_uri(uri: &str) -> Result<(String, u16), TransportError> {
    if !uri.get(..TCP_SCHEME.len()).is_some_and(|s| s.eq_ignore_ascii_case(TCP_SCHEME)) {
        return Err(TransportError::InvalidUri(uri.to_owned()));
    }
    let (host, port, _) = host_port(uri, TCP_SCHEME.len(), TCP_DEFAULT_PORT)
        .ok_or_else(|| TransportError::InvalidUri(uri.to_owned()))?;
    Ok((host, port))
}

/// Splits `host:port` (or `host` with `default_port`) out of the authority of `uri` after
/// `scheme://`; IPv6 literals in brackets are supported.
pub(crate) fn host_port(
    uri: &str,
    scheme_len: usize,
    default_port: u16,
) -> Option<(String, u16, String)> {
    let rest = uri.get(scheme_len..)?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        let host = &v6[..end];
        let port = match &v6[end + 1..] {
            "" => default_port,
            p => p.strip_prefix(':')?.parse().ok()?,
        };
        (host.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), default_port),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port, if path.is_empty() { "/".to_owned() } else { path.to_owned() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        assert_eq!(
            host_port("net.tcp://a.b:1234", 10, 55321),
            Some(("a.b".into(), 1234, "/".into()))
        );
        assert_eq!(host_port("net.tcp://a.b", 10, 55321), Some(("a.b".into(), 55321, "/".into())));
        assert_eq!(host_port("ws://[::1]:80/x?y", 5, 80), Some(("::1".into(), 80, "/x?y".into())));
        assert_eq!(host_port("ws://", 5, 80), None);
        assert_eq!(host_port("ws://h:notaport", 5, 80), None);
    }
}
