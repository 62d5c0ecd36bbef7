"""lime_python.errors: each error is also the builtin lime-python raised, and the native module
raises these classes."""

import asyncio

import pytest
from lime_python import (
    ChannelStateError,
    ClientChannel,
    CommandTimeoutError,
    ConnectionClosedError,
    EnvelopeParseError,
    EnvelopeTooLargeError,
    GuestAuthentication,
    LimeError,
    Message,
    Session,
    SessionFailedError,
    TcpTransport,
    _lime,
    errors,
)


@pytest.mark.parametrize('error,builtins', [
    (EnvelopeParseError, (ValueError,)),
    (ChannelStateError, (ValueError,)),
    (CommandTimeoutError, (TimeoutError, asyncio.TimeoutError)),
    (ConnectionClosedError, (ValueError,)),
    (EnvelopeTooLargeError, (ValueError,)),
    (SessionFailedError, ()),
])
def test_hierarchy(error, builtins):
    assert issubclass(error, LimeError)
    for builtin in builtins:
        assert issubclass(error, builtin)
    assert getattr(errors, error.__name__) is error


def test_command_timeout_error_is_caught_as_asyncio_timeout_error():
    with pytest.raises(asyncio.TimeoutError):
        raise CommandTimeoutError('late', command=None)


def test_session_failed_error_carries_the_session_and_reason():
    session = Session('failed', reason={'code': 13, 'description': 'nope'})
    error = SessionFailedError(session)
    assert error.session is session
    assert error.reason.code == 13
    assert 'nope (Code 13)' in str(error)


def test_the_native_module_raises_lime_python_errors():
    with pytest.raises(EnvelopeParseError):
        _lime.loads('{"id": 1}')
    with pytest.raises(EnvelopeParseError):
        _lime.dumps({'type': 'text/plain'})
    with pytest.raises(ChannelStateError, match='Cannot send in the new state'):
        _lime.ChannelCore().prepare_send({'type': 'text/plain', 'content': 'x'})


@pytest.mark.asyncio
@pytest.mark.server
async def test_an_oversized_envelope_is_refused_and_the_connection_stays_up(server):
    transport = TcpTransport(max_envelope_size=4096)
    channel = ClientChannel(transport)
    await asyncio.wait_for(transport.open_async(server.tcp[0]), 10)
    await asyncio.wait_for(channel.establish_session_async(
        'none', 'none', 'big@example.com', GuestAuthentication(), 'x'), 10)
    with pytest.raises(EnvelopeTooLargeError):
        channel.send_message(Message('text/plain', 'x' * 10000, to='big@example.com'))
    assert transport.is_open
    inbox = asyncio.Queue()
    channel.on_message = inbox.put_nowait
    channel.send_message(Message('text/plain', 'small', to='big@example.com/x'))
    assert (await asyncio.wait_for(inbox.get(), 10)).content == 'small'
    await asyncio.wait_for(channel.send_finishing_session_async(), 10)
