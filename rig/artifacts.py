"""What a failing test leaves behind: each board's output and IRQ events,
each virtual board's process log, the radio's btsnoop captures; each file is
named in the test's JUnit <properties> so a CI server can link it."""
from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from .board import Board
from .radio import Radio
from .radio.rig import Rig

PROPERTY = 'mpbt_artifact'


def folder_for(root: Path, nodeid: str) -> Path:
    return root / ''.join(c if c.isalnum() or c in '-_.[]' else '_' for c in nodeid)


class TestArtifacts:
    """One test's artifact folder: captures run while the test runs."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, folder: Path, radio: Radio | None) -> None:
        self.folder = folder
        self.radio = radio
        shutil.rmtree(folder, ignore_errors=True)
        if radio is not None:
            radio.start_captures(folder)

    def stop(self) -> None:
        if self.radio is not None:
            self.radio.stop_captures()

    def keep(self, boards: Sequence[Board], rig: Rig | None) -> list[Path]:
        """Write the boards' logs next to the captures; return every file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for board in boards:
            (self.folder / f'{board.name}-output.log').write_text(board.report() + '\n')
            (self.folder / f'{board.name}-events.txt').write_text(board.event_log() + '\n')
        for process in (rig.boards if rig is not None else []):
            (self.folder / f'board{process.index}-process.log').write_text(process.output())
        return sorted(p for p in self.folder.iterdir() if p.is_file())

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
