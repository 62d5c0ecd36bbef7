from abc import abstractmethod

from ..command import Command
from ..listeners import CommandListener


class CommandProcessor(CommandListener):
    """Sends command requests and awaits their responses."""

    @abstractmethod
    async def process_command_async(
        self,
        command: Command,
        timeout: float
    ) -> Command:
        """Sends ``command`` and returns its response (raises on timeout)."""
