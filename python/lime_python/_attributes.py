"""Attributes that were plain instance attributes in lime-python 2.0.13 and are now kept
elsewhere (the channel's core, the native connection), but must still behave like plain
attributes: assignable with any value, patchable with ``mock.patch.object`` and deletable.
"""

from typing import Any, Callable

_DELETED = object()


class PlainAttribute:
    """A data descriptor over ``read(obj)`` / ``write(obj, value)``.

    Reading gives ``read(obj)``. Assigning calls ``write(obj, value)`` (a ``TypeError`` or
    ``ValueError`` from it is ignored: the value is kept only here) and remembers the assigned
    object, which reads back as it was (a ``Node``, a mock, a value the store does not accept)
    until ``read(obj)`` changes by itself. ``del`` makes the attribute missing
    (``AttributeError``) until it is assigned again or the store changes; this is what
    ``mock.patch.object`` needs to put the original back.
    """

    def __init__(self, read: Callable[[Any], Any], write: Callable[[Any, Any], None],
                 doc: str = None) -> None:
        self._read = read
        self._write = write
        self.__doc__ = doc
        self.name = ''

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        current = self._read(obj)
        assigned = obj.__dict__.get('_assigned')
        if assigned and self.name in assigned:
            value, stored = assigned[self.name]
            if _same(current, stored):
                if value is _DELETED:
                    raise AttributeError(
                        f'{type(obj).__name__!r} object has no attribute {self.name!r}'
                    )
                return value
            del assigned[self.name]  # the store has moved on
        return current

    def __set__(self, obj, value) -> None:
        try:
            self._write(obj, value)
        except (TypeError, ValueError):
            pass  # not a value the store can hold: reads still give it back (see above)
        obj.__dict__.setdefault('_assigned', {})[self.name] = (value, self._read(obj))

    def __delete__(self, obj) -> None:
        assigned = obj.__dict__.setdefault('_assigned', {})
        if assigned.get(self.name, (None,))[0] is _DELETED:
            raise AttributeError(self.name)
        assigned[self.name] = (_DELETED, self._read(obj))


def _same(current, stored) -> bool:
    if current is stored:
        return True
    try:
        return bool(current == stored)
    except Exception:  # noqa: B902 (a value with a strange __eq__: treat as changed)
        return False
