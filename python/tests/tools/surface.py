"""Dumps the public API of lime_python and lime_transport_websocket as JSON (stdout).

Run by the interpreter of the upstream venv (published lime-python 2.0.13) and by ours; the two
dumps are compared by test_api_surface.py. Standard library only.
"""

import importlib
import inspect
import json
import pkgutil
import sys
from typing import List

PACKAGES = ('lime_python', 'lime_transport_websocket')
SIMPLE = (str, int, float, bool, type(None), frozenset, tuple)


def value_repr(value):
    if isinstance(value, frozenset):
        return repr(sorted(repr(item) for item in value))
    return repr(value)


def parameters(obj):
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    out = []
    for p in signature.parameters.values():
        default = None if p.default is inspect.Parameter.empty else repr(p.default)
        out.append([p.name, p.kind.name, p.default is not inspect.Parameter.empty, default])
    return out


def describe_member(cls, name):
    raw = inspect.getattr_static(cls, name)
    value = getattr(cls, name)
    if isinstance(raw, staticmethod):
        kind = 'staticmethod'
    elif isinstance(raw, classmethod):
        kind = 'classmethod'
    elif isinstance(raw, property):
        return {'kind': 'property'}
    elif inspect.isfunction(raw):
        kind = 'method'
    else:
        entry = {'kind': 'data', 'type': type(value).__name__}
        if isinstance(value, SIMPLE):
            entry['value'] = value_repr(value)
        return entry
    return {'kind': kind, 'coroutine': inspect.iscoroutinefunction(value),
            'abstract': getattr(value, '__isabstractmethod__', False),
            'parameters': parameters(value)}


def describe(value):
    if inspect.ismodule(value):
        return {'kind': 'module', 'name': value.__name__}
    if inspect.isclass(value):
        return {
            'kind': 'class',
            'qualname': f'{value.__module__}.{value.__qualname__}',
            'mro': [c.__name__ for c in value.__mro__],
            'parameters': parameters(value),
            'members': {n: describe_member(value, n) for n in dir(value) if not n.startswith('_')},
        }
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return {'kind': 'function', 'coroutine': inspect.iscoroutinefunction(value),
                'parameters': parameters(value)}
    entry = {'kind': 'other', 'type': type(value).__name__}
    if isinstance(value, SIMPLE):
        entry['value'] = value_repr(value)
    return entry


def modules():
    names = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + '.'):
            if info.name.rsplit('.', 1)[-1].startswith('_'):
                continue
            names.append(info.name)
    return names


def instances():
    """Public attributes of instances (instance attributes included)."""
    from lime_python import (
        ClientChannel,
        Command,
        Identity,
        Message,
        Node,
        Notification,
        Reason,
        Session,
        Transport,
    )
    from lime_transport_websocket import WebSocketTransport

    class Dummy(Transport):
        async def open_async(self, uri: str = None) -> None: ...
        async def close_async(self) -> None: ...
        def send(self, envelope: dict) -> None: ...
        def get_supported_compression(self) -> List[str]: return ['none']
        def set_compression(self, compression: str) -> None: ...
        def get_supported_encryption(self) -> List[str]: return ['none']
        def set_encryption(self, encryption: str) -> None: ...
        def on_envelope(self, envelope: dict) -> None: ...

    objects = {
        'Message': Message(), 'Notification': Notification(), 'Command': Command(),
        'Session': Session(), 'Reason': Reason(1, 'x'), 'Identity': Identity(),
        'Node': Node(), 'Transport': Dummy('none', 'none'),
        'ClientChannel': ClientChannel(Dummy('none', 'none')),
        'WebSocketTransport': WebSocketTransport(),
    }
    return {name: sorted(a for a in dir(obj) if not a.startswith('_'))
            for name, obj in objects.items()}


def main():
    dump = {'modules': {}, 'star': {}}
    for name in modules():
        module = importlib.import_module(name)
        public = {n: describe(getattr(module, n)) for n in dir(module) if not n.startswith('_')}
        dump['modules'][name] = public
    for package_name in PACKAGES:
        namespace = {}
        exec(f'from {package_name} import *', namespace)  # noqa: S102
        dump['star'][package_name] = sorted(n for n in namespace if not n.startswith('__'))
    dump['instances'] = instances()
    json.dump(dump, sys.stdout, indent=1, sort_keys=True)


if __name__ == '__main__':
    main()
