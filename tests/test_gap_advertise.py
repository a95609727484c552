"""Advertising and scanning between two boards: PDU types, payloads byte for
byte, scan responses, payload reuse/clear, stop, scan duration and SCAN_DONE."""
from __future__ import annotations

import time

import pytest

from harness.board import Board
from harness.gap import (
    ADV_IND, ADV_NONCONN_IND, ADV_SCAN_IND, FULL_SCAN, PUBLIC, SCAN_RSP,
    advertise, connect_marker, listen_only_to, mac, scan_marker, scan_results, up,
)
from tools.radio import Radio

# 31 bytes each, every byte value different between the two.
ADV_DATA = bytes([0x02, 0x01, 0x06, 0x1A, 0xFF]) + bytes(range(0x80, 0x80 + 26))
RESP_DATA = bytes([0x1E, 0x09]) + b'mpbt scan response 0123456789'


def setup_pair(scanner: Board, advertiser: Board) -> tuple[int, bytes]:
    up(scanner)
    up(advertiser)
    addr_type, addr = mac(advertiser)
    listen_only_to(scanner, addr)
    return addr_type, addr


def by_type(results: list) -> dict[int, set[bytes]]:
    found: dict[int, set[bytes]] = {}
    for event in results:
        found.setdefault(event.data[2], set()).add(event.data[4])
    return found


@pytest.mark.api(methods=['gap_advertise', 'gap_scan', 'config'],
                 events=['_IRQ_SCAN_RESULT', '_IRQ_SCAN_DONE'])
def test_passive_scan_sees_adv_ind_with_exact_data(central: Board, peripheral: Board) -> None:
    addr_type, addr = setup_pair(central, peripheral)
    advertise(peripheral, ADV_DATA, RESP_DATA)
    results = scan_results(central, 1.0)
    assert len(results) >= 5, f'only {len(results)} results in 1 s of adverts every 20 ms'
    for event in results:
        r_type, r_addr, adv_type, rssi, data = event.data
        assert (r_type, r_addr) == (addr_type, addr)
        assert isinstance(rssi, int) and -127 <= rssi <= 20
    # A passive scanner never asks for the scan response.
    assert by_type(results) == {ADV_IND: {ADV_DATA}}


@pytest.mark.api(methods=['gap_advertise', 'gap_scan'], events=['_IRQ_SCAN_RESULT'])
def test_active_scan_gets_the_scan_response_byte_for_byte(
        central: Board, peripheral: Board) -> None:
    setup_pair(central, peripheral)
    advertise(peripheral, ADV_DATA, RESP_DATA)
    assert by_type(scan_results(central, 1.0, active=True)) == \
        {ADV_IND: {ADV_DATA}, SCAN_RSP: {RESP_DATA}}


@pytest.mark.api(methods=['gap_advertise', 'gap_scan'], events=['_IRQ_SCAN_RESULT'])
@pytest.mark.parametrize('resp_data, expected', [
    (RESP_DATA, {ADV_SCAN_IND: {ADV_DATA}, SCAN_RSP: {RESP_DATA}}),
    # No scan response given: still scannable, as MicroPython's other
    # implementations advertise (their ble_gap_advertise test expects it).
    (None, {ADV_SCAN_IND: {ADV_DATA}, SCAN_RSP: {b''}}),
    # Scan response explicitly cleared: a pure broadcaster.
    (b'', {ADV_NONCONN_IND: {ADV_DATA}}),
], ids=['scannable', 'default', 'nonconn'])
def test_non_connectable_advertising_types(central: Board, peripheral: Board,
                                           resp_data: bytes | None,
                                           expected: dict[int, set[bytes]]) -> None:
    setup_pair(central, peripheral)
    advertise(peripheral, ADV_DATA, resp_data, connectable=False)
    assert by_type(scan_results(central, 1.0, active=True)) == expected


@pytest.mark.api(methods=['gap_advertise', 'gap_connect'],
                 events=['_IRQ_PERIPHERAL_DISCONNECT'])
def test_non_connectable_advertiser_cannot_be_connected(
        central: Board, peripheral: Board) -> None:
    addr_type, addr = setup_pair(central, peripheral)
    advertise(peripheral, ADV_DATA, connectable=False)
    central.exec(f'ble.gap_connect({addr_type}, {addr!r}, 600)')
    failed = central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT', timeout=10)
    assert failed.data[1:] == (addr_type, addr)
    assert not [e for e in central.events if e.code == 7]
    # A scan's SCAN_DONE comes after any connect event the peripheral's host
    # had queued or taken from its controller (one ring, in order).
    scan_marker(peripheral)
    assert not [e for e in peripheral.take_events() if e.code == 1]


