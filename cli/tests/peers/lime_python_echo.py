"""Cluster test peer: the published lime-python 2.0.13 client (WebSocket transport 1.0.9) as an
echo: it establishes a guest session as `py@localhost/<instance>` on the server at the URI,
prints `ready`, then answers every text message with `echo:<text>` to its sender. lime-python
answers pings by itself. Exits when standard input closes or after 60 s.

Run by cli/tests/cluster.rs with the interop venv's Python (tests/interop/.cache/venv).
"""

import asyncio
import sys

from lime_python import ClientChannel, GuestAuthentication, Message
from lime_transport_websocket import WebSocketTransport


class Echo(ClientChannel):
    def __init__(self):
        super().__init__(WebSocketTransport())

    def on_message(self, message):
        reply = Message('text/plain', f'echo:{message.content}')
        reply.to = message.from_n
        self.send_message(reply)

    def on_notification(self, notification):
        pass

    def on_command(self, command):
        pass


async def main(uri, instance):
    peer = Echo()
    await peer.transport.open_async(uri)
    session = await asyncio.wait_for(peer.establish_session_async(
        None, None, 'py@localhost', GuestAuthentication(), instance), 10)
    print('ready' if session.state == 'established' else f'failed {session.state}', flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    await asyncio.wait_for(stdin_closed, 60)


if __name__ == '__main__':
    asyncio.run(main(sys.argv[1], sys.argv[2]))
