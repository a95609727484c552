"""mpremote itself (as a user runs it) drives each board kind."""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.board import Board

MPREMOTE_TIMEOUT_S = 30


def mpremote(board: Board, *args: str) -> str:
    board.close()  # mpremote needs the port to itself
    result = subprocess.run(
        [sys.executable, '-m', 'mpremote', 'connect', board.port, *args],
        capture_output=True, text=True, timeout=MPREMOTE_TIMEOUT_S)
    assert result.returncode == 0, f'mpremote {args} failed: {result.stdout}{result.stderr}'
    return result.stdout


def test_exec(central: Board) -> None:
    assert mpremote(central, 'exec', 'print(6 * 7)').strip() == '42'


def test_eval(central: Board) -> None:
    assert mpremote(central, 'eval', '[x * x for x in range(4)]').strip() == '[0, 1, 4, 9]'


def test_run_a_file(central: Board, tmp_path: Path) -> None:
    script = tmp_path / 'script.py'
    script.write_text('import bluetooth\nprint("has BLE:", hasattr(bluetooth, "BLE"))\n'
                      'print(sum(range(101)))\n')
    output = mpremote(central, 'run', str(script)).splitlines()
    assert output == ['has BLE: True', '5050']


def test_board_usable_again_after_mpremote(central: Board) -> None:
    mpremote(central, 'exec', 'x = 1')
    assert central.eval('1 + 1') == 2


# -- files, packages and resets, as a user works with a board -----------------
FS_TEST_DIR = '_mpr'


def remove_remote(board: Board, *paths: str) -> None:
    board.exec('import os\ndef _rm(p):\n    try:\n        names = os.listdir(p)\n'
               '    except OSError:\n        try:\n            os.remove(p)\n'
               '        except OSError:\n            pass\n        return\n'
               '    for n in names:\n        _rm(p + "/" + n)\n    os.rmdir(p)\n'
               + ''.join(f'_rm({p!r})\n' for p in paths))


@pytest.fixture
def clean_fs(central: Board) -> Iterator[Board]:
    """The central board without the files these tests make, before and after."""
    paths = ('/' + FS_TEST_DIR, '/lib/mpr_pkg', '/lib/mpr_mip')
    remove_remote(central, *paths)
    yield central
    remove_remote(central, *paths)


def test_fs_commands(clean_fs: Board, tmp_path: Path) -> None:
    board = clean_fs
    local = tmp_path / 'hello.txt'
    local.write_text('hello board\n')
    mpremote(board, 'fs', 'mkdir', f':{FS_TEST_DIR}')
    mpremote(board, 'fs', 'cp', str(local), f':{FS_TEST_DIR}/hello.txt')
    assert 'hello.txt' in mpremote(board, 'fs', 'ls', f':{FS_TEST_DIR}')
    assert mpremote(board, 'fs', 'cat', f':{FS_TEST_DIR}/hello.txt') == 'hello board\n'
    back = tmp_path / 'back.txt'
    mpremote(board, 'fs', 'cp', f':{FS_TEST_DIR}/hello.txt', str(back))
    assert back.read_text() == 'hello board\n'
    mpremote(board, 'fs', 'rm', f':{FS_TEST_DIR}/hello.txt')
    assert 'hello.txt' not in mpremote(board, 'fs', 'ls', f':{FS_TEST_DIR}')


def test_copy_a_package_folder_then_import_it(clean_fs: Board, tmp_path: Path) -> None:
    board = clean_fs
    package = tmp_path / 'mpr_pkg'
    (package / 'sub').mkdir(parents=True)
    (package / '__init__.py').write_text('from .sub.deep import answer\n')
    (package / 'sub' / '__init__.py').write_text('')
    (package / 'sub' / 'deep.py').write_text('def answer():\n    return 41 + 1\n')
    if 'lib/' not in mpremote(board, 'fs', 'ls', ':'):
        mpremote(board, 'fs', 'mkdir', ':lib')
    mpremote(board, 'fs', 'cp', '-r', str(package), ':lib/')
    # A fresh VM imports it from /lib on sys.path.
    assert mpremote(board, 'soft-reset', 'exec', 'import mpr_pkg; print(mpr_pkg.answer())') \
        .strip() == '42'


def test_mount_a_local_folder_and_import_from_it(central: Board, tmp_path: Path) -> None:
    (tmp_path / 'mounted_mod.py').write_text('WHERE = "from the host"\n')
    out = mpremote(central, 'mount', str(tmp_path), 'exec',
                   'import os, mounted_mod; print(mounted_mod.WHERE, "mounted_mod.py" in os.listdir())')
    assert 'from the host True' in out


def test_reset_then_work_again(central: Board) -> None:
    mpremote(central, 'exec', 'import builtins; builtins._mpr_mark = 1')
    mpremote(central, 'reset')
    time.sleep(1.5)  # the reset is sent without waiting; let the board come back
    assert mpremote(central, 'exec',
                    'import builtins, machine; print(hasattr(builtins, "_mpr_mark"), '
                    'machine.reset_cause() in (machine.HARD_RESET, machine.SOFT_RESET))') \
        .strip() == 'False True'


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


@pytest.fixture
def package_index(tmp_path: Path) -> Iterator[str]:
    """A mip package index on 127.0.0.1 serving one package of ours,
    `mpr_mip` (two files), for every .mpy version and as source."""
    root = tmp_path / 'index'
    files = {'mpr_mip/__init__.py': 'from .core import VALUE\n',
             'mpr_mip/core.py': 'VALUE = "installed by mip"\n'}
    hashes = []
    for target, text in files.items():
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        (root / 'file' / digest[:2]).mkdir(parents=True, exist_ok=True)
        (root / 'file' / digest[:2] / digest).write_text(text)
        hashes.append([target, digest])
    for mpy in ('py', *map(str, range(4, 10))):
        folder = root / 'package' / mpy / 'mpr_mip'
        folder.mkdir(parents=True)
        (folder / 'latest.json').write_text(json.dumps(
            {'hashes': hashes, 'deps': [], 'version': '1.0'}))
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()


def test_mip_install_from_a_local_index(clean_fs: Board, package_index: str) -> None:
    out = mpremote(clean_fs, 'mip', 'install', '--index', package_index, 'mpr_mip')
    assert 'Done' in out or 'Installing' in out
    listing = mpremote(clean_fs, 'fs', 'ls', ':lib/mpr_mip')
    assert '__init__.py' in listing and 'core.py' in listing
    assert mpremote(clean_fs, 'exec', 'import mpr_mip; print(mpr_mip.VALUE)').strip() == \
        'installed by mip'
