"""Identity parsing and comparison."""

import pytest
from lime_python import Identity, Node


def test_parse_returns_an_identity_as_is():
    identity = Identity('test', 'take.net')
    assert Identity.parse(identity) is identity


def test_parse_takes_the_identity_of_a_node():
    identity = Identity('test', 'take.net')
    assert Identity.parse(Node(identity, 'home')) == Identity('test', 'take.net')


@pytest.mark.parametrize('text,name,domain', [
    ('test@take.net', 'test', 'take.net'),
    ('test@take.net/home', 'test', 'take.net'),
    ('test@take.net/a/b', 'test', 'take.net'),
    ('name', 'name', None),
    ('@take.net', None, 'take.net'),
])
def test_parse_str(text, name, domain):
    identity = Identity.parse(text)
    assert (identity.name, identity.domain) == (name, domain)


@pytest.mark.parametrize('text', ['', '   ', '@', None, 42])
def test_what_is_not_an_identity_parses_to_none(text):
    assert Identity.parse_str(text) is None


def test_str():
    assert str(Identity('a', 'b.com')) == 'a@b.com'
    assert str(Identity('a')) == 'a'
    assert str(Identity(None, 'b.com')) == '@b.com'


def test_equality_ignores_case_and_other_types():
    assert Identity('JOSÉ', 'Take.NET') == Identity('josé', 'take.net')
    assert hash(Identity('A', 'B')) == hash(Identity('a', 'b'))
    assert Identity('a', 'b') != Identity('a', 'c')
    assert Identity('a', 'b') != 'a@b'
    assert Identity('a', None) != Identity('a', '')
