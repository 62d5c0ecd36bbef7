"""ClientChannel: the session methods send synchronously (observed with spies), the state
machine, and establish_session_async driven by patched steps or by scripted server replies."""

import asyncio

import pytest
from lime_python import (
    ClientChannel,
    Command,
    ConnectionClosedError,
    GuestAuthentication,
    PlainAuthentication,
    Reason,
    Session,
    SessionCompression,
    SessionEncryption,
    SessionFailedError,
    SessionState,
)

from .loopback import RecordingTransport

SESSION_ID = '1234'
ME = 'me@take.net'
SERVER = 'postmaster@take.net/server'

pytestmark = pytest.mark.asyncio

TIMEOUT = 2


@pytest.fixture
def target():
    return ClientChannel(RecordingTransport(SessionCompression.NONE, SessionEncryption.NONE),
                         False, False)


def resolved(value):
    future = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def recorder(record=lambda *args: args[0] if len(args) == 1 else args):
    """A hook that keeps what ``record`` makes of each call, and a future resolved with the
    records at the first call (what a test awaits instead of sleeping)."""
    calls = []
    called = asyncio.get_running_loop().create_future()

    def hook(*args):
        calls.append(record(*args))
        if not called.done():
            called.set_result(calls)

    return hook, called


def command_sent(transport):
    """A future resolved with the first command the transport sends."""
    sent = asyncio.get_running_loop().create_future()
    send = transport.send

    def send_and_resolve(envelope):
        send(envelope)
        if 'method' in envelope and not sent.done():
            sent.set_result(envelope)

    transport.send = send_and_resolve
    return sent


async def test_defaults_are_lime_pythons():
    channel = ClientChannel(RecordingTransport())
    assert (channel.auto_reply_pings, channel.auto_notify_receipt) == (True, True)
    assert channel.state == SessionState.NEW
    assert (channel.session_id, channel.local_node, channel.remote_node) == (None, None, None)
    assert channel.command_resolves == {}


async def test_start_new_session_sends_before_returning(mocker, target):
    spy = mocker.spy(target, 'send_session')
    awaitable = target.start_new_session_async()
    spy.assert_called_once()
    sent = spy.call_args[0][0]
    # the new session carries no id (the server assigns it; lime-go fails a `new` with one)
    assert sent.id is None
    assert sent == Session(SessionState.NEW)
    assert target.transport.sent == [{'state': 'new'}]
    assert asyncio.isfuture(awaitable) and not awaitable.done()


async def test_negotiate_session_sends_the_choice(mocker, target):
    target.state = SessionState.NEGOTIATING
    target.session_id = SESSION_ID
    spy = mocker.spy(target, 'send_session')
    target.negotiate_session_async(SessionCompression.GZIP, SessionEncryption.TLS)
    spy.assert_called_once_with(Session(SessionState.NEGOTIATING, id=SESSION_ID,
                                        compression='gzip', encryption='tls'))


async def test_authenticate_session_sends_the_credentials(mocker, target):
    target.state = SessionState.AUTHENTICATING
    target.session_id = SESSION_ID
    spy = mocker.spy(target, 'send_session')
    authentication = PlainAuthentication('cGFzcw==')
    target.authenticate_session_async('test@take.net', authentication, 'test')
    expected = Session(SessionState.AUTHENTICATING, scheme='plain', authentication=authentication)
    expected.from_n = 'test@take.net/test'
    expected.id = SESSION_ID
    spy.assert_called_once_with(expected)
    assert target.transport.sent == [{
        'state': 'authenticating', 'scheme': 'plain', 'authentication': {'password': 'cGFzcw=='},
        'id': SESSION_ID, 'from': 'test@take.net/test'}]


async def test_send_finishing_session(mocker, target):
    target.state = SessionState.ESTABLISHED
    target.session_id = SESSION_ID
    spy = mocker.spy(target, 'send_session')
    target.send_finishing_session_async()
    spy.assert_called_once_with(Session(SessionState.FINISHING, id=SESSION_ID))


@pytest.mark.parametrize('method,state', [
    ('start_new_session_async', SessionState.ESTABLISHED),
    ('send_finishing_session_async', SessionState.NEW),
])
async def test_session_steps_check_the_state(target, method, state):
    target.state = state
    with pytest.raises(ValueError, match=f'Cannot send in the {state} state'):
        getattr(target, method)()
    assert target.transport.sent == []


