"""Every API method called from inside every kind of synchronous upcall
(issue 15, item 6), board to board.

The handlers whose answer matters run while the host is in the middle of
its work: _IRQ_GATTS_READ_REQUEST (an ATT read waits for the answer),
_IRQ_GATTS_WRITE (delivered from the host's loop as the write is
processed), _IRQ_L2CAP_ACCEPT (a channel request waits), _IRQ_GET_SECRET
and _IRQ_SET_SECRET (the Security Manager waits in the middle of a step).
From inside one of them the peripheral board calls all 26 methods, the
host-changing ones included (new services, disconnect, active(False) last).
Store upcalls must refuse every call that acts on the host (EBUSY); the
others may do what they do. Either way the board must stay consistent:
afterwards it activates again, serves a new GATT database, accepts a new
connection, answers a read and pairs.
"""
from __future__ import annotations

import pytest

from api_names import METHODS
from harness.board import Board
from harness.gap import connect, up
from smp_board import STORE, configure

F_READ, F_WRITE, F_READ_AUTHZ = 0x02, 0x08, 0x0800
EBUSY = 16
PSM = 0x81

# The peripheral's service: a read-authorized value (its reads raise
# _IRQ_GATTS_READ_REQUEST) and a writable one.
SERVICES = (f'((bluetooth.UUID(0x2FF0), ((bluetooth.UUID(0x3001), {F_READ | F_READ_AUTHZ}), '
            f'(bluetooth.UUID(0x3002), {F_READ | F_WRITE}))),)')

# Board side: each method once, in an order that leaves the most damaging
# calls for last; the outcome of each ('ok', an errno, or an exception name).
EVERY_CALL = '''
_SERVICES = %s
_CALLS = (
    ('irq', lambda c: ble.irq(_irq)),
    ('config', lambda c: ble.config(mtu=100)),
    ('gap_advertise', lambda c: ble.gap_advertise(None)),
    ('gap_scan', lambda c: ble.gap_scan(None)),
    ('gap_connect', lambda c: ble.gap_connect(None)),
    ('gatts_read', lambda c: ble.gatts_read(_h)),
    ('gatts_write', lambda c: ble.gatts_write(_h, b'x')),
    ('gatts_set_buffer', lambda c: ble.gatts_set_buffer(_h, 50)),
    ('gatts_notify', lambda c: ble.gatts_notify(c, _h, b'n')),
    ('gatts_indicate', lambda c: ble.gatts_indicate(c, _h, b'i')),
    ('gattc_discover_services', lambda c: ble.gattc_discover_services(c)),
    ('gattc_discover_characteristics', lambda c: ble.gattc_discover_characteristics(c, 1, 0xffff)),
    ('gattc_discover_descriptors', lambda c: ble.gattc_discover_descriptors(c, 1, 0xffff)),
    ('gattc_read', lambda c: ble.gattc_read(c, 3)),
    ('gattc_write', lambda c: ble.gattc_write(c, 3, b'x', 1)),
    ('gattc_exchange_mtu', lambda c: ble.gattc_exchange_mtu(c)),
    ('l2cap_listen', lambda c: ble.l2cap_listen(%d, 100)),
    ('l2cap_connect', lambda c: ble.l2cap_connect(c, %d, 100)),
    ('l2cap_send', lambda c: ble.l2cap_send(c, 0x40, b'x')),
    ('l2cap_recvinto', lambda c: ble.l2cap_recvinto(c, 0x40, None)),
    ('l2cap_disconnect', lambda c: ble.l2cap_disconnect(c, 0x40)),
    ('gap_passkey', lambda c: ble.gap_passkey(c, 3, 1)),
    ('gap_pair', lambda c: ble.gap_pair(c)),
    ('gatts_register_services', lambda c: ble.gatts_register_services(_SERVICES)),
    ('gap_disconnect', lambda c: ble.gap_disconnect(c)),
    ('active', lambda c: ble.active(False)),
)
_tried = {}
def _every(conn):
    for name, call in _CALLS:
        try:
            call(conn)
            _tried[name] = 'ok'
        except OSError as e:
            _tried[name] = e.errno
        except Exception as e:
            _tried[name] = type(e).__name__
def _irq(event, data):
    if event == _KIND and not _tried:
        _every(data[0] if event in (3, 4, 22) else _conn)
    if event in (29, 30):
        return _store_irq(event, data)
    if event in (4, 22):
        return 0
    return _mpbt_rec.irq(event, data)
'''


