from .envelope import Envelope
from .reason import Reason, _as_reason


class Notification(Envelope):
    """A notification about a message (``id`` is the message's id). A ``reason`` given as a dict
    (as received) becomes a ``Reason``."""

    def __init__(
        self,
        event: str = None,
        reason: Reason = None,
        **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.event = event
        self.reason = _as_reason(reason)
