"""The cross-language vectors (tests/vectors) through the Python package: the native codec
(``_lime.loads``/``dumps``/``canonical``), the lime-python envelope classes on top of it,
Node/Identity, and media types and URIs through the envelope fields that carry them.

The runner lists the directory and fails on a file it does not know, and checks each file's
case count against the table in tests/vectors/README.md. Cases it does not run are pinned below
by name, with the reason.
"""

import json
import re

import pytest
from conftest import VECTORS
from lime_python import (
    Command,
    EnvelopeParseError,
    Identity,
    Message,
    Node,
    Notification,
    Session,
    _lime,
)

# Every file of tests/vectors and who runs it from Python. A file missing here fails
# test_every_vector_file_is_known; framing needs a stream decoder, which the package does not
# expose, so tests/test_decode_cli.py runs it through `lime decode`.
RUNNERS = {
    'envelopes.json': 'here (codec, classes); tests/test_decode_cli.py (one stream)',
    'invalid_envelopes.json': 'here (codec); tests/test_decode_cli.py (inside a stream)',
    'nodes.json': 'here (Node, Identity, equality)',
    'media_types.json': 'here, as the `type` of a message',
    'uris.json': 'here, as the `uri` of a command',
    'framing.json': 'tests/test_decode_cli.py (lime decode)',
}
NOT_VECTORS = {'README.md'}


def load_file(name):
    return json.loads((VECTORS / name).read_text(encoding='utf-8'))


def cases(name):
    return load_file(name)['cases']


ENVELOPES = cases('envelopes.json')
INVALID = cases('invalid_envelopes.json')
NODES = cases('nodes.json')
EQUALITY = load_file('nodes.json')['equality']
MEDIA_TYPES = cases('media_types.json')
URIS = cases('uris.json')
CLASSES = {'message': Message, 'notification': Notification, 'command': Command,
           'session': Session}
DISCRIMINATORS = [('content', 'message'), ('event', 'notification'), ('method', 'command'),
                  ('state', 'session')]
NOT_ENVELOPE = 'none of `content`, `event`, `method` or `state`'

# A message whose content is null is a message without content (README rule 3); it is written
# without `content`/`type` and so can no longer be read as a message (PROTOCOL §1.4). Its
# canonical form is checked, and rewriting it must be refused as not an envelope.
CONTENT_NULL = {'message_content_null_is_message_without_content',
                'message_content_null_wins_over_event'}

# Raw input handed to the lime-python classes (Message.from_json(dict) ...) before the codec:
# these cases do not survive that path, for reasons of the classes' lime-python 2.0.13 API, not
# of the wire format (the codec and the classes are checked on them by the two tests above).
RAW_THROUGH_CLASSES_SKIPS = {
    'message_content_null_is_message_without_content':
        'Serializable drops None attributes, and the `type` of a message without content stays',
    'message_content_null_wins_over_event':
        'Serializable drops None attributes: the null content that makes it a message is lost',
    'notification_event_null_defaults_to_failed':
        'Serializable drops None attributes: the null event that makes it a notification is lost',
    'command_method_null_defaults_to_get':
        'Serializable drops None attributes: the null method that makes it a command is lost',
    'session_state_null_defaults_to_new':
        'Serializable drops None attributes: the null state that makes it a session is lost',
    'message_unknown_properties_ignored':
        "lime-python's key mapping folds case (\"Type\" -> type_n): keys that differ from "
        "LIME's only by case collide in from_json",
}

# What the `type` / `uri` fields cannot show of a media type or URI vector.
MEDIA_TYPE_FIELDS_NOT_CHECKED = ('type', 'subtype', 'suffix')  # only display and is_json
URI_FIELDS_NOT_CHECKED = ('relative', 'path')  # only validity and display


