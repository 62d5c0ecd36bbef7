"""Drop-in fidelity: behaviours of lime-python 2.0.13 (+ lime-transport-websocket 1.0.9) that
user code relies on, found by running the same snippets in a venv with the published packages
and in one with ours (issue #10, item 4).

The expected values marked "2.0.13:" were recorded that way: the snippet, run with
`pip install lime-python==2.0.13 lime-transport-websocket==1.0.9` (websockets 17.4, Python
3.11), printed them. Where ours differs on purpose, python/README.md says why and the test
checks our behaviour.

Native transports are checked against a minimal LIME server written here with `websockets`
(a dependency of the wheel): `lime serve` applies the C# wire rule itself when it routes, so
only a server that does not parse the envelopes shows what our client wrote.
"""

import asyncio
import json
import socket
from unittest import mock

import pytest
import pytest_asyncio
from lime_python import (
    Authentication,
    ClientChannel,
    Command,
    ConnectionClosedError,
    EnvelopeParseError,
    GuestAuthentication,
    Identity,
    Message,
    Node,
    Notification,
    Reason,
    SessionState,
    TcpTransport,
)
from lime_python.errors import (
    ConnectionOpenError,
    ConnectionRefusedOpenError,
    InvalidUriError,
)
from lime_transport_websocket import WebSocketTransport

from .loopback import RecordingTransport

websockets = pytest.importorskip('websockets')
from websockets.exceptions import InvalidURI  # noqa: E402

pytestmark = pytest.mark.asyncio

WAIT = 10  # seconds, for every awaited network event

ME = 'me@localhost/home'

# (what the user puts in the document, its media type, what 2.0.13 wrote on the wire, parsed)
# 2.0.13: `Message(type, content)` sent through lime-transport-websocket, frames printed by the
# server below.
SENT_DOCUMENTS = [
    (42, 'text/plain', 42),
    (1.5, 'text/plain', 1.5),
    (True, 'text/plain', True),
    ({'a': 1}, 'text/plain', {'a': 1}),
    ({'a': 1}, 'application/x-custom', {'a': 1}),
    ([1, 'a'], 'application/x-custom', [1, 'a']),
    ({1: 'x'}, 'application/json', {'1': 'x'}),
    (2 ** 70, 'text/plain', 2 ** 70),
    ({'n': 2 ** 70}, 'application/json', {'n': 2 ** 70}),
    ('plain', 'text/plain', 'plain'),
    ({'a': [1, {'b': None}]}, 'application/json', {'a': [1, {'b': None}]}),
]

# (document as received, media type); 2.0.13 delivered json.loads of the frame: the same value.
RECEIVED_DOCUMENTS = [
    (5, 'text/plain'),
    ({'a': 1}, 'text/plain'),
    ([True], 'application/x-custom'),
    ('x', 'text/plain'),
    ({'a': 1}, 'application/json'),
]


def free_port() -> int:
    """A port nothing listens on (bound and released), for refused connections."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class RawServer:
    """A LIME WebSocket server that only scripts the guest handshake, keeps every other frame
    as text and sends frames as given: what the client wrote, byte for byte."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue = asyncio.Queue()
        self.connection = None
        self.connected = asyncio.get_running_loop().create_future()
        self.server = None

    async def start(self) -> str:
        self.server = await websockets.serve(self._handle, '127.0.0.1', 0, subprotocols=['lime'])
        port = self.server.sockets[0].getsockname()[1]
        return f'ws://127.0.0.1:{port}'

    async def _handle(self, connection, *_path) -> None:
        self.connection = connection
        if not self.connected.done():
            self.connected.set_result(connection)
        async for text in connection:
            envelope = json.loads(text)
            state = envelope.get('state')
            if state == 'new':
                await connection.send(json.dumps({'id': 's1', 'from': 'postmaster@localhost/s',
                                                  'state': 'authenticating',
                                                  'schemeOptions': ['guest']}))
            elif state == 'authenticating':
                await connection.send(json.dumps({'id': 's1', 'from': 'postmaster@localhost/s',
                                                  'to': ME, 'state': 'established'}))
            elif state == 'finishing':
                await connection.send(json.dumps({'id': 's1', 'state': 'finished'}))
            else:
                await self.frames.put(text)

    async def next_frame(self) -> dict:
        return json.loads(await asyncio.wait_for(self.frames.get(), WAIT))

    async def stop(self) -> None:
        self.server.close()
        await asyncio.wait_for(self.server.wait_closed(), WAIT)


