"""A bumble Security Manager peer for the pairing tests: bumble's own SMP (an
independent implementation) on one of the radio's spare controllers, as
central (it connects to the board) or as peripheral (it advertises and the
board connects). Passkeys and comparisons go through a delegate that
records what bumble was shown and answers what the test set.
"""
from __future__ import annotations

import asyncio
import queue
from typing import Any

from bumble import hci
from bumble.core import ProtocolError
from bumble.device import Connection
from bumble.pairing import PairingConfig, PairingDelegate

from gatts_peer import GattPeer
from test_radio_enc import PeerDevice
from tools.radio import ControllerInfo

IO = PairingDelegate.IoCapability
SMP_CID = 6
# config('io') numbers -> bumble's delegate capabilities. bumble maps
# KeyboardDisplay to DisplayYesNo for BR/EDR only; its SMP value is 4.
IO_OF = {
    0: IO.DISPLAY_OUTPUT_ONLY,
    1: IO.DISPLAY_OUTPUT_AND_YES_NO_INPUT,
    2: IO.KEYBOARD_INPUT_ONLY,
    3: IO.NO_OUTPUT_NO_INPUT,
    4: IO.DISPLAY_OUTPUT_AND_KEYBOARD_INPUT,
}


class Delegate(PairingDelegate):
    def __init__(self, peer: 'SmpPeer', io: int) -> None:
        super().__init__(io_capability=IO_OF[io])
        self.peer = peer

    async def accept(self) -> bool:
        return True

    async def confirm(self, auto: bool = False) -> bool:
        return True

    async def compare_numbers(self, number: int, digits: int) -> bool:
        self.peer.shown.put(number)
        return self.peer.accept_comparison

    async def get_number(self) -> int | None:
        # The passkey the user types: the test sets it (or gives it later).
        for _ in range(1000):
            if self.peer.typed is not None:
                return self.peer.typed
            await asyncio.sleep(0.01)
        return None

    async def display_number(self, number: int, digits: int) -> None:
        self.peer.shown.put(number)


class SmpPeer(GattPeer):
    # bumble 0.0.236's legacy-bonded peripheral answers LTK requests with
    # the wrong key; test_radio_enc's PeerDevice fixes that.
    device_class = PeerDevice

    def __init__(self, info: ControllerInfo) -> None:
        super().__init__(info)
        self.shown: queue.Queue[int] = queue.Queue()
        self.typed: int | None = None
        self.accept_comparison = True
        self.incoming: Connection | None = None

    def configure(self, *, io: int = 3, sc: bool = True, mitm: bool = False,
                  bond: bool = True) -> None:
        delegate = Delegate(self, io)

        def factory(_connection: Any) -> PairingConfig:
            return PairingConfig(sc=sc, mitm=mitm, bonding=bond, delegate=delegate)
        assert self.device is not None
        self.device.pairing_config_factory = factory

    def advertise(self) -> None:
        """Advertise (public address) until the board connects."""
        async def go() -> None:
            assert self.device is not None

            def on_connection(connection: Connection) -> None:
                self.incoming = connection
                self.connection = connection
            self.device.once('connection', on_connection)
            await self.device.start_advertising(own_address_type=hci.OwnAddressType.PUBLIC,
                                                advertising_interval_min=20,
                                                advertising_interval_max=20, auto_restart=False)
        self.run(go())

    def wait_incoming(self, timeout: float = 10.0) -> Connection:
        async def wait() -> Connection:
            while self.incoming is None:
                await asyncio.sleep(0.01)
            return self.incoming
        return self.run(wait(), timeout)

    def pair_result(self, timeout: float = 35) -> int:
        """Pair as initiator (bumble central): 0, or the SMP reason it failed with."""
        async def go() -> int:
            try:
                await asyncio.wait_for(self.connection.pair(), timeout)
            except ProtocolError as error:
                return int(error.error_code)
            return 0
        return self.run(go(), timeout + 5)

    def expect_pairing(self) -> None:
        """Listen for the outcome of a pairing the board is about to start."""
        async def go() -> None:
            result: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._result = result
            connection = self.connection
            connection.once('pairing', lambda _keys: result.done() or result.set_result(0))
            connection.once('pairing_failure',
                            lambda reason: result.done() or result.set_result(int(reason)))
        self.run(go())

    def wait_pairing(self, timeout: float = 35) -> int:
        """0 when the pairing expect_pairing() listened for succeeded, else
        the reason it failed with."""
        async def go() -> int:
            return await asyncio.wait_for(self._result, timeout)
        return self.run(go(), timeout + 5)

    def pair_on_security_request(self) -> None:
        """bumble leaves a Security Request to the application: pair on it
        (and count it)."""
        self.security_requests = 0

        async def go() -> None:
            connection = self.connection

            def on_request(_auth_req: int) -> None:
                self.security_requests += 1
                asyncio.ensure_future(connection.pair())
            connection.on('security_request', on_request)
        self.run(go())

    def take_smp_channel(self) -> None:
        """From now on SMP PDUs from the board go to smp_rx, not to bumble's
        Security Manager (a misbehaving peer speaks through send_smp)."""
        self.smp_in: queue.Queue[bytes] = queue.Queue()
        assert self.device is not None
        self.device.l2cap_channel_manager.register_fixed_channel(
            SMP_CID, lambda _handle, pdu: self.smp_in.put(bytes(pdu)))

    def send_smp(self, pdu: bytes) -> None:
        async def send() -> None:
            self.device.send_l2cap_pdu(self.connection.handle, SMP_CID, pdu)  # type: ignore[union-attr]
        self.run(send())

    def smp_rx(self, timeout: float = 5.0) -> bytes:
        return self.smp_in.get(timeout=timeout)

    def encrypted(self) -> bool:
        async def go() -> bool:
            return bool(self.connection.is_encrypted)
        return self.run(go())
