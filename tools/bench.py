"""GAP benchmarks: figures, not pass/fail.

    python -m tools.bench [--build BUILD] [--unix-binary PATH] [--reports N]

1. Latency from an LE Advertising Report reaching the unix board's HCI
   transport to the Python IRQ handler running. The radio writes reports
   itself (a sequence number in each report's data) straight to the board's
   transport and takes time.monotonic_ns() just before the write; the handler
   takes time.ticks_us(), which on the unix board is CLOCK_MONOTONIC in
   microseconds (ports/unix/board_hal.c), the same clock.
2. Scan results per second delivered without drops at the default rxbuf: the
   radio writes reports at increasing rates (31-byte payloads) while the
   board scans with a handler that only counts; a rate passes when every
   report reached the handler and config('rxbuf_dropped') did not move.
3. Code size: arm-none-eabi-size of the lib/blehost and extmod/bluetooth
   objects in the qemu build (text/data/bss per folder).
"""
from __future__ import annotations

import argparse
import asyncio
import ast
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bumble import hci
from mpremote.transport_serial import SerialTransport

from tools.boards import REPO_ROOT, Rig

REPORT_ADDRESS = hci.Address('02:BE:4C:00:00:01', hci.Address.PUBLIC_DEVICE_ADDRESS)
LATENCY_SPACING_S = 0.02  # one advertiser at 20 ms: the unloaded case
RATES = (100, 200, 400, 800, 1600, 3200, 4800, 6400, 8000, 9600, 12800, 16000)
RATE_SECONDS = 2.0
TICK_S = 0.005

BOARD_SETUP = '''
import bluetooth, time, gc
ble = bluetooth.BLE()
ble.active(True)
'''

LATENCY_HANDLER = '''
_N = {n}
_t = [0] * _N
_s = [0] * _N
_n = 0
def _h(event, data):
    global _n
    if event == 5:
        t = time.ticks_us()
        if _n < _N:
            d = data[4]
            _t[_n] = t
            _s[_n] = d[2] | (d[3] << 8)
            _n += 1
ble.irq(_h)
ble.gap_scan(0, 30000, 30000)
'''

COUNT_HANDLER = '''
_c = [0]
def _h(event, data):
    if event == 5:
        _c[0] += 1
ble.irq(_h)
ble.gap_scan(0, 30000, 30000)
'''


def report_bytes(seq: int, size: int = 31) -> bytes:
    data = bytes([size - 1, 0xFF, seq & 0xFF, (seq >> 8) & 0xFF]) + bytes(size - 4)
    event = hci.HCI_LE_Advertising_Report_Event([hci.HCI_LE_Advertising_Report_Event.Report(
        event_type=3, address_type=0, address=REPORT_ADDRESS, data=data, rssi=-50)])
    return bytes(event)


class Bench:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        assert rig.radio is not None
        self.radio = rig.radio
        self.board = SerialTransport(rig.boards[0].port, baudrate=115200)
        self.board.enter_raw_repl(soft_reset=False)

    def close(self) -> None:
        self.board.close()

    def exec(self, code: str, timeout: float = 30.0) -> str:
        self.board.exec_raw_no_follow(code)
        out, err = self.board.follow(timeout)
        if err:
            raise RuntimeError(f'board raised:\n{err.decode(errors="replace")}')
        return out.decode(errors='replace')

    def eval(self, expression: str, timeout: float = 30.0) -> object:
        return ast.literal_eval(self.exec(f'print(repr({expression}))', timeout).strip())

    def reset_board(self) -> None:
        self.board.enter_raw_repl(soft_reset=True)
        self.exec(BOARD_SETUP)

    async def _inject(self, count: int, rate: float, sent_ns: list[int]) -> None:
        """Write `count` reports to board 0's transport at `rate` per second."""
        host = self.radio.controller(0).host
        assert host is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        seq = 0
        while seq < count:
            due = min(count, int((loop.time() - start) * rate) + 1)
            while seq < due:
                packet = report_bytes(seq)
                sent_ns.append(time.monotonic_ns())
                host.on_packet(packet)
                seq += 1
            await asyncio.sleep(min(TICK_S, 1.0 / rate))

    # -- 1. latency ----------------------------------------------------------------
    def latency(self, reports: int) -> list[float]:
        self.reset_board()
        self.exec(LATENCY_HANDLER.format(n=reports))
        time.sleep(0.3)
        sent: list[int] = []
        self.radio.run(self._inject(reports, 1.0 / LATENCY_SPACING_S, sent),
                       timeout=reports * LATENCY_SPACING_S + 30)
        time.sleep(0.5)
        received = self.eval('_n')
        stamps = self.eval('_t[:_n]')
        seqs = self.eval('_s[:_n]')
        dropped = self.eval('ble.config("rxbuf_dropped")')
        self.exec('ble.gap_scan(None)')
        assert isinstance(stamps, list) and isinstance(seqs, list)
        print(f'  reports written {len(sent)}, handled {received}, dropped {dropped}')
        return [(t_us * 1000 - sent[s]) / 1000.0 for t_us, s in zip(stamps, seqs)
                if 0 <= s < len(sent)]

    # -- 2. throughput ---------------------------------------------------------------
    def throughput(self) -> list[tuple[int, int, int, int]]:
        rows = []
        for rate in RATES:
            self.reset_board()
            rxbuf = self.eval('ble.config("rxbuf")')
            self.exec(COUNT_HANDLER)
            time.sleep(0.3)
            dropped0 = self.eval('ble.config("rxbuf_dropped")')
            count = int(rate * RATE_SECONDS)
            sent: list[int] = []
            started = time.monotonic()
            self.radio.run(self._inject(count, rate, sent), timeout=RATE_SECONDS * 10 + 30)
            elapsed = time.monotonic() - started
            time.sleep(1.0)
            got = self.eval('_c[0]')
            dropped = self.eval('ble.config("rxbuf_dropped")') - dropped0
            self.exec('ble.gap_scan(None)')
            assert isinstance(got, int) and isinstance(dropped, int)
            real_rate = int(len(sent) / elapsed)
            rows.append((rate, real_rate, got, dropped))
            print(f'  offered {rate:>6}/s (written {real_rate:>6}/s, rxbuf {rxbuf}): '
                  f'handled {got}/{len(sent)}, dropped {dropped}')
            if dropped > 0 or got < len(sent) * 0.5:
                break
        return rows


