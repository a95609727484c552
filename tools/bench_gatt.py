"""GATT benchmark, board to board on two boards: figures, not pass/fail.

    python -m tools.bench_gatt [--unix-binary PATH] [--count N] [--mtu MTU]
                               [--client-rxbuf BYTES] [--kind unix|qemu]
                               [--radio current|old|both] [--no-connection-events]

1. Notification throughput: the server board sends COUNT notifications of
   MTU-3 bytes (sequence number in the first two bytes) as fast as
   gatts_notify allows after an MTU exchange; the client board counts them in
   its IRQ handler (ticks_us between the first and the last), checks the
   sequence, and reports config('rxbuf_dropped') (events its ring dropped).
2. Write without response throughput: the client board sends COUNT writes
   of MTU-3 bytes (gattc_write mode 0); the server board counts them in its
   _IRQ_GATTS_WRITE handler (ticks_us between the first and the last).
3. Indication throughput: the server board sends COUNT/4 indications of
   MTU-3 bytes, each after the previous one's _IRQ_GATTS_INDICATE_DONE (an
   indication waits for its confirmation); the client board times them in
   its _IRQ_GATTC_INDICATE handler.
4. Write with response throughput: the client board sends COUNT/4 writes
   of MTU-3 bytes (gattc_write mode 1), each after the previous one's
   _IRQ_GATTC_WRITE_DONE; the server board times them in _IRQ_GATTS_WRITE.
   Also the round trip of 200 one-byte writes (call to _IRQ_GATTC_WRITE_DONE).
5. L2CAP channel throughput on the same link: the client board sends COUNT/10
   SDUs of 512 bytes (MTU 512 both sides), waiting for _IRQ_L2CAP_SEND_READY
   when l2cap_send says stalled; the server board reads them in its
   _IRQ_L2CAP_RECV handler (ticks_us from the first read to the last).
Each rate is printed next to the air's bound for the link as the radio has
it (PHY, data length, MIC; README "Throughput" has t(n)) and the ratio. A
stream of PDUs of L octets carrying S octets of data each is bounded by
S / t(L), t(L) summed over the LL PDUs of L. An indication (or a write
request) waits for its confirmation (its response) before the next one
goes: its bound is S / (t(L) + t(5)), the indication's LL PDUs with their
acknowledgements and inter-frame spaces, then the 5-octet L2CAP PDU of the
confirmation (the response) with its own, in the other direction. The run
is made on the current radio (the boards settle 251-octet PDUs and LE 2M by
themselves) and on the old 27-octet LE 1M one; a table closes it.
With the radio's connection events (the default) the bound also counts the
link's connection interval I (T_IFS = 150 us): a stream carries
floor((I - T_IFS) / t(L)) PDUs per event, so S * that / I; an exchange that
waits for its answer takes two events (the answer goes in the event after
the one that carried the request, the next request in the event after
that), so S / (2 I). --no-connection-events measures the host against the
air alone (data at any time, the bounds above).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Callable

from tools.boards import REPO_ROOT, Rig
from tools.radio.air import AirProfile

sys.path.insert(0, str(REPO_ROOT / 'tests'))
from harness.board import Board  # noqa: E402

SERVER_SETUP = '''ble.config(mtu={mtu})
((h,),) = ble.gatts_register_services(((bluetooth.UUID(0x180D), ((bluetooth.UUID(0x2A37),
    bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY | bluetooth.FLAG_WRITE),)),))
conn = None
wr = {{'n': 0, 't0': 0, 't1': 0}}
ind = {{'done': 0}}
def irq(e, d):
    global conn
    if e == 1:
        conn = d[0]
    elif e == 3:
        now = time.ticks_us()
        if wr['n'] == 0:
            wr['t0'] = now
        wr['t1'] = now
        wr['n'] += 1
    elif e == 20:
        ind['done'] += 1
ble.irq(irq)
ble.gap_advertise(20000)
'''

CLIENT_SETUP = '''ble.config(mtu={mtu}, rxbuf={rxbuf})
st = {{'n': 0, 'bytes': 0, 'seq': -1, 'bad': 0, 't0': 0, 't1': 0, 'conn': None, 'mtu': 0, 'wd': 0}}
ci = {{'n': 0, 't0': 0, 't1': 0}}
def irq(e, d):
    if e == 19:
        now = time.ticks_us()
        if ci['n'] == 0:
            ci['t0'] = now
        ci['t1'] = now
        ci['n'] += 1
    elif e == 18:
        now = time.ticks_us()
        if st['n'] == 0:
            st['t0'] = now
        st['t1'] = now
        v = d[2]
        s = v[0] | (v[1] << 8)
        if s != ((st['seq'] + 1) & 0xffff):
            st['bad'] += 1
        st['seq'] = s
        st['n'] += 1
        st['bytes'] += len(v)
    elif e == 7:
        st['conn'] = d[0]
    elif e == 21:
        st['mtu'] = d[1]
    elif e == 17:
        st['wd'] += 1
ble.irq(irq)
ble.gap_connect({addr_type}, {addr!r})
'''

SERVER_FLOOD = '''buf = bytearray({size})
t0 = time.ticks_ms()
for i in range({count}):
    buf[0] = i & 0xff
    buf[1] = (i >> 8) & 0xff
    ble.gatts_notify(conn, h, buf)
ts = time.ticks_diff(time.ticks_ms(), t0)
'''

SERVER_INDICATE = '''ibuf = bytearray({size})
t0 = time.ticks_ms()
for i in range({count}):
    d0 = ind['done']
    ble.gatts_indicate(conn, h, ibuf)
    while ind['done'] == d0:
        time.sleep_ms(0)
ts = time.ticks_diff(time.ticks_ms(), t0)
'''

CLIENT_WRITE_RESPONSE_FLOOD = '''wbuf = bytearray({size})
t0 = time.ticks_ms()
for i in range({count}):
    w0 = st['wd']
    ble.gattc_write(st['conn'], {handle}, wbuf, 1)
    while st['wd'] == w0:
        time.sleep_ms(0)
ts = time.ticks_diff(time.ticks_ms(), t0)
'''

CLIENT_WRITES = '''rtt = []
for i in range(200):
    w0 = st['wd']
    t0 = time.ticks_us()
    ble.gattc_write(st['conn'], {handle}, b'x', 1)
    while st['wd'] == w0:
        time.sleep_ms(0)
    rtt.append(time.ticks_diff(time.ticks_us(), t0))
rtt.sort()
'''


CLIENT_WRITE_FLOOD = '''wbuf = bytearray({size})
t0 = time.ticks_ms()
for i in range({count}):
    while True:
        try:
            ble.gattc_write(st['conn'], {handle}, wbuf, 0)
            break
        except OSError:
            time.sleep_ms(1)
ts = time.ticks_diff(time.ticks_ms(), t0)
'''

L2CAP_PSM = 0x80
L2CAP_MTU = 512

L2CAP_RECEIVER = '''l2 = {{'n': 0, 't0': 0, 't1': 0}}
rbuf = bytearray({mtu})
def irq(e, d):
    if e == 25:
        while True:
            n = ble.l2cap_recvinto(d[0], d[1], rbuf)
            if n == 0:
                break
            now = time.ticks_us()
            if l2['n'] == 0:
                l2['t0'] = now
            l2['t1'] = now
            l2['n'] += n
ble.irq(irq)
ble.l2cap_listen({psm}, {mtu})
'''

L2CAP_SENDER = '''l2 = {{'cid': None, 'ready': 0}}
def irq(e, d):
    if e == 23:
        l2['cid'] = d[1]
    elif e == 26:
        l2['ready'] += 1
ble.irq(irq)
ble.l2cap_connect(st['conn'], {psm}, {mtu})
'''

L2CAP_SEND = '''sbuf = bytearray({mtu})
t0 = time.ticks_ms()
for i in range({count}):
    r0 = l2['ready']
    if not ble.l2cap_send(st['conn'], l2['cid'], sbuf):
        while l2['ready'] == r0:
            time.sleep_ms(0)
ts = time.ticks_diff(time.ticks_ms(), t0)
'''


def wait_until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError('benchmark step did not complete')
        time.sleep(0.1)


def wait_settled(progress: Callable[[], int], total: int, seconds: float) -> None:
    """Until progress() reaches total or stops moving for a second."""
    deadline = time.monotonic() + seconds
    last, still_since = -1, time.monotonic()
    while (now := progress()) < total and time.monotonic() < deadline:
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since > 1.0:
            return
        time.sleep(0.1)


def connect(server: Board, client: Board, mtu: int, rxbuf: int) -> int:
    """Connect, exchange MTUs; returns the MTU in use."""
    for board in (server, client):
        board.soft_reset()
        board.exec('import bluetooth, time\nble = bluetooth.BLE()\nble.active(True)', timeout=20)
    server.exec(SERVER_SETUP.format(mtu=mtu))
    addr_type, addr = server.eval('ble.config("mac")')
    client.exec(CLIENT_SETUP.format(mtu=mtu, rxbuf=rxbuf, addr_type=addr_type, addr=addr))
    wait_until(lambda: client.eval("st['conn']") is not None and server.eval('conn') is not None, 10)
    client.exec("ble.gattc_exchange_mtu(st['conn'])")
    wait_until(lambda: bool(client.eval("st['mtu']")), 5)
    return client.eval("st['mtu']")


def interval_us(rig: Rig, board_index: int) -> int:
    """The connection interval of the board's one link now."""
    assert rig.radio is not None
    [link] = rig.radio.connections(board_index)
    assert link.parameters is not None
    return link.parameters.interval * 1250  # units of 1.25 ms


