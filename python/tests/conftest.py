"""Shared fixtures: the `lime` binary, `lime serve` processes, a self-signed certificate, the
published lime-python 2.0.13 (downloaded beforehand by `make test-python-setup`).

Prerequisites the tests cannot provide themselves (the `lime` binary, the downloads, the
cryptography package or openssl, mypy) go through ``unavailable()``: a skip that names the cause
on a developer machine, a failure under ``CI=true``, so a green CI run means every test ran.
Every test is time-limited by pytest-timeout (``timeout`` in pyproject.toml); waits inside the
tests carry their own, shorter bounds.
"""

import functools
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import upstream_cache

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO = PYTHON_DIR.parent
VECTORS = REPO / 'tests' / 'vectors'
CACHE = upstream_cache.CACHE

# How long `lime serve` may take to print its listening addresses, and to exit when asked.
SERVE_START_TIMEOUT = 30
SERVE_STOP_TIMEOUT = 10


def in_ci() -> bool:
    return os.environ.get('CI', '').strip().lower() not in ('', '0', 'false', 'no')


def unavailable(reason: str):
    """A prerequisite is missing: fail under CI=true, skip (naming the cause) elsewhere."""
    if in_ci():
        pytest.fail(f'{reason} (CI=true: a missing prerequisite fails the run)', pytrace=False)
    pytest.skip(reason)


def pytest_configure(config):
    config.addinivalue_line('markers', 'server: needs the `lime` binary (lime serve)')
    config.addinivalue_line('markers', 'upstream: needs the published lime-python 2.0.13 '
                                       '(`make test-python-setup` puts it in python/tests/.cache)')
    config.addinivalue_line('markers', 'stress: process-level stress test (runs in CI, ~30 s)')
    if in_ci() and not config.pluginmanager.hasplugin('timeout'):
        raise pytest.UsageError('CI=true: pytest-timeout is not installed, so a hung test would '
                                'hang the run (it is installed by `make test-python`)')


@functools.lru_cache(maxsize=None)
def cargo_target_dir() -> Path:
    """Cargo's target directory, as cargo itself resolves it ($CARGO_TARGET_DIR, .cargo/config),
    falling back to $CARGO_TARGET_DIR and then to target/ when cargo cannot be asked."""
    try:
        result = subprocess.run(
            [os.environ.get('CARGO', 'cargo'), 'metadata', '--format-version', '1', '--no-deps'],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode == 0:
            return Path(json.loads(result.stdout)['target_directory'])
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError):
        pass
    configured = os.environ.get('CARGO_TARGET_DIR')
    return (REPO / configured) if configured else REPO / 'target'


@functools.lru_cache(maxsize=None)
def lime_binary() -> str:
    """The `lime` binary: $LIME_BIN, else <cargo target dir>/debug/lime, else …/release/lime.
    Fails (CI) or skips (elsewhere) naming what was looked for."""
    explicit = os.environ.get('LIME_BIN')
    if explicit:
        if not Path(explicit).is_file():
            pytest.fail(f'LIME_BIN={explicit} does not exist', pytrace=False)
        return explicit
    target = cargo_target_dir()
    candidates = [target / 'debug' / 'lime', target / 'release' / 'lime']
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    unavailable('the lime binary is not built (looked for '
                f'{", ".join(map(str, candidates))}): run `cargo build -p lime-cli`, or set '
                'LIME_BIN')


class LimeServe:
    """A `lime serve` subprocess listening on ephemeral ports."""

    def __init__(self, *args: str) -> None:
        binary = lime_binary()
        self.tcp = []
        self.ws = []
        self.lines = []
        self._pending = queue.Queue()
        self.process = subprocess.Popen(
            [binary, 'serve', '--log-level', 'warn', *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        # One thread reads the output for the whole life of the process (the pipe never fills
        # up); start-up waits on its lines with a deadline instead of a blocking readline().
        threading.Thread(target=self._drain, daemon=True).start()
        listening = re.compile(r'listening on (\S+)')
        expected = sum(1 for flag in ('--tcp', '--ws') for arg in args if arg == flag) or 2
        deadline = time.monotonic() + SERVE_START_TIMEOUT
        while len(self.tcp) + len(self.ws) < expected:
            try:
                line = self._pending.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError(f'lime serve printed {len(self.tcp) + len(self.ws)} of '
                                   f'{expected} listening lines within {SERVE_START_TIMEOUT} s:\n'
                                   + ''.join(self.lines)) from None
            if line is None:
                self.stop()
                raise RuntimeError('lime serve exited:\n' + ''.join(self.lines))
            match = listening.search(line)
            if match:
                uri = match.group(1)
                (self.tcp if uri.startswith('net.tcp://') else self.ws).append(uri)

    def _drain(self) -> None:
        try:
            for line in self.process.stdout:
                self.lines.append(line)
                self._pending.put(line)
        finally:
            self._pending.put(None)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(SERVE_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(SERVE_STOP_TIMEOUT)


@pytest.fixture
def lime_serve():
    """Factory: ``lime_serve('--cert', c, '--key', k)`` → a started LimeServe (stopped at the
    end of the test). Always listens on 127.0.0.1:0 for TCP and WebSocket."""
    servers = []

    def start(*extra: str) -> LimeServe:
        server = LimeServe('--tcp', '127.0.0.1:0', '--ws', '127.0.0.1:0', *extra)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(lime_serve):
    """A plain `lime serve` (guest authentication, no TLS)."""
    return lime_serve()


@pytest.fixture(scope='session')
def certificate(tmp_path_factory):
    """(cert.pem, key.pem) of a self-signed certificate for localhost / 127.0.0.1."""
    directory = tmp_path_factory.mktemp('tls')
    cert, key = directory / 'cert.pem', directory / 'key.pem'
    try:
        _generate_with_cryptography(cert, key)
    except ImportError:
        openssl = shutil.which('openssl')
        if openssl is None:
            unavailable('neither the cryptography package nor the openssl CLI is available')
        config = directory / 'openssl.cnf'
        config.write_text(OPENSSL_CONFIG)
        subprocess.run(
            [openssl, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
             '-nodes', '-keyout', str(key), '-out', str(cert), '-days', '2',
             '-config', str(config)],
            check=True, capture_output=True, timeout=60,
        )
    return str(cert), str(key)


# A self-signed end-entity certificate (CA:FALSE: rustls refuses a CA as a server certificate).
OPENSSL_CONFIG = '''[req]
distinguished_name = dn
x509_extensions = leaf
prompt = no
[dn]
CN = localhost
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
'''


def _generate_with_cryptography(cert_path: Path, key_path: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'localhost')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName('localhost'), x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]),
            critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


def run_python(code: str, timeout: float = 60, python: str = sys.executable):
    """Runs ``code`` in a fresh interpreter; returns the CompletedProcess."""
    return subprocess.run([python, '-c', code], capture_output=True, text=True, timeout=timeout)


def upstream_venv():
    """The python of the cached virtualenv with the published lime-python 2.0.13 and
    lime-transport-websocket 1.0.9 (and their dependencies)."""
    if upstream_cache.missing():
        unavailable(upstream_cache.describe_missing())
    return str(upstream_cache.venv_python())


def upstream_transport_source() -> Path:
    """lime-transport-websocket 1.0.9's websocket_transport.py, unpacked in the cache."""
    if upstream_cache.missing():
        unavailable(upstream_cache.describe_missing())
    return upstream_cache.transport_source()