def code_size(build: Path) -> None:
    qemu = build / 'qemu'
    folders = {'lib/blehost': REPO_ROOT / 'lib' / 'blehost',
               'extmod/bluetooth': REPO_ROOT / 'extmod' / 'bluetooth'}
    for label, source_dir in folders.items():
        objects = []
        for source in sorted(source_dir.glob('*.c')):
            matches = [o for o in qemu.rglob(f'{source.stem}.o')
                       if o.parent.name == source_dir.name]
            if matches:
                objects.append(max(matches, key=lambda o: o.stat().st_mtime))
            else:
                print(f'  {label}/{source.name}: no object in {qemu} (not built into qemu?)')
        if not objects:
            continue
        out = subprocess.run(['arm-none-eabi-size', *map(str, objects)], check=True,
                             capture_output=True, text=True).stdout.splitlines()[1:]
        totals = [0, 0, 0]
        for line in out:
            fields = line.split()
            for i in range(3):
                totals[i] += int(fields[i])
            print(f'    {fields[0]:>7} {fields[1]:>6} {fields[2]:>6}  {Path(fields[5]).name}')
        print(f'  {label}: text {totals[0]}  data {totals[1]}  bss {totals[2]}  '
              f'({len(objects)} objects)')
    elf = qemu / 'firmware.elf'
    if elf.exists():
        print('  firmware.elf: ' + subprocess.run(
            ['arm-none-eabi-size', str(elf)], capture_output=True, text=True,
            check=True).stdout.splitlines()[1].strip())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m tools.bench', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--build', type=Path, default=REPO_ROOT / 'build')
    parser.add_argument('--unix-binary', type=Path)
    parser.add_argument('--reports', type=int, default=600)
    parser.add_argument('--skip-radio', action='store_true', help='only the code size')
    args = parser.parse_args(argv)

    if not args.skip_radio:
        with Rig(['unix'], build=args.build, unix_binary=args.unix_binary) as rig:
            print(f'unix board: {rig.unix_binary}')
            bench = Bench(rig)
            try:
                print(f'1. advertising report -> Python handler latency '
                      f'({args.reports} reports, one every {LATENCY_SPACING_S * 1000:.0f} ms):')
                lat = bench.latency(args.reports)
                if lat:
                    print(f'  latency us: median {statistics.median(lat):.0f}  '
                          f'p90 {percentile(lat, 90):.0f}  p99 {percentile(lat, 99):.0f}  '
                          f'max {max(lat):.0f}  min {min(lat):.0f}  (n={len(lat)})')
                print('2. scan results per second at the default rxbuf:')
                rows = bench.throughput()
                clean = [r for r in rows if r[3] == 0 and r[2] >= int(r[0] * RATE_SECONDS)]
                if clean:
                    best = max(clean, key=lambda r: r[1])
                    print(f'  highest rate delivered without drops: {best[1]}/s')
            finally:
                bench.close()
    print('3. code size in the qemu build (arm-none-eabi-size: text data bss):')
    code_size(args.build)
    return 0


if __name__ == '__main__':
    sys.exit(main())