@pytest.mark.api(methods=['gap_advertise', 'gap_scan'], events=['_IRQ_SCAN_RESULT'])
def test_none_payload_reuses_and_empty_payload_clears(
        central: Board, peripheral: Board) -> None:
    setup_pair(central, peripheral)
    advertise(peripheral, ADV_DATA, RESP_DATA)
    peripheral.exec('ble.gap_advertise(None)')
    peripheral.exec('ble.gap_advertise(20000)')  # adv_data and resp_data None: reuse both
    assert by_type(scan_results(central, 0.6, active=True)) == \
        {ADV_IND: {ADV_DATA}, SCAN_RSP: {RESP_DATA}}
    peripheral.exec('ble.gap_advertise(20000, b"")')  # clear adv_data, resp_data reused
    assert by_type(scan_results(central, 0.6, active=True)) == \
        {ADV_IND: {b''}, SCAN_RSP: {RESP_DATA}}
    peripheral.exec('ble.gap_advertise(20000, None, resp_data=b"")')
    found = by_type(scan_results(central, 0.6, active=True))
    assert found.get(ADV_IND) == {b''} and found.get(SCAN_RSP, {b''}) == {b''}
    # Any buffer-protocol object: bytearray, memoryview, str.
    for expression, value in (('bytearray(b"\\x02\\x01\\x06")', b'\x02\x01\x06'),
                              ('memoryview(b"\\x03\\x09ab")', b'\x03\x09ab'),
                              ('"\\x03\\x09xy"', b'\x03\x09xy')):
        peripheral.exec(f'ble.gap_advertise(20000, {expression})')
        assert by_type(scan_results(central, 0.5)) == {ADV_IND: {value}}, expression


@pytest.mark.api(methods=['gap_advertise', 'gap_scan'], events=['_IRQ_SCAN_RESULT'])
def test_gap_advertise_none_stops(central: Board, peripheral: Board) -> None:
    setup_pair(central, peripheral)
    advertise(peripheral, ADV_DATA)
    assert scan_results(central, 0.5)
    peripheral.exec('ble.gap_advertise(None)')
    assert scan_results(central, 1.0) == []
    peripheral.exec('ble.gap_advertise(None)')  # stopping twice is harmless
    assert scan_results(central, 0.3) == []


@pytest.mark.api(methods=['gap_advertise'])
def test_advertise_interval_rounds_down_to_625_us(
        central: Board, radio: Radio) -> None:
    up(central)
    assert central.controller is not None
    advertiser = radio.controller(central.controller).le_legacy_advertiser

    def interval_units() -> int:
        return radio.call(lambda: (advertiser.advertising_interval_min,
                                   advertiser.advertising_interval_max))

    for interval_us, units in ((20000, 32), (100624, 160), (100625, 161), (10240000, 16384)):
        central.exec(f'ble.gap_advertise({interval_us}, b"")')
        # Re-read the advertiser (HCI_Reset or a restart may have replaced it).
        advertiser = radio.controller(central.controller).le_legacy_advertiser
        assert interval_units() == (units, units), interval_us
        central.exec('ble.gap_advertise(None)')


@pytest.mark.api(methods=['gap_advertise'])
def test_advertise_argument_errors(central: Board) -> None:
    up(central)
    for code in ('ble.gap_advertise(20000, bytes(32))',
                 'ble.gap_advertise(20000, b"", resp_data=bytes(32))',
                 'ble.gap_advertise(19999, b"")',       # 31.99 units -> 31 < 32
                 'ble.gap_advertise(10240625, b"")',    # 16385 units > 0x4000
                 'ble.gap_advertise(-20000, b"")'):
        assert central.raises(code) == 'ValueError', code
    for code in ('ble.gap_advertise("20000", b"")',
                 'ble.gap_advertise(20000, 5)',
                 'ble.gap_advertise(20000, b"", resp_data=1.5)'):
        assert central.raises(code) == 'TypeError', code
    # Nothing half-applied: a good call still works afterwards.
    central.exec('ble.gap_advertise(20000, bytes(31), resp_data=bytes(31))')
    central.exec('ble.gap_advertise(None)')


