"""Static RAM of the Bluetooth stack: figures, not pass/fail.

    python -m tools.bench_ram [--build BUILD] [--knobs]

1. Per board kind: .data + .bss of the objects of lib/blehost and
   extmod/bluetooth (with its port_unix porting layer) in that board's build
   (`size` for the x86-64 unix build, `arm-none-eabi-size` for qemu), the
   same measure the issue takes for MicroPython's NimBLE port (21.5 KB on
   x86-64 unix). Heap the binding takes at run time (the event ring, rxbuf)
   is not static and not counted, as for NimBLE's.
2. With --knobs: lib/blehost alone compiled here for x86-64 (gcc -O2,
   -std=c99) at the default configuration and with one bh_config.h knob
   changed at a time, then the documented 1-link small configuration: the
   table README "RAM" shows.
3. With --heap: what the binding takes from MicroPython's heap at run time
   on a board of each kind (gc.mem_alloc after gc.collect, before and
   after): the GATT database of a heart-rate and a UART service, an L2CAP
   channel's buffers per MTU, and the event ring (rxbuf). Like NimBLE's
   binding, ours keeps those on the heap, sized by what the application
   asks for.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST_DIR = REPO_ROOT / 'lib' / 'blehost'
BINDING_DIR = REPO_ROOT / 'extmod' / 'bluetooth'
SIZE_TOOLS = {'unix': 'size', 'unix-san': 'size', 'qemu': 'arm-none-eabi-size'}

# (knob, values to show); the default is bh_config.h's (or the layer's header).
KNOBS: list[tuple[str, list[int]]] = [
    ('BH_MAX_CONNECTIONS', [1, 2, 8]),
    ('BH_HCI_RX_QUEUE', [1294, 2068]),
    ('BH_ACL_TX_QUEUE_BYTES', [2100, 4096]),
    ('BH_ACL_TX_RESERVED', [2]),
    ('BH_L2CAP_TX_MAX_PAYLOAD', [251]),
    ('BH_L2CAP_RX_MAX_PAYLOAD', [251]),
    ('BH_GATTS_PREPARE_QUEUE', [512, 1472]),
    ('BH_GATTC_VALUE_BUFS', [1, 4]),
    ('BH_GATTC_QUEUE_DATA', [512]),
    ('BH_GATTC_QUEUE_LEN', [2]),
    ('BH_HCI_CMD_QUEUE_LEN', [4]),
]
# The documented small configuration (README "RAM"): one link, everything
# sized for one peer with 251-octet PDUs and an ATT MTU of 247.
SMALL = {
    'BH_MAX_CONNECTIONS': 1,
    'BH_L2CAP_TX_MAX_PAYLOAD': 251,
    'BH_L2CAP_RX_MAX_PAYLOAD': 251,
    'BH_GATTS_PREPARE_QUEUE': 600,
    'BH_GATTC_QUEUE_DATA': 512,
    'BH_GATTC_QUEUE_LEN': 2,
    'BH_HCI_CMD_QUEUE_LEN': 4,
}

# Run on a board: heap bytes the binding holds for each part.
HEAP_CODE = '''
import bluetooth, gc
def used():
    gc.collect()
    return gc.mem_alloc()
U = bluetooth.UUID
R, W, N = bluetooth.FLAG_READ, bluetooth.FLAG_WRITE, bluetooth.FLAG_NOTIFY
HR = (U(0x180D), ((U(0x2A37), R | N),))
UART = (U('6E400001-B5A3-F393-E0A9-E50E24DCCA9E'),
        ((U('6E400003-B5A3-F393-E0A9-E50E24DCCA9E'), R | N),
         (U('6E400002-B5A3-F393-E0A9-E50E24DCCA9E'), W)))
before = used()
ble = bluetooth.BLE()
ble.active(True)
ring = used() - before
before = used()
ble.gatts_register_services((HR, UART))
db = used() - before
res = [ring, ble.config('rxbuf'), db]
for mtu in (256, 1024):
    before = used()
    ble.l2cap_listen(0x80, mtu)
    res.append(used() - before)
    ble.active(False)
    ble.active(True)
ble.active(False)
print(*res)
'''
HEAP_MTUS = (256, 1024)


def data_bss(objects: list[Path], tool: str) -> tuple[int, int]:
    """Summed .data and .bss of `objects` as `tool` (a GNU size) reports them."""
    if not objects:
        return 0, 0
    lines = subprocess.run([tool, *map(str, objects)], check=True, capture_output=True,
                           text=True).stdout.splitlines()[1:]
    data = sum(int(line.split()[1]) for line in lines)
    bss = sum(int(line.split()[2]) for line in lines)
    return data, bss


def objects_of(build: Path, source_dir: Path) -> list[Path]:
    """The newest object of each C file of `source_dir` (and its subfolders)."""
    found = []
    for source in sorted(source_dir.rglob('*.c')):
        matches = [o for o in build.rglob(f'{source.stem}.o') if o.parent.name == source.parent.name]
        if matches:
            found.append(max(matches, key=lambda o: o.stat().st_mtime))
    return found


def board_ram(build: Path, kind: str) -> tuple[int, int, int] | None:
    """(lib/blehost, extmod/bluetooth, total) static RAM of one board build."""
    folder = build / kind
    tool = SIZE_TOOLS[kind]
    if not folder.is_dir() or shutil.which(tool) is None:
        return None
    host = sum(data_bss(objects_of(folder, HOST_DIR), tool))
    binding = sum(data_bss(objects_of(folder, BINDING_DIR), tool))
    return host, binding, host + binding


def host_ram(defines: dict[str, int], work: Path) -> int:
    """.data + .bss of lib/blehost compiled for x86-64 with `defines`."""
    for old in work.glob('*.o'):
        old.unlink()
    flags = [f'-D{name}={value}' for name, value in defines.items()]
    sources = sorted(HOST_DIR.glob('*.c'))
    subprocess.run(['gcc', '-std=c99', '-D_DEFAULT_SOURCE', '-O2', '-c', f'-I{HOST_DIR}',
                    *flags, *map(str, sources)], cwd=work, check=True)
    return sum(data_bss(sorted(work.glob('*.o')), 'size'))


def knob_table() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = host_ram({}, work)
        print(f'  lib/blehost at the default configuration: {base} B ({base / 1024:.1f} KB)')
        print(f'  {"knob":<26} {"value":>6} {"bytes":>7} {"change":>8}')
        for knob, values in KNOBS:
            for value in values:
                ram = host_ram({knob: value}, work)
                print(f'  {knob:<26} {value:>6} {ram:>7} {ram - base:>+8}')
        small = host_ram(SMALL, work)
        print(f'  small configuration (1 link, README "RAM"): {small} B ({small / 1024:.1f} KB)')


def heap_figures(kind: str, build: Path, unix_binary: Path | None) -> list[int]:
    """HEAP_CODE's figures on one board of `kind`: BLE object and ring, rxbuf, database,
    then one channel per MTU of HEAP_MTUS."""
    from mpremote.transport_serial import SerialTransport

    from tools.boards import Rig

    rig = Rig([kind], build=build, unix_binary=unix_binary)
    try:
        rig.start()
        transport = SerialTransport(rig.boards[0].port, baudrate=115200)
        try:
            transport.enter_raw_repl(soft_reset=False)
            return [int(x) for x in transport.exec(HEAP_CODE).split()]
        finally:
            transport.close()
    finally:
        rig.close()


def heap_table(build: Path, unix_binary: Path | None) -> None:
    for kind in ('unix', 'qemu'):
        ring, rxbuf, db, *channels = heap_figures(kind, build, unix_binary)
        per_mtu = ', '.join(f'MTU {mtu}: {b} B' for mtu, b in zip(HEAP_MTUS, channels))
        print(f'  {kind}: the BLE object and its event ring {ring} B (rxbuf {rxbuf}); GATT database of a heart-rate '
              f'and a UART service {db} B; an L2CAP channel {per_mtu}')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m tools.bench_ram', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--build', type=Path, default=REPO_ROOT / 'build')
    parser.add_argument('--knobs', action='store_true', help='also the per-knob table')
    parser.add_argument('--heap', action='store_true',
                        help='also the heap the binding takes at run time, on a board of each kind')
    parser.add_argument('--unix-binary', type=Path, help='the unix board for --heap')
    args = parser.parse_args(argv)
    print('static RAM (.data + .bss) of lib/blehost + extmod/bluetooth:')
    for kind in ('unix', 'qemu'):
        figures = board_ram(args.build, kind)
        if figures is None:
            print(f'  {kind}: no build in {args.build / kind} (or no {SIZE_TOOLS[kind]})')
            continue
        host, binding, total = figures
        print(f'  {kind}: lib/blehost {host} B + extmod/bluetooth {binding} B = '
              f'{total} B ({total / 1024:.1f} KB; NimBLE on x86-64 unix: 21.5 KB)')
    if args.knobs:
        print('RAM per configuration knob (lib/blehost, x86-64, one knob at a time):')
        knob_table()
    if args.heap:
        print('MicroPython heap the binding takes at run time (not static RAM):')
        heap_table(args.build, args.unix_binary)
    return 0


if __name__ == '__main__':
    sys.exit(main())
