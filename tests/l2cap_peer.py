"""A bumble peer with LE credit-based channels, on one of the radio's spare
controllers, for the L2CAP tests: it opens channels on a listening board,
serves a PSM the board connects to, sends and receives SDUs with bumble's
own flow control, and sends raw K-frames that break the credit rules.

The device, its link to the board and its asyncio thread are GattPeer's
(tests/gatts_peer.py); this adds the channel side.
"""
from __future__ import annotations

import queue

from bumble.l2cap import L2capError, LeCreditBasedChannel, LeCreditBasedChannelSpec

from gatts_peer import GattPeer
from tools.radio import ControllerInfo


class L2capPeer(GattPeer):
    def __init__(self, info: ControllerInfo) -> None:
        self.received: queue.Queue[bytes] = queue.Queue()  # SDUs, in order
        self.accepted: queue.Queue[LeCreditBasedChannel] = queue.Queue()  # on our server
        self.closed: queue.Queue[int] = queue.Queue()  # source CIDs of channels that closed
        self.channel: LeCreditBasedChannel | None = None  # the last one opened or accepted
        super().__init__(info)

    def _track(self, channel: LeCreditBasedChannel) -> None:
        channel.sink = lambda sdu: self.received.put(bytes(sdu))
        channel.on('close', lambda: self.closed.put(channel.source_cid))
        self.channel = channel

    # -- channels ------------------------------------------------------------------
    def open_channel(self, psm: int, mtu: int, mps: int, credits: int) -> LeCreditBasedChannel:
        """Ask the board for a channel on psm; we offer mtu, mps and credits."""
        async def go() -> LeCreditBasedChannel:
            spec = LeCreditBasedChannelSpec(psm=psm, mtu=mtu, mps=mps, max_credits=credits)
            channel = await self.connection.create_l2cap_channel(spec)
            self._track(channel)
            return channel
        return self.run(go())

    def open_refused(self, psm: int, mtu: int = 100) -> int:
        """Ask for a channel the board must refuse; return its result code."""
        async def go() -> int:
            spec = LeCreditBasedChannelSpec(psm=psm, mtu=mtu, mps=mtu, max_credits=1)
            try:
                await self.connection.create_l2cap_channel(spec)
            except L2capError as error:
                return int(error.error_code)
            raise AssertionError(f'the board accepted a channel on psm 0x{psm:x}')
        return self.run(go())

    def serve(self, psm: int, mtu: int, mps: int, credits: int) -> None:
        """Accept channels on psm (each is tracked and put on `accepted`)."""
        def on_channel(channel: LeCreditBasedChannel) -> None:
            self._track(channel)
            self.accepted.put(channel)

        async def go() -> None:
            spec = LeCreditBasedChannelSpec(psm=psm, mtu=mtu, mps=mps, max_credits=credits)
            self.device.create_l2cap_server(spec, handler=on_channel)  # type: ignore[union-attr]
        self.run(go())

    def close_channel(self) -> None:
        async def go() -> None:
            await self.channel.disconnect()  # type: ignore[union-attr]
        self.run(go())

    def wait_closed(self, timeout: float = 10.0) -> int:
        """The source CID of the next channel that closed (either side)."""
        return self.closed.get(timeout=timeout)

    # -- data ------------------------------------------------------------------------
    def write(self, sdu: bytes) -> None:
        """Queue one SDU (bumble sends it as the board's credits allow)."""
        async def go() -> None:
            self.channel.write(sdu)  # type: ignore[union-attr]
        self.run(go())

    def recv(self, timeout: float = 10.0) -> bytes:
        return self.received.get(timeout=timeout)

    def raw_frame(self, payload: bytes) -> None:
        """Send one K-frame on the channel as it is, whatever the credits say."""
        async def go() -> None:
            self.channel.send_pdu(payload)  # type: ignore[union-attr]
        self.run(go())
