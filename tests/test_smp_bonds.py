"""Bonds between two boards (issue 9): re-encryption after soft resets with
the secrets kept in aioble's JSON layout, pairing without a store, a peer
that lost its bond, peers that use resolvable private addresses (recognised,
reported by identity, reachable by gap_connect to their identity), the
subscriptions of bonded clients kept through the store, a bond kept in a
file across machine.reset(), and a GATT client that pairs after the server
refused it and reads again.
"""
from __future__ import annotations

import time

import pytest

from harness.board import Board
from harness.gap import mac, up
from smp_board import (SECRETS_JSON, SEEN, STORE, bonded_boards, configure, connect_b2b,
                       one_encryption_update)

HR_SERVICE = ('((hr,),) = ble.gatts_register_services(((bluetooth.UUID(0x180D), '
              '((bluetooth.UUID(0x2A37), bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY),)),))')


def restart(board: Board, saved: str, addr_mode: int | None = None,
            set_handler: bool = True) -> None:
    """Soft reset; the application loads its secrets, then sets its handler
    (which makes the host adopt the stored identity at once)."""
    board.soft_reset()
    up(board)
    board.exec(STORE + SECRETS_JSON)
    board.exec(f'_load({saved!r})')
    configure(board, bond=True, le_secure=True)
    if addr_mode is not None:
        board.exec(f'ble.config(addr_mode={addr_mode})')
    if set_handler:
        board.exec('ble.irq(_store_irq)')


def pair_bonded(central: Board, peripheral: Board, c_conn: int, p_conn: int) -> float:
    """gap_pair on the central: one bonded update each (a pairing, or an
    encryption with the stored key); the seconds until the central's."""
    started = time.monotonic()
    central.exec(f'ble.gap_pair({c_conn})')
    assert one_encryption_update(central) == (c_conn, 1, 0, 1, 16)
    took = SEEN[0] - started
    assert one_encryption_update(peripheral) == (p_conn, 1, 0, 1, 16)
    return took


def bond_key(board: Board) -> bytes:
    """The key of the one bond the board stores: identity type and address."""
    keys = board.eval('[bytes(k) for (t, k) in _secrets if t == 2]')
    assert len(keys) == 1
    return keys[0]


def notified(central: Board, peripheral: Board, value: bytes) -> list[tuple]:
    """Write the HR value with send_update; the notifications the central got."""
    peripheral.exec(f'ble.gatts_write(hr, {value!r}, True)')
    time.sleep(0.5)
    return [e.data for e in central.take_events() if e.name == '_IRQ_GATTC_NOTIFY']


@pytest.mark.api(methods=['gap_pair'],
                 events=['_IRQ_ENCRYPTION_UPDATE', '_IRQ_GET_SECRET', '_IRQ_SET_SECRET'])
def test_bond_and_reencrypt_after_soft_reset(central: Board, peripheral: Board) -> None:
    bonded_boards(central, peripheral)
    c_conn, p_conn = connect_b2b(central, peripheral)
    paired_s = pair_bonded(central, peripheral, c_conn, p_conn)
    # Each stored its identity (sec_type 1, key 0x00) and one bond (sec_type
    # 2, 7-octet key): our layouts.
    for board in (central, peripheral):
        assert board.eval('sorted((t, bytes(k) if t == 1 else len(k), len(v)) '
                          'for (t, k), v in _secrets.items())') == [(1, b'\x00', 24), (2, 7, 78)]
        assert board.eval('_secrets[(1, b"\\x00")][1:17] == ble.config("irk")') is True
    saved = {b: b.eval('_dump()') for b in (central, peripheral)}
    irks = {b: b.eval('ble.config("irk")') for b in (central, peripheral)}
    central.exec(f'ble.gap_disconnect({c_conn})')
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    # Both soft reset; the application gives the secrets back.
    for board in (central, peripheral):
        restart(board, saved[board], set_handler=False)
    # The peripheral sets its handler once its store is loaded: its identity
    # (IRK) comes back at once; the central's at gap_pair.
    peripheral.exec('ble.irq(_store_irq)')
    assert peripheral.eval('ble.config("irk")') == irks[peripheral]
    c_conn, p_conn = connect_b2b(central, peripheral)
    reencrypt_s = pair_bonded(central, peripheral, c_conn, p_conn)
    assert central.eval('ble.config("irk")') == irks[central]
    # No new pairing: the stored records are unchanged.
    assert central.eval('_dump()') == saved[central]
    assert peripheral.eval('_dump()') == saved[peripheral]
    print(f'time to pair (sc-just-works, bonding, board to board): {paired_s:.3f} s; '
          f'to re-encrypt: {reencrypt_s:.3f} s')


