"""Interop peer: OUR Python drop-in (`lime_python` built from python/ with maturin), with its native
transports: `lime_transport_websocket.WebSocketTransport` (ws://, wss://) and
`lime_python.TcpTransport` (net.tcp://, TLS negotiated in band with `--encryption tls`).

Run by tests/interop/harness.py with the Python of a venv where our package is installed (the
repository's `.venv`, made by `make test-python`). Same protocol with the harness as
python_peer.py: prints `{"ready": NODE}` once the main session is established and one result
line `{"cell": ..., "steps": {...}, "observed": {...}}` at the end. Every delivery to the
channel's callbacks is logged to standard error as `< kind JSON`. The transport's own trace
(`is_trace_enabled`) stays off: it routes every send through `prepare_send` + `send` instead of
the native `send_with` path that applications use (the servers' logs have the wire).

Steps: the names of the other peers, except `receipt_out`: our receipts and ping answers are
sent by the Rust core without reaching Python, so the harness checks them where they arrive
(`receipt_at_partner`, `ping_answered`). Unlike lime-python 2.0.13, a wrong password raises
`SessionFailedError` (reason 13) and the automatic receipt goes to the sender.

The test CA, when the cell uses TLS, is read from $SSL_CERT_FILE (set by the harness) and given
to the transport as `ca_pem`.

Against lime-go's server (`go/server.go`): `--guest-uuid` (its guests must have a uuid name),
`--auth-failed-code 1 --auth-failed-text authentication` (its reason for a wrong password; lime-go
also uses code 1 for other failures, e.g. "Invalid session ID", hence the text); it also gives
every session a new uuid instance, which the scenario reads back from `local_node`.
"""

import argparse
import asyncio
import base64
import json
import os
import sys
import uuid

import lime_python
from lime_python import (
    ClientChannel,
    Command,
    GuestAuthentication,
    Message,
    PlainAuthentication,
    SessionFailedError,
    TcpTransport,
)
from lime_transport_websocket import WebSocketTransport

WAIT = 10.0  # seconds for any single expected envelope
TEXT_TAIL = ': ünïcødé ✓ <&> "q"'


def b64(text):
    return base64.b64encode(text.encode()).decode()


class Peer(ClientChannel):
    """A ClientChannel with the library's defaults (auto ping replies, auto receipts) whose
    deliveries are queued for the scenario."""

    def __init__(self, transport):
        super().__init__(transport)
        self.inbox = asyncio.Queue()
        self.stash = []

    def put(self, kind, envelope):
        print('<', kind, json.dumps(envelope.to_json(), ensure_ascii=False), file=sys.stderr,
              flush=True)
        self.inbox.put_nowait((kind, envelope))

    def on_message(self, message):
        self.put('message', message)

    def on_notification(self, notification):
        self.put('notification', notification)

    def on_command(self, command):
        self.put('command', command)

    async def expect(self, kind, predicate, timeout=WAIT):
        """The first delivered envelope of `kind` matching `predicate` (others are kept)."""
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


class StepFailed(Exception):
    pass


PHASES = {
    'tls': ['tls_verified'],
    'guest': ['establish_guest', 'command', 'unknown_destination', 'finish_guest'],
    'wrong_password': ['wrong_password'],
    'main': ['establish_plain', 'receipt_in', 'message_in', 'finish'],
}