@pytest_asyncio.fixture
async def raw_server():
    server = RawServer()
    uri = await server.start()
    yield server, uri
    await server.stop()


async def established(uri: str) -> ClientChannel:
    transport = WebSocketTransport()
    await asyncio.wait_for(transport.open_async(uri), WAIT)
    channel = ClientChannel(transport, True, False)
    await asyncio.wait_for(channel.establish_session_async(
        'none', 'none', 'me@localhost', GuestAuthentication(), 'home'), WAIT)
    return channel


def established_over_python_transport() -> ClientChannel:
    channel = ClientChannel(RecordingTransport(), True, False)
    channel.state = SessionState.ESTABLISHED
    channel.local_node = ME
    return channel


# ----- open_async errors -------------------------------------------------------------------

@pytest.mark.parametrize('transport_class, scheme', [(WebSocketTransport, 'ws'),
                                                     (WebSocketTransport, 'wss'),
                                                     (TcpTransport, 'net.tcp')])
async def test_a_refused_connection_is_a_connection_refused_error(transport_class, scheme):
    # 2.0.13: ConnectionRefusedError "[Errno 111] Connect call failed" for ws:// and wss://.
    transport = transport_class()
    errors = []
    transport.on_error = errors.append
    with pytest.raises(ConnectionRefusedError) as raised:
        await asyncio.wait_for(transport.open_async(f'{scheme}://127.0.0.1:{free_port()}'), WAIT)
    error = raised.value
    # one error, catchable as the builtins (reconnect loops: `except OSError`) and as ours
    assert isinstance(error, OSError) and isinstance(error, ConnectionClosedError)
    assert isinstance(error, (ConnectionOpenError, ConnectionRefusedOpenError))
    assert error.errno is not None and 'cannot open' in str(error)
    assert errors == [error] and not transport.is_open


@pytest.mark.server
async def test_an_untrusted_certificate_is_an_os_error(lime_serve, certificate):
    # 2.0.13: ssl.SSLCertVerificationError, an OSError (and a ValueError)
    cert, key = certificate
    uri = lime_serve('--cert', cert, '--key', key, '--wss').ws[0]
    with pytest.raises(OSError) as raised:
        await asyncio.wait_for(WebSocketTransport().open_async(uri), WAIT)
    assert isinstance(raised.value, ConnectionOpenError) and isinstance(raised.value, ValueError)
    assert 'TLS' in str(raised.value) or 'certificate' in str(raised.value)


@pytest.mark.parametrize('uri', ['foo://x', 'notauri', 'ws://', 'http://127.0.0.1:1', ''])
async def test_a_bad_uri_is_websockets_invalid_uri(uri):
    # 2.0.13: websockets.exceptions.InvalidURI for each of these URIs.
    transport = WebSocketTransport()
    with pytest.raises(InvalidURI) as raised:
        await asyncio.wait_for(transport.open_async(uri), WAIT)
    assert isinstance(raised.value, InvalidUriError)
    assert isinstance(raised.value, ValueError)  # what ours raised before: still caught


# ----- documents on the wire ---------------------------------------------------------------

@pytest.mark.parametrize('content, media_type, wire', SENT_DOCUMENTS,
                         ids=[repr(c)[:20] + ' ' + t for c, t, _ in SENT_DOCUMENTS])
async def test_a_sent_document_is_written_as_json_dumps_would(raw_server, content, media_type,
                                                              wire):
    server, uri = raw_server
    channel = await established(uri)
    message = Message(media_type, content, to='peer@localhost/x')
    channel.send_message(message)
    frame = await server.next_frame()
    assert frame['content'] == wire and type(frame['content']) is type(wire)
    assert frame['type'] == media_type and frame['id'] == message.id
    # the same through a Python transport: the dict handed to send() holds the user's value
    python_channel = established_over_python_transport()
    python_channel.send_message(Message(media_type, content))
    sent = python_channel.transport.sent[-1]
    assert json.loads(json.dumps(sent['content'])) == wire