@pytest.mark.api(methods=['gap_pair'], events=['_IRQ_ENCRYPTION_UPDATE'])
def test_no_store_pairs_without_bonding(central: Board, peripheral: Board) -> None:
    # bond=True but handlers that store nothing: pairing works, bonded 0.
    for board in (central, peripheral):
        up(board)
        configure(board, bond=True)
    c_conn, p_conn = connect_b2b(central, peripheral)
    central.exec(f'ble.gap_pair({c_conn})')
    assert one_encryption_update(central) == (c_conn, 1, 0, 0, 16)
    assert one_encryption_update(peripheral) == (p_conn, 1, 0, 0, 16)


@pytest.mark.api(methods=['gap_pair'], events=['_IRQ_ENCRYPTION_UPDATE'])
def test_peer_that_lost_the_bond_is_paired_afresh(central: Board, peripheral: Board) -> None:
    bonded_boards(central, peripheral)
    c_conn, p_conn = connect_b2b(central, peripheral)
    pair_bonded(central, peripheral, c_conn, p_conn)
    old = central.eval('_dump()')
    central.exec(f'ble.gap_disconnect({c_conn})')
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    peripheral.exec('_secrets.clear()')
    c_conn, p_conn = connect_b2b(central, peripheral)
    # The stored key is refused (PIN or Key Missing): a new pairing, one event.
    pair_bonded(central, peripheral, c_conn, p_conn)
    assert central.eval('_dump()') != old  # the new bond replaced the old
    assert central.eval('len([k for k in _secrets if k[0] == 2])') == 1


@pytest.mark.api(methods=['gap_pair'], events=['_IRQ_ENCRYPTION_UPDATE'])
def test_bonded_peer_with_private_address_is_resolved(central: Board, peripheral: Board) -> None:
    # The peripheral advertises with resolvable private addresses; after a
    # soft reset it has a new one, which the central resolves with the IRK
    # the peripheral distributed: re-encryption, no new pairing.
    bonded_boards(central, peripheral)
    peripheral.exec('ble.config(addr_mode=2)')
    c_conn, p_conn = connect_b2b(central, peripheral)
    pair_bonded(central, peripheral, c_conn, p_conn)
    first_rpa = mac(peripheral)[1]
    saved = {b: b.eval('_dump()') for b in (central, peripheral)}
    central.exec(f'ble.gap_disconnect({c_conn})')
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    restart(peripheral, saved[peripheral], addr_mode=2)
    peripheral.exec('ble.gap_advertise(20000, b"")')
    rpa = mac(peripheral)
    assert rpa[0] == 1 and rpa[1] != first_rpa
    # Connected to the address it advertises with: reported with that
    # address (as named, so aioble matches the event to its connect()).
    central.exec(f'ble.gap_connect({rpa[0]}, {rpa[1]!r})')
    connected = central.wait_for_event('_IRQ_PERIPHERAL_CONNECT')
    assert connected.data[1:] == rpa
    c_conn = connected.data[0]
    p_conn = peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT').data[0]
    pair_bonded(central, peripheral, c_conn, p_conn)
    assert central.eval('_dump()') == saved[central]


@pytest.mark.api(methods=['gattc_write', 'gatts_write'],
                 events=['_IRQ_SET_SECRET', '_IRQ_GET_SECRET', '_IRQ_GATTC_NOTIFY'])
