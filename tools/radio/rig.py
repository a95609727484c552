"""Virtual boards on the virtual radio (the CLI is tools/boards.py).

A Rig owns one Radio and its boards. Each board runs in its own process
group; everything is killed on close(), on Ctrl-C/SIGTERM, at exit, and when
starting fails half way.

Each board has its own flash image (littlefs, mounted at / by the board):
`<fs_dir>/<kind><index>.img`. A Rig without fs_dir keeps them in its
temporary folder (gone at close); the CLI keeps them in BUILD/fs/, so files
put on a board survive from one `make repl` to the next (delete the .img
files to wipe them). `Rig.power_cycle(i)` restarts board i's process (its
REPL port changes; its flash and controller stay).
"""
from __future__ import annotations

import atexit
import dataclasses
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from .radio import ControllerInfo, Radio

KINDS = ('unix', 'qemu')
BOOT_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 3.0
UNIX_REPL_LINE = re.compile(rb'repl: (/dev/pts/\d+)')
QEMU_REPL_LINE = re.compile(rb'char device redirected to (/dev/pts/\d+) \(label serial0\)')


class BoardStartError(RuntimeError):
    """A board did not come up; the message says which and shows its output."""


@dataclasses.dataclass
class BoardProcess:
    kind: str
    index: int
    port: str  # the REPL's serial device
    controller: ControllerInfo
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors='replace')
        except OSError:
            return ''


def default_unix_binary(build: Path) -> Path:
    env = os.environ.get('MPBOARD_UNIX')
    return Path(env) if env else build / 'unix' / 'micropython'


