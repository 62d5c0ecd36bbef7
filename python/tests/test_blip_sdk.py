"""blip-sdk-python (the main user of lime-python) on our wheel, installed as a user would.

A fresh virtualenv gets ``pip install`` of the wheel that ``maturin build`` produces (built by
this test), then ``pip install blip-sdk==1.0.4``. pip must keep our lime-python (blip-sdk
declares plain ``lime-python``), and our wheel must bring what the packages it replaces brought:
blip-sdk imports ``humps``, which came with lime-python 2.0.13's ``pyhumps``. Then
``blip/bot.py`` runs a bot on blip-sdk's ``ClientBuilder`` (key authentication,
``with_scheme('ws')``) against ``lime serve --auth guest,key --users FILE``: another client
sends it a message and gets the answer and blip-sdk's receipts. The README's Usage example
(``blip/seed.py``) runs in the same venv.

The downloads (blip-sdk, pyhumps, websockets) are cached in python/tests/.cache/blip-sdk
(``python python/tests/blip/prepare.py`` fetches them ahead). A failed download, or no maturin,
skips the test on a developer machine and fails it under CI=true.
"""

import base64
import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import lime_binary

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / 'blip'))
import prepare  # noqa: E402

pytestmark = [pytest.mark.server, pytest.mark.upstream, pytest.mark.timeout(900)]

DOMAIN = 'example.com'
BOT = 'echobot'
BOT_SECRET = 'bot-secret-1'  # noqa: S105 (a test account)
SERVE_START = 30  # seconds for `lime serve` to print its address
BOT_RUN = 120  # seconds for bot.py (its own waits are 15 s each)


def _in_ci() -> bool:
    return os.environ.get('CI', '').strip().lower() not in ('', '0', 'false', 'no')


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f'{reason} (CI=true: a missing prerequisite fails the run)', pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope='module')
def blip_venv(tmp_path_factory):
    """(python of the user's venv, our wheel's version)."""
    try:
        prepare.fetch()
        wheel = prepare.build_wheel(tmp_path_factory.mktemp('wheel'))
        python = prepare.user_venv(tmp_path_factory.mktemp('blip') / 'venv', wheel)
    except prepare.Unavailable as error:
        _unavailable(str(error))
    version = wheel.name.split('-')[1]
    return python, version


class _Serve:
    """`lime serve` on 127.0.0.1:0 (WebSocket only) with guest and key authentication."""

    def __init__(self, users: Path) -> None:
        binary = lime_binary()
        if binary is None:
            _unavailable('the lime binary is not built (cargo build -p lime-cli, or LIME_BIN)')
        self.lines = queue.Queue()
        self.output = []
        self.process = subprocess.Popen(
            [binary, 'serve', '--tcp', 'off', '--ws', '127.0.0.1:0', '--auth', 'guest,key',
             '--users', str(users), '--domain', DOMAIN, '--log-level', 'warn'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.port = None
        while self.port is None:
            try:
                line = self.lines.get(timeout=SERVE_START)
            except queue.Empty:
                self.stop()
                raise AssertionError('lime serve printed no address:\n' + ''.join(self.output))
            if line is None:
                raise AssertionError('lime serve exited:\n' + ''.join(self.output))
            match = re.search(r'listening on ws://127\.0\.0\.1:(\d+)', line)
            if match:
                self.port = int(match.group(1))

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _venv_json(python: Path, code: str):
    result = subprocess.run([str(python), '-c', code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_pip_keeps_our_lime_python_and_brings_its_dependencies(blip_venv):
    python, version = blip_venv
    facts = _venv_json(python, '''
import importlib.metadata as m, json
from pip._vendor.packaging.requirements import Requirement
installed = {d.metadata["Name"].lower(): d.version for d in m.distributions()}
blip = [Requirement(r) for r in m.requires("blip-sdk")]
import humps, websockets, lime_python, lime_transport_websocket, blip_sdk
print(json.dumps({
    "installed": installed,
    "blip_requires": [str(r) for r in blip],
    "satisfied": all(r.specifier.contains(installed[r.name.lower()], prereleases=True)
                     for r in blip),
    "lime_requires": sorted(m.requires("lime-python") or []),
    "native": hasattr(lime_python, "_lime"),
}))
''')
    # What blip-sdk 1.0.4 declares: lime-python, any version. pip kept ours.
    assert facts['blip_requires'] == ['lime-python']
    assert facts['satisfied']
    assert facts['installed']['lime-python'] == version
    assert facts['native']
    # Our wheel brings what lime-python 2.0.13 and lime-transport-websocket 1.0.9 required.
    assert facts['lime_requires'] == ['pyhumps', 'websockets']
    assert {'pyhumps', 'websockets', 'blip-sdk'} <= set(facts['installed'])
    # Nothing pulled in the published transport over ours.
    assert 'lime-transport-websocket' not in facts['installed']
    check = subprocess.run([str(python), '-m', 'pip', 'check', '--disable-pip-version-check'],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_blip_sdk_bot_answers_a_message(blip_venv, tmp_path):
    python, _ = blip_venv
    users = tmp_path / 'users'
    users.write_text(f'{BOT}@{DOMAIN} key {BOT_SECRET}\n')
    key = base64.b64encode(BOT_SECRET.encode()).decode()  # LIME keys travel base64-encoded
    server = _Serve(users)
    try:
        result = subprocess.run(
            [str(python), str(HERE / 'blip' / 'bot.py'), str(server.port), DOMAIN, BOT, key],
            capture_output=True, text=True, timeout=BOT_RUN)
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout + result.stderr + ''.join(server.output)
    report = json.loads(result.stdout.strip().splitlines()[-1])

    # connect_async: key authentication established the session as the bot's node …
    assert report['bot_session'] == 'established'
    assert report['bot_node'] == f'{BOT}@{DOMAIN}/bot'
    assert report['listening'] is True
    # … and blip-sdk's presence and receipt commands got their responses (lime serve has no
    # such resources: a failure with reason 62, "resource not supported").
    assert report['commands'] == {'/presence': {'status': 'failure', 'reason': 62},
                                  '/receipt': {'status': 'failure', 'reason': 62}}
    # The bot received the message and answered its sender.
    assert report['answered'] == ['hello bot']
    assert report['reply'] == {'content': 'echo: hello bot', 'from': f'{BOT}@{DOMAIN}/bot',
                               'to': f'visitor@{DOMAIN}/home', 'type': 'text/plain'}
    # blip-sdk's own receipts (it turns the channel's off) reached the sender, for that message.
    assert report['receipts'] == {'received': True, 'consumed': True}
    assert report['bot_finished'] == 'finished'
    assert report['guest_finished'] == 'finished'


def test_the_readme_example_runs_in_the_user_venv(blip_venv, tmp_path):
    python, _ = blip_venv
    users = tmp_path / 'users'
    users.write_text(f'{BOT}@{DOMAIN} key {BOT_SECRET}\n')
    server = _Serve(users)
    try:
        result = subprocess.run(
            [str(python), str(HERE / 'blip' / 'seed.py'), f'ws://127.0.0.1:{server.port}'],
            capture_output=True, text=True, timeout=BOT_RUN)
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout + result.stderr + ''.join(server.output)
    assert result.stdout.splitlines()[-2:] == ['ping success', 'state finished']
