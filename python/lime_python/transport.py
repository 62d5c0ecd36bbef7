"""Native transports: LIME connections run by the Rust core on the asyncio event loop.

``TcpTransport`` speaks ``net.tcp://`` (with the in-band TLS upgrade and gzip negotiated in the
session); ``lime_transport_websocket.WebSocketTransport`` speaks ``ws://``/``wss://``. Both are
``Transport`` subclasses with lime-python's interface (``open_async``, ``close_async``,
``send(dict)``, ``on_envelope``/``on_open``/``on_close``/``on_error`` hooks). Used alone, every
received envelope goes to ``on_envelope(dict)``. Given to a ``ClientChannel``, the channel core
runs in Rust: ping replies, receipts, command correlation and the TLS switch happen without
Python, and only deliveries reach the channel's callbacks.

asyncio owns the socket (a plain one, even for ``wss://``: TLS runs in Rust): the native
``_lime.LoopConnection`` is the socket's ``asyncio.Protocol``, so each chunk the socket delivers
is handled in one native call on the loop thread, and each send writes into the asyncio transport
before it returns. No other thread takes part.

This module also re-exports ``lime_python.protocol.network.transport`` (lime-python's
``lime_python.transport``), so ``lime_python.transport.Transport`` keeps working.
"""

import asyncio as _asyncio
import json as _json
import logging as _logging
import os as _os
from typing import Any, List, Optional, Union

from . import _documents, _lime
from ._attributes import PlainAttribute as _PlainAttribute
from . import errors as _errors
from .errors import ConnectionClosedError
from .protocol.constants import SessionCompression, SessionEncryption
from .protocol.network.transport import *  # noqa: F401,F403
from .protocol.network.transport import Transport

#: The default limit of one envelope, in bytes (8 MiB, as the C# implementation).
DEFAULT_MAX_ENVELOPE_SIZE = 8 * 1024 * 1024

#: The default bound of what may wait for a peer that does not read (16 MiB), see
#: ``NativeTransport``.
DEFAULT_MAX_WRITE_BUFFER_SIZE = 16 * 1024 * 1024

_log = _logging.getLogger('lime_python')

_Pem = Union[bytes, str, _os.PathLike, None]


def _one_of(name: str, value: _Pem, alias: str, alias_value: _Pem) -> _Pem:
    """The option given under its name or under its older alias (not both)."""
    if value is not None and alias_value is not None:
        raise TypeError(f'{name} and {alias} are the same option: pass one of them')
    return value if value is not None else alias_value


