"""python -m tools.demo --build DIR: two unix and two qemu boards on virtual
radios; each activates Bluetooth and prints its address. What `make demo` shows."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mpremote.transport_serial import SerialTransport

from tools.boards import REPO_ROOT, BoardStartError, Rig

DEMO_CODE = ('import bluetooth\nb = bluetooth.BLE()\nb.active(True)\n'
             'print(b.config("mac"))\n')


def run_on(port: str) -> tuple[bool, str]:
    try:
        return _run_on(port)
    except Exception as error:  # noqa: BLE001 - report and go on with the others
        return False, f'{type(error).__name__}: {error}'


def _run_on(port: str) -> tuple[bool, str]:
    transport = SerialTransport(port, baudrate=115200)
    try:
        transport.enter_raw_repl(soft_reset=True)
        transport.exec_raw_no_follow(DEMO_CODE)
        out, err = transport.follow(20)
        transport.exit_raw_repl()
    finally:
        transport.close()
    if err:
        return False, err.decode(errors='replace').strip().splitlines()[-1]
    return True, out.decode(errors='replace').strip()


def demo(kind: str, build: Path, unix_binary: Path | None) -> bool:
    print(f'--- {kind}: radio + 2 boards ---', flush=True)
    try:
        with Rig([kind, kind], build=build, unix_binary=unix_binary) as rig:
            print(rig.describe(), flush=True)
            all_ok = True
            for board in rig.boards:
                ok, text = run_on(board.port)
                if not ok and not board.alive:
                    text += f' (board process exited {board.process.returncode}: {board.output()!r})'
                all_ok &= ok
                print(f'{kind} board {board.index}: {"config(mac) =" if ok else "FAILED:"} {text}'
                      f'   (radio address {board.controller.public_address})', flush=True)
            return all_ok
    except BoardStartError as error:
        print(f'{kind}: boards did not start: {error}', flush=True)
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m tools.demo', description=__doc__)
    parser.add_argument('--build', type=Path, default=REPO_ROOT / 'build')
    parser.add_argument('--unix-binary', type=Path,
                        help='default: $MPBOARD_UNIX or BUILD/unix/micropython')
    parser.add_argument('--kind', choices=('unix', 'qemu', 'all'), default='all')
    args = parser.parse_args(argv)
    kinds = ['unix', 'qemu'] if args.kind == 'all' else [args.kind]
    results = [demo(kind, args.build, args.unix_binary) for kind in kinds]
    print('demo ' + ('OK' if all(results) else 'had failures (see above)'))
    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
