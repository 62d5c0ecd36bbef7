from abc import abstractmethod

from ...command import Command
from ...listeners import CommandListener


class CommandChannel(CommandListener):
    """Sends and receives commands."""

    @abstractmethod
    def send_command(self, command: Command) -> None:
        """Sends a Command."""
