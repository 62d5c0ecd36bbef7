"""Interpreter exit while native futures and connections are live must never crash (the
pyo3-async-runtimes exit crash, TOOLCHAIN §1): 40 runs of a script that awaits ~20 native
futures and exits with connections still open; every run must exit with status 0."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

RUNS = 40
WORKERS = 8
RUN_TIMEOUT = 60
# ~12 s on 2 idle cores; the bound allows a loaded machine, and stays below the worst case of
# every run taking its full RUN_TIMEOUT.
pytestmark = [pytest.mark.stress, pytest.mark.timeout(180)]

SCRIPT = '''
import asyncio
from lime_python import ClientChannel, GuestAuthentication, TcpTransport
from lime_python.server import start_server

async def main():
    server = await start_server(tcp='127.0.0.1:0', ws=[])                 # 1 future
    uri = server.tcp_uris[0]
    transports = [TcpTransport() for _ in range(8)]
    await asyncio.gather(*(t.open_async(uri) for t in transports))      # 8 futures
    channel = ClientChannel(transports[0])
    await channel.establish_session_async(                              # session on the loop
        'none', 'none', 'exit@localhost', GuestAuthentication(), 'x')
    await asyncio.gather(*(t.close_async() for t in transports[4:]))    # 4 futures
    more = [TcpTransport() for _ in range(6)]
    await asyncio.gather(*(t.open_async(uri) for t in more))            # 6 futures
    # exit with the server and 10 connections still running

asyncio.run(main())
print('done')
'''


def run_once(_):
    return subprocess.run([sys.executable, '-c', SCRIPT], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


def test_exit_while_native_work_is_live():
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(run_once, range(RUNS)))
    failures = [(r.returncode, r.stderr[-2000:]) for r in results
                if r.returncode != 0 or 'done' not in r.stdout]
    assert failures == []
