from .serializable import Serializable


class Reason(Serializable):
    """Why something failed: a LIME reason code (see ``ReasonCode``) and a description.

    Serialized as the JSON object ``{"code": ..., "description": ...}`` (lime-python 2.0.13 sent
    the string ``"description (Code n)"``); ``str()`` is still ``"description (Code n)"``.
    """

    def __init__(self, code: int, description: str) -> None:
        self.code = code
        self.description = description

    @classmethod
    def from_json(cls, raw_json: dict) -> 'Reason':
        """A Reason from ``{"code": ..., "description"?: ...}``."""
        return cls(raw_json.get('code'), raw_json.get('description'))

    def __str__(self) -> str:
        """``"{description} (Code {code})"``."""
        return f'{self.description} (Code {self.code})'


def _as_reason(value):
    """A received ``reason`` dict becomes a Reason; anything else is kept as given."""
    if isinstance(value, dict) and 'code' in value:
        return Reason.from_json(value)
    return value
