"""The type stubs of the native module match what it really exports (mypy.stubtest)."""

import subprocess
import sys

import pytest


def test_native_stub_matches_runtime():
    pytest.importorskip("mypy", reason="mypy is installed by `make test-python`")
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "lime_python._lime"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success" in out.stdout


def test_package_is_typed():
    import lime_python

    from pathlib import Path

    package = Path(lime_python.__file__).parent
    assert (package / "py.typed").exists()
    assert (package / "_lime.pyi").exists()
