"""pytest-mpbt: a pytest plugin for rigs of MicroPython boards with the
`bluetooth` module: real boards on serial ports (named with --board or in a
rig file) or virtual boards on a virtual radio, run in parallel with xdist.

The public API is what this module exports; the fixtures (`boards`,
`central`, `peripheral`, `board_kind`, `rig_pool`, `radio`,
`spare_controller`) and options come with the plugin. See README.md.
"""
from __future__ import annotations

from .api_names import EVENT_NAMES, EVENTS, METHODS
from .board import Board, BoardError, Event, RemoteUUID
from .pool import RigHandle, RigPool
from .rigfile import BoardSpec, Group, RigFileError, load_rig_file

__version__ = '0.1.0'

__all__ = [
    'EVENTS', 'EVENT_NAMES', 'METHODS', 'Board', 'BoardError', 'BoardSpec', 'Event', 'Group',
    'RemoteUUID', 'RigFileError', 'RigHandle', 'RigPool', 'load_rig_file', '__version__',
]
