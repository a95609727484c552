"""Pairing and bonding (issue 9): every pairing method against bumble's own
Security Manager (an independent SMP) with the board as peripheral and as
central, failures with the Core's reasons on both sides, the passkey
events, misbehaving peers, and legacy bonds with bumble. Bonds between two
boards: test_smp_bonds.py.
"""
from __future__ import annotations

import concurrent.futures
import queue
import time

import pytest

from harness.board import Board
from harness.gap import advertise, mac, up
from smp_board import ERRNO, configure, one_encryption_update, store_up
from smp_peer import SmpPeer

F_READ, F_READ_ENC, F_READ_AUTHN = 0x02, 0x0200, 0x0400
INPUT, DISPLAY, NUMCMP = 2, 3, 4
CONFIRM_VALUE_FAILED, AUTH_REQUIREMENTS, NUMERIC_COMPARISON_FAILED = 0x04, 0x03, 0x0c
REPEATED_ATTEMPTS = 0x09



def board_as_peripheral(board: Board, peer: SmpPeer) -> int:
    advertise(board)
    peer.connect(mac(board)[1], mac(board)[0])
    return board.wait_for_event('_IRQ_CENTRAL_CONNECT').data[0]


def board_as_central(board: Board, peer: SmpPeer) -> int:
    peer.advertise()
    board.exec(f'ble.gap_connect(0, {peer.info.address_bytes!r})')
    conn = board.wait_for_event('_IRQ_PERIPHERAL_CONNECT').data[0]
    peer.wait_incoming()
    return conn


def answer_user(board: Board, peer: SmpPeer, conn: int, action: int | None) -> None:
    """Do what the pairing method asks of the board's user (and bumble's)."""
    if action is None:
        return
    event = board.wait_for_event('_IRQ_PASSKEY_ACTION', timeout=10)
    assert event.data[:2] == (conn, action), event
    if action == DISPLAY:
        passkey = event.data[2]
        assert 0 <= passkey <= 999999
        peer.typed = passkey  # the user types what the board shows
        board.exec(f'ble.gap_passkey({conn}, {DISPLAY}, {passkey})')
    elif action == INPUT:
        if peer.typed is None:
            passkey = peer.shown.get(timeout=10)  # what bumble shows
        else:
            passkey = peer.typed
        board.exec(f'ble.gap_passkey({conn}, {INPUT}, {passkey})')
    else:
        assert event.data[2] == peer.shown.get(timeout=10)  # both show one value
        board.exec(f'ble.gap_passkey({conn}, {NUMCMP}, 1)')


# name: (sc, board io, bumble io, mitm, the board's action, authenticated)
METHODS = {
    'legacy-just-works': (False, 3, 3, False, None, 0),
    'legacy-passkey-board-displays': (False, 0, 2, True, DISPLAY, 1),
    'legacy-passkey-board-inputs': (False, 2, 0, True, INPUT, 1),
    'sc-just-works': (True, 3, 3, False, None, 0),
    'sc-numeric-comparison': (True, 1, 1, True, NUMCMP, 1),
    'sc-passkey-board-displays': (True, 4, 2, True, DISPLAY, 1),
    'sc-passkey-board-inputs': (True, 2, 4, True, INPUT, 1),
}


@pytest.mark.api(methods=['gap_passkey'],
                 events=['_IRQ_ENCRYPTION_UPDATE', '_IRQ_PASSKEY_ACTION'])
@pytest.mark.parametrize('method', list(METHODS))
def test_methods_board_peripheral(peripheral: Board, smp_peer: SmpPeer, method: str) -> None:
    sc, io, peer_io, mitm, action, authenticated = METHODS[method]
    up(peripheral)
    configure(peripheral, io=io, mitm=mitm)
    ((h,),) = peripheral.eval(
        f'ble.gatts_register_services(((bluetooth.UUID(0x2FF0), ((bluetooth.UUID(0x3001), '
        f'{F_READ | (F_READ_AUTHN if authenticated else F_READ_ENC)}),)),))')
    peripheral.exec(f'ble.gatts_write({h}, b"secret")')
    smp_peer.configure(io=peer_io, sc=sc, mitm=mitm, bond=False)
    conn = board_as_peripheral(peripheral, smp_peer)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = pool.submit(smp_peer.pair_result)
        answer_user(peripheral, smp_peer, conn, action)
        assert result.result(timeout=40) == 0
    assert one_encryption_update(peripheral) == (conn, 1, authenticated, 0, 16)
    assert smp_peer.encrypted()
    # The protected value is readable now.
    assert smp_peer.run(smp_peer.peer.read_value(h)) == b'secret'


