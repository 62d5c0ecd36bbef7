"""Two builds of ours side by side: the same measures as run.py (flood, `get /ping` p50/p99,
the pinned round trip, the echo bot) for each of several venvs that hold a wheel of ours, each
against its `lime serve` (and one pinned with `taskset -c 0`), rounds alternating the order;
medians (min–max). Also the pinned server's CPU per `get /ping` (its threads' run time from
/proc over the pinned run, divided by the requests). Shows what a change of the client or of
the server did, with the load the same for every build.

usage: python3 python/bench/compare_wheels.py LIME NAME=VENV_PYTHON[=LIME [SERVE_FLAGS]] [...]
       [--rounds 3]

A build's own LIME (after a second `=`) replaces the first argument for its servers, with any
flags of `lime serve` after it (one shell word: quote it). Each venv
needs our wheel and uvloop (run.py's .venv-bench/ours is one; make another with
`python3 -m venv v && v/bin/pip install uvloop <wheel>`).
"""

import argparse
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402  (the runner's server and measurement helpers)


def run_time_ns(pid: int) -> int:
    """The time all threads of process `pid` have run, in ns (/proc/PID/task/*/schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lime", help="the lime binary")
    parser.add_argument("builds", nargs="+", help="NAME=path/to/venv/bin/python[=path/to/lime [serve flags]]")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    builds = {}
    for b in args.builds:
        name, python, *lime = b.split("=", 2)
        builds[name] = (python, lime[0] if lime else args.lime)
    pythons = {name: python for name, (python, _) in builds.items()}
    pin = shutil.which("taskset") is not None
    servers, results = {}, {}
    try:
        for lime in {lime for _, lime in builds.values()}:
            binary, *flags = shlex.split(lime)
            serve = [binary, "serve", "--tcp", "off", "--ws", "127.0.0.1:0", "--log-level", "error", *flags]
            servers[lime] = [R.Child(serve, "listening on ws://")]
            if pin:
                servers[lime].append(R.Child(["taskset", "-c", "0"] + serve, "listening on ws://"))
        for r in range(args.rounds):
            names = list(pythons)
            names = names[r % len(names):] + names[:r % len(names)]
            for name in names:
                for loop in ([], ["--uvloop"]):
                    impl = "ours/uvloop" if loop else "ours/asyncio"
                    got = results.setdefault(f"{name}, {impl.split('/')[1]}", {})
                    head = [pythons[name], str(R.CLIENT)]
                    lime = builds[name][1]
                    uri = servers[lime][0].uri
                    got.setdefault("flood", []).append(R.run_json(head + ["flood", uri, "20000"] + loop)["flood"])
                    rtt = R.run_json(head + ["rtt", uri, "2000"] + loop)["rtt"]
                    got.setdefault("p50", []).append(rtt["p50"])
                    got.setdefault("p99", []).append(rtt["p99"])
                    if pin:
                        server = servers[lime][1]
                        before = run_time_ns(server.proc.pid)
                        pinned = R.run_json(["taskset", "-c", "0"] + head + ["rtt", server.uri, "2000"] + loop)
                        got.setdefault("pinned", []).append(pinned["rtt"]["p50"])
                        # 2,000 requests and their 200 warm-ups
                        cpu = (run_time_ns(server.proc.pid) - before) / 2200 / 1000
                        got.setdefault("server", []).append(cpu)
                    driver = shlex.split(lime)[0]
                    got.setdefault("bot", []).append(R.run_bot(impl, {"ours": pythons[name]}, driver, uri, 10000))
                    R.log(f"round {r + 1}/{args.rounds}: {name}, {impl}")
    finally:
        for pair in servers.values():
            for server in pair:
                server.stop()
    names = {"flood": "flood, msg/s", "p50": "`get /ping` p50, µs", "p99": "`get /ping` p99, µs",
             "pinned": "pinned p50, µs", "server": "pinned server CPU per ping, µs",
             "bot": "echo bot, msg/s"}
    print("| measure | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for key, label in names.items():
        print(f"| {label} | " + " | ".join(R.fmt(m.get(key, []), key in ("flood", "bot")) for m in results.values()) + " |")


if __name__ == "__main__":
    main()