def air_of(rig: Rig, board_index: int) -> AirProfile:
    """How the board's controller sends on its one link now."""
    assert rig.radio is not None
    [link] = rig.radio.connections(board_index)
    octets = link.data_length[0] if link.data_length else 27
    tx_phy, rx_phy = link.phys or (1, 1)
    return AirProfile(phy=tx_phy, ack_phy=rx_phy, payload_octets=octets)


ATT_HEADER = 3  # opcode and handle of a notification, indication or write
L2CAP_HEADER = 4
ANSWER_PDU = L2CAP_HEADER + 1  # a confirmation or write response: its opcode


@dataclasses.dataclass
class Row:
    """One measured rate next to its air bound."""

    name: str
    rate: float  # B/s
    bound: float  # B/s
    formula: str

    @property
    def share(self) -> float:
        return self.rate / self.bound


T_IFS_US = 150


def stream_row(name: str, rate: float, payload: int, pdu_length: int, air: AirProfile,
               interval_us: int | None) -> Row:
    """PDUs of `pdu_length` back to back on one direction, `payload` octets
    each; with connection events of `interval_us`, as many per event as fit."""
    air_us = air.pdu_us(pdu_length)
    if interval_us is None:
        return Row(name, rate, payload / (air_us / 1e6),
                   f'{payload} B / t({pdu_length}) = {payload} B / {air_us} us')
    per_event = (interval_us - T_IFS_US) // air_us
    return Row(name, rate, payload * per_event / (interval_us / 1e6),
               f'{payload} B x floor((I - T_IFS) / t({pdu_length})) / I = {payload} B x '
               f'floor({interval_us - T_IFS_US} / {air_us}) / {interval_us} us')