def _read_pem(value: _Pem) -> Optional[bytes]:
    """PEM data from bytes, PEM text, or the path of a PEM file."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str) and '-----BEGIN' in value:
        return value.encode()
    with open(_os.fspath(value), 'rb') as pem_file:
        return pem_file.read()


class NativeTransport(Transport):
    """Base of the native transports (a ``_lime.LoopConnection`` underneath).

    Arguments after ``is_trace_enabled`` are keyword-only: ``trusted_roots_pem`` (extra
    trusted CA certificates for TLS: PEM bytes/text or a file path), ``use_default_roots``
    (True by default: the Mozilla roots are trusted too; False: only ``trusted_roots_pem``),
    ``client_certificate_pem``/``client_key_pem`` (a TLS client certificate,
    for ``transport`` authentication), ``max_envelope_size`` and ``max_write_buffer_size`` in
    bytes, and in seconds: ``handshake_timeout`` (30 s: the connection ends when the server
    leaves a session envelope unanswered that long), ``remote_ping_interval`` (send ``get /ping``
    after that much silence from the server) and ``remote_idle_timeout`` (then finish the
    session if it stays silent), both off by default. The names are those of the Kotlin, Swift
    and Dart bindings (ARCHITECTURE.md, "The same words in every host"); ``ca_pem`` and
    ``client_cert_pem``, their names in lime-rs 3.0.0, are kept as aliases.

    Flow control: sends never wait. While the peer reads, what is sent goes to the socket at
    once (asyncio keeps what the socket does not take yet). When asyncio pauses writing (its
    buffer passed the high-water mark) and more than ``max_write_buffer_size`` bytes wait,
    ``send`` and the channel's ``send_*`` raise ``WriteBufferFullError`` (nothing is sent, the
    connection stays up); ``await transport.drain()`` waits until asyncio accepts writes again.
    """

    #: Seconds ``close_async`` waits for the peer to take what was sent before it aborts.
    close_timeout: float = 10.0
    #: Prefix of the trace lines.
    trace_label = 'LIME'
    #: get_supported_encryption() before the connection is open.
    default_supported_encryption: List[str] = [SessionEncryption.NONE]

    def __init__(
        self,
        is_trace_enabled: bool = False,
        *,
        trusted_roots_pem: _Pem = None,
        use_default_roots: bool = True,
        client_certificate_pem: _Pem = None,
        client_key_pem: _Pem = None,
        ca_pem: _Pem = None,
        client_cert_pem: _Pem = None,
        max_envelope_size: int = DEFAULT_MAX_ENVELOPE_SIZE,
        max_write_buffer_size: int = DEFAULT_MAX_WRITE_BUFFER_SIZE,
        handshake_timeout: Optional[float] = None,
        remote_ping_interval: Optional[float] = None,
        remote_idle_timeout: Optional[float] = None,
    ) -> None:
        self._connection = None
        self._compression = SessionCompression.NONE
        self._encryption = SessionEncryption.NONE
        super().__init__(SessionCompression.NONE, SessionEncryption.NONE)
        self.is_trace_enabled = is_trace_enabled
        self.logger = _logging.getLogger() if _logging.root.level <= _logging.DEBUG else print
        self.ca_pem = _read_pem(_one_of('trusted_roots_pem', trusted_roots_pem, 'ca_pem', ca_pem))
        self.client_cert_pem = _read_pem(_one_of(
            'client_certificate_pem', client_certificate_pem, 'client_cert_pem', client_cert_pem))
        self.client_key_pem = _read_pem(client_key_pem)
        self.use_default_roots = bool(use_default_roots)
        self.max_envelope_size = max_envelope_size
        self.max_write_buffer_size = max_write_buffer_size
        self.handshake_timeout = handshake_timeout
        self.remote_ping_interval = remote_ping_interval
        self.remote_idle_timeout = remote_idle_timeout
        self._core = None
        self._channel = None
        self._close_notified = False

    # ----- state -----------------------------------------------------------------------------

    @property
    def trusted_roots_pem(self) -> Optional[bytes]:
        """The extra trusted CA certificates (PEM), or None (``ca_pem`` is the same)."""
        return self.ca_pem

    @trusted_roots_pem.setter
    def trusted_roots_pem(self, value: _Pem) -> None:
        self.ca_pem = _read_pem(value)

    @property
    def client_certificate_pem(self) -> Optional[bytes]:
        """The TLS client certificate (PEM), or None (``client_cert_pem`` is the same)."""
        return self.client_cert_pem

    @client_certificate_pem.setter
    def client_certificate_pem(self, value: _Pem) -> None:
        self.client_cert_pem = _read_pem(value)

    @property
    def connection(self):
        """The ``_lime.LoopConnection`` (None before ``open_async``)."""
        return self._connection

    @property
    def is_open(self) -> bool:
        """True while the connection is open."""
        return self._connection is not None and self._connection.is_open

    # compression and encryption (plain attributes in lime-python): PlainAttribute descriptors,
    # set after the class body.

    # ----- Transport -------------------------------------------------------------------------

    async def open_async(self, uri: str = None) -> None:
        """Connects to ``uri``. Raises ValueError if already open; if the connection cannot be
        made, ``ConnectionOpenError`` (an ``OSError``; ``ConnectionRefusedError`` when refused)
        or ``InvalidUriError`` (websockets' ``InvalidURI``) for a bad URI, both also
        ``ConnectionClosedError`` (a ValueError). ``on_error`` is called first."""
        if self.is_open:
            self._raise(ValueError('Cannot open an already open connection'))
        if not uri:
            self._raise(_errors.InvalidUriError('A URI is required', uri))
        self._prepare_open(uri)
        connection = None
        try:
            connection = _connection_class()(
                uri,
                self._on_batch,
                ca_pem=self.ca_pem,
                use_default_roots=self.use_default_roots,
                client_cert_pem=self.client_cert_pem,
                client_key_pem=self.client_key_pem,
                max_envelope_size=self.max_envelope_size,
                max_write_buffer_size=self.max_write_buffer_size,
                handshake_timeout=self.handshake_timeout,
                remote_ping_interval=self.remote_ping_interval,
                remote_idle_timeout=self.remote_idle_timeout,
            )
            channel = self._channel
            if channel is not None:
                _attach_connection(connection, channel._core)
            await _open_socket(connection, uri)
        except BaseException as error:  # noqa: B902
            if connection is not None:
                connection.close()
            if isinstance(error, Exception):
                self.on_error(error)
            raise
        self._connection = connection
        self._close_notified = False
        if channel is not None:
            channel._core = connection
        self.on_open()

    async def close_async(self) -> None:
        """Closes the connection (does nothing when it is not open) and calls ``on_close``.

        What was sent is written first; when the peer does not take it within
        ``close_timeout`` seconds (10 by default, like websockets'), the connection is aborted
        and the rest dropped."""
        if self._connection is None:
            return
        lost = self._connection.close()
        try:
            await _asyncio.wait_for(_asyncio.shield(lost), self.close_timeout)
        except _asyncio.TimeoutError:
            self._connection.abort()
            await lost
        self._notify_close()

    def send(self, envelope: dict) -> None:
        """Queues one envelope (a dict, or JSON text). Raises ``ConnectionClosedError`` when the
        connection is not open, ``EnvelopeParseError`` for an invalid envelope and
        ``EnvelopeTooLargeError`` above ``max_envelope_size`` (all ValueErrors; ``on_error`` is
        called first)."""
        if not self.is_open:
            self._raise(ConnectionClosedError('The connection is not open'))
        if self.is_trace_enabled:
            self._trace('SEND', envelope)
        try:
            verbatim = _documents.rewritten(envelope)
            if verbatim is None:
                try:
                    self._connection.send(envelope)
                    return
                except TypeError:  # a document the core cannot hold (non-str keys, big ints)
                    verbatim = _documents.document(envelope)
                    if verbatim is None:
                        raise
            # lime-python's json.dumps form of the document (see lime_python._documents),
            # after the core checked the rest of the envelope.
            key, value = verbatim
            wire = _lime.canonical(_documents.with_placeholder(envelope, key))
            wire[key] = value
            self._connection.send_text(_documents.dumps(wire))
        except Exception as error:  # noqa: B902
            self.on_error(error)
            raise

    async def drain(self) -> None:
        """Waits until asyncio accepts writes again (returns at once while it does): for
        senders that outrun a peer, see ``WriteBufferFullError``."""
        if self._connection is not None:
            await self._connection.drain()

    def get_supported_compression(self) -> List[str]:
        """Compression options of the open connection (``['none']`` before it is open)."""
        if self._connection is not None:
            return list(self._connection.supported_compression())
        return [SessionCompression.NONE]

    def set_compression(self, compression: str) -> None:
        """Nothing to do: a negotiated compression is applied by the native connection at the
        server's confirmation."""

    def get_supported_encryption(self) -> List[str]:
        """Encryption options of the open connection."""
        if self._connection is not None:
            return list(self._connection.supported_encryption())
        return list(self.default_supported_encryption)

    def set_encryption(self, encryption: str) -> None:
        """Nothing to do: a negotiated TLS upgrade is applied by the native connection at the
        server's confirmation."""

    # ----- hooks (assign or override) --------------------------------------------------------

    def on_envelope(self, envelope: dict) -> None:
        """Called with every received envelope when no channel runs on this transport (a
        channel replaces it)."""

    def on_open(self) -> None:
        """Called when the connection is open."""

    def on_close(self) -> None:
        """Called once when the connection closed, by either side."""

    def on_error(self, err: Any) -> None:
        """Called with an error before it is raised."""

    # ----- internals -------------------------------------------------------------------------

    def _prepare_open(self, uri: str) -> None:
        self._connection = None
        self._encryption = SessionEncryption.NONE
        self._compression = SessionCompression.NONE

    def _raise(self, error: Exception) -> None:
        self.on_error(error)
        raise error

    def _trace(self, direction: str, envelope) -> None:
        """Logs one envelope; never raises (tracing must not cost a delivery)."""
        try:
            if hasattr(envelope, 'to_json'):  # noqa: WPS421 (native deliveries are objects)
                envelope = envelope.to_json()
            text = envelope if isinstance(envelope, str) else _json.dumps(envelope)
            self.logger(f'{self.trace_label} {direction}: {text}')
        except Exception:  # noqa: B902
            pass

    def _send_with(self, core, envelope: dict) -> Optional[str]:
        """The channel's fast path: checking, completing and writing in one native call;
        returns the envelope id. Used only while ``send`` is not overridden or replaced (spies see
        ``send`` otherwise)."""
        if self.is_trace_enabled:
            wire = core.prepare_send(envelope)
            self.send(wire)
            return wire.get('id')
        if not self.is_open:
            self._raise(ConnectionClosedError('The connection is not open'))
        try:
            return self._connection.send_with(core, envelope)
        except ConnectionClosedError as error:
            self.on_error(error)
            raise

    def _request_with(self, core, request: dict, future, timeout: Optional[float]) -> str:
        """``process_command_async``'s fast path: registers and sends the command request in
        one native call (its response or ``asyncio.TimeoutError`` after ``timeout`` seconds
        completes ``future``); returns its id."""
        try:
            return self._connection.request_with(core, request, future, timeout)
        except ConnectionClosedError as error:
            self.on_error(error)
            raise

    def _request_object(self, command, timeout: Optional[float]):
        """``process_command_async``'s fastest path: the native connection reads the exact
        ``Command`` object, registers and sends it and makes the future its response (or
        ``asyncio.TimeoutError`` after ``timeout`` seconds) completes; returns
        ``(id, future)``, or None for a command it does not take as it is."""
        try:
            return self._connection.request(command, timeout)
        except ConnectionClosedError as error:
            self.on_error(error)
            raise

    def _send_text(self, wire: dict) -> None:
        """Sends a wire dict the channel checked with the core, as ``json.dumps`` writes it
        (for documents the core would rewrite)."""
        if not self.is_open:
            self._raise(ConnectionClosedError('The connection is not open'))
        if self.is_trace_enabled:
            self._trace('SEND', wire)
        try:
            self._connection.send_text(_documents.dumps(wire))
        except Exception as error:  # noqa: B902
            self.on_error(error)
            raise

    def _send_message_with(self, core, message) -> Optional[str]:
        """``_send_with`` for an exact ``Message``, read by the native side from its attributes."""
        if self.is_trace_enabled:
            return self._send_with(core, message.to_json())
        connection = self._connection  # is_open, inline: this runs for every message sent
        if connection is None or not connection.is_open:
            self._raise(ConnectionClosedError('The connection is not open'))
        try:
            return connection.send_message_with(core, message)
        except ConnectionClosedError as error:
            self.on_error(error)
            raise

    def _attach(self, core, channel) -> None:
        """A ClientChannel runs ``core`` on this transport: the Rust side drives it from now on
        (and from the next ``open_async``)."""
        self._core = core
        self._channel = channel
        if self._connection is not None and self._connection.is_open:
            _attach_connection(self._connection, core)
            channel._core = self._connection

    def _notify_close(self) -> None:
        if self._close_notified:
            return
        self._close_notified = True
        try:
            self.on_close()
        except Exception:  # noqa: B902
            _log.exception('lime_python: the on_close callback raised')

    def _on_batch(self, items) -> None:
        """Called by the connection on the event loop with every item that arrived."""
        channel = self._channel
        for kind, payload in items:
            try:
                if kind == 'closed':
                    self._on_closed(payload)
                    continue
                if self.is_trace_enabled:
                    self._trace('RECEIVE', payload)
                if kind == 'envelope':
                    self.on_envelope(payload)
                elif channel is None:
                    continue
                elif kind == 'session':
                    channel._receive_session(payload)
                else:
                    channel._deliver(kind, payload)
            except Exception:  # noqa: B902
                _log.exception('lime_python: handling a received %s failed', kind)

    def _on_closed(self, error) -> None:
        if error:
            self.on_error(ConnectionClosedError(error))
        self._notify_close()
        if self._channel is not None:
            self._channel._transport_closed(error)


def _connection_attribute(name: str, doc: str) -> _PlainAttribute:
    """``compression`` / ``encryption``: the open connection's, else the assigned value."""

    def read(transport):
        connection = transport._connection
        if connection is not None:
            return getattr(connection, name)
        return transport.__dict__.get(f'_{name}')

    def write(transport, value) -> None:
        transport.__dict__[f'_{name}'] = value

    return _PlainAttribute(read, write, doc)


NativeTransport.compression = _connection_attribute(
    'compression', 'The compression in use on the connection.')
NativeTransport.compression.__set_name__(NativeTransport, 'compression')
NativeTransport.encryption = _connection_attribute(
    'encryption', 'The encryption in use on the connection (``tls`` after the TLS upgrade or '
                  'on ``wss://``).')
NativeTransport.encryption.__set_name__(NativeTransport, 'encryption')


class TcpTransport(NativeTransport):
    """LIME over TCP (``net.tcp://host:port``, default port 55321).

    When the server offers ``tls`` and the session negotiates it, the connection switches to
    TLS right after the server's confirmation, verifying the server's certificate against the
    Mozilla roots (unless ``use_default_roots=False``) plus ``trusted_roots_pem``.
    """

    trace_label = 'TCP'
    default_supported_encryption = [SessionEncryption.NONE, SessionEncryption.TLS]


class _BufferedLoopConnection(_lime.LoopConnection, _asyncio.BufferedProtocol):
    """The ``LoopConnection`` of asyncio's own event loop: an ``asyncio.BufferedProtocol``, so
    the loop reads the socket into one reused buffer (``get_buffer``/``buffer_updated``)
    instead of allocating a 256 KiB ``bytes`` object per read (three system calls each)."""

    __slots__ = ()


def _connection_class() -> type:
    """The connection class for the running loop (uvloop reads into its own buffer)."""
    loop = _asyncio.get_running_loop()
    if isinstance(loop, _asyncio.selector_events.BaseSelectorEventLoop):
        return _BufferedLoopConnection
    return _lime.LoopConnection


async def _open_socket(connection, uri: str) -> None:
    """Opens the plain socket (TLS, when any, runs in the connection) with ``connection`` as its
    protocol and waits until it is ready for envelopes: the opening handshake (WebSocket
    upgrade, TLS) within the connection's ``handshake_timeout``."""
    loop = _asyncio.get_running_loop()
    ready = connection.ready
    # When the open fails, the connection's close rejects `ready`, which nobody awaits then:
    # retrieved here, so asyncio does not log "Future exception was never retrieved".
    ready.add_done_callback(_retrieve)
    try:
        await loop.create_connection(lambda: connection, connection.host, connection.port)
    except OSError as error:
        raise _errors._open_error('os', f'cannot open {uri}: {error}', error.errno) from None
    limit = connection.handshake_timeout
    try:
        await _asyncio.wait_for(_asyncio.shield(ready), limit)
    except _asyncio.TimeoutError:
        raise _errors._open_error(
            'timeout', f'cannot open {uri}: the opening handshake did not finish in {limit:g} s'
        ) from None


def _retrieve(future) -> None:
    if not future.cancelled():
        future.exception()


def _attach_connection(connection, core) -> None:
    """Runs ``core`` (a ``ChannelCore``, or the channel's previous connection) on
    ``connection``; received messages and notifications then arrive as objects."""
    from .protocol.command import Command
    from .protocol.message import Message
    from .protocol.notification import Notification
    from .protocol.reason import Reason
    connection.attach(core, Message, Notification, Reason, Command)