def test_bonded_client_subscription_is_restored_after_soft_resets(central: Board,
                                                                  peripheral: Board) -> None:
    bonded_boards(central, peripheral)
    peripheral.exec(HR_SERVICE)
    hr = peripheral.eval('hr')
    c_conn, p_conn = connect_b2b(central, peripheral)
    pair_bonded(central, peripheral, c_conn, p_conn)
    central.exec(f'ble.gattc_write({c_conn}, {hr + 1}, b"\\x01\\x00", 1)')
    central.wait_for_event('_IRQ_GATTC_WRITE_DONE')
    assert notified(central, peripheral, b'one') == [(c_conn, hr, b'one')]
    # The subscription is in the store (sec_type 3, under the bond's key):
    # version 1, then the CCCD's handle and value, little-endian.
    key = bond_key(peripheral)
    assert peripheral.eval('[(bytes(k), bytes(v)) for (t, k), v in _secrets.items() if t == 3]') \
        == [(key, bytes([1, (hr + 1) & 0xff, (hr + 1) >> 8, 1, 0]))]
    saved = {b: b.eval('_dump()') for b in (central, peripheral)}
    central.exec(f'ble.gap_disconnect({c_conn})')
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    for board in (central, peripheral):
        restart(board, saved[board])
    peripheral.exec(HR_SERVICE)
    assert peripheral.eval('hr') == hr
    c_conn, p_conn = connect_b2b(central, peripheral)
    # Not yet encrypted: the client is not known as the bonded one.
    assert notified(central, peripheral, b'two') == []
    pair_bonded(central, peripheral, c_conn, p_conn)
    # Encrypted with the bond: subscribed again without writing the CCCD.
    assert notified(central, peripheral, b'three') == [(c_conn, hr, b'three')]
    central.exec(f'ble.gattc_read({c_conn}, {hr + 1})')
    assert central.wait_for_event('_IRQ_GATTC_READ_RESULT').data == (c_conn, hr + 1, b'\x01\x00')
    assert peripheral.eval('_dump()') == saved[peripheral]  # nothing rewritten
    # Unsubscribing deletes the record.
    central.exec(f'ble.gattc_write({c_conn}, {hr + 1}, b"\\x00\\x00", 1)')
    central.wait_for_event('_IRQ_GATTC_WRITE_DONE')
    assert peripheral.eval('[k for k in _secrets if k[0] == 3]') == []
    assert notified(central, peripheral, b'four') == []


@pytest.mark.api(methods=['gap_connect'],
                 events=['_IRQ_PERIPHERAL_CONNECT', '_IRQ_CENTRAL_CONNECT',
                         '_IRQ_PERIPHERAL_DISCONNECT'])
def test_gap_connect_reaches_bonded_peer_by_identity(central: Board, peripheral: Board) -> None:
    # Both use resolvable private addresses. After the peripheral's soft
    # reset it advertises with a new one; the central connects to its
    # identity address, and each side reports the other by its identity.
    bonded_boards(central, peripheral)
    for board in (central, peripheral):
        board.exec('ble.config(addr_mode=2)')
    c_conn, p_conn = connect_b2b(central, peripheral)
    pair_bonded(central, peripheral, c_conn, p_conn)
    p_id, c_id = bond_key(central), bond_key(peripheral)
    saved = peripheral.eval('_dump()')
    central.exec(f'ble.gap_disconnect({c_conn})')
    # Bonded on this link: from now on each knows the other by identity.
    assert peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT').data[1:] == (c_id[0], c_id[1:])
    assert central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT').data[1:] == (p_id[0], p_id[1:])
    restart(peripheral, saved, addr_mode=2)
    peripheral.exec('ble.gap_advertise(20000, b"")')
    rpa = mac(peripheral)
    assert rpa[0] == 1 and rpa[1][0] >> 6 == 1 and rpa[1] != p_id[1:]
    started = time.monotonic()
    central.exec(f'ble.gap_connect({p_id[0]}, {p_id[1:]!r})')
    connected = central.wait_for_event('_IRQ_PERIPHERAL_CONNECT', timeout=10)
    print(f'time to connect to a bonded peer by identity: {time.monotonic() - started:.3f} s')
    c_conn = connected.data[0]
    assert connected.data[1:] == (p_id[0], p_id[1:])
    accepted = peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT')
    p_conn = accepted.data[0]
    assert accepted.data[1:] == (c_id[0], c_id[1:])
    pair_bonded(central, peripheral, c_conn, p_conn)
    peripheral.exec(f'ble.gap_disconnect({p_conn})')
    assert central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT').data[:3] \
        == (c_conn, p_id[0], p_id[1:])
    # Nobody there: the attempt ends after its scan duration, or when
    # cancelled, reported with the identity the application named.
    central.exec(f'ble.gap_connect({p_id[0]}, {p_id[1:]!r}, 600)')
    failed = central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT', timeout=5)
    assert failed.data[1:] == (p_id[0], p_id[1:])
    central.exec(f'ble.gap_connect({p_id[0]}, {p_id[1:]!r}, 30000)')
    time.sleep(0.3)
    central.exec('ble.gap_connect(None)')
    cancelled = central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT', timeout=3)
    assert cancelled.data[1:] == (p_id[0], p_id[1:])