def readme_table():
    """{file: (cases, equality pairs or None)} from the table in tests/vectors/README.md."""
    row = re.compile(r'^\|\s*`([^`]+\.json)`\s*\|\s*(\d+)\s*(?:\(\+(\d+) equality pairs\))?\s*\|')
    table = {}
    for line in (VECTORS / 'README.md').read_text(encoding='utf-8').splitlines():
        match = row.match(line)
        if match:
            name, count, pairs = match.groups()
            assert name not in table, f'{name} listed twice in the README table'
            table[name] = (int(count), int(pairs) if pairs else None)
    return table


def strict(value):
    """A JSON value with its types made explicit, so True != 1 and 1 != 1.0."""
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [strict(item) for item in value]
    return (type(value).__name__, value)


def same(actual, expected):
    """JSON equality as tests/vectors/README.md defines it, checked in both directions."""
    return strict(actual) == strict(expected) and strict(expected) == strict(actual)


def kind_of(wire):
    for key, kind in DISCRIMINATORS:
        if key in wire:
            return kind
    return None


def ids(items, key='name'):
    return [item[key] for item in items]


# --- the inventory ----------------------------------------------------------------------------

def test_every_vector_file_is_known():
    present = {path.name for path in VECTORS.iterdir()}
    unknown = present - set(RUNNERS) - NOT_VECTORS
    assert not unknown, f'tests/vectors has files no Python runner knows: {sorted(unknown)}'
    absent = set(RUNNERS) - present
    assert not absent, f'vector files missing from tests/vectors: {sorted(absent)}'


def test_case_counts_match_the_readme():
    table = readme_table()
    assert set(table) == set(RUNNERS), 'the README table lists other files than tests/vectors'
    for name, (count, pairs) in table.items():
        data = load_file(name)
        assert len(data['cases']) == count, f'{name}: {len(data["cases"])} cases, README {count}'
        assert len(data.get('equality', [])) == (pairs or 0), f'{name}: equality pairs'


@pytest.mark.parametrize('name', sorted(RUNNERS))
def test_case_names_are_unique(name):
    key = 'input' if name in ('nodes.json', 'media_types.json', 'uris.json') else 'name'
    names = [case[key] for case in cases(name)]
    assert len(names) == len(set(names))


def test_pinned_case_names_exist():
    names = set(ids(ENVELOPES))
    assert CONTENT_NULL <= names
    assert set(RAW_THROUGH_CLASSES_SKIPS) <= names


# --- envelopes.json ---------------------------------------------------------------------------

@pytest.mark.parametrize('case', ENVELOPES, ids=ids(ENVELOPES))
def test_envelope_codec(case):
    wire = _lime.loads(case['input'])
    assert same(wire, case['canonical'])
    assert same(_lime.loads(case['input'].encode('utf-8')), case['canonical'])
    if case['name'] in CONTENT_NULL:
        assert case['kind'] == 'message'
        # written without content, the envelope is no longer a LIME envelope
        assert kind_of(wire) is None
        with pytest.raises(EnvelopeParseError, match=NOT_ENVELOPE):
            _lime.dumps(wire)
        with pytest.raises(EnvelopeParseError, match=NOT_ENVELOPE):
            _lime.loads(json.dumps(case['canonical']))
        return
    assert same(json.loads(_lime.dumps(wire)), case['canonical'])
    assert kind_of(wire) == case['kind']
    assert same(_lime.loads(json.dumps(case['canonical'])), case['canonical'])


@pytest.mark.parametrize('case', ENVELOPES, ids=ids(ENVELOPES))
def test_envelope_classes_round_trip_the_canonical_form(case):
    envelope = CLASSES[case['kind']].from_json(_lime.loads(case['input']))
    assert same(envelope.to_json(), case['canonical'])
    if case['name'] in CONTENT_NULL:
        # the class knows it holds a message; the wire form alone does not (PROTOCOL §1.4)
        with pytest.raises(EnvelopeParseError, match=NOT_ENVELOPE):
            _lime.canonical(envelope.to_json())
        return
    assert same(_lime.canonical(envelope.to_json()), case['canonical'])


