"""Our public API against the published lime-python 2.0.13 + lime-transport-websocket 1.0.9:
every module path, every public name (incidental ones included), every signature, method kind
and constant value. The upstream packages are installed in a venv cached under
python/tests/.cache; tools/surface.py dumps both sides."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import upstream_venv

pytestmark = pytest.mark.upstream

SCRIPT = Path(__file__).resolve().parent / 'tools' / 'surface.py'

# Names the published transport imported from the `websockets` package (ours has no dependency
# on it).
WEBSOCKETS_NAMES = {'WebSocketClientProtocol', 'connect', 'ConnectionClosed'}
# `lime_python.transport` was the star-exported module lime_python.protocol.network.transport;
# it is now our module of native transports, which re-exports that module's names.
MODULE_RENAMES = {('lime_python', 'transport'): 'lime_python.transport'}
# What `from lime_python import *` exports beyond lime-python 2.0.13.
STAR_ADDITIONS = {'ChannelStateError', 'CommandTimeoutError', 'ConnectionClosedError',
                  'EnvelopeParseError', 'EnvelopeTooLargeError', 'LimeError',
                  'NativeTransport', 'SessionFailedError', 'TcpTransport', 'errors', 'server'}


def dump(python):
    # about a second each; both dumps of the `surfaces` fixture fit in pytest-timeout's 60 s
    result = subprocess.run([python, str(SCRIPT)], capture_output=True, text=True, timeout=25)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope='module')
def surfaces():
    return dump(upstream_venv()), dump(sys.executable)


def compatible(upstream, ours):
    """Same positional parameters, names, kinds and defaults; additions only as keyword-only
    parameters with defaults."""
    if upstream is None:
        return True
    if ours is None:
        return False
    up_var = [p for p in upstream if p[1] == 'VAR_KEYWORD']
    our_var = [p for p in ours if p[1] == 'VAR_KEYWORD']
    if up_var and not our_var:
        return False
    up = [p for p in upstream if p[1] != 'VAR_KEYWORD']
    mine = [p for p in ours if p[1] != 'VAR_KEYWORD']
    if mine[:len(up)] != up:
        return False
    return all(p[1] == 'KEYWORD_ONLY' and p[2] for p in mine[len(up):])


def problems_of_class(where, upstream, ours):
    problems = []
    if not set(upstream['mro']) <= set(ours['mro']):
        problems.append(f'{where}: bases {upstream["mro"]} not all in {ours["mro"]}')
    if not compatible(upstream['parameters'], ours['parameters']):
        problems.append(f'{where}(): {upstream["parameters"]} vs {ours["parameters"]}')
    for name, member in upstream['members'].items():
        mine = ours['members'].get(name)
        if mine is None:
            problems.append(f'{where}.{name}: missing')
            continue
        if member['kind'] != mine['kind']:
            problems.append(f'{where}.{name}: {member["kind"]} vs {mine["kind"]}')
            continue
        if member['kind'] == 'data':
            if member.get('value') != mine.get('value'):
                problems.append(f'{where}.{name}: {member.get("value")} vs {mine.get("value")}')
            continue
        if member['kind'] == 'property':
            continue
        if member['coroutine'] != mine['coroutine']:
            problems.append(f'{where}.{name}: coroutine {member["coroutine"]}')
        if mine['abstract'] and not member['abstract']:
            problems.append(f'{where}.{name}: abstract in ours only')
        if not compatible(member['parameters'], mine['parameters']):
            problems.append(f'{where}.{name}(): {member["parameters"]} vs {mine["parameters"]}')
    return problems


def test_module_tree(surfaces):
    upstream, ours = surfaces
    assert set(upstream['modules']) <= set(ours['modules'])


def test_every_public_name_and_signature(surfaces):
    upstream, ours = surfaces
    problems = []
    for module, names in upstream['modules'].items():
        mine = ours['modules'].get(module, {})
        for name, entry in names.items():
            where = f'{module}.{name}'
            if module.startswith('lime_transport_websocket') and name in WEBSOCKETS_NAMES:
                continue
            if name not in mine:
                problems.append(f'{where}: missing')
                continue
            our_entry = mine[name]
            if entry['kind'] != our_entry['kind']:
                problems.append(f'{where}: {entry["kind"]} vs {our_entry["kind"]}')
            elif entry['kind'] == 'module':
                expected = MODULE_RENAMES.get((module, name), entry['name'])
                if our_entry['name'] != expected:
                    problems.append(f'{where}: module {our_entry["name"]}')
            elif entry['kind'] == 'class':
                problems += problems_of_class(where, entry, our_entry)
            elif entry['kind'] == 'function':
                if entry['coroutine'] != our_entry['coroutine'] or \
                        not compatible(entry['parameters'], our_entry['parameters']):
                    problems.append(f'{where}: {entry} vs {our_entry}')
            elif entry.get('value') != our_entry.get('value'):
                problems.append(f'{where}: {entry.get("value")} vs {our_entry.get("value")}')
    assert problems == []


def test_star_exports(surfaces):
    upstream, ours = surfaces
    assert len(upstream['star']['lime_python']) == 103
    assert set(ours['star']['lime_python']) - set(upstream['star']['lime_python']) == \
        STAR_ADDITIONS
    assert set(upstream['star']['lime_python']) <= set(ours['star']['lime_python'])
    websocket = set(upstream['star']['lime_transport_websocket']) - WEBSOCKETS_NAMES
    assert websocket <= set(ours['star']['lime_transport_websocket'])


def test_instance_attributes(surfaces):
    upstream, ours = surfaces
    for cls, attributes in upstream['instances'].items():
        missing = set(attributes) - set(ours['instances'][cls])
        assert not missing, f'{cls}: {sorted(missing)}'
