"""The virtual radio: N faithful controllers on one link, each on its own HCI
transport, run by an asyncio loop in a background thread.

The radio runs in the process that uses it (the pytest process, the board
launcher) so tests can read what the radio assigned (public addresses, TCP
ports) and switch btsnoop captures per test with plain method calls. A test
that wants an independent peer asks for a spare `tcp-server` controller and
connects to it with a raw HCI client or a bumble Device over
`tcp-client:127.0.0.1:PORT`.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import dataclasses
import logging
import os
import select
import selectors
import sys
import threading
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from bumble.transport.common import Transport

from .controller import FaithfulController, LinkInfo
from .datalen import CURRENT, LEGACY
from .link import FaithfulLink
from .transport import CaptureSnooper, TcpServerTransport, open_controller_transport, with_capture

logger = logging.getLogger(__name__)
T = TypeVar('T')

START_TIMEOUT_S = 10.0
FD_SETSIZE = 1024  # select()'s limit on descriptor numbers
PR_SET_TIMERSLACK = 29  # prctl option (linux/prctl.h)
RADIO_TIMER_SLACK_NS = 1000


def tighten_timer_slack() -> None:
    """Let the calling thread's timed waits end within a microsecond of
    their deadline instead of Linux's default 50 us of slack (half of what
    the radio's deliveries were late by); best effort, Linux only."""
    if not sys.platform.startswith('linux'):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, RADIO_TIMER_SLACK_NS, 0, 0, 0)
    except (OSError, AttributeError):
        pass


HAVE_EPOLL = hasattr(selectors, 'EpollSelector')  # Linux
_EPOLL: type = getattr(selectors, 'EpollSelector', selectors.DefaultSelector)


class PreciseEpollSelector(_EPOLL):
    """epoll with a sub-millisecond timeout. epoll_wait counts whole
    milliseconds and asyncio rounds a timer's wait up to the next one, so
    every air slot (1.4 ms for a 251-octet PDU on LE 2M) would end up to a
    millisecond late; select() on the epoll descriptor (readable when any of
    its descriptors is) waits in microseconds, then epoll collects what is
    ready without waiting."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        epoll_fd = self._selector.fileno()  # type: ignore[attr-defined]
        if timeout is not None and timeout > 0 and epoll_fd < FD_SETSIZE:
            try:
                select.select([epoll_fd], [], [], timeout)
            except InterruptedError:
                pass
            timeout = 0
        return super().select(timeout)


def public_address_for(index: int) -> str:
    """The public address of controller `index` (locally administered, unique)."""
    return f'02:B1:E0:00:00:{index + 1:02X}'


@dataclasses.dataclass(frozen=True)
class ControllerInfo:
    index: int
    transport: str  # as requested, e.g. pty:/tmp/x/hci0 or tcp-server:_:0
    public_address: str  # 'AA:BB:CC:DD:EE:FF', most significant byte first
    tcp_port: int | None  # the port really listened on, for tcp-server
    pty_path: str | None

    @property
    def address_bytes(self) -> bytes:
        """The address as MicroPython's bluetooth module gives it (MSB first)."""
        return bytes.fromhex(self.public_address.replace(':', ''))

    @property
    def client_spec(self) -> str:
        """bumble transport spec a test-side host uses to reach this controller."""
        if self.tcp_port is None:
            raise ValueError(f'controller {self.index} is not on TCP')
        return f'tcp-client:127.0.0.1:{self.tcp_port}'


