"""Board-side snippets and small helpers shared by the GAP tests."""
from __future__ import annotations

from .board import Board, Event

PUBLIC, RANDOM = 0, 1
ABSENT = bytes.fromhex('02b1e00000ee')  # a public address nobody on the radio has
ADV_IND, ADV_DIRECT_IND, ADV_SCAN_IND, ADV_NONCONN_IND, SCAN_RSP = range(5)
# A scan that listens all the time (window == interval), so results come fast.
FULL_SCAN = '30000, 30000'
ADV_INTERVAL_US = 20000


def up(board: Board, *, attach: bool = True) -> None:
    """Import, activate, and attach the recorder as IRQ handler."""
    board.exec('import bluetooth, time, gc\nble = bluetooth.BLE()\nble.active(True)', timeout=20)
    if attach:
        board.attach_recorder('ble')


def mac(board: Board) -> tuple[int, bytes]:
    addr_type, addr = board.eval('ble.config("mac")')
    assert isinstance(addr, bytes) and len(addr) == 6
    return addr_type, addr


def listen_only_to(board: Board, addr: bytes | None) -> None:
    """Make the recorder keep only scan results from `addr` (None: all)."""
    board.exec(f'_mpbt_rec.scan_from = {addr!r}')


def advertise(board: Board, adv_data: bytes | None = b'', resp_data: bytes | None = None,
              connectable: bool = True, interval_us: int = ADV_INTERVAL_US) -> None:
    board.exec(f'ble.gap_advertise({interval_us}, {adv_data!r}, resp_data={resp_data!r}, '
               f'connectable={connectable!r})')


def scan_results(board: Board, seconds: float, active: bool = False) -> list[Event]:
    """Scan for `seconds` (full duty); return the SCAN_RESULT events recorded."""
    board.exec(f'ble.gap_scan({int(seconds * 1000)}, {FULL_SCAN}, {active!r})')
    board.wait_for_event('_IRQ_SCAN_DONE', timeout=seconds + 10)
    return [e for e in board.take_events() if e.code == 5]


def connect(central: Board, peripheral: Board, extra_args: str = '') -> tuple[int, int]:
    """`peripheral` advertises, `central` connects (gap_connect's positional
    arguments after the address in `extra_args`); returns (central's handle,
    peripheral's handle) after checking both connect events and their addresses."""
    advertise(peripheral)
    peer_type, peer_addr = mac(peripheral)
    own_type, own_addr = mac(central)
    tail = f', {extra_args}' if extra_args else ''
    central.exec(f'ble.gap_connect({peer_type}, {peer_addr!r}{tail})')
    done = central.wait_for_event('_IRQ_PERIPHERAL_CONNECT')
    accepted = peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT')
    assert done.data[1:] == (peer_type, peer_addr), f'central connected to {done}'
    assert accepted.data[1:] == (own_type, own_addr), f'peripheral accepted {accepted}'
    return done.data[0], accepted.data[0]


def disconnect(central: Board, peripheral: Board, central_handle: int,
               peripheral_handle: int) -> None:
    assert central.eval(f'ble.gap_disconnect({central_handle})') is True
    gone = central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
    left = peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    assert gone.data[0] == central_handle and left.data[0] == peripheral_handle


def top_bits(addr: bytes) -> int:
    """The two most significant bits of an address (MSB-first bytes)."""
    return addr[0] >> 6


# -- markers: events a board must raise after everything queued before them ------
# The module delivers every IRQ event from one ring, in the order the host
# raised them, and the host handles what its controller sent in order. An
# event caused after some action therefore comes after any event that action
# caused; waiting for it proves an absence instead of hoping a sleep was long
# enough.
def scan_marker(board: Board) -> None:
    """A 10 ms scan, waited for to its _IRQ_SCAN_DONE: the host raises it after
    every event it had queued, or took from its controller, before the scan."""
    board.exec(f'ble.gap_scan(10, {FULL_SCAN})')
    board.wait_for_event('_IRQ_SCAN_DONE')


def connect_marker(board: Board) -> None:
    """A 100 ms gap_connect to an address nobody has, waited for to its
    _IRQ_PERIPHERAL_DISCONNECT: raised after every event the host had queued,
    or took from its controller, before it; for checks about scan events
    (it raises no scan events itself)."""
    board.exec(f'ble.gap_connect({PUBLIC}, {ABSENT!r}, 100)')
    board.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT',
                         predicate=lambda e: e.data[1:] == (PUBLIC, ABSENT))