def trigger(kind: int, central: Board, c_conn: int, handles: tuple[int, int]) -> None:
    """Make the central cause one upcall of `kind` on the peripheral."""
    authorized, writable = handles
    if kind == 4:
        central.exec(f'ble.gattc_read({c_conn}, {authorized})')
    elif kind == 3:
        central.exec(f'ble.gattc_write({c_conn}, {writable}, b"w", 1)')
    elif kind == 22:
        central.exec(f'ble.l2cap_connect({c_conn}, {PSM}, 100)')
    else:  # 29, 30: pairing with bonding asks the store
        central.exec(f'ble.gap_pair({c_conn})')


@pytest.mark.api(methods=list(METHODS),
                 events=['_IRQ_GATTS_READ_REQUEST', '_IRQ_GATTS_WRITE', '_IRQ_L2CAP_ACCEPT',
                         '_IRQ_GET_SECRET', '_IRQ_SET_SECRET'])
@pytest.mark.parametrize('kind', [4, 3, 22, 29, 30])
def test_every_method_inside_every_upcall(central: Board, peripheral: Board, kind: int) -> None:
    for board in (central, peripheral):
        up(board)
        board.exec(STORE)
        configure(board, bond=True, le_secure=True)
    peripheral.exec(f'_KIND = {kind}\n_conn = 0\n' + EVERY_CALL % (SERVICES, PSM, PSM))
    peripheral.exec(f'(_h, _w), = ble.gatts_register_services({SERVICES})')
    handles = peripheral.eval('(_h, _w)')
    if kind == 22:
        peripheral.exec(f'ble.l2cap_listen({PSM}, 100)')
    c_conn, p_conn = connect(central, peripheral)
    peripheral.exec(f'_conn = {p_conn}\nble.irq(_irq)')
    trigger(kind, central, c_conn, handles)
    if kind in (29, 30):
        # Inside a store upcall everything that acts on the host is refused,
        # and the pairing it was part of completes.
        assert central.wait_for_event('_IRQ_ENCRYPTION_UPDATE', timeout=20).data[:4] == \
            (c_conn, 1, 0, 1)
        assert peripheral.wait_for_event('_IRQ_ENCRYPTION_UPDATE', timeout=20).data[:4] == \
            (p_conn, 1, 0, 1)
        tried = peripheral.eval('_tried')
        assert {k: v for k, v in tried.items() if v != EBUSY} == {'irq': 'ok'}, tried
        assert peripheral.eval('ble.active()') is True
        central.exec(f'ble.gap_disconnect({c_conn})')
    # Elsewhere the upcall's last call turned Bluetooth off.
    central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT', timeout=40)
    tried = peripheral.eval('_tried')
    assert sorted(tried) == sorted(METHODS), tried
    # Consistent afterwards: a new activation, database, connection, read
    # and pairing work as on a fresh board.
    peripheral.exec('ble.irq(_store_irq)\nble.active(True)')
    peripheral.exec(f'(_h, _w), = ble.gatts_register_services({SERVICES})\n'
                    f'ble.gatts_write(_w, b"fresh")')
    central.take_events()
    peripheral.take_events()
    c_conn, p_conn = connect(central, peripheral)
    writable = peripheral.eval('_w')
    central.exec(f'ble.gattc_read({c_conn}, {writable})')
    assert central.wait_for_event('_IRQ_GATTC_READ_RESULT').data == (c_conn, writable, b'fresh')
    central.exec(f'ble.gap_pair({c_conn})')
    assert central.wait_for_event('_IRQ_ENCRYPTION_UPDATE', timeout=20).data[:4] == (c_conn, 1, 0, 1)
    assert peripheral.wait_for_event('_IRQ_ENCRYPTION_UPDATE', timeout=20).data[:4] == \
        (p_conn, 1, 0, 1)
