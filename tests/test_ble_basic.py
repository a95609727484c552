"""BLE() object basics: singleton, active(), addresses, config(), soft reset."""
from __future__ import annotations

import pytest

from harness.board import Board

PUBLIC = 0


def activate(board: Board) -> None:
    board.exec('import bluetooth\nble = bluetooth.BLE()\nble.active(True)', timeout=15)


@pytest.mark.api(methods=['active'])
def test_ble_is_a_singleton(central: Board) -> None:
    assert central.eval('__import__("bluetooth").BLE() is __import__("bluetooth").BLE()') is True


@pytest.mark.api(methods=['active'])
def test_active_round_trips(central: Board) -> None:
    central.exec('import bluetooth\nble = bluetooth.BLE()')
    assert central.eval('ble.active()') is False
    assert central.eval('ble.active(True)', timeout=15) is True
    assert central.eval('ble.active()') is True
    assert central.eval('ble.active(True)') is True
    assert central.eval('ble.active(False)', timeout=15) is False
    assert central.eval('ble.active()') is False


@pytest.mark.api(methods=['active', 'config'])
def test_boards_have_the_radio_public_addresses(boards: tuple[Board, Board]) -> None:
    macs = []
    for board in boards:
        activate(board)
        addr_type, addr = board.eval('ble.config("mac")')
        assert addr_type == PUBLIC
        assert isinstance(addr, bytes) and len(addr) == 6
        if board.address is not None:
            assert addr == board.address, f'{board.name} reports {addr.hex(":")}, radio gave ' \
                                          f'{board.address.hex(":")}'
        macs.append(addr)
    assert macs[0] != macs[1]


@pytest.mark.api(methods=['config'])
def test_mac_while_inactive_raises_oserror(central: Board) -> None:
    central.exec('import bluetooth\nble = bluetooth.BLE()')
    assert central.raises('ble.config("mac")') == 'OSError'


@pytest.mark.api(methods=['config'])
def test_unknown_config_keys_raise_value_error(central: Board) -> None:
    activate(central)
    assert central.raises('ble.config("no_such_key")') == 'ValueError'
    assert central.raises('ble.config(no_such_key=1)') == 'ValueError'


@pytest.mark.api(methods=['active'])
def test_soft_reset_leaves_bluetooth_inactive_and_usable(central: Board) -> None:
    activate(central)
    assert central.eval('ble.active()') is True
    before = central.eval('ble.config("mac")')
    central.exec('ble.config(gap_name="before reset")')
    central.soft_reset()
    central.exec('import bluetooth\nble = bluetooth.BLE()')
    assert central.eval('ble.active()') is False
    assert central.eval('ble.active(True)', timeout=15) is True
    # The same controller, the same public address; the configuration is
    # back to its defaults.
    assert central.eval('ble.config("mac")') == before
    assert central.eval('ble.config("gap_name")') != b'before reset'


@pytest.mark.api(methods=['config'])
def test_config_round_trips(central: Board) -> None:
    activate(central)
    central.exec('ble.config(gap_name="mpbt-test")')
    name = central.eval('ble.config("gap_name")')
    assert (name.encode() if isinstance(name, str) else name) == b'mpbt-test'
    central.exec('ble.config(rxbuf=2048)')
    assert central.eval('ble.config("rxbuf")') >= 2048
    central.exec('ble.config(mtu=200)')
    assert central.eval('ble.config("mtu")') == 200
    central.exec('ble.config(mtu=100)')
    assert central.eval('ble.config("mtu")') == 100
