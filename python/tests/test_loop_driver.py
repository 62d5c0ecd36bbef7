"""The native transports run on the event loop thread (issue #10 item 3): no thread is started
for a client session, callbacks and command futures complete on the loop thread, the same under
uvloop, and asyncio's flow control bounds what a send may leave waiting for a peer that does not
read."""

import asyncio
import errno
import gc
import importlib.util
import json
import os
import re
import socket
import struct
import subprocess
import sys
import textwrap
import weakref

import pytest
from conftest import in_ci, unavailable
from lime_python import ClientChannel, GuestAuthentication, Message, SessionState, TcpTransport
from lime_python.errors import ConnectionClosedError, WriteBufferFullError

TIMEOUT = 10

# Runs one session in a fresh interpreter and reports, as JSON, the most OS threads the process
# had at any point (sampled in every callback and after every step) and the threads the
# callbacks ran on.
SESSION = textwrap.dedent('''
    import asyncio, json, os, sys, threading
    from lime_python import ClientChannel, Command, GuestAuthentication, Message, TcpTransport
    from lime_transport_websocket import WebSocketTransport

    URI, LOOP, CA = sys.argv[1], sys.argv[2], sys.argv[3] or None
    COUNT = 50
    seen = {'max_threads': 0, 'callback_threads': set()}

    def sample():
        seen['max_threads'] = max(seen['max_threads'], len(os.listdir('/proc/self/task')))

    async def main():
        sample()
        transport = (TcpTransport if URI.startswith('net.tcp') else WebSocketTransport)(ca_pem=CA)
        channel = ClientChannel(transport)
        received, notified = asyncio.Queue(), []

        def on_message(message):
            sample()
            seen['callback_threads'].add(threading.get_ident())
            received.put_nowait(message.content)

        def on_notification(notification):
            sample()
            notified.append(notification.event)

        channel.on_message = on_message
        channel.on_notification = on_notification
        await asyncio.wait_for(transport.open_async(URI), 10)
        sample()
        encryption = 'tls' if CA and URI.startswith('net.tcp') else 'none'
        session = await asyncio.wait_for(channel.establish_session_async(
            'none', encryption, 'loop@example.com', GuestAuthentication(), 'home'), 10)
        sample()
        me = str(channel.local_node)
        for i in range(COUNT):
            channel.send_message(Message('text/plain', f'm{i}', to=me))
        got = [await asyncio.wait_for(received.get(), 10) for _ in range(COUNT)]
        pong = await channel.process_command_async(Command('get', '/ping'), 10)
        sample()
        await asyncio.wait_for(channel.send_finishing_session_async(), 10)
        sample()
        print(json.dumps({
            'loop': type(asyncio.get_running_loop()).__module__,
            'state': session.state, 'encryption': transport.encryption,
            'in_order': got == [f'm{i}' for i in range(COUNT)],
            'pong': pong.status, 'receipts': notified.count('received'),
            'max_threads': seen['max_threads'],
            'callbacks_on_loop_thread': seen['callback_threads'] == {threading.get_ident()},
        }))

    if LOOP == 'uvloop':
        import uvloop
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())
        loop.close()
    else:
        asyncio.run(main())
''')


def _uvloop_available() -> bool:
    if importlib.util.find_spec('uvloop') is None:
        unavailable('uvloop is not installed (`make test-python` installs it)')
        return False
    return True


