"""Side-by-side benchmark: our lime-python vs lime-python 2.0.13 + lime-transport-websocket 1.0.9.

Both run the same client script (bench_client.py) against the same `lime serve`, each in its own
virtualenv; only the installed package differs. Prints a table with ratios and the targets.

usage: python python/bench/run.py [--quick] [--lime PATH] [--wheel PATH]
"""

import argparse
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(__file__).resolve().parent / ".cache"
UPSTREAM = ["lime-python==2.0.13", "lime-transport-websocket==1.0.9", "websockets==13.1"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def make_venv(name: str, packages: list) -> Path:
    path = CACHE / name
    python = path / "bin" / "python"
    marker = path / ".installed"
    wanted = "\n".join(packages)
    if not (marker.exists() and marker.read_text() == wanted):
        log(f"setting up {name} venv: {' '.join(packages)}")
        venv.create(path, with_pip=True, clear=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages], check=True)
        marker.write_text(wanted)
    return python


def build_wheel() -> Path:
    log("building the wheel (maturin build --release)")
    out = CACHE / "wheels"
    tools = make_venv("tools", ["maturin>=1.9,<2"])
    subprocess.run([str(tools.parent / "maturin"), "build", "--release", "-q", "-o", str(out)], cwd=ROOT, check=True)
    wheels = sorted(out.glob("lime_python-*.whl"), key=lambda p: p.stat().st_mtime)
    return wheels[-1]


def start_server(lime: str) -> tuple:
    proc = subprocess.Popen(
        [lime, "serve", "--tcp", "off", "--ws", "127.0.0.1:0", "--log-level", "error"],
        stdout=subprocess.PIPE, text=True,
    )
    for line in proc.stdout:
        if "listening on ws://" in line:
            return proc, line.strip().rsplit(" ", 1)[-1]
    raise SystemExit("lime serve did not start")


def run_client(python: Path, uri: str, messages: int, rtts: int, iterations: int) -> dict:
    out = subprocess.run(
        [str(python), str(Path(__file__).parent / "bench_client.py"), uri, str(messages), str(rtts), str(iterations)],
        capture_output=True, text=True, timeout=900,
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark client failed ({python}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test)")
    parser.add_argument("--lime", default=str(ROOT / "target" / "release" / "lime"))
    parser.add_argument("--wheel", help="use this wheel instead of building one")
    args = parser.parse_args()
    messages, rtts, iterations = (1000, 200, 2000) if args.quick else (20000, 2000, 20000)
    if not Path(args.lime).exists():
        log("building lime (cargo build --release -p lime-cli)")
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "lime-cli"], cwd=ROOT, check=True)
    wheel = Path(args.wheel) if args.wheel else build_wheel()
    upstream = make_venv("upstream", UPSTREAM)
    ours = make_venv("ours", [str(wheel)])
    # the wheel may have the same version as last time: force the fresh one in
    subprocess.run([str(ours), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(wheel)], check=True)
    server, uri = start_server(args.lime)
    try:
        log(f"running lime-python 2.0.13 ({messages} messages, {rtts} round trips)")
        theirs = run_client(upstream, uri, messages, rtts, iterations)
        log("running ours")
        mine = run_client(ours, uri, messages, rtts, iterations)
    finally:
        server.terminate()
        server.wait(timeout=30)
    rows = [
        ("flood, msg/s (auto receipts on)", mine["flood"], theirs["flood"], mine["flood"] / theirs["flood"], ">= 10x", mine["flood"] / theirs["flood"] >= 10),
        ("command round trip p50, us", mine["rtt"]["p50"], theirs["rtt"]["p50"], theirs["rtt"]["p50"] / mine["rtt"]["p50"], "<= 1/4 (>= 4x)", mine["rtt"]["p50"] * 4 <= theirs["rtt"]["p50"]),
        ("command round trip p99, us", mine["rtt"]["p99"], theirs["rtt"]["p99"], theirs["rtt"]["p99"] / mine["rtt"]["p99"], "-", None),
        ("Message.from_json, ops/s", mine["json"]["from_json"], theirs["json"]["from_json"], mine["json"]["from_json"] / theirs["json"]["from_json"], ">= 5x", mine["json"]["from_json"] >= 5 * theirs["json"]["from_json"]),
        ("Message.to_json, ops/s", mine["json"]["to_json"], theirs["json"]["to_json"], mine["json"]["to_json"] / theirs["json"]["to_json"], ">= 5x", mine["json"]["to_json"] >= 5 * theirs["json"]["to_json"]),
    ]
    print(f"{'benchmark':<34} {'ours':>12} {'lime-python':>12} {'ratio':>8}  target")
    for name, a, b, ratio, target, met in rows:
        mark = "" if met is None else (" ok" if met else " MISSED")
        print(f"{name:<34} {a:>12,.0f} {b:>12,.0f} {ratio:>7.1f}x  {target}{mark}")
    failed = sum(1 for r in rows if r[5] is False)
    print(f"{sum(1 for r in rows if r[5])} passed, {failed} failed")


if __name__ == "__main__":
    main()
