from abc import abstractmethod

from ...listeners import NotificationListener
from ...notification import Notification


class NotificationChannel(NotificationListener):
    """Sends and receives notifications."""

    @abstractmethod
    def send_notification(self, notification: Notification) -> None:
        """Sends a Notification."""
