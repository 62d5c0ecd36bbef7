"""Channel: send-state checks, command processing, dispatch to the on_* hooks, automatic
replies — over a pure-Python transport."""

import asyncio

import pytest
from lime_python import (
    Channel,
    ChannelStateError,
    Command,
    CommandMethod,
    CommandStatus,
    CommandTimeoutError,
    CommonConstants,
    ContentTypes,
    Message,
    Notification,
    NotificationEvent,
    Reason,
    Session,
    SessionState,
)

from .loopback import RecordingTransport


class Recorder(Channel):
    """A concrete Channel that records what its hooks receive."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.received = []

    def on_message(self, message: Message) -> None:
        self.received.append(message)

    def on_notification(self, notification: Notification) -> None:
        self.received.append(notification)

    def on_command(self, command: Command) -> None:
        self.received.append(command)

    def on_session(self, session: Session) -> None:
        self.received.append(session)


def on_first_command(transport, answer):
    """Calls ``answer(command)`` on the loop's next turn after the transport sends its first
    command, as a server's response would arrive; returns a future resolved with that command."""
    sent = asyncio.get_running_loop().create_future()
    send = transport.send

    def send_and_answer(envelope):
        send(envelope)
        if 'method' in envelope and not sent.done():
            sent.set_result(envelope)
            asyncio.get_running_loop().call_soon(answer, envelope)

    transport.send = send_and_answer
    return sent


def make(state=SessionState.ESTABLISHED, auto_reply_pings=None, auto_notify_receipt=False):
    channel = Recorder(RecordingTransport('none', 'tls'), auto_reply_pings, auto_notify_receipt)
    channel.state = state
    return channel


def test_channel_is_abstract():
    with pytest.raises(TypeError):
        Channel(RecordingTransport())


def test_the_channel_takes_over_on_envelope():
    channel = make()
    assert channel.transport.on_envelope == channel.on_envelope


@pytest.mark.parametrize('state', [SessionState.NEW, SessionState.AUTHENTICATING,
                                   SessionState.FINISHED, SessionState.FAILED])
@pytest.mark.parametrize('send', ['send_message', 'send_notification', 'send_command'])
def test_only_established_sessions_send_messages_notifications_and_commands(state, send):
    channel = make(state)
    envelope = {'send_message': Message('text/plain', 'x'),
                'send_notification': Notification('received', id='1'),
                'send_command': Command('get', '/ping')}[send]
    with pytest.raises(ValueError) as error:
        getattr(channel, send)(envelope)
    assert isinstance(error.value, ChannelStateError)
    assert str(error.value) == f'Cannot send in the {state} state'
    assert channel.transport.sent == []


@pytest.mark.parametrize('state', [SessionState.FINISHED, SessionState.FAILED])
def test_no_session_after_the_end(state):
    channel = make(state)
    with pytest.raises(ValueError, match=f'Cannot send in the {state} state'):
        channel.send_session(Session(SessionState.AUTHENTICATING))
    with pytest.raises(ValueError):
        channel.send_command(Session(SessionState.AUTHENTICATING))


def test_sends_assign_ids_and_pass_dicts_to_the_transport():
    channel = make()
    message = Message('text/plain', 'hello', to='bob@example.com')
    channel.send_message(message)
    assert isinstance(message.id, str) and message.id
    assert channel.transport.sent == [{'type': 'text/plain', 'content': 'hello',
                                       'id': message.id, 'to': 'bob@example.com'}]


def test_reasons_are_sent_as_objects():
    channel = make()
    channel.send_notification(Notification(NotificationEvent.FAILED, Reason(101, 'boom'), id='m1'))
    assert channel.transport.sent[-1]['reason'] == {'code': 101, 'description': 'boom'}


def test_ensure_state():
    channel = make(SessionState.NEW)
    channel.ensure_state([SessionState.NEW], True)
    channel.ensure_state([SessionState.ESTABLISHED], False)
    with pytest.raises(ValueError, match='Cannot send in the new state'):
        channel.ensure_state([SessionState.ESTABLISHED], True)


@pytest.mark.asyncio
async def test_process_command_times_out():
    channel = make()
    command = Command(CommandMethod.GET, CommonConstants.PING)
    with pytest.raises(asyncio.TimeoutError) as error:
        await channel.process_command_async(command, 0.2)
    assert isinstance(error.value, (TimeoutError, CommandTimeoutError))
    assert command.timeout is True
    assert channel.command_resolves == {}
    # the late response is then an ordinary command
    channel.on_envelope({'id': command.id, 'method': 'get', 'status': 'success'})
    assert [c.id for c in channel.received] == [command.id]


