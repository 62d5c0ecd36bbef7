from typing import Any

from .envelope import Envelope
from .reason import Reason, _as_reason


class Command(Envelope):
    """A request (no ``status``) or a response (``status`` success/failure) on a resource.

    ``timeout`` is set to True by ``process_command_async`` when no response arrived in time.
    A ``reason`` given as a dict (as received) becomes a ``Reason``.
    """

    def __init__(
        self,
        method: str = None,
        uri: str = None,
        type_n: str = None,
        resource: Any = None,
        status: str = None,
        reason: Reason = None,
        timeout: bool = None,
        **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.method = method
        self.uri = uri
        self.type_n = type_n
        self.resource = resource
        self.status = status
        self.reason = _as_reason(reason)
        self.timeout = timeout
