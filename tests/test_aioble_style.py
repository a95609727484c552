"""An asyncio application in the manner of micropython-lib's aioble, on two
boards of each kind (issue 14): written by us (tests/board_apps), it uses the
module as aioble does. The peripheral serves a characteristic in capture mode
(flag bit 0x10000, each write's value read in its handler); the central
connects with gap_connect(..., None, None, None), discovers, reads, writes
with and without response, subscribes, receives a notification and an
indication, and pairs with bonding through a JSON store on the board's
filesystem. Both boards are then hard reset (machine.reset()) and the
central reconnects and re-encrypts from the stored keys: no new pairing, the
stores unchanged.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.board import Board

APPS = Path(__file__).resolve().parent / 'board_apps'
MODULES = ('minible.py', 'minible_apps.py')
SECRETS = '/minible_secrets.json'
APP_TIMEOUT_S = 90


def install(board: Board) -> None:
    """Copy the application's modules to the board's filesystem root and
    start from an empty store."""
    for name in MODULES:
        source = (APPS / name).read_text()
        board.exec(f'with open("/{name}", "w") as f:\n    f.write({source!r})')
    remove_secrets(board)


def remove_secrets(board: Board) -> None:
    board.exec(f'import os\ntry:\n    os.remove({SECRETS!r})\nexcept OSError:\n    pass')


def result(output: str, tag: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith(tag + ' ')]
    assert len(lines) == 1, output
    return ast.literal_eval(lines[0][len(tag) + 1:])


def run_both(central: Board, peripheral: Board, first: bool) -> tuple[dict, dict]:
    # The peripheral's address, from the board itself, before its app runs.
    addr_type, addr = peripheral.eval('__import__("bluetooth").BLE().active(True) and '
                                      '__import__("bluetooth").BLE().config("mac")')
    peripheral.start(f'import sys\nsys.path.insert(0, "/")\nimport minible_apps\n'
                     f'minible_apps.peripheral({SECRETS!r})')
    central.start(f'import sys\nsys.path.insert(0, "/")\nimport minible_apps\n'
                  f'minible_apps.central({SECRETS!r}, {addr_type}, {addr!r}, {first})')
    c_out = central.join(timeout=APP_TIMEOUT_S)
    p_out = peripheral.join(timeout=APP_TIMEOUT_S)
    return result(c_out, 'CENTRAL'), result(p_out, 'PERIPHERAL')


@pytest.mark.api(methods=['gap_connect', 'gattc_discover_services', 'gattc_discover_characteristics',
                          'gattc_discover_descriptors', 'gattc_read', 'gattc_write', 'gap_pair',
                          'gatts_register_services', 'gatts_read', 'gatts_write', 'gatts_notify',
                          'gatts_indicate', 'gap_advertise', 'gap_disconnect'],
                 events=['_IRQ_PERIPHERAL_CONNECT', '_IRQ_CENTRAL_CONNECT', '_IRQ_GATTS_WRITE',
                         '_IRQ_GATTC_NOTIFY', '_IRQ_GATTC_INDICATE', '_IRQ_GATTS_INDICATE_DONE',
                         '_IRQ_ENCRYPTION_UPDATE', '_IRQ_GET_SECRET', '_IRQ_SET_SECRET'])
def test_aioble_style_application_bonds_and_reconnects_after_reset(central: Board,
                                                                   peripheral: Board) -> None:
    for board in (central, peripheral):
        install(board)
    try:
        c, p = run_both(central, peripheral, first=True)
        assert c['props'] == (0x0e, 0x32)  # read|write_nr|write; read|notify|indicate
        assert c['read'] == (b'init', 0) and c['w1'] == 0
        assert c['subscribe'] == 0 and c['notify_written'] == 0 and c['indicate_written'] == 0
        assert c['notify'] == (c['note'], b'n1') and c['indicate'] == (c['note'], b'i1')
        # Encrypted, unauthenticated (Just Works), bonded, 16-octet key.
        assert c['pair'] == (1, 0, 1, 16) and p['updates'] == [(1, 0, 1, 16)]
        assert c['bye'] == 0 and c['stores'] > 0 and p['stores'] > 0
        # Capture mode: every write's own value, in order, with and without response.
        assert p['log'] == [b'w1', b'nr1', b'nr2', b'nr3', b'notify', b'indicate',
                            ('indicated', 0), b'bye']
        saved = {b: b.eval(f'open({SECRETS!r}).read()') for b in (central, peripheral)}
        assert all('"' in text for text in saved.values())  # JSON records, not empty
        for board in (central, peripheral):
            board.reset()
            assert board.eval('__import__("machine").reset_cause()') == 2  # HARD_RESET
        c, p = run_both(central, peripheral, first=False)
        # Re-encrypted with the stored key: bonded at once, nothing stored anew.
        assert c['pair'] == (1, 0, 1, 16) and p['updates'] == [(1, 0, 1, 16)]
        assert c['stores'] == 0 and p['stores'] == 0
        assert c['read'] == (b'init', 0) and c['bye'] == 0 and p['log'] == [b'bye']
        assert {b: b.eval(f'open({SECRETS!r}).read()') for b in (central, peripheral)} == saved
    finally:
        for board in (central, peripheral):
            remove_secrets(board)
