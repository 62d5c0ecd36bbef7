"""Side by side, in one run: lime-python 2.0.13 vs ours (asyncio and uvloop) vs the Python floor
vs the Rust client, alternated over several rounds; medians and ranges, targets of issue 10.

Rows:
  lime-python   lime-python 2.0.13 + lime-transport-websocket 1.0.9 in its own venv
  ours/asyncio  our wheel, same client script, asyncio's default loop
  ours/uvloop   our wheel under uvloop
  floor         a raw WebSocket client on asyncio with picows against a raw tokio-tungstenite echo
                server (`lime bench --raw-ws-echo-server`): no LIME, no JSON
  rust          the Rust client (`lime bench --against URI`)
Measures: flood (N x 209-byte messages to ourselves through `lime serve`, receipts on),
`get /ping` round trip p50/p99, the same round trip with client and server on one vCPU
(`taskset -c 0`), and an echo bot (the Rust client sends to it, 128 in flight; the bot answers
each message to its sender).

usage: python3 python/bench/run.py [--rounds 3] [--quick] [--lime PATH] [--wheel PATH]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).resolve().parent / "bench_client.py"
UPSTREAM = ["lime-python==2.0.13", "lime-transport-websocket==1.0.9", "websockets==13.1"]
OURS_EXTRA = ["picows==2.3.1", "uvloop>=0.19"]
IMPLS = ["lime-python", "ours/asyncio", "ours/uvloop", "floor", "rust"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def make_venv(path: Path, packages: list) -> Path:
    python = path / "bin" / "python"
    marker = path / ".installed"
    wanted = "\n".join(packages)
    if not (marker.exists() and marker.read_text() == wanted):
        log(f"setting up {path.name}: {' '.join(packages)}")
        venv.create(path, with_pip=True, clear=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
                       check=True)
        marker.write_text(wanted)
    return python


def cargo_target_dir() -> Path:
    """Cargo's target directory (CARGO_TARGET_DIR and .cargo/config honoured)."""
    try:
        meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                              check=True, capture_output=True, text=True, timeout=120)
        return Path(json.loads(meta.stdout)["target_directory"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")


def build_wheel(venvs: Path, release: bool) -> Path:
    out = venvs / "wheels"
    if out.exists():
        shutil.rmtree(out)
    tools = make_venv(venvs / "tools", ["maturin>=1.9,<2"])
    log(f"building the wheel (maturin build{' --release' if release else ''})")
    cmd = [str(tools.parent / "maturin"), "build", "-q", "-o", str(out)] + (["--release"] if release else [])
    subprocess.run(cmd, cwd=ROOT, check=True)
    return next(out.glob("lime_python-*.whl"))


class Child:
    """A server process that prints `listening on ws://ADDR` and stops when stdin closes or on
    SIGTERM."""

    def __init__(self, cmd: list, marker: str):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for line in self.proc.stdout:
            if marker in line:
                self.uri = "ws://" + line.strip().rsplit("ws://", 1)[-1]
                return
        raise SystemExit(f"{' '.join(cmd)} did not start")

    def stop(self):
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def run_json(cmd: list, timeout: int = 600) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(cmd)}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def python_for(impl: str, pythons: dict) -> tuple:
    python = pythons["upstream" if impl == "lime-python" else "ours"]
    return [str(python), str(CLIENT)], (["--uvloop"] if impl == "ours/uvloop" else [])


def run_bot(impl, pythons, lime, uri, n) -> float:
    head, tail = python_for(impl, pythons)
    bot = subprocess.Popen(head + ["bot", uri] + tail, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if bot.stdout.readline().strip() != "ready":
            raise SystemExit(f"the {impl} echo bot did not start")
        rate = run_json([lime, "bench", "--against", uri, "--drive-bot", "echobot@localhost",
                         "--messages", str(n)])["bot"]
    finally:
        bot.stdin.close()
        bot.wait(timeout=30)
    return rate


def measure(impl, pythons, lime, servers, counts, pin) -> dict:
    """One round of every measure of `impl`."""
    flood_n, rtt_n, bot_n = counts
    taskset = ["taskset", "-c", "0"] if pin else None
    got = {}
    if impl == "rust":
        r = run_json([lime, "bench", "--against", servers["lime"], "--messages", str(flood_n),
                      "--round-trips", str(rtt_n)])
        got.update(flood=r["flood"], p50=r["rtt"]["p50"], p99=r["rtt"]["p99"])
        if taskset:
            r = run_json(taskset + [lime, "bench", "--against", servers["lime-pinned"], "--messages", "100",
                                    "--round-trips", str(rtt_n)])
            got["pinned"] = r["rtt"]["p50"]
        return got
    head, tail = python_for(impl, pythons)
    if impl == "floor":
        got["flood"] = run_json(head + ["floor-flood", servers["echo"], str(flood_n)] + tail)["flood"]
        r = run_json(head + ["floor-rtt", servers["echo"], str(rtt_n)] + tail)["rtt"]
        got.update(p50=r["p50"], p99=r["p99"])
        if taskset:
            got["pinned"] = run_json(taskset + head + ["floor-rtt", servers["echo-pinned"], str(rtt_n)] + tail)["rtt"]["p50"]
        return got
    got["flood"] = run_json(head + ["flood", servers["lime"], str(flood_n)] + tail)["flood"]
    r = run_json(head + ["rtt", servers["lime"], str(rtt_n)] + tail)["rtt"]
    got.update(p50=r["p50"], p99=r["p99"])
    if taskset:
        got["pinned"] = run_json(taskset + head + ["rtt", servers["lime-pinned"], str(rtt_n)] + tail)["rtt"]["p50"]
    got["bot"] = run_bot(impl, pythons, lime, servers["lime"], bot_n)
    return got


def fmt(values: list, unit_rate: bool) -> str:
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.0f}"
    return f"{med:,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: small counts, one round, debug builds (not a measurement)")
    parser.add_argument("--rounds", type=int, help="rounds of alternation [3; 1 with --quick]")
    parser.add_argument("--messages", type=int, help="flood messages [20000]")
    parser.add_argument("--round-trips", type=int, help="sequential pings [2000]")
    parser.add_argument("--bot-messages", type=int, help="messages to the echo bot [10000]")
    parser.add_argument("--lime", help="the lime binary [target/release/lime, built if missing]")
    parser.add_argument("--wheel", help="install this wheel instead of building one")
    parser.add_argument("--venvs", default=str(ROOT / ".venv-bench"), help="where the venvs go [.venv-bench]")
    parser.add_argument("--json", help="also write the raw samples here")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    counts = (args.messages or (1000 if args.quick else 20000),
              args.round_trips or (100 if args.quick else 2000),
              args.bot_messages or (500 if args.quick else 10000))
    if min(counts) < 1 or rounds < 1:
        raise SystemExit("counts and rounds must be at least 1")
    venvs = Path(args.venvs)
    venvs.mkdir(parents=True, exist_ok=True)
    profile = "debug" if args.quick else "release"
    lime = args.lime or str(cargo_target_dir() / profile / "lime")
    if not args.lime:
        log(f"building lime ({profile})")
        subprocess.run(["cargo", "build", "-q", "-p", "lime-cli"] + ([] if args.quick else ["--release"]),
                       cwd=ROOT, check=True)
    wheel = Path(args.wheel) if args.wheel else build_wheel(venvs, release=not args.quick)
    pythons = {"upstream": make_venv(venvs / "upstream", UPSTREAM), "ours": make_venv(venvs / "ours", OURS_EXTRA)}
    subprocess.run([str(pythons["ours"]), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--force-reinstall", "--no-deps", str(wheel)], check=True)
    pin = shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) > 1
    if not pin:
        log("no taskset (or one CPU): the pinned round trip is skipped")
    serve = [lime, "serve", "--tcp", "off", "--ws", "127.0.0.1:0", "--log-level", "error"]
    echo = [lime, "bench", "--raw-ws-echo-server"]
    servers, children = {}, []
    try:
        for name, cmd, marker in [("lime", serve, "listening on ws://"), ("echo", echo, "listening on ws://")]:
            children.append(Child(cmd, marker))
            servers[name] = children[-1].uri
            if pin:
                children.append(Child(["taskset", "-c", "0"] + cmd, marker))
                servers[name + "-pinned"] = children[-1].uri
        results = {impl: {} for impl in IMPLS}
        for r in range(rounds):
            order = IMPLS[r % len(IMPLS):] + IMPLS[:r % len(IMPLS)]
            for impl in order:
                log(f"round {r + 1}/{rounds}: {impl}")
                for key, value in measure(impl, pythons, lime, servers, counts, pin).items():
                    results[impl].setdefault(key, []).append(value)
    finally:
        for c in children:
            c.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    report(results, counts, rounds, args.quick)


def report(results, counts, rounds, quick):
    med = {i: {k: statistics.median(v) for k, v in m.items()} for i, m in results.items()}
    up, floor = med["lime-python"], med["floor"]
    flood_n, rtt_n, bot_n = counts
    names = {
        "flood": f"flood, msg/s ({flood_n:,} × 209 B to ourselves, receipts on)",
        "p50": f"`get /ping` p50, µs ({rtt_n:,} sequential)",
        "p99": "`get /ping` p99, µs",
        "pinned": "`get /ping` p50 on one vCPU (taskset -c 0), µs",
        "bot": f"echo bot, msg/s ({bot_n:,}, 128 in flight)",
    }
    print(f"\n{rounds} round(s), medians (min–max); floor = picows client + raw tokio-tungstenite echo"
          + (" — QUICK SMOKE RUN, NOT A MEASUREMENT" if quick else ""))
    print("| measure | " + " | ".join(IMPLS) + " |")
    print("|---|" + "---|" * len(IMPLS))
    for key, name in names.items():
        cells = [fmt(results[i].get(key, []), key in ("flood", "bot")) for i in IMPLS]
        print(f"| {name} | " + " | ".join(cells) + " |")

    def target(key, ours):
        if key not in ours or key not in up:
            return None
        x = ours[key]
        if key == "flood":
            return x / up[key], x / floor["flood"], x >= 10 * up[key] or x >= 0.6 * floor["flood"], "≥ 10× lime-python or ≥ 0.6× floor"
        if key == "bot":
            return x / up[key], x / floor["flood"], x >= 10 * up[key] or x >= 0.6 * floor["flood"], "≥ 10× lime-python or ≥ 0.6× floor flood"
        if key == "p50":
            return up[key] / x, x / floor[key], x * 4 <= up[key] or x <= 1.5 * floor[key], "≤ ¼ lime-python or ≤ 1.5× floor"
        if key == "p99":
            return up[key] / x, x / floor[key], x * 2 <= up[key], "≤ ½ lime-python"
        return up[key] / x, (x / floor[key] if key in floor else float("nan")), x * 4 <= up[key], "≤ ¼ lime-python pinned"

    print("\n| measure | impl | vs lime-python | vs floor | target | met? |")
    print("|---|---|---|---|---|---|")
    met = missed = 0
    for key, name in names.items():
        for impl in ("ours/asyncio", "ours/uvloop"):
            t = target(key, med[impl])
            if t is None:
                continue
            better, vs_floor, ok, goal = t
            met += ok
            missed += not ok
            word = "faster" if key in ("p50", "p99", "pinned") else ""
            print(f"| {name} | {impl} | {better:.1f}× {word} | {vs_floor:.2f}× | {goal} | {'met' if ok else 'NOT met'} |")
    if "flood" in med["rust"]:
        print(f"\nRust client flood: {med['rust']['flood']:,.0f} msg/s "
              f"(ours/asyncio is {med['ours/asyncio']['flood'] / med['rust']['flood']:.2f}× of it)")
    print(f"{met} met, {missed} not met")


if __name__ == "__main__":
    main()