@pytest.mark.server
@pytest.mark.parametrize('loop', ['asyncio', 'uvloop'])
@pytest.mark.parametrize('scheme', ['net.tcp', 'net.tcp+tls', 'ws', 'wss'])
def test_a_session_starts_no_thread(lime_serve, certificate, loop, scheme):
    if loop == 'uvloop':
        _uvloop_available()
    cert, key = certificate
    secure = scheme in ('net.tcp+tls', 'wss')
    server = lime_serve(*(['--cert', cert, '--key', key] if secure else []),
                        *(['--wss'] if scheme == 'wss' else []))
    uri = server.tcp[0] if scheme.startswith('net.tcp') else server.ws[0]
    out = subprocess.run([sys.executable, '-c', SESSION, uri, loop, cert if secure else ''],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report['loop'].startswith('uvloop' if loop == 'uvloop' else 'asyncio'), report
    assert report['state'] == SessionState.ESTABLISHED
    assert report['encryption'] == ('tls' if secure else 'none')
    assert report['in_order'] and report['pong'] == 'success', report
    assert report['receipts'] >= 1, report  # our own automatic receipts, routed back to us
    # the interpreter's main thread only: no tokio runtime, no helper thread
    assert report['max_threads'] == 1, report
    assert report['callbacks_on_loop_thread'], report


# A connection left open when its uvloop loop is closed: uvloop closes the socket then without
# calling connection_lost. Later sends must not go to that descriptor number, which the sockets
# made next reuse. Prints how many bytes reached those sockets and what the send raised.
LEFT_OPEN = textwrap.dedent('''
    import asyncio, json, socket, sys, uvloop
    from lime_python import ClientChannel, GuestAuthentication, Message, TcpTransport

    async def main():
        transport = TcpTransport()
        channel = ClientChannel(transport, True, False)
        await asyncio.wait_for(transport.open_async(sys.argv[1]), 10)
        await asyncio.wait_for(channel.establish_session_async(
            'none', 'none', 'left@example.com', GuestAuthentication(), 'home'), 10)
        return channel  # not closed

    uvloop.install()
    channel = asyncio.run(main())
    pairs = [socket.socketpair() for _ in range(32)]  # takes the descriptors the loop freed
    try:
        channel.send_message(Message('text/plain', 'after the loop', to='x@example.com'))
        raised = None
    except Exception as error:  # noqa: B902
        raised = type(error).__name__
    leaked = 0
    for a, b in pairs:
        for end in (a, b):
            end.setblocking(False)
            try:
                leaked += len(end.recv(65536))
            except BlockingIOError:
                pass
    print(json.dumps({'leaked': leaked, 'raised': raised}))
''')


@pytest.mark.server
def test_a_send_after_uvloop_closed_its_loop_reaches_no_other_socket(lime_serve):
    if not _uvloop_available():
        return
    server = lime_serve()
    out = subprocess.run([sys.executable, '-c', LEFT_OPEN, server.tcp[0]],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report['leaked'] == 0, report


# ----- flow control --------------------------------------------------------------------------

# What the test servers below answer to the session's `new`.
ESTABLISHED = {'id': 's1', 'state': 'established', 'from': 'postmaster@example.com/server',
               'to': 'me@example.com/home'}


class StalledServer:
    """A LIME server over TCP that establishes the session and then stops reading until told
    to, counting the messages it read."""

    def __init__(self) -> None:
        self.reading = asyncio.Event()
        self.messages = 0
        self.done = asyncio.Event()
        self._server = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, '127.0.0.1', 0)
        port = self._server.sockets[0].getsockname()[1]
        return f'net.tcp://127.0.0.1:{port}'

    async def _serve(self, reader, writer) -> None:
        await reader.readuntil(b'}')  # {"state":"new"}
        writer.write(json.dumps(ESTABLISHED).encode())
        await writer.drain()
        await self.reading.wait()
        while True:
            chunk = await reader.read(1 << 16)
            if not chunk:
                break
            self.messages += chunk.count(b'"content"')
        writer.close()
        self.done.set()

    async def stop(self) -> None:
        self.reading.set()
        self._server.close()
        await self._server.wait_closed()


async def _open_as_me(transport, channel, uri):
    """Opens `uri` and establishes a guest session as me@example.com/home; the session."""
    await asyncio.wait_for(transport.open_async(uri), TIMEOUT)
    return await asyncio.wait_for(channel.establish_session_async(
        'none', 'none', 'me@example.com', GuestAuthentication(), 'home'), TIMEOUT)


@pytest.mark.asyncio
async def test_sends_to_a_peer_that_does_not_read_are_bounded_then_resume():
    server = StalledServer()
    uri = await server.start()
    bound = 256 * 1024
    transport = TcpTransport(max_write_buffer_size=bound)
    channel = ClientChannel(transport, True, False)
    try:
        session = await _open_as_me(transport, channel, uri)
        assert session.state == SessionState.ESTABLISHED
        body = 'x' * 10_000
        sent = 0
        refused = None
        for _ in range(20_000):  # the kernel's buffers fill long before this
            try:
                channel.send_message(Message('text/plain', body, to='peer@example.com'))
            except WriteBufferFullError as error:
                refused = error
                break
            sent += 1
        assert refused is not None, f'{sent} sends of 10 kB never hit the bound'
        assert 'not reading' in str(refused)
        connection = transport.connection
        assert connection.writing_paused
        waiting = connection.write_buffer_size
        # bounded: the bound plus the one envelope that crossed it
        assert bound < waiting <= bound + 10_200, waiting
        with pytest.raises(WriteBufferFullError):
            channel.send_message(Message('text/plain', body, to='peer@example.com'))
        assert connection.write_buffer_size == waiting  # nothing of the refused send went out
        assert transport.is_open

        drained = asyncio.ensure_future(transport.drain())
        await asyncio.sleep(0)
        assert not drained.done()  # still paused: the peer has read nothing
        server.reading.set()
        await asyncio.wait_for(drained, TIMEOUT)
        assert not connection.writing_paused
        channel.send_message(Message('text/plain', body, to='peer@example.com'))
        sent += 1
        await asyncio.wait_for(transport.close_async(), TIMEOUT)
        await asyncio.wait_for(server.done.wait(), TIMEOUT)
        assert server.messages == sent  # every accepted send arrived, no refused one did
    finally:
        await server.stop()


class RawPeer:
    """The server end of one connection as a plain non-blocking socket the test reads (or
    resets) itself, after answering the session's `new` with `established`."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(1)
        self.listener.setblocking(False)
        self.uri = f'net.tcp://127.0.0.1:{self.listener.getsockname()[1]}'
        self.sock = None

    async def establish(self, transport, channel) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(transport.open_async(self.uri), TIMEOUT)
        self.sock, _ = await asyncio.wait_for(loop.sock_accept(self.listener), TIMEOUT)
        self.sock.setblocking(False)

        async def serve_session():
            await loop.sock_recv(self.sock, 4096)  # {"state":"new"}
            await loop.sock_sendall(self.sock, json.dumps(ESTABLISHED).encode())

        await asyncio.wait_for(asyncio.gather(serve_session(), channel.establish_session_async(
            'none', 'none', 'me@example.com', GuestAuthentication(), 'home')), TIMEOUT)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.listener.close()


@pytest.mark.asyncio
async def test_sends_keep_their_order_when_the_socket_stops_taking_them():
    """A send goes to the socket directly only while asyncio holds nothing for it: once the
    kernel's buffer is full, what it did not take waits in asyncio's buffer, and every later
    send queues behind it, even when the kernel has room again before asyncio wrote its buffer.
    The peer reads each envelope once, in the order sent."""
    loop = asyncio.get_running_loop()
    peer = RawPeer()
    transport = TcpTransport(max_write_buffer_size=8 << 20)
    channel = ClientChannel(transport, True, False)
    try:
        await peer.establish(transport, channel)
        connection = transport.connection
        pad = 'x' * 4000
        sent = 0

        def send():
            nonlocal sent
            channel.send_message(Message('text/plain', f'{sent:06d}{pad}', to='peer@example.com'))
            sent += 1

        while connection.write_buffer_size == 0 and sent < 100_000:
            send()
            await asyncio.sleep(0)  # one send per turn: each goes to the socket at once
        assert connection.write_buffer_size > 0, f'{sent} sends never filled the socket'
        for _ in range(5):  # asyncio holds bytes now: these queue behind them
            send()
            await asyncio.sleep(0)
        # The peer reads everything the kernel holds, in this turn: the kernel has room again
        # while asyncio still holds bytes (its writer runs at a later turn), so a send now must
        # still go behind them.
        received = bytearray()
        while True:
            try:
                chunk = peer.sock.recv(1 << 20)
            except BlockingIOError:
                break
            assert chunk
            received += chunk
        assert received and connection.write_buffer_size > 0
        for _ in range(3):
            send()

        async def read_to_end():
            while chunk := await loop.sock_recv(peer.sock, 1 << 20):
                received.extend(chunk)

        reader = asyncio.ensure_future(read_to_end())
        await asyncio.wait_for(transport.drain(), TIMEOUT)
        await asyncio.wait_for(transport.close_async(), TIMEOUT)
        await asyncio.wait_for(reader, TIMEOUT)
        numbers = [int(n) for n in re.findall(rb'"content":"(\d{6})x', bytes(received))]
        assert numbers == list(range(sent))
    finally:
        peer.close()


RESET = f'[Errno {errno.ECONNRESET}] {os.strerror(errno.ECONNRESET)}'


async def _reset_and_then(send_after_reset) -> str:
    """Establishes a session with a `RawPeer`, resets the peer's end (which reaches our socket
    at once, on loopback), calls `send_after_reset(loop, channel)` and returns the text of the
    error the transport reports."""
    loop = asyncio.get_running_loop()
    peer = RawPeer()
    transport = TcpTransport()
    channel = ClientChannel(transport, True, False)
    ended = loop.create_future()
    transport.on_error = lambda error: ended.done() or ended.set_result(error)
    try:
        await peer.establish(transport, channel)
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        peer.sock.close()
        peer.sock = None
        send_after_reset(loop, channel)
        error = await asyncio.wait_for(ended, TIMEOUT)
        assert not transport.is_open
        return str(error)
    finally:
        peer.close()


def _send(channel) -> None:
    channel.send_message(Message('text/plain', 'after the reset', to='peer@example.com'))


@pytest.mark.asyncio
async def test_a_reset_met_by_a_send_ends_the_connection_as_a_reset():
    """The kernel reports a peer's reset to the first send after it only. When a send meets it
    (here: at once, before the loop reads), asyncio's own write then sees a broken pipe; the
    connection's end still names the reset, as when asyncio met it first."""
    error = await _reset_and_then(lambda loop, channel: _send(channel))
    assert RESET in error, error