async def test_a_command_resource_is_written_as_json_dumps_would(raw_server):
    # 2.0.13: {"method": "set", "uri": "/x", "type": "text/plain", "resource": 7}
    server, uri = raw_server
    channel = await established(uri)
    channel.send_command(Command('set', '/x', 'text/plain', 7))
    frame = await server.next_frame()
    assert (frame['method'], frame['uri'], frame['resource']) == ('set', '/x', 7)


async def test_transport_send_keeps_the_document_too(raw_server):
    server, uri = raw_server
    transport = WebSocketTransport()
    await asyncio.wait_for(transport.open_async(uri), WAIT)
    transport.send({'id': 'm1', 'type': 'text/plain', 'content': {'k': [1, 2]}})
    transport.send({'id': 'm2', 'type': 'application/json', 'content': {3: 2 ** 65}})
    assert (await server.next_frame())['content'] == {'k': [1, 2]}
    assert (await server.next_frame())['content'] == {'3': 2 ** 65}
    with pytest.raises(EnvelopeParseError):  # the rest of the envelope is still checked
        transport.send({'id': 'm3', 'type': 'text/plain', 'content': 5, 'to': 7})
    await transport.close_async()


async def test_a_received_document_keeps_its_json_type(raw_server):
    server, uri = raw_server
    channel = await established(uri)
    received = []
    all_received = asyncio.get_running_loop().create_future()

    def on_message(message):
        received.append((message.content, message.type_n))
        if len(received) == len(RECEIVED_DOCUMENTS):
            all_received.set_result(None)

    channel.on_message = on_message
    for index, (content, media_type) in enumerate(RECEIVED_DOCUMENTS):
        await server.connection.send(json.dumps({'id': f'r{index}', 'to': ME, 'type': media_type,
                                                 'content': content}))
    await asyncio.wait_for(all_received, WAIT)
    assert received == RECEIVED_DOCUMENTS
    assert [type(content) for content, _ in received] == \
        [type(content) for content, _ in RECEIVED_DOCUMENTS]


async def test_a_command_response_keeps_its_resource(raw_server):
    server, uri = raw_server
    channel = await established(uri)
    pending = asyncio.ensure_future(channel.process_command_async(Command('get', '/n'), WAIT))
    request = await server.next_frame()
    await server.connection.send(json.dumps({'id': request['id'], 'method': 'get',
                                             'status': 'success', 'type': 'text/plain',
                                             'resource': 12}))
    response = await asyncio.wait_for(pending, WAIT)
    assert response.resource == 12


@pytest.mark.parametrize('resource', [{'n': 2 ** 70}, {1: 'a'}])
async def test_process_command_takes_what_json_dumps_takes(raw_server, resource):
    # 2.0.13 sent these (json.dumps) and returned the response
    server, uri = raw_server
    channel = await established(uri)
    pending = asyncio.ensure_future(
        channel.process_command_async(Command('set', '/x', 'application/json', resource), WAIT))
    request = await server.next_frame()
    assert request['resource'] == json.loads(json.dumps(resource))
    await server.connection.send(json.dumps({'id': request['id'], 'method': 'set',
                                             'status': 'success'}))
    response = await asyncio.wait_for(pending, WAIT)
    assert response.status == 'success'


async def test_a_python_transport_delivers_documents_as_received():
    channel = established_over_python_transport()
    received = []
    channel.on_message = lambda message: received.append(message.content)
    for index, (content, media_type) in enumerate(RECEIVED_DOCUMENTS):
        channel.on_envelope({'id': f'r{index}', 'to': ME, 'type': media_type, 'content': content})
    # a transport that parses JSON itself may hand over integers beyond 64 bits
    channel.on_envelope({'id': 'big', 'to': ME, 'type': 'application/json',
                         'content': {'n': 2 ** 70}})
    assert received == [content for content, _ in RECEIVED_DOCUMENTS] + [{'n': 2 ** 70}]


