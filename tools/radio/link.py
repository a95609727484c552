"""The shared virtual air: bumble's LocalLink with connection routing fixed and
ACL data paced like a real LE link (LE 1M or LE 2M, 27 to 251-octet PDUs).

bumble's link labels LE ACL data with the sender's *random* address, so a
connection made with public addresses never receives data (the peer looks the
connection up by the address it connected to). Here the data is labelled with
the address the sender's connection really uses.

Air pacing: bumble hands an L2CAP PDU to the peer at once, so a host flooding
Write Commands or notifications gets data across faster than any radio could
(a unix board pushed 232 kB/s; LE 1M carries well under 40 kB/s of ACL
payload). With pacing on, each direction of each connection is a lane: a
FIFO on an absolute air clock. A PDU is cut into LL data PDUs of the
connection's effective payload size (27 octets until a Data Length Update
raises it, datalen.py) and occupies the lane for their air time on the
connection's PHY, with the MIC once encrypted (air.py): its slot starts when
the previous slot ends or when the PDU was handed over, whichever is later.
It reaches the peer once its slot has ended (when its last fragment would
have been received), never before, and never before the PDUs queued ahead
of it. The loop's own work and its timers' lateness overlap the air time of
what follows, so a lane kept busy delivers at the air's rate, no faster and
no slower (the radio's loop waits in microseconds: radio.py).
Different connections run concurrently. Only ACL data takes air time: HCI
events, advertising and LL control PDUs are not slowed, but an LL control PDU
(e.g. LL_TERMINATE_IND) waits behind the data already queued on its lane, as
it shares the connection's transmit queue on a real link layer.
Number Of Completed Packets: the sending controller passes `on_delivered`
with each PDU and reports the PDU's HCI packets as completed only when the
lane has delivered it (controller.py), so the advertised LE ACL buffer count
is a real limit on a flooding host. A PDU's buffers are all held until its
last LL fragment is received (a real link layer frees each as its fragment is
acknowledged: the model is slightly stricter, never looser).
Connection events are the radio's option (air.EventTiming); without it data
flows as if the connection event never closes.
"""
from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Callable

from bumble import core, hci, ll
from bumble.controller import Controller
from bumble.link import LocalLink

from .air import LEGACY_AIR, AirProfile, EventTiming

logger = logging.getLogger(__name__)

# Without Data Length Extension: 27-octet LL PDUs on LE 1M (air.py).
LL_MAX_PAYLOAD_OCTETS = LEGACY_AIR.payload_octets


def fragment_air_time_us(payload_octets: int) -> int:
    """Air time of one 27-octet-era LL data PDU and its acknowledgement on
    LE 1M (676 us for 27 octets)."""
    return LEGACY_AIR.fragment_us(payload_octets)


def pdu_air_time_us(length: int, air: AirProfile = LEGACY_AIR) -> int:
    """Air time of an L2CAP PDU of `length` octets cut into LL data PDUs."""
    return air.pdu_us(length)


class AirClock:
    """When the air is free again (loop time): one per lane, or one for both
    lanes of a link when they share its connection events."""

    def __init__(self) -> None:
        self.free_at = 0.0


