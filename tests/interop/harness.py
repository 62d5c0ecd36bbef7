#!/usr/bin/env python3
"""Cell runner and report for tests/interop/run.sh (standard library only).

  harness.py cell --cell ID --kind python|node|go|dropin|kotlin|rust --uri URI --partner-uri URI ...
      runs one cell (client x transport) against a running server and prints one JSON result line
  harness.py note --cell ID --client NAME --transport T --server NAME --status S --reason TEXT
      prints the result line of a cell that was not run
  harness.py report RESULTS.jsonl --expect ID,ID,... [--strict | --lenient WHY]
      prints the table, one `interop: cell ID <status>: <reason>` line per cell that did not pass,
      and the closing `N passed, N failed, N skipped, N unavailable` line. Exit 1 on a failed cell
      or on a named cell without exactly one result; with --strict (what run.sh passes under
      CI=true) also on any skipped or unavailable cell.

Every kind of cell has a fixed list of required steps (REQUIRED below, by kind and transport): a
cell passes only if each of them was reported and passed, and no other step was reported. A
peer that stops early (no `ready`, no result line) therefore fails with the steps it never
reached, instead of being judged on the ones it did.

A cell with a scripted peer (python, node, go, and our bindings: dropin = our lime_python,
kotlin = our Kotlin bindings) runs the peer's own scenario (guest session with
`get /ping` to the server and a message to an unknown node, wrong password, plain session; see
peers/) while our `lime client` plays the partners, over plain TCP on the same server:
  B1  listens with automatic receipts; the peer's message goes to it (message_delivered) and its
      receipt comes back to the peer (receipt_in);
  B2  starts once the peer printed {"ready": NODE}; it sends a message to the peer (message_in,
      content_intact), then `get /ping` to the peer, which must answer by itself (ping_answered),
      and records the peer's `received` receipt (receipt_at_partner).
Against lime-go's server (cells with --guest-uuid) the partners are uuid guests, and the scripted
peer (our drop-in) gets lime-go's rules as its own options from run.sh.
A cell with our Rust client runs the same scenario with `lime client` processes: guest + command,
unknown destination, wrong password, then a plain session that writes to B1, is pinged by B2
and receives a message from B3 (which expects our receipt). With TLS, the same client without
the test CA must fail (tls_verified).
No fixed delays anywhere: every wait is for an output line or a process exit, with a deadline.
"""

import argparse
import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
import uuid

PING = 'application/vnd.lime.ping+json'
# Message texts: non-ASCII, and characters some encoders escape (Go: <>&, Python: all non-ASCII).
TAIL = ': ünïcødé ✓ <&> "q"'


# The scenario steps a scripted peer reports itself (peers/*, go/client.go). The message the peer
# sends is checked where it arrives (message_delivered at partner B1, then receipt_in at the peer):
# the peers report no step for the send call itself.
PEER_STEPS = ['establish_guest', 'command', 'unknown_destination', 'finish_guest',
              'wrong_password', 'establish_plain', 'receipt_in', 'message_in']
# What the harness checks at the partners of a scripted peer (run_peer).
PARTNER_STEPS = ['message_delivered', 'content_intact', 'ping_answered', 'receipt_at_partner',
                 'partners_finished']
TLS_TRANSPORTS = ('tcp+tls', 'wss')


def required_steps(kind, transport):
    """The fixed list of steps a cell of this kind must report, all passing."""
    tls = transport in TLS_TRANSPORTS
    if kind in ('python', 'node', 'go'):  # the published libraries: their own receipt is checked
        return PEER_STEPS + ['receipt_out', 'finish'] + PARTNER_STEPS
    if kind in ('dropin', 'kotlin'):  # ours: receipts are sent by the core (receipt_at_partner)
        return (['tls_verified'] if tls else []) + PEER_STEPS + ['finish'] + PARTNER_STEPS
    if kind == 'rust':
        return (['establish_guest', 'command', 'finish_guest'] + (['tls_verified'] if tls else [])
                + ['unknown_destination', 'wrong_password', 'establish_plain', 'ping_answered',
                   'message_delivered', 'receipt_in', 'message_in', 'finish',
                   'receipt_at_partner', 'partners_finished'])
    raise ValueError(f'unknown cell kind {kind!r}')