@pytest.mark.api(methods=['gap_pair', 'gap_passkey'],
                 events=['_IRQ_ENCRYPTION_UPDATE', '_IRQ_PASSKEY_ACTION'])
@pytest.mark.parametrize('method', list(METHODS))
def test_methods_board_central(central: Board, smp_peer: SmpPeer, method: str) -> None:
    sc, io, peer_io, mitm, action, authenticated = METHODS[method]
    up(central)
    configure(central, io=io, mitm=mitm)
    smp_peer.configure(io=peer_io, sc=sc, mitm=mitm, bond=False)
    conn = board_as_central(central, smp_peer)
    smp_peer.expect_pairing()
    started = time.monotonic()
    central.exec(f'ble.gap_pair({conn})')
    answer_user(central, smp_peer, conn, action)
    update = central.wait_for_event('_IRQ_ENCRYPTION_UPDATE', timeout=10)
    print(f'time to pair ({method}, board central): {time.monotonic() - started:.3f} s')
    assert update.data == (conn, 1, authenticated, 0, 16)
    assert smp_peer.wait_pairing() == 0
    time.sleep(0.3)
    assert not [e for e in central.take_events() if e.name == '_IRQ_ENCRYPTION_UPDATE']
    assert smp_peer.encrypted()


@pytest.mark.api(methods=['gap_pair'], events=['_IRQ_ENCRYPTION_UPDATE'])
def test_board_peripheral_security_request(peripheral: Board, smp_peer: SmpPeer) -> None:
    # gap_pair as peripheral sends a Security Request; bumble pairs.
    up(peripheral)
    configure(peripheral)
    smp_peer.configure(sc=True)
    conn = board_as_peripheral(peripheral, smp_peer)
    smp_peer.pair_on_security_request()
    smp_peer.expect_pairing()
    peripheral.exec(f'ble.gap_pair({conn})')
    assert smp_peer.wait_pairing() == 0
    assert smp_peer.security_requests == 1
    assert one_encryption_update(peripheral) == (conn, 1, 0, 0, 16)


SECURITY_REQUEST_BOND_SC = bytes([0x0b, 0x09])


@pytest.mark.api(events=['_IRQ_ENCRYPTION_UPDATE', '_IRQ_SET_SECRET', '_IRQ_GET_SECRET'])
def test_board_central_answers_security_request(central: Board, smp_peer: SmpPeer) -> None:
    # A peripheral's Security Request: the board pairs (and bonds); on the
    # next connection the same request gets encryption with the stored key.
    store_up(central)
    smp_peer.configure(sc=True, bond=True)
    conn = board_as_central(central, smp_peer)
    smp_peer.expect_pairing()
    smp_peer.send_smp(SECURITY_REQUEST_BOND_SC)
    assert smp_peer.wait_pairing() == 0
    assert one_encryption_update(central) == (conn, 1, 0, 1, 16)
    saved = central.eval('_dump()')
    central.exec(f'ble.gap_disconnect({conn})')
    central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
    smp_peer.incoming = None
    conn = board_as_central(central, smp_peer)
    smp_peer.send_smp(SECURITY_REQUEST_BOND_SC)
    assert one_encryption_update(central) == (conn, 1, 0, 1, 16)
    assert smp_peer.encrypted()
    assert central.eval('_dump()') == saved  # no new pairing


@pytest.mark.api(methods=['gap_pair', 'gap_passkey'],
                 events=['_IRQ_ENCRYPTION_UPDATE', '_IRQ_PASSKEY_ACTION'])
