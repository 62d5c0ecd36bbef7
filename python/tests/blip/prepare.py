"""What test_blip_sdk.py needs besides this repository, and the user-side install it tests.

``fetch()`` downloads, once, the files a user's ``pip install`` takes from the package index:
blip-sdk 1.0.4 and the two dependencies our wheel declares (``pyhumps``, ``websockets``), into
``python/tests/.cache/blip-sdk`` ($LIME_PY_TEST_CACHE moves the cache). ``build_wheel()`` is the
README's ``maturin build``; ``user_venv()`` is a fresh virtualenv with ``pip install <our wheel>``
then ``pip install blip-sdk==1.0.4``, pip resolving against the package index with the
downloaded files as a local fallback (so a machine that downloaded them once also works
offline).

``python prepare.py`` runs the download alone (a setup step may call it before pytest).
Standard library only.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

CACHE = Path(os.environ.get('LIME_PY_TEST_CACHE')
             or Path(__file__).resolve().parents[1] / '.cache')
DOWNLOADS = CACHE / 'blip-sdk'
MARKER = DOWNLOADS / '.ready'
BLIP_SDK = 'blip-sdk==1.0.4'
# blip-sdk 1.0.4 itself, and what our wheel requires (lime-python 2.0.13 required pyhumps,
# lime-transport-websocket 1.0.9 websockets).
DOWNLOAD = [BLIP_SDK, 'pyhumps', 'websockets']
PIP_TIMEOUT = 300
REPO = Path(__file__).resolve().parents[3]


class Unavailable(Exception):
    """Something could not be obtained (no network, no maturin): not a defect of the wheel."""


def run(command: List[str], timeout: float = PIP_TIMEOUT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


def ready() -> bool:
    return MARKER.is_file()


def fetch() -> List[str]:
    """Downloads the files (once); returns their names. Raises Unavailable when pip cannot."""
    if not ready():
        DOWNLOADS.mkdir(parents=True, exist_ok=True)
        result = run([sys.executable, '-m', 'pip', 'download', '--disable-pip-version-check',
                      '--no-deps', '--only-binary', ':all:', '-d', str(DOWNLOADS), *DOWNLOAD])
        if result.returncode != 0:
            raise Unavailable(f'cannot download {", ".join(DOWNLOAD)}: '
                              f'{(result.stdout + result.stderr)[-1500:]}')
        MARKER.write_text('\n'.join(sorted(p.name for p in DOWNLOADS.glob('*.whl'))) + '\n')
    return MARKER.read_text().split()


def build_wheel(out_dir: Path) -> Path:
    """``maturin build`` (the README's command, debug profile) into ``out_dir``; returns the
    wheel. Raises Unavailable when maturin is not installed next to this interpreter."""
    maturin = Path(sys.executable).parent / ('maturin.exe' if os.name == 'nt' else 'maturin')
    if not maturin.is_file():
        raise Unavailable(f'maturin is not installed in {Path(sys.executable).parent}')
    for _attempt in range(3):
        result = run([str(maturin), 'build', '--quiet', '--interpreter', sys.executable,
                      '--out', str(out_dir)], timeout=900, cwd=REPO)
        # Two maturin runs on one target/ directory (`maturin develop` elsewhere) can race on
        # the library they both stage in target/maturin/; that is not a build failure, so
        # build again.
        if result.returncode == 0 or not re.search(r'[/\\]maturin[/\\]', result.stderr):
            break
    wheels = sorted(out_dir.glob('lime_python-*.whl'))
    if result.returncode != 0 or len(wheels) != 1:
        raise AssertionError(f'maturin build failed:\n{result.stdout[-3000:]}'
                             f'{result.stderr[-3000:]}')
    return wheels[0]


def user_venv(directory: Path, wheel: Path) -> Path:
    """A fresh venv; ``pip install WHEEL`` then ``pip install blip-sdk==1.0.4``. Returns its
    python. A failed install raises AssertionError (the downloads are there, so it is ours)."""
    result = run([sys.executable, '-m', 'venv', str(directory)])
    if result.returncode != 0:
        raise Unavailable(f'cannot create a virtualenv: {result.stderr[-1500:]}')
    python = directory / ('Scripts/python.exe' if os.name == 'nt' else 'bin/python')
    pip = [str(python), '-m', 'pip', 'install', '--disable-pip-version-check',
           '--find-links', str(DOWNLOADS), '--retries', '0', '--timeout', '10']
    for what in (str(wheel), BLIP_SDK):
        result = run([*pip, what])
        if result.returncode != 0:
            raise AssertionError(f'pip install {what} failed:\n{result.stdout[-3000:]}'
                                 f'{result.stderr[-3000:]}')
    return python


if __name__ == '__main__':
    try:
        names = fetch()
    except Unavailable as error:
        raise SystemExit(f'blip-sdk test downloads: FAILED: {error}') from None
    print(f'blip-sdk test downloads: {", ".join(names)} in {DOWNLOADS}')