def round_trip_row(name: str, rate: float, payload: int, pdu_length: int, air: AirProfile,
                   back: AirProfile, interval_us: int | None) -> Row:
    """A PDU of `pdu_length` one way, then a 5-octet answer the other way,
    before the next one goes; with connection events, two events each."""
    if interval_us is not None:
        return Row(name, rate, payload / (2 * interval_us / 1e6),
                   f'{payload} B / (2 I) = {payload} B / (2 x {interval_us} us)')
    there, answer = air.pdu_us(pdu_length), back.pdu_us(ANSWER_PDU)
    return Row(name, rate, payload / ((there + answer) / 1e6),
               f'{payload} B / (t({pdu_length}) + t\'({ANSWER_PDU})) = {payload} B / '
               f'({there} + {answer}) us')


def row_text(row: Row, air: AirProfile) -> str:
    return (f'; air bound {row.bound:.0f} B/s (LE {air.phy}M, {air.payload_octets}-octet PDUs: '
            f'{row.formula}) -> {row.share:.0%} of it')


def notification_throughput(server: Board, client: Board, mtu: int, count: int,
                            air: AirProfile, interval_us: int | None) -> tuple[str, Row]:
    size = mtu - ATT_HEADER
    server.exec(SERVER_FLOOD.format(size=size, count=count), timeout=300)
    # Notifications the client's ring dropped never arrive: wait for all, or
    # for the flow to stop.
    wait_settled(lambda: client.eval("st['n']"), count, 60)
    st = client.eval('st')
    send_ms = server.eval('ts')
    dropped = client.eval('ble.config("rxbuf_dropped")')
    span = (st['t1'] - st['t0']) / 1e6
    # The first notification arrives at t0: the span carries the rest.
    rate = (st['bytes'] - size) / span
    row = stream_row(f'notifications, {size} B', rate, size, L2CAP_HEADER + ATT_HEADER + size,
                     air, interval_us)
    return (f'notify mtu {mtu}: {st["n"]}/{count} notifications of {size} B received, '
            f'{st["bad"]} out of order/lost, {dropped} dropped by the client ring; '
            f'receive span {span:.3f} s -> {st["n"] / span:.0f} notif/s, '
            f'{rate:.0f} B/s; server send loop {send_ms} ms' + row_text(row, air)), row


