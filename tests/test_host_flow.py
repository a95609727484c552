"""Controller-to-host flow control in the host: the controller may give the
host only as many ACL packets as its receive queue can hold beside events,
so a peer's flood never fills that queue, and a synchronous command issued
from a handler while the flood piles up gets its Command Complete (it timed
out after 2 s: the completion sat in the transport behind ACL data a full
queue could not take)."""
from __future__ import annotations

import struct
import time

import pytest

from harness.board import Board
from harness.gap import advertise, mac, up
from harness.peer import HciPeer

PB_FIRST = 0b00
ATT_CID = 4
ATT_WRITE_COMMAND = 0x52
SERVICE = ('((bluetooth.UUID(0x181C), ((bluetooth.UUID(0x2A3D), '
           'bluetooth.FLAG_WRITE_NO_RESPONSE),)),)')
# 27-octet ACL packets at LE 1M speed: about 1500 a second reach the board,
# so the handler's 400 ms pile up far more than the receive queue holds (1.5 KB).
FLOOD = 900
HANDLER = '''
_result = []
def _h(event, data):
    if event == 3 and not _result:
        time.sleep_ms(400)
        t0 = time.ticks_ms()
        try:
            ble.gap_advertise(100000, b'\\x02\\x01\\x06')
            _result.append((0, time.ticks_diff(time.ticks_ms(), t0)))
        except OSError as e:
            _result.append((e.errno, time.ticks_diff(time.ticks_ms(), t0)))
ble.irq(_h)
'''


def write_command(handle: int, value: bytes) -> bytes:
    att = struct.pack('<BH', ATT_WRITE_COMMAND, handle) + value
    return struct.pack('<HH', len(att), ATT_CID) + att


@pytest.mark.api(methods=['gap_advertise', 'irq'], events=['_IRQ_GATTS_WRITE'])
def test_a_synchronous_command_in_a_handler_completes_behind_a_flood(
        peripheral: Board, hci_peers: list[HciPeer]) -> None:
    board, peer = peripheral, hci_peers[0]
    up(board, attach=False)
    ((value,),) = board.eval(f'ble.gatts_register_services({SERVICE})')
    board.exec(HANDLER)
    advertise(board)
    peer.connect(*mac(board))
    handle = peer.connection_complete().connection_handle
    for index in range(FLOOD):
        peer.client.send_acl(handle, write_command(value, index.to_bytes(2, 'little') * 10),
                             PB_FIRST)
    deadline = time.monotonic() + 10
    while not (result := board.eval('_result')) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert result, 'the handler never ran'
    ((errno, elapsed_ms),) = result
    assert errno == 0, f'gap_advertise failed with errno {errno} after {elapsed_ms} ms'
    assert elapsed_ms < 1000, f'gap_advertise took {elapsed_ms} ms'
