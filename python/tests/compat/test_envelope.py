"""Kind predicates of Envelope (objects and dicts)."""

import pytest
from lime_python import Command, Envelope, Message, Notification, Session

CASES = [
    (Message('text/plain', 'hi'), 'message'),
    (Message('application/json', {'a': 1}), 'message'),
    (Notification('received'), 'notification'),
    (Command('get', '/ping'), 'command'),
    (Session('new'), 'session'),
]


@pytest.mark.parametrize('envelope,kind', CASES)
@pytest.mark.parametrize('as_dict', [False, True])
def test_exactly_one_predicate_holds(envelope, kind, as_dict):
    value = envelope.to_json() if as_dict else envelope
    if as_dict and kind == 'message':
        assert 'content' in value
    results = {
        'message': Envelope.is_message(value),
        'notification': Envelope.is_notification(value),
        'command': Envelope.is_command(value),
        'session': Envelope.is_session(value),
    }
    assert results == {k: k == kind for k in results}
    assert all(type(r) is bool for r in results.values())


def test_predicates_on_dicts_look_at_keys_only():
    assert Envelope.is_message({'content': None})
    assert Envelope.is_session({'state': 'new'})
    assert not Envelope.is_command({'uri': '/ping'})


def test_envelope_attributes_are_strings_and_extra_kwargs_are_ignored():
    message = Message('text/plain', 'x', id='1', from_n='a@b.com/i', to='c@d.com', pp='e@f.com',
                      metadata={'k': 'v'}, unknown='ignored')
    assert (message.id, message.from_n, message.to, message.pp) == \
        ('1', 'a@b.com/i', 'c@d.com', 'e@f.com')
    assert not hasattr(message, 'unknown')
    assert message.to_json() == {'type': 'text/plain', 'content': 'x', 'id': '1',
                                 'from': 'a@b.com/i', 'to': 'c@d.com', 'pp': 'e@f.com',
                                 'metadata': {'k': 'v'}}


@pytest.mark.parametrize('make', [
    lambda cls: cls('text/plain', 'x', id='1', to='c@d.com', unknown='ignored')
    if issubclass(cls, Message) else
    cls('get', '/ping', id='1', to='c@d.com', reason={'code': 1}, unknown='ignored'),
])
@pytest.mark.parametrize('base', [Message, Command])
def test_messages_and_commands_set_the_envelope_attributes_as_envelope_init_does(
        make, base, monkeypatch):
    """An exact Message or Command sets Envelope's attributes inline; a subclass, or a replaced
    Envelope.__init__, goes through Envelope.__init__: the same attributes in the same order."""
    class Sub(base):
        pass

    exact, sub = make(base), make(Sub)
    assert list(exact.__dict__.items()) == list(sub.__dict__.items())
    assert list(exact.__dict__)[:5] == ['id', 'from_n', 'to', 'pp', 'metadata']
    calls = []
    original = Envelope.__init__

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Envelope, '__init__', spy)
    patched = make(base)
    assert list(patched.__dict__.items()) == list(exact.__dict__.items())
    assert calls == [{'id': '1', 'from_n': None, 'to': 'c@d.com', 'pp': None, 'metadata': None,
                      'unknown': 'ignored'}]
    with pytest.raises(TypeError):
        base('a', 'b', 'c', 'd', 'e', 'f', 'g', 'too many') if base is Command \
            else base('text/plain', 'x', 'positional id')


def test_positional_argument_orders():
    command = Command('set', '/presence', 'application/json', {'a': 1}, 'success')
    assert (command.method, command.uri, command.type_n, command.resource, command.status) == \
        ('set', '/presence', 'application/json', {'a': 1}, 'success')
    session = Session('negotiating', ['none', 'tls'], 'tls', ['none'], 'none', 'guest', ['guest'])
    assert session.to_json() == {
        'state': 'negotiating', 'encryptionOptions': ['none', 'tls'], 'encryption': 'tls',
        'compressionOptions': ['none'], 'compression': 'none', 'scheme': 'guest',
        'schemeOptions': ['guest']}


def test_equality_hash_and_str_follow_the_json_form():
    a = Message('text/plain', 'hi', id='1')
    b = Message.from_json({'id': '1', 'type': 'text/plain', 'content': 'hi'})
    assert a == b and hash(a) == hash(b)
    assert a != Message('text/plain', 'other', id='1')
    assert a != {'id': '1'}
    assert str(a) == repr(a) == '{"id": "1", "type": "text/plain", "content": "hi"}'
