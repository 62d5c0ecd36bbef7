"""One benchmark client, run unchanged against lime-python 2.0.13 and against ours.

Which implementation is measured depends only on which `lime_python` the interpreter imports
(the runner uses one virtualenv per implementation); `--uvloop` runs it under uvloop. Every
message is built inside the timed loop, as users write them. Prints one JSON line.

usage:
  python bench_client.py flood WS_URI MESSAGES [--uvloop]   # to ourselves, receipts on
  python bench_client.py rtt WS_URI ROUND_TRIPS [--uvloop]   # sequential `get /ping`
  python bench_client.py bot WS_URI [--uvloop]               # echo bot until stdin closes
  python bench_client.py floor-flood WS_URI FRAMES [--uvloop]   # picows vs a raw echo server
  python bench_client.py floor-rtt WS_URI ROUND_TRIPS [--uvloop]
"""

import asyncio
import json
import statistics
import sys
import time

ME = "flood@localhost/bench"
ID_TAIL = "-8b7d-4c6a-9e0f-1a2b3c4d5e6f"
# 209 bytes of compact JSON with an 8-digit id prefix, `to` = ME and no `from` on the wire
# once the server fills it: {"type":"text/plain","content":"xx…","id":"…","to":"…"} plus `from`
# added by the server; the content is sized so the message as the server forwards it is 209 B.
TEXT = "x" * (209 - len(json.dumps(
    {"type": "text/plain", "content": "", "id": "00000000" + ID_TAIL, "from": ME, "to": ME},
    separators=(",", ":"))))


def percentiles(samples: list) -> dict:
    samples.sort()
    return {"p50": statistics.median(samples), "p99": samples[max(0, int(len(samples) * 0.99) - 1)]}


async def connect(uri: str, name: str):
    from lime_python import ClientChannel, GuestAuthentication
    from lime_transport_websocket import WebSocketTransport

    transport = WebSocketTransport()
    await transport.open_async(uri)
    channel = ClientChannel(transport)
    await asyncio.wait_for(
        channel.establish_session_async("none", "none", f"{name}@localhost", GuestAuthentication(), "bench"), 10
    )
    return channel


async def close(channel) -> None:
    try:
        await asyncio.wait_for(channel.send_finishing_session_async(), 5)
    except Exception:  # noqa: BLE001 - the figure is taken; closing is best effort
        pass


async def flood(uri: str, count: int) -> dict:
    """Messages/s: `count` messages pipelined to ourselves through the server, with the default
    auto_notify_receipt=True (every message also brings a receipt)."""
    from lime_python import Message

    channel = await connect(uri, "flood")
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    received = 0

    def on_message(_message):
        nonlocal received
        received += 1
        if received == count and not done.done():
            done.set_result(None)

    channel.on_message = on_message
    channel.on_notification = lambda _n: None
    start = time.perf_counter()
    for i in range(count):
        channel.send_message(Message("text/plain", TEXT, id=f"{i:08d}{ID_TAIL}", to=ME))
        if i % 256 == 255:
            await asyncio.sleep(0)
    await asyncio.wait_for(done, 300)
    elapsed = time.perf_counter() - start
    await close(channel)
    return {"flood": count / elapsed}


async def rtt(uri: str, count: int) -> dict:
    """Sequential `get /ping` commands to the server (after count/10 warm-up): µs."""
    from lime_python import Command

    channel = await connect(uri, "rtt")
    samples = []
    for i in range(count + count // 10):
        start = time.perf_counter()
        await channel.process_command_async(Command("get", "/ping"), 5)
        if i >= count // 10:
            samples.append((time.perf_counter() - start) * 1e6)
    await close(channel)
    return {"rtt": percentiles(samples)}


async def bot(uri: str) -> dict:
    """An echo bot: every received message goes back to its sender as a new message. Prints
    `ready` once connected and stops when standard input closes."""
    from lime_python import Message

    channel = await connect(uri, "echobot")
    loop = asyncio.get_running_loop()
    answered = 0

    def on_message(m):
        nonlocal answered
        answered += 1
        channel.send_message(Message(m.type_n, m.content, to=m.from_n))

    channel.on_message = on_message
    channel.on_notification = lambda _n: None
    stdin_closed = loop.create_future()

    def on_stdin():
        if not sys.stdin.buffer.read1(4096) and not stdin_closed.done():
            stdin_closed.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    print("ready", flush=True)
    await stdin_closed
    loop.remove_reader(sys.stdin.fileno())
    await close(channel)
    return {"answered": answered}


def floor_listener(on_frame):
    from picows import WSListener

    class Listener(WSListener):
        def on_ws_frame(self, transport, frame):
            on_frame(frame)

    return Listener


async def floor_flood(uri: str, count: int) -> dict:
    """Frames/s: `count` 209-byte text frames pipelined to a raw echo server (picows)."""
    from picows import WSMsgType, ws_connect

    loop = asyncio.get_running_loop()
    done = loop.create_future()
    received = 0

    def on_frame(frame):
        nonlocal received
        if frame.msg_type == WSMsgType.TEXT:
            received += 1
            if received == count and not done.done():
                done.set_result(None)

    transport, _ = await ws_connect(floor_listener(on_frame), uri)
    payload = json.dumps(
        {"type": "text/plain", "content": TEXT, "id": "0" * 8 + ID_TAIL, "from": ME, "to": ME},
        separators=(",", ":")).encode()
    start = time.perf_counter()
    for i in range(count):
        transport.send(WSMsgType.TEXT, payload)
        if i % 256 == 255:
            await asyncio.sleep(0)
    await asyncio.wait_for(done, 300)
    elapsed = time.perf_counter() - start
    transport.disconnect()
    return {"flood": count / elapsed, "bytes": len(payload)}


async def floor_rtt(uri: str, count: int) -> dict:
    """Sequential round trips of one small text frame through a raw echo server (picows)."""
    from picows import WSMsgType, ws_connect

    loop = asyncio.get_running_loop()
    waiter = None

    def on_frame(frame):
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    transport, _ = await ws_connect(floor_listener(on_frame), uri)
    payload = b'{"method":"get","uri":"/ping","id":"5f3c2a1e-8b7d-4c6a-9e0f-1a2b3c4d5e6f"}'
    samples = []
    for i in range(count + count // 10):
        waiter = loop.create_future()
        start = time.perf_counter()
        transport.send(WSMsgType.TEXT, payload)
        # A bare await: the floor is the physical limit, so it pays no timeout machinery (an
        # `asyncio.wait_for` per echo added a coroutine and a timer handle). A lost echo is
        # still bounded: the runner kills this process after its timeout.
        await waiter
        if i >= count // 10:
            samples.append((time.perf_counter() - start) * 1e6)
    transport.disconnect()
    return {"rtt": percentiles(samples)}


MODES = {"flood": flood, "rtt": rtt, "floor-flood": floor_flood, "floor-rtt": floor_rtt}


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--uvloop"]
    if "--uvloop" in sys.argv:
        import uvloop

        uvloop.install()
    mode, uri = args[0], args[1]
    if mode == "bot":
        result = asyncio.run(bot(uri))
    else:
        result = asyncio.run(MODES[mode](uri, int(args[2])))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
