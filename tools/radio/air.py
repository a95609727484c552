"""Air time of LL data PDUs on the LE 1M and LE 2M PHYs.

Core Vol 6 Part B 2.1 (packet format), 2.4 (data PDU), 4.5.10 (data length):
a data PDU is preamble (1 octet on LE 1M, 2 on LE 2M), access address (4),
header (2), payload, MIC (4, only on an encrypted link and only when the
payload is not empty) and CRC (3), sent at 8 us per octet on LE 1M and 4 us
on LE 2M. Each PDU is acknowledged by the peer's (here empty) PDU, each
after T_IFS (150 us). The same formula is in README "Throughput".
"""
from __future__ import annotations

import dataclasses

LE_1M, LE_2M = 1, 2  # HCI PHY values (Core Vol 4 Part E 7.7.65.12)
US_PER_OCTET = {LE_1M: 8, LE_2M: 4}
PREAMBLE_OCTETS = {LE_1M: 1, LE_2M: 2}
# Access address (4) + data PDU header (2) + CRC (3).
PDU_FIXED_OCTETS = 4 + 2 + 3
MIC_OCTETS = 4
T_IFS_US = 150
# Without Data Length Extension (and at the start of every connection).
DEFAULT_PAYLOAD_OCTETS = 27
DEFAULT_TIME_US = 328
MAX_PAYLOAD_OCTETS = 251


def packet_us(phy: int, payload_octets: int, mic: bool) -> int:
    """Air time of one data PDU of `payload_octets` on `phy`."""
    octets = PREAMBLE_OCTETS[phy] + PDU_FIXED_OCTETS + payload_octets
    if mic and payload_octets:
        octets += MIC_OCTETS
    return octets * US_PER_OCTET[phy]


def octets_in_time(phy: int, time_us: int, mic: bool) -> int:
    """The largest payload whose PDU fits in `time_us` on `phy`."""
    overhead = PREAMBLE_OCTETS[phy] + PDU_FIXED_OCTETS + (MIC_OCTETS if mic else 0)
    return max(time_us // US_PER_OCTET[phy] - overhead, 0)


@dataclasses.dataclass(frozen=True)
class AirProfile:
    """How one direction of a connection uses the air right now: its PHY, the
    peer's PHY (for the acknowledgement), the largest LL payload per PDU, and
    whether PDUs carry a MIC."""

    phy: int = LE_1M
    ack_phy: int = LE_1M
    payload_octets: int = DEFAULT_PAYLOAD_OCTETS
    mic: bool = False

    def fragment_us(self, payload_octets: int) -> int:
        """One PDU, T_IFS, the peer's empty PDU, T_IFS (676 us for 27 octets
        on LE 1M unencrypted)."""
        return (packet_us(self.phy, payload_octets, self.mic) + T_IFS_US
                + packet_us(self.ack_phy, 0, False) + T_IFS_US)

    def pdu_us(self, length: int) -> int:
        """An L2CAP PDU of `length` octets cut into LL data PDUs."""
        full, rest = divmod(length, self.payload_octets)
        total = full * self.fragment_us(self.payload_octets)
        if rest or not full:
            total += self.fragment_us(rest)
        return total


LEGACY_AIR = AirProfile()


@dataclasses.dataclass(frozen=True)
class EventTiming:
    """Connection events of a link as one direction's PDUs see them (Core
    Vol 6 Part B 4.5.1, 4.5.6): events start every `interval_s` from
    `anchor_s` (loop time). An event carries PDUs back to back while a
    sender has more (More Data), for at most `event_length_s`; once the air
    falls idle the event closes and new data waits for the next one. Both
    directions of the link take turns on the same events (link.py: one air
    clock per link). Towards the
    peripheral, data after an idle spell waits for an event the peripheral
    listens to: with peripheral latency L, every (L + 1)-th."""

    anchor_s: float
    interval_s: float
    latency: int
    to_peripheral: bool
    event_length_s: float

    def start_at(self, ready_s: float, air_s: float, continuing: bool, idle: bool) -> float:
        """When a PDU ready at `ready_s` and taking `air_s` goes out.
        continuing: it was ready while the link's air was still busy (the
        event is still open); idle: the link carried nothing for an interval."""
        since = max(ready_s - self.anchor_s, 0.0)
        index = int(since // self.interval_s)
        event_start = self.anchor_s + index * self.interval_s
        if continuing and ready_s + air_s <= event_start + self.event_length_s:
            return ready_s
        if not continuing and ready_s <= event_start:
            pass  # exactly at an anchor
        else:
            index += 1
        if self.to_peripheral and idle:
            step = self.latency + 1
            index = -(-index // step) * step
        return self.anchor_s + index * self.interval_s
