"""This repository's tests run through the installed pytest-mpbt plugin
(rig/, installed into build/venv by `make deps`), which brings the board
options, fixtures and hooks. Here: the repo made importable, and the
fixtures only these tests need."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
for path in (TESTS_DIR.parent, TESTS_DIR):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

try:
    from pytest_mpbt import Board, RigPool
except ImportError as error:  # pragma: no cover - an environment without the plugin
    raise pytest.UsageError('the pytest-mpbt plugin is not installed in this Python: '
                            'run `make deps` (it installs rig/ into build/venv)') from error

from gatts_peer import gatt_peer  # noqa: E402,F401 - fixture
from harness.peer import HciPeer  # noqa: E402
from smp_peer import SmpPeer  # noqa: E402
from tools.radio import ControllerInfo  # noqa: E402

pytest_plugins = ['pytester']  # tests/test_plugin.py runs the plugin on user projects


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        'markers', 'timing: asserts on wall-clock time within milliseconds, so it needs the '
                   'processor to itself: `make test` runs these alone, after the parallel steps')


@pytest.fixture
def hci_peers(board_kind: str, rig_pool: RigPool,
              boards: tuple[Board, ...]) -> Iterator[list[HciPeer]]:
    """Raw HCI hosts on the group's spare controllers, reset for this test."""
    handle = rig_pool.get(board_kind)
    if handle.rig is None:
        pytest.skip('needs spare controllers on the virtual radio')
    peers: list[HciPeer] = []
    try:
        for info in handle.rig.spares:
            peers.append(HciPeer(info))
        yield peers
    finally:
        for peer in peers:
            peer.close()


@pytest.fixture
def smp_peer(spare_controller: ControllerInfo) -> Iterator[SmpPeer]:
    """A bumble peer with its own Security Manager on a spare controller."""
    peer = SmpPeer(spare_controller)
    try:
        yield peer
    finally:
        peer.close()
