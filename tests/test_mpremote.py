"""mpremote itself (as a user runs it) drives each board kind."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
