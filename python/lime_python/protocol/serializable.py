import json
from typing import Any

from .. import _lime
from .._humps import camelize, decamelize  # noqa: F401 (lime-python exported these names)

PRIVATE_TOKEN = '_'  # noqa: S105
NODE_KEY_TOKEN = '_n'  # noqa: S105
FORBIDDEN_KEYS = frozenset(('from', 'type'))
NONSERIALIZABLE_TYPES = frozenset((int, float, bool, dict))


class Serializable:
    """An object whose public attributes are its JSON form.

    ``to_json()`` maps every attribute of ``__dict__`` that does not start with ``_`` and is not
    None: the key through ``camelize_key`` (``from_n`` → ``from``, ``type_n`` → ``type``,
    ``snake_case`` → ``camelCase``), the value through ``serialize_value``. ``from_json(raw)``
    calls the constructor with the keys mapped back. Equality, hashing and ``str`` follow the
    JSON form. The common path runs in the native module; subclasses overriding
    ``camelize_key`` or ``serialize_value`` get exactly their overrides.
    """

    @classmethod
    def from_json(cls: Any, raw_json: dict) -> Any:
        """Builds an instance from its JSON form (keys mapped to attribute names)."""
        return cls(**_lime.from_json_kwargs(raw_json))

    def __str__(self) -> str:
        """The JSON text of ``to_json()``."""
        return json.dumps(self.to_json())

    def __repr__(self) -> str:
        """Same as ``str``."""
        return str(self)

    def __eq__(self, obj: object) -> bool:
        """Equal when ``obj`` is a Serializable with the same JSON form."""
        return isinstance(obj, Serializable) and self.to_json() == obj.to_json()

    def __hash__(self) -> int:
        """Hash of the JSON text."""
        return hash(str(self))

    def to_json(self) -> dict:
        """The JSON form (a dict) of the public, non-None attributes."""
        cls = type(self)
        if cls.camelize_key is _CAMELIZE_KEY and cls.serialize_value is _SERIALIZE_VALUE:
            return _lime.serializable_to_json(self, Serializable)
        return {
            self.camelize_key(key): self.serialize_value(value)
            for key, value in self.__dict__.items()
            if not key.startswith(PRIVATE_TOKEN) and value is not None
        }

    def camelize_key(self, key: str) -> str:
        """Attribute name → JSON key (``from_n`` → ``from``, ``some_key`` → ``someKey``)."""
        return _lime.camelize(key)

    @staticmethod
    def decamelize_key(key: str) -> str:
        """JSON key → attribute name (``from`` → ``from_n``, ``someKey`` → ``some_key``)."""
        return _lime.decamelize(key)

    def serialize_value(self, value: Any) -> Any:
        """A Serializable becomes its ``to_json()``, another object with attributes its ``str``."""
        if isinstance(value, Serializable):
            return value.to_json()
        if hasattr(value, '__dict__'):  # noqa: WPS421
            return str(value)
        return value


_CAMELIZE_KEY = Serializable.camelize_key
_SERIALIZE_VALUE = Serializable.serialize_value
