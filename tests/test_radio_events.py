"""The radio's optional connection events, over raw HCI (no boards).

Fix (z) of tools/radio/controller.py (air.EventTiming, link.py): with
Radio(connection_events=True) ACL data leaves only inside connection events
at the link's interval, back to back while the sender has more, both
directions taking turns in each event, and towards a peripheral with
latency only at the events it listens to. Off by default.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tools.radio import Radio
from tools.radio.air import LEGACY_AIR
from tools.radio.hci_client import HciClient, clients_of, connect_hosts

PB_FIRST_NON_FLUSHABLE = 0b00
INTERVAL = 0x18  # 30 ms
INTERVAL_S = INTERVAL * 0.00125
# Timers fire late under load, never early: a third of the interval.
LATE_S = 0.010


def connect(hosts: list[HciClient], latency: int = 0) -> tuple[int, int]:
    return connect_hosts(hosts, INTERVAL, latency)


@pytest.fixture
def radio() -> Iterator[Radio]:
    with Radio(['tcp-server:_:0'] * 2, connection_events=True) as running:
        yield running


@pytest.fixture
def hosts(radio: Radio) -> Iterator[list[HciClient]]:
    with clients_of(info.tcp_port or 0 for info in radio.controllers) as clients:
        yield clients


def pdu(index: int, size: int = 20) -> bytes:
    return size.to_bytes(2, 'little') + (0x0040).to_bytes(2, 'little') + bytes([index]) * size


def record_deliveries(radio: Radio, receiver: int) -> list[float]:
    """Loop times at which controller `receiver` gets ACL data from the air."""
    times: list[float] = []
    controller = radio.controller(receiver)
    deliver = controller.on_link_acl_data

    def recording(*args: object) -> None:
        times.append(asyncio.get_running_loop().time())
        deliver(*args)  # type: ignore[arg-type]
    radio.call(lambda: setattr(controller, 'on_link_acl_data', recording))
    return times


def anchor_of(radio: Radio, index: int) -> float:
    return radio.call(lambda: next(iter(radio.controller(index).le_connections.values())).anchor_s)


def event_phase(started_s: float, anchor_s: float) -> float:
    """Where in its interval a PDU started, in seconds after the event's anchor."""
    return (started_s - anchor_s) % INTERVAL_S


def air_s(size: int = 20) -> float:
    return LEGACY_AIR.pdu_us(size + 4) / 1e6


def wait_count(times: list[float], count: int, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while len(times) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(times) >= count, times


def test_data_after_a_pause_waits_for_the_next_connection_event(
        radio: Radio, hosts: list[HciClient]) -> None:
    central, _ = connect(hosts)
    times = record_deliveries(radio, 1)
    anchor = anchor_of(radio, 0)
    for index in range(10):
        hosts[0].send_acl(central, pdu(index), PB_FIRST_NON_FLUSHABLE)
        time.sleep(0.047)  # a pause: the last event closed, and out of step with 30 ms
    wait_count(times, 10)
    phases = [event_phase(t - air_s(), anchor) for t in times]
    # A busy machine may delay one or two deliveries; at random phases eight
    # of ten would start this close to an anchor once in 300 runs.
    assert sum(phase < LATE_S for phase in phases) >= 8, phases


def test_a_flood_goes_back_to_back_inside_events(radio: Radio, hosts: list[HciClient]) -> None:
    central, _ = connect(hosts)
    times = record_deliveries(radio, 1)
    for index in range(20):
        hosts[0].send_acl(central, pdu(index, 200), PB_FIRST_NON_FLUSHABLE)
    wait_count(times, 20)
    # Eight 27-octet LL PDUs each (5.3 ms): up to five per 30 ms event.
    anchor = anchor_of(radio, 0)
    events = {int((t - air_s(200) - anchor) // INTERVAL_S) for t in times}
    assert len(events) <= 20 // 2, sorted(events)


def test_both_directions_share_each_event(radio: Radio, hosts: list[HciClient]) -> None:
    central, peripheral = connect(hosts)
    to_peripheral = record_deliveries(radio, 1)
    to_central = record_deliveries(radio, 0)
    time.sleep(INTERVAL_S * 2)  # past the link's second event: data may flow
    for index in range(20):
        hosts[0].send_acl(central, pdu(index, 200), PB_FIRST_NON_FLUSHABLE)
        hosts[1].send_acl(peripheral, pdu(index, 200), PB_FIRST_NON_FLUSHABLE)
    wait_count(to_peripheral, 20)
    wait_count(to_central, 20)
    # 40 PDUs of 5.3 ms, five to an event of 30 ms: on one air they need
    # eight events; each direction on an air of its own would be done in four.
    times = sorted(to_peripheral + to_central)
    started = [t - air_s(200) for t in times]
    assert started[-1] - started[0] >= 7 * INTERVAL_S - air_s(200), (
        f'{(started[-1] - started[0]) * 1e3:.0f} ms')
    # And the two take turns: neither waits for the other to finish.
    assert min(to_central) < max(to_peripheral) and min(to_peripheral) < max(to_central)


def test_an_idle_peripheral_with_latency_hears_only_every_l_plus_1_events(
        radio: Radio, hosts: list[HciClient]) -> None:
    central, peripheral = connect(hosts, latency=3)
    to_peripheral = record_deliveries(radio, 1)
    to_central = record_deliveries(radio, 0)
    anchor = anchor_of(radio, 0)
    for index in range(8):
        time.sleep(0.13)  # idle for more than an interval, out of step with 120 ms
        hosts[0].send_acl(central, pdu(index), PB_FIRST_NON_FLUSHABLE)
        hosts[1].send_acl(peripheral, pdu(index), PB_FIRST_NON_FLUSHABLE)
    wait_count(to_peripheral, 8)
    wait_count(to_central, 8)
    # Events the peripheral listens to: every fourth (one late delivery allowed).
    started = [t - air_s() - anchor for t in to_peripheral]
    listened = [s % INTERVAL_S < LATE_S and int(s // INTERVAL_S) % 4 == 0 for s in started]
    assert sum(listened) >= 7, started
    # The peripheral may speak at any event: its data is not held back that long.
    sent_back = [(t - air_s() - anchor) % INTERVAL_S < LATE_S for t in to_central]
    assert sum(sent_back) >= 7, to_central


def test_connection_events_are_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('RADIO_CONNECTION_EVENTS', raising=False)
    assert Radio(['tcp-server:_:0']).connection_events is True
    monkeypatch.setenv('RADIO_CONNECTION_EVENTS', '0')
    assert Radio(['tcp-server:_:0']).connection_events is False
    assert Radio(['tcp-server:_:0'], connection_events=True).connection_events is True
