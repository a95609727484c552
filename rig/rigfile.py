"""Rig files: a lab lists its groups of real boards once, in TOML.

    [groups.bench-a]
    kind = "esp32"            # shown in reports (Board.kind)
    reset = "dtr"             # how hard_reset() resets: machine (default), dtr, rts
    ports = ["/dev/ttyACM0", "/dev/ttyACM1"]

    [groups.bench-b]
    ports = ["/dev/ttyUSB0", "/dev/ttyUSB1"]

A run uses one group per pytest process: without xdist the first group (or
--rig-group NAME), with `-n N` worker i the i-th group, so no board is ever
shared between workers.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - older Pythons get tomli from the dependencies
    import tomli as tomllib

RESET_METHODS = ('machine', 'dtr', 'rts')


class RigFileError(ValueError):
    """The rig file cannot be used; the message says where and why."""


@dataclasses.dataclass(frozen=True)
class BoardSpec:
    port: str
    kind: str = 'real'
    reset: str = 'machine'


@dataclasses.dataclass(frozen=True)
class Group:
    name: str
    boards: tuple[BoardSpec, ...]


def load_rig_file(path: Path) -> list[Group]:
    """The groups of `path`, in file order."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RigFileError(f'{path}: {error}') from error
    tables = data.get('groups')
    if not isinstance(tables, dict) or not tables:
        raise RigFileError(f'{path}: no [groups.NAME] table')
    groups = [_group(path, name, table) for name, table in tables.items()]
    ports = [b.port for g in groups for b in g.boards]
    shared = sorted({p for p in ports if ports.count(p) > 1})
    if shared:
        raise RigFileError(f'{path}: ports in more than one place: {", ".join(shared)}')
    return groups


def _group(path: Path, name: str, table: object) -> Group:
    where = f'{path}: groups.{name}'
    if not isinstance(table, dict):
        raise RigFileError(f'{where}: not a table')
    unknown = set(table) - {'kind', 'reset', 'ports'}
    if unknown:
        raise RigFileError(f'{where}: unknown keys {sorted(unknown)} (kind, reset, ports)')
    ports = table.get('ports')
    if not isinstance(ports, list) or not ports or not all(isinstance(p, str) for p in ports):
        raise RigFileError(f'{where}: ports must be a list of serial port names')
    kind = table.get('kind', 'real')
    reset = table.get('reset', 'machine')
    if not isinstance(kind, str):
        raise RigFileError(f'{where}: kind must be a string')
    if reset not in RESET_METHODS:
        raise RigFileError(f'{where}: reset must be one of {", ".join(RESET_METHODS)}')
    return Group(name, tuple(BoardSpec(port, kind, reset) for port in ports))
