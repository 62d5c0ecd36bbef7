"""Exceptions raised by lime_python.

Each one also derives from the builtin that lime-python 2.0.13 raised in the same situation, so
existing ``except ValueError`` / ``except asyncio.TimeoutError`` clauses keep working. The native
module (``lime_python._lime``) raises these classes by name.
"""

import asyncio as _asyncio
import errno as _errno

# asyncio.TimeoutError is the builtin TimeoutError from Python 3.11 on, a separate class before.
_TIMEOUT_BASES = (TimeoutError,) if _asyncio.TimeoutError is TimeoutError \
    else (TimeoutError, _asyncio.TimeoutError)


class LimeError(Exception):
    """Base class of every lime_python error."""


class EnvelopeParseError(LimeError, ValueError):
    """Text or a dict is not a valid LIME envelope."""


class ChannelStateError(LimeError, ValueError):
    """The channel's session state does not allow the operation.

    The message is lime-python's: ``'Cannot send in the {state} state'``.
    """


class CommandTimeoutError(LimeError, *_TIMEOUT_BASES):
    """``process_command_async`` got no response in time.

    Catchable as ``TimeoutError`` and as ``asyncio.TimeoutError`` on every Python version.
    ``command`` is the request (its ``timeout`` attribute is set to ``True``, as lime-python did).
    """

    def __init__(self, message: str = '', command=None) -> None:
        super().__init__(message)
        self.command = command


class SessionFailedError(LimeError):
    """The server failed the session (or ended it) while a session call was waiting.

    ``session`` is the received ``Session`` and ``reason`` its ``Reason`` (may be None).
    """

    def __init__(self, session=None, message: str = None) -> None:
        reason = getattr(session, 'reason', None)
        state = getattr(session, 'state', None)
        if message is None:
            message = f'The session {state}' + (f': {reason}' if reason is not None else '')
        super().__init__(message)
        self.session = session
        self.reason = reason


class ConnectionClosedError(LimeError, ValueError):
    """The connection is closed (or could not be opened)."""


class ConnectionOpenError(ConnectionClosedError, OSError):
    """``open_async`` could not connect: refused, unreachable, the name did not resolve, the TLS
    handshake failed.

    Also an ``OSError``, as the error lime-transport-websocket let through was, so reconnect
    loops written as ``except OSError`` keep working. ``errno`` is set when the system
    reported one.
    """

    def __init__(self, message: str = '', errno: int = None) -> None:
        super().__init__(message)
        self.errno = errno
        self.strerror = message

    def __str__(self) -> str:
        return self.strerror if self.strerror is not None else super().__str__()


class ConnectionRefusedOpenError(ConnectionOpenError, ConnectionRefusedError):
    """Nothing listens at the address: also a ``ConnectionRefusedError``, as lime-python raised."""


class OpenTimeoutError(ConnectionOpenError, *_TIMEOUT_BASES):
    """The socket connected but the opening handshake (the WebSocket upgrade, TLS) did not
    finish within the transport's ``handshake_timeout``: also a ``TimeoutError``, as the timeout
    of lime-transport-websocket's ``websockets.connect`` was."""


def _make_invalid_uri_error():
    """``InvalidUriError``: also websockets' ``InvalidURI`` (what lime-transport-websocket
    raised for a bad URI). Built on first use, because importing websockets costs a few hundred
    milliseconds and lime_python does not need it otherwise."""
    try:
        from websockets.exceptions import InvalidURI
    except ImportError:  # websockets is a dependency of the wheel, but may have been removed
        bases = (ConnectionClosedError,)
    else:
        bases = (ConnectionClosedError, InvalidURI)

    def __init__(self, message: str = '', uri: str = None) -> None:  # noqa: N807
        Exception.__init__(self, message)
        self.uri = uri
        self.msg = message

    return type('InvalidUriError', bases, {
        '__module__': __name__,
        '__qualname__': 'InvalidUriError',
        '__doc__': 'The URI given to ``open_async`` is not one the transport can open (a '
                   '``ValueError``, and websockets\' ``InvalidURI`` when websockets is '
                   'installed).',
        '__init__': __init__,
        '__str__': Exception.__str__,
    })


def __getattr__(name: str):
    if name == 'InvalidUriError':
        cls = globals().get(name)
        if cls is None:
            cls = globals()[name] = _make_invalid_uri_error()
        return cls
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def _open_error(kind: str, message: str, errno: int = None) -> Exception:
    """The exception for a failed ``open_async`` (called by the native module): ``kind`` is
    ``'uri'``, ``'os'`` (with the system's ``errno`` when known), ``'timeout'`` or
    ``'closed'``."""
    if kind == 'uri':
        return __getattr__('InvalidUriError')(message)
    if kind == 'timeout':
        return OpenTimeoutError(message, _errno.ETIMEDOUT)
    if kind == 'os':
        if errno is not None and isinstance(OSError(errno, message), ConnectionRefusedError):
            return ConnectionRefusedOpenError(message, errno)
        return ConnectionOpenError(message, errno)
    return ConnectionClosedError(message)


class EnvelopeTooLargeError(LimeError, ValueError):
    """An envelope exceeds the maximum envelope size; it was not sent and the connection is up."""


class WriteBufferFullError(LimeError, BufferError):
    """A send refused because the peer is not reading: asyncio paused writing and more than the
    transport's ``max_write_buffer_size`` bytes already wait to be written. Nothing was sent;
    ``await transport.drain()`` waits until asyncio accepts writes again."""
