"""The cross-language vectors, checked from outside the crate through `lime decode`.

The binary is $LIME_BIN (the Makefile sets it), else `lime` in cargo's target directory
(`cargo metadata`, so $CARGO_TARGET_DIR is honoured). Without it the tests fail under CI=true
and skip elsewhere, naming the cause.
"""

import json
import os
import re
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
TIMEOUT = 30

# The vector files this runner reads (the rest are run by python/tests/test_vectors.py, which
# also fails on a file in tests/vectors that no runner knows).
FILES = ("framing.json", "envelopes.json", "invalid_envelopes.json")

NEW = {"state": "new"}
# Invalid envelopes that are not one `{…}` object. Between two `{"state":"new"}` in a stream
# they are not "a frame that fails to parse": the framer skips bytes outside frames or reports
# truncation. Pinned here by name: (why, exit status, envelopes decoded).
NOT_ONE_OBJECT = {
    "json_empty_input": ("empty: there is no frame to reject", 0, [NEW, NEW]),
    "json_whitespace_only": ("whitespace between frames is skipped", 0, [NEW, NEW]),
    "json_truncated_object": ("the unclosed `{` takes in the next envelope; the stream ends "
                              "inside it", 2, [NEW]),
    "json_trailing_garbage_after_object": ("the object is a valid frame, the garbage lies "
                                           "outside frames", 0, [NEW, NEW, NEW]),
    "not_envelope_array": ("the brackets lie outside frames, the object inside is valid", 0,
                           [NEW, NEW, NEW]),
    "not_envelope_string": ("no `{`: skipped between frames", 0, [NEW, NEW]),
    "not_envelope_number": ("no `{`: skipped between frames", 0, [NEW, NEW]),
    "not_envelope_null": ("no `{`: skipped between frames", 0, [NEW, NEW]),
}


def in_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@lru_cache(maxsize=None)
def target_dir():
    try:
        result = subprocess.run(
            [os.environ.get("CARGO", "cargo"), "metadata", "--format-version", "1", "--no-deps"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )
        if result.returncode == 0:
            return Path(json.loads(result.stdout)["target_directory"])
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError):
        pass
    configured = os.environ.get("CARGO_TARGET_DIR")
    return ROOT / configured if configured else ROOT / "target"


@pytest.fixture(scope="module")
def lime():
    explicit = os.environ.get("LIME_BIN")
    binary = Path(explicit) if explicit else target_dir() / "debug" / "lime"
    if not binary.is_file():
        reason = (f"the lime binary {binary} does not exist: run `cargo build -p lime-cli`"
                  + (" (LIME_BIN is set)" if explicit else ", or set LIME_BIN"))
        if in_ci():
            pytest.fail(reason + " (CI=true: a missing prerequisite fails the run)",
                        pytrace=False)
        pytest.skip(reason)
    return str(binary)


def load(name):
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))["cases"]


def strict(value):
    """A JSON value with its types made explicit, so True != 1 and 1 != 1.0."""
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [strict(item) for item in value]
    return (type(value).__name__, value)


def same(actual, expected):
    return strict(actual) == strict(expected) and strict(expected) == strict(actual)


def decode(lime, stream: bytes, *args: str):
    proc = subprocess.run(
        [lime, "decode", *args], input=stream, capture_output=True, timeout=TIMEOUT, check=False
    )
    lines = proc.stdout.decode("utf-8").splitlines()
    return proc.returncode, [json.loads(line) for line in lines], proc.stderr.decode("utf-8")


def test_case_counts_match_the_readme():
    readme = (VECTORS / "README.md").read_text(encoding="utf-8")
    for name in FILES:
        match = re.search(r"^\|\s*`" + re.escape(name) + r"`\s*\|\s*(\d+)", readme, re.M)
        assert match, f"{name} is not in the table of tests/vectors/README.md"
        assert len(load(name)) == int(match.group(1)), name


def test_pinned_case_names_exist():
    assert set(NOT_ONE_OBJECT) <= {case["name"] for case in load("invalid_envelopes.json")}


@pytest.mark.parametrize("case", load("framing.json"), ids=lambda c: c["name"])
def test_framing_vector(lime, case):
    stream = "".join(case["chunks"]).encode("utf-8")
    args = []
    if "max_envelope_size" in case:
        args = ["--max-envelope-size", str(case["max_envelope_size"])]
    code, envelopes, stderr = decode(lime, stream, *args)
    assert same(envelopes, case["envelopes"])
    if "error" in case:
        assert code == 2, stderr
        offsets = [int(m) for m in re.findall(r"byte offset (\d+)", stderr)]
        assert case["error"]["offset"] in offsets, stderr
        assert stderr.count("\n") == 1, "exactly one error line"
    else:
        assert code == 0, stderr
        assert stderr == ""


def test_all_valid_envelopes_in_one_stream(lime):
    cases = load("envelopes.json")
    stream = "\r\n".join(c["input"] for c in cases).encode("utf-8")
    code, envelopes, stderr = decode(lime, stream)
    assert code == 0, stderr
    assert same(envelopes, [c["canonical"] for c in cases])


@pytest.mark.parametrize("case", load("invalid_envelopes.json"), ids=lambda c: c["name"])
def test_invalid_envelope_stops_the_stream(lime, case):
    prefix = b'{"state":"new"}\n'
    code, envelopes, stderr = decode(
        lime, prefix + case["input"].strip().encode("utf-8") + b'{"state":"new"}')
    if case["name"] in NOT_ONE_OBJECT:
        _, expected_code, expected = NOT_ONE_OBJECT[case["name"]]
        assert (code, strict(envelopes)) == (expected_code, strict(expected)), stderr
        if code == 2:
            assert f"stream ended inside the envelope starting at byte offset {len(prefix)}" \
                in stderr
        return
    assert same(envelopes, [NEW])
    assert code == 2, stderr
    assert f"byte offset {len(prefix)}" in stderr


def test_sample_capture_decodes(lime):
    capture = (ROOT / "tests" / "captures" / "sample-session.lime").read_bytes()
    code, envelopes, stderr = decode(lime, capture)
    assert code == 0, stderr
    states = [e.get("state") for e in envelopes if "state" in e]
    assert states[0] == "new" and states[-1] == "finished"
    assert len(envelopes) == 16


def test_missing_file_is_a_clear_error(lime):
    proc = subprocess.run([lime, "decode", "/nonexistent/capture"], capture_output=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 1
    assert b"cannot open" in proc.stderr
