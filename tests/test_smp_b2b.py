"""Pairing board to board (issue 9), both sides ours: each LE Secure
Connections method with the passkey actions raised on both boards (a central
gets them too, unlike NimBLE-based ports), and a rejected comparison failing
on both sides with the Core's reason. Legacy pairing needs a peer without
Secure Connections: tests/test_smp.py pairs with bumble for that.
"""
from __future__ import annotations

import time

import pytest

from harness.board import Board
from harness.gap import up
from smp_board import SEEN, configure, connect_b2b, one_encryption_update

INPUT, DISPLAY, NUMCMP = 2, 3, 4
NUMERIC_COMPARISON_FAILED = 0x0c

# name: (central io, peripheral io, mitm, central action, peripheral action,
# authenticated)
METHODS = {
    'sc-just-works': (3, 3, False, None, None, 0),
    'sc-just-works-mitm-without-io': (3, 4, True, None, None, 0),
    'sc-numeric-comparison': (1, 4, True, NUMCMP, NUMCMP, 1),
    'sc-passkey-central-inputs': (2, 0, True, INPUT, DISPLAY, 1),
    'sc-passkey-peripheral-inputs': (4, 2, True, DISPLAY, INPUT, 1),
}


def answer_both(central: Board, peripheral: Board, conns: tuple[int, int],
                actions: tuple[int, int], accept: bool = True) -> None:
    """Do what each board's user is asked: show, type or compare."""
    events = [board.wait_for_event('_IRQ_PASSKEY_ACTION', timeout=10).data
              for board in (central, peripheral)]
    assert [e[:2] for e in events] == [(conns[0], actions[0]), (conns[1], actions[1])]
    if actions[0] == NUMCMP:
        assert events[0][2] == events[1][2]  # both show the same 6 digits
        central.exec(f'ble.gap_passkey({conns[0]}, {NUMCMP}, 1)')
        peripheral.exec(f'ble.gap_passkey({conns[1]}, {NUMCMP}, {int(accept)})')
        return
    shown = events[actions.index(DISPLAY)][2]
    assert 0 <= shown <= 999999
    for board, conn, action in zip((central, peripheral), conns, actions):
        board.exec(f'ble.gap_passkey({conn}, {action}, {shown})')


@pytest.mark.api(methods=['gap_pair', 'gap_passkey'],
                 events=['_IRQ_ENCRYPTION_UPDATE', '_IRQ_PASSKEY_ACTION'])
@pytest.mark.parametrize('method', list(METHODS))
def test_methods_board_to_board(central: Board, peripheral: Board, method: str) -> None:
    c_io, p_io, mitm, c_action, p_action, authenticated = METHODS[method]
    for board, io in ((central, c_io), (peripheral, p_io)):
        up(board)
        configure(board, io=io, mitm=mitm)
    conns = connect_b2b(central, peripheral)
    started = time.monotonic()
    central.exec(f'ble.gap_pair({conns[0]})')
    if c_action is not None:
        answer_both(central, peripheral, conns, (c_action, p_action))
    assert one_encryption_update(central) == (conns[0], 1, authenticated, 0, 16)
    print(f'time to pair ({method}, board to board): {SEEN[0] - started:.3f} s')
    assert one_encryption_update(peripheral) == (conns[1], 1, authenticated, 0, 16)
    assert not [e for e in central.take_events() + peripheral.take_events()
                if e.name == '_IRQ_PASSKEY_ACTION']


@pytest.mark.api(methods=['gap_passkey'], events=['_IRQ_ENCRYPTION_UPDATE'])
def test_rejected_comparison_fails_board_to_board(central: Board, peripheral: Board) -> None:
    for board in (central, peripheral):
        up(board)
        configure(board, io=1, mitm=True)
    conns = connect_b2b(central, peripheral)
    central.exec(f'ble.gap_pair({conns[0]})')
    answer_both(central, peripheral, conns, (NUMCMP, NUMCMP), accept=False)
    failed = (0, 0, 0, -NUMERIC_COMPARISON_FAILED)
    assert one_encryption_update(central) == (conns[0],) + failed
    assert one_encryption_update(peripheral) == (conns[1],) + failed
