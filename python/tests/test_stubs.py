"""The type stubs of the native module match what it really exports (mypy.stubtest)."""

import importlib.util
import subprocess
import sys

import pytest
from conftest import unavailable

STUBTEST_TIMEOUT = 300


@pytest.mark.timeout(STUBTEST_TIMEOUT + 30)
def test_native_stub_matches_runtime():
    if importlib.util.find_spec("mypy") is None:
        unavailable("mypy is not installed (`make test-python` installs it)")
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "lime_python._lime"],
        capture_output=True, text=True, timeout=STUBTEST_TIMEOUT, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success" in out.stdout


def test_package_is_typed():
    import lime_python

    from pathlib import Path

    package = Path(lime_python.__file__).parent
    assert (package / "py.typed").exists()
    assert (package / "_lime.pyi").exists()