def write_throughput(server: Board, client: Board, mtu: int, count: int,
                     air: AirProfile, interval_us: int | None) -> tuple[str, Row]:
    size = mtu - ATT_HEADER
    client.exec(CLIENT_WRITE_FLOOD.format(size=size, count=count, handle=server.eval('h')),
                timeout=300)
    wait_until(lambda: server.eval("wr['n']") >= count, 60)
    wr = server.eval('wr')
    span = (wr['t1'] - wr['t0']) / 1e6
    rate = (wr['n'] - 1) * size / span
    row = stream_row(f'writes without response, {size} B', rate, size,
                     L2CAP_HEADER + ATT_HEADER + size, air, interval_us)
    return (f'write without response mtu {mtu}: {wr["n"]}/{count} writes of {size} B; '
            f'receive span {span:.3f} s -> {rate:.0f} B/s; client send loop '
            f'{client.eval("ts")} ms' + row_text(row, air)), row


def indication_throughput(server: Board, client: Board, mtu: int, count: int,
                          air: AirProfile, back: AirProfile,
                          interval_us: int | None) -> tuple[str, Row]:
    size = mtu - ATT_HEADER
    server.exec(SERVER_INDICATE.format(size=size, count=count), timeout=300)
    wait_until(lambda: client.eval("ci['n']") >= count, 60)
    ci = client.eval('ci')
    span = (ci['t1'] - ci['t0']) / 1e6
    # Between the first and the last, n - 1 round trips.
    rate = (ci['n'] - 1) * size / span
    row = round_trip_row(f'indications, {size} B (each confirmed)', rate, size,
                         L2CAP_HEADER + ATT_HEADER + size, air, back, interval_us)
    return (f'indicate mtu {mtu}: {ci["n"]}/{count} indications of {size} B, one at a time; '
            f'receive span {span:.3f} s -> {ci["n"] / span:.0f} ind/s, {rate:.0f} B/s; '
            f'server loop {server.eval("ts")} ms' + row_text(row, air)), row


def write_response_throughput(server: Board, client: Board, mtu: int, count: int,
                              air: AirProfile, back: AirProfile,
                              interval_us: int | None) -> tuple[str, Row]:
    size = mtu - ATT_HEADER
    server.exec("wr['n'] = 0")
    client.exec(CLIENT_WRITE_RESPONSE_FLOOD.format(size=size, count=count,
                                                   handle=server.eval('h')), timeout=300)
    wait_until(lambda: server.eval("wr['n']") >= count, 60)
    wr = server.eval('wr')
    span = (wr['t1'] - wr['t0']) / 1e6
    rate = (wr['n'] - 1) * size / span
    row = round_trip_row(f'writes with response, {size} B', rate, size,
                         L2CAP_HEADER + ATT_HEADER + size, air, back, interval_us)
    return (f'write with response mtu {mtu}: {wr["n"]}/{count} writes of {size} B, one at a '
            f'time; receive span {span:.3f} s -> {wr["n"] / span:.0f} writes/s, {rate:.0f} B/s; '
            f'client loop {client.eval("ts")} ms' + row_text(row, air)), row


def write_round_trip(server: Board, client: Board) -> str:
    client.exec(CLIENT_WRITES.format(handle=server.eval('h')), timeout=120)
    r = client.eval('rtt')
    return (f'gattc_write mode=1 round trip (1 B): median {r[len(r) // 2] / 1000:.2f} ms, '
            f'p90 {r[int(len(r) * 0.9)] / 1000:.2f} ms, min {r[0] / 1000:.2f} ms, '
            f'max {r[-1] / 1000:.2f} ms (n={len(r)})')


def l2cap_throughput(server: Board, client: Board, count: int,
                     air: AirProfile, interval_us: int | None) -> tuple[str, Row]:
    server.exec(L2CAP_RECEIVER.format(psm=L2CAP_PSM, mtu=L2CAP_MTU))
    client.exec(L2CAP_SENDER.format(psm=L2CAP_PSM, mtu=L2CAP_MTU))
    wait_until(lambda: client.eval("l2['cid']") is not None, 10)
    client.exec(L2CAP_SEND.format(mtu=L2CAP_MTU, count=count), timeout=300)
    total = count * L2CAP_MTU
    wait_until(lambda: server.eval("l2['n']") >= total, 60)
    l2 = server.eval('l2')
    span = (l2['t1'] - l2['t0']) / 1e6
    # The first SDU's bytes arrive at t0: the span carries the rest.
    rate = (l2['n'] - L2CAP_MTU) / span
    # One K-frame per SDU (our MPS is MTU + 2): header 4, SDU length 2.
    row = stream_row(f'L2CAP channel, SDUs of {L2CAP_MTU} B', rate, L2CAP_MTU,
                     L2CAP_HEADER + 2 + L2CAP_MTU, air, interval_us)
    return (f'l2cap: {l2["n"]}/{total} B in {count} SDUs of {L2CAP_MTU} B; receive span '
            f'{span:.3f} s -> {rate:.0f} B/s; sender loop {client.eval("ts")} ms'
            + row_text(row, air)), row


