#!/usr/bin/env python3
"""Runs the lime-core examples against real servers and checks what they print.

    python3 core/examples/run_examples.py target/debug/lime target/debug/examples

`make test-crate` builds the binaries and calls this. Every server listens on 127.0.0.1 port 0
(the address is read from its "listening on" line), every wait is bounded, and every process
started here is stopped here. Exit status 0 when every check passed.
"""

import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

STEP_TIMEOUT = 60  # seconds for any one process or line


class Proc:
    """A background process whose output lines are collected by a thread."""

    def __init__(self, name, argv):
        self.name = name
        self.lines = []
        self._queue = queue.Queue()
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self._queue.put(line.rstrip('\n'))
        self._queue.put(None)

    def expect(self, pattern):
        """Returns the match of the first new output line matching `pattern`."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f'{self.name}: no line matching {pattern!r} within {STEP_TIMEOUT} s',
                              self.lines)
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise Failure(f'{self.name} exited before printing {pattern!r}', self.lines)
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def wait(self):
        """Waits for the exit (bounded) and returns the status, with the rest of the output."""
        try:
            code = self.process.wait(STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failure(f'{self.name} did not exit within {STEP_TIMEOUT} s', self.lines)
        while (line := self._queue.get(timeout=STEP_TIMEOUT)) is not None:
            self.lines.append(line)
        return code

    def interrupt(self):
        """Ctrl-C: the examples and `lime serve` shut down gracefully on SIGINT."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.wait()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Failure(Exception):
    def __init__(self, message, lines=()):
        super().__init__(message + ''.join(f'\n    | {line}' for line in lines))


def run(name, argv, expect_code=0, expect=()):
    """Runs a process to completion and checks its status and output lines."""
    started = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failure(f'{name} did not finish within {STEP_TIMEOUT} s')
    lines = (done.stdout + done.stderr).splitlines()
    if done.returncode != expect_code:
        raise Failure(f'{name}: exit status {done.returncode}, expected {expect_code}', lines)
    for pattern in expect:
        if not any(re.search(pattern, line) for line in lines):
            raise Failure(f'{name}: no output line matches {pattern!r}', lines)
    print(f'ok   {name} ({time.monotonic() - started:.1f} s)')
    return lines


def serve(lime, *flags):
    server = Proc('lime serve', [lime, 'serve', '--log-level', 'warn', *flags])
    uris = {}
    for _ in range(2 - flags.count('off')):
        uri = server.expect(r'listening on (\S+)').group(1)
        uris[uri.split(':', 1)[0]] = uri
    return server, uris


def check_echo_and_commands(lime, examples, procs):
    server, uris = serve(lime, '--tcp', '127.0.0.1:0', '--ws', '127.0.0.1:0')
    procs.append(server)
    tcp, ws = uris['net.tcp'], uris['ws']
    # The bot over WebSocket finishes after echoing one message.
    bot = Proc('echo_bot', [f'{examples}/echo_bot', ws, '1'])
    procs.append(bot)
    bot.expect(r'echo bot ready')

    run('command_client: get /ping to the server', [f'{examples}/command_client', tcp],
        expect=[r'get /ping to the server: success'])
    run('command_client: get /ping to the bot (its channel answers pings)',
        [f'{examples}/command_client', tcp, 'echo@localhost/bot'],
        expect=[r'get /ping to echo@localhost/bot: success'])
    run('command_client: a command the bot ignores times out',
        [f'{examples}/command_client', tcp, 'echo@localhost/bot', '/status', '--timeout', '1'],
        expect_code=2, expect=[r'timed out, no response within 1s'])
    run('command_client: an unknown destination gets a failure response',
        [f'{examples}/command_client', tcp, 'nobody@localhost/x'],
        expect_code=1, expect=[r'failure, reason'])

    lines = run('echo_bot: lime client sends a message and gets it back',
                [lime, 'client', tcp, '--identity', 'alice@localhost', '--message', 'hello echo',
                 '--to', 'echo@localhost', '--listen', '30', '--count', '1'])
    echoed = [line for line in lines
              if '"content":"hello echo"' in line and '"from":"echo@localhost/bot"' in line]
    if not echoed:
        raise Failure('alice did not receive the echo', lines)
    if bot.wait() != 0 or not any('1 messages echoed' in line for line in bot.lines):
        raise Failure('echo_bot did not finish cleanly after one echo', bot.lines)
    print('ok   echo_bot finished its session after one echo')
    if server.interrupt() != 0:
        raise Failure('lime serve did not shut down cleanly', server.lines)


def check_auth_server(lime, examples, procs):
    server = Proc('auth_server', [f'{examples}/auth_server', '127.0.0.1:0',
                                  'alice@localhost=alice-secret', 'bob@localhost=bob secret'])
    procs.append(server)
    tcp = server.expect(r'listening on (\S+)').group(1)
    run('auth_server: alice with her key', [lime, 'client', tcp, '--identity', 'alice@localhost',
                                            '--key', 'alice-secret', '--command', 'get /ping'],
        expect=[r'"state":"established"', r'"status":"success"'])
    run('auth_server: bob with a key containing a space',
        [lime, 'client', tcp, '--identity', 'bob@localhost', '--key', 'bob secret'],
        expect=[r'"state":"established"'])
    run('auth_server: alice with a wrong key is rejected',
        [lime, 'client', tcp, '--identity', 'alice@localhost', '--key', 'guess'],
        expect_code=1, expect=[r'session'])
    run('auth_server: another domain is rejected',
        [lime, 'client', tcp, '--identity', 'alice@example.com', '--key', 'alice-secret'],
        expect_code=1, expect=[r'session'])
    if server.interrupt() != 0:
        raise Failure('auth_server did not shut down cleanly on Ctrl-C', server.lines)
    for pattern in ('accepted alice@localhost', 'accepted bob@localhost',
                    'rejected alice@localhost: wrong or missing key',
                    'rejected alice@example.com: not in localhost', 'shutting down'):
        if not any(pattern in line for line in server.lines):
            raise Failure(f'auth_server did not print {pattern!r}', server.lines)
    print('ok   auth_server decided every attempt and shut down on Ctrl-C')


def check_tls_client(lime, examples, procs):
    with tempfile.TemporaryDirectory(prefix='lime-example-certs-') as certs:
        run('tls_client make-certs', [f'{examples}/tls_client', 'make-certs', certs])
        server, uris = serve(lime, '--tcp', '127.0.0.1:0', '--ws', 'off',
                             '--cert', os.path.join(certs, 'server.pem'),
                             '--key', os.path.join(certs, 'server-key.pem'))
        procs.append(server)
        run('tls_client: public roots reject the server, the private CA is trusted',
            [f'{examples}/tls_client', uris['net.tcp'], os.path.join(certs, 'ca.pem')],
            expect=[r'default roots: rejected as expected .*invalid peer certificate',
                    r'established after the TLS upgrade',
                    r'private CA: ping round trip over TLS done'])
        if server.interrupt() != 0:
            raise Failure('lime serve did not shut down cleanly', server.lines)


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: run_examples.py LIME_BINARY EXAMPLES_DIR')
    lime, examples = sys.argv[1], sys.argv[2].rstrip('/')
    procs = []
    started = time.monotonic()
    try:
        check_echo_and_commands(lime, examples, procs)
        check_auth_server(lime, examples, procs)
        check_tls_client(lime, examples, procs)
    except Failure as failure:
        print(f'FAIL {failure}', file=sys.stderr)
        return 1
    finally:
        for proc in procs:
            proc.kill()
    print(f'all examples passed in {time.monotonic() - started:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