@pytest.mark.api(methods=['gap_scan'], events=['_IRQ_SCAN_DONE', '_IRQ_SCAN_RESULT'])
def test_scan_duration_ends_with_exactly_one_scan_done(
        central: Board, peripheral: Board) -> None:
    setup_pair(central, peripheral)
    advertise(peripheral, ADV_DATA)
    started = time.monotonic()
    central.exec(f'ble.gap_scan(400, {FULL_SCAN})')
    central.wait_for_event('_IRQ_SCAN_DONE', timeout=10)
    elapsed = time.monotonic() - started
    assert 0.35 <= elapsed <= 5.0, f'SCAN_DONE after {elapsed:.2f} s for a 400 ms scan'
    # A failed connect's PERIPHERAL_DISCONNECT comes after any result the host
    # still raised after SCAN_DONE (one ring, in order); it raises no results.
    connect_marker(central)
    central.take_events()
    assert_scan_ended_once(central.events)
    assert len([e for e in central.events if e.code == 5]) >= 3


def assert_scan_ended_once(events: list) -> None:
    """Exactly one SCAN_DONE, and no result recorded after it."""
    codes = [e.code for e in events]
    assert codes.count(6) == 1, f'{codes.count(6)} SCAN_DONE events'
    assert 5 not in codes[codes.index(6):], 'results after SCAN_DONE'


@pytest.mark.api(methods=['gap_scan'], events=['_IRQ_SCAN_DONE', '_IRQ_SCAN_RESULT'])
def test_scan_zero_runs_until_stopped(central: Board, peripheral: Board) -> None:
    setup_pair(central, peripheral)
    advertise(peripheral, ADV_DATA)
    central.exec(f'ble.gap_scan(0, {FULL_SCAN})')
    time.sleep(2.5)  # past any default scan duration
    central.take_events()
    central.wait_for_event('_IRQ_SCAN_RESULT', timeout=2)  # results still come 2.5 s into scan(0)
    central.exec('ble.gap_scan(None)')
    central.wait_for_event('_IRQ_SCAN_DONE', timeout=5)
    # A failed connect's PERIPHERAL_DISCONNECT comes after any result the host
    # still raised after SCAN_DONE (one ring, in order); it raises no results.
    connect_marker(central)
    central.take_events()
    assert_scan_ended_once(central.events)
    # A new scan after the stop works and ends with its own SCAN_DONE.
    assert scan_results(central, 0.3)


@pytest.mark.api(methods=['gap_scan'])
def test_scan_argument_errors(central: Board) -> None:
    up(central)
    assert central.raises('ble.gap_scan(1000, 30000, 40000)') == 'ValueError'  # window > interval
    assert central.raises('ble.gap_scan(1000, 1000, 1000)') == 'ValueError'  # < 2.5 ms
    assert central.raises('ble.gap_scan(1000, 20000000, 11250)') == 'ValueError'  # > 10.24 s
    assert central.raises('ble.gap_scan(-1)') == 'ValueError'
    assert central.raises('ble.gap_scan("1000")') == 'TypeError'
    central.exec('ble.gap_scan(100, 30000, 30000, True)')
    central.wait_for_event('_IRQ_SCAN_DONE')


@pytest.mark.api(methods=['gap_scan', 'irq'], events=['_IRQ_SCAN_RESULT'])
def test_scan_result_memoryviews_are_read_only_and_copies_survive(
        central: Board, peripheral: Board) -> None:
    _, addr = setup_pair(central, peripheral)
    advertise(peripheral, ADV_DATA)
    central.exec(f'''
_seen = []
_target = {addr!r}
def _h(event, data):
    if event == 5:
        addr_type, addr, adv_type, rssi, adv_data = data
        if bytes(addr) != _target or len(_seen) >= 5:
            return
        kinds = (type(addr) is memoryview, type(adv_data) is memoryview)
        refused = 0
        for view in (addr, adv_data):
            try:
                view[0] = 0
            except TypeError:
                refused += 1
        _seen.append((kinds, refused, bytes(addr), bytes(adv_data)))
ble.irq(_h)
ble.gap_scan(500, {FULL_SCAN})
time.sleep_ms(1500)
''')
    seen = central.eval('_seen')
    assert len(seen) >= 2
    for kinds, refused, copied_addr, copied_data in seen:
        assert kinds == (True, True)
        assert refused == 2, 'a memoryview in a scan result was writable'
        assert (copied_addr, copied_data) == (addr, ADV_DATA)