async def test_on_session_established_records_the_nodes(mocker, target):
    session = Session(SessionState.ESTABLISHED, id=SESSION_ID, to=ME, from_n=SERVER)
    spy = mocker.spy(target, 'on_session_established')
    target.on_session(session)
    spy.assert_called_once_with(session)
    assert (target.state, target.session_id) == (SessionState.ESTABLISHED, SESSION_ID)
    assert (target.local_node, target.remote_node) == (ME, SERVER)


@pytest.mark.parametrize('state,hook', [
    (SessionState.NEGOTIATING, 'on_session_negotiating'),
    (SessionState.AUTHENTICATING, 'on_session_authenticating'),
])
async def test_on_session_calls_the_state_hook(mocker, target, state, hook):
    session = Session(state, id=SESSION_ID)
    spy = mocker.spy(target, hook)
    target.on_session(session)
    spy.assert_called_once_with(session)
    assert target.state == state


@pytest.mark.parametrize('state,hook', [
    (SessionState.FINISHED, 'on_session_finished'),
    (SessionState.FAILED, 'on_session_failed'),
])
async def test_the_end_closes_the_transport_then_calls_the_hook(mocker, target, state, hook):
    close = mocker.spy(target.transport, 'close_async')
    record, called = recorder(lambda s: (s.state, target.transport.closed))
    setattr(target, hook, record)
    target.on_session(Session(state, id=SESSION_ID))
    close.assert_called_once()
    assert await asyncio.wait_for(called, TIMEOUT) == [(state, 1)]


async def test_establish_with_patched_steps(mocker, target):
    mocker.patch.object(target, 'start_new_session_async',
                        return_value=resolved(Session(SessionState.AUTHENTICATING)))
    mocker.patch.object(target, 'authenticate_session_async',
                        return_value=resolved(Session(SessionState.ESTABLISHED)))
    result = await asyncio.wait_for(target.establish_session_async(
        SessionCompression.GZIP, SessionEncryption.TLS, ME, PlainAuthentication('eA=='), 'test'),
        TIMEOUT)
    assert result == Session(SessionState.ESTABLISHED)
    target.authenticate_session_async.assert_called_once()


async def test_establish_with_patched_steps_and_negotiation(mocker, target):
    offer = Session(SessionState.NEGOTIATING, encryption_options=[SessionEncryption.TLS],
                    compression_options=[SessionCompression.GZIP])
    mocker.patch.object(target, 'start_new_session_async', return_value=resolved(offer))
    negotiate = mocker.patch.object(target, 'negotiate_session_async',
                                    return_value=resolved(Session(SessionState.AUTHENTICATING)))
    mocker.patch.object(target, 'authenticate_session_async',
                        return_value=resolved(Session(SessionState.ESTABLISHED)))
    result = await asyncio.wait_for(target.establish_session_async(
        None, None, ME, PlainAuthentication('eA=='), 'test'), TIMEOUT)
    assert result == Session(SessionState.ESTABLISHED)
    negotiate.assert_called_once_with('gzip', 'tls')


class ScriptedServer:
    """Answers each session the client sends with the next scripted server envelopes."""

    def __init__(self, channel, script):
        self.channel = channel
        self.script = list(script)
        send = channel.transport.send

        def send_and_answer(envelope):
            send(envelope)
            if envelope.get('state') and self.script:
                replies = self.script.pop(0)
                loop = asyncio.get_running_loop()
                for reply in replies:
                    loop.call_soon(channel.on_envelope, reply)

        channel.transport.send = send_and_answer


