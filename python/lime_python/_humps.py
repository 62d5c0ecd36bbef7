"""String case conversion compatible with the ``pyhumps`` functions that lime-python 2.0.13
star-exported by accident (``lime_python.camelize`` / ``lime_python.decamelize``).

lime-python itself now maps keys with ``_lime.camelize``/``_lime.decamelize`` (see
``protocol/serializable.py``); these two stay for code that imported them from lime_python.
"""

import re
from collections.abc import Mapping

_SEPARATOR_RUN = re.compile(r'(?<=[^_-])[_-]+([^_-])')
_ACRONYM = re.compile(r'[A-Z0-9]+(?=[A-Z0-9]|$)')
_WORD = re.compile(r'([_-]*[A-Z][^A-Z]*[_-]*)')


def _text(value):
    return '' if value is None else re.sub(r'\s+', '', str(value))


def _walk(value, convert):
    if isinstance(value, list):
        return [_walk(item, convert) for item in value]
    if isinstance(value, Mapping):
        return {convert(key): _walk(item, convert) for key, item in value.items()}
    return value


def camelize(str_or_iter):
    """``snake_case`` → ``camelCase`` (recursing into the keys of dicts and lists of dicts)."""
    if isinstance(str_or_iter, (list, Mapping)):
        return _walk(str_or_iter, camelize)
    text = _text(str_or_iter)
    if text.isupper() or text.isnumeric():
        return str_or_iter
    if text and not text[:2].isupper():
        text = text[0].lower() + text[1:]
    return _SEPARATOR_RUN.sub(lambda match: match.group(1).upper(), text)


def decamelize(str_or_iter):
    """``camelCase`` → ``snake_case`` (recursing into the keys of dicts and lists of dicts)."""
    if isinstance(str_or_iter, (list, Mapping)):
        return _walk(str_or_iter, decamelize)
    text = _text(str_or_iter)
    if text.isupper() or text.isnumeric():
        return str_or_iter
    text = _ACRONYM.sub(lambda match: match.group(0).title(), text)
    return '_'.join(word for word in _WORD.split(text) if word).lower()