def kill_group(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Stop a process started in its own group (SIGTERM, then SIGKILL), with its children."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
    except ProcessLookupError:
        pass


class Rig:
    """A radio plus boards of the given kinds (one controller per board), plus
    `spare` controllers on TCP for test-side hosts."""

    def __init__(
        self,
        kinds: Sequence[str],
        *,
        build: Path,
        unix_binary: Path | None = None,
        spare: int = 0,
        boot_timeout: float = BOOT_TIMEOUT_S,
        air_pacing: bool = True,
        fs_dir: Path | None = None,
        legacy_controllers: bool = False,
        connection_events: bool | None = None,
        unix_wrappers: dict[int, list[str]] | None = None,
    ) -> None:
        for kind in kinds:
            if kind not in KINDS:
                raise ValueError(f'unknown board kind {kind!r} (expected one of {KINDS})')
        self.kinds = list(kinds)
        self.build = build.resolve()
        self.unix_binary = (unix_binary or default_unix_binary(self.build)).resolve()
        qemu_env = os.environ.get('MPBOARD_QEMU')  # like MPBOARD_UNIX, for a private build
        self.qemu_firmware = Path(qemu_env).resolve() if qemu_env else \
            self.build / 'qemu' / 'firmware.elf'
        self.spare = spare
        self.boot_timeout = boot_timeout
        self.air_pacing = air_pacing
        # The old 27-octet LE 1M controllers (tools/radio/datalen.py).
        self.legacy_controllers = legacy_controllers
        self.connection_events = connection_events  # None: the radio's default
        # A command to run unix board N under (e.g. valgrind), by index.
        self.unix_wrappers = dict(unix_wrappers or {})
        self.workdir = Path(tempfile.mkdtemp(prefix='mpbt-rig-'))
        self.fs_dir = (fs_dir or self.workdir).resolve()
        self.radio: Radio | None = None
        self.boards: list[BoardProcess] = []
        self.spares: list[ControllerInfo] = []
        self._closed = False

    # -- lifecycle -------------------------------------------------------
    def start(self) -> Rig:
        atexit.register(self.close)
        try:
            self._check_binaries()
            transports = [self._transport_for(i, kind) for i, kind in enumerate(self.kinds)]
            transports += ['tcp-server:_:0'] * self.spare
            self.radio = Radio(transports, air_pacing=self.air_pacing,
                               legacy_controllers=self.legacy_controllers,
                               connection_events=self.connection_events).start()
            controllers = self.radio.controllers
            self.spares = controllers[len(self.kinds):]
            for index, kind in enumerate(self.kinds):
                self._spawn(index, kind, controllers[index], register=True)
            self.check_alive()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for board in self.boards:
            kill_group(board.process)
        if self.radio is not None:
            self.radio.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        atexit.unregister(self.close)

    def __enter__(self) -> Rig:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- boards ------------------------------------------------------------
    def _check_binaries(self) -> None:
        if 'unix' in self.kinds and not os.access(self.unix_binary, os.X_OK):
            raise BoardStartError(
                f'unix board binary {self.unix_binary} missing: run `make unix` '
                '(or set MPBOARD_UNIX / --unix-binary)')
        if 'qemu' in self.kinds:
            if not self.qemu_firmware.is_file():
                raise BoardStartError(f'qemu firmware {self.qemu_firmware} missing: run `make qemu`')
            if shutil.which('qemu-system-arm') is None:
                raise BoardStartError('qemu-system-arm is not installed')

    def _transport_for(self, index: int, kind: str) -> str:
        if kind == 'unix':
            return f'pty:{self.workdir / f"hci{index}"}'
        return 'tcp-server:_:0'  # qemu connects to it as a TCP client

    def fs_image(self, index: int) -> Path:
        """The flash image of board `index` (created by the board when missing)."""
        return self.fs_dir / f'{self.kinds[index]}{index}.img'

    def power_cycle(self, index: int) -> BoardProcess:
        """Stop board `index`'s process and start it again on the same flash
        image and controller; returns the new BoardProcess (new REPL port)."""
        old = self.boards[index]
        kill_group(old.process)
        self.boards[index] = self._spawn(index, old.kind, old.controller)
        return self.boards[index]

    def _command_for(self, index: int, kind: str, controller: ControllerInfo) -> list[str]:
        image = self.fs_image(index)
        if kind == 'unix':
            assert controller.pty_path
            return [*self.unix_wrappers.get(index, []),
                    str(self.unix_binary), '--hci', controller.pty_path, '--fs', str(image)]
        # The flash image is named on the semihosting command line (paths
        # without spaces or commas).
        return ['qemu-system-arm', '-machine', 'mps2-an385', '-nographic',
                '-monitor', 'null', '-semihosting-config',
                f'enable=on,target=native,arg=firmware,arg=fs={image}',
                '-serial', 'pty',
                # nodelay: HCI is small request/response packets; Nagle's
                # algorithm would hold each one back for a round trip.
                '-serial', f'tcp:127.0.0.1:{controller.tcp_port},nodelay=on',
                '-kernel', str(self.qemu_firmware)]

    def _spawn(self, index: int, kind: str, controller: ControllerInfo, *,
               register: bool = False) -> BoardProcess:
        log_path = self.workdir / f'board{index}-{kind}.log'
        self.fs_dir.mkdir(parents=True, exist_ok=True)
        command = self._command_for(index, kind, controller)
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True, cwd=self.workdir)
        except OSError as error:
            raise BoardStartError(f'could not run {command[0]}: {error}') from error
        # Register first, so a boot failure still kills it.
        board = BoardProcess(kind, index, '', controller, process, log_path)
        if register:
            self.boards.append(board)
        else:
            self.boards[index] = board
        # qemu 7.2 prints its pty line on stdout, other versions on stderr: watch both.
        streams = [process.stdout, process.stderr]
        pattern = UNIX_REPL_LINE if kind == 'unix' else QEMU_REPL_LINE
        log = open(log_path, 'ab')
        try:
            board.port = self._read_port(process, streams, pattern, log, f'{kind} board {index}')
        except BaseException:
            log.close()
            raise
        for pipe in streams:
            threading.Thread(target=_drain, args=(pipe, log_path), daemon=True).start()
        log.close()
        return board

    def _read_port(self, process: subprocess.Popen[bytes], streams: list[object],
                   pattern: re.Pattern[bytes], log: object, what: str) -> str:
        assert hasattr(log, 'write')
        seen = b''
        deadline = time.monotonic() + self.boot_timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select(streams, [], [], 0.1)
            for stream in ready:
                chunk = os.read(stream.fileno(), 4096)  # type: ignore[attr-defined]
                seen += chunk
                log.write(chunk)  # type: ignore[attr-defined]
                if match := pattern.search(seen):
                    return match.group(1).decode()
            if not ready and process.poll() is not None:
                raise BoardStartError(
                    f'{what} exited with code {process.returncode} before giving its REPL '
                    f'port; output:\n{seen.decode(errors="replace")}')
        raise BoardStartError(f'{what} gave no REPL port within {self.boot_timeout:.0f} s; '
                              f'output so far:\n{seen.decode(errors="replace")}')

    def check_alive(self) -> None:
        """Raise BoardStartError naming the first board whose process has exited."""
        for board in self.boards:
            if not board.alive:
                raise BoardStartError(
                    f'{board.kind} board {board.index} exited with code '
                    f'{board.process.returncode}; output:\n{board.output()}')

    def describe(self) -> str:
        lines = []
        for board in self.boards:
            lines.append(f'board {board.index} ({board.kind}): repl {board.port}  '
                         f'address {board.controller.public_address}  pid {board.process.pid}')
        for spare in self.spares:
            lines.append(f'spare controller {spare.index}: {spare.client_spec}  '
                         f'address {spare.public_address}')
        return '\n'.join(lines)


def _drain(pipe: object, log_path: Path) -> None:
    """Keep a board's pipes empty (a full pipe would block the board)."""
    assert hasattr(pipe, 'read')
    with open(log_path, 'ab') as log:
        while chunk := pipe.read1(4096):  # type: ignore[attr-defined]
            log.write(chunk)
            log.flush()
