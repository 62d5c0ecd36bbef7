"""The client's CPU per `get /ping`: a steadier measure than the round trip's wall clock on a
shared machine, where the pinned round trip is close to the CPU both sides spend per request.

Runs WARMUP requests, then COUNT sequential `await channel.process_command_async(Command('get',
'/ping'), 5)` and prints one JSON line: the process's CPU time per request (`cpu_us`, and its
`user_us`/`sys_us` parts) and the wall clock (`wall_us`, mean; `p50_us`). Works with
whichever `lime_python` the interpreter imports (PYTHONPATH picks one).

usage: python cpu_per_request.py WS_URI COUNT [--warmup N] [--uvloop]

The server's share: `perf stat -e task-clock -p <pid of lime serve> -- taskset -c 0 python
cpu_per_request.py ...` (divide by COUNT + warm-up). Instructions per request, independent of
the machine's load: run it under `valgrind --tool=callgrind` with COUNT 500 and 1500 (warm-up
200) and divide the difference of the two totals by 1,000.
"""

import asyncio
import json
import os
import statistics
import sys
import time


async def measure(uri: str, count: int, warmup: int) -> dict:
    from lime_python import ClientChannel, Command, GuestAuthentication
    from lime_transport_websocket import WebSocketTransport

    transport = WebSocketTransport()
    await transport.open_async(uri)
    channel = ClientChannel(transport)
    await asyncio.wait_for(channel.establish_session_async(
        'none', 'none', 'cpu@localhost', GuestAuthentication(), 'bench'), 10)
    for _ in range(warmup):
        await channel.process_command_async(Command('get', '/ping'), 5)
    walls = []
    cpu, times, wall = time.process_time(), os.times(), time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        await channel.process_command_async(Command('get', '/ping'), 5)
        walls.append(time.perf_counter() - start)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = os.times()
    await asyncio.wait_for(channel.send_finishing_session_async(), 5)
    per = 1e6 / count
    return {
        'cpu_us': cpu * per,
        'user_us': (after.user - times.user) * per,
        'sys_us': (after.system - times.system) * per,
        'wall_us': wall * per,
        'p50_us': statistics.median(walls) * 1e6,
    }


def main() -> None:
    args = sys.argv[1:]
    warmup = 2000
    if '--warmup' in args:
        at = args.index('--warmup')
        warmup = int(args[at + 1])
        del args[at:at + 2]
    if '--uvloop' in args:
        import uvloop

        uvloop.install()
        args.remove('--uvloop')
    uri, count = args[0], int(args[1])
    print(json.dumps(asyncio.run(measure(uri, count, warmup))), flush=True)


if __name__ == '__main__':
    main()
