"""HCI transports for the radio's controllers, and their btsnoop captures.

pty:PATH uses bumble's pty transport (a symlink at PATH to the pty the
board opens). tcp-server:HOST:PORT is our own: it listens on 127.0.0.1 only
('_' means 127.0.0.1 here, port 0 picks a free port), serves one client at a
time (a new client replaces the old one), and restarts the H4 parser for
each client so a board that died mid-packet cannot desynchronise the next.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from typing import BinaryIO

from bumble.snoop import BtSnooper, Snooper
from bumble.transport import open_transport
from bumble.transport.common import (
    ParserSource,
    SnoopingTransport,
    Transport,
    TransportSink,
)

logger = logging.getLogger(__name__)


class TcpServerSource(ParserSource):
    pass


class TcpServerSink:
    def __init__(self) -> None:
        self.client: asyncio.Transport | None = None

    def on_packet(self, packet: bytes) -> None:
        if self.client is not None and not self.client.is_closing():
            self.client.write(packet)


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, source: TcpServerSource, sink: TcpServerSink) -> None:
        self.source = source
        self.sink = sink
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self.sink.client is not None:
            self.sink.client.close()
        self.transport = transport
        self.sink.client = transport
        self.source.parser.reset()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.sink.client is self.transport:
            self.sink.client = None
            self.source.parser.reset()

    def data_received(self, data: bytes) -> None:
        if self.sink.client is not self.transport:
            return
        try:
            self.source.parser.feed_data(data)
        except Exception:  # noqa: BLE001 - garbage must not kill the server
            logger.warning('bad H4 stream from client, resynchronising')
            self.source.parser.reset()


class TcpServerTransport(Transport):
    def __init__(self, source: TcpServerSource, sink: TcpServerSink,
                 server: asyncio.Server) -> None:
        super().__init__(source, sink)
        self.server = server
        self.port: int = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        sink = self.sink
        assert isinstance(sink, TcpServerSink)
        if sink.client is not None:
            sink.client.close()
        self.server.close()
        await self.server.wait_closed()


async def open_tcp_server(spec: str) -> TcpServerTransport:
    host, port = spec.rsplit(':', 1)
    if host in ('_', ''):
        host = '127.0.0.1'
    source = TcpServerSource()
    sink = TcpServerSink()
    server = await asyncio.get_running_loop().create_server(
        lambda: _ClientProtocol(source, sink), host=host, port=int(port)
    )
    return TcpServerTransport(source, sink, server)


async def open_controller_transport(name: str) -> Transport:
    scheme, _, spec = name.partition(':')
    if scheme == 'tcp-server':
        return await open_tcp_server(spec)
    if scheme == 'pty':
        if not spec:
            raise ValueError('pty transports need a path: pty:PATH')
        if os.path.islink(spec):
            os.unlink(spec)  # stale link from a killed radio
        return await open_transport(name)
    raise ValueError(f'unsupported controller transport {name!r} (pty:PATH or tcp-server:_:PORT)')


class CaptureSnooper(Snooper):
    """A btsnoop writer whose output file can be switched while running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._writer: BtSnooper | None = None

    def open(self, path: Path) -> None:
        with self._lock:
            self._close_locked()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, 'wb')
            self._writer = BtSnooper(self._file)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._writer = None

    def snoop(self, hci_packet: bytes, direction: Snooper.Direction) -> None:
        # bumble's SnoopingTransport names directions from a host's side of
        # the transport; ours is the controller's side (what the transport
        # reads comes from the board's host), so the two are swapped.
        direction = (Snooper.Direction.HOST_TO_CONTROLLER
                     if direction == Snooper.Direction.CONTROLLER_TO_HOST
                     else Snooper.Direction.CONTROLLER_TO_HOST)
        with self._lock:
            if self._writer is not None:
                self._writer.snoop(hci_packet, direction)
                assert self._file is not None
                self._file.flush()


def with_capture(transport: Transport, snooper: CaptureSnooper) -> Transport:
    return SnoopingTransport(transport, snooper, snooper.close)


__all__ = ['CaptureSnooper', 'TransportSink', 'open_controller_transport', 'with_capture']