# ----- Reason --------------------------------------------------------------------------------

async def test_a_received_reason_answers_item_access():
    # 2.0.13 delivered the dict: reason['description'] == 'd', reason.get('code') == 1
    notification = Notification.from_json({'event': 'failed',
                                           'reason': {'code': 1, 'description': 'd'}})
    reason = notification.reason
    assert isinstance(reason, Reason)
    assert (reason['description'], reason.get('code'), reason.get('missing', 'x')) == ('d', 1, 'x')
    assert 'code' in reason and dict(reason.items()) == {'code': 1, 'description': 'd'}
    assert reason == {'code': 1, 'description': 'd'} and reason == Reason(1, 'd')
    with pytest.raises(KeyError):
        Reason(2, None)['description']  # absent, as from the dict of {"code": 2}
    assert str(reason) == 'd (Code 1)'


# ----- establish_session_async arguments ---------------------------------------------------

async def server_replies(channel: ClientChannel) -> None:
    """Answers the channel's handshake over its RecordingTransport, as a guest-only server."""
    transport = channel.transport
    send = transport.send
    loop = asyncio.get_running_loop()

    def reply(envelope):
        send(envelope)
        if envelope.get('state') == 'new':
            loop.call_soon(channel.on_envelope, {'id': 's1', 'from': 'postmaster@localhost/s',
                                                 'state': 'authenticating',
                                                 'schemeOptions': ['guest']})
        elif envelope.get('state') == 'authenticating':
            loop.call_soon(channel.on_envelope, {'id': 's1', 'from': 'postmaster@localhost/s',
                                                 'to': ME, 'state': 'established'})

    transport.send = reply


@pytest.mark.parametrize('identity, instance, sent_from', [
    # 2.0.13 formatted f'{identity}/{instance}': the same for an Identity object
    (Identity('me', 'localhost'), 'home', 'me@localhost/home'),
    ('me@localhost', 'home', 'me@localhost/home'),
    # 2.0.13 sent 'me@localhost/home/None' for a Node and no instance; ours uses its instance
    (Node(Identity('me', 'localhost'), 'home'), None, 'me@localhost/home'),
])
async def test_establish_accepts_identity_objects(identity, instance, sent_from):
    channel = ClientChannel(RecordingTransport())
    await server_replies(channel)
    session = await asyncio.wait_for(channel.establish_session_async(
        'none', 'none', identity, GuestAuthentication(), instance), WAIT)
    assert session.state == SessionState.ESTABLISHED
    assert channel.transport.sent[1]['from'] == sent_from


class CustomAuthentication(Authentication):
    def __init__(self, token: str = None, **kwargs) -> None:
        super().__init__('custom')
        self.token = token


@pytest.mark.parametrize('authentication, error', [
    (CustomAuthentication('t'), EnvelopeParseError),  # not a LIME scheme (README)
    (Authentication(), EnvelopeParseError),  # no scheme (2.0.13 sent "unknown")
    (None, TypeError),  # 2.0.13: AttributeError after sending `new`
])
async def test_credentials_are_checked_before_anything_is_sent(authentication, error):
    channel = ClientChannel(RecordingTransport())
    await server_replies(channel)
    with pytest.raises(error):
        await asyncio.wait_for(channel.establish_session_async(
            'none', 'none', 'me@localhost', authentication, 'home'), WAIT)
    assert channel.transport.sent == [] and channel.state == SessionState.NEW


async def test_a_bad_identity_is_refused_before_anything_is_sent():
    channel = ClientChannel(RecordingTransport())
    with pytest.raises(TypeError):
        await channel.establish_session_async('none', 'none', None, GuestAuthentication(), 'x')
    assert channel.transport.sent == []


# ----- transport.websocket and channel attributes --------------------------------------------