@pytest.mark.asyncio
async def test_a_reset_the_read_meets_first_is_named_as_a_reset_whatever_is_sent_after():
    """When asyncio's read meets the reset, a send made before `connection_lost` arrives (here a
    timer due in the same loop turn, which runs after that turn's read) meets a broken pipe;
    the end still names the reset."""
    error = await _reset_and_then(lambda loop, channel: loop.call_later(0, _send, channel))
    assert RESET in error, error


@pytest.mark.asyncio
async def test_the_sends_of_one_loop_turn_are_written_together():
    """The first send of an event-loop turn is written at once; the later ones of the turn wait
    (at most 64 KiB) for one write at the turn's end."""
    server = StalledServer()
    uri = await server.start()
    server.reading.set()
    transport = TcpTransport()
    channel = ClientChannel(transport, True, False)
    try:
        await _open_as_me(transport, channel, uri)
        connection = transport.connection
        await asyncio.sleep(0)
        assert connection.write_buffer_size == 0
        channel.send_message(Message('text/plain', 'first', to='peer@example.com'))
        assert connection.write_buffer_size == 0  # written before send_message returned
        channel.send_message(Message('text/plain', 'second', to='peer@example.com'))
        assert connection.write_buffer_size > 0  # waits for the end of the turn
        await asyncio.sleep(0)
        assert connection.write_buffer_size == 0  # the turn's end wrote it
        most = 0
        for _ in range(200):  # 200 kB in one turn: written whenever 64 KiB wait
            channel.send_message(Message('text/plain', 'x' * 1000, to='peer@example.com'))
            most = max(most, connection.write_buffer_size)
        # past 64 KiB the sends wrote before the turn's end (not all 200 kB waited for it)
        assert 60 * 1024 < most < 150_000, most
        await asyncio.wait_for(transport.close_async(), TIMEOUT)
        await asyncio.wait_for(server.done.wait(), TIMEOUT)
        assert server.messages == 202
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_drain_returns_at_once_while_writing_is_not_paused():
    server = StalledServer()
    uri = await server.start()
    transport = TcpTransport()
    try:
        await transport.drain()  # not open: nothing to wait for
        await asyncio.wait_for(transport.open_async(uri), TIMEOUT)
        assert not transport.connection.writing_paused
        await asyncio.wait_for(transport.drain(), TIMEOUT)
        await asyncio.wait_for(transport.close_async(), TIMEOUT)
    finally:
        await server.stop()


