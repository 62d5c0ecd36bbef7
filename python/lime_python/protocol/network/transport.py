from abc import abstractmethod
from typing import List

from ..listeners import EnvelopeListener


class Transport(EnvelopeListener):
    """A connection that carries envelopes as dicts.

    Subclass it to write a transport in Python: implement the eight abstract methods. A channel
    replaces ``on_envelope`` with its own handler: call ``self.on_envelope(envelope_dict)`` for
    every envelope received. ``send`` receives the envelope as a dict ready for ``json.dumps``.
    The native transports (``lime_python.TcpTransport``,
    ``lime_transport_websocket.WebSocketTransport``) are subclasses too.
    """

    def __init__(self, compression: str, encryption: str) -> None:
        self.compression = compression
        self.encryption = encryption

    @abstractmethod
    async def open_async(self, uri: str = None) -> None:
        """Opens the connection to ``uri``."""

    @abstractmethod
    async def close_async(self) -> None:
        """Closes the connection."""

    @abstractmethod
    def send(self, envelope: dict) -> None:
        """Sends one envelope (a JSON-ready dict)."""

    @abstractmethod
    def get_supported_compression(self) -> List[str]:
        """The compression options this transport supports."""

    @abstractmethod
    def set_compression(self, compression: str) -> None:
        """Applies a negotiated compression."""

    @abstractmethod
    def get_supported_encryption(self) -> List[str]:
        """The encryption options this transport supports."""

    @abstractmethod
    def set_encryption(self, encryption: str) -> None:
        """Applies a negotiated encryption."""
