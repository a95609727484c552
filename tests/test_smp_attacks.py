"""Pairing against an attacker (issue 15) over the radio: a raw-SMP peer
that computes real crypto (bumble.crypto) where it needs to, and sends
back what the board sent where a reflection attack would. Each test shows
the refusal the board's Security Manager must give; the state machine's
side of each item is in tests/host_unit/test_smp.c.
"""
from __future__ import annotations


import pytest
from bumble import att
from bumble.crypto import EccKey

from harness.board import Board
from harness.gap import up
from smp_board import ERRNO, configure, one_encryption_update
from smp_peer import SmpPeer
from test_smp import board_as_central, board_as_peripheral
from tools.radio import Radio

P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
CONFIRM_VALUE_FAILED, INVALID_PARAMS = 0x04, 0x0a
INPUT = 2
PAIRING_REQUEST_SC_JW = bytes([0x01, 0x03, 0x00, 0x08, 0x10, 0x00, 0x00])



def central_with_raw_peer(central: Board, peer: SmpPeer, io: int, mitm: bool) -> int:
    up(central)
    central.exec(ERRNO)
    configure(central, io=io, mitm=mitm)
    conn = board_as_central(central, peer)
    peer.take_smp_channel()
    return conn


def until_failed(peer: SmpPeer) -> list[bytes]:
    """PDUs from the board up to its Pairing Failed."""
    seen: list[bytes] = []
    while not seen or seen[-1][0] != 0x05:
        seen.append(peer.smp_rx())
    return seen


def public_key_pdu(x_le: bytes, y_le: bytes) -> bytes:
    return bytes([0x0c]) + x_le + y_le


@pytest.mark.api(methods=['gap_pair', 'gap_passkey'], events=['_IRQ_ENCRYPTION_UPDATE'])
def test_reflected_legacy_confirm_fails(central: Board, smp_peer: SmpPeer) -> None:
    """Item 4: the board types a passkey; the peer, knowing none, returns
    the board's Pairing Confirm. Without the check it would return the
    board's Random next, pass, and recover the passkey offline."""
    conn = central_with_raw_peer(central, smp_peer, io=2, mitm=True)
    central.exec(f'ble.gap_pair({conn})')
    assert smp_peer.smp_rx()[0] == 0x01
    # Legacy, the peer a display: the board's user types what it shows.
    smp_peer.send_smp(bytes([0x02, 0x00, 0x00, 0x04, 0x10, 0x00, 0x00]))
    event = central.wait_for_event('_IRQ_PASSKEY_ACTION', timeout=10)
    assert event.data[:2] == (conn, INPUT)
    central.exec(f'ble.gap_passkey({conn}, {INPUT}, 123456)')
    confirm = smp_peer.smp_rx()
    assert confirm[0] == 0x03
    smp_peer.send_smp(confirm)
    assert until_failed(smp_peer)[-1] == bytes([0x05, CONFIRM_VALUE_FAILED])
    assert one_encryption_update(central) == (conn, 0, 0, 0, -CONFIRM_VALUE_FAILED)
    assert not smp_peer.encrypted()


@pytest.mark.api(methods=['gap_pair'], events=['_IRQ_ENCRYPTION_UPDATE'])
def test_reflected_public_key_with_negated_y_fails(central: Board, smp_peer: SmpPeer) -> None:
    """Item 3: the peer returns the board's public key as (X, p - Y), a
    valid point with the same X, which f4 and g2 cannot tell from the
    board's own."""
    conn = central_with_raw_peer(central, smp_peer, io=3, mitm=False)
    central.exec(f'ble.gap_pair({conn})')
    assert smp_peer.smp_rx()[0] == 0x01
    smp_peer.send_smp(bytes([0x02, 0x03, 0x00, 0x08, 0x10, 0x00, 0x00]))
    ours = smp_peer.smp_rx(timeout=10)
    assert ours[0] == 0x0c
    y = int.from_bytes(ours[33:65], 'little')
    smp_peer.send_smp(public_key_pdu(ours[1:33], (P256_P - y).to_bytes(32, 'little')))
    assert until_failed(smp_peer)[-1] == bytes([0x05, INVALID_PARAMS])
    assert one_encryption_update(central) == (conn, 0, 0, 0, -INVALID_PARAMS)


