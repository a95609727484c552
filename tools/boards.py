"""Virtual boards on the virtual radio: CLI (the library is tools/radio/rig.py).

    python -m tools.boards run --kind unix -n 2     print the REPL ports, wait
    python -m tools.boards repl --kind qemu         REPL on board 0, board 1 on air

The CLI keeps the boards' flash images in BUILD/fs/, so files put on a board
survive from one `make repl` to the next (delete the .img files to wipe them).
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.radio import rig as _rig
from tools.radio.rig import (  # noqa: F401 - re-exported for the tools
    BOOT_TIMEOUT_S, KINDS, BoardProcess, BoardStartError, default_unix_binary, kill_group,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


class Rig(_rig.Rig):
    """tools.radio.rig.Rig with this repository's build/ as the default."""

    def __init__(self, kinds: Sequence[str], *, build: Path = REPO_ROOT / 'build',
                 **options: Any) -> None:
        super().__init__(kinds, build=build, **options)


# -- CLI ---------------------------------------------------------------------
def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--kind', choices=KINDS, default='unix')
    parser.add_argument('--build', type=Path, default=REPO_ROOT / 'build',
                        help='build directory holding unix/micropython and qemu/firmware.elf')
    parser.add_argument('--unix-binary', type=Path,
                        help='unix board binary (default: $MPBOARD_UNIX or BUILD/unix/micropython)')
    parser.add_argument('--fs-dir', type=Path,
                        help='folder of the boards\' flash images <kind><n>.img (default BUILD/fs; '
                             'delete an image to wipe that board\'s filesystem)')


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m tools.boards',
                                     description='Virtual MicroPython boards on a virtual BLE radio.')
    sub = parser.add_subparsers(dest='command', required=True)
    run = sub.add_parser('run', help='start the radio and N boards, print their ports, wait')
    _add_common(run)
    run.add_argument('-n', '--count', type=int, default=2)
    run.add_argument('--spare', type=int, default=0, help='extra TCP controllers for test-side hosts')
    repl = sub.add_parser('repl', help='two boards; an interactive REPL on the first')
    _add_common(repl)
    return parser.parse_args(argv)


def raise_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so `finally` blocks close what was started."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_sigterm()
    count = args.count if args.command == 'run' else 2
    rig = Rig([args.kind] * count, build=args.build, unix_binary=args.unix_binary,
              spare=getattr(args, 'spare', 0), fs_dir=args.fs_dir or args.build / 'fs')
    try:
        rig.start()
        print(rig.describe(), flush=True)
        if args.command == 'run':
            print('Ctrl-C to stop.', flush=True)
            while all(board.alive for board in rig.boards):
                time.sleep(0.5)
            dead = [b for b in rig.boards if not b.alive]
            for board in dead:
                print(f'board {board.index} exited:\n{board.output()}', file=sys.stderr)
            return 1
        print(f'REPL on board 0 ({rig.boards[0].port}); board 1 is on the same radio. '
              'Ctrl-] or Ctrl-x to leave.', flush=True)
        return subprocess.call([sys.executable, '-m', 'mpremote', 'connect',
                                rig.boards[0].port, 'repl'])
    except BoardStartError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        rig.close()


if __name__ == '__main__':
    raise SystemExit(main())
