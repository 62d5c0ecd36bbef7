"""lime-python on a Rust core: a drop-in replacement for lime-python 2.0.13.

Same modules, names and signatures as lime-python 2.0.13 (``from lime_python import *`` exports
the same names), with the protocol implemented once in Rust (``lime_python._lime``). Beyond
lime-python: ``lime_python.errors``, ``TcpTransport`` (``lime_python.transport``),
``lime_python.server`` and ``ClientChannel.envelopes()``.
"""

from .protocol import *  # noqa: F401,F403
from .errors import (ChannelStateError, CommandTimeoutError,  # noqa: F401
                     ConnectionClosedError, EnvelopeParseError,
                     EnvelopeTooLargeError, LimeError, SessionFailedError)
from .transport import NativeTransport, TcpTransport  # noqa: F401
from . import server  # noqa: F401
