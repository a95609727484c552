"""Board-side pieces of the pairing tests: a store in aioble's manner in
front of the harness's recorder, the pairing configuration, and helpers for
bonding two boards.
"""
from __future__ import annotations

import time

from harness.board import Board
from harness.gap import advertise, mac, scan_marker, up

# An IRQ handler with a store in aioble's manner (a dict of (sec_type, key)
# -> value; a GET_SECRET with key None counts records of the type), in
# front of the harness's recorder.
STORE = '''
_secrets = {}
def _store_irq(event, data):
    if event == 29:
        sec_type, index, key = data
        if key is None:
            i = 0
            for (t, _k), v in _secrets.items():
                if t == sec_type:
                    if i == index:
                        return v
                    i += 1
            return None
        return _secrets.get((sec_type, bytes(key)), None)
    if event == 30:
        sec_type, key, value = data
        k = (sec_type, bytes(key))
        if value is None:
            _secrets.pop(k, None)
        else:
            _secrets[k] = bytes(value)
        return True
    return _mpbt_rec.irq(event, data)
ble.irq(_store_irq)
'''

ERRNO = 'def _errno(f):\n    try:\n        f()\n    except OSError as e:\n        return e.errno\n'


def configure(board: Board, io: int = 3, mitm: bool = False, le_secure: bool = False,
              bond: bool = False) -> None:
    board.exec(f'ble.config(io={io}, mitm={mitm}, le_secure={le_secure}, bond={bond})')


SEEN = [0.0]  # when the last one_encryption_update() saw its event


def one_encryption_update(board: Board) -> tuple:
    update = board.wait_for_event('_IRQ_ENCRYPTION_UPDATE', timeout=10)
    SEEN[0] = time.monotonic()
    scan_marker(board)  # every event raised before it has been delivered
    assert not [e for e in board.take_events() if e.name == '_IRQ_ENCRYPTION_UPDATE']
    return update.data


SECRETS_JSON = '''
import json, binascii
def _dump():
    return json.dumps([[t, binascii.b2a_base64(k).decode(), binascii.b2a_base64(v).decode()]
                       for (t, k), v in _secrets.items()])
def _load(text):
    for t, k, v in json.loads(text):
        _secrets[(t, binascii.a2b_base64(k))] = binascii.a2b_base64(v)
'''


def bonded_boards(central: Board, peripheral: Board, mitm: bool = False) -> None:
    for board in (central, peripheral):
        up(board)
        board.exec(STORE + SECRETS_JSON)
        configure(board, bond=True, le_secure=True, mitm=mitm)


def connect_b2b(central: Board, peripheral: Board) -> tuple[int, int]:
    advertise(peripheral)
    addr_type, addr = mac(peripheral)
    central.exec(f'ble.gap_connect({addr_type}, {addr!r})')
    c_conn = central.wait_for_event('_IRQ_PERIPHERAL_CONNECT').data[0]
    p_conn = peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT').data[0]
    return c_conn, p_conn


def store_up(board: Board, saved: str | None = None) -> None:
    up(board)
    board.exec(STORE + SECRETS_JSON)
    if saved is not None:
        board.exec(f'_load({saved!r})')
        board.exec('ble.irq(_store_irq)')
    configure(board, bond=True)
