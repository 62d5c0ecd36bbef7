"""lime_python.server: the Rust server started from Python, with a Python authenticator."""

import asyncio
import base64

import pytest
from lime_python import (
    ClientChannel,
    GuestAuthentication,
    KeyAuthentication,
    Message,
    PlainAuthentication,
    SessionFailedError,
    SessionState,
    TcpTransport,
)
from lime_python.server import LimeServer, start_server
from lime_transport_websocket import WebSocketTransport

pytestmark = pytest.mark.asyncio

TIMEOUT = 10


def b64(text):
    return base64.b64encode(text.encode()).decode()


async def establish(transport, uri, identity, auth, encryption='none'):
    channel = ClientChannel(transport)
    await asyncio.wait_for(transport.open_async(uri), TIMEOUT)
    session = await asyncio.wait_for(channel.establish_session_async(
        'none', encryption, identity, auth, 'home'), TIMEOUT)
    assert session.state == SessionState.ESTABLISHED
    return channel


async def test_start_route_and_shutdown():
    server = await asyncio.wait_for(
        start_server(tcp='127.0.0.1:0', ws='127.0.0.1:0', domain='example.com'), TIMEOUT)
    assert isinstance(server, LimeServer)
    assert server.tcp_uris[0].startswith('net.tcp://127.0.0.1:')
    assert server.ws_uris[0].startswith('ws://127.0.0.1:')

    alice = await establish(TcpTransport(), server.tcp_uris[0], 'alice@example.com',
                            GuestAuthentication())
    bob = await establish(WebSocketTransport(), server.ws_uris[0], 'bob@example.com',
                          GuestAuthentication())
    assert server.session_count == 2
    assert alice.remote_node.startswith('postmaster@example.com')

    inbox = asyncio.Queue()
    bob.on_message = inbox.put_nowait
    alice.send_message(Message('text/plain', 'hi bob', to='bob@example.com'))
    assert (await asyncio.wait_for(inbox.get(), TIMEOUT)).content == 'hi bob'

    failures = asyncio.Queue()
    alice.on_session_failed = failures.put_nowait
    bob.on_session_failed = failures.put_nowait
    await asyncio.wait_for(server.shutdown(), TIMEOUT)
    reasons = {(await asyncio.wait_for(failures.get(), TIMEOUT)).reason.code for _ in range(2)}
    assert reasons == {11}


async def test_only_one_listener_kind():
    async with await asyncio.wait_for(start_server(ws='127.0.0.1:0'), TIMEOUT) as server:
        assert server.tcp_addresses == [] and len(server.ws_addresses) == 1


@pytest.mark.parametrize('asynchronous', [False, True])
async def test_python_authenticator(asynchronous):
    calls = []

    def check(node, authentication):
        calls.append((node, authentication.get('scheme')))
        if authentication.get('scheme') == 'key':
            raise RuntimeError('keys are not supported')
        return authentication.get('secret') == 'open sesame'

    async def check_async(node, authentication):
        await asyncio.sleep(0)  # suspends once, so the server really awaits a coroutine
        return check(node, authentication)

    starting = start_server(tcp='127.0.0.1:0', ws='127.0.0.1:0', guest=False,
                            authenticator=check_async if asynchronous else check)
    async with await asyncio.wait_for(starting, TIMEOUT) as server:
        uri = server.tcp_uris[0]
        channel = await establish(TcpTransport(), uri, 'ann@localhost',
                                  PlainAuthentication(b64('open sesame')))
        assert channel.local_node == 'ann@localhost/home'

        with pytest.raises(SessionFailedError) as error:
            await establish(TcpTransport(), uri, 'ben@localhost', PlainAuthentication(b64('no')))
        assert error.value.reason.code == 13

        with pytest.raises(SessionFailedError):  # the authenticator raised: rejected, logged
            await establish(TcpTransport(), uri, 'cid@localhost', KeyAuthentication(b64('k')))

        with pytest.raises(SessionFailedError):  # guests are off
            await establish(TcpTransport(), uri, 'dan@localhost', GuestAuthentication())
    assert [c[0] for c in calls] == ['ann@localhost/home', 'ben@localhost/home',
                                     'cid@localhost/home']


async def test_users_and_tls(certificate):
    cert, key = certificate
    server = await asyncio.wait_for(
        start_server(tcp='127.0.0.1:0', ws=[], cert=cert, key=key, guest=False,
                     users=[('eve@localhost', 'plain', 'pw')]), TIMEOUT)
    try:
        transport = TcpTransport(ca_pem=cert)
        channel = await establish(transport, server.tcp_uris[0], 'eve@localhost',
                                  PlainAuthentication(b64('pw')), encryption='tls')
        assert transport.encryption == 'tls'
        await asyncio.wait_for(channel.send_finishing_session_async(), TIMEOUT)
    finally:
        await asyncio.wait_for(server.shutdown(), TIMEOUT)


async def test_security_and_queue_options():
    starting = start_server(tcp='127.0.0.1:0', ws=[], guest_domain='guests.localhost',
                            queue_capacity=8, queue_max_bytes=65536, send_timeout=5.0)
    async with await asyncio.wait_for(starting, TIMEOUT) as server:
        uri = server.tcp_uris[0]
        channel = await establish(TcpTransport(), uri, 'gus@guests.localhost',
                                  GuestAuthentication())
        assert channel.local_node == 'gus@guests.localhost/home'
        with pytest.raises(SessionFailedError) as error:  # guests only in guests.localhost
            await establish(TcpTransport(), uri, 'gus@localhost', GuestAuthentication())
        assert error.value.reason.code == 13
    with pytest.raises(ValueError, match='guest_domain needs guest=True'):
        await start_server(tcp='127.0.0.1:0', ws=[], guest=False, guest_domain='x.example')
    with pytest.raises(ValueError, match='must be positive'):
        await start_server(tcp='127.0.0.1:0', ws=[], queue_capacity=0)
    with pytest.raises(Exception, match='require_tls'):  # needs a certificate
        await start_server(tcp='127.0.0.1:0', ws=[], require_tls=True)