@pytest.mark.parametrize('sc', [False, True], ids=['legacy', 'sc'])
def test_wrong_passkey_fails_on_both_sides(central: Board, smp_peer: SmpPeer, sc: bool) -> None:
    up(central)
    configure(central, io=2, mitm=True)
    smp_peer.configure(io=0, sc=sc, mitm=True, bond=False)
    conn = board_as_central(central, smp_peer)
    smp_peer.expect_pairing()
    central.exec(f'ble.gap_pair({conn})')
    event = central.wait_for_event('_IRQ_PASSKEY_ACTION', timeout=10)
    assert event.data[:2] == (conn, INPUT)
    shown = smp_peer.shown.get(timeout=10)
    central.exec(f'ble.gap_passkey({conn}, {INPUT}, {(shown + 1) % 1000000})')
    assert smp_peer.wait_pairing() == CONFIRM_VALUE_FAILED
    # encrypted 0; the reason in key_size, negated.
    assert one_encryption_update(central) == (conn, 0, 0, 0, -CONFIRM_VALUE_FAILED)
    assert not smp_peer.encrypted()
    # Repeated attempts (Core Vol 3 Part H 2.3.6): a new attempt must wait.
    central.exec(ERRNO)
    assert central.eval(f'_errno(lambda: ble.gap_pair({conn}))') == 11  # EAGAIN
    time.sleep(2.2)
    # 2 s later it is allowed: pairing starts (and asks for the passkey).
    central.exec(f'ble.gap_pair({conn})')
    assert central.wait_for_event('_IRQ_PASSKEY_ACTION', timeout=10).data[:2] == (conn, INPUT)


@pytest.mark.api(methods=['gap_passkey'], events=['_IRQ_ENCRYPTION_UPDATE', '_IRQ_PASSKEY_ACTION'])
def reject_comparison(peripheral: Board, smp_peer: SmpPeer) -> int:
    """Numeric comparison with the board as peripheral, whose user rejects
    it: both sides fail with 0x0c. The link's handle."""
    up(peripheral)
    configure(peripheral, io=1, mitm=True)
    smp_peer.configure(io=1, sc=True, mitm=True, bond=False)
    conn = board_as_peripheral(peripheral, smp_peer)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = pool.submit(smp_peer.pair_result)
        event = peripheral.wait_for_event('_IRQ_PASSKEY_ACTION', timeout=10)
        assert event.data[:2] == (conn, NUMCMP) and 0 <= event.data[2] <= 999999
        peripheral.exec(f'ble.gap_passkey({conn}, {NUMCMP}, 0)')
        assert result.result(timeout=40) == NUMERIC_COMPARISON_FAILED
    assert one_encryption_update(peripheral) == (conn, 0, 0, 0, -NUMERIC_COMPARISON_FAILED)
    return conn


def test_rejected_comparison_fails_on_both_sides(peripheral: Board, smp_peer: SmpPeer) -> None:
    reject_comparison(peripheral, smp_peer)
    # At once again: Repeated Attempts, and nothing for the application.
    assert smp_peer.pair_result() == REPEATED_ATTEMPTS
    assert not [e for e in peripheral.take_events() if e.name in ('_IRQ_ENCRYPTION_UPDATE',
                                                                 '_IRQ_PASSKEY_ACTION')]


@pytest.mark.api(methods=['gap_passkey'], events=['_IRQ_ENCRYPTION_UPDATE',
                                                  '_IRQ_CENTRAL_DISCONNECT'])
def test_repeated_attempts_survive_a_reconnect(peripheral: Board, smp_peer: SmpPeer) -> None:
    # Issue 15 item 11: the waiting interval belongs to the peer, not the
    # link (Core Vol 3 Part H 2.3.6), so guessing costs more than a reconnect.
    reject_comparison(peripheral, smp_peer)
    smp_peer.disconnect()
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    board_as_peripheral(peripheral, smp_peer)  # the same address, a new link
    assert smp_peer.pair_result() == REPEATED_ATTEMPTS
    assert not [e for e in peripheral.take_events() if e.name in ('_IRQ_ENCRYPTION_UPDATE',
                                                                 '_IRQ_PASSKEY_ACTION')]


