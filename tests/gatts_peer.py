"""A bumble GATT client on one of the radio's spare controllers, for the GATT
server tests: discovery, reads, writes, subscriptions and raw ATT PDUs
against a board. Its asyncio loop runs in its own thread; each call runs
one coroutine there and waits for it.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import pytest

from bumble import hci
from bumble.core import ProtocolError
from bumble.device import Device, Peer
from bumble.transport import open_transport

from tools.radio import ControllerInfo

T = TypeVar('T')
ATT_CID = 4
# A Read Request for handle 1 (the server's GAP service declaration: always
# readable, and a board raises no event for it), and its response's opcode.
MARKER_READ = bytes([0x0a, 0x01, 0x00])
READ_RSP = 0x0b


class GattPeer:
    device_class: type[Device] = Device

    def __init__(self, info: ControllerInfo) -> None:
        self.info = info
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.raw_rx: queue.Queue[bytes] = queue.Queue()
        self.notified: queue.Queue[tuple[int, bytes]] = queue.Queue()
        self.indicated: queue.Queue[tuple[int, bytes]] = queue.Queue()
        self.transport: Any = None
        self.device: Device | None = None
        self.connection: Any = None
        self.peer: Peer | None = None
        self.run(self._open())

    def run(self, coroutine: Awaitable[T], timeout: float = 40.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)  # type: ignore[arg-type]

    async def _open(self) -> None:
        self.transport = await open_transport(self.info.client_spec)
        device = self.device_class.with_hci('gatt-peer', hci.Address('F0:F1:F2:F3:F4:F5'),
                                 self.transport.source, self.transport.sink)
        await device.power_on()
        manager = device.l2cap_channel_manager
        original = manager.fixed_channels[ATT_CID]

        def tap(connection_handle: int, pdu: bytes) -> None:
            self.raw_rx.put(bytes(pdu))
            original(connection_handle, pdu)

        manager.register_fixed_channel(ATT_CID, tap)
        self.device = device

    def connect(self, addr: bytes, addr_type: int = 0) -> None:
        async def go() -> None:
            assert self.device is not None
            kind = (hci.Address.PUBLIC_DEVICE_ADDRESS if addr_type == 0
                    else hci.Address.RANDOM_DEVICE_ADDRESS)
            target = hci.Address(bytes(reversed(addr)), kind)
            self.connection = await self.device.connect(
                target, own_address_type=hci.OwnAddressType.PUBLIC, timeout=10)
            self.peer = Peer(self.connection)
            client = self.connection.gatt_client
            client_notify = client.on_att_handle_value_notification
            client_indicate = client.on_att_handle_value_indication

            def on_notify(pdu: Any) -> None:
                self.notified.put((pdu.attribute_handle, bytes(pdu.attribute_value)))
                client_notify(pdu)

            def on_indicate(pdu: Any) -> None:
                self.indicated.put((pdu.attribute_handle, bytes(pdu.attribute_value)))
                client_indicate(pdu)

            client.on_att_handle_value_notification = on_notify
            client.on_att_handle_value_indication = on_indicate
        self.run(go())

    def ignore_indications(self) -> None:
        """Stop confirming indications (a misbehaving client)."""
        assert self.connection is not None
        self.connection.gatt_client.send_confirmation = lambda pdu: None

    def disconnect(self) -> None:
        async def go() -> None:
            await self.connection.disconnect()
        self.run(go())

    def round_trip(self) -> None:
        """Read the server's handle 1 and wait for the answer. ATT goes in order
        both ways on the link: when it is here, the server has handled every PDU
        this peer sent before, and whatever the server sent before answering
        (notifications, indications, responses) has arrived and been queued."""
        assert self.peer is not None
        self.run(self.peer.read_value(1))

    def _send_raw(self, pdu: bytes) -> None:
        """Forget what the server sent so far, then send one ATT PDU."""
        while not self.raw_rx.empty():
            self.raw_rx.get_nowait()
        self.send_raw(pdu)

    def send_raw(self, pdu: bytes) -> None:
        """Send one ATT PDU and return at once."""
        async def send() -> None:
            self.device.send_l2cap_pdu(self.connection.handle, ATT_CID, pdu)  # type: ignore[union-attr]
        self.run(send())

    def raw(self, pdu: bytes, timeout: float = 5.0) -> bytes:
        """Send one ATT PDU; return the next server-to-client PDU that is not a
        notification or indication."""
        self._send_raw(pdu)
        while True:
            rsp = self.raw_rx.get(timeout=timeout)
            if rsp[0] not in (0x1b, 0x1d):  # notification, indication
                return rsp

    def raw_silence(self, pdu: bytes, timeout: float = 5.0) -> bool:
        """Send a PDU that needs no answer; True if nothing came back. A Read
        Request follows it: the server handles PDUs in order and answers in
        order on the link, so anything it sent for `pdu` comes before the
        read's response; silence is that response coming first."""
        self._send_raw(pdu)
        self.send_raw(MARKER_READ)
        try:
            first = self.raw_rx.get(timeout=timeout)
        except queue.Empty:
            return False  # not even the read was answered: nothing is proven
        return first[0] == READ_RSP

    def close(self) -> None:
        async def go() -> None:
            if self.transport is not None:
                await self.transport.close()
        try:
            self.run(go(), timeout=5)
        except Exception:  # noqa: BLE001 - best effort
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@pytest.fixture
def gatt_peer(spare_controller: ControllerInfo) -> Iterator[GattPeer]:
    """A bumble GATT client on a spare controller, closed after the test."""
    peer = GattPeer(spare_controller)
    try:
        yield peer
    finally:
        peer.close()
