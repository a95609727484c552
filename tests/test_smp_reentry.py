"""Python re-entering the host from inside synchronous upcalls (issue 15,
item 6): a store upcall (_IRQ_GET_SECRET / _IRQ_SET_SECRET) runs while the
Security Manager is in the middle of a step, so API calls made from its
handler are refused with OSError(EBUSY) and queued events are not
delivered inside it; nested synchronous upcalls (a read request handler
calling gap_pair, which asks the store) each get their own data tuple.
"""
from __future__ import annotations


import pytest

from harness.board import Board
from harness.gap import up
from smp_board import STORE, configure, one_encryption_update
from smp_peer import SmpPeer
from test_smp import board_as_peripheral

F_READ, F_READ_AUTHZ = 0x02, 0x0800
EBUSY = 16

# Every kind of API call a store handler might try, each recorded with
# the errno it raised (or 'ok').
TRY_ALL = '''
_tried = {}
def _try(name, f):
    try:
        f()
        _tried[name] = 'ok'
    except OSError as e:
        _tried[name] = e.errno
def _reenter():
    _try('gap_pair', lambda: ble.gap_pair(_conn))
    _try('gap_passkey', lambda: ble.gap_passkey(_conn, 3, 1))
    _try('gap_disconnect', lambda: ble.gap_disconnect(_conn))
    _try('gap_advertise', lambda: ble.gap_advertise(None))
    _try('gap_scan', lambda: ble.gap_scan(None))
    _try('gatts_write', lambda: ble.gatts_write(1, b'x'))
    _try('gattc_exchange_mtu', lambda: ble.gattc_exchange_mtu(_conn))
    _try('config', lambda: ble.config(mtu=100))
    _try('active_off', lambda: ble.active(False))
def _irq(event, data):
    if event in (29, 30) and not _tried:
        _reenter()
    return _store_irq(event, data)
ble.irq(_irq)
'''



@pytest.mark.api(methods=['gap_pair', 'active', 'config'],
                 events=['_IRQ_GET_SECRET', '_IRQ_SET_SECRET', '_IRQ_ENCRYPTION_UPDATE'])
def test_api_calls_inside_store_upcall_are_refused(peripheral: Board, smp_peer: SmpPeer) -> None:
    up(peripheral)
    peripheral.exec(STORE)
    configure(peripheral, bond=True)
    conn = board_as_peripheral(peripheral, smp_peer)
    peripheral.exec(f'_conn = {conn}')
    peripheral.exec(TRY_ALL)
    smp_peer.configure(bond=True)
    assert smp_peer.pair_result() == 0
    tried = peripheral.eval('_tried')
    assert tried and set(tried.values()) == {EBUSY}, tried
    # The host went on as if nothing had been tried: one pairing, bonded,
    # the board still active and the link up.
    assert one_encryption_update(peripheral) == (conn, 1, 0, 1, 16)
    assert peripheral.eval('ble.active()') is True
    assert smp_peer.encrypted()


@pytest.mark.api(methods=['gap_pair'], events=['_IRQ_GATTS_READ_REQUEST', '_IRQ_GET_SECRET'])
def test_nested_upcall_keeps_outer_data(peripheral: Board, smp_peer: SmpPeer) -> None:
    up(peripheral)
    peripheral.exec(STORE)
    configure(peripheral, bond=True)
    ((h,),) = peripheral.eval(
        f'ble.gatts_register_services(((bluetooth.UUID(0x2FF0), ((bluetooth.UUID(0x3001), '
        f'{F_READ | F_READ_AUTHZ}),)),))')
    peripheral.exec('''
_seen = []
def _irq(event, data):
    if event == 4:
        before = tuple(data)
        ble.gap_pair(data[0])  # asks the store for our identity: a nested upcall
        _seen.append((before, tuple(data)))
        return 0
    return _store_irq(event, data)
ble.irq(_irq)
''')
    conn = board_as_peripheral(peripheral, smp_peer)
    smp_peer.run(smp_peer.peer.read_value(h))
    seen = peripheral.eval('_seen')
    assert seen == [((conn, h), (conn, h))], seen


# API calls that change the host most, made from inside a read request
# handler (a synchronous upcall that may call the API).
IN_READ_REQUEST = ['ble.active(False)', 'ble.gap_disconnect(data[0])', 'ble.gap_pair(data[0])',
                   'ble.config(addr_mode=2)', 'ble.gatts_register_services(())']


@pytest.mark.api(methods=['active', 'gap_disconnect', 'gap_pair', 'config', 'gatts_register_services'],
                 events=['_IRQ_GATTS_READ_REQUEST'])
@pytest.mark.parametrize('call', IN_READ_REQUEST)
def test_api_inside_read_request_leaves_host_usable(peripheral: Board, smp_peer: SmpPeer,
                                                    call: str) -> None:
    up(peripheral)
    ((h,),) = peripheral.eval(
        f'ble.gatts_register_services(((bluetooth.UUID(0x2FF0), ((bluetooth.UUID(0x3001), '
        f'{F_READ | F_READ_AUTHZ}),)),))')
    peripheral.exec(f'''
_res = []
def _irq(event, data):
    if event == 4:
        try:
            {call}
            _res.append('ok')
        except OSError as e:
            _res.append(e.errno)
        return 0
    return _mpbt_rec.irq(event, data)
ble.irq(_irq)
''')
    board_as_peripheral(peripheral, smp_peer)
    try:
        smp_peer.run(smp_peer.peer.read_value(h), 5)
    except Exception:  # noqa: BLE001 - the call may have ended the link
        pass
    # The call ran (or was refused cleanly), and the host works after it:
    # active again, its services registered anew, advertising.
    assert len(peripheral.eval('_res')) == 1
    peripheral.exec('ble.active(True)')
    assert peripheral.eval('ble.active()') is True
    peripheral.exec('ble.irq(_mpbt_rec.irq)')
    ((h2,),) = peripheral.eval(
        f'ble.gatts_register_services(((bluetooth.UUID(0x2FF0), ((bluetooth.UUID(0x3001), '
        f'{F_READ}),)),))')
    peripheral.exec(f'ble.gatts_write({h2}, b"ok")')
    assert peripheral.eval(f'bytes(ble.gatts_read({h2}))') == b'ok'
    peripheral.exec('ble.gap_advertise(100000)')
    peripheral.exec('ble.gap_advertise(None)')
