"""The host moves each new link to the largest data length and the LE 2M PHY
by itself when both controllers support them, follows what the controllers
settle, and keeps LE 1M when the application sets config le_2m=False or a
controller is the old 27-octet LE 1M one; seen on the radio's view of each
link and in the data rate."""
from __future__ import annotations

import time

import pytest

from harness.board import Board
from harness.gap import connect, up
from tools.radio import Radio

LE_1M, LE_2M = 1, 2
FULL = (251, 2120, 251, 2120)
SETTLE_S = 5.0


def settled(radio: Radio, board: Board, want: tuple[tuple[int, ...], tuple[int, int]]) -> tuple:
    """The board's one link as its controller sees it once it reaches `want`
    (or whatever it is after SETTLE_S)."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        [link] = radio.connections(board.controller)
        seen = (link.data_length, link.phys)
        if seen == want or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


@pytest.mark.api(methods=['gap_connect'], events=['_IRQ_PERIPHERAL_CONNECT', '_IRQ_CENTRAL_CONNECT'])
def test_new_links_get_251_octets_and_2m_with_no_application_code(
        central: Board, peripheral: Board, radio: Radio) -> None:
    up(central)
    up(peripheral)
    assert central.eval('ble.config("le_2m")') is True
    connect(central, peripheral)
    want = (FULL, (LE_2M, LE_2M))
    assert settled(radio, central, want) == want
    assert settled(radio, peripheral, want) == want


@pytest.mark.api(methods=['config', 'gap_connect'])
def test_config_le_2m_false_keeps_le_1m(
        central: Board, peripheral: Board, radio: Radio) -> None:
    up(central)
    up(peripheral)
    # One side is enough: its controller prefers LE 1M both ways, and the
    # central picks from both preferences.
    peripheral.exec('ble.config(le_2m=False)')
    assert peripheral.eval('ble.config("le_2m")') is False
    connect(central, peripheral)
    want = (FULL, (LE_1M, LE_1M))
    assert settled(radio, central, want) == want
    assert settled(radio, peripheral, want) == want
    time.sleep(0.3)  # nothing moves it later
    assert settled(radio, peripheral, want) == want
