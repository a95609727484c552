"""A board running MicroPython with the bluetooth module, driven over its
serial REPL with mpremote's transport (public API of the plugin)."""
from __future__ import annotations

import ast
import dataclasses
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from .api_names import EVENT_NAMES, EVENTS

from .recorder import RECORDER_SOURCE

DEFAULT_TIMEOUT_S = 10.0
OUTPUT_LOG_LIMIT = 400
RESET_PULSE_S = 0.1


class BoardError(AssertionError):
    """Code run on a board raised; the message holds the board's traceback."""

    def __init__(self, board: str, code: str, traceback: str) -> None:
        super().__init__(f'{board} raised:\n{traceback.strip()}\n--- code ---\n{code.strip()}')
        self.traceback = traceback

    @property
    def exception_name(self) -> str:
        """E.g. 'ValueError' for the last line 'ValueError: ...'."""
        last = self.traceback.strip().splitlines()[-1] if self.traceback.strip() else ''
        return last.split(':', 1)[0].strip()


@dataclasses.dataclass(frozen=True)
class RemoteUUID:
    """A bluetooth.UUID seen in an event: its bytes (little-endian, as bytes(uuid))."""

    raw: bytes


@dataclasses.dataclass(frozen=True)
class Event:
    code: int
    data: tuple[Any, ...]

    @property
    def name(self) -> str:
        return EVENT_NAMES.get(self.code, f'event {self.code}')

    def __str__(self) -> str:
        return f'{self.name}{self.data!r}'


