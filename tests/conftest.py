"""pytest entry point: makes the repo importable and loads the board harness
(tests/harness/plugin.py holds the options, fixtures and hooks)."""
from __future__ import annotations

import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
for path in (TESTS_DIR.parent, TESTS_DIR):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from gatts_peer import gatt_peer  # noqa: E402,F401 - fixture
from harness.plugin import (  # noqa: E402,F401 - hooks and fixtures for pytest
    boards,
    central,
    peripheral,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_generate_tests,
    pytest_runtest_makereport,
    radio,
    hci_peers,
    rig_pool,
    spare_controller,
)