def test_ci_runs_the_uvloop_rows():
    # uvloop is part of the test venv (Makefile): under CI=true its absence fails the run.
    if in_ci():
        assert importlib.util.find_spec('uvloop') is not None, 'uvloop missing from the test venv'
    else:
        _uvloop_available()


# ----- timers (loop.call_later at the connection's next deadline) ---------------------------

class ScriptedServer:
    """A LIME server over TCP that establishes the session when ``establish`` is set, then hands
    every envelope it reads to ``received`` (a queue) and writes what the test tells it to."""

    def __init__(self, establish: bool = True) -> None:
        self.establish = establish
        self.received: asyncio.Queue = asyncio.Queue()
        self.closed = asyncio.Event()
        self._writer = None
        self._server = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, '127.0.0.1', 0)
        return f'net.tcp://127.0.0.1:{self._server.sockets[0].getsockname()[1]}'

    def write(self, envelope: dict) -> None:
        self._writer.write(json.dumps(envelope).encode())

    async def _serve(self, reader, writer) -> None:
        self._writer = writer
        decoder, buffer = json.JSONDecoder(), ''
        while True:
            chunk = await reader.read(1 << 16)
            if not chunk:
                break
            buffer += chunk.decode()
            while buffer.strip():
                try:
                    envelope, end = decoder.raw_decode(buffer.lstrip())
                except ValueError:
                    break  # incomplete
                buffer = buffer.lstrip()[end:]
                if envelope.get('state') == 'new' and self.establish:
                    self.write(ESTABLISHED)
                else:
                    self.received.put_nowait(envelope)
        writer.close()
        self.closed.set()

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()


async def _next(queue: asyncio.Queue):
    return await asyncio.wait_for(queue.get(), TIMEOUT)


