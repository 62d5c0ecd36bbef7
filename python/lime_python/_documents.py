"""Documents (message ``content``, command ``resource``) sent and received as lime-python did.

The core follows the C# wire rule: under a media type that is not JSON, a document is a JSON
string, so it writes ``Message('text/plain', 42)`` as ``"42"`` and reads a received ``5`` as
``"5"``. lime-python sent whatever ``json.dumps`` made of the value and delivered what
``json.loads`` made of the text. These helpers keep that: an envelope whose document the core
would rewrite (or cannot hold: dicts with non-str keys, integers beyond 64 bits) is checked by
the core with a placeholder document, and then written with the user's value by ``json.dumps``.
"""

import json
from typing import Any, Dict, Optional, Tuple

DOCUMENT_KEYS = ('content', 'resource')

_JSON_TYPES: Dict[str, bool] = {}


def is_json_type(media_type: Any) -> bool:
    """True for a JSON media type (``…/json`` or ``…+json``, any case, parameters ignored),
    whose documents the core keeps as they are. Also True for what is not a media type at all,
    so that the core reports it."""
    if type(media_type) is not str:  # noqa: E721
        return True
    known = _JSON_TYPES.get(media_type)
    if known is None:
        parts = media_type.split(';', 1)[0].split('/')
        if len(parts) != 2:
            known = True
        else:
            subtype, _, suffix = parts[1].partition('+')
            known = subtype.lower() == 'json' or suffix.split('+', 1)[0].lower() == 'json'
        if len(_JSON_TYPES) < 1024:
            _JSON_TYPES[media_type] = known
    return known


def rewritten(wire: Any) -> Optional[Tuple[str, Any]]:
    """``(key, value)`` of the document of the envelope dict ``wire`` when the core would
    rewrite it (a value other than a str under a media type that is not JSON), else None."""
    if type(wire) is not dict:  # noqa: E721
        return None
    for key in DOCUMENT_KEYS:
        value = wire.get(key)
        if value is None or type(value) is str:  # noqa: E721
            continue
        if not is_json_type(wire.get('type')):
            return key, value
    return None


def document(wire: Any) -> Optional[Tuple[str, Any]]:
    """``(key, value)`` of the document of the envelope dict ``wire``, if it has one."""
    if type(wire) is dict:  # noqa: E721
        for key in DOCUMENT_KEYS:
            if wire.get(key) is not None:
                return key, wire[key]
    return None


def with_placeholder(wire: dict, key: str) -> dict:
    """A copy of ``wire`` with an empty string as its document (valid under any media type)."""
    copy = dict(wire)
    copy[key] = ''
    return copy


def dumps(wire: dict) -> str:
    """The JSON text of a wire dict, as lime-transport-websocket wrote it (``json.dumps``)."""
    return json.dumps(wire)
