"""Interop: the published lime-python 2.0.13 client (with lime-transport-websocket 1.0.9, in its
own venv and process) and ours exchange messages through one `lime serve`."""

import asyncio
import json
import textwrap

import pytest
from conftest import upstream_venv
from lime_python import (
    ClientChannel,
    Command,
    GuestAuthentication,
    Message,
    SessionState,
    TcpTransport,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.server, pytest.mark.upstream]

TIMEOUT = 15

UPSTREAM_CLIENT = textwrap.dedent('''
    import asyncio, json, sys
    from lime_python import ClientChannel, Command, GuestAuthentication, Message
    from lime_transport_websocket import WebSocketTransport

    def say(**fields):
        print(json.dumps(fields), flush=True)

    async def main(uri):
        transport = WebSocketTransport()
        await transport.open_async(uri)
        channel = ClientChannel(transport, True, False)
        inbox = asyncio.Queue()
        channel.on_message = inbox.put_nowait
        channel.on_notification = inbox.put_nowait
        session = await asyncio.wait_for(channel.establish_session_async(
            'none', 'none', 'up@example.com', GuestAuthentication(), 'up'), 10)
        say(event='ready', state=session.state, node=channel.local_node)
        pong = await channel.process_command_async(Command('get', '/ping'), 10)
        say(event='pong', status=pong.status)
        message = await asyncio.wait_for(inbox.get(), 10)
        say(event='message', content=message.content, sender=message.from_n, id=message.id)
        reply = Message('text/plain', 'pong: ' + message.content)
        reply.to = message.from_n
        channel.send_message(reply)
        say(event='replied', id=reply.id)
        receipt = await asyncio.wait_for(inbox.get(), 10)
        say(event='notification', kind=receipt.event, id=receipt.id)
        finished = await asyncio.wait_for(channel.send_finishing_session_async(), 10)
        say(event='finished', state=finished.state)

    asyncio.run(main(sys.argv[1]))
''')


async def test_published_lime_python_client_and_ours(server):
    python = upstream_venv()
    process = await asyncio.create_subprocess_exec(
        python, '-c', UPSTREAM_CLIENT, server.ws[0],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async def line():
        raw = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
        if not raw:
            raise AssertionError((await asyncio.wait_for(process.stderr.read(), TIMEOUT)).decode())
        return json.loads(raw)

    try:
        ready = await line()
        assert ready == {'event': 'ready', 'state': 'established', 'node': 'up@example.com/up'}
        assert await line() == {'event': 'pong', 'status': 'success'}

        transport = TcpTransport()
        ours = ClientChannel(transport)  # receipts on (lime-python's default)
        inbox = asyncio.Queue()
        ours.on_message = inbox.put_nowait
        ours.on_notification = inbox.put_nowait
        await asyncio.wait_for(transport.open_async(server.tcp[0]), TIMEOUT)
        session = await asyncio.wait_for(ours.establish_session_async(
            'none', 'none', 'ours@example.com', GuestAuthentication(), 'py'), TIMEOUT)
        assert session.state == SessionState.ESTABLISHED

        hello = Message('text/plain', 'hello upstream', to='up@example.com/up')
        ours.send_message(hello)
        received = await line()
        assert received == {'event': 'message', 'content': 'hello upstream',
                            'sender': 'ours@example.com/py', 'id': hello.id}
        replied = await line()
        reply = await asyncio.wait_for(inbox.get(), TIMEOUT)
        assert (reply.content, reply.id) == ('pong: hello upstream', replied['id'])
        # our automatic receipt reaches the upstream client (sent to pp or from)
        assert await line() == {'event': 'notification', 'kind': 'received', 'id': reply.id}
        assert await line() == {'event': 'finished', 'state': 'finished'}

        pong = await ours.process_command_async(Command('get', '/ping'), TIMEOUT)
        assert pong.status == 'success'
        await asyncio.wait_for(ours.send_finishing_session_async(), TIMEOUT)
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), TIMEOUT)
