"""One benchmark client, run unchanged against lime-python 2.0.13 and against ours.

Which implementation is measured depends only on which `lime_python` the interpreter imports
(the runner uses one virtualenv per implementation). Prints one JSON line of results.

usage: python bench_client.py WS_URI MESSAGES ROUND_TRIPS JSON_ITERATIONS
"""

import asyncio
import json
import statistics
import sys
import time
import timeit

from lime_python import ClientChannel, Command, GuestAuthentication, Message
from lime_transport_websocket import WebSocketTransport

ME = "flood@localhost/bench"


def sample_message(i: int = 0) -> Message:
    """A text message whose compact JSON is 209 bytes, like every benchmark here."""
    head = {"type": "text/plain", "content": "", "id": f"{i:08d}-8b7d-4c6a-9e0f-1a2b3c4d5e6f", "from": "alice@example.com/home", "to": ME}
    size = len(json.dumps(head, separators=(",", ":")))
    head["content"] = "x" * max(0, 209 - size)
    return Message.from_json(head)


async def connect(uri: str, name: str) -> ClientChannel:
    transport = WebSocketTransport()
    await transport.open_async(uri)
    channel = ClientChannel(transport)
    await asyncio.wait_for(
        channel.establish_session_async("none", "none", f"{name}@localhost", GuestAuthentication(), "bench"), 10
    )
    return channel


async def flood(uri: str, count: int) -> float:
    """Messages/s: `count` messages pipelined to ourselves through the server, with the default
    auto_notify_receipt=True (every message also produces a receipt)."""
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
    messages = [sample_message(i) for i in range(count)]
    for m in messages:
        m.from_n = None
        m.to = ME
    start = time.perf_counter()
    for i, m in enumerate(messages):
        channel.send_message(m)
        if i % 256 == 255:
            await asyncio.sleep(0)
    await asyncio.wait_for(done, 300)
    elapsed = time.perf_counter() - start
    await close(channel)
    return count / elapsed


async def close(channel: ClientChannel) -> None:
    try:
        await asyncio.wait_for(channel.send_finishing_session_async(), 5)
    except Exception:  # noqa: BLE001 - the figure is taken; closing is best effort
        pass


async def round_trips(uri: str, count: int) -> dict:
    """Sequential `get /ping` commands to the server: p50/p99 in microseconds."""
    channel = await connect(uri, "rtt")
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await channel.process_command_async(Command("get", "/ping"), 5)
        samples.append((time.perf_counter() - start) * 1e6)
    await close(channel)
    samples.sort()
    return {"p50": statistics.median(samples), "p99": samples[int(len(samples) * 0.99) - 1]}


def json_codec(iterations: int) -> dict:
    """Message.from_json and to_json per second on the 209-byte message."""
    raw = sample_message().to_json()
    message = Message.from_json(dict(raw))
    from_json = iterations / timeit.timeit(lambda: Message.from_json(raw), number=iterations)
    to_json = iterations / timeit.timeit(message.to_json, number=iterations)
    return {"from_json": from_json, "to_json": to_json}


async def main() -> None:
    uri, messages, rtts, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    result = {"json": json_codec(iterations)}
    result["flood"] = await flood(uri, messages)
    result["rtt"] = await round_trips(uri, rtts)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
