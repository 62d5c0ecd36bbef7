"""Node parsing (the C# rules) and comparison."""

import pytest
from lime_python import Identity, Node


def test_parse_str_with_instance():
    assert Node.parse_str('test@take.net/iris4') == Node(Identity('test', 'take.net'), 'iris4')


def test_parse_an_identity_gives_a_node_without_instance():
    identity = Identity('test', 'take.net')
    node = Node.parse(identity)
    assert node == Node(identity) and node.instance is None


def test_parse_returns_a_node_as_is():
    node = Node(Identity('test', 'take.net'), 'iris4')
    assert Node.parse(node) is node


@pytest.mark.parametrize('text,name,domain,instance,display', [
    ('a@b.com/home', 'a', 'b.com', 'home', 'a@b.com/home'),
    ('a@b.com', 'a', 'b.com', None, 'a@b.com'),
    ('a@b.com/', 'a', 'b.com', '', 'a@b.com/'),
    ('a@b.com/x/y', 'a', 'b.com', 'x/y', 'a@b.com/x/y'),
    ('a@b@c', 'a', 'b', 'c', 'a@b/c'),
    ('@b.com/i', None, 'b.com', 'i', '@b.com/i'),
])
def test_parse_edge_cases(text, name, domain, instance, display):
    node = Node.parse(text)
    assert (node.identity.name, node.identity.domain, node.instance) == (name, domain, instance)
    assert str(node) == display
    assert node.to_identity() is node.identity


def test_invalid_nodes_parse_to_none():
    assert Node.parse('@') is None
    assert Node.parse('') is None


def test_equality():
    assert Node.parse('A@B.com/Home') == Node.parse('a@b.com/home')
    assert hash(Node.parse('A@B.com/Home')) == hash(Node.parse('a@b.com/home'))
    assert Node.parse('a@b.com') != Node.parse('a@b.com/')
    assert Node.parse('a@b.com') != Identity('a', 'b.com')
