"""Board figures (not pass/fail): boot time to a usable REPL and filesystem
throughput, on each board kind.

    python -m tools.bench_board [--kind unix|qemu|all] [--unix-binary PATH]

Boot time: from starting the board process (a fresh flash image, so the
first boot also formats it, and a second start on the formatted image) to
the first answer of the raw REPL. Throughput: the board writes then reads a
file of FILE_KB KiB in 4 KiB chunks, timed on the board (time.ticks_us).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from mpremote.transport_serial import SerialTransport

from tools.boards import KINDS, REPO_ROOT, Rig

FILE_KB = 256
THROUGHPUT_CODE = f'''
import os, time
buf = bytes(range(256)) * 16
rbuf = bytearray(4096)
t0 = time.ticks_us()
with open('/_bench.bin', 'wb') as f:
    for _ in range({FILE_KB // 4}):
        f.write(buf)
t1 = time.ticks_us()
with open('/_bench.bin', 'rb') as f:
    while f.readinto(rbuf):
        pass
t2 = time.ticks_us()
os.remove('/_bench.bin')
print(time.ticks_diff(t1, t0), time.ticks_diff(t2, t1))
'''


def first_answer(port: str, started: float) -> float:
    """Seconds from `started` until the board's raw REPL runs code."""
    transport = SerialTransport(port, baudrate=115200)
    try:
        transport.enter_raw_repl(soft_reset=False)
        transport.exec('pass')
        return time.monotonic() - started
    finally:
        transport.close()


def measure(kind: str, build: Path, unix_binary: Path | None) -> None:
    rig = Rig([kind], build=build, unix_binary=unix_binary)
    try:
        started = time.monotonic()
        rig.start()
        fresh = first_answer(rig.boards[0].port, started)
        started = time.monotonic()
        board = rig.power_cycle(0)
        again = first_answer(board.port, started)
        transport = SerialTransport(board.port, baudrate=115200)
        try:
            transport.enter_raw_repl(soft_reset=False)
            write_us, read_us = map(int, transport.exec(THROUGHPUT_CODE).split())
        finally:
            transport.close()
        print(f'{kind}: boot to a usable REPL {fresh * 1000:.0f} ms (fresh flash, formatted), '
              f'{again * 1000:.0f} ms (formatted flash)')
        print(f'{kind}: filesystem write {FILE_KB / (write_us / 1e6):.0f} KB/s, '
              f'read {FILE_KB / (read_us / 1e6):.0f} KB/s ({FILE_KB} KiB file, 4 KiB chunks)')
    finally:
        rig.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m tools.bench_board', description=__doc__)
    parser.add_argument('--kind', choices=[*KINDS, 'all'], default='all')
    parser.add_argument('--build', type=Path, default=REPO_ROOT / 'build')
    parser.add_argument('--unix-binary', type=Path)
    args = parser.parse_args(argv)
    for kind in (KINDS if args.kind == 'all' else [args.kind]):
        measure(kind, args.build, args.unix_binary)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