@pytest.mark.asyncio
async def test_remote_ping_after_silence_then_idle_timeout_finishes():
    server = ScriptedServer()
    uri = await server.start()
    transport = TcpTransport(remote_ping_interval=0.2, remote_idle_timeout=1.0)
    channel = ClientChannel(transport, True, False)
    closed = asyncio.Event()
    transport.on_close = closed.set
    try:
        await _open_as_me(transport, channel, uri)
        ping = await _next(server.received)
        assert (ping['method'], ping['uri']) == ('get', '/ping'), ping
        # answered: the schedule starts over and pings again after the next silence
        server.write({'id': ping['id'], 'from': 'postmaster@example.com/server',
                      'method': 'get', 'status': 'success',
                      'type': 'application/vnd.lime.ping+json', 'resource': {}})
        again = await _next(server.received)
        assert again['uri'] == '/ping' and again['id'] != ping['id'], again
        assert transport.is_open
        # unanswered: the idle timeout finishes the session and closes the connection
        finishing = await _next(server.received)
        assert finishing.get('state') == 'finishing', finishing
        await asyncio.wait_for(closed.wait(), TIMEOUT)
        assert not transport.is_open
        await asyncio.wait_for(server.closed.wait(), TIMEOUT)
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_an_unanswered_handshake_step_times_out():
    server = ScriptedServer(establish=False)
    uri = await server.start()
    transport = TcpTransport(handshake_timeout=0.3)
    channel = ClientChannel(transport)
    try:
        await asyncio.wait_for(transport.open_async(uri), TIMEOUT)
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(channel.establish_session_async(
                'none', 'none', 'me@example.com', GuestAuthentication(), 'home'), TIMEOUT)
        assert (await _next(server.received))['state'] == 'new'
        assert not transport.is_open
        assert channel.state == SessionState.FAILED
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_a_failed_session_and_the_end_of_the_stream_together_report_both():
    """The server's shutdown as the driver reads it: `failed` (reason 11) and the end of the
    stream in one write, so one read (or one read and the EOF right after) brings both; the
    channel reports the failed session and the transport its close."""
    server = ScriptedServer()
    uri = await server.start()
    transport = TcpTransport()
    channel = ClientChannel(transport, True, False)
    events = asyncio.Queue()
    transport.on_close = lambda: events.put_nowait('closed')
    channel.on_session_failed = lambda session: events.put_nowait(session.reason.code)
    try:
        await _open_as_me(transport, channel, uri)
        server.write({'id': 's1', 'from': 'postmaster@example.com/server', 'state': 'failed',
                      'reason': {'code': 11, 'description': 'The server is being shut down'}})
        server._writer.close()
        assert {await _next(events), await _next(events)} == {11, 'closed'}
        assert channel.state == SessionState.FAILED
        assert not transport.is_open
    finally:
        await server.stop()


def test_timer_options_are_checked():
    with pytest.raises(ValueError, match='remote_ping_interval'):
        asyncio.run(TcpTransport(remote_ping_interval=-1).open_async('net.tcp://127.0.0.1:1'))


@pytest.mark.asyncio
async def test_a_closed_transport_and_its_connection_are_collected():
    # The transport holds its connection and the connection calls back into the transport:
    # a cycle through a native object, which the garbage collector must be able to see.
    server = ScriptedServer()
    uri = await server.start()
    try:
        transport = TcpTransport()
        channel = ClientChannel(transport, True, False)
        await _open_as_me(transport, channel, uri)
        await asyncio.wait_for(transport.close_async(), TIMEOUT)
        refs = [weakref.ref(transport), weakref.ref(channel)]
        del transport, channel
        gc.collect()
        assert [ref() for ref in refs] == [None, None]
    finally:
        await server.stop()


UUID_V4 = r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'


@pytest.mark.asyncio
async def test_a_command_request_object_is_read_natively_or_left_to_the_general_path(lime_serve):
    import re

    from lime_python import Command

    server = lime_serve()
    transport = TcpTransport()
    channel = ClientChannel(transport)
    await asyncio.wait_for(transport.open_async(server.tcp[0]), TIMEOUT)
    await asyncio.wait_for(channel.establish_session_async(
        'none', 'none', 'req@example.com', GuestAuthentication(), 'home'), TIMEOUT)
    connection = transport.connection

    # read from the object: an id is given, the future resolves with the response object
    command_id, future = connection.request(Command('get', '/ping'), 5)
    assert re.match(UUID_V4, command_id), command_id
    response = await asyncio.wait_for(future, TIMEOUT)
    assert (type(response), response.status, response.id) == (Command, 'success', command_id)

    # its own id is kept
    command_id, future = connection.request(Command('get', '/ping', id='mine-1'), 5)
    assert command_id == 'mine-1'
    assert (await asyncio.wait_for(future, TIMEOUT)).id == 'mine-1'

    # what to_json would write differently is not taken: nothing is registered or sent
    extra = Command('get', '/ping')
    extra.custom_header = 'x'  # to_json writes it as customHeader
    not_plain = Command('get', '/ping', metadata={'n': 1})
    rewritten = Command('set', '/x', type_n='text/plain', resource=42)
    for command in (extra, not_plain, rewritten, Command('get', '/ping', status='success')):
        assert connection.request(command, 5) is None
    assert connection.pending_output == 0

    # through the channel, both paths answer (the general path sends the extra attribute)
    assert (await channel.process_command_async(Command('get', '/ping'), 5)).status == 'success'
    assert (await channel.process_command_async(extra, 5)).status == 'success'
    assert re.match(UUID_V4, extra.id), extra.id
    await asyncio.wait_for(channel.send_finishing_session_async(), TIMEOUT)


