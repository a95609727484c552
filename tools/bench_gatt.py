"""GATT benchmark, board to board on two unix boards: figures, not pass/fail.

    python -m tools.bench_gatt UNIX_BINARY [COUNT [MTU [CLIENT_RXBUF]]]

1. Notification throughput: the server board sends COUNT notifications of
   MTU-3 bytes (sequence number in the first two bytes) as fast as
   gatts_notify allows after an MTU exchange; the client board counts them in
   its IRQ handler (ticks_us between the first and the last), checks the
   sequence, and reports config('rxbuf_dropped') (events its ring dropped).
2. gattc_write with response: round trip from the call to _IRQ_GATTC_WRITE_DONE
   (200 writes of 1 byte).
"""
import sys
import time
from pathlib import Path

from tools.boards import REPO_ROOT, Rig

sys.path.insert(0, str(REPO_ROOT / 'tests'))
from harness.board import Board  # noqa: E402

BIN = Path(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
MTU = int(sys.argv[3]) if len(sys.argv) > 3 else 247

with Rig(['unix', 'unix'], unix_binary=BIN) as rig:
    boards = [Board(b.port, kind='unix', name=f'u{b.index}', address=b.controller.address_bytes,
                    controller=b.index) for b in rig.boards]
    srv, cli = boards[1], boards[0]
    for b in boards:
        b.soft_reset()
        b.exec('import bluetooth, time\nble = bluetooth.BLE()\nble.active(True)', timeout=20)
    srv.exec(f'ble.config(mtu={MTU})\n((h,),) = ble.gatts_register_services(((bluetooth.UUID(0x180D), ((bluetooth.UUID(0x2A37), bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY | bluetooth.FLAG_WRITE),)),))\n'
             'conn = None\ndef irq(e, d):\n global conn\n if e == 1: conn = d[0]\nble.irq(irq)\nble.gap_advertise(20000)')
    addr = srv.eval('ble.config("mac")')
    RXBUF = int(sys.argv[4]) if len(sys.argv) > 4 else 1024
    cli.exec(f'''ble.config(mtu={MTU}, rxbuf={RXBUF})
st = {{'n': 0, 'bytes': 0, 'seq': -1, 'bad': 0, 't0': 0, 't1': 0, 'conn': None, 'mtu': 0, 'wd': 0}}
def irq(e, d):
    if e == 18:
        now = time.ticks_us()
        if st['n'] == 0: st['t0'] = now
        st['t1'] = now
        v = d[2]
        s = v[0] | (v[1] << 8)
        if s != ((st['seq'] + 1) & 0xffff): st['bad'] += 1
        st['seq'] = s
        st['n'] += 1
        st['bytes'] += len(v)
    elif e == 7: st['conn'] = d[0]
    elif e == 21: st['mtu'] = d[1]
    elif e == 17: st['wd'] += 1
ble.irq(irq)
ble.gap_connect({addr[0]}, {addr[1]!r})
''')
    for _ in range(100):
        if cli.eval("st['conn']") is not None and srv.eval('conn') is not None:
            break
        time.sleep(0.1)
    cli.exec("ble.gattc_exchange_mtu(st['conn'])")
    for _ in range(50):
        if cli.eval("st['mtu']"):
            break
        time.sleep(0.1)
    mtu = cli.eval("st['mtu']")
    size = mtu - 3
    srv.exec(f'buf = bytearray({size})\nt0 = time.ticks_ms()\nfor i in range({N}):\n buf[0] = i & 0xff\n buf[1] = (i >> 8) & 0xff\n ble.gatts_notify(conn, h, buf)\nts = time.ticks_diff(time.ticks_ms(), t0)', timeout=300)
    for _ in range(200):
        if cli.eval("st['n']") >= N:
            break
        time.sleep(0.1)
    st = cli.eval('st')
    ts = srv.eval('ts')
    dropped = cli.eval('ble.config("rxbuf_dropped")')
    print('client rxbuf', RXBUF, 'dropped', dropped)
    dt = (st['t1'] - st['t0']) / 1e6
    print(f'mtu {mtu}: {st["n"]}/{N} notifications of {size} B received, {st["bad"]} out of order/lost; '
          f'receive span {dt:.3f} s -> {st["n"]/dt:.0f} notif/s, {st["bytes"]/dt:.0f} B/s; server send loop {ts} ms')
    # gattc_write with response round trip.
    cli.exec(f"""rtt = []
for i in range(200):
    w0 = st['wd']
    t0 = time.ticks_us()
    ble.gattc_write(st['conn'], {srv.eval('h')}, b'x', 1)
    while st['wd'] == w0:
        time.sleep_ms(0)
    rtt.append(time.ticks_diff(time.ticks_us(), t0))
rtt.sort()""", timeout=120)
    r = cli.eval('rtt')
    print(f'gattc_write mode=1 round trip: median {r[len(r)//2]/1000:.2f} ms, p90 {r[int(len(r)*0.9)]/1000:.2f} ms, min {r[0]/1000:.2f} ms, max {r[-1]/1000:.2f} ms (n={len(r)})')
    for b in boards:
        b.close()
