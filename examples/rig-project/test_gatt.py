"""Two boards over GATT: the peripheral serves a characteristic; the central
connects, finds it, reads it, writes it, and is notified of a new value."""
from __future__ import annotations

import pytest

from pytest_mpbt import Board

SETUP = '''
import bluetooth
ble = bluetooth.BLE()
ble.active(True)
SVC = bluetooth.UUID('8c5d0001-3d1e-4a8f-9a62-3f2c1e7b5a10')
CHR = bluetooth.UUID('8c5d0002-3d1e-4a8f-9a62-3f2c1e7b5a10')
'''
SERVE = '''
FLAGS = bluetooth.FLAG_READ | bluetooth.FLAG_WRITE | bluetooth.FLAG_NOTIFY
((value,),) = ble.gatts_register_services(((SVC, ((CHR, FLAGS),)),))
ble.gatts_write(value, b'hello')
ble.gap_advertise(20000, b'\\x02\\x01\\x06')
'''


def up(board: Board) -> None:
    board.exec(SETUP, timeout=20)
    board.attach_recorder('ble')


@pytest.mark.api(methods=['gatts_register_services', 'gattc_discover_characteristics',
                          'gattc_read', 'gattc_write', 'gatts_notify'],
                 events=['_IRQ_GATTC_READ_RESULT', '_IRQ_GATTS_WRITE', '_IRQ_GATTC_NOTIFY'])
def test_read_write_notify(central: Board, peripheral: Board) -> None:
    up(central)
    up(peripheral)
    peripheral.exec(SERVE)
    addr_type, addr = peripheral.eval('ble.config("mac")')

    central.exec(f'ble.gap_connect({addr_type}, {addr!r})')
    conn = central.wait_for_event('_IRQ_PERIPHERAL_CONNECT').data[0]
    peer_conn = peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT').data[0]

    central.exec(f'ble.gattc_discover_characteristics({conn}, 1, 65535)')
    central.wait_for_event('_IRQ_GATTC_CHARACTERISTIC_DONE')
    wanted = central.eval('bytes(CHR)')
    found = [e for e in central.take_events()
             if e.name == '_IRQ_GATTC_CHARACTERISTIC_RESULT' and e.data[4].raw == wanted]
    assert len(found) == 1, 'the characteristic is found once'
    handle = found[0].data[2]

    central.exec(f'ble.gattc_read({conn}, {handle})')
    assert central.wait_for_event('_IRQ_GATTC_READ_RESULT').data[2] == b'hello'

    central.exec(f'ble.gattc_write({conn}, {handle}, b"world", 1)')
    assert central.wait_for_event('_IRQ_GATTC_WRITE_DONE').data[2] == 0
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data[0] == peer_conn
    assert peripheral.eval('ble.gatts_read(value)') == b'world'

    peripheral.exec(f'ble.gatts_notify({peer_conn}, value, b"ping")')
    assert central.wait_for_event('_IRQ_GATTC_NOTIFY').data[1:] == (handle, b'ping')