async def test_websocket_open_follows_the_connection(raw_server):
    # 2.0.13: websocket.open True after open_async, False after close_async (closed: reverse)
    _, uri = raw_server
    transport = WebSocketTransport()
    await asyncio.wait_for(transport.open_async(uri), WAIT)
    assert transport.websocket.open is True and transport.websocket.closed is False
    await asyncio.wait_for(transport.close_async(), WAIT)
    assert transport.websocket.open is False and transport.websocket.closed is True


async def test_channel_attributes_take_any_value_as_plain_attributes_did():
    # 2.0.13 printed back exactly what was assigned, for each of these
    channel = ClientChannel(RecordingTransport())
    node = Node.parse_str('a@b/c')
    values = {'state': 'bogus', 'session_id': 5, 'local_node': node, 'remote_node': 'p@b/s',
              'auto_reply_pings': 0, 'auto_notify_receipt': None}
    for name, value in values.items():
        setattr(channel, name, value)
    assert {name: getattr(channel, name) for name in values} == values
    assert channel.local_node is node
    channel.state = SessionState.ESTABLISHED  # a real state reaches the core: sends are allowed
    channel.send_message(Message('text/plain', 'x', to='a@b'))
    assert channel.transport.sent[-1]['content'] == 'x'


@pytest.mark.parametrize('name, value', [('state', 'established'), ('session_id', 'zz'),
                                         ('local_node', 'x@y/z'), ('remote_node', 'p@q/r')])
async def test_channel_attributes_can_be_patched(name, value):
    # 2.0.13: the patched value inside, the original back after the patch
    channel = ClientChannel(RecordingTransport())
    original = getattr(channel, name)
    with mock.patch.object(channel, name, value):
        assert getattr(channel, name) == value
    assert getattr(channel, name) == original
    with mock.patch.object(channel, name, new_callable=mock.PropertyMock) as patched:
        assert getattr(channel, name) is patched  # an instance attribute: not called
    assert getattr(channel, name) == original


@pytest.mark.parametrize('transport_class', [WebSocketTransport, TcpTransport])
async def test_transport_attributes_can_be_patched(transport_class):
    # 2.0.13 (WebSocketTransport): the patched value inside, the original back after the patch
    transport = transport_class()
    names = ['compression', 'encryption'] + (['websocket'] if transport_class is
                                             WebSocketTransport else [])
    for name in names:
        original = getattr(transport, name)
        replacement = mock.Mock()
        with mock.patch.object(transport, name, replacement):
            assert getattr(transport, name) is replacement
        assert getattr(transport, name) == original
    transport.compression = 'gzip'
    assert transport.compression == 'gzip'


async def test_a_subclass_may_assign_attributes_before_the_channel_init():
    # 2.0.13: no error; Channel.__init__ then set state 'new' and local_node None
    class Early(ClientChannel):
        def __init__(self, transport):
            self.local_node = 'early@x/y'
            self.state = 'zzz'
            super().__init__(transport)

    channel = Early(RecordingTransport())
    assert (channel.state, channel.local_node) == (SessionState.NEW, None)


async def test_a_deleted_channel_attribute_is_missing_until_set():
    channel = ClientChannel(RecordingTransport())
    del channel.state
    assert not hasattr(channel, 'state')
    channel.state = SessionState.NEW
    assert channel.state == SessionState.NEW


async def test_the_core_still_moves_an_assigned_attribute_on():
    channel = ClientChannel(RecordingTransport())
    channel.session_id = 5
    channel.on_envelope({'id': 's9', 'from': 'postmaster@localhost/s', 'state': 'authenticating'})
    assert (channel.session_id, channel.state) == ('s9', SessionState.AUTHENTICATING)


# ----- nodes ---------------------------------------------------------------------------------

@pytest.mark.parametrize('text, name, domain, instance', [
    # 2.0.13: (name, domain, instance) and str() == text for each
    ('a@', 'a', '', None),
    ('a@/', 'a', '', ''),
    ('a@/x', 'a', '', 'x'),
    ('a@b/', 'a', 'b', ''),
])
async def test_nodes_with_an_empty_domain_print_as_written(text, name, domain, instance):
    node = Node.parse_str(text)
    assert (node.identity.name, node.identity.domain, node.instance) == (name, domain, instance)
    assert str(node) == text
