"""Two builds of our client side by side: the same measures as run.py (flood, `get /ping`
p50/p99, the pinned round trip, the echo bot) for each of several venvs that hold a wheel of
ours, against one `lime serve` (and one pinned with `taskset -c 0`), rounds alternating the
order; medians (min–max). Shows what a change of the client did, with the server and the load
the same for every build.

usage: python3 python/bench/compare_wheels.py LIME NAME=VENV_PYTHON [NAME=VENV_PYTHON ...]
       [--rounds 3]

Each venv needs our wheel and uvloop (run.py's .venv-bench/ours is one; make another with
`python3 -m venv v && v/bin/pip install uvloop <wheel>`).
"""

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402  (the runner's server and measurement helpers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lime", help="the lime binary")
    parser.add_argument("builds", nargs="+", help="NAME=path/to/venv/bin/python")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pythons = dict(b.split("=", 1) for b in args.builds)
    serve = [args.lime, "serve", "--tcp", "off", "--ws", "127.0.0.1:0", "--log-level", "error"]
    pin = shutil.which("taskset") is not None
    servers = [R.Child(serve, "listening on ws://")]
    if pin:
        servers.append(R.Child(["taskset", "-c", "0"] + serve, "listening on ws://"))
    results = {}
    try:
        for r in range(args.rounds):
            names = list(pythons)
            names = names[r % len(names):] + names[:r % len(names)]
            for name in names:
                for loop in ([], ["--uvloop"]):
                    impl = "ours/uvloop" if loop else "ours/asyncio"
                    got = results.setdefault(f"{name}, {impl.split('/')[1]}", {})
                    head = [pythons[name], str(R.CLIENT)]
                    uri = servers[0].uri
                    got.setdefault("flood", []).append(R.run_json(head + ["flood", uri, "20000"] + loop)["flood"])
                    rtt = R.run_json(head + ["rtt", uri, "2000"] + loop)["rtt"]
                    got.setdefault("p50", []).append(rtt["p50"])
                    got.setdefault("p99", []).append(rtt["p99"])
                    if pin:
                        pinned = R.run_json(["taskset", "-c", "0"] + head + ["rtt", servers[1].uri, "2000"] + loop)
                        got.setdefault("pinned", []).append(pinned["rtt"]["p50"])
                    got.setdefault("bot", []).append(
                        R.run_bot(impl, {"ours": pythons[name]}, args.lime, uri, 10000))
                    R.log(f"round {r + 1}/{args.rounds}: {name}, {impl}")
    finally:
        for s in servers:
            s.stop()
    names = {"flood": "flood, msg/s", "p50": "`get /ping` p50, µs", "p99": "`get /ping` p99, µs",
             "pinned": "pinned p50, µs", "bot": "echo bot, msg/s"}
    print("| measure | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for key, label in names.items():
        print(f"| {label} | " + " | ".join(R.fmt(m.get(key, []), key in ("flood", "bot")) for m in results.values()) + " |")


if __name__ == "__main__":
    main()
