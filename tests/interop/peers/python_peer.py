"""Interop peer: the published lime-python 2.0.13 client (WebSocket transport 1.0.9).

Run by tests/interop/harness.py with the interop venv's Python. Prints `{"ready": NODE}` once the
main session is established (the harness then starts the partner that writes to us), and one
result line `{"cell": ..., "steps": {...}, "observed": {...}}` at the end. Every envelope sent
or received is logged to standard error as `> JSON` / `< JSON` (the wire evidence).

Steps (same names in every peer):
  guest session   establish_guest, command (get /ping to the server), unknown_destination
                  (failed notification, reason 42), finish_guest
  wrong password  wrong_password (failed session, reason 13)
  main session    establish_plain, receipt_in, message_in, receipt_out, finish
The harness requires exactly these (harness.py REQUIRED) and adds the partners' checks.

lime-python's own behaviour is asserted as it is, bugs included (spec §5.3): its automatic
`received` goes to `message.to` (bug 1) and a failed session never resolves
`establish_session_async` (bug 4).
"""

import argparse
import asyncio
import base64
import json
import sys

from lime_python import (ClientChannel, Command, GuestAuthentication, Message,
                         PlainAuthentication)
from lime_transport_websocket import WebSocketTransport

WAIT = 10.0  # seconds for any single expected envelope


def log(direction, envelope):
    print(direction, json.dumps(envelope), file=sys.stderr, flush=True)


def b64(text):
    return base64.b64encode(text.encode()).decode()


