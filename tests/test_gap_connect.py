"""Connecting and disconnecting between two boards (and raw HCI peers): the
events on both sides, gap_disconnect's return value, timeouts and cancel,
connection intervals on the link, connection updates, argument errors."""
from __future__ import annotations

import time

import pytest

from harness.board import Board
from harness.gap import ABSENT, PUBLIC, advertise, connect, disconnect, mac, scan_marker, up
from harness.peer import HciPeer
from tools.radio import Radio


def pair(central: Board, peripheral: Board) -> None:
    up(central)
    up(peripheral)


@pytest.mark.api(methods=['gap_connect', 'gap_disconnect', 'gap_advertise'],
                 events=['_IRQ_PERIPHERAL_CONNECT', '_IRQ_CENTRAL_CONNECT',
                         '_IRQ_PERIPHERAL_DISCONNECT', '_IRQ_CENTRAL_DISCONNECT'])
def test_connect_then_central_disconnects(central: Board, peripheral: Board) -> None:
    pair(central, peripheral)
    c_handle, p_handle = connect(central, peripheral)
    c_type, c_addr = mac(central)
    p_type, p_addr = mac(peripheral)
    assert central.eval(f'ble.gap_disconnect({c_handle})') is True
    gone = central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
    left = peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    assert gone.data == (c_handle, p_type, p_addr)
    assert left.data == (p_handle, c_type, c_addr)
    # Closed handle, and one that never existed.
    assert central.eval(f'ble.gap_disconnect({c_handle})') is False
    assert central.eval(f'ble.gap_disconnect({(c_handle + 0x55) & 0xEFF})') is False
    assert peripheral.eval(f'ble.gap_disconnect({p_handle})') is False


@pytest.mark.api(methods=['gap_connect', 'gap_disconnect'],
                 events=['_IRQ_PERIPHERAL_DISCONNECT', '_IRQ_CENTRAL_DISCONNECT'])
def test_peripheral_disconnects(central: Board, peripheral: Board) -> None:
    pair(central, peripheral)
    c_handle, p_handle = connect(central, peripheral)
    assert peripheral.eval(f'ble.gap_disconnect({p_handle})') is True
    left = peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    gone = central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
    assert left.data == (p_handle, *mac(central))
    assert gone.data == (c_handle, *mac(peripheral))
    # Both can connect again.
    connect(central, peripheral)


@pytest.mark.api(methods=['gap_connect'], events=['_IRQ_PERIPHERAL_DISCONNECT'])
def test_absent_peer_ends_in_peripheral_disconnect_after_scan_duration(central: Board) -> None:
    up(central)
    started = time.monotonic()
    central.exec(f'ble.gap_connect({PUBLIC}, {ABSENT!r}, 800)')
    failed = central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT', timeout=10)
    elapsed = time.monotonic() - started
    assert 0.7 <= elapsed <= 4.0, f'gave up after {elapsed:.2f} s for scan_duration_ms=800'
    assert failed.data[1:] == (PUBLIC, ABSENT)
    assert not [e for e in central.events if e.code == 7]
    # The central can try again (nothing left pending).
    central.exec(f'ble.gap_connect({PUBLIC}, {ABSENT!r}, 200)')
    central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT', timeout=10)


@pytest.mark.api(methods=['gap_connect'], events=['_IRQ_PERIPHERAL_DISCONNECT'])
def test_gap_connect_none_cancels(central: Board, peripheral: Board) -> None:
    pair(central, peripheral)
    central.exec(f'ble.gap_connect({PUBLIC}, {ABSENT!r}, 30000)')
    time.sleep(0.3)
    started = time.monotonic()
    central.exec('ble.gap_connect(None)')
    cancelled = central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT', timeout=5)
    assert time.monotonic() - started < 3.0
    assert cancelled.data[1:] == (PUBLIC, ABSENT)
    # A scan's SCAN_DONE comes after any connect event the host had queued or
    # taken from its controller for the cancelled attempt (one ring, in order).
    scan_marker(central)
    assert [e for e in central.take_events() if e.code in (7, 8)] == []
    # A new attempt works right away.
    connect(central, peripheral)