@pytest.mark.api(methods=['gattc_read', 'gap_pair'], events=['_IRQ_GATTC_READ_DONE'])
def test_client_reads_protected_value_after_pairing(central: Board, peripheral: Board) -> None:
    # The server's refusal reaches the client's application as the ATT
    # status; it pairs and reads again.
    bonded_boards(central, peripheral)
    peripheral.exec('((h,),) = ble.gatts_register_services(((bluetooth.UUID(0x2FF0), '
                    '((bluetooth.UUID(0x3001), bluetooth.FLAG_READ | 0x0200),)),))\n'
                    'ble.gatts_write(h, b"secret")')
    h = peripheral.eval('h')
    c_conn, p_conn = connect_b2b(central, peripheral)
    central.exec(f'ble.gattc_read({c_conn}, {h})')
    assert central.wait_for_event('_IRQ_GATTC_READ_DONE').data == (c_conn, h, 0x05)
    pair_bonded(central, peripheral, c_conn, p_conn)
    central.exec(f'ble.gattc_read({c_conn}, {h})')
    assert central.wait_for_event('_IRQ_GATTC_READ_RESULT').data == (c_conn, h, b'secret')
    assert central.wait_for_event('_IRQ_GATTC_READ_DONE').data == (c_conn, h, 0)


SECRETS_FILE = '/_bond_secrets.json'


@pytest.mark.api(methods=['gap_pair'], events=['_IRQ_ENCRYPTION_UPDATE', '_IRQ_GET_SECRET'])
def test_bond_survives_a_hard_reset_with_secrets_in_a_file(central: Board,
                                                            peripheral: Board) -> None:
    # As aioble keeps them: a JSON file on the board's filesystem, read back
    # after machine.reset().
    bonded_boards(central, peripheral)
    c_conn, p_conn = connect_b2b(central, peripheral)
    pair_bonded(central, peripheral, c_conn, p_conn)
    peripheral.exec(f'with open({SECRETS_FILE!r}, "w") as f:\n    f.write(_dump())')
    central.exec(f'ble.gap_disconnect({c_conn})')
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    try:
        peripheral.reset()
        assert peripheral.eval('__import__("machine").reset_cause()') == 2  # HARD_RESET
        up(peripheral)
        peripheral.exec(STORE + SECRETS_JSON)
        peripheral.exec(f'_load(open({SECRETS_FILE!r}).read())')
        configure(peripheral, bond=True, le_secure=True)
        peripheral.exec('ble.irq(_store_irq)')
        c_conn, p_conn = connect_b2b(central, peripheral)
        pair_bonded(central, peripheral, c_conn, p_conn)  # re-encrypted: no pairing
        assert peripheral.eval(f'_dump() == open({SECRETS_FILE!r}).read()') is True
    finally:
        peripheral.exec(f'import os\ntry:\n    os.remove({SECRETS_FILE!r})\nexcept OSError:\n    pass')
