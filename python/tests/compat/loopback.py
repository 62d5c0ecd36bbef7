"""A Transport written in pure Python that records what is sent (as upstream's own tests do with
a dummy transport)."""

from typing import List

from lime_python import Transport


class RecordingTransport(Transport):
    """Keeps every sent envelope dict in ``sent``; opening and closing do nothing."""

    def __init__(self, compression: str = 'none', encryption: str = 'none') -> None:
        super().__init__(compression, encryption)
        self.sent: List[dict] = []
        self.closed = 0

    async def open_async(self, uri: str = None) -> None:
        pass

    async def close_async(self) -> None:
        self.closed += 1

    def send(self, envelope: dict) -> None:
        self.sent.append(envelope)

    def get_supported_compression(self) -> List[str]:
        return ['none']

    def set_compression(self, compression: str) -> None:
        self.compression = compression

    def get_supported_encryption(self) -> List[str]:
        return ['none']

    def set_encryption(self, encryption: str) -> None:
        self.encryption = encryption

    def on_envelope(self, envelope: dict) -> None:
        pass