def test_envelope_ids_are_uuid_v4_and_a_forked_child_counts_from_its_own_base(lime_serve):
    import re

    server = lime_serve()
    code = textwrap.dedent('''
        import asyncio, json, os, sys
        from lime_python import ClientChannel, GuestAuthentication, Message, TcpTransport

        async def one_id():
            transport = TcpTransport()
            channel = ClientChannel(transport)
            await asyncio.wait_for(transport.open_async(sys.argv[1]), 10)
            await asyncio.wait_for(channel.establish_session_async(
                'none', 'none', 'ids@example.com', GuestAuthentication(), f'p{os.getpid()}'), 10)
            message = Message('text/plain', 'x', to='nobody@example.com')
            channel.send_message(message)
            await asyncio.wait_for(channel.send_finishing_session_async(), 10)
            return message.id

        first = asyncio.run(one_id())
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            os.write(write, asyncio.run(one_id()).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        child = os.read(read, 100).decode()
        print(json.dumps({'first': first, 'child': child, 'again': asyncio.run(one_id())}))
    ''')
    done = subprocess.run([sys.executable, '-c', code, server.tcp[0]], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(re.match(UUID_V4, i) for i in ids.values()), ids
    assert len(set(ids.values())) == 3, ids
    # the parent counts from one random base (the upper 64 bits stay), the child drew another
    assert ids['first'][:18] == ids['again'][:18], ids
    assert ids['child'][:18] != ids['first'][:18], ids


async def _established(server, name):
    transport = TcpTransport()
    channel = ClientChannel(transport)
    await asyncio.wait_for(transport.open_async(server.tcp[0]), TIMEOUT)
    await asyncio.wait_for(channel.establish_session_async(
        'none', 'none', f'{name}@example.com', GuestAuthentication(), 'home'), TIMEOUT)
    return transport, channel


@pytest.mark.asyncio
async def test_a_command_response_wakes_its_task_in_the_loop_turn_that_reads_it(lime_serve):
    """The read that brings a command's response also resumes the coroutine awaiting it, so
    asyncio's loop polls once per request (completing the future the usual way wakes its task
    with call_soon: a second loop turn and poll per request)."""
    from lime_python import Command

    loop = asyncio.get_running_loop()
    if not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
        pytest.skip('counts the polls of asyncio\'s selector loop')
    transport, channel = await _established(lime_serve(), 'turns')
    selector = loop._selector
    select = selector.select
    polls = 0

    def counting_select(timeout=None):
        nonlocal polls
        polls += 1
        return select(timeout)

    selector.select = counting_select
    try:
        for _ in range(50):
            response = await channel.process_command_async(Command('get', '/ping'), 5)
            assert (type(response), response.status) == (Command, 'success')
    finally:
        del selector.select
    assert polls <= 60, polls  # 100 when each response took two loop turns
    await asyncio.wait_for(channel.send_finishing_session_async(), TIMEOUT)


@pytest.mark.asyncio
async def test_a_command_future_completed_in_a_read_runs_its_callbacks_as_the_loop_would(
        lime_serve):
    """The connection takes a command future's done-callbacks off, completes it and calls them
    once the read is handled: each once, in its own context, an exception reported to the loop's
    exception handler; the future is an asyncio.Future and cancellation works as usual."""
    import contextvars

    from lime_python import Command

    loop = asyncio.get_running_loop()
    transport, channel = await _established(lime_serve(), 'callbacks')
    connection = transport.connection
    reported = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context['exception']))
    try:
        _, future = connection.request(Command('get', '/ping'), 5)
        assert isinstance(future, asyncio.Future) and future.get_loop() is loop
        var = contextvars.ContextVar('var')
        var.set('when added')
        seen = []
        future.add_done_callback(lambda f: seen.append((f.result().status, var.get())))

        def failing(_future):
            raise ValueError('a failing callback')

        future.add_done_callback(failing)
        var.set('later')
        assert (await asyncio.wait_for(future, TIMEOUT)).status == 'success'
        assert seen == [('success', 'when added')]
        assert [type(error) for error in reported] == [ValueError]

        _, first = connection.request(Command('get', '/ping'), 5)
        _, second = connection.request(Command('get', '/ping'), 5)
        answers = await asyncio.wait_for(asyncio.gather(first, second), TIMEOUT)
        assert [answer.status for answer in answers] == ['success', 'success']

        task = asyncio.ensure_future(channel.process_command_async(Command('get', '/ping'), 5))
        await asyncio.sleep(0)  # one loop turn: the task sent its request and waits
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        pong = await channel.process_command_async(Command('get', '/ping'), 5)
        assert pong.status == 'success' and seen == [('success', 'when added')]
    finally:
        loop.set_exception_handler(None)
    await asyncio.wait_for(channel.send_finishing_session_async(), TIMEOUT)