class Radio:
    """Start with `with Radio([...]) as radio:` or start()/stop()."""

    def __init__(
        self,
        transports: Sequence[str],
        *,
        le_acl_data_packet_length: int | None = None,
        capture_dir: Path | None = None,
        air_pacing: bool = True,
        legacy_controllers: bool | Collection[int] = False,
        connection_events: bool | None = None,
    ) -> None:
        if not transports:
            raise ValueError('a radio needs at least one controller transport')
        self.transport_names = list(transports)
        self.le_acl_data_packet_length = le_acl_data_packet_length
        # The old controller: 27-octet buffers and PDUs, LE 1M only, no data
        # length nor PHY commands (datalen.py); True for all controllers, or
        # the indices of some. The others: 251 octets and LE 2M.
        self.legacy_indices = (set(range(len(self.transport_names))) if legacy_controllers is True
                               else set(legacy_controllers or ()))
        self.initial_capture_dir = capture_dir
        # ACL data takes LE 1M air time per connection direction (link.py);
        # only bench tools that say so may turn it off.
        self.air_pacing = air_pacing
        # Data only inside connection events (link.py, air.EventTiming), as
        # on air; by default on unless the environment's
        # RADIO_CONNECTION_EVENTS is 0 (a whole test run without them).
        self.connection_events = (os.environ.get('RADIO_CONNECTION_EVENTS', '1') != '0'
                                  if connection_events is None else connection_events)
        self.controllers: list[ControllerInfo] = []
        self._faithful: list[FaithfulController] = []
        self._transports: list[Transport] = []
        self._snoopers: list[CaptureSnooper] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> Radio:
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,),
                                        name='virtual-radio', daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        if self.initial_capture_dir is not None:
            self.start_captures(self.initial_capture_dir)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and self._stopped is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stopped.set)
        if thread is not None:
            thread.join(timeout=START_TIMEOUT_S)
        self._thread = None
        for snooper in self._snoopers:
            snooper.close()

    def __enter__(self) -> Radio:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        tighten_timer_slack()  # this thread only: the radio's own
        loop = (asyncio.SelectorEventLoop(PreciseEpollSelector()) if HAVE_EPOLL
                else asyncio.new_event_loop())
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as error:  # noqa: BLE001 - report to start()
            if not ready.done():
                ready.set_exception(error)
            logger.exception('radio stopped with an error')
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        self._stopped = asyncio.Event()
        link = FaithfulLink(air_pacing=self.air_pacing,
                            connection_events=self.connection_events)
        try:
            for index, name in enumerate(self.transport_names):
                transport = await open_controller_transport(name)
                snooper = CaptureSnooper()
                wrapped = with_capture(transport, snooper)
                self._transports.append(wrapped)
                self._snoopers.append(snooper)
                address = public_address_for(index)
                self._faithful.append(FaithfulController(
                    f'C{index}',
                    link=link,
                    public_address=address,
                    host_source=wrapped.source,
                    host_sink=wrapped.sink,
                    le_acl_data_packet_length=self.le_acl_data_packet_length,
                    capabilities=LEGACY if index in self.legacy_indices else CURRENT,
                ))
                self.controllers.append(ControllerInfo(
                    index=index,
                    transport=name,
                    public_address=address,
                    tcp_port=transport.port if isinstance(transport, TcpServerTransport) else None,
                    pty_path=name.partition(':')[2] if name.startswith('pty:') else None,
                ))
            ready.set_result(None)
            await self._stopped.wait()
        finally:
            for transport in self._transports:
                try:
                    await transport.close()
                except Exception:  # noqa: BLE001 - keep closing the others
                    logger.exception('closing a transport')

    # -- use from other threads -----------------------------------------
    def call(self, function: Callable[[], T], timeout: float = 5.0) -> T:
        """Run `function` on the radio's loop and return its result."""
        async def invoke() -> T:
            return function()
        return self.run(invoke(), timeout)

    def run(self, coroutine: Awaitable[T], timeout: float = 30.0) -> T:
        """Run a coroutine on the radio's loop (e.g. a test-side bumble Device)."""
        if self._loop is None or not self.running:
            raise RuntimeError('radio is not running')
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def connections(self, index: int) -> list[LinkInfo]:
        """The live LE connections of controller `index`, with their parameters."""
        return self.call(self._faithful[index].link_info)

    def controller(self, index: int) -> FaithfulController:
        """Controller `index` itself: touch it only on the radio's loop (call/run)."""
        return self._faithful[index]

    def reset_controller(self, index: int) -> None:
        """Reset controller `index` as HCI_Reset would (stops adv/scan, drops links)."""
        self.call(self._faithful[index].reset_state)

    # -- captures ----------------------------------------------------------
    def start_captures(self, directory: Path) -> list[Path]:
        paths = []
        for info, snooper in zip(self.controllers, self._snoopers):
            path = directory / f'controller{info.index}.btsnoop'
            snooper.open(path)
            paths.append(path)
        return paths

    def stop_captures(self) -> None:
        for snooper in self._snoopers:
            snooper.close()
