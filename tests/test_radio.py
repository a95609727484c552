"""The virtual radio behaves like real controllers (raw HCI, no boards).

Each test talks HCI over TCP to controllers of a radio started for it, with
bumble's HCI classes for framing. Letters refer to the fixes in
tools/radio/controller.py.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from bumble import hci

from tools.radio import Radio, public_address_for
from harness.deliveries import record_deliveries
from tools.radio.hci_client import HciClient, clients_of

ADV_IND, ADV_DIRECT_IND, ADV_SCAN_IND, ADV_NONCONN_IND, ADV_DIRECT_IND_LOW = range(5)
SCAN_RSP = 4
PASSIVE, ACTIVE = 0, 1
PUBLIC = 0
LISTEN_S = 0.4  # many advertising intervals of 20 ms
PB_FIRST_NON_FLUSHABLE, PB_CONTINUING, PB_FIRST_FLUSHABLE = 0b00, 0b01, 0b10


@pytest.fixture
def radio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radio]:
    with Radio(['tcp-server:_:0'] * 3,
               capture_dir=tmp_path_factory.mktemp('radio-captures')) as running:
        yield running


def hosts_of(radio: Radio) -> contextlib.AbstractContextManager[list[HciClient]]:
    """One reset, unmasked test-side host per controller of the radio."""
    return clients_of(info.tcp_port or 0 for info in radio.controllers)


@pytest.fixture
def hosts(radio: Radio) -> Iterator[list[HciClient]]:
    with hosts_of(radio) as clients:
        yield clients


@pytest.fixture
def unpaced_hosts() -> Iterator[list[HciClient]]:
    """Two hosts on a radio without air pacing."""
    with Radio(['tcp-server:_:0'] * 2, air_pacing=False) as unpaced, hosts_of(unpaced) as clients:
        yield clients


def address_of(index: int) -> hci.Address:
    return hci.Address(public_address_for(index), hci.Address.PUBLIC_DEVICE_ADDRESS)


def advertise(host: HciClient, adv_type: int, data: bytes = b'', scan_rsp: bytes = b'',
              peer: hci.Address = hci.Address.ANY) -> None:
    host.ok(hci.HCI_LE_Set_Advertising_Parameters_Command(
        advertising_interval_min=0x20, advertising_interval_max=0x20,
        advertising_type=adv_type, own_address_type=PUBLIC,
        peer_address_type=peer.address_type, peer_address=peer,
        advertising_channel_map=7, advertising_filter_policy=0))
    host.ok(hci.HCI_LE_Set_Advertising_Data_Command(advertising_data=data))
    host.ok(hci.HCI_LE_Set_Scan_Response_Data_Command(scan_response_data=scan_rsp))
    host.ok(hci.HCI_LE_Set_Advertising_Enable_Command(advertising_enable=1))


def scan(host: HciClient, scan_type: int) -> None:
    host.ok(hci.HCI_LE_Set_Scan_Parameters_Command(
        le_scan_type=scan_type, le_scan_interval=0x10, le_scan_window=0x10,
        own_address_type=PUBLIC, scanning_filter_policy=0))
    host.ok(hci.HCI_LE_Set_Scan_Enable_Command(le_scan_enable=1, filter_duplicates=0))


def is_report(packet: hci.HCI_Packet) -> bool:
    return isinstance(packet, (hci.HCI_LE_Advertising_Report_Event,
                               hci.HCI_LE_Extended_Advertising_Report_Event))


def reports_from(host: HciClient, address: hci.Address,
                 duration: float = LISTEN_S) -> list[hci.HCI_LE_Advertising_Report_Event.Report]:
    events = host.collect(is_report, duration)
    assert all(isinstance(e, hci.HCI_LE_Advertising_Report_Event) for e in events), \
        'a host scanning with legacy commands got extended reports'
    return [r for e in events for r in e.reports if r.address == address]


def connect(host: HciClient, peer: hci.Address) -> None:
    host.command(hci.HCI_LE_Create_Connection_Command(
        le_scan_interval=0x10, le_scan_window=0x10, initiator_filter_policy=0,
        peer_address_type=peer.address_type, peer_address=peer, own_address_type=PUBLIC,
        connection_interval_min=0x18, connection_interval_max=0x28, max_latency=0,
        supervision_timeout=0x200, min_ce_length=0, max_ce_length=0))


def connection_complete(host: HciClient, timeout: float = 2.0) -> hci.HCI_LE_Connection_Complete_Event:
    event = host.wait_for(
        lambda p: isinstance(p, hci.HCI_LE_Connection_Complete_Event), timeout)
    assert isinstance(event, hci.HCI_LE_Connection_Complete_Event)
    return event


def no_connection(host: HciClient, duration: float = LISTEN_S) -> bool:
    return not host.collect(
        lambda p: isinstance(p, hci.HCI_LE_Connection_Complete_Event), duration)


def connected_pair(hosts: list[HciClient]) -> tuple[int, int]:
    """Host 0 connects (central) to host 1 (peripheral); returns their handles."""
    advertise(hosts[1], ADV_IND)
    connect(hosts[0], address_of(1))
    central = connection_complete(hosts[0])
    peripheral = connection_complete(hosts[1])
    assert central.status == 0 and peripheral.status == 0
    assert central.role == hci.Role.CENTRAL and peripheral.role == hci.Role.PERIPHERAL
    assert central.peer_address == address_of(1)
    assert peripheral.peer_address == address_of(0)
    return central.connection_handle, peripheral.connection_handle


def acl_from(host: HciClient, duration: float = LISTEN_S) -> list[hci.HCI_AclDataPacket]:
    return host.collect(lambda p: isinstance(p, hci.HCI_AclDataPacket), duration)  # type: ignore[return-value]


def l2cap_pdu(payload: bytes, cid: int = 0x0040) -> bytes:
    return len(payload).to_bytes(2, 'little') + cid.to_bytes(2, 'little') + payload


# (a) + (b): legacy scanners get legacy reports with the advertised type ------
@pytest.mark.parametrize('adv_type', [ADV_IND, ADV_SCAN_IND, ADV_NONCONN_IND])
def test_legacy_scan_gets_legacy_report_of_each_undirected_type(
        hosts: list[HciClient], adv_type: int) -> None:
    advertise(hosts[1], adv_type, data=b'\x02\x01\x06')
    scan(hosts[0], PASSIVE)
    reports = reports_from(hosts[0], address_of(1))
    assert reports, 'no advertising report'
    assert {r.event_type for r in reports} == {adv_type}
    assert all(r.data == b'\x02\x01\x06' for r in reports)
    assert all(r.address_type == PUBLIC for r in reports)


@pytest.mark.parametrize('adv_type', [ADV_DIRECT_IND, ADV_DIRECT_IND_LOW])
def test_directed_advertising_reaches_only_its_target(
        hosts: list[HciClient], adv_type: int) -> None:
    advertise(hosts[1], adv_type, peer=address_of(0))
    scan(hosts[0], ACTIVE)
    scan(hosts[2], ACTIVE)
    reports = reports_from(hosts[0], address_of(1))
    assert reports and {r.event_type for r in reports} == {ADV_DIRECT_IND}
    assert reports_from(hosts[2], address_of(1), 0.1) == []


def test_extended_scanner_gets_extended_reports_with_legacy_bits(hosts: list[HciClient]) -> None:
    advertise(hosts[1], ADV_SCAN_IND, data=b'\x02\x01\x06', scan_rsp=b'\x03\x09ab')
    hosts[0].ok(hci.HCI_LE_Set_Event_Mask_Command(le_event_mask=bytes.fromhex('ff1f000000000000')))
    hosts[0].ok(hci.HCI_LE_Set_Extended_Scan_Parameters_Command(
        own_address_type=PUBLIC, scanning_filter_policy=0, scanning_phys=1,
        scan_types=[ACTIVE], scan_intervals=[0x10], scan_windows=[0x10]))
    hosts[0].ok(hci.HCI_LE_Set_Extended_Scan_Enable_Command(
        enable=1, filter_duplicates=0, duration=0, period=0))
    events = hosts[0].collect(is_report, LISTEN_S)
    assert events and all(isinstance(e, hci.HCI_LE_Extended_Advertising_Report_Event)
                          for e in events)
    types = {r.event_type for e in events for r in e.reports if r.address == address_of(1)}
    assert types == {0b0010010, 0b0011010}  # legacy scannable, and its scan response


def advertise_extended(host: HciClient, properties: int, data: bytes) -> None:
    host.ok(hci.HCI_LE_Set_Extended_Advertising_Parameters_Command(
        advertising_handle=0, advertising_event_properties=properties,
        primary_advertising_interval_min=0x20, primary_advertising_interval_max=0x20,
        primary_advertising_channel_map=7, own_address_type=PUBLIC, peer_address_type=0,
        peer_address=hci.Address.ANY, advertising_filter_policy=0, advertising_tx_power=0,
        primary_advertising_phy=1, secondary_advertising_max_skip=0,
        secondary_advertising_phy=1, advertising_sid=0, scan_request_notification_enable=0))
    host.ok(hci.HCI_LE_Set_Extended_Advertising_Data_Command(
        advertising_handle=0, operation=3, fragment_preference=1, advertising_data=data))
    host.ok(hci.HCI_LE_Set_Extended_Advertising_Enable_Command(
        enable=1, advertising_handles=[0], durations=[0], max_extended_advertising_events=[0]))


# (w) a set with legacy PDUs is heard by legacy scanners, and connectable ----
def test_extended_set_with_legacy_pdus_reaches_legacy_scanners(hosts: list[HciClient]) -> None:
    advertise_extended(hosts[1], 0x13, b'\x02\x01\x06')  # legacy ADV_IND
    advertise_extended(hosts[2], 0x01, b'\x02\x01\x06')  # connectable, extended PDUs
    scan(hosts[0], PASSIVE)
    reports = reports_from(hosts[0], address_of(1))
    assert reports and {r.event_type for r in reports} == {ADV_IND}
    assert all(r.data == b'\x02\x01\x06' for r in reports)
    assert reports_from(hosts[0], address_of(2), 0.1) == []
    hosts[0].ok(hci.HCI_LE_Set_Scan_Enable_Command(le_scan_enable=0, filter_duplicates=0))
    connect(hosts[0], address_of(1))
    assert connection_complete(hosts[0]).status == 0


# (b) connectability follows the advertising type ---------------------------
@pytest.mark.parametrize('adv_type', [ADV_SCAN_IND, ADV_NONCONN_IND])
def test_non_connectable_advertiser_cannot_be_connected(
        hosts: list[HciClient], adv_type: int) -> None:
    advertise(hosts[1], adv_type)
    connect(hosts[0], address_of(1))
    assert no_connection(hosts[0]) and no_connection(hosts[1], 0.05)
    hosts[0].ok(hci.HCI_LE_Create_Connection_Cancel_Command())
    cancelled = connection_complete(hosts[0])
    assert cancelled.status == hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR


def test_directed_advertiser_accepts_only_its_target(hosts: list[HciClient]) -> None:
    advertise(hosts[1], ADV_DIRECT_IND_LOW, peer=address_of(0))
    connect(hosts[2], address_of(1))
    assert no_connection(hosts[2]) and no_connection(hosts[1], 0.05)
    connect(hosts[0], address_of(1))
    assert connection_complete(hosts[0]).status == 0
    assert connection_complete(hosts[1]).peer_address == address_of(0)


def test_high_duty_directed_advertising_times_out(hosts: list[HciClient]) -> None:
    advertise(hosts[1], ADV_DIRECT_IND, peer=address_of(0))
    event = connection_complete(hosts[1], timeout=3.0)
    assert event.status == 0x3C  # advertising timeout
    scan(hosts[0], PASSIVE)
    assert reports_from(hosts[0], address_of(1)) == []


# (c) scan responses: only for active scanners of scannable advertisers ------
@pytest.mark.parametrize('adv_type', [ADV_IND, ADV_SCAN_IND])
def test_passive_scanner_gets_no_scan_response(hosts: list[HciClient], adv_type: int) -> None:
    advertise(hosts[1], adv_type, data=b'\x02\x01\x06', scan_rsp=b'\x03\x09ab')
    scan(hosts[0], PASSIVE)
    reports = reports_from(hosts[0], address_of(1))
    assert reports and SCAN_RSP not in {r.event_type for r in reports}


@pytest.mark.parametrize('adv_type', [ADV_IND, ADV_SCAN_IND])
def test_active_scanner_gets_the_scan_response_data(hosts: list[HciClient], adv_type: int) -> None:
    advertise(hosts[1], adv_type, data=b'\x02\x01\x06', scan_rsp=b'\x03\x09ab')
    scan(hosts[0], ACTIVE)
    reports = reports_from(hosts[0], address_of(1))
    responses = [r for r in reports if r.event_type == SCAN_RSP]
    assert responses and all(r.data == b'\x03\x09ab' for r in responses)
    assert all(r.data == b'\x02\x01\x06' for r in reports if r.event_type == adv_type)


@pytest.mark.parametrize('adv_type', [ADV_NONCONN_IND, ADV_DIRECT_IND_LOW])
def test_non_scannable_advertiser_gives_no_scan_response(
        hosts: list[HciClient], adv_type: int) -> None:
    advertise(hosts[1], adv_type, data=b'' if adv_type == ADV_DIRECT_IND_LOW else b'\x02\x01\x06',
              scan_rsp=b'\x03\x09ab', peer=address_of(0))
    scan(hosts[0], ACTIVE)
    reports = reports_from(hosts[0], address_of(1))
    assert reports and SCAN_RSP not in {r.event_type for r in reports}


def test_duplicate_filtering_reports_each_advertiser_once(hosts: list[HciClient]) -> None:
    advertise(hosts[1], ADV_IND, data=b'\x02\x01\x06')
    hosts[0].ok(hci.HCI_LE_Set_Scan_Parameters_Command(
        le_scan_type=PASSIVE, le_scan_interval=0x10, le_scan_window=0x10,
        own_address_type=PUBLIC, scanning_filter_policy=0))
    hosts[0].ok(hci.HCI_LE_Set_Scan_Enable_Command(le_scan_enable=1, filter_duplicates=1))
    assert len(reports_from(hosts[0], address_of(1))) == 1


# (d) ACL fragmentation to and from the host ---------------------------------
def test_acl_is_fragmented_to_the_advertised_buffer_size(hosts: list[HciClient]) -> None:
    central, peripheral = connected_pair(hosts)
    size = hosts[0].ok(hci.HCI_LE_Read_Buffer_Size_Command()).return_parameters.le_acl_data_packet_length
    assert size == 251  # (x) buffers for 251-octet LL PDUs
    pdu = l2cap_pdu(bytes(range(256)) * 2 + bytes(100))
    for offset in range(0, len(pdu), size):
        hosts[0].send_acl(central, pdu[offset:offset + size],
                          PB_FIRST_NON_FLUSHABLE if offset == 0 else PB_CONTINUING)
    fragments = acl_from(hosts[1])
    assert len(fragments) == -(-len(pdu) // size)
    assert all(len(f.data) <= size for f in fragments)
    assert [f.pb_flag for f in fragments] == [PB_FIRST_FLUSHABLE] + [PB_CONTINUING] * (len(fragments) - 1)
    assert all(f.connection_handle == peripheral for f in fragments)
    assert b''.join(f.data for f in fragments) == pdu
    completed = hosts[0].collect(
        lambda p: isinstance(p, hci.HCI_Number_Of_Completed_Packets_Event), 0.1)
    assert sum(sum(e.num_completed_packets) for e in completed) == -(-len(pdu) // size)


def test_oversized_acl_from_host_is_not_delivered(hosts: list[HciClient]) -> None:
    central, _ = connected_pair(hosts)
    hosts[0].send_acl(central, l2cap_pdu(bytes(248)), PB_FIRST_NON_FLUSHABLE)  # 252 > 251
    assert acl_from(hosts[1]) == []
    hosts[0].send_acl(central, l2cap_pdu(b'ok'), PB_FIRST_NON_FLUSHABLE)
    assert [f.data for f in acl_from(hosts[1])] == [l2cap_pdu(b'ok')]


# (e) HCI_Reset really resets ----------------------------------------------
def test_reset_drops_connections_and_the_peer_sees_a_timeout(hosts: list[HciClient]) -> None:
    central, _ = connected_pair(hosts)
    hosts[1].ok(hci.HCI_Reset_Command())
    event = hosts[0].wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event))
    assert event.connection_handle == central
    assert event.reason == hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
    hosts[0].send_acl(central, l2cap_pdu(b'gone'), PB_FIRST_NON_FLUSHABLE)
    assert acl_from(hosts[1]) == []


def test_reset_loses_what_was_still_on_the_air(hosts: list[HciClient]) -> None:
    # (v) A PDU still on the air when its sender resets is never delivered,
    # and nothing of the old link reaches a new one between the same two.
    central, _ = connected_pair(hosts)
    size = 27
    pdu = l2cap_pdu(bytes(range(200)))  # about 5 ms on air
    for offset in range(0, len(pdu), size):
        hosts[0].send_acl(central, pdu[offset:offset + size],
                          PB_FIRST_NON_FLUSHABLE if offset == 0 else PB_CONTINUING)
    hosts[0].ok(hci.HCI_Reset_Command())
    event = hosts[1].wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event))
    assert event.reason == hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
    hosts[0].reset_and_unmask()
    central, peripheral = connected_pair(hosts)
    hosts[0].send_acl(central, l2cap_pdu(b'new link'), PB_FIRST_NON_FLUSHABLE)
    received = acl_from(hosts[1])
    assert b''.join(f.data for f in received) == l2cap_pdu(b'new link')
    assert not hosts[1].collect(
        lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event), LISTEN_S)


def test_reset_stops_advertising_and_scanning(hosts: list[HciClient]) -> None:
    advertise(hosts[1], ADV_IND)
    scan(hosts[1], PASSIVE)
    advertise(hosts[2], ADV_IND)
    scan(hosts[0], PASSIVE)
    assert reports_from(hosts[0], address_of(1))
    assert reports_from(hosts[1], address_of(2), 0.1)
    hosts[1].ok(hci.HCI_Reset_Command())
    # Barrier: once a later command round trip completes, nothing sent before
    # the reset is still in flight; drop what arrived until then.
    hosts[0].ok(hci.HCI_Read_BD_ADDR_Command())
    hosts[0].collect(is_report, 0)
    hosts[1].collect(is_report, 0)
    assert reports_from(hosts[0], address_of(1)) == []
    assert hosts[1].collect(is_report, 0.1) == []


def test_reset_restores_default_masks_and_data(hosts: list[HciClient]) -> None:
    # No LE events at all, and advertising data set: both must be forgotten.
    hosts[0].ok(hci.HCI_LE_Set_Event_Mask_Command(le_event_mask=bytes(8)))
    hosts[1].ok(hci.HCI_LE_Set_Advertising_Data_Command(advertising_data=b'\x02\x01\x06'))
    advertise(hosts[2], ADV_IND)
    scan(hosts[0], PASSIVE)
    assert hosts[0].collect(is_report, LISTEN_S) == []  # masked, as on real silicon
    for host in hosts[:2]:
        host.ok(hci.HCI_Reset_Command())
    hosts[1].ok(hci.HCI_LE_Set_Advertising_Enable_Command(advertising_enable=1))
    scan(hosts[0], PASSIVE)
    # The default page-1 mask has no LE Meta bit (Core spec), so nothing yet...
    assert hosts[0].collect(is_report, LISTEN_S) == []
    # ...and once it is unmasked the default LE mask (0x1F) lets reports through.
    hosts[0].ok(hci.HCI_Set_Event_Mask_Command(event_mask=bytes.fromhex('ffffffffffffbf3d')))
    assert reports_from(hosts[0], address_of(2))
    reports = reports_from(hosts[0], address_of(1), 1.5)  # default interval 1.28 s
    assert reports and all(r.data == b'' for r in reports)


# (f) distinct public addresses, and connections that work with them --------
def test_each_controller_has_its_own_public_address(hosts: list[HciClient]) -> None:
    addresses = [host.read_bd_addr() for host in hosts]
    assert addresses == [address_of(i) for i in range(3)]
    assert len({bytes(a) for a in addresses}) == 3
    assert hci.Address.ANY not in addresses


def test_public_address_connection_carries_data_both_ways(hosts: list[HciClient]) -> None:
    central, peripheral = connected_pair(hosts)
    hosts[0].send_acl(central, l2cap_pdu(b'ping'), PB_FIRST_NON_FLUSHABLE)
    assert [(f.connection_handle, f.data) for f in acl_from(hosts[1])] == \
        [(peripheral, l2cap_pdu(b'ping'))]
    hosts[1].send_acl(peripheral, l2cap_pdu(b'pong'), PB_FIRST_NON_FLUSHABLE)
    assert [(f.connection_handle, f.data) for f in acl_from(hosts[0])] == \
        [(central, l2cap_pdu(b'pong'))]
    assert acl_from(hosts[2], 0.05) == []
    hosts[0].command(hci.HCI_Disconnect_Command(connection_handle=central, reason=0x13))
    local = hosts[0].wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event))
    remote = hosts[1].wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event))
    assert (local.connection_handle, remote.connection_handle) == (central, peripheral)
    assert remote.reason == 0x13
    # Reconnecting after the disconnection works too.
    connected_pair(hosts)


def test_enhanced_connection_complete_when_unmasked(hosts: list[HciClient]) -> None:
    hosts[1].ok(hci.HCI_LE_Set_Event_Mask_Command(le_event_mask=bytes.fromhex('ff1f000000000000')))
    advertise(hosts[1], ADV_IND)
    connect(hosts[0], address_of(1))
    event = hosts[1].wait_for(
        lambda p: isinstance(p, hci.HCI_LE_Enhanced_Connection_Complete_Event))
    assert event.status == 0 and event.peer_address == address_of(0)
    assert connection_complete(hosts[0]).status == 0


# (g) connection parameters as the initiator asked, to both sides -------------
def test_connection_complete_reports_the_requested_parameters(
        hosts: list[HciClient], radio: Radio) -> None:
    advertise(hosts[1], ADV_IND)
    hosts[0].command(hci.HCI_LE_Create_Connection_Command(
        le_scan_interval=0x10, le_scan_window=0x10, initiator_filter_policy=0,
        peer_address_type=PUBLIC, peer_address=address_of(1), own_address_type=PUBLIC,
        connection_interval_min=0x20, connection_interval_max=0x30, max_latency=3,
        supervision_timeout=0x1F4, min_ce_length=0, max_ce_length=0))
    central, peripheral = connection_complete(hosts[0]), connection_complete(hosts[1])
    for event in (central, peripheral):
        assert event.status == 0
        # The radio picks the minimum of [min, max], consistently.
        assert (event.connection_interval, event.peripheral_latency,
                event.supervision_timeout) == (0x20, 3, 0x1F4)
    links = {info.role: info for info in (*radio.connections(0), *radio.connections(1))}
    assert links['central'].parameters == links['peripheral'].parameters
    assert links['central'].parameters is not None
    assert links['central'].parameters.interval == 0x20


def test_create_connection_with_invalid_parameters_is_refused(hosts: list[HciClient]) -> None:
    advertise(hosts[1], ADV_IND)
    # Supervision timeout too short for the interval (Core: > (1+lat)*max*2).
    status = hosts[0].command(hci.HCI_LE_Create_Connection_Command(
        le_scan_interval=0x10, le_scan_window=0x10, initiator_filter_policy=0,
        peer_address_type=PUBLIC, peer_address=address_of(1), own_address_type=PUBLIC,
        connection_interval_min=0x100, connection_interval_max=0x100, max_latency=0,
        supervision_timeout=0x20, min_ce_length=0, max_ce_length=0))
    assert status.status == hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
    assert no_connection(hosts[0]) and no_connection(hosts[1], 0.05)


# (h) connection update: status first, then the new values on both sides ------
def update_complete(host: HciClient, timeout: float = 2.0) -> hci.HCI_LE_Connection_Update_Complete_Event:
    event = host.wait_for(
        lambda p: isinstance(p, hci.HCI_LE_Connection_Update_Complete_Event), timeout)
    assert isinstance(event, hci.HCI_LE_Connection_Update_Complete_Event)
    return event


@pytest.mark.parametrize('initiator', [0, 1], ids=['central', 'peripheral'])
def test_connection_update_takes_effect_on_both_sides(
        hosts: list[HciClient], radio: Radio, initiator: int) -> None:
    handles = connected_pair(hosts)
    status = hosts[initiator].command(hci.HCI_LE_Connection_Update_Command(
        connection_handle=handles[initiator], connection_interval_min=0x50,
        connection_interval_max=0x60, max_latency=2, supervision_timeout=0x300,
        min_ce_length=0, max_ce_length=0))
    assert isinstance(status, hci.HCI_Command_Status_Event) and status.status == 0
    # The Command Status comes first; the update completes at a later instant.
    assert hosts[initiator].collect(
        lambda p: isinstance(p, hci.HCI_LE_Connection_Update_Complete_Event), 0.05) == []
    for host, handle in zip(hosts, handles):
        event = update_complete(host)
        assert (event.status, event.connection_handle) == (0, handle)
        assert (event.connection_interval, event.peripheral_latency,
                event.supervision_timeout) == (0x50, 2, 0x300)
    for index in (0, 1):
        [link] = radio.connections(index)
        assert link.parameters is not None
        assert (link.parameters.interval, link.parameters.latency,
                link.parameters.timeout) == (0x50, 2, 0x300)


def test_connection_update_errors(hosts: list[HciClient]) -> None:
    central, _ = connected_pair(hosts)

    def update(handle: int, interval: int, timeout: int) -> int:
        event = hosts[0].command(hci.HCI_LE_Connection_Update_Command(
            connection_handle=handle, connection_interval_min=interval,
            connection_interval_max=interval, max_latency=0, supervision_timeout=timeout,
            min_ce_length=0, max_ce_length=0))
        return event.status

    assert update(central + 7, 0x50, 0x300) == hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR
    assert update(central, 0x05, 0x300) == hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
    assert update(central, 0x100, 0x0A) == hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
    assert update(central, 0x50, 0x300) == 0
    assert update(central, 0x40, 0x300) == hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR  # busy
    assert update_complete(hosts[0]).connection_interval == 0x50
    assert update_complete(hosts[1]).connection_interval == 0x50


# (i) scan windows and advDelay ----------------------------------------------
@pytest.mark.timing
def test_scanner_hears_only_during_its_window(hosts: list[HciClient]) -> None:
    advertise(hosts[1], ADV_NONCONN_IND, data=b'\x02\x01\x06')  # every 20 ms (+advDelay)
    hosts[0].ok(hci.HCI_LE_Set_Scan_Parameters_Command(
        le_scan_type=PASSIVE, le_scan_interval=0x640, le_scan_window=0x40,  # 1 s / 40 ms
        own_address_type=PUBLIC, scanning_filter_policy=0))
    hosts[0].ok(hci.HCI_LE_Set_Scan_Enable_Command(le_scan_enable=1, filter_duplicates=0))
    low_duty = len(reports_from(hosts[0], address_of(1), 2.0))
    scan(hosts[2], PASSIVE)  # window == interval: hears everything
    full_duty = len(reports_from(hosts[2], address_of(1), 1.0))
    assert full_duty >= 30
    # 2 windows of 40 ms in 2 s: a handful of reports, not one per advert.
    assert 1 <= low_duty <= 10, (low_duty, full_duty)


@pytest.mark.timing
def test_advertising_events_are_jittered_by_adv_delay(hosts: list[HciClient]) -> None:
    advertise(hosts[1], ADV_NONCONN_IND)
    scan(hosts[0], PASSIVE)
    times = []
    deadline = LISTEN_S * 2
    for _ in range(12):
        hosts[0].wait_for(is_report, deadline)
        times.append(time.monotonic())
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(gap > 0.015 for gap in gaps), gaps
    assert max(gaps) - min(gaps) > 0.004, gaps  # not a fixed period


# (j) no change of parameters or random address while in use ------------------
def test_parameters_cannot_change_while_in_use(hosts: list[HciClient]) -> None:
    random_address = hci.Address('C1:22:33:44:55:66', hci.Address.RANDOM_DEVICE_ADDRESS)
    hosts[0].ok(hci.HCI_LE_Set_Random_Address_Command(random_address=random_address))
    advertise(hosts[0], ADV_IND)
    disallowed = hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR
    assert hosts[0].command(hci.HCI_LE_Set_Random_Address_Command(
        random_address=random_address)).return_parameters.status == disallowed
    assert hosts[0].command(hci.HCI_LE_Set_Advertising_Parameters_Command(
        advertising_interval_min=0x40, advertising_interval_max=0x40,
        advertising_type=ADV_IND, own_address_type=PUBLIC, peer_address_type=0,
        peer_address=hci.Address.ANY, advertising_channel_map=7,
        advertising_filter_policy=0)).return_parameters.status == disallowed
    hosts[0].ok(hci.HCI_LE_Set_Advertising_Enable_Command(advertising_enable=0))
    hosts[0].ok(hci.HCI_LE_Set_Random_Address_Command(random_address=random_address))
    scan(hosts[0], PASSIVE)
    assert hosts[0].command(hci.HCI_LE_Set_Random_Address_Command(
        random_address=random_address)).return_parameters.status == disallowed
    assert hosts[0].command(hci.HCI_LE_Set_Scan_Parameters_Command(
        le_scan_type=ACTIVE, le_scan_interval=0x10, le_scan_window=0x10,
        own_address_type=PUBLIC, scanning_filter_policy=0)).return_parameters.status == disallowed
    hosts[0].ok(hci.HCI_LE_Set_Scan_Enable_Command(le_scan_enable=0, filter_duplicates=0))
    # Out-of-range advertising interval.
    assert hosts[0].command(hci.HCI_LE_Set_Advertising_Parameters_Command(
        advertising_interval_min=0x10, advertising_interval_max=0x10,
        advertising_type=ADV_IND, own_address_type=PUBLIC, peer_address_type=0,
        peer_address=hci.Address.ANY, advertising_channel_map=7, advertising_filter_policy=0,
    )).return_parameters.status == hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR


# Air pacing: ACL data takes LE 1M air time per connection direction --------
def flood(host: HciClient, handle: int, count: int, size: int) -> list[bytes]:
    """Send `count` numbered L2CAP PDUs of `size` payload octets, as fast as the
    socket takes them, in 27-octet HCI fragments; return the PDUs sent."""
    pdus = [l2cap_pdu(index.to_bytes(2, 'little') + bytes([index & 0xFF]) * (size - 2))
            for index in range(count)]
    for pdu in pdus:
        for offset in range(0, len(pdu), 27):
            host.send_acl(handle, pdu[offset:offset + 27],
                          PB_FIRST_NON_FLUSHABLE if offset == 0 else PB_CONTINUING)
    return pdus


def receive_pdus(host: HciClient, handle: int, count: int, timeout: float = 10.0) -> list[bytes]:
    """Reassemble `count` PDUs received on `handle` (returns as soon as they are in)."""
    pdus: list[bytes] = []
    current = bytearray()
    while len(pdus) < count:
        fragment = host.wait_for(
            lambda p: isinstance(p, hci.HCI_AclDataPacket) and p.connection_handle == handle,
            timeout)
        assert isinstance(fragment, hci.HCI_AclDataPacket)
        if fragment.pb_flag != PB_CONTINUING:
            assert not current, 'a PDU started before the last one ended'
        current += fragment.data
        if len(current) >= 4 and len(current) >= 4 + int.from_bytes(current[:2], 'little'):
            pdus.append(bytes(current))
            current = bytearray()
    return pdus


def model_air_time_s(pdus: list[bytes]) -> float:
    """The LE 1M model worked out independently: per 27-octet LL fragment,
    (1+4+2+n+3) octets at 8 us, T_IFS 150 us, empty PDU 80 us, T_IFS 150 us."""
    total_us = 0
    for pdu in pdus:
        for offset in range(0, len(pdu), 27):
            n = len(pdu[offset:offset + 27])
            total_us += (10 + n) * 8 + 150 + 80 + 150
    return total_us / 1e6


FLOOD_COUNT, FLOOD_SIZE = 40, 131  # perf_gatt_char_write: 40 Write Commands of 128 octets


@pytest.mark.timing
def test_acl_data_is_paced_at_le_1m_air_speed_and_kept_in_order(hosts: list[HciClient]) -> None:
    central, peripheral = connected_pair(hosts)
    started = time.monotonic()
    sent = flood(hosts[0], central, FLOOD_COUNT, FLOOD_SIZE)
    received = receive_pdus(hosts[1], peripheral, FLOOD_COUNT)
    elapsed = time.monotonic() - started
    assert received == sent  # nothing lost, nothing reordered
    bound = model_air_time_s(sent)  # 40 x 5 fragments: 135.2 ms
    assert abs(bound - 0.1352) < 1e-9
    assert elapsed >= bound, f'{FLOOD_COUNT * (FLOOD_SIZE + 4)} octets in {elapsed * 1e3:.1f} ms'
    assert elapsed < bound + 1.0, f'pacing far slower than the model: {elapsed * 1e3:.1f} ms'
    # The other direction is a lane of its own and is paced the same way.
    started = time.monotonic()
    sent = flood(hosts[1], peripheral, 10, 500)
    assert receive_pdus(hosts[0], central, 10) == sent
    assert time.monotonic() - started >= model_air_time_s(sent)


@pytest.mark.timing
def test_a_busy_radio_never_delivers_ahead_of_the_air_and_does_not_stretch_it(
        radio: Radio, hosts: list[HciClient]) -> None:
    central, peripheral = connected_pair(hosts)
    delivered_at = record_deliveries(radio, 1)  # the radio loop's clock
    time.sleep(0.05)  # past the link's second connection event: data may flow
    started = time.monotonic()
    sent = flood(hosts[0], central, 20, FLOOD_SIZE)
    time.sleep(0.01)
    radio.call(lambda: time.sleep(0.05))  # the radio's loop is stuck for 50 ms
    assert receive_pdus(hosts[1], peripheral, 20) == sent
    air = model_air_time_s(sent[:1])  # 3.38 ms for each 135-octet PDU: 67.6 ms for 20
    assert len(delivered_at) == 20
    # The k-th PDU never arrives before k air slots have passed since the
    # flood began, stuck loop or not: the air clock is never outrun.
    for index, at in enumerate(delivered_at):
        assert at - started >= (index + 1) * air, (index, at - started)
    # The slots ran on while the loop was stuck (those PDUs arrive at once
    # when it runs again, in order): the stall is not added to the air time
    # (one slot after another from the stall's end would take 110 ms).
    assert delivered_at[-1] - started < 20 * air + 0.02, [round((t - started) * 1e3, 1) for t in delivered_at]


def test_ll_control_pdus_wait_behind_queued_data(hosts: list[HciClient]) -> None:
    central, peripheral = connected_pair(hosts)
    sent = flood(hosts[0], central, 20, 200)
    hosts[0].command(hci.HCI_Disconnect_Command(connection_handle=central, reason=0x13))
    # The peer gets every PDU queued before the LL_TERMINATE_IND, then the disconnection.
    assert receive_pdus(hosts[1], peripheral, 20) == sent
    hosts[1].wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event))
    assert acl_from(hosts[1], 0.1) == []


@pytest.mark.timing
def test_disconnect_takes_a_connection_interval(hosts: list[HciClient]) -> None:
    # (m) the link was made with a 30 ms interval: LL_TERMINATE_IND leaves at
    # the next connection event, so neither side hears of it at once.
    central, peripheral = connected_pair(hosts)
    started = time.monotonic()
    assert hosts[0].command(hci.HCI_Disconnect_Command(connection_handle=central,
                                                       reason=0x13)).status == 0
    again = hosts[0].command(hci.HCI_Disconnect_Command(connection_handle=central, reason=0x13))
    assert again.status == hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR
    local = hosts[0].wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event))
    local_s = time.monotonic() - started
    remote = hosts[1].wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event))
    assert 0.025 <= local_s < 1.0, local_s
    assert (local.connection_handle, local.reason) == (central, 0x13)
    assert (remote.connection_handle, remote.reason) == (peripheral, 0x13)
    # Both ends at once: the first one out wins, the other's timer finds no link.
    central, peripheral = connected_pair(hosts)
    hosts[0].command(hci.HCI_Disconnect_Command(connection_handle=central, reason=0x13))
    hosts[1].command(hci.HCI_Disconnect_Command(connection_handle=peripheral, reason=0x16))
    assert len(hosts[0].collect(
        lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event), 0.3)) == 1
    assert len(hosts[1].collect(
        lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event), 0.3)) == 1


def test_unknown_commands_are_answered(hosts: list[HciClient]) -> None:
    # (n) LE Generate DHKey v2 (0x205E) and a vendor opcode: Command Complete,
    # Unknown HCI Command; the controller keeps working.
    for opcode in (0x205E, 0xFC42):
        hosts[0].send(bytes([0x01, opcode & 0xFF, opcode >> 8, 0x00]))
        event = hosts[0].wait_for(lambda p: isinstance(p, hci.HCI_Command_Complete_Event)
                                  and p.command_opcode == opcode)
        assert bytes(event.return_parameters)[:1] == bytes([hci.HCI_ErrorCode.UNKNOWN_HCI_COMMAND_ERROR])
    hosts[0].ok(hci.HCI_Read_BD_ADDR_Command())


@pytest.mark.timing
def test_links_are_paced_independently(hosts: list[HciClient]) -> None:
    first_central, first_peripheral = connected_pair(hosts)
    advertise(hosts[1], ADV_IND)
    connect(hosts[2], address_of(1))
    second_central = connection_complete(hosts[2]).connection_handle
    second_peripheral = connection_complete(hosts[1]).connection_handle
    started = time.monotonic()
    first = flood(hosts[0], first_central, FLOOD_COUNT, FLOOD_SIZE)
    second = flood(hosts[2], second_central, FLOOD_COUNT, FLOOD_SIZE)
    assert receive_pdus(hosts[1], first_peripheral, FLOOD_COUNT) == first
    assert receive_pdus(hosts[1], second_peripheral, FLOOD_COUNT) == second
    elapsed = time.monotonic() - started
    # Both links carried their 135 ms of air time at once, not one after the other.
    assert model_air_time_s(first) <= elapsed < model_air_time_s(first + second)


@pytest.mark.timing
def test_air_pacing_can_be_turned_off(unpaced_hosts: list[HciClient]) -> None:
    clients = unpaced_hosts
    central, peripheral = connected_pair(clients)
    started = time.monotonic()
    sent = flood(clients[0], central, FLOOD_COUNT, FLOOD_SIZE)
    assert receive_pdus(clients[1], peripheral, FLOOD_COUNT) == sent
    # Faster than LE 1M could carry it: what pacing exists to prevent.
    assert time.monotonic() - started < model_air_time_s(sent)


# (k) Number Of Completed Packets only once the link has delivered the data ---
def completed_count(packet: hci.HCI_Packet, handle: int) -> int:
    if not isinstance(packet, hci.HCI_Number_Of_Completed_Packets_Event):
        return 0
    return sum(count for h, count in zip(packet.connection_handles,
                                          packet.num_completed_packets) if h == handle)


def record_deliveries_and_completions(radio: Radio, sender: int, receiver: int) -> list[tuple[str, int]]:
    """On the radio's own loop (one clock, exact order): ('delivered', 1) per PDU
    the receiving controller gets from the air, ('completed', n) per NOCP the
    sending controller gives its host."""
    order: list[tuple[str, int]] = []
    source, destination = radio.controller(sender), radio.controller(receiver)
    deliver, send = destination.on_link_acl_data, source.send_hci_packet

    def delivered(*args: object) -> None:
        order.append(('delivered', 1))
        deliver(*args)  # type: ignore[arg-type]

    def sent(packet: hci.HCI_Packet) -> None:
        if isinstance(packet, hci.HCI_Number_Of_Completed_Packets_Event):
            order.append(('completed', sum(packet.num_completed_packets)))
        send(packet)

    def install() -> None:
        destination.on_link_acl_data = delivered  # type: ignore[method-assign]
        source.send_hci_packet = sent  # type: ignore[method-assign]
    radio.call(install)
    return order


@pytest.mark.timing
def test_completed_packets_follow_delivery_over_the_air(
        radio: Radio, hosts: list[HciClient]) -> None:
    buffers = hosts[0].ok(hci.HCI_LE_Read_Buffer_Size_Command()).return_parameters
    size, count = buffers.le_acl_data_packet_length, buffers.total_num_le_acl_data_packets  # type: ignore[union-attr]
    assert (size, count) == (251, 8)
    central, peripheral = connected_pair(hosts)
    order = record_deliveries_and_completions(radio, 0, 1)
    extra = 8
    started = time.monotonic()
    # N + k one-fragment PDUs (27 octets each: one HCI packet and one LL
    # fragment each), as fast as the socket takes them.
    sent = flood(hosts[0], central, count + extra, 27 - 4)
    first = hosts[0].wait_for(lambda p: completed_count(p, central) > 0, 2.0)
    # Nothing is completed before the first PDU's air time (676 us) is over.
    assert time.monotonic() - started >= model_air_time_s(sent[:1])
    completed = completed_count(first, central)
    while completed < count + extra:
        completed += completed_count(
            hosts[0].wait_for(lambda p: completed_count(p, central) > 0, 2.0), central)
    elapsed = time.monotonic() - started
    assert completed == count + extra
    # The last completion comes after all of them had crossed the air (48.7 ms).
    assert elapsed >= model_air_time_s(sent), f'{elapsed * 1e3:.1f} ms'
    assert receive_pdus(hosts[1], peripheral, count + extra) == sent  # all, in order
    # At every moment the radio reported no more completions than deliveries.
    delivered_so_far = completed_so_far = 0
    for kind, n in order:
        if kind == 'delivered':
            delivered_so_far += n
        else:
            completed_so_far += n
            assert completed_so_far <= delivered_so_far, order
    assert (delivered_so_far, completed_so_far) == (count + extra, count + extra)
    assert hosts[0].collect(lambda p: completed_count(p, central) > 0, 0.1) == []


def test_packets_outstanding_at_disconnection_are_flushed_not_completed(
        hosts: list[HciClient]) -> None:
    central, peripheral = connected_pair(hosts)
    sent = flood(hosts[0], central, 64, 23)  # 43 ms of air time
    hosts[0].command(hci.HCI_Disconnect_Command(connection_handle=central, reason=0x13))
    hosts[0].wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event))
    before = hosts[0].collect(lambda p: completed_count(p, central) > 0, 0)  # already in
    # The host frees the rest itself (Core Vol 4 Part E 7.7.5): no completion
    # for the closed connection follows its Disconnection Complete.
    assert sum(completed_count(p, central) for p in before) < len(sent)
    assert hosts[0].collect(lambda p: completed_count(p, central) > 0, 0.2) == []
    hosts[1].wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event))


@pytest.mark.timing
def test_unpaced_radio_completes_packets_at_once(unpaced_hosts: list[HciClient]) -> None:
    clients = unpaced_hosts
    central, peripheral = connected_pair(clients)
    started = time.monotonic()
    sent = flood(clients[0], central, 72, 23)
    completed = 0
    while completed < len(sent):
        completed += completed_count(clients[0].wait_for(
            lambda p: completed_count(p, central) > 0, 2.0), central)
    assert completed == len(sent)
    # Sooner than LE 1M could have carried the data.
    assert time.monotonic() - started < model_air_time_s(sent)
    assert receive_pdus(clients[1], peripheral, len(sent)) == sent