class Peer(ClientChannel):
    """A ClientChannel with the library's defaults (auto ping replies, auto receipts) whose
    received envelopes are queued for the scenario."""

    def __init__(self):
        super().__init__(WebSocketTransport())
        self.inbox = asyncio.Queue()
        self.stash = []
        self.sent = []
        self.raw_in = []
        send, receive = self.transport.send, self.transport.on_envelope

        def logged_send(envelope):
            log('>', envelope)
            self.sent.append(envelope)
            send(envelope)

        def logged_receive(envelope):
            log('<', envelope)
            self.raw_in.append(envelope)
            receive(envelope)

        self.transport.send = logged_send
        self.transport.on_envelope = logged_receive

    def on_message(self, message):
        self.inbox.put_nowait(('message', message))

    def on_notification(self, notification):
        self.inbox.put_nowait(('notification', notification))

    def on_command(self, command):
        self.inbox.put_nowait(('command', command))

    async def expect(self, kind, predicate, timeout=WAIT):
        """The first received envelope of `kind` matching `predicate` (others are kept)."""
        for item in self.stash:
            if item[0] == kind and predicate(item[1]):
                self.stash.remove(item)
                return item[1]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                item = await asyncio.wait_for(self.inbox.get(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise asyncio.TimeoutError(f'timed out waiting for a {kind}') from None
            if item[0] == kind and predicate(item[1]):
                return item[1]
            self.stash.append(item)

    def drain(self, kind, predicate):
        """Every already received envelope of `kind` matching `predicate`, without waiting."""
        while not self.inbox.empty():
            self.stash.append(self.inbox.get_nowait())
        found = [i[1] for i in self.stash if i[0] == kind and predicate(i[1])]
        self.stash = [i for i in self.stash if not (i[0] == kind and predicate(i[1]))]
        return found


class Scenario:
    def __init__(self, args):
        self.args = args
        self.steps = {}
        self.observed = {}

    def step(self, name, ok, detail=''):
        self.steps[name] = 'pass' if ok else f'fail: {detail}'.rstrip(': ')
        if not ok:
            raise StepFailed(name)

    async def connect(self):
        peer = Peer()
        await peer.transport.open_async(self.args.uri)
        return peer

    async def establish(self, name, peer, identity, auth):
        session = await asyncio.wait_for(
            peer.establish_session_async(None, None, identity, auth, self.args.instance), WAIT)
        self.step(name, session.state == 'established' and peer.state == 'established',
                  f'state {session.state}')
        return session

    async def finish(self, name, peer):
        session = await asyncio.wait_for(peer.send_finishing_session_async(), WAIT)
        self.step(name, session.state == 'finished', f'state {session.state}')

    async def guest(self):
        peer = await self.connect()
        await self.establish('establish_guest', peer, f'guest-{self.args.instance}@localhost',
                             GuestAuthentication())
        response = await peer.process_command_async(Command('get', '/ping'), WAIT)
        self.step('command', response.status == 'success'
                  and response.type_n == 'application/vnd.lime.ping+json', str(response))
        message = Message('text/plain', 'to nobody')
        message.id = f'{self.args.cell}-lost'
        message.to = 'nobody@localhost/void'
        peer.send_message(message)
        failed = await peer.expect(
            'notification', lambda n: n.id == message.id and n.event == 'failed')
        reason = failed.reason or {}
        self.step('unknown_destination', reason.get('code') == 42, f'reason {reason}')
        await self.finish('finish_guest', peer)

    async def wrong_password(self):
        """Bug 5.3-4: the failed session arrives but the establish future never resolves (the
        library calls `future.set_exception(session)`, a TypeError in a callback)."""
        loop = asyncio.get_running_loop()
        callback_errors = []
        previous = loop.get_exception_handler()
        loop.set_exception_handler(lambda _, ctx: callback_errors.append(repr(ctx.get('exception'))))
        peer = await self.connect()
        closed = asyncio.Event()
        peer.transport.on_close = closed.set
        task = asyncio.ensure_future(peer.establish_session_async(
            None, None, self.args.user, PlainAuthentication(b64('not-' + self.args.password)),
            self.args.instance))
        await asyncio.wait_for(closed.wait(), WAIT)  # the library closes on `failed`
        for _ in range(5):  # let the library's done-callbacks run (no time passes)
            await asyncio.sleep(0)
        loop.set_exception_handler(previous)
        failed = [e for e in peer.raw_in if e.get('state') == 'failed']
        code = (failed[0].get('reason') or {}).get('code') if failed else None
        resolved = task.done()
        self.observed['wrong_password'] = {
            'establish_resolved': resolved,
            'callback_errors': callback_errors,
        }
        task.cancel()
        self.step('wrong_password', code == 13 and not resolved,
                  f'failed session reason {code}, establish resolved: {resolved} '
                  '(lime-python 2.0.13 never resolves it, bug 5.3-4)')

    async def main(self):
        peer = await self.connect()
        await self.establish('establish_plain', peer, self.args.user,
                             PlainAuthentication(b64(self.args.password)))
        print(json.dumps({'ready': peer.local_node}), flush=True)

        message = Message('text/plain', f'hello from {self.args.cell}: ünïcødé ✓ <&> "q"')
        message.id = f'{self.args.cell}-out'
        message.to = self.args.partner
        # No step of its own for the send: the message is judged where it arrives (B1's copy,
        # the harness's message_delivered; B1's receipt, receipt_in). A send that raises fails
        # receipt_in with the exception.
        peer.send_message(message)
        receipt = await peer.expect(
            'notification', lambda n: n.id == message.id and n.event == 'received')
        self.step('receipt_in', (receipt.from_n or '').lower().startswith(
            self.args.partner.lower()), f'receipt from {receipt.from_n}')

        incoming = await peer.expect('message', lambda m: m.type_n == 'text/plain')
        self.step('message_in', bool(incoming.id and incoming.from_n),
                  f'message {incoming}')
        self.observed['message_in'] = incoming.to_json()
        # The library answered the partner's ping by itself (the harness checks the partner got
        # the answer) and still hands the request to on_command.
        ping = await peer.expect('command', lambda c: c.uri == '/ping' and not c.status)
        self.observed['ping_delivered_to_application'] = ping.id is not None
        # Bug 5.3-1: the automatic receipt is addressed to message.to (us), not message.from.
        receipts = [e for e in peer.sent if e.get('event') == 'received' and e.get('id') == incoming.id]
        self.observed['receipt_out_sent'] = receipts
        self.step('receipt_out', len(receipts) == 1 and receipts[0].get('to') == incoming.to,
                  f'expected one receipt to {incoming.to} (bug 5.3-1), sent {receipts}')
        # What does the server do with a receipt addressed to its own sender? A command round
        # trip to the server is the barrier: the server handles one connection's envelopes in
        # order, so anything routed back to us is queued before the response.
        await peer.process_command_async(Command('get', '/ping'), WAIT)
        echoes = peer.drain('notification', lambda n: n.id == incoming.id)
        self.observed['own_receipt_routed_back'] = [n.to_json() for n in echoes]
        await self.finish('finish', peer)

    async def run(self):
        for name, phase in (('guest', self.guest), ('wrong_password', self.wrong_password),
                            ('main', self.main)):
            try:
                await phase()
            except StepFailed:
                pass
            except Exception as e:  # noqa: BLE001 - reported as the step that broke
                broken = next(s for s in PHASES[name] if s not in self.steps)
                self.steps[broken] = f'fail: {type(e).__name__} {e}'.strip()
        print(json.dumps({'cell': self.args.cell, 'steps': self.steps,
                          'observed': self.observed}), flush=True)


class StepFailed(Exception):
    pass


PHASES = {
    'guest': ['establish_guest', 'command', 'unknown_destination', 'finish_guest'],
    'wrong_password': ['wrong_password'],
    'main': ['establish_plain', 'receipt_in', 'message_in', 'receipt_out', 'finish'],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--uri', required=True)
    parser.add_argument('--cell', required=True)
    parser.add_argument('--instance', required=True)
    parser.add_argument('--partner', required=True, help='node that receives our message')
    parser.add_argument('--user', default='alice@localhost')
    parser.add_argument('--password', default='wonderland')
    asyncio.run(Scenario(parser.parse_args()).run())


if __name__ == '__main__':
    main()
