"""Cluster test peer for the Python clients: run with the Python of a venv holding either the
published lime-python 2.0.13 (with lime-transport-websocket 1.0.9) or our drop-in (python/, built
into the repository's venv by `make test-python`); the same code runs on both.

    python python_echo.py URI NAME INSTANCE [--receipts] [--report NODE]

Establishes a guest session as `NAME@localhost/INSTANCE` over WebSocket at URI, prints `ready`,
then for every text message:
- `forward <node> <text>`: sends `<text>` (with an id) to `<node>`;
- `echo:...` (an answer to a forwarded text): sends `report:<text> from <sender>` to the
  `--report` node;
- anything else: answers `echo:<text>` to its sender, and with `--receipts` sends a `received`
  notification for a message with an id to its sender (lime-python 2.0.13 addresses its automatic
  receipt to itself; our drop-in sends its own to the sender).
Both libraries answer pings by themselves. Exits when standard input closes or after 60 s.

Run by cli/tests/cluster.rs (`real_peers_on_different_servers`).
"""

import argparse
import asyncio
import sys
import uuid

from lime_python import ClientChannel, GuestAuthentication, Message, Notification
from lime_transport_websocket import WebSocketTransport


class Echo(ClientChannel):
    def __init__(self, args):
        super().__init__(WebSocketTransport())
        self.args = args

    def on_message(self, message):
        text = message.content if isinstance(message.content, str) else ''
        if text.startswith('forward '):
            _, node, rest = text.split(' ', 2)
            out = Message('text/plain', rest)
            out.id = str(uuid.uuid4())
            out.to = node
            self.send_message(out)
        elif text.startswith('echo:'):
            if self.args.report:
                report = Message('text/plain', f'report:{text} from {message.from_n}')
                report.to = self.args.report
                self.send_message(report)
        else:
            reply = Message('text/plain', f'echo:{text}')
            reply.to = message.from_n
            self.send_message(reply)
            if self.args.receipts and message.id:
                receipt = Notification('received')
                receipt.id = message.id
                receipt.to = message.from_n
                self.send_notification(receipt)

    def on_notification(self, notification):
        pass

    def on_command(self, command):
        pass


async def main(args):
    peer = Echo(args)
    await asyncio.wait_for(peer.transport.open_async(args.uri), 10)
    session = await asyncio.wait_for(peer.establish_session_async(
        None, None, f'{args.name}@localhost', GuestAuthentication(), args.instance), 10)
    print('ready' if session.state == 'established' else f'failed {session.state}', flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    await asyncio.wait_for(stdin_closed, 60)


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('uri')
    parser.add_argument('name')
    parser.add_argument('instance')
    parser.add_argument('--receipts', action='store_true')
    parser.add_argument('--report')
    asyncio.run(main(parser.parse_args()))