async def test_establish_with_negotiation_and_tls_confirmation():
    transport = RecordingTransport()
    channel = ClientChannel(transport)
    hooks = []
    channel.on_session_negotiating = lambda s: hooks.append(('negotiating', s.encryption))
    channel.on_session_established = lambda s: hooks.append(('established', s.to))
    ScriptedServer(channel, [
        [{'id': 's1', 'from': SERVER, 'state': 'negotiating', 'encryptionOptions': ['none', 'tls'],
          'compressionOptions': ['none']}],
        [{'id': 's1', 'from': SERVER, 'state': 'negotiating', 'encryption': 'tls',
          'compression': 'none'},
         {'id': 's1', 'from': SERVER, 'state': 'authenticating', 'schemeOptions': ['guest']}],
        [{'id': 's1', 'from': SERVER, 'to': f'{ME}/home', 'state': 'established'}],
    ])
    session = await asyncio.wait_for(channel.establish_session_async(
        'none', 'tls', ME, GuestAuthentication(), 'home'), TIMEOUT)
    assert session.state == SessionState.ESTABLISHED
    assert transport.encryption == 'tls'  # applied at the confirmation
    assert channel.local_node == f'{ME}/home' and channel.remote_node == SERVER
    assert hooks == [('negotiating', None), ('negotiating', 'tls'), ('established', f'{ME}/home')]
    assert [e['state'] for e in transport.sent] == ['new', 'negotiating', 'authenticating']
    assert transport.sent[2]['authentication'] == {}


async def test_new_to_established_directly():
    channel = ClientChannel(RecordingTransport())
    ScriptedServer(channel, [[{'id': 's', 'to': f'{ME}/x', 'state': 'established'}]])
    session = await asyncio.wait_for(channel.establish_session_async(
        'none', 'none', ME, GuestAuthentication(), 'x'), TIMEOUT)
    assert session.state == SessionState.ESTABLISHED and channel.state == 'established'


async def test_a_failed_session_raises_and_calls_on_session_failed():
    transport = RecordingTransport()
    channel = ClientChannel(transport)
    channel.on_session_failed, failed = recorder()
    ScriptedServer(channel, [
        [{'id': 's', 'state': 'authenticating', 'schemeOptions': ['plain']}],
        [{'id': 's', 'state': 'failed', 'reason': {'code': 13, 'description': 'bad password'}}],
    ])
    with pytest.raises(SessionFailedError) as error:
        await asyncio.wait_for(channel.establish_session_async(
            'none', 'none', ME, PlainAuthentication('eA=='), 'x'), TIMEOUT)
    assert error.value.reason == Reason(13, 'bad password')
    assert error.value.session.state == SessionState.FAILED
    assert [s.reason.code for s in await asyncio.wait_for(failed, TIMEOUT)] == [13]
    assert transport.closed == 1
    assert channel.state == SessionState.FAILED


async def test_server_initiated_finished_calls_on_session_finished():
    channel = ClientChannel(RecordingTransport())
    channel.state = SessionState.ESTABLISHED
    channel.on_session_finished, finished = recorder()
    channel.on_envelope({'id': 's', 'state': 'finished'})
    assert [s.state for s in await asyncio.wait_for(finished, TIMEOUT)] == ['finished']
    assert channel.transport.closed == 1


async def test_send_finishing_session_resolves_with_finished():
    channel = ClientChannel(RecordingTransport())
    channel.state = SessionState.ESTABLISHED
    channel.session_id = 's'
    ScriptedServer(channel, [[{'id': 's', 'state': 'finished'}]])
    session = await asyncio.wait_for(channel.send_finishing_session_async(), TIMEOUT)
    assert session.state == SessionState.FINISHED
    assert channel.transport.closed == 1


async def test_pending_commands_fail_when_the_session_ends():
    channel = ClientChannel(RecordingTransport())
    channel.state = SessionState.ESTABLISHED
    sent = command_sent(channel.transport)
    task = asyncio.ensure_future(channel.process_command_async(Command('get', '/x'), 5))
    await asyncio.wait_for(sent, TIMEOUT)
    channel.on_envelope({'id': 's', 'state': 'failed', 'reason': {'code': 11}})
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(task, TIMEOUT)


async def test_envelopes_iterates_deliveries_until_the_session_ends():
    channel = ClientChannel(RecordingTransport(), False, False)
    channel.state = SessionState.ESTABLISHED
    stream = channel.envelopes()
    channel.on_envelope({'type': 'text/plain', 'content': 'one'})
    channel.on_envelope({'id': 'n', 'event': 'consumed'})
    channel.on_envelope({'id': 's', 'state': 'finished'})

    async def collect(envelopes):
        return [e async for e in envelopes]

    received = await asyncio.wait_for(collect(stream), TIMEOUT)
    assert [type(e).__name__ for e in received] == ['Message', 'Notification']
    assert await asyncio.wait_for(collect(channel.envelopes()), TIMEOUT) == []
