"""``WebSocketTransport``: lime-transport-websocket 1.0.9's class on the native connection."""

import json  # noqa: F401 (lime-transport-websocket exported these names)
import logging  # noqa: F401
from asyncio import ensure_future  # noqa: F401
from typing import Any, List  # noqa: F401

from lime_python import SessionCompression, SessionEncryption, Transport  # noqa: F401
from lime_python._attributes import PlainAttribute as _PlainAttribute
from lime_python.transport import NativeTransport as _NativeTransport


class WebSocketTransport(_NativeTransport):
    """LIME over WebSocket (``ws://`` and ``wss://``, subprotocol ``lime``), run by Rust.

    Same constructor, attributes and callbacks as lime-transport-websocket 1.0.9:
    ``is_trace_enabled``, ``logger``, ``websocket`` (the native connection, or None),
    ``compression``, ``encryption`` (``tls`` for ``wss://``), ``on_open``, ``on_close`` (also
    called when the server closes the connection), ``on_error``, ``on_envelope``. ``wss://``
    verifies the server certificate (the Mozilla roots unless ``use_default_roots=False``, plus
    the keyword-only ``trusted_roots_pem``, alias ``ca_pem``).
    """

    trace_label = 'WebSocket'
    default_supported_encryption = [SessionEncryption.TLS, SessionEncryption.NONE]

    # websocket: the native connection (None before open_async); a PlainAttribute, set after
    # the class body, as it was a plain attribute.

    def _prepare_open(self, uri: str) -> None:
        super()._prepare_open(uri)
        if uri.startswith('wss://'):
            self._encryption = SessionEncryption.TLS


def _read_connection(transport):
    return transport._connection


def _write_connection(transport, value) -> None:
    transport._connection = value


WebSocketTransport.websocket = _PlainAttribute(
    _read_connection, _write_connection,
    'The open native connection (None before ``open_async``).')
WebSocketTransport.websocket.__set_name__(WebSocketTransport, 'websocket')
