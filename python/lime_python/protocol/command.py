from typing import Any, Dict

from .envelope import Envelope, _ENVELOPE_INIT
from .reason import Reason, _as_reason


class Command(Envelope):
    """A request (no ``status``) or a response (``status`` success/failure) on a resource.

    ``timeout`` is set to True by ``process_command_async`` when no response arrived in time.
    A ``reason`` given as a dict (as received) becomes a ``Reason``. ``id``, ``from_n``, ``to``,
    ``pp`` and ``metadata`` are ``Envelope``'s (keyword-only here, see ``Message``).
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
        *,
        id: str = None,  # noqa: A002, WPS125
        from_n: str = None,
        to: str = None,
        pp: str = None,
        metadata: Dict[str, str] = None,
        **kwargs
    ) -> None:
        if type(self) is Command and Envelope.__init__ is _ENVELOPE_INIT:  # noqa: E721
            # Envelope.__init__, inline (every request built runs this): the same attributes
            # in the same order
            self.id = id
            self.from_n = from_n
            self.to = to
            self.pp = pp
            self.metadata = metadata
        else:
            super().__init__(id=id, from_n=from_n, to=to, pp=pp, metadata=metadata, **kwargs)
        self.method = method
        self.uri = uri
        self.type_n = type_n
        self.resource = resource
        self.status = status
        self.reason = reason if reason is None else _as_reason(reason)
        self.timeout = timeout
