"""Load: a flood of scan results into a small rxbuf (whole events dropped and
counted, the board keeps working), rxbuf resizing, and 50 connect/disconnect
cycles without a leak."""
from __future__ import annotations

import pytest

from harness.board import Board
from harness.gap import FULL_SCAN, advertise, mac, scan_results, listen_only_to, up
from harness.peer import ADV_NONCONN_IND, HciPeer


def payload(index: int) -> bytes:
    # Distinct lengths and contents, so a torn record cannot pass for a whole one.
    body = bytes((index * 37 + i) & 0xFF for i in range(5 + 6 * index))
    return bytes([len(body) + 1, 0xFF]) + body


@pytest.mark.api(methods=['config', 'gap_scan', 'irq'],
                 events=['_IRQ_SCAN_RESULT', '_IRQ_SCAN_DONE'])
def test_small_rxbuf_drops_whole_events_and_keeps_working(
        central: Board, peripheral: Board, hci_peers: list[HciPeer]) -> None:
    up(central)
    up(peripheral)
    payloads = {payload(i) for i in range(len(hci_peers) + 1)}
    for index, peer in enumerate(hci_peers):
        peer.advertise(payload(index), adv_type=ADV_NONCONN_IND, interval=0x20)
    advertise(peripheral, payload(len(hci_peers)), connectable=False)
    senders = {peer.address_bytes for peer in hci_peers} | {mac(peripheral)[1]}
    central.exec(f'''
ble.config(rxbuf=128)
_bad = []
_count = [0, 0]
_senders = {senders!r}
_payloads = {payloads!r}
def _slow(event, data):
    if event == 5:
        _count[0] += 1
        addr = bytes(data[1])
        if addr in _senders and bytes(data[4]) not in _payloads:
            _bad.append((addr, bytes(data[4])))
        time.sleep_ms(15)  # a slow handler: the ring fills up
    elif event == 6:
        _count[1] += 1
ble.irq(_slow)
_dropped0 = ble.config("rxbuf_dropped")
ble.gap_scan(1500, {FULL_SCAN})
time.sleep_ms(4000)
''', timeout=30)
    received, done = central.eval('_count')
    dropped = central.eval('ble.config("rxbuf_dropped") - _dropped0')
    assert central.eval('_bad') == [], 'a delivered scan result was not a whole record'
    assert received >= 10
    assert dropped > 0, f'{received} results, none dropped with a 128-byte rxbuf'
    # SCAN_DONE may itself have been dropped while the ring was full; drops
    # stop when the flood does, and the board works normally afterwards.
    assert done <= 1
    central.exec('ble.config(rxbuf=4096)')
    assert central.eval('ble.config("rxbuf")') >= 4096
    central.attach_recorder('ble')
    listen_only_to(central, mac(peripheral)[1])
    dropped_before = central.eval('ble.config("rxbuf_dropped")')
    results = scan_results(central, 0.5)
    assert results and {e.data[4] for e in results} == {payload(len(hci_peers))}
    assert central.eval('ble.config("rxbuf_dropped")') == dropped_before


@pytest.mark.api(methods=['config'])
def test_rxbuf_resize_round_trips(central: Board) -> None:
    up(central)
    default = central.eval('ble.config("rxbuf")')
    assert default >= 64
    for size in (64, 300, 5000, default):
        central.exec(f'ble.config(rxbuf={size})')
        got = central.eval('ble.config("rxbuf")')
        assert size <= got < size + 64, (size, got)
    assert central.raises('ble.config(rxbuf=-1)') == 'ValueError'
    assert central.raises('ble.config(rxbuf="big")') == 'TypeError'
    assert isinstance(central.eval('ble.config("rxbuf_dropped")'), int)


CYCLES = 50

CENTRAL_LOOP = '''
_ev = []
def _h(event, data):
    if event in (7, 8):
        _ev.append((event, data[0]))
ble.irq(_h)
def _wait(code, ms):
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < ms:
        for item in _ev:
            if item[0] == code:
                _ev.remove(item)
                return item[1]
        time.sleep_ms(2)
    raise OSError('no event %d in cycle %d' % (code, _cycle))
_handles = []
_free = []
for _cycle in range({cycles}):
    if _cycle in (5, {cycles} - 1):
        gc.collect()
        _free.append(gc.mem_free())
    ble.gap_connect({addr_type}, {addr!r}, 2000, 7500, 7500)
    _h_conn = _wait(7, 5000)
    _handles.append(_h_conn)
    if not ble.gap_disconnect(_h_conn):
        raise OSError('gap_disconnect returned False for a live handle')
    if _wait(8, 5000) != _h_conn:
        raise OSError('disconnect for another handle')
print('cycles done')
'''

PERIPHERAL_LOOP = '''
_counts = [0, 0]
def _h(event, data):
    if event == 1:
        _counts[0] += 1
    elif event == 2:
        _counts[1] += 1
        ble.gap_advertise(20000)  # advertising ends at a connection: resume
ble.irq(_h)
ble.gap_advertise(20000, b"\\x02\\x01\\x06")
start = time.ticks_ms()
while _counts[1] < {cycles} and time.ticks_diff(time.ticks_ms(), start) < {limit_ms}:
    time.sleep_ms(10)
print(_counts)
'''


@pytest.mark.timeout(400)
@pytest.mark.api(methods=['gap_connect', 'gap_disconnect', 'gap_advertise'],
                 events=['_IRQ_PERIPHERAL_CONNECT', '_IRQ_PERIPHERAL_DISCONNECT',
                         '_IRQ_CENTRAL_CONNECT', '_IRQ_CENTRAL_DISCONNECT'])
def test_fifty_connect_disconnect_cycles_leak_nothing(
        central: Board, peripheral: Board) -> None:
    up(central)
    up(peripheral)
    addr_type, addr = mac(peripheral)
    limit_ms = 300_000
    peripheral.start(PERIPHERAL_LOOP.format(cycles=CYCLES, limit_ms=limit_ms))
    out = central.exec(CENTRAL_LOOP.format(cycles=CYCLES, addr_type=addr_type, addr=addr),
                       timeout=limit_ms / 1000)
    assert 'cycles done' in out
    counts = peripheral.join(timeout=30).strip().splitlines()[-1]
    assert counts == f'[{CYCLES}, {CYCLES}]', counts
    handles = central.eval('_handles')
    assert len(handles) == CYCLES and len(set(handles)) <= 4, set(handles)
    before, after = central.eval('_free')
    assert abs(before - after) <= 2048, f'mem_free {before} -> {after} over {CYCLES - 6} cycles'
    # Nothing left behind: no connection on either side, and a new one works.
    assert central.eval('ble.gap_disconnect(%d)' % handles[-1]) is False