def text_from(cell):
    return f'hello from {cell}{TAIL}'


def text_back(cell):
    return f'hello back to {cell}{TAIL}'


class Proc:
    """A child process whose stdout lines are read by a thread; stderr goes to a log file."""

    def __init__(self, name, argv, logs, env=None):
        self.name = name
        self.argv = argv
        self.lines = []
        self._queue = queue.Queue()
        os.makedirs(logs, exist_ok=True)
        self._out = open(os.path.join(logs, f'{name}.out'), 'w', encoding='utf-8')
        self._err = open(os.path.join(logs, f'{name}.err'), 'w', encoding='utf-8')
        self._out.write('$ ' + shlex.join(argv) + '\n')
        self._out.flush()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._err,
                                  stdin=subprocess.DEVNULL, env=env, text=True, bufsize=1,
                                  encoding='utf-8', errors='replace')
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self._out.write(line)
            self._out.flush()
            self._queue.put(line.rstrip('\n'))
        self._queue.put(None)

    def wait_line(self, predicate, deadline):
        """The next stdout line (parsed JSON) matching predicate, or None at EOF / deadline."""
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if line is None:
                self._queue.put(None)
                return None
            self.lines.append(line)
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if predicate(value):
                return value

    def finish(self, deadline):
        """Waits for exit (killing at the deadline); returns (exit code, all JSON lines)."""
        try:
            code = self.p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.p.kill()
            code = f'killed after the deadline ({self.p.wait()})'
        self.wait_line(lambda _: False, deadline=time.monotonic() + 2)  # drain to EOF
        out = []
        for line in self.lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        self._out.close()
        self._err.close()
        return code, out

    def stderr_text(self):
        with open(self._err.name, encoding='utf-8', errors='replace') as f:
            return f.read()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()


def same_node(a, b):
    return bool(a) and bool(b) and a.lower() == b.lower()


def established(env):
    return env.get('state') == 'established'