@pytest.mark.asyncio
async def test_an_unanswered_command_times_out_on_the_native_path(lime_serve):
    from lime_python import Command
    from lime_python.errors import CommandTimeoutError

    server = lime_serve()
    _, alice = await _established(server, 'alice')
    _, bob = await _established(server, 'bob')
    bob.on_command = lambda command: None  # bob never answers
    command = Command('get', '/anything', to=str(bob.local_node))
    with pytest.raises(CommandTimeoutError):
        await alice.process_command_async(command, 0.2)
    assert command.timeout is True
    assert alice.command_resolves == {}
    assert (await alice.process_command_async(Command('get', '/ping'), 5)).status == 'success'
    for channel in (alice, bob):
        await asyncio.wait_for(channel.send_finishing_session_async(), TIMEOUT)


@pytest.mark.asyncio
async def test_received_nodes_keep_their_text_byte_for_byte(lime_serve):
    """The connection reuses the str of nodes it saw last; nodes that are equal in LIME (case
    aside) but written differently still arrive as written."""
    server = lime_serve()
    _, alice = await _established(server, 'alice')
    _, bob = await _established(server, 'bob')
    received = asyncio.Queue()
    bob.on_message = received.put_nowait
    domain = str(bob.local_node).split('@')[1]
    names = ['bob', 'BOB', 'Bob', 'bOb', 'boB', 'bob', 'BOB', 'BoB']
    for name in names:
        alice.send_message(Message('text/plain', name, to=f'{name}@{domain}'))
    texts = []
    for _ in names:
        message = await asyncio.wait_for(received.get(), TIMEOUT)
        texts.append((message.content, message.to, message.from_n))
    assert texts == [(name, f'{name}@{domain}', str(alice.local_node)) for name in names]
    for channel in (alice, bob):
        await asyncio.wait_for(channel.send_finishing_session_async(), TIMEOUT)


@pytest.mark.asyncio
@pytest.mark.parametrize('timeout', [None, 30])
async def test_a_cancelled_command_is_forgotten_and_its_late_response_goes_to_on_command(
        lime_serve, timeout):
    """Cancelling the task that awaits a command (here by asyncio.wait_for) forgets the
    command, with or without a timeout of its own; its response, arriving later, goes to
    on_command, as in lime-python (which deletes the command's resolver on cancel)."""
    from lime_python import Command

    server = lime_serve()
    _, alice = await _established(server, 'alice')
    _, bob = await _established(server, 'bob')
    requests = asyncio.Queue()
    bob.on_command = requests.put_nowait  # answered below, after alice gave up
    late = asyncio.Queue()
    alice.on_command = late.put_nowait
    connection = alice.transport.connection
    count = 20
    for _ in range(count):
        request = Command('get', '/slow', to=str(bob.local_node))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(alice.process_command_async(request, timeout), 0.01)
    assert connection.pending_commands == 0
    assert alice.command_resolves == {}
    ids = []
    for _ in range(count):
        request = await asyncio.wait_for(requests.get(), TIMEOUT)
        ids.append(request.id)
        bob.send_command(Command('get', '/slow', status='success', id=request.id,
                                 to=request.from_n))
    answered = [(await asyncio.wait_for(late.get(), TIMEOUT)).id for _ in range(count)]
    assert answered == ids
    for channel in (alice, bob):
        await asyncio.wait_for(channel.send_finishing_session_async(), TIMEOUT)


