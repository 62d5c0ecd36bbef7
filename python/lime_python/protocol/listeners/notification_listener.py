from abc import ABC, abstractmethod

from ..notification import Notification


class NotificationListener(ABC):
    """Receives notifications."""

    @abstractmethod
    def on_notification(self, notification: Notification) -> None:
        """Handles a received Notification."""
