from abc import abstractmethod

from ...listeners import SessionListener
from ...session import Session


class SessionChannel(SessionListener):
    """Sends and receives sessions."""

    @abstractmethod
    def send_session(self, session: Session) -> None:
        """Sends a Session."""