@pytest.mark.asyncio
async def test_process_command_returns_the_response():
    channel = make()
    command = Command(CommandMethod.GET, CommonConstants.PING)
    command.id = '1234'
    response = {'id': '1234', 'method': CommandMethod.GET, 'type': ContentTypes.PING,
                'resource': {}, 'status': CommandStatus.SUCCESS}
    on_first_command(channel.transport, lambda _: channel.on_envelope(response))

    result = await channel.process_command_async(command, 3)

    assert result == Command.from_json(response)
    assert channel.transport.sent == [{'id': '1234', 'method': 'get', 'uri': '/ping'}]
    assert channel.received == []  # responses to pending requests are not delivered


@pytest.mark.asyncio
async def test_process_command_failure_response_carries_a_reason():
    channel = make()
    on_first_command(channel.transport, lambda request: channel.on_envelope({
        'id': request['id'], 'method': 'get', 'status': 'failure',
        'reason': {'code': 67, 'description': 'not found'}}))
    result = await channel.process_command_async(Command('get', '/x'), 3)
    assert result.status == 'failure'
    assert isinstance(result.reason, Reason) and result.reason.code == 67


def test_dispatch_message(mocker):
    channel = make()
    message = Message(ContentTypes.PING, {})
    spy = mocker.spy(channel, 'on_message')
    channel.on_envelope(message.to_json())
    spy.assert_called_once_with(message)


def test_dispatch_notification(mocker):
    channel = make()
    notification = Notification(NotificationEvent.CONSUMED)
    spy = mocker.spy(channel, 'on_notification')
    channel.on_envelope(notification.to_json())
    spy.assert_called_once_with(notification)


def test_dispatch_session(mocker):
    channel = make()
    session = Session(SessionState.FINISHED)
    spy = mocker.spy(channel, 'on_session')
    channel.on_envelope(session.to_json())
    spy.assert_called_once_with(session)


def test_dispatch_command(mocker):
    channel = make()
    command = Command(CommandMethod.GET)
    spy = mocker.spy(channel, 'on_command')
    channel.on_envelope(command.to_json())
    spy.assert_called_once_with(command)


def test_received_reasons_become_reason_objects():
    channel = make()
    channel.on_envelope({'id': 'm', 'event': 'failed', 'reason': {'code': 42, 'description': 'x'}})
    assert channel.received[0].reason == Reason(42, 'x')
    assert str(channel.received[0].reason) == 'x (Code 42)'


def test_pings_are_answered_and_still_delivered():
    channel = make(auto_reply_pings=True)
    channel.local_node = 'me@example.com/home'
    channel.on_envelope({'id': 'p1', 'from': 'postmaster@example.com/server', 'method': 'get',
                         'uri': '/ping'})
    assert channel.transport.sent == [{
        'id': 'p1', 'to': 'postmaster@example.com/server', 'method': 'get', 'status': 'success',
        'type': 'application/vnd.lime.ping+json', 'resource': {}}]
    assert [c.uri for c in channel.received] == ['/ping']


def test_no_ping_reply_when_disabled():
    channel = make(auto_reply_pings=False)
    channel.on_envelope({'id': 'p1', 'from': 'x@y.com/z', 'method': 'get', 'uri': '/ping'})
    assert channel.transport.sent == []


def test_receipts_go_to_the_sender():
    channel = make(auto_notify_receipt=True)
    channel.local_node = 'me@example.com/home'
    channel.on_envelope({'id': 'm1', 'from': 'bob@example.com/phone', 'to': 'me@example.com/home',
                         'type': 'text/plain', 'content': 'hi'})
    assert channel.transport.sent == [{'id': 'm1', 'to': 'bob@example.com/phone',
                                       'event': 'received'}]
    channel.on_envelope({'id': 'm2', 'from': 'bob@example.com/phone', 'pp': 'bot@example.com/x',
                         'type': 'text/plain', 'content': 'hi'})
    assert channel.transport.sent[-1]['to'] == 'bot@example.com/x'
    assert [m.id for m in channel.received] == ['m1', 'm2']


def test_a_raising_callback_is_logged_and_the_channel_goes_on(caplog):
    channel = make()
    seen = []

    def broken(message):
        seen.append(message)
        raise RuntimeError('callback bug')

    channel.on_message = broken
    channel.on_envelope({'type': 'text/plain', 'content': 'one'})
    channel.on_envelope({'type': 'text/plain', 'content': 'two'})
    assert [m.content for m in seen] == ['one', 'two']
    assert 'callback bug' in caplog.text


def test_invalid_envelopes_are_logged_and_dropped(caplog):
    channel = make()
    channel.on_envelope({'id': 'x'})
    channel.on_envelope({'event': 'nonsense', 'id': 'y'})
    assert channel.received == []
    assert 'dropped' in caplog.text


@pytest.mark.asyncio
async def test_coroutine_callbacks_are_scheduled():
    channel = make()
    done = asyncio.Event()

    async def on_message(message):
        done.set()

    channel.on_message = on_message
    channel.on_envelope({'type': 'text/plain', 'content': 'x'})
    await asyncio.wait_for(done.wait(), 1)
