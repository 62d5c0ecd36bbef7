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

    # lime-python 2.0.13 delivered received reasons as dicts; code written against it reads
    # ``reason['description']`` / ``reason.get('code')``. A Reason answers the same, read-only,
    # from its JSON form (absent or None fields are missing keys, as in the received dict).

    def __getitem__(self, key: str):
        """``reason['code']``, ``reason['description']``: the JSON form's value."""
        return self.to_json()[key]

    def get(self, key: str, default=None):
        """``reason.get('code')``, as on the dict lime-python delivered."""
        return self.to_json().get(key, default)

    def __contains__(self, key) -> bool:
        return key in self.to_json()

    def keys(self):
        """The keys of the JSON form."""
        return self.to_json().keys()

    def values(self):
        """The values of the JSON form."""
        return self.to_json().values()

    def items(self):
        """The items of the JSON form."""
        return self.to_json().items()

    def __eq__(self, other: object) -> bool:
        """Equal to a Serializable with the same JSON form, and to a dict equal to it."""
        if isinstance(other, dict):
            return self.to_json() == other
        return super().__eq__(other)

    __hash__ = Serializable.__hash__


def _as_reason(value):
    """A received ``reason`` dict becomes a Reason; anything else is kept as given."""
    if isinstance(value, dict) and 'code' in value:
        return Reason.from_json(value)
    return value