class Cell:
    def __init__(self, args):
        self.a = args
        self.steps = {}
        self.observed = {}
        self.notes = []
        self.procs = []
        self.deadline = time.monotonic() + args.budget
        self.logs = os.path.join(args.logs, args.cell.replace(' ', '_'))

    def spawn(self, name, argv, env=None):
        p = Proc(name, argv, self.logs, env)
        self.procs.append(p)
        return p

    def lime(self, uri, identity, instance, *extra, tls=False):
        argv = [self.a.lime, 'client', uri, '--identity', identity, '--instance', instance,
                '--timeout', '15', '--log-level', 'warn']
        if tls:
            argv += ['--ca', self.a.ca]
        return argv + list(extra)

    def guest(self, name):
        """A guest identity; lime-go's server only accepts guests whose name is a uuid."""
        return f'{uuid.uuid4() if self.a.guest_uuid else name}@localhost'

    def partner(self, name, *extra):
        """Our `lime client` as a partner (a guest), over plain TCP on the cell's server."""
        argv = self.lime(self.a.partner_uri, self.guest(name), f'{self.a.instance}-{name}',
                         *extra)
        if self.a.ca:  # the server offers tls on TCP: partners choose none explicitly
            argv += ['--encryption', 'none']
        return argv

    def check(self, name, ok, detail=''):
        self.steps[name] = 'pass' if ok else f'fail: {detail}'

    # -- a scripted peer (lime-python, lime-js, lime-go) ---------------------------------------

    def run_peer(self):
        b1 = self.spawn('b1', self.partner('partner', '--receipts', '--count', '1'))
        b1_session = b1.wait_line(established, self.deadline)
        if not b1_session:
            self.check('partner_b1', False, f'our lime client did not establish: '
                       f'{b1.stderr_text().strip()[-300:]}')
            return
        b1_node = b1_session['to']
        env = dict(os.environ)
        if self.a.ca:  # trust the test CA: OpenSSL (Python) and Node read these
            env['SSL_CERT_FILE'] = self.a.ca
            env['NODE_EXTRA_CA_CERTS'] = self.a.ca
        argv = shlex.split(self.a.peer) + ['--uri', self.a.uri, '--cell', self.a.cell,
                                          '--instance', self.a.instance, '--partner', b1_node]
        peer = self.spawn('peer', argv, env)
        ready = peer.wait_line(lambda v: 'ready' in v or 'steps' in v, self.deadline)
        b2 = None
        if not (ready and 'ready' in ready):
            self.notes.append('the peer never printed {"ready": NODE}, so its partners never ran')
        if ready and 'ready' in ready:
            peer_node = ready['ready']
            b2 = self.spawn('b2', self.partner(
                'partner2', '--message', text_back(self.a.cell), '--to', peer_node,
                '--command', 'get /ping'))
        code, out = peer.finish(self.deadline)
        result = next((v for v in reversed(out) if 'steps' in v), None)
        if result is None:
            self.check('peer', False, f'no result line (exit {code}): '
                       f'{peer.stderr_text().strip()[-300:]}')
            for p in self.procs:
                p.kill()
            return
        self.steps.update(result['steps'])
        self.observed.update(result.get('observed', {}))
        if code != 0:
            self.check('peer_exit', False, f'exit {code}')
        if not (ready and 'ready' in ready):
            b1.kill()
            return
        peer_node = ready['ready']

        # B1 received the peer's message, stamped with the peer's node.
        b1_code, b1_out = b1.finish(self.deadline)
        got = [e for e in b1_out if e.get('id') == f'{self.a.cell}-out' and 'content' in e]
        self.check('message_delivered', len(got) == 1 and same_node(got[0].get('from'), peer_node)
                   and got[0].get('content') == text_from(self.a.cell),
                   f'partner B1 got {got} (exit {b1_code})')
        got_back = self.observed.get('message_in', {}).get('content')
        self.check('content_intact', got_back == text_back(self.a.cell),
                   f'the peer read {got_back!r}')

        # B2: its ping answered by the peer itself, and the peer's receipt for its message.
        b2_code, b2_out = b2.finish(self.deadline)
        sent = next((e for e in b2_out if 'content' in e and 'from' not in e), {})
        pong = [e for e in b2_out if e.get('method') == 'get' and e.get('status')]
        self.check('ping_answered', len(pong) == 1 and pong[0]['status'] == 'success'
                   and pong[0].get('type') == PING and same_node(pong[0].get('from'), peer_node),
                   f'partner B2 got {pong} (exit {b2_code})')
        receipts = [e for e in b2_out if e.get('event') == 'received' and e.get('id') == sent.get('id')]
        self.observed['receipts_at_partner'] = receipts
        if self.a.kind == 'python':
            # lime-python addresses its receipt to message.to (bug 5.3-1): none reaches B2.
            self.check('receipt_at_partner', sent and not receipts,
                       f'expected no receipt at B2 (lime-python bug 5.3-1), got {receipts}')
        else:
            self.check('receipt_at_partner', len(receipts) == 1
                       and same_node(receipts[0].get('from'), peer_node),
                       f'expected one receipt from {peer_node}, got {receipts}')
        self.check('partners_finished', b1_code == 0 and b2_code == 0,
                   f'partner exits {b1_code}, {b2_code}')

    # -- our Rust client (`lime client`) --------------------------------------------------------

    def run_rust(self):
        uri, inst = self.a.uri, self.a.instance
        tls = self.a.transport in ('tcp+tls', 'wss')
        neg = ['--encryption', 'tls'] if self.a.transport == 'tcp+tls' else []
        if self.a.transport == 'tcp' and self.a.ca:
            neg = ['--encryption', 'none']

        # Guest session: establish, get /ping to the server, finish.
        g = self.spawn('guest', self.lime(uri, self.guest(f'guest-{inst}'), inst, '--command',
                                          'get /ping', *neg, tls=tls))
        code, out = g.finish(self.deadline)
        self.check('establish_guest', any(established(e) for e in out),
                   g.stderr_text().strip()[-300:])
        pong = [e for e in out if e.get('method') == 'get' and e.get('status')]
        self.check('command', len(pong) == 1 and pong[0]['status'] == 'success'
                   and pong[0].get('type') == PING, f'{pong}')
        self.check('finish_guest', code == 0 and out and out[-1].get('state') == 'finished',
                   f'exit {code}, last {out[-1:]}')

        if tls:  # the same client without our test CA must fail: TLS is really on the wire
            n = self.spawn('untrusted', self.lime(uri, self.guest(f'guest-{inst}'), f'{inst}-t', *neg))
            code, out = n.finish(self.deadline)
            err = n.stderr_text()
            self.check('tls_verified', code == 1 and not any(established(e) for e in out)
                       and 'certificate' in err.lower(), f'exit {code}: {err.strip()[-200:]}')

        # Unknown destination: failed notification, reason 42.
        u = self.spawn('unknown', self.lime(uri, self.guest(f'guest-{inst}'), f'{inst}-u',
                                            '--message', 'to nobody', '--to',
                                            'nobody@localhost/void', '--count', '1', *neg, tls=tls))
        code, out = u.finish(self.deadline)
        sent = next((e for e in out if 'content' in e), {})
        failed = [e for e in out if e.get('event') == 'failed' and e.get('id') == sent.get('id')]
        self.check('unknown_destination', len(failed) == 1
                   and (failed[0].get('reason') or {}).get('code') == 42, f'{out[1:]}')

        # Wrong password: failed session, reason 13.
        w = self.spawn('wrong_password', self.lime(uri, self.a.user, inst, '--password',
                                                   'not-' + self.a.password, *neg, tls=tls))
        code, out = w.finish(self.deadline)
        err = w.stderr_text()
        self.check('wrong_password', code == 1 and f'Code {self.a.auth_failed_code})' in err
                   and self.a.auth_failed_text.lower() in err.lower(), f'exit {code}: {err.strip()}')

        # Main session (plain): a message to B1 and B1's receipt back; then B2 pings us (our
        # automatic answer) and, once answered, B3 writes to us (our receipt goes back to B3).
        b1 = self.spawn('b1', self.partner('partner', '--receipts', '--count', '1'))
        b1_session = b1.wait_line(established, self.deadline)
        if not b1_session:
            self.check('partner_b1', False, b1.stderr_text().strip()[-300:])
            return
        b1_node = b1_session['to']
        p = self.spawn('main', self.lime(uri, self.a.user, inst, '--password', self.a.password,
                                         '--message', text_from(self.a.cell), '--to', b1_node,
                                         '--receipts', '--count', '2', *neg, tls=tls))
        session = p.wait_line(established, self.deadline)
        self.check('establish_plain', bool(session), p.stderr_text().strip()[-300:])
        if not session:
            return
        node = session['to']
        b2 = self.spawn('b2', self.partner('partner2', '--command', 'get /ping', '--to', node))
        b2_code, b2_out = b2.finish(self.deadline)
        pong = [e for e in b2_out if e.get('method') == 'get' and e.get('status')]
        self.check('ping_answered', len(pong) == 1 and pong[0]['status'] == 'success'
                   and same_node(pong[0].get('from'), node), f'B2 got {pong}')
        b3 = self.spawn('b3', self.partner('partner3', '--message', text_back(self.a.cell),
                                           '--to', node, '--count', '1'))
        code, out = p.finish(self.deadline)
        mine = next((e for e in out if 'content' in e and 'from' not in e), {})
        b1_code, b1_out = b1.finish(self.deadline)
        got = [e for e in b1_out if 'content' in e and e.get('id') == mine.get('id')]
        self.check('message_delivered', len(got) == 1 and same_node(got[0].get('from'), node)
                   and got[0].get('content') == text_from(self.a.cell), f'B1 got {got}')
        rec = [e for e in out if e.get('event') == 'received' and e.get('id') == mine.get('id')]
        self.check('receipt_in', len(rec) == 1 and same_node(rec[0].get('from'), b1_node), f'{rec}')
        b3_code, b3_out = b3.finish(self.deadline)
        b3_node = next((e['to'] for e in b3_out if established(e)), None)
        back = [e for e in out if 'content' in e and e.get('from')]
        self.check('message_in', len(back) == 1 and same_node(back[0]['from'], b3_node)
                   and back[0].get('content') == text_back(self.a.cell), f'{back}')
        self.check('finish', code == 0 and out and out[-1].get('state') == 'finished',
                   f'exit {code}, last {out[-1:]}')
        sent = next((e for e in b3_out if 'content' in e and 'from' not in e), {})
        receipts = [e for e in b3_out if e.get('event') == 'received' and e.get('id') == sent.get('id')]
        self.check('receipt_at_partner', len(receipts) == 1 and same_node(receipts[0].get('from'), node),
                   f'B3 got {receipts}')
        self.check('partners_finished', b1_code == 0 and b2_code == 0 and b3_code == 0,
                   f'exits {b1_code}, {b2_code}, {b3_code}')

    def run(self):
        try:
            (self.run_rust if self.a.kind == 'rust' else self.run_peer)()
        finally:
            for p in self.procs:
                p.kill()
        required = required_steps(self.a.kind, self.a.transport)
        failing = [(k, v[len('fail: '):] if v.startswith('fail: ') else v)
                   for k, v in self.steps.items() if v != 'pass']
        missing = [k for k in required if k not in self.steps]
        if missing:
            why = '; '.join(self.notes) or 'the scenario stopped before them'
            failing.append((missing[0], f'required steps never reported: {", ".join(missing)} '
                            f'({why})'))
        extra = [k for k, v in self.steps.items() if k not in required and v == 'pass']
        if extra:
            failing.append((extra[0], f'steps outside the fixed list of a {self.a.kind} cell: '
                            f'{", ".join(extra)} (update REQUIRED in harness.py or the peer)'))
        result = {'cell': self.a.cell, 'client': self.a.client_name,
                  'transport': self.a.transport, 'server': self.a.server,
                  'status': 'fail' if failing else 'pass',
                  'steps': self.steps, 'observed': self.observed}
        if missing:
            result['missing_steps'] = missing
        if failing:
            result['failed_step'] = failing[0][0]
            result['reason'] = failing[0][1]
        print(json.dumps(result), flush=True)


