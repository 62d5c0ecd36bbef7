from typing import Dict

from .serializable import Serializable


class Envelope(Serializable):
    """Common part of every LIME envelope.

    ``from_n``, ``to`` and ``pp`` are node strings (``name@domain/instance``); ``metadata`` maps
    strings to strings. Unknown keyword arguments are ignored (so ``from_json`` accepts any key).
    """

    def __init__(
        self,
        id: str = None,  # noqa: A002, WPS125
        from_n: str = None,
        to: str = None,
        pp: str = None,
        metadata: Dict[str, str] = None,
        **kwargs
    ) -> None:
        self.id = id
        self.from_n = from_n
        self.to = to
        self.pp = pp
        self.metadata = metadata

    @staticmethod
    def is_message(envelope) -> bool:
        """True for a Message (an object with ``content`` or a dict with a ``content`` key)."""
        return _has(envelope, 'content')

    @staticmethod
    def is_notification(envelope) -> bool:
        """True for a Notification (``event``)."""
        return _has(envelope, 'event')

    @staticmethod
    def is_command(envelope) -> bool:
        """True for a Command (``method``)."""
        return _has(envelope, 'method')

    @staticmethod
    def is_session(envelope) -> bool:
        """True for a Session (``state``)."""
        return _has(envelope, 'state')


#: ``Envelope.__init__`` as defined here: ``Message`` and ``Command`` set its attributes inline
#: while nobody replaced it.
_ENVELOPE_INIT = Envelope.__init__


def _has(envelope, key: str) -> bool:
    if isinstance(envelope, dict):
        return key in envelope
    return hasattr(envelope, key)  # noqa: WPS421
