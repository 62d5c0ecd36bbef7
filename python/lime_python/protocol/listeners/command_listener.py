from abc import ABC, abstractmethod

from ..command import Command


class CommandListener(ABC):
    """Receives commands."""

    @abstractmethod
    def on_command(self, command: Command) -> None:
        """Handles a received Command."""
