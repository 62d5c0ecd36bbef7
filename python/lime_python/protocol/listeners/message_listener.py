from abc import ABC, abstractmethod

from ..message import Message


class MessageListener(ABC):
    """Receives messages."""

    @abstractmethod
    def on_message(self, message: Message) -> None:
        """Handles a received Message."""
