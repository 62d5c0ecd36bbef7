"""Shared fixtures: the `lime` binary, `lime serve` processes, a self-signed certificate.

Tests are marked explicitly (``pytest.mark.asyncio``), so they need no pytest configuration
beyond pytest-asyncio and pytest-mock being installed.
"""

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO = PYTHON_DIR.parent
VECTORS = REPO / 'tests' / 'vectors'
CACHE = Path(__file__).resolve().parent / '.cache'


def pytest_configure(config):
    config.addinivalue_line('markers', 'server: needs the `lime` binary (lime serve)')
    config.addinivalue_line('markers', 'upstream: installs the published lime-python 2.0.13 '
                                       '(needs PyPI, cached under python/tests/.cache)')
    config.addinivalue_line('markers', 'stress: process-level stress test (runs in CI, ~30 s)')


def lime_binary():
    """The `lime` binary: $LIME_BIN, else target/debug/lime, else target/release/lime."""
    candidates = [os.environ.get('LIME_BIN'), REPO / 'target' / 'debug' / 'lime',
                  REPO / 'target' / 'release' / 'lime']
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


class LimeServe:
    """A `lime serve` subprocess listening on ephemeral ports."""

    def __init__(self, *args: str) -> None:
        binary = lime_binary()
        if binary is None:
            pytest.skip('the lime binary is not built (cargo build -p lime-cli, or set LIME_BIN)')
        self.tcp = []
        self.ws = []
        self.lines = []
        self.process = subprocess.Popen(
            [binary, 'serve', '--log-level', 'warn', *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        listening = re.compile(r'listening on (\S+)')
        expected = sum(1 for flag in ('--tcp', '--ws') for arg in args if arg == flag) or 2
        while len(self.tcp) + len(self.ws) < expected:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError('lime serve exited:\n' + ''.join(self.lines))
            self.lines.append(line)
            match = listening.search(line)
            if match:
                uri = match.group(1)
                (self.tcp if uri.startswith('net.tcp://') else self.ws).append(uri)
        # Keep reading so the pipe never fills up.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


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
            pytest.skip('neither the cryptography package nor the openssl CLI is available')
        config = directory / 'openssl.cnf'
        config.write_text(OPENSSL_CONFIG)
        subprocess.run(
            [openssl, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
             '-nodes', '-keyout', str(key), '-out', str(cert), '-days', '2',
             '-config', str(config)],
            check=True, capture_output=True,
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


UPSTREAM = ('lime-python==2.0.13', 'lime-transport-websocket==1.0.9')


def upstream_wheels():
    """The published lime-python 2.0.13 and lime-transport-websocket 1.0.9 wheels, downloaded
    once into python/tests/.cache/wheels (skips the test when PyPI cannot be reached)."""
    directory = CACHE / 'wheels'
    wheels = {
        'lime_python': directory / 'lime_python-2.0.13-py3-none-any.whl',
        'lime_transport_websocket': directory / 'lime_transport_websocket-1.0.9-py3-none-any.whl',
    }
    if not all(path.is_file() for path in wheels.values()):
        directory.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '-d',
             str(directory), *UPSTREAM], capture_output=True, text=True)
        if result.returncode != 0 or not all(path.is_file() for path in wheels.values()):
            pytest.skip('cannot download the upstream wheels: ' + result.stderr[-500:])
    return wheels


def upstream_venv():
    """A virtualenv under python/tests/.cache with the published lime-python 2.0.13 and
    lime-transport-websocket 1.0.9 (and their dependencies); returns its python."""
    venv = CACHE / f'upstream-venv-py{sys.version_info[0]}{sys.version_info[1]}'
    python = venv / ('Scripts/python.exe' if os.name == 'nt' else 'bin/python')
    marker = venv / '.ready'
    if not marker.is_file():
        wheels = upstream_wheels()
        if venv.exists():
            shutil.rmtree(venv)
        subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
        result = subprocess.run(
            [str(python), '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
             *map(str, wheels.values())], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip('cannot install upstream lime-python: ' + result.stderr[-500:])
        marker.write_text('ok\n')
    return str(python)
