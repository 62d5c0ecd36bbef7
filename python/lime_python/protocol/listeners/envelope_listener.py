from abc import ABC, abstractmethod

from ..envelope import Envelope


class EnvelopeListener(ABC):
    """Receives envelopes."""

    @abstractmethod
    def on_envelope(self, envelope: Envelope) -> None:
        """Handles a received Envelope."""
