from abc import abstractmethod

from ...listeners import MessageListener
from ...message import Message


class MessageChannel(MessageListener):
    """Sends and receives messages."""

    @abstractmethod
    def send_message(self, message: Message) -> None:
        """Sends a Message."""
