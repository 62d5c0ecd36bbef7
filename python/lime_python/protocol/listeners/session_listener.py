from abc import ABC, abstractmethod

from ..session import Session


class SessionListener(ABC):
    """Receives sessions."""

    @abstractmethod
    def on_session(self, session: Session) -> None:
        """Handles a received Session."""
