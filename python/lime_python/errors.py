"""Exceptions raised by lime_python.

Each one also derives from the builtin that lime-python 2.0.13 raised in the same situation, so
existing ``except ValueError`` / ``except asyncio.TimeoutError`` clauses keep working. The native
module (``lime_python._lime``) raises these classes by name.
"""

import asyncio as _asyncio

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


class EnvelopeTooLargeError(LimeError, ValueError):
    """An envelope exceeds the maximum envelope size; it was not sent and the connection is up."""