@pytest.mark.api(methods=['gap_pair'], events=['_IRQ_ENCRYPTION_UPDATE'])
@pytest.mark.parametrize('role', ['peripheral', 'central'])
def test_le_secure_refuses_legacy(boards: tuple[Board, Board], smp_peer: SmpPeer, role: str) -> None:
    board = boards[1] if role == 'peripheral' else boards[0]
    up(board)
    configure(board, le_secure=True)
    smp_peer.configure(sc=False, bond=False)
    if role == 'peripheral':
        conn = board_as_peripheral(board, smp_peer)
        assert smp_peer.pair_result() == AUTH_REQUIREMENTS
    else:
        conn = board_as_central(board, smp_peer)
        smp_peer.expect_pairing()
        board.exec(f'ble.gap_pair({conn})')
        assert smp_peer.wait_pairing() == AUTH_REQUIREMENTS
    assert one_encryption_update(board) == (conn, 0, 0, 0, -AUTH_REQUIREMENTS)


@pytest.mark.api(methods=['gap_pair', 'gap_passkey'])
def test_pair_and_passkey_errors(central: Board) -> None:
    up(central)
    central.exec(ERRNO)
    assert central.eval('_errno(lambda: ble.gap_pair(5))') == 107  # ENOTCONN
    assert central.eval('_errno(lambda: ble.gap_passkey(5, 2, 1))') == 107
    assert 'ValueError' in central.raises('ble.gap_passkey(5, 9, 0)')
    assert 'ValueError' in central.raises('ble.gap_passkey(5, 2, 1000000)')
    central.exec('ble.active(False)')
    assert central.eval('_errno(lambda: ble.gap_pair(0))') == 1  # EPERM


# -- misbehaving peers ----------------------------------------------------------------
PAIRING_REQUEST_SC_JW = bytes([0x01, 0x03, 0x00, 0x08, 0x10, 0x00, 0x00])


def raw_peer_on_board(peripheral: Board, peer: SmpPeer) -> int:
    up(peripheral)
    peripheral.exec(ERRNO)
    configure(peripheral)
    conn = board_as_peripheral(peripheral, peer)
    peer.take_smp_channel()
    return conn


@pytest.mark.api(events=['_IRQ_ENCRYPTION_UPDATE'])
def test_out_of_order_and_malformed_pdus_are_refused(peripheral: Board, smp_peer: SmpPeer) -> None:
    conn = raw_peer_on_board(peripheral, smp_peer)
    # No pairing going on: a Confirm is out of order, a short Pairing
    # Request malformed, an unknown code not supported.
    smp_peer.send_smp(bytes([0x03]) + bytes(16))
    assert smp_peer.smp_rx() == bytes([0x05, 0x08])
    smp_peer.send_smp(PAIRING_REQUEST_SC_JW[:3])
    assert smp_peer.smp_rx() == bytes([0x05, 0x0a])
    smp_peer.send_smp(bytes([0x3f, 0x00]))
    assert smp_peer.smp_rx() == bytes([0x05, 0x07])
    # In a pairing: a DHKey Check instead of the Public Key ends it.
    smp_peer.send_smp(PAIRING_REQUEST_SC_JW)
    assert smp_peer.smp_rx()[0] == 0x02
    smp_peer.send_smp(bytes([0x0d]) + bytes(16))
    assert smp_peer.smp_rx() == bytes([0x05, 0x08])
    assert one_encryption_update(peripheral) == (conn, 0, 0, 0, -0x08)