def report(path, expect, strict, lenient_why):
    """Prints the table and the summary; returns the exit status."""
    with open(path, encoding='utf-8') as f:
        rows = [json.loads(line) for line in f if line.strip().startswith('{')]
    # Every cell run.sh named must have exactly one result line.
    seen = {}
    for r in rows:
        seen[r['cell']] = seen.get(r['cell'], 0) + 1
    for cell in expect:
        if seen.get(cell, 0) != 1:
            rows.append({'cell': cell, 'client': cell, 'transport': '?', 'server': '?',
                         'status': 'fail', 'failed_step': 'cell',
                         'reason': f'{seen.get(cell, 0)} result lines (run.sh bug)'})
    for cell in seen:
        if cell not in expect:
            rows.append({'cell': cell, 'client': cell, 'transport': '?', 'server': '?',
                         'status': 'fail', 'failed_step': 'cell',
                         'reason': 'a result for a cell run.sh did not name (run.sh bug)'})
    cols = ['client', 'transport', 'server']
    width = {c: max([len(r[c]) for r in rows] + [len(c)]) for c in cols}
    head = '  '.join(f'{c:<{width[c]}}' for c in cols) + '  result'
    print(head)
    print('-' * len(head) + '-' * 30)
    counts = {'pass': 0, 'fail': 0, 'skipped': 0, 'unavailable': 0}
    causes = []
    for r in rows:
        status = r['status']
        counts[status] += 1
        if status == 'pass':
            text = f'pass ({len(r["steps"])} steps)'
        elif status == 'fail':
            text = f'FAIL at {r.get("failed_step")}: {r.get("reason", "")}'
            causes.append(f'interop: cell {r["cell"]} failed at {r.get("failed_step")}: '
                          f'{r.get("reason", "")}')
        else:
            text = f'{status}: {r.get("reason", "")}'
            causes.append(f'interop: cell {r["cell"]} {status}: {r.get("reason", "")}')
        print('  '.join(f'{r[c]:<{width[c]}}' for c in cols) + '  ' + text)
    print()
    not_run = counts['skipped'] + counts['unavailable']
    for line in causes:
        print(line)
    if not_run and strict:
        print(f'interop: {not_run} of {len(rows)} cells did not run, which fails under CI=true '
              '(INTEROP_ALLOW_SKIPS=1 or run.sh --allow-skips allows it)')
    elif not_run:
        print(f'interop: WARNING: {not_run} of {len(rows)} cells DID NOT RUN and prove nothing; '
              f'allowed only because {lenient_why}')
    print(f'{counts["pass"]} passed, {counts["fail"]} failed, {counts["skipped"]} skipped, '
          f'{counts["unavailable"]} unavailable')
    return 1 if counts['fail'] or (strict and not_run) else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='what', required=True)
    c = sub.add_parser('cell')
    c.add_argument('--cell', required=True)
    c.add_argument('--kind', required=True,
                   choices=['python', 'node', 'go', 'dropin', 'kotlin', 'rust'])
    c.add_argument('--client-name', required=True)
    c.add_argument('--transport', required=True)
    c.add_argument('--server', required=True)
    c.add_argument('--uri', required=True, help='where the client under test connects')
    c.add_argument('--partner-uri', required=True, help='plain TCP URI of the same server')
    c.add_argument('--lime', required=True, help='our lime binary (partners, Rust cells)')
    c.add_argument('--peer', default='', help='command line of the scripted peer')
    c.add_argument('--instance', required=True)
    c.add_argument('--ca', default='', help='test CA (PEM) when the server has a certificate')
    c.add_argument('--user', default='alice@localhost')
    c.add_argument('--password', default='wonderland')
    c.add_argument('--logs', required=True)
    c.add_argument('--guest-uuid', action='store_true', help='guest names are uuids (lime-go)')
    c.add_argument('--auth-failed-code', type=int, default=13,
                   help='reason code of the failed session for a wrong password')
    c.add_argument('--auth-failed-text', default='',
                   help='text the description of that failure must contain')
    c.add_argument('--budget', type=float, default=25.0, help='seconds for the whole cell')
    n = sub.add_parser('note')
    n.add_argument('--cell', required=True)
    n.add_argument('--client', required=True)
    n.add_argument('--transport', required=True)
    n.add_argument('--server', required=True)
    n.add_argument('--status', required=True, choices=['unavailable', 'skipped', 'fail'])
    n.add_argument('--reason', required=True)
    r = sub.add_parser('report')
    r.add_argument('results')
    r.add_argument('--expect', required=True, help='comma-separated ids of every cell named')
    mode = r.add_mutually_exclusive_group(required=True)
    mode.add_argument('--strict', action='store_true',
                      help='a skipped or unavailable cell fails the run (CI=true)')
    mode.add_argument('--lenient', metavar='WHY',
                      help='skipped and unavailable cells are allowed, because WHY')
    a = parser.parse_args()
    if a.what == 'cell':
        Cell(a).run()
    elif a.what == 'note':
        print(json.dumps({'cell': a.cell, 'client': a.client, 'transport': a.transport,
                          'server': a.server, 'status': a.status, 'reason': a.reason,
                          'failed_step': 'cell' if a.status == 'fail' else None}))
    else:
        sys.exit(report(a.results, [c for c in a.expect.split(',') if c], a.strict, a.lenient))


if __name__ == '__main__':
    main()
