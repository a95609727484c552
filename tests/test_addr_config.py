"""The address extension config keys ('rpa_timeout', 'irk') and their errors,
on one board. Rotation and resolution over the air are in test_gap_addr.py."""
from __future__ import annotations

import pytest
from bumble import crypto

from harness.board import Board
from harness.gap import RANDOM, mac, top_bits, up


@pytest.mark.api(methods=['config', 'active'])
def test_rpa_timeout_and_irk_keys(central: Board) -> None:
    central.exec('import bluetooth\nble = bluetooth.BLE()\nble.active(False)')
    # rpa_timeout: seconds, default the Core spec's 15 minutes, HCI range,
    # kept across activations.
    assert central.eval('ble.config("rpa_timeout")') == 900
    assert central.raises('ble.config(rpa_timeout=0)') == 'ValueError'
    assert central.raises('ble.config(rpa_timeout=0xA1B9)') == 'ValueError'
    assert central.raises('ble.config(rpa_timeout="60")') == 'TypeError'
    central.exec('ble.config(rpa_timeout=0xA1B8)')
    assert central.eval('ble.config("rpa_timeout")') == 0xA1B8
    central.exec('ble.config(rpa_timeout=30)')
    # Inactive: no IRK, no address.
    assert central.raises('ble.config("irk")') == 'OSError'
    assert central.raises('ble.config("mac")') == 'OSError'
    # Mode 2 chosen while inactive applies at activation.
    central.exec('ble.config(addr_mode=2)')
    up(central)
    assert central.eval('ble.config("rpa_timeout")') == 30
    assert central.eval('ble.config("addr_mode")') == 2
    irk = central.eval('ble.config("irk")')
    assert isinstance(irk, bytes) and len(irk) == 16
    addr_type, addr = mac(central)
    assert addr_type == RANDOM and top_bits(addr) == 0b01
    assert crypto.ah(irk[::-1], addr[:3][::-1]) == addr[3:][::-1]
    assert central.raises('ble.config(irk=bytes(16))') == 'ValueError'
    # A new activation has a new IRK (and a new RPA).
    central.exec('ble.active(False)')
    up(central)
    assert central.eval('ble.config("irk")') != irk
    assert mac(central)[1] != addr
    central.exec('ble.config(addr_mode=0, rpa_timeout=900)')