def _from_record(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == 'UUID':
        return RemoteUUID(value[1])
    return value


class Board:
    """One board on a serial REPL port (a real board's /dev/tty..., or a
    virtual board's pty). Methods raise AssertionError (BoardError when code
    on the board raised) so a failure reads as a test failure."""

    def __init__(self, port: str, *, kind: str, name: str,
                 address: bytes | None = None, controller: int | None = None,
                 reset_method: str = 'machine') -> None:
        self.port = port
        self.kind = kind
        self.name = name
        self.address = address  # the public address its radio controller has, if known
        self.controller = controller  # its controller's index on the virtual radio, if any
        self.reset_method = reset_method  # hard_reset(): machine, dtr or rts (rig file)
        self.output: list[str] = []  # code sent and what came back, for failure reports
        self.events: list[Event] = []  # every IRQ event seen since the last soft reset
        self._pending: list[Event] = []
        self._transport: SerialTransport | None = None
        self._running: str | None = None  # code started with start(), not yet joined
        self._early = b''  # its output read by wait_for_output(), for join()

    # -- connection ----------------------------------------------------------
    @property
    def transport(self) -> SerialTransport:
        if self._transport is None:
            self._transport = SerialTransport(self.port, baudrate=115200)
            self._transport.enter_raw_repl(soft_reset=False)
        return self._transport

    def close(self) -> None:
        if self._transport is not None:
            transport, self._transport = self._transport, None
            # The board may be gone (its port reports I/O errors): closing
            # is still done as far as it goes.
            for step in (transport.exit_raw_repl, transport.close):
                try:
                    step()
                except Exception:  # noqa: BLE001 - whatever the dead port raises
                    pass

    def _log(self, line: str) -> None:
        self.output.append(line)
        del self.output[:-OUTPUT_LOG_LIMIT]

    # -- running code --------------------------------------------------------
    def soft_reset(self) -> None:
        """Soft-reset the board and reinstall the IRQ recorder (not attached)."""
        self.join()
        self._log('--- soft reset ---')
        self.transport.enter_raw_repl(soft_reset=True)
        self.events.clear()
        self._pending.clear()
        self._send(RECORDER_SOURCE, log_as='(IRQ recorder installed)')
        self._follow(RECORDER_SOURCE, DEFAULT_TIMEOUT_S)

    def reset(self, code: str = 'import machine\nmachine.reset()',
              timeout: float = DEFAULT_TIMEOUT_S, until: bytes = b'>>> ',
              take_repl: bool = True) -> str:
        """Run code that resets the board (machine.reset(), deepsleep, ...),
        wait until the fresh start prints `until` (the friendly REPL's prompt,
        after boot.py and main.py), and return everything the board printed
        after the code was sent; then (unless not take_repl) take the raw REPL
        again and reinstall the IRQ recorder. `timeout` is the longest
        silence allowed."""
        self.join()
        self._send(code)
        data = self.transport.read_until(1, until, timeout=timeout)
        text = data.decode(errors='replace')
        self._log(text.rstrip())
        if not data.endswith(until):
            raise AssertionError(f'{self.name}: no {until!r} after the reset within '
                                 f'{timeout} s of silence; got {text!r}')
        if take_repl:
            self.take_repl()
        return text

    def hard_reset(self, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        """Restart the processor (RAM is lost), then take the raw REPL again;
        returns what the board printed. How: reset_method 'dtr' or 'rts'
        pulses that serial line (wired to the reset pin on most USB boards),
        'machine' runs machine.reset()."""
        if self.reset_method == 'machine':
            return self.reset(timeout=timeout)
        self.join()
        self._log(f'--- hard reset ({self.reset_method}) ---')
        serial = self.transport.serial
        setattr(serial, self.reset_method, True)
        time.sleep(RESET_PULSE_S)
        setattr(serial, self.reset_method, False)
        data = self.transport.read_until(1, b'>>> ', timeout=timeout)
        self._log(data.decode(errors='replace').rstrip())
        self.take_repl()
        return data.decode(errors='replace')

    def take_repl(self) -> None:
        """Interrupt whatever runs, enter the raw REPL, reinstall the recorder."""
        self.transport.enter_raw_repl(soft_reset=False)
        self.events.clear()
        self._pending.clear()
        self._send(RECORDER_SOURCE, log_as='(IRQ recorder installed)')
        self._follow(RECORDER_SOURCE, DEFAULT_TIMEOUT_S)

    def exec(self, code: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        """Run code; return its output. Raises BoardError if it raised."""
        self.join()
        self._send(code)
        return self._follow(code, timeout)

    def eval(self, expression: str, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """Evaluate an expression on the board; its repr must be a literal."""
        text = self.exec(f'print(repr({expression}))', timeout).strip()
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError) as error:
            raise AssertionError(f'{self.name}: {expression} -> {text!r} is not a literal') from error

    def raises(self, code: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        """Run code that must raise; return the exception's class name."""
        try:
            self.exec(code, timeout)
        except BoardError as error:
            return error.exception_name
        raise AssertionError(f'{self.name}: expected an exception from:\n{code}')

    def start(self, code: str) -> None:
        """Start code and return at once; join() (or the next exec) waits for it."""
        self.join()
        self._send(code)
        self._running = code

    def wait_for_output(self, text: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        """While code started with start() runs: wait until it has printed
        `text` and return what it printed so far (join() still returns all
        of it). `timeout` is the longest silence allowed."""
        if self._running is None:
            raise AssertionError(f'{self.name}: wait_for_output({text!r}) with nothing started')
        data = self.transport.read_until(1, text.encode(), timeout=timeout)
        self._early += data
        printed = self._early.decode(errors='replace')
        if b'\x04' in data:  # the code ended (raw REPL's end of output) first
            raise AssertionError(f'{self.name}: the code ended without printing {text!r}; '
                                 f'printed {printed!r}')
        if not data.endswith(text.encode()):
            raise AssertionError(f'{self.name}: no {text!r} within {timeout} s of silence; '
                                 f'printed {printed!r}')
        return printed

    def join(self, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        if self._running is None:
            return ''
        code, self._running = self._running, None
        early, self._early = self._early.decode(errors='replace'), b''
        return early + self._follow(code, timeout)

    def _send(self, code: str, log_as: str | None = None) -> None:
        self._log(log_as or f'>>> {code.strip()}')
        try:
            self.transport.exec_raw_no_follow(code)
        except TransportError as error:
            raise AssertionError(f'{self.name} ({self.port}) did not take code: {error}') from error

    def _follow(self, code: str, timeout: float) -> str:
        try:
            out, err = self.transport.follow(timeout)
        except TransportError as error:
            raise AssertionError(f'{self.name}: no answer within {timeout} s ({error})') from error
        text = out.decode(errors='replace')
        if text:
            self._log(text.rstrip())
        if err:
            message = err.decode(errors='replace')
            self._log(f'!!! {message.rstrip()}')
            raise BoardError(self.name, code, message)
        return text

    # -- files on the board's filesystem ------------------------------------------
    def put(self, local: Path | str, remote: str) -> None:
        """Copy a local file to `remote` on the board (like `mpremote cp F :remote`)."""
        self.join()
        self._log(f'(put {local} -> :{remote})')
        self._fs(lambda t: t.fs_writefile(remote, Path(local).read_bytes()))

    def get(self, remote: str, local: Path | str) -> None:
        """Copy `remote` from the board to a local file (like `mpremote cp :remote F`)."""
        self.join()
        self._log(f'(get :{remote} -> {local})')
        Path(local).write_bytes(self._fs(lambda t: t.fs_readfile(remote)))

    def _fs(self, action: Callable[[SerialTransport], Any]) -> Any:
        try:
            return action(self.transport)
        except TransportError as error:
            raise AssertionError(f'{self.name}: file transfer failed: {error}') from error

    # -- IRQ events ------------------------------------------------------------
    def attach_recorder(self, ble: str = 'bluetooth.BLE()') -> None:
        """Make the recorder the IRQ handler of `ble` (an expression on the board)."""
        self.exec(f'{ble}.irq(_mpbt_rec.irq)')

    def reply(self, event: str | int, value: Any) -> None:
        """What the recorder's handler returns for `event` (e.g. for READ_REQUEST)."""
        self.exec(f'_mpbt_rec.replies[{_code(event)}] = {value!r}')

    def take_events(self) -> list[Event]:
        self._collect(self.eval('_mpbt_rec.take()'))
        found, self._pending = self._pending, []
        return found

    def wait_for_event(self, event: str | int, timeout: float = DEFAULT_TIMEOUT_S,
                       predicate: Callable[[Event], bool] | None = None) -> Event:
        """Return the first not yet consumed event of this kind matching predicate."""
        code = _code(event)

        def matches(candidate: Event) -> bool:
            return candidate.code == code and (predicate is None or predicate(candidate))

        deadline = time.monotonic() + timeout
        while True:
            for index, candidate in enumerate(self._pending):
                if matches(candidate):
                    return self._pending.pop(index)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = ', '.join(str(e) for e in self.events[-20:]) or 'none'
                raise AssertionError(
                    f'{self.name}: no {EVENT_NAMES.get(code, code)} within {timeout} s; '
                    f'events seen: {seen}')
            wait_ms = int(min(remaining, 5.0) * 1000)
            records = self.eval(f'_mpbt_rec.wait(({code},), {wait_ms})', timeout=wait_ms / 1000 + 10)
            self._collect(records)

    def _collect(self, records: Iterable[tuple[int, tuple[Any, ...]]]) -> None:
        for code, data in records:
            event = Event(code, tuple(_from_record(value) for value in data))
            self.events.append(event)
            self._pending.append(event)
            self._log(f'IRQ {event}')

    def event_log(self) -> str:
        """Every IRQ event seen since the last soft reset, one a line."""
        return '\n'.join(str(e) for e in self.events)

    def report(self) -> str:
        lines = [f'===== {self.name} ({self.kind}, {self.port}) output =====']
        lines += self.output[-80:]
        lines.append(f'----- {self.name} IRQ events -----')
        lines += [str(e) for e in self.events] or ['(none)']
        return '\n'.join(lines)


def _code(event: str | int) -> int:
    if isinstance(event, int):
        return event
    if event in EVENTS:
        return EVENTS[event]
    raise ValueError(f'unknown event name {event!r}')
