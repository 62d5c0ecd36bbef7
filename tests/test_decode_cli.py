"""The cross-language vectors, checked from outside the crate through `lime decode`.

The binary is taken from $LIME_BIN (the Makefile builds it), else target/debug/lime.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
LIME = os.environ.get("LIME_BIN", str(ROOT / "target" / "debug" / "lime"))


def load(name):
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))["cases"]


def decode(stream: bytes, *args: str):
    proc = subprocess.run(
        [LIME, "decode", *args], input=stream, capture_output=True, timeout=30, check=False
    )
    lines = proc.stdout.decode("utf-8").splitlines()
    return proc.returncode, [json.loads(line) for line in lines], proc.stderr.decode("utf-8")


@pytest.mark.parametrize("case", load("framing.json"), ids=lambda c: c["name"])
def test_framing_vector(case):
    stream = "".join(case["chunks"]).encode("utf-8")
    args = []
    if "max_envelope_size" in case:
        args = ["--max-envelope-size", str(case["max_envelope_size"])]
    code, envelopes, stderr = decode(stream, *args)
    assert envelopes == case["envelopes"]
    if "error" in case:
        assert code == 2, stderr
        offsets = [int(m) for m in re.findall(r"byte offset (\d+)", stderr)]
        assert case["error"]["offset"] in offsets, stderr
        assert stderr.count("\n") == 1, "exactly one error line"
    else:
        assert code == 0, stderr
        assert stderr == ""


def test_all_valid_envelopes_in_one_stream():
    cases = load("envelopes.json")
    stream = "\r\n".join(c["input"] for c in cases).encode("utf-8")
    code, envelopes, stderr = decode(stream)
    assert code == 0, stderr
    expected = [c["canonical"] for c in cases]
    assert envelopes == expected


@pytest.mark.parametrize("case", load("invalid_envelopes.json"), ids=lambda c: c["name"])
def test_invalid_envelope_stops_the_stream(case):
    prefix = b'{"state":"new"}\n'
    text = case["input"].strip()
    if not (text.startswith("{") and text.endswith("}")):
        pytest.skip("not a single JSON object: framing skips or truncates it instead")
    code, envelopes, stderr = decode(prefix + text.encode("utf-8") + b'{"state":"new"}')
    assert envelopes == [{"state": "new"}]
    assert code == 2, stderr
    assert f"byte offset {len(prefix)}" in stderr


def test_sample_capture_decodes():
    code, envelopes, stderr = decode((ROOT / "tests" / "captures" / "sample-session.lime").read_bytes())
    assert code == 0, stderr
    states = [e.get("state") for e in envelopes if "state" in e]
    assert states[0] == "new" and states[-1] == "finished"
    assert len(envelopes) == 16


def test_missing_file_is_a_clear_error():
    proc = subprocess.run([LIME, "decode", "/nonexistent/capture"], capture_output=True, timeout=30)
    assert proc.returncode == 1
    assert b"cannot open" in proc.stderr
