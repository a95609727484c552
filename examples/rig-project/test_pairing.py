"""Two boards pair with LE Secure Connections, numeric comparison: both
boards show the same six digits, both users accept, and the link is
encrypted and authenticated on both sides."""
from __future__ import annotations

import pytest

from pytest_mpbt import Board

DISPLAY_YESNO = 1  # the io capability: a display and yes/no buttons
NUMERIC_COMPARISON = 4


def up(board: Board) -> None:
    board.exec('import bluetooth\nble = bluetooth.BLE()\nble.active(True)\n'
               f'ble.config(io={DISPLAY_YESNO}, mitm=True, le_secure=True, bond=False)',
               timeout=20)
    board.attach_recorder('ble')


@pytest.mark.api(methods=['gap_pair', 'gap_passkey'],
                 events=['_IRQ_PASSKEY_ACTION', '_IRQ_ENCRYPTION_UPDATE'])
def test_numeric_comparison(central: Board, peripheral: Board) -> None:
    up(central)
    up(peripheral)
    peripheral.exec('ble.gap_advertise(20000, b"\\x02\\x01\\x06")')
    addr_type, addr = peripheral.eval('ble.config("mac")')
    central.exec(f'ble.gap_connect({addr_type}, {addr!r})')
    conns = (central.wait_for_event('_IRQ_PERIPHERAL_CONNECT').data[0],
             peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT').data[0])

    central.exec(f'ble.gap_pair({conns[0]})')
    asked = [board.wait_for_event('_IRQ_PASSKEY_ACTION').data for board in (central, peripheral)]
    assert [a[1] for a in asked] == [NUMERIC_COMPARISON] * 2
    assert asked[0][2] == asked[1][2], 'both boards show the same number'
    for board, conn in zip((central, peripheral), conns):
        board.exec(f'ble.gap_passkey({conn}, {NUMERIC_COMPARISON}, 1)')

    for board, conn in zip((central, peripheral), conns):
        # (conn, encrypted, authenticated, bonded, key size)
        update = board.wait_for_event('_IRQ_ENCRYPTION_UPDATE').data
        assert update == (conn, 1, 1, 0, 16)
