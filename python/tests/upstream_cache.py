"""The published packages the Python suite compares against, fetched before pytest runs.

``make test-python`` runs this file (``python python/tests/upstream_cache.py``) in its setup
step. It downloads the lime-python 2.0.13 and lime-transport-websocket 1.0.9 wheels from the
package index, builds a virtualenv with them (and their dependencies) and unpacks the published
WebSocket transport, all under ``python/tests/.cache`` ($LIME_PY_TEST_CACHE moves it), and
prints what it fetched and what was already there. The tests never download: they call
``missing()`` and fail (under ``CI=true``) or skip (elsewhere) with the command to run.

Standard library only; ``python upstream_cache.py --check`` only reports, exit status 1 when
something is missing.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List

CACHE = Path(os.environ.get('LIME_PY_TEST_CACHE') or Path(__file__).resolve().parent / '.cache')
SETUP_COMMAND = 'make test-python-setup'

# distribution name, version, wheel file name
UPSTREAM = {
    'lime_python': ('lime-python', '2.0.13', 'lime_python-2.0.13-py3-none-any.whl'),
    'lime_transport_websocket': ('lime-transport-websocket', '1.0.9',
                                 'lime_transport_websocket-1.0.9-py3-none-any.whl'),
}
PIP_TIMEOUT = 300


def wheels() -> Dict[str, Path]:
    directory = CACHE / 'wheels'
    return {name: directory / wheel for name, (_, _, wheel) in UPSTREAM.items()}


def venv_dir() -> Path:
    """The upstream virtualenv for the running interpreter's version (the tests and this script
    run under the same interpreter)."""
    return CACHE / f'upstream-venv-py{sys.version_info[0]}{sys.version_info[1]}'


def venv_python() -> Path:
    return venv_dir() / ('Scripts/python.exe' if os.name == 'nt' else 'bin/python')


def venv_marker() -> Path:
    return venv_dir() / '.ready'


def transport_source() -> Path:
    """lime-transport-websocket 1.0.9's module, unpacked from its wheel."""
    return CACHE / 'upstream-transport' / 'lime_transport_websocket' / 'websocket_transport.py'


def missing() -> List[str]:
    """What is not in the cache, as short descriptions (empty when everything is there)."""
    gaps = [f'{path.name} (in {path.parent})' for path in wheels().values() if not path.is_file()]
    if not (venv_marker().is_file() and venv_python().is_file()):
        gaps.append(f'the upstream virtualenv {venv_dir()}')
    if not transport_source().is_file():
        gaps.append(f'the unpacked transport {transport_source()}')
    return gaps


def describe_missing() -> str:
    return ('the published lime-python 2.0.13 / lime-transport-websocket 1.0.9 are not in the '
            f'test cache (missing: {"; ".join(missing())}); run `{SETUP_COMMAND}`, which '
            'downloads them from the package index')


def say(text: str) -> None:
    print(f'python test downloads: {text}', flush=True)


def run(command: List[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    if result.returncode != 0:
        raise SystemExit(f'python test downloads: FAILED: {" ".join(command)}\n'
                         f'{result.stdout[-2000:]}{result.stderr[-2000:]}')


def record_versions() -> str:
    """Writes what the upstream venv holds (name==version per line) into its marker; returns
    it."""
    installed = subprocess.run(
        [str(venv_python()), '-m', 'pip', 'list', '--format=freeze',
         '--disable-pip-version-check'],
        capture_output=True, text=True, timeout=PIP_TIMEOUT, check=True).stdout
    venv_marker().write_text(installed)
    return installed


def fetch() -> None:
    paths = wheels()
    directory = CACHE / 'wheels'
    absent = [name for name, path in paths.items() if not path.is_file()]
    if absent:
        directory.mkdir(parents=True, exist_ok=True)
        specs = [f'{UPSTREAM[name][0]}=={UPSTREAM[name][1]}' for name in absent]
        say(f'downloading {", ".join(specs)} into {directory}')
        run([sys.executable, '-m', 'pip', 'download', '--disable-pip-version-check', '--no-deps',
             '--only-binary', ':all:', '-d', str(directory), *specs])
        for name in absent:
            if not paths[name].is_file():
                raise SystemExit(f'python test downloads: FAILED: pip did not produce '
                                 f'{paths[name]}')
            say(f'fetched {paths[name].name} ({paths[name].stat().st_size} bytes)')
    else:
        say(f'cached {", ".join(path.name for path in paths.values())}')

    if not (venv_marker().is_file() and venv_python().is_file()):
        venv = venv_dir()
        if venv.exists():
            shutil.rmtree(venv)
        say(f'creating {venv} and installing the wheels and their dependencies')
        run([sys.executable, '-m', 'venv', str(venv)])
        run([str(venv_python()), '-m', 'pip', 'install', '--disable-pip-version-check',
             *map(str, paths.values())])
        say(f'installed into {venv}: {", ".join(record_versions().split())}')
    else:
        installed = venv_marker().read_text()
        if 'lime-python==' not in installed:  # a marker written before versions were recorded
            installed = record_versions()
        say(f'cached {venv_dir()}: {", ".join(installed.split())}')

    source = transport_source()
    if not source.is_file():
        target = CACHE / 'upstream-transport'
        with zipfile.ZipFile(paths['lime_transport_websocket']) as archive:
            archive.extractall(target)
        if not source.is_file():
            raise SystemExit(f'python test downloads: FAILED: {source} is not in '
                             f'{paths["lime_transport_websocket"].name}')
        say(f'unpacked {source}')


def main(argv: List[str]) -> int:
    if argv[1:] == ['--check']:
        gaps = missing()
        if gaps:
            print(describe_missing())
            return 1
        say('everything is cached')
        return 0
    if argv[1:]:
        print(f'usage: {argv[0]} [--check]', file=sys.stderr)
        return 2
    fetch()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