@pytest.mark.parametrize('case', ENVELOPES, ids=ids(ENVELOPES))
def test_raw_input_through_the_classes_then_the_codec(case):
    if case['name'] in RAW_THROUGH_CLASSES_SKIPS:
        pytest.skip(RAW_THROUGH_CLASSES_SKIPS[case['name']])
    raw = json.loads(case['input'])
    envelope = CLASSES[case['kind']].from_json(raw)
    assert same(_lime.canonical(envelope.to_json()), case['canonical'])


# --- invalid_envelopes.json -------------------------------------------------------------------

@pytest.mark.parametrize('case', INVALID, ids=ids(INVALID))
def test_invalid_envelopes_raise_envelope_parse_error(case):
    """Rejected as EnvelopeParseError (a ValueError); the error carries no category or field,
    so those are not compared."""
    with pytest.raises(EnvelopeParseError) as error:
        _lime.loads(case['input'])
    assert isinstance(error.value, ValueError)
    with pytest.raises(EnvelopeParseError):
        _lime.loads(case['input'].encode('utf-8'))


# --- nodes.json -------------------------------------------------------------------------------

@pytest.mark.parametrize('case', NODES, ids=ids(NODES, 'input'))
def test_nodes(case):
    node = Node.parse(case['input'])
    identity = Identity.parse(case['input'])
    if not case['valid']:
        assert node is None and identity is None
        with pytest.raises(ValueError):
            _lime.parse_node(case['input'])
        return
    assert (node.identity.name, node.identity.domain, node.instance) == \
        (case['name'], case['domain'], case['instance'])
    assert str(node) == case['display']
    assert str(node.to_identity()) == case['identity']
    assert str(identity) == case['identity']
    assert identity == node.identity and node.identity == identity
    assert Node.parse(str(node)) == node


@pytest.mark.parametrize('left,right,equal', EQUALITY, ids=[f'{a}|{b}' for a, b, _ in EQUALITY])
def test_node_equality(left, right, equal):
    a, b = Node.parse(left), Node.parse(right)
    assert a is not None and b is not None
    assert (a == b) is equal
    assert (b == a) is equal
    assert (a != b) is not equal
    assert (b != a) is not equal
    if equal:
        assert hash(a) == hash(b)


# --- media_types.json, through a message's `type` ---------------------------------------------

@pytest.mark.parametrize('case', MEDIA_TYPES, ids=ids(MEDIA_TYPES, 'input'))
def test_media_types_as_the_type_of_a_message(case):
    """Validity, the display form (what `type` is written as) and is_json (a JSON type keeps an
    object as content, any other type turns it into its JSON text)."""
    as_text = {'type': case['input'], 'content': 'x'}
    as_object = {'type': case['input'], 'content': {'a': 1}}
    if not case['valid']:
        for envelope in (as_text, as_object):
            with pytest.raises(EnvelopeParseError, match='type'):
                _lime.loads(json.dumps(envelope))
        return
    assert same(_lime.loads(json.dumps(as_text)), {'type': case['display'], 'content': 'x'})
    content = {'a': 1} if case['is_json'] else '{"a":1}'
    assert same(_lime.loads(json.dumps(as_object)), {'type': case['display'], 'content': content})


# --- uris.json, through a command's `uri` -----------------------------------------------------

@pytest.mark.parametrize('case', URIS, ids=ids(URIS, 'input'))
def test_uris_as_the_uri_of_a_command(case):
    """Validity and the display form (what `uri` is written as)."""
    command = {'method': 'get', 'uri': case['input']}
    if not case['valid']:
        with pytest.raises(EnvelopeParseError, match='uri'):
            _lime.loads(json.dumps(command))
        return
    assert same(_lime.loads(json.dumps(command)), {'method': 'get', 'uri': case['display']})
