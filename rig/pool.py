"""Groups of boards for one pytest process (one xdist worker): started on
first use, reused for the session, replaced when a virtual board died.

Virtual boards: one group per board kind, each on a radio of its own, so
every worker has its own radio and boards. Real boards: this process's
group from --board or the rig file (settings.py says which).
"""
from __future__ import annotations

import dataclasses

import pytest

from .board import Board
from .radio.rig import BoardStartError, Rig
from .settings import REAL_KIND, Settings


@dataclasses.dataclass
class RigHandle:
    kind: str
    boards: list[Board]
    rig: Rig | None  # None for real boards

    def dead(self) -> list[str]:
        """A line for each virtual board whose process has exited, with its output."""
        if self.rig is None:
            return []
        return [f'{self.kind} board {b.index} exited with code {b.process.returncode}:\n'
                f'{b.output()[-2000:]}' for b in self.rig.boards if not b.alive]


class RigPool:
    """Starts one group per board kind on first use; remembers start failures."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.handles: dict[str, RigHandle] = {}
        self.failures: dict[str, str] = {}
        self.restarts: list[str] = []  # why each fresh group was started

    def get(self, kind: str) -> RigHandle:
        if kind in self.failures:
            pytest.fail(self.failures[kind], pytrace=False)
        if kind not in self.handles:
            try:
                self.handles[kind] = self._start(kind)
            except (BoardStartError, OSError, AssertionError) as error:
                self.failures[kind] = f'could not start the {kind} boards: {error}'
                pytest.fail(self.failures[kind], pytrace=False)
        return self.handles[kind]

    def _start(self, kind: str) -> RigHandle:
        if kind == REAL_KIND:
            boards = [Board(spec.port, kind=spec.kind, name=f'board{i}', reset_method=spec.reset)
                      for i, spec in enumerate(self.settings.real)]
            return RigHandle(kind, boards, None)
        rig = Rig([kind] * self.settings.count, build=self.settings.build,
                  spare=self.settings.spares).start()
        boards = [Board(b.port, kind=kind, name=f'{kind}{b.index}',
                        address=b.controller.address_bytes, controller=b.index)
                  for b in rig.boards]
        return RigHandle(kind, boards, rig)

    def restart(self, kind: str, why: str) -> RigHandle:
        """A fresh radio and fresh virtual boards of `kind` in place of the old ones."""
        self.restarts.append(f'{kind}: {why}')
        handle = self.handles.pop(kind, None)
        if handle is not None:
            _close(handle)
        return self.get(kind)

    def power_cycle(self, kind: str, index: int) -> Board:
        """Restart virtual board `index` of `kind` as a power cycle would (its
        process ends; a new one starts on the same flash image and
        controller); the group's Board for it is replaced and returned."""
        handle = self.get(kind)
        if handle.rig is None:
            pytest.skip('a power cycle needs a virtual board: the plugin cannot switch '
                        'the power of a real board')
        old = handle.boards[index]
        old.close()
        process = handle.rig.power_cycle(index)
        board = Board(process.port, kind=kind, name=old.name, address=old.address,
                      controller=old.controller)
        handle.boards[index] = board
        return board

    def close(self) -> None:
        for handle in self.handles.values():
            _close(handle)
        self.handles.clear()


def _close(handle: RigHandle) -> None:
    for board in handle.boards:
        board.close()
    if handle.rig is not None:
        handle.rig.close()
