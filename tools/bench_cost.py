"""Host cost per operation, counted (not timed) with valgrind's callgrind.

    python -m tools.bench_cost [--unix-binary PATH] [--ops N] [--results FILE]

Board A (the plain unix build under callgrind) and board B (normal) on the
virtual radio run a fixed script, one phase at a time; before each phase
callgrind's counters are zeroed, after it they are dumped. A phase's cost is
the instructions executed in the functions of lib/blehost and
extmod/bluetooth (their own instructions, not libc's nor the MicroPython
runtime's they call), divided by the operations it did:
  - notification sent: A notifies B N times (gatts_notify, then the
    completions coming back);
  - notification received: B notifies A N times; A's handler counts them;
  - write handled: B writes without response to A N times; A's handler counts;
  - advertising report delivered: B advertises, A scans until its handler
    has N scan results.
The figures are kept in FILE (default build/bench-cost.json); the previous
run's are printed next to them, with a mark where one grew by more than 10%.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tools.boards import REPO_ROOT, Rig

sys.path.insert(0, str(REPO_ROOT / 'tests'))
from harness.board import Board  # noqa: E402

HOST_FILES = re.compile(r'(lib/blehost|extmod/bluetooth)/[^:]*\.c:')
WORSE = 1.10

SETUP = '''import bluetooth, time
ble = bluetooth.BLE()
ble.active(True)
((h,),) = ble.gatts_register_services(((bluetooth.UUID(0x180D), ((bluetooth.UUID(0x2A37),
    bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY | bluetooth.FLAG_WRITE_NO_RESPONSE),)),))
st = {'conn': None, 'notified': 0, 'written': 0, 'scanned': 0}
def irq(e, d):
    if e == 1 or e == 7:
        st['conn'] = d[0]
    elif e == 18:
        st['notified'] += 1
    elif e == 3:
        st['written'] += 1
    elif e == 5:
        st['scanned'] += 1
ble.irq(irq)
'''
NOTIFY = '''buf = bytearray(20)
for i in range({n}):
    while True:
        try:
            ble.gatts_notify(st['conn'], h, buf)
            break
        except OSError:
            time.sleep_ms(1)
'''
# On the measured board: bursts that never fill the transmit queue, so no
# attempt is refused and the count does not depend on timing.
NOTIFY_PACED = '''buf = bytearray(20)
for i in range({n}):
    ble.gatts_notify(st['conn'], h, buf)
    if i % 4 == 3:
        time.sleep_ms(20)
'''
WRITE = '''buf = bytearray(20)
for i in range({n}):
    while True:
        try:
            ble.gattc_write(st['conn'], h, buf, 0)
            break
        except OSError:
            time.sleep_ms(1)
'''


def wait_for(board: Board, expression: str, target: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while board.eval(expression) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f'{expression} did not reach {target}')
        time.sleep(0.2)


def host_instructions(dump: Path) -> int:
    """Own instructions of the host's and the binding's functions in a dump."""
    # The per-function table only: the auto-annotated sources that follow it
    # list calls ("=> callee") with the callee's inclusive cost, which
    # counted the same instructions again for every caller.
    out = subprocess.run(['callgrind_annotate', '--threshold=100', '--auto=no', str(dump)],
                         check=True, capture_output=True, text=True).stdout
    total = 0
    for line in out.splitlines():
        match = re.match(r'\s*([\d,]+)\s', line)
        if match and HOST_FILES.search(line):
            total += int(match.group(1).replace(',', ''))
    return total


class Phases:
    def __init__(self, pid: int, out_dir: Path) -> None:
        self.pid = pid
        self.out_dir = out_dir
        self.dumps = 0

    def zero(self) -> None:
        subprocess.run(['callgrind_control', '-z', str(self.pid)], check=True,
                       capture_output=True)

    def dump(self) -> Path:
        before = set(self.out_dir.glob('callgrind.out.*'))
        subprocess.run(['callgrind_control', '-d', str(self.pid)], check=True,
                       capture_output=True)
        deadline = time.monotonic() + 30
        while not (new := set(self.out_dir.glob('callgrind.out.*')) - before):
            if time.monotonic() > deadline:
                raise TimeoutError('callgrind wrote no dump')
            time.sleep(0.2)
        time.sleep(0.5)  # let it finish writing
        return max(new, key=lambda p: p.stat().st_mtime)


def measure(rig: Rig, ops: int, out_dir: Path) -> dict[str, float]:
    a, b = [Board(p.port, kind='unix', name=f'u{p.index}', address=p.controller.address_bytes,
                  controller=p.index) for p in rig.boards]
    try:
        for board in (a, b):
            board.exec(SETUP, timeout=120)
        addr_type, addr = a.eval('ble.config("mac")', timeout=60)
        a.exec('ble.gap_advertise(20000)', timeout=60)
        b.exec(f'ble.gap_connect({addr_type}, {addr!r})')
        wait_for(b, "1 if st['conn'] is not None else 0", 1, 60)
        wait_for(a, "1 if st['conn'] is not None else 0", 1, 60)
        time.sleep(2)  # data length and PHY updates settle
        phases = Phases(rig.boards[0].process.pid, out_dir)
        results: dict[str, float] = {}

        phases.zero()
        a.exec(NOTIFY_PACED.format(n=ops), timeout=600)
        wait_for(b, "st['notified']", ops, 120)
        time.sleep(1)
        results['notification sent'] = host_instructions(phases.dump()) / ops

        phases.zero()
        b.exec(NOTIFY.format(n=ops), timeout=600)
        wait_for(a, "st['notified']", ops, 300)
        results['notification received'] = host_instructions(phases.dump()) / ops

        phases.zero()
        b.exec(WRITE.format(n=ops), timeout=600)
        wait_for(a, "st['written']", ops, 300)
        results['write handled'] = host_instructions(phases.dump()) / ops

        b.exec('ble.gap_advertise(20000, b"\\x02\\x01\\x06")')
        phases.zero()
        a.exec('ble.gap_scan(0, 30000, 30000)', timeout=60)
        wait_for(a, "st['scanned']", ops, 600)
        a.exec('ble.gap_scan(None)', timeout=60)
        scanned = a.eval("st['scanned']", timeout=60)
        results['advertising report delivered'] = host_instructions(phases.dump()) / scanned
        return results
    finally:
        for board in (a, b):
            board.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m tools.bench_cost', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--unix-binary', type=Path, default=REPO_ROOT / 'build' / 'unix' / 'micropython')
    parser.add_argument('--ops', type=int, default=200)
    parser.add_argument('--results', type=Path, default=REPO_ROOT / 'build' / 'bench-cost.json')
    args = parser.parse_args(argv)
    if shutil.which('valgrind') is None or shutil.which('callgrind_control') is None:
        print('host instructions per operation: valgrind is not installed, skipped')
        return 0
    out_dir = args.results.resolve().parent / 'callgrind'  # the boards run elsewhere
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob('callgrind.out.*'):
        old.unlink()
    wrapper = ['valgrind', '--tool=callgrind', '--collect-atstart=yes',
               f'--callgrind-out-file={out_dir}/callgrind.out.%p']
    with Rig(['unix', 'unix'], unix_binary=args.unix_binary, boot_timeout=120,
             unix_wrappers={0: wrapper}) as rig:
        results = measure(rig, args.ops, out_dir)
    previous = json.loads(args.results.read_text()) if args.results.exists() else {}
    print(f'host instructions per operation (callgrind, unix board, {args.ops} operations):')
    for name, value in results.items():
        last = previous.get(name)
        note = ''
        if last:
            note = f'  (last run {last:.0f}, {value / last - 1:+.1%})'
            if value > last * WORSE:
                note += '  WORSE BY MORE THAN 10%'
        print(f'  {name:<30} {value:>9.0f}{note}')
    args.results.write_text(json.dumps(results, indent=1) + '\n')
    print(f'kept in {args.results}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