@pytest.mark.asyncio
async def test_timeouts_too_large_for_the_clock_are_no_timeout(lime_serve):
    """A timeout beyond what the clock can add (about 9e18 s) means no timeout, as infinity
    does, instead of a PanicException (command) or a connection ended inside buffer_updated
    (remote ping interval)."""
    from lime_python import Command

    server = lime_serve()
    huge = 1e19
    transport = TcpTransport(handshake_timeout=huge, remote_ping_interval=huge,
                             remote_idle_timeout=huge)
    channel = ClientChannel(transport)
    await asyncio.wait_for(transport.open_async(server.tcp[0]), TIMEOUT)
    session = await asyncio.wait_for(channel.establish_session_async(
        'none', 'none', 'huge@example.com', GuestAuthentication(), 'home'), TIMEOUT)
    assert session.state == SessionState.ESTABLISHED
    for limit in (huge, float(sys.maxsize)):
        response = await asyncio.wait_for(
            channel.process_command_async(Command('get', '/ping'), limit), TIMEOUT)
        assert response.status == 'success'
    assert transport.is_open
    await asyncio.wait_for(channel.send_finishing_session_async(), TIMEOUT)


@pytest.mark.asyncio
@pytest.mark.parametrize('scheme', ['net.tcp', 'ws'])
async def test_a_refused_open_leaves_no_unretrieved_future_exception(scheme):
    loop = asyncio.get_running_loop()
    reported = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context.get('message')))
    try:
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        transport = _transport_for(scheme)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(transport.open_async(f'{scheme}://127.0.0.1:{port}'), TIMEOUT)
        await asyncio.sleep(0)  # the connection's close runs its callbacks
        del transport
        gc.collect()
        assert reported == []
    finally:
        loop.set_exception_handler(previous)


def _transport_for(scheme: str, **options):
    from lime_transport_websocket import WebSocketTransport

    return (TcpTransport if scheme == 'net.tcp' else WebSocketTransport)(**options)


@pytest.mark.asyncio
async def test_an_opening_handshake_the_peer_never_answers_times_out():
    """A peer that accepts the TCP connection but never answers the WebSocket upgrade: open_async
    fails within handshake_timeout with OpenTimeoutError, a TimeoutError and an OSError (as
    lime-transport-websocket's websockets.connect timed out)."""
    from lime_python.errors import OpenTimeoutError

    accepted = []

    async def silent(reader, writer):
        accepted.append(writer)

    server = await asyncio.start_server(silent, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    try:
        transport = _transport_for('ws', handshake_timeout=0.3)
        with pytest.raises(OpenTimeoutError) as raised:
            await asyncio.wait_for(transport.open_async(f'ws://127.0.0.1:{port}'), TIMEOUT)
        assert isinstance(raised.value, TimeoutError) and isinstance(raised.value, OSError)
        assert raised.value.errno == errno.ETIMEDOUT
        assert accepted and not transport.is_open
    finally:
        for writer in accepted:
            writer.close()
        server.close()


class StalledWebSocketServer:
    """StalledServer over WebSocket, by hand: answers the upgrade and the session's `new`, then
    reads nothing more."""

    def __init__(self) -> None:
        self.writers = []
        self._server = None
        self.uri = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, '127.0.0.1', 0)
        self.uri = f'ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}'
        return self.uri

    async def _serve(self, reader, writer) -> None:
        import base64
        import hashlib

        self.writers.append(writer)
        request = await reader.readuntil(b'\r\n\r\n')
        key = re.search(rb'(?i)sec-websocket-key:\s*(\S+)', request).group(1)
        accept = base64.b64encode(
            hashlib.sha1(key + b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest())
        writer.write(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n'
                     b'Connection: Upgrade\r\nSec-WebSocket-Accept: ' + accept
                     + b'\r\nSec-WebSocket-Protocol: lime\r\n\r\n')
        head = await reader.readexactly(2)  # {"state":"new"}: one short masked frame
        await reader.readexactly(4 + (head[1] & 0x7f))
        payload = json.dumps(ESTABLISHED).encode()
        assert len(payload) < 126
        writer.write(bytes([0x81, len(payload)]) + payload)
        await writer.drain()

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        self._server.close()
        await self._server.wait_closed()


@pytest.mark.asyncio
@pytest.mark.parametrize('scheme', ['net.tcp', 'ws'])
async def test_close_async_aborts_when_the_peer_does_not_take_what_was_sent(scheme):
    """close_async writes what was sent first, but not forever: after close_timeout it aborts
    (before, it waited for as long as the peer did not read)."""
    stalled = StalledServer() if scheme == 'net.tcp' else StalledWebSocketServer()
    uri = await stalled.start()
    transport = _transport_for(scheme)
    transport.close_timeout = 0.3
    channel = ClientChannel(transport, True, False)
    try:
        await _open_as_me(transport, channel, uri)
        connection = transport.connection
        body = 'x' * 10_000
        while not connection.writing_paused:
            channel.send_message(Message('text/plain', body, to='peer@example.com'))
        assert connection.write_buffer_size > 0
        await asyncio.wait_for(transport.close_async(), TIMEOUT)
        assert not transport.is_open
    finally:
        await stalled.stop()
