"""A test-side GATT server: a bumble Device on one of the radio's spare
controllers, advertising with its public address, for the GATT client tests.

Everything bumble does runs on the radio's event loop (radio.run); the
methods here are called from the test's thread.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from bumble import gatt, hci
from bumble.device import Connection, Device, Peer
from bumble.transport import open_transport

from tools.radio import ControllerInfo, Radio


class BumbleGattServer:
    def __init__(self, radio: Radio, info: ControllerInfo) -> None:
        self.radio = radio
        self.info = info
        self.device: Device | None = None
        self.transport: Any = None
        self.connection: Connection | None = None
        self.services: list[gatt.Service] = []

    @property
    def address_bytes(self) -> bytes:
        """Its public address as the bluetooth module shows it (MSB first)."""
        return self.info.address_bytes

    def start(self, services: Iterable[gatt.Service]) -> None:
        """Power on with these services (after bumble's own GAP/GATT) and advertise."""
        self.services = list(services)
        self.radio.run(self._start(), timeout=20)

    async def _start(self) -> None:
        self.transport = await open_transport(self.info.client_spec)
        device = Device.with_hci('gattc-peer', hci.Address('F0:F1:F2:F3:F4:F5'),
                                 self.transport.source, self.transport.sink)
        device.add_services(self.services)
        device.on('connection', self._on_connection)
        await device.power_on()
        await device.start_advertising(own_address_type=hci.OwnAddressType.PUBLIC,
                                       advertising_interval_min=20,
                                       advertising_interval_max=20)
        self.device = device

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection

    def wait_connected(self, timeout: float = 10.0) -> Connection:
        async def wait() -> Connection:
            while self.connection is None:
                await asyncio.sleep(0.01)
            return self.connection
        return self.radio.run(wait(), timeout)

    def close(self) -> None:
        try:
            if self.transport is not None:
                self.radio.run(self.transport.close(), timeout=10)
        finally:
            self.radio.reset_controller(self.info.index)

    # -- what bumble serves ------------------------------------------------------
    def all_services(self) -> list[gatt.Service]:
        """Every service bumble serves, in handle order (its GAP/GATT ones too)."""
        assert self.device is not None
        return sorted(self.device.gatt_server.services, key=lambda s: s.handle)

    def att_mtu(self) -> int:
        assert self.connection is not None
        return self.radio.call(lambda: self.connection.att_mtu)

    # -- acting on the connection -------------------------------------------------
    def notify(self, characteristic: gatt.Characteristic, value: bytes) -> None:
        assert self.device is not None and self.connection is not None
        self.radio.run(self.device.notify_subscriber(self.connection, characteristic, value,
                                                     force=True))

    def indicate(self, characteristic: gatt.Characteristic, value: bytes,
                 timeout: float = 10.0) -> None:
        """Returns once the client confirmed (bumble waits for the confirmation)."""
        assert self.device is not None and self.connection is not None
        self.radio.run(self.device.indicate_subscriber(self.connection, characteristic, value,
                                                       force=True), timeout)

    def request_mtu(self, mtu: int) -> int:
        assert self.connection is not None
        return self.radio.run(Peer(self.connection).request_mtu(mtu))

    def disconnect(self) -> None:
        assert self.connection is not None
        self.radio.run(self.connection.disconnect())


def uuid_le(uuid: gatt.UUID) -> bytes:
    """A bumble UUID as bytes(bluetooth.UUID) gives it: little-endian, 2 or 16 bytes."""
    return uuid.to_pdu_bytes()