@pytest.mark.api(methods=['gap_connect'], events=['_IRQ_PERIPHERAL_CONNECT'])
def test_connection_interval_arguments_reach_the_link(
        central: Board, peripheral: Board, radio: Radio) -> None:
    pair(central, peripheral)
    assert central.controller is not None and peripheral.controller is not None

    def link_intervals() -> tuple[int, int]:
        [c_link] = radio.connections(central.controller)
        [p_link] = radio.connections(peripheral.controller)
        assert c_link.parameters is not None and p_link.parameters is not None
        assert c_link.parameters == p_link.parameters
        return c_link.parameters.interval, c_link.parameters.timeout

    # min == max: exactly that interval (1.25 ms units); the radio takes the minimum.
    for extra, low, high in (('2000, 15000, 15000', 12, 12),
                             ('2000, 100000, 100000', 80, 80),
                             ('2000, 30000, 50000', 24, 40),
                             ('2000, 45000', 36, 36),            # only the minimum given
                             ('', 24, 40)):                      # default: 30-50 ms
        c_handle, p_handle = connect(central, peripheral, extra)
        interval, timeout = link_intervals()
        assert low <= interval <= high, (extra, interval)
        # The supervision timeout chosen must be valid for it (Core spec rule).
        assert timeout * 8 > interval * 2
        disconnect(central, peripheral, c_handle, p_handle)


@pytest.mark.api(methods=['gap_connect'])
def test_connect_argument_errors(central: Board) -> None:
    up(central)
    for code in (f'ble.gap_connect(0, {bytes(5)!r})',              # address too short
                 f'ble.gap_connect(0, {bytes(7)!r})',              # address too long
                 f'ble.gap_connect(4, {ABSENT!r})',                # no such address type
                 f'ble.gap_connect(0, {ABSENT!r}, 2000, 50000, 30000)',  # min > max
                 f'ble.gap_connect(0, {ABSENT!r}, 2000, 5000, 5000)',    # < 7.5 ms
                 f'ble.gap_connect(0, {ABSENT!r}, 2000, 7500, 5000000)',  # > 4 s
                 f'ble.gap_connect(0, {ABSENT!r}, -5)'):
        assert central.raises(code) == 'ValueError', code
    for code in (f'ble.gap_connect("0", {ABSENT!r})',
                 'ble.gap_connect(0, 123456)',
                 f'ble.gap_connect(0, {ABSENT!r}, "2000")',
                 'ble.gap_disconnect("1")',
                 'ble.gap_disconnect(None)'):
        assert central.raises(code) == 'TypeError', code
    # A second attempt while one is pending is refused; the first still ends.
    central.exec(f'ble.gap_connect(0, {ABSENT!r}, 500)')
    assert central.raises(f'ble.gap_connect(0, {ABSENT!r}, 500)') == 'OSError'
    central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT', timeout=10)
    central.exec('ble.active(False)')
    assert central.raises(f'ble.gap_connect(0, {ABSENT!r})') == 'OSError'
    assert central.raises('ble.gap_advertise(20000)') == 'OSError'
    assert central.raises('ble.gap_scan(100)') == 'OSError'


@pytest.mark.api(methods=['gap_advertise'],
                 events=['_IRQ_CONNECTION_UPDATE', '_IRQ_CENTRAL_CONNECT'])
def test_connection_update_from_the_central_reaches_the_peripheral_board(
        peripheral: Board, hci_peers: list[HciPeer]) -> None:
    up(peripheral)
    advertise(peripheral)
    peer = hci_peers[0]
    peer.connect(*mac(peripheral), interval=0x28, latency=0, timeout=0x100)
    handle = peer.connection_complete().connection_handle
    accepted = peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT')
    assert accepted.data[1:] == (PUBLIC, peer.address_bytes)
    board_handle = accepted.data[0]
    peer.update(handle, interval=0x50, latency=3, timeout=0x280)
    assert peer.update_complete().status == 0
    update = peripheral.wait_for_event('_IRQ_CONNECTION_UPDATE')
    assert update.data == (board_handle, 0x50, 3, 0x280, 0)
    # A second update: the new values each time.
    peer.update(handle, interval=0x18, latency=0, timeout=0x64)
    update = peripheral.wait_for_event('_IRQ_CONNECTION_UPDATE')
    assert update.data == (board_handle, 0x18, 0, 0x64, 0)
    peer.disconnect(handle)
    assert peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT').data[0] == board_handle


@pytest.mark.api(methods=['gap_connect'],
                 events=['_IRQ_CONNECTION_UPDATE', '_IRQ_PERIPHERAL_CONNECT'])
def test_connection_update_by_the_peripheral_reaches_the_central_board(
        central: Board, hci_peers: list[HciPeer]) -> None:
    up(central)
    peer = hci_peers[0]
    peer.advertise()
    central.exec(f'ble.gap_connect(0, {peer.address_bytes!r}, 2000, 30000, 30000)')
    done = central.wait_for_event('_IRQ_PERIPHERAL_CONNECT')
    handle = peer.connection_complete().connection_handle
    peer.update(handle, interval=0x40, latency=1, timeout=0x200)
    update = central.wait_for_event('_IRQ_CONNECTION_UPDATE')
    assert update.data == (done.data[0], 0x40, 1, 0x200, 0)
