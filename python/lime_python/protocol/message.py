from typing import Any, Dict

from .envelope import Envelope, _ENVELOPE_INIT


class Message(Envelope):
    """A message: ``content`` of media type ``type_n``.

    ``id``, ``from_n``, ``to``, ``pp`` and ``metadata`` are ``Envelope``'s (keyword-only here, so
    an exact ``Message`` sets them without a second call; other keywords are ignored, as
    ``Envelope`` ignores them).
    """

    def __init__(
        self,
        type_n: str = None,
        content: Any = None,
        *,
        id: str = None,  # noqa: A002, WPS125
        from_n: str = None,
        to: str = None,
        pp: str = None,
        metadata: Dict[str, str] = None,
        **kwargs
    ) -> None:
        if type(self) is Message and Envelope.__init__ is _ENVELOPE_INIT:  # noqa: E721
            # Envelope.__init__, inline (every message built runs this): the same attributes
            # in the same order
            self.id = id
            self.from_n = from_n
            self.to = to
            self.pp = pp
            self.metadata = metadata
        else:
            super().__init__(id=id, from_n=from_n, to=to, pp=pp, metadata=metadata, **kwargs)
        self.type_n = type_n
        self.content = content