def grouped(value: float) -> str:
    """12 345 (thousands apart, as the README writes them)."""
    return f'{value:,.0f}'.replace(',', ' ')


RADIOS = {'current': 'current controllers (251-octet PDUs, LE 2M)',
          'old': 'old controllers (27-octet PDUs, LE 1M only)'}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m tools.bench_gatt', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--unix-binary', type=Path,
                        help='unix board binary (default: $MPBOARD_UNIX or build/unix/micropython)')
    parser.add_argument('--count', type=int, default=1000)
    parser.add_argument('--mtu', type=int, default=247)
    parser.add_argument('--client-rxbuf', type=int, default=1024)
    parser.add_argument('--kind', choices=('unix', 'qemu'), default='unix',
                        help='board kind of both boards (default unix)')
    parser.add_argument('--radio', choices=(*RADIOS, 'both'), default='both',
                        help='which controllers (default both, the current one first)')
    parser.add_argument('--no-connection-events', action='store_true',
                        help='the radio without connection events: the host against the air alone')
    args = parser.parse_args(argv)

    results: dict[str, list[Row]] = {}
    for radio in (RADIOS if args.radio == 'both' else [args.radio]):
        print(f'radio: {RADIOS[radio]}', flush=True)
        results[radio] = run(args, radio == 'old')
    events = 'off' if args.no_connection_events else 'on'
    print(f'\n{args.kind} boards, MTU {args.mtu}, connection events {events}: '
          'rate (air bound, share)')
    names = next(iter(results.values()))
    print('| data | ' + ' | '.join(f'{radio} radio' for radio in results) + ' |')
    print('|---|' + '---|' * len(results))
    for index, row in enumerate(names):
        cells = [f'{grouped(rows[index].rate)} B/s ({grouped(rows[index].bound)}, '
                 f'{rows[index].share:.0%})' for rows in results.values()]
        print(f'| {row.name} | ' + ' | '.join(cells) + ' |')
    return 0


def run(args: argparse.Namespace, legacy: bool) -> list[Row]:
    rows: list[Row] = []
    with Rig([args.kind] * 2, unix_binary=args.unix_binary, legacy_controllers=legacy,
             connection_events=not args.no_connection_events) as rig:
        client, server = [Board(b.port, kind=args.kind, name=f'{args.kind[0]}{b.index}',
                                address=b.controller.address_bytes, controller=b.index)
                          for b in rig.boards]
        try:
            mtu = connect(server, client, args.mtu, args.client_rxbuf)
            time.sleep(0.5)  # the data length and PHY updates settle
            server_air, client_air = air_of(rig, server.controller), air_of(rig, client.controller)
            interval = None if args.no_connection_events else interval_us(rig, server.controller)
            if interval is not None:
                print(f'  connection events every {interval} us', flush=True)
            round_trips = max(args.count // 4, 2)
            steps: list[Callable[[], tuple[str, Row]]] = [
                lambda: notification_throughput(server, client, mtu, args.count, server_air,
                                                interval),
                lambda: write_throughput(server, client, mtu, args.count, client_air, interval),
                lambda: indication_throughput(server, client, mtu, round_trips, server_air,
                                              client_air, interval),
                lambda: write_response_throughput(server, client, mtu, round_trips, client_air,
                                                  server_air, interval),
                lambda: l2cap_throughput(server, client, max(args.count // 10, 2), client_air,
                                         interval),
            ]
            for index, step in enumerate(steps):
                if index == len(steps) - 1:
                    # Before the L2CAP step: it replaces the boards' IRQ handlers.
                    print('  ' + write_round_trip(server, client), flush=True)
                text, row = step()
                print('  ' + text, flush=True)
                rows.append(row)
        finally:
            for board in (client, server):
                board.close()
    return rows


if __name__ == '__main__':
    sys.exit(main())
