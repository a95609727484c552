"""Address modes seen over the air: static random, RPA (rotating, resolvable
with the board's IRK, connectable), NRPA."""
from __future__ import annotations

import time

import pytest
from bumble import crypto

from harness.board import Board
from harness.gap import RANDOM, advertise, listen_only_to, mac, scan_results, top_bits, up


def seen_addresses(scanner: Board, seconds: float = 0.6) -> set[tuple[int, bytes]]:
    listen_only_to(scanner, None)
    return {(e.data[0], e.data[1]) for e in scan_results(scanner, seconds)
            if e.data[4] == b'\x05\x09addr'}


def with_addr_mode(central: Board, peripheral: Board, mode: int) -> tuple[int, bytes]:
    """Both boards active, the peripheral in addr_mode `mode`: its (type, address)."""
    up(central)
    up(peripheral)
    peripheral.exec(f'ble.config(addr_mode={mode})')
    assert peripheral.eval('ble.config("addr_mode")') == mode
    return mac(peripheral)


@pytest.mark.api(methods=['config', 'gap_advertise', 'gap_scan'], events=['_IRQ_SCAN_RESULT'])
def test_addr_mode_random_is_static_and_stable(central: Board, peripheral: Board) -> None:
    addr_type, addr = with_addr_mode(central, peripheral, 1)
    assert addr_type == RANDOM and top_bits(addr) == 0b11
    assert addr[1:] != b'\xff' * 5 and (addr[0] & 0x3F, *addr[1:]) != (0, 0, 0, 0, 0, 0)
    advertise(peripheral, b'\x05\x09addr')
    assert seen_addresses(central) == {(RANDOM, addr)}
    peripheral.exec('ble.gap_advertise(None)')
    time.sleep(1.2)
    advertise(peripheral, b'\x05\x09addr')
    assert mac(peripheral) == (RANDOM, addr), 'static address changed while active'
    assert seen_addresses(central) == {(RANDOM, addr)}
    # A central can connect to it by that address.
    central.exec(f'ble.gap_connect({RANDOM}, {addr!r})')
    assert central.wait_for_event('_IRQ_PERIPHERAL_CONNECT').data[1:] == (RANDOM, addr)
    assert peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT').data[1:] == mac(central)


def resolves(irk: bytes, addr: bytes) -> bool:
    """Core Vol 3 Part H 2.2.2: hash == ah(IRK, prand) (all MSB first here)."""
    prand, hash_ = addr[:3], addr[3:]
    return crypto.ah(irk[::-1], prand[::-1]) == hash_[::-1]


@pytest.mark.api(methods=['config', 'gap_advertise', 'gap_connect', 'gap_scan'],
                 events=['_IRQ_SCAN_RESULT', '_IRQ_PERIPHERAL_CONNECT', '_IRQ_CENTRAL_CONNECT'])
def test_addr_mode_rpa_rotates_and_stays_connectable(central: Board, peripheral: Board) -> None:
    up(central)
    up(peripheral)
    peripheral.exec('ble.config(rpa_timeout=1)\nble.config(addr_mode=2)')
    assert peripheral.eval('ble.config("addr_mode")') == 2
    irk = peripheral.eval('bytes(ble.config("irk"))')
    assert isinstance(irk, bytes) and len(irk) == 16 and irk != bytes(16)
    advertise(peripheral, b'\x05\x09addr')
    addresses = []
    for _ in range(3):
        addr_type, addr = mac(peripheral)
        assert addr_type == RANDOM and top_bits(addr) == 0b01, addr.hex()
        assert resolves(irk, addr), f'{addr.hex()} does not resolve with the IRK {irk.hex()}'
        addresses.append(addr)
        time.sleep(1.6)
    assert len(set(addresses)) == 3, 'the RPA did not change every rpa_timeout'
    # Freeze the current address long enough to find it and connect to it.
    peripheral.exec('ble.config(rpa_timeout=120)')
    time.sleep(1.2)  # let a rotation already due happen
    current = mac(peripheral)
    assert current[1] not in addresses[:2]
    assert (RANDOM, current[1]) in seen_addresses(central)
    central.exec(f'ble.gap_connect({RANDOM}, {current[1]!r})')
    assert central.wait_for_event('_IRQ_PERIPHERAL_CONNECT').data[1:] == current
    peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT')


@pytest.mark.api(methods=['config', 'gap_advertise', 'gap_scan'], events=['_IRQ_SCAN_RESULT'])
def test_addr_mode_nrpa(central: Board, peripheral: Board) -> None:
    addr_type, addr = with_addr_mode(central, peripheral, 3)
    assert addr_type == RANDOM and top_bits(addr) == 0b00, addr.hex()
    random_part = bytes([addr[0] & 0x3F]) + addr[1:]
    assert random_part not in (bytes(6), b'\x3f' + b'\xff' * 5)
    advertise(peripheral, b'\x05\x09addr', connectable=False)
    assert seen_addresses(central) == {(RANDOM, addr)}


@pytest.mark.api(methods=['config'])
def test_addr_mode_errors_and_public_again(central: Board) -> None:
    up(central)
    public = mac(central)
    assert central.raises('ble.config(addr_mode=4)') == 'ValueError'
    assert central.raises('ble.config(addr_mode="1")') == 'TypeError'
    central.exec('ble.config(addr_mode=1)')
    assert mac(central)[0] == RANDOM
    central.exec('ble.config(addr_mode=0)')
    assert mac(central) == public
    # A soft reset starts from the defaults again: PUBLIC.
    central.exec('ble.config(addr_mode=3)')
    central.soft_reset()
    up(central)
    assert central.eval('ble.config("addr_mode")') == 0
    assert mac(central) == public
