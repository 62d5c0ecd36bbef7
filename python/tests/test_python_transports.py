"""Our channel over transports written in pure Python (Transport subclasses), against a real
`lime serve`: a small asyncio TCP transport, and the published lime-transport-websocket 1.0.9
(what a requirements file that still names it installs over ours)."""

import asyncio
import codecs
import importlib.util
import json
from typing import List

import pytest
from conftest import unavailable, upstream_transport_source
from lime_python import (
    ClientChannel,
    Command,
    GuestAuthentication,
    Message,
    SessionState,
    Transport,
)
from lime_transport_websocket import WebSocketTransport

pytestmark = [pytest.mark.asyncio, pytest.mark.server]

TIMEOUT = 10


class AsyncioTcpTransport(Transport):
    """LIME over TCP in plain asyncio (no TLS): JSON objects back to back on the stream."""

    def __init__(self) -> None:
        super().__init__('none', 'none')
        self.writer = None
        self.reader_task = None
        self.closes = 0

    async def open_async(self, uri: str = None) -> None:
        host, port = uri[len('net.tcp://'):].rsplit(':', 1)
        reader, self.writer = await asyncio.open_connection(host, int(port))
        self.reader_task = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader) -> None:
        decoder, text = codecs.getincrementaldecoder('utf-8')(), ''
        parser = json.JSONDecoder()
        while True:
            data = await reader.read(65536)
            if not data:
                return
            text += decoder.decode(data)
            while True:
                text = text.lstrip()
                try:
                    envelope, end = parser.raw_decode(text)
                except ValueError:
                    break
                text = text[end:]
                self.on_envelope(envelope)

    async def close_async(self) -> None:
        self.closes += 1
        if self.writer is not None:
            self.writer.close()
        if self.reader_task is not None:
            self.reader_task.cancel()

    def send(self, envelope: dict) -> None:
        self.writer.write(json.dumps(envelope).encode('utf-8'))

    def get_supported_compression(self) -> List[str]:
        return ['none']

    def set_compression(self, compression: str) -> None:
        pass

    def get_supported_encryption(self) -> List[str]:
        return ['none']

    def set_encryption(self, encryption: str) -> None:
        pass

    def on_envelope(self, envelope: dict) -> None:
        pass


async def exchange(transport, uri, server):
    """A session of ours over ``transport`` talking to a native-transport peer."""
    alice = ClientChannel(transport)
    await asyncio.wait_for(transport.open_async(uri), TIMEOUT)
    session = await asyncio.wait_for(alice.establish_session_async(
        'none', 'none', 'alice@example.com', GuestAuthentication(), 'py'), TIMEOUT)
    assert session.state == SessionState.ESTABLISHED

    bob_transport = WebSocketTransport()
    bob = ClientChannel(bob_transport)
    await asyncio.wait_for(bob_transport.open_async(server.ws[0]), TIMEOUT)
    await asyncio.wait_for(bob.establish_session_async(
        'none', 'none', 'bob@example.com', GuestAuthentication(), 'native'), TIMEOUT)

    to_alice, to_bob = asyncio.Queue(), asyncio.Queue()
    alice.on_notification = to_alice.put_nowait
    alice.on_message = to_alice.put_nowait
    bob.on_message = to_bob.put_nowait
    bob.on_notification = to_bob.put_nowait

    message = Message('text/plain', 'from python', to='bob@example.com')
    alice.send_message(message)
    assert (await asyncio.wait_for(to_bob.get(), TIMEOUT)).content == 'from python'
    receipt = await asyncio.wait_for(to_alice.get(), TIMEOUT)
    assert (receipt.event, receipt.id) == ('received', message.id)

    reply = Message('text/plain', 'from rust', to='alice@example.com/py')
    bob.send_message(reply)
    assert (await asyncio.wait_for(to_alice.get(), TIMEOUT)).content == 'from rust'
    # alice's automatic receipt travels through the Python transport
    receipt = await asyncio.wait_for(to_bob.get(), TIMEOUT)
    assert (receipt.event, receipt.id) == ('received', reply.id)

    pong = await alice.process_command_async(Command('get', '/ping'), TIMEOUT)
    assert pong.status == 'success'

    finished = await asyncio.wait_for(alice.send_finishing_session_async(), TIMEOUT)
    assert finished.state == SessionState.FINISHED
    await asyncio.wait_for(bob.send_finishing_session_async(), TIMEOUT)


async def test_a_pure_python_tcp_transport(server):
    transport = AsyncioTcpTransport()
    await exchange(transport, server.tcp[0], server)
    assert transport.closes == 1


def load_upstream_websocket_transport():
    """Imports lime-transport-websocket 1.0.9's module (unpacked from its wheel by
    `make test-python-setup`) on top of our lime_python."""
    if importlib.util.find_spec('websockets') is None:
        unavailable('the websockets package is not installed (`make test-python` installs it)')
    source = upstream_transport_source()
    spec = importlib.util.spec_from_file_location('upstream_websocket_transport', source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WebSocketTransport


@pytest.mark.upstream
# the published transport imports the `websockets` API that websockets 14 deprecated
@pytest.mark.filterwarnings('ignore::DeprecationWarning:upstream_websocket_transport')
async def test_the_published_websocket_transport(server):
    upstream_transport = load_upstream_websocket_transport()
    transport = upstream_transport()
    assert isinstance(transport, Transport) and not hasattr(transport, '_attach')
    await exchange(transport, server.ws[0], server)