class Scenario:
    def __init__(self, args):
        self.args = args
        self.steps = {}
        self.observed = {'lime_python': getattr(lime_python, '__file__', '?')}
        self.ca = os.environ.get('SSL_CERT_FILE') or None

    def step(self, name, ok, detail=''):
        self.steps[name] = 'pass' if ok else f'fail: {detail}'.rstrip(': ')
        if not ok:
            raise StepFailed(name)

    def guest_identity(self):
        """lime-go's server only accepts guests whose name is a uuid."""
        name = uuid.uuid4() if self.args.guest_uuid else f'guest-{self.args.instance}'
        return f'{name}@localhost'

    def uses_tls(self):
        return self.args.encryption == 'tls' or self.args.uri.startswith('wss:')

    async def connect(self, trust_ca=True):
        uri = self.args.uri
        new = TcpTransport if uri.startswith('net.tcp:') else WebSocketTransport
        transport = new(ca_pem=self.ca if trust_ca else None)
        peer = Peer(transport)
        await asyncio.wait_for(transport.open_async(uri), WAIT)
        return peer

    async def establish(self, name, peer, identity, auth):
        session = await asyncio.wait_for(peer.establish_session_async(
            'none', self.args.encryption, identity, auth, self.args.instance), WAIT)
        self.step(name, session.state == 'established' and peer.state == 'established',
                  f'state {session.state}')
        if self.args.encryption == 'tls':
            self.observed.setdefault('encryption', peer.transport.encryption)
            self.step(name, peer.transport.encryption == 'tls',
                      f'transport encryption {peer.transport.encryption}')

    async def finish(self, name, peer):
        session = await asyncio.wait_for(peer.send_finishing_session_async(), WAIT)
        self.step(name, session.state == 'finished', f'state {session.state}')

    async def tls(self):
        """Without the test CA the same connection must be refused: TLS is on the wire."""
        try:
            peer = await self.connect(trust_ca=False)
            await asyncio.wait_for(peer.establish_session_async(
                'none', self.args.encryption, self.guest_identity(),
                GuestAuthentication(), f'{self.args.instance}-t'), WAIT)
            outcome = 'established without the CA'
        except asyncio.TimeoutError:
            outcome = 'timed out'
        except Exception as e:  # noqa: BLE001 - the refusal is the expected outcome
            outcome = f'{type(e).__name__}: {e}'
        self.observed['untrusted'] = outcome
        self.step('tls_verified', 'certificate' in outcome.lower(), outcome)

    async def guest(self):
        peer = await self.connect()
        await self.establish('establish_guest', peer, self.guest_identity(),
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
        code = getattr(failed.reason, 'code', None)
        self.step('unknown_destination', code == 42, f'reason {failed.reason}')
        await self.finish('finish_guest', peer)

    async def wrong_password(self):
        peer = await self.connect()
        try:
            session = await asyncio.wait_for(peer.establish_session_async(
                'none', self.args.encryption, self.args.user,
                PlainAuthentication(b64('not-' + self.args.password)), self.args.instance), WAIT)
            outcome, code = f'established: {session.state}', None
        except SessionFailedError as e:
            code = getattr(e.reason, 'code', None)
            outcome = f'SessionFailedError: {e}'
        self.observed['wrong_password'] = outcome
        text = self.args.auth_failed_text.lower()
        self.step('wrong_password', code == self.args.auth_failed_code and peer.state == 'failed'
                  and text in outcome.lower(), f'{outcome}, state {peer.state}')

    async def main(self):
        peer = await self.connect()
        await self.establish('establish_plain', peer, self.args.user,
                             PlainAuthentication(b64(self.args.password)))
        print(json.dumps({'ready': peer.local_node}), flush=True)

        message = Message('text/plain', f'hello from {self.args.cell}{TEXT_TAIL}')
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
        self.step('message_in', bool(incoming.id and incoming.from_n), f'message {incoming}')
        self.observed['message_in'] = incoming.to_json()
        # The partner pings us after its message: the core answers it, and (as lime-python) still
        # hands it to on_command. Waiting for it keeps the session up until it was answered.
        ping = await peer.expect('command', lambda c: c.uri == '/ping' and not c.status)
        self.observed['ping_delivered_to_application'] = ping.id is not None
        # Our answer to that ping is on its way, but lime-go's server drops a response command it
        # reads together with the `finishing` that follows it (its finishing closes the session's
        # command channels before the router forwards the response: "req cmd chan: channel
        # closed", B2 never answered). A command round trip to the server first is the barrier:
        # the server reads a connection in order, so our answer is through before its response.
        barrier = await peer.process_command_async(Command('get', '/ping'), WAIT)
        self.observed['barrier_before_finish'] = barrier.status
        await self.finish('finish', peer)

    async def run(self):
        phases = [('guest', self.guest), ('wrong_password', self.wrong_password),
                  ('main', self.main)]
        if self.uses_tls():
            phases.insert(0, ('tls', self.tls))
        for name, phase in phases:
            try:
                await phase()
            except StepFailed:
                pass
            except Exception as e:  # noqa: BLE001 - reported as the step that broke
                broken = next(s for s in PHASES[name] if s not in self.steps)
                self.steps[broken] = f'fail: {type(e).__name__} {e}'.strip()
        print(json.dumps({'cell': self.args.cell, 'steps': self.steps,
                          'observed': self.observed}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--uri', required=True)
    parser.add_argument('--cell', required=True)
    parser.add_argument('--instance', required=True)
    parser.add_argument('--partner', required=True, help='node that receives our message')
    parser.add_argument('--encryption', default='none', choices=['none', 'tls'],
                        help='what to choose when the server negotiates (TCP)')
    parser.add_argument('--user', default='alice@localhost')
    parser.add_argument('--password', default='wonderland')
    parser.add_argument('--guest-uuid', action='store_true', help='guest names are uuids (lime-go)')
    parser.add_argument('--auth-failed-code', type=int, default=13,
                        help='reason code of the failed session for a wrong password (lime-go: 1)')
    parser.add_argument('--auth-failed-text', default='',
                        help='text its description must contain (lime-go: authentication)')
    asyncio.run(Scenario(parser.parse_args()).run())


if __name__ == '__main__':
    main()