class AirLane:
    """One direction of one connection: deliveries in order, each at the end
    of its own air slot. The lane keeps an absolute air clock: a PDU's slot
    starts when the air is free again (the end of the slot booked before it)
    or when the PDU was handed over, whichever is later, and lasts its air
    time. The radio delivers the PDU once the slot has ended, never before;
    its own processing (and a late timer) overlaps the air time of the PDUs
    behind it, so a busy loop delays deliveries but does not stretch the air:
    PDUs whose slots ended while the loop was busy are delivered together, in
    order, as soon as it runs again. The first queued PDU books its slot on
    the clock when it reaches the head of the lane; with connection events
    the link's two lanes share one clock, so the directions take turns on
    the air of each event (first come, first served)."""

    def __init__(self, clock: AirClock | None = None) -> None:
        # (handed over at, air time, deliver, connection events or None)
        self.items: collections.deque[
            tuple[float, float, Callable[[], None], EventTiming | None]] = collections.deque()
        # No data before the link's first connection event after the one
        # that set it up (loop time; 0: none known).
        self.not_before = 0.0
        self.clock = clock if clock is not None else AirClock()
        self.head_end: float | None = None  # the booked end of the first PDU's slot
        self.timer: asyncio.TimerHandle | None = None

    @property
    def busy(self) -> bool:
        return bool(self.items)

    def close(self) -> None:
        """The connection is gone: nothing still queued is delivered (also
        when it closes while the lane is delivering)."""
        self.items.clear()
        self.head_end = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def push(self, air_time_s: float, deliver: Callable[[], None],
             timing: EventTiming | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.items.append((loop.time(), air_time_s, deliver, timing))
        if self.head_end is None:
            self._book()
        if self.timer is None and self.head_end is not None:
            self.timer = loop.call_at(self.head_end, self._fire)

    def _book(self) -> None:
        """Book the first queued PDU's air slot on the clock."""
        handed_over, air_time_s, _, timing = self.items[0]
        free_at = self.clock.free_at
        start = max(handed_over, free_at, self.not_before)
        if timing is not None:
            # Ready while the air was still busy: the event is still open.
            continuing = handed_over <= free_at
            idle = free_at < start - timing.interval_s
            start = timing.start_at(start, air_time_s, continuing, idle)
        self.head_end = start + air_time_s
        self.clock.free_at = max(free_at, self.head_end)

    def _fire(self) -> None:
        self.timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self.items and self.head_end is not None and self.head_end <= now:
            _, _, deliver, _ = self.items.popleft()
            self.head_end = None
            try:
                deliver()
            except Exception:  # noqa: BLE001 - one bad delivery must not stop the lane
                logger.exception('delivering over the air')
            if self.items and self.head_end is None:
                self._book()
        if self.items and self.timer is None and self.head_end is not None:
            self.timer = loop.call_at(self.head_end, self._fire)


def deliver_then(deliver: Callable[[], None], on_delivered: Callable[[], None]) -> None:
    try:
        deliver()
    finally:
        on_delivered()  # the peer's link layer acknowledged it, whatever its host does


def lane_key(source: hci.Address, destination: hci.Address) -> tuple[bytes, int, bytes, int]:
    return (bytes(source), source.address_type, bytes(destination), destination.address_type)


def link_key(one: hci.Address, other: hci.Address) -> tuple[tuple[bytes, int], ...]:
    """The same for both directions of a link."""
    return tuple(sorted(((bytes(one), one.address_type), (bytes(other), other.address_type))))


class FaithfulLink(LocalLink):
    def __init__(self, air_pacing: bool = True, connection_events: bool = False) -> None:
        super().__init__()
        self.air_pacing = air_pacing
        # Data only inside connection events (air.EventTiming); off by default.
        self.connection_events = connection_events
        self.lanes: dict[tuple[bytes, int, bytes, int], AirLane] = {}
        # With connection events: the air clock both lanes of a link share.
        self.clocks: dict[tuple[tuple[bytes, int], ...], AirClock] = {}

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: core.PhysicalTransport,
        data: bytes,
        on_delivered: Callable[[], None] | None = None,
        air: AirProfile = LEGACY_AIR,
        timing: EventTiming | None = None,
    ) -> None:
        """Carry one L2CAP PDU to the peer; `on_delivered` runs once the peer has
        it (or at once if it cannot be carried: the data is flushed). `air` is
        the sending direction's PHY, LL payload size and MIC (air.py)."""
        if transport != core.PhysicalTransport.LE:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            if on_delivered is not None:
                on_delivered()
            return
        connection = sender_controller.le_connections.get(destination_address)
        destination = self.find_le_controller(destination_address)
        if connection is None:
            logger.warning('no LE connection from %s to %s', sender_controller.name,
                           destination_address)
        elif destination is None or destination is sender_controller:
            logger.warning('no controller at %s', destination_address)
        if connection is None or destination is None or destination is sender_controller:
            if on_delivered is not None:
                on_delivered()
            return
        deliver = functools.partial(destination.on_link_acl_data, connection.self_address,
                                    transport, data)
        if not self.air_pacing:
            asyncio.get_running_loop().call_soon(deliver)
            if on_delivered is not None:
                asyncio.get_running_loop().call_soon(on_delivered)
            return
        if on_delivered is not None:
            deliver = functools.partial(deliver_then, deliver, on_delivered)
        lane = self.lanes.get(lane_key(connection.self_address, destination_address))
        if lane is None:
            clock = None
            if self.connection_events:
                # Both directions of a link share its connection events.
                clock = self.clocks.setdefault(
                    link_key(connection.self_address, destination_address), AirClock())
            lane = self.lanes[lane_key(connection.self_address, destination_address)] = \
                AirLane(clock)
            if timing is not None and timing.anchor_s > 0:
                # A new link carries data from its second connection event
                # on, as on air (Core Vol 6 Part B 4.5.1): a host that acts
                # on its Connection Complete at once does not reach the peer
                # before the peer's host has had an interval to see its own.
                lane.not_before = timing.anchor_s + timing.interval_s
        lane.push(pdu_air_time_us(len(data), air) / 1e6, deliver,
                  timing if self.connection_events else None)

    def drop_lanes(self, local: hci.Address, peer: hci.Address, outgoing: bool = True) -> None:
        """A connection between local and peer is gone: what it still had on
        the air is never delivered (a later connection between the same two
        addresses must not receive it): from peer to local, and with outgoing
        from local to peer too."""
        keys = [lane_key(peer, local)] + ([lane_key(local, peer)] if outgoing else [])
        for key in keys:
            lane = self.lanes.pop(key, None)
            if lane is not None:
                lane.close()
        # A later link between the two starts on a clock of its own (a lane
        # still draining keeps the old one).
        self.clocks.pop(link_key(local, peer), None)

    def send_ll_control_pdu(
        self,
        sender_address: hci.Address,
        receiver_address: hci.Address,
        packet: ll.ControlPdu,
    ) -> None:
        lane = self.lanes.get(lane_key(sender_address, receiver_address))
        if lane is None or not lane.busy:
            super().send_ll_control_pdu(sender_address, receiver_address, packet)
            return
        receiver = self.find_le_controller(receiver_address)
        if receiver is None:
            raise core.InvalidArgumentError(
                f'Unable to find controller for address {receiver_address}')
        lane.push(0.0, functools.partial(receiver.on_ll_control_pdu, sender_address, packet))