@pytest.mark.api(events=['_IRQ_ENCRYPTION_UPDATE'])
def test_invalid_public_key_is_rejected(peripheral: Board, smp_peer: SmpPeer) -> None:
    # A point off the curve (the invalid-curve attack): no DHKey, pairing
    # fails with DHKey Check Failed.
    conn = raw_peer_on_board(peripheral, smp_peer)
    smp_peer.send_smp(PAIRING_REQUEST_SC_JW)
    assert smp_peer.smp_rx()[0] == 0x02
    smp_peer.send_smp(bytes([0x0c]) + (1).to_bytes(32, 'little') + (1).to_bytes(32, 'little'))
    seen = []
    while not seen or seen[-1][0] != 0x05:
        seen.append(smp_peer.smp_rx())
    assert seen[-1] == bytes([0x05, 0x0b]), seen
    assert one_encryption_update(peripheral) == (conn, 0, 0, 0, -0x0b)
    assert not smp_peer.encrypted()


@pytest.mark.api(events=['_IRQ_ENCRYPTION_UPDATE'])
def test_smp_timeout_ends_pairing_on_the_link(peripheral: Board, smp_peer: SmpPeer) -> None:
    conn = raw_peer_on_board(peripheral, smp_peer)
    smp_peer.send_smp(PAIRING_REQUEST_SC_JW)
    assert smp_peer.smp_rx()[0] == 0x02
    # The peer goes silent: after 30 s the pairing ends (-0x200), and the
    # link takes no more SMP (Core Vol 3 Part H 3.4).
    update = peripheral.wait_for_event('_IRQ_ENCRYPTION_UPDATE', timeout=40)
    assert update.data == (conn, 0, 0, 0, -0x200)
    smp_peer.send_smp(PAIRING_REQUEST_SC_JW)
    with pytest.raises(queue.Empty):
        smp_peer.smp_rx(timeout=1.0)
    assert peripheral.eval(f'_errno(lambda: ble.gap_pair({conn}))') == 110  # ETIMEDOUT


# -- legacy bonds with bumble, re-encrypted after the board's soft reset ---------
@pytest.mark.api(methods=['gap_pair'],
                 events=['_IRQ_ENCRYPTION_UPDATE', '_IRQ_GET_SECRET', '_IRQ_SET_SECRET'])
def test_legacy_bond_board_peripheral_reencrypts_after_reset(peripheral: Board,
                                                             smp_peer: SmpPeer) -> None:
    store_up(peripheral)
    smp_peer.configure(sc=False, bond=True)
    conn = board_as_peripheral(peripheral, smp_peer)
    assert smp_peer.pair_result() == 0
    assert one_encryption_update(peripheral) == (conn, 1, 0, 1, 16)
    saved = peripheral.eval('_dump()')
    smp_peer.disconnect()
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    peripheral.soft_reset()
    store_up(peripheral, saved)
    conn = board_as_peripheral(peripheral, smp_peer)
    # bumble encrypts with the LTK the board distributed (EDIV, Rand): the
    # board finds it in the store and answers; no pairing.
    smp_peer.run(smp_peer.connection.encrypt())
    assert one_encryption_update(peripheral) == (conn, 1, 0, 1, 16)
    assert smp_peer.encrypted()
    assert peripheral.eval('_dump()') == saved


@pytest.mark.api(methods=['gap_pair'],
                 events=['_IRQ_ENCRYPTION_UPDATE', '_IRQ_GET_SECRET', '_IRQ_SET_SECRET'])
def test_legacy_bond_board_central_reencrypts_after_reset(central: Board,
                                                          smp_peer: SmpPeer) -> None:
    store_up(central)
    smp_peer.configure(sc=False, bond=True)
    conn = board_as_central(central, smp_peer)
    smp_peer.expect_pairing()
    central.exec(f'ble.gap_pair({conn})')
    assert smp_peer.wait_pairing() == 0
    assert one_encryption_update(central) == (conn, 1, 0, 1, 16)
    saved = central.eval('_dump()')
    central.exec(f'ble.gap_disconnect({conn})')
    central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
    central.soft_reset()
    store_up(central, saved)
    smp_peer.incoming = None
    conn = board_as_central(central, smp_peer)
    central.exec(f'ble.gap_pair({conn})')
    assert one_encryption_update(central) == (conn, 1, 0, 1, 16)
    assert smp_peer.encrypted()
    assert central.eval('_dump()') == saved