@pytest.mark.api(events=['_IRQ_ENCRYPTION_UPDATE'])
def test_new_public_key_after_each_attempt(peripheral: Board, smp_peer: SmpPeer) -> None:
    """Item 12: two attempts on one link, the first abandoned by the peer
    after the board showed its key: the second sees another key (the
    peripheral-role reflection needs the key of an earlier attempt)."""
    up(peripheral)
    configure(peripheral)
    conn = board_as_peripheral(peripheral, smp_peer)
    smp_peer.take_smp_channel()
    mine = EccKey.generate()
    seen = []
    for _ in range(2):
        smp_peer.send_smp(PAIRING_REQUEST_SC_JW)
        assert smp_peer.smp_rx()[0] == 0x02
        smp_peer.send_smp(public_key_pdu(mine.x[::-1], mine.y[::-1]))
        key = smp_peer.smp_rx(timeout=10)
        assert key[0] == 0x0c
        seen.append(key[1:])
        assert smp_peer.smp_rx(timeout=10)[0] == 0x03  # its Confirm
        smp_peer.send_smp(bytes([0x05, 0x08]))
        assert one_encryption_update(peripheral) == (conn, 0, 0, 0, -0x08)
    assert seen[0] != seen[1]


F_READ, F_WRITE = 0x02, 0x08
F_READ_AUTHN, F_WRITE_AUTHN = 0x0400, 0x2000


@pytest.mark.api(methods=['gatts_register_services'], events=['_IRQ_ENCRYPTION_UPDATE'])
def test_mitm_config_and_authenticated_attributes(peripheral: Board, smp_peer: SmpPeer) -> None:
    """'Also wanted', mitm: with mitm=True a peer without I/O still pairs
    (Just Works, authenticated 0, as MicroPython's own tests expect), and
    then every attribute flagged authenticated refuses it (0x05): the
    enforcement an application relies on."""
    up(peripheral)
    configure(peripheral, io=4, mitm=True)
    ((h_read, h_write),) = peripheral.eval(
        f'ble.gatts_register_services(((bluetooth.UUID(0x2FF0), ('
        f'(bluetooth.UUID(0x3001), {F_READ | F_READ_AUTHN}),'
        f'(bluetooth.UUID(0x3002), {F_WRITE | F_WRITE_AUTHN}),)),))')
    smp_peer.configure(io=3, sc=True, mitm=False, bond=False)
    conn = board_as_peripheral(peripheral, smp_peer)
    assert smp_peer.pair_result() == 0
    assert one_encryption_update(peripheral) == (conn, 1, 0, 0, 16)
    assert smp_peer.encrypted()
    for attempt in (smp_peer.peer.read_value(h_read),
                    smp_peer.peer.write_value(h_write, b'x', with_response=True)):
        with pytest.raises(att.ATT_Error) as info:
            smp_peer.run(attempt)
        assert info.value.error_code == 0x05


@pytest.mark.api(events=['_IRQ_ENCRYPTION_UPDATE', '_IRQ_CENTRAL_DISCONNECT'])
def test_link_lost_during_pairing_reported_before_disconnect(peripheral: Board,
                                                             smp_peer: SmpPeer) -> None:
    """Item 14: the -0x201 failure comes just before the disconnect event
    (the README says so)."""
    up(peripheral)
    configure(peripheral)
    conn = board_as_peripheral(peripheral, smp_peer)
    smp_peer.take_smp_channel()
    smp_peer.send_smp(PAIRING_REQUEST_SC_JW)
    assert smp_peer.smp_rx()[0] == 0x02
    smp_peer.disconnect()
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT', timeout=10)
    names = [e.name for e in peripheral.events
             if e.name in ('_IRQ_ENCRYPTION_UPDATE', '_IRQ_CENTRAL_DISCONNECT')]
    assert names[-2:] == ['_IRQ_ENCRYPTION_UPDATE', '_IRQ_CENTRAL_DISCONNECT'], names


EOPNOTSUPP = 95


@pytest.mark.api(methods=['gap_pair'], events=['_IRQ_ENCRYPTION_UPDATE'])
def test_controller_without_p256_pairs_legacy(central: Board, smp_peer: SmpPeer,
                                              radio: Radio) -> None:
    """Item 8: on a 4.0/4.1 controller (no P-256 commands, the radio's
    p256_commands flag) the board does not offer Secure Connections, so an
    SC-capable peer pairs legacy instead of failing; with le_secure=True
    gap_pair fails at once with EOPNOTSUPP."""
    assert central.controller is not None
    controller = radio.controller(central.controller)

    def set_p256(on: bool) -> None:
        radio.call(lambda: setattr(controller, 'p256_commands', on))
    set_p256(False)
    try:
        up(central)  # activation reads the supported commands
        central.exec('ble.active(False)')
        central.exec('ble.active(True)')
        central.exec(ERRNO)
        configure(central)
        smp_peer.configure(io=3, sc=True, mitm=False, bond=False)
        conn = board_as_central(central, smp_peer)
        smp_peer.expect_pairing()
        central.exec(f'ble.gap_pair({conn})')
        assert smp_peer.wait_pairing() == 0
        assert one_encryption_update(central) == (conn, 1, 0, 0, 16)
        configure(central, le_secure=True)
        assert central.eval(f'_errno(lambda: ble.gap_pair({conn}))') == EOPNOTSUPP
    finally:
        set_p256(True)
        central.exec('ble.active(False)')
