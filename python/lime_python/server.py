"""The Rust LIME server, started from Python.

::

    from lime_python.server import start_server

    server = await start_server(tcp='127.0.0.1:55321', ws='127.0.0.1:8080')
    print(server.tcp_uris, server.ws_uris)
    ...
    await server.shutdown()

It is the same server as ``lime serve``: TCP (with in-band TLS when a certificate is given) and
WebSocket listeners, guest/plain/key/external authentication, a node registry and routing
between the connected nodes. ``authenticator(node, authentication)`` decides non-guest logins.
"""

from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Tuple, Union

from . import _lime
from .transport import DEFAULT_MAX_ENVELOPE_SIZE, _read_pem

Authenticator = Callable[[str, Dict[str, Any]], Union[bool, Awaitable[bool]]]


def _addresses(value: Union[str, Iterable[str], None], scheme: str) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    out = []
    for address in value:
        for prefix in (scheme, 'ws://', 'wss://', 'net.tcp://'):
            if address.startswith(prefix):
                address = address[len(prefix):]
        out.append(address.rstrip('/'))
    return out


class LimeServer:
    """A running server (returned by ``start_server``); also an async context manager that
    shuts the server down on exit."""

    def __init__(self, native, wss: bool) -> None:
        self._native = native
        self._wss = wss

    @property
    def tcp_addresses(self) -> List[str]:
        """Bound TCP addresses (``host:port``)."""
        return list(self._native.tcp_addresses)

    @property
    def ws_addresses(self) -> List[str]:
        """Bound WebSocket addresses (``host:port``)."""
        return list(self._native.ws_addresses)

    @property
    def tcp_uris(self) -> List[str]:
        """``net.tcp://host:port`` for every TCP listener."""
        return [f'net.tcp://{address}' for address in self.tcp_addresses]

    @property
    def ws_uris(self) -> List[str]:
        """``ws://host:port`` (``wss://`` with ``wss=True``) for every WebSocket listener."""
        scheme = 'wss' if self._wss else 'ws'
        return [f'{scheme}://{address}' for address in self.ws_addresses]

    @property
    def session_count(self) -> int:
        """Number of established sessions."""
        return self._native.session_count

    async def shutdown(self) -> None:
        """Fails every session (reason 11, "The server is being shut down") and returns once
        every connection is closed."""
        await self._native.shutdown()

    async def __aenter__(self) -> 'LimeServer':
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.shutdown()

    def __repr__(self) -> str:
        return f'LimeServer(tcp={self.tcp_uris}, ws={self.ws_uris})'


async def start_server(
    tcp: Union[str, Iterable[str], None] = None,
    ws: Union[str, Iterable[str], None] = None,
    *,
    authenticator: Optional[Authenticator] = None,
    domain: str = 'localhost',
    cert: Union[bytes, str, None] = None,
    key: Union[bytes, str, None] = None,
    wss: bool = False,
    guest: bool = True,
    users: Optional[Iterable[Tuple[str, str, str]]] = None,
    handshake_timeout: float = 30.0,
    max_envelope_size: int = DEFAULT_MAX_ENVELOPE_SIZE,
    guest_domain: Optional[str] = None,
    require_tls: bool = False,
    allow_cleartext_passwords: bool = False,
    queue_capacity: int = 256,
    queue_max_bytes: int = 16 * 1024 * 1024,
    send_timeout: float = 30.0,
) -> LimeServer:
    """Binds and starts the server; returns once it listens.

    ``tcp`` / ``ws``: listen addresses (``'127.0.0.1:55321'``, port 0 for any free port, a list
    for several; URIs such as ``'net.tcp://…'`` are accepted). Without both, the defaults of
    ``lime serve`` are used (``127.0.0.1:55321`` and ``127.0.0.1:8080``).
    ``cert``/``key``: PEM data or file paths; TCP sessions are then offered ``tls``, and
    ``wss=True`` serves WebSocket over TLS too. ``domain``: the server is
    ``postmaster@{domain}/server``. ``guest``: accept guest logins. ``users``:
    ``(identity, 'plain'|'key', secret)`` triples (the plain secret is the password itself).
    ``authenticator(node, authentication)``: called on the event loop for every non-guest login
    attempt with the node string and the authentication dict (``scheme``, ``password``/``key``/
    ``token``/``issuer`` as sent, ``secret`` = the decoded password or key); return (or await to)
    True to accept. An exception counts as a rejection and is logged.

    The security and flow options of ``lime serve``: ``guest_domain`` confines guests to that
    domain (``--guest-domain``); ``require_tls`` makes every session encrypted (needs
    ``cert``/``key``; WebSocket listeners must then be ``wss``); ``allow_cleartext_passwords``
    accepts plain/key credentials on an unencrypted session although a certificate is set;
    ``queue_capacity`` / ``queue_max_bytes`` bound each session's outgoing queue (an envelope
    for a full queue is refused to its sender with reason 51); ``send_timeout`` ends a session
    whose writes stay blocked that long, in seconds (0: never).
    """
    options: Dict[str, Any] = {}
    if tcp is not None or ws is not None:
        options['tcp'] = _addresses(tcp, 'net.tcp://')
        options['ws'] = _addresses(ws, 'wss://' if wss else 'ws://')
    native = await _lime.Server.start(
        domain=domain,
        cert_pem=_read_pem(cert),
        key_pem=_read_pem(key),
        wss=wss,
        guest=guest,
        users=None if users is None else [tuple(user) for user in users],
        authenticator=authenticator,
        handshake_timeout=handshake_timeout,
        max_envelope_size=max_envelope_size,
        guest_domain=guest_domain,
        require_tls=require_tls,
        allow_cleartext_passwords=allow_cleartext_passwords,
        queue_capacity=queue_capacity,
        queue_max_bytes=queue_max_bytes,
        send_timeout=send_timeout,
        **options,
    )
    return LimeServer(native, wss)
