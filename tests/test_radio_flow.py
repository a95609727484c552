"""The radio's controller-to-host flow control, over raw HCI (no boards).

Fix (y) of tools/radio/controller.py (tools/radio/hostflow.py): Host Buffer
Size and Set Controller To Host Flow Control are honoured, Host Number Of
Completed Packets gives buffers back (Core Vol 4 Part E 4.2, 7.3.38-40).
"""
from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from bumble import hci

from tools.radio import Radio
from tools.radio.hci_client import HciClient, clients_of, connect_hosts

PB_FIRST_NON_FLUSHABLE = 0b00
HOST_NUMBER_OF_COMPLETED_PACKETS = 0x0C35
QUIET_S = 0.3


@pytest.fixture
def hosts() -> Iterator[list[HciClient]]:
    with Radio(['tcp-server:_:0'] * 2) as radio, \
            clients_of(info.tcp_port or 0 for info in radio.controllers) as clients:
        yield clients


connect = connect_hosts  # host 0 connects to host 1


def host_buffers(host: HciClient, length: int, total: int, enable: int = 1) -> None:
    host.ok(hci.HCI_Host_Buffer_Size_Command(
        host_acl_data_packet_length=length, host_synchronous_data_packet_length=0,
        host_total_num_acl_data_packets=total, host_total_num_synchronous_data_packets=0))
    host.ok(hci.HCI_Set_Controller_To_Host_Flow_Control_Command(flow_control_enable=enable))


def completed(host: HciClient, handle: int, count: int) -> None:
    """Host Number Of Completed Packets for one handle (no reply expected)."""
    parameters = struct.pack('<BHH', 1, handle, count)
    host.send(struct.pack('<BHB', 0x01, HOST_NUMBER_OF_COMPLETED_PACKETS, len(parameters))
              + parameters)


def l2cap_pdu(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, 'little') + (0x0040).to_bytes(2, 'little') + payload


def send_pdus(host: HciClient, handle: int, count: int, size: int = 20) -> list[bytes]:
    pdus = [l2cap_pdu(bytes([index]) * size) for index in range(count)]
    for pdu in pdus:
        host.send_acl(handle, pdu, PB_FIRST_NON_FLUSHABLE)
    return pdus


def acl_in(host: HciClient, duration: float = QUIET_S) -> list[bytes]:
    return [p.data for p in host.collect(  # type: ignore[attr-defined]
        lambda p: isinstance(p, hci.HCI_AclDataPacket), duration)]


def status_of(event: hci.HCI_Event) -> int:
    return bytes(event.return_parameters)[0]  # type: ignore[attr-defined]


def test_the_host_never_holds_more_packets_than_its_buffers(hosts: list[HciClient]) -> None:
    central, peripheral = connect(hosts)
    host_buffers(hosts[1], 251, 3)
    sent = send_pdus(hosts[0], central, 10)
    assert acl_in(hosts[1]) == sent[:3]  # then nothing: the host holds 3
    completed(hosts[1], peripheral, 2)
    assert acl_in(hosts[1]) == sent[3:5]
    completed(hosts[1], peripheral, 3)
    assert acl_in(hosts[1]) == sent[5:8]
    completed(hosts[1], peripheral, 3)
    assert acl_in(hosts[1]) == sent[8:]
    # The other direction is not limited: host 0 never turned flow control on.
    back = send_pdus(hosts[1], peripheral, 10)
    assert acl_in(hosts[0]) == back


def test_without_flow_control_the_buffer_count_does_not_limit(hosts: list[HciClient]) -> None:
    central, _ = connect(hosts)
    host_buffers(hosts[1], 251, 3, enable=0)
    sent = send_pdus(hosts[0], central, 10)
    assert acl_in(hosts[1]) == sent
    # Turning it off again releases what waited.
    host_buffers(hosts[1], 251, 2, enable=1)
    sent = send_pdus(hosts[0], central, 5)
    assert acl_in(hosts[1]) == sent[:2]
    hosts[1].ok(hci.HCI_Set_Controller_To_Host_Flow_Control_Command(flow_control_enable=0))
    assert acl_in(hosts[1]) == sent[2:]


def test_packets_are_no_longer_than_the_host_said(hosts: list[HciClient]) -> None:
    central, _ = connect(hosts)
    host_buffers(hosts[1], 100, 10)
    pdu = send_pdus(hosts[0], central, 1, size=247)[0]
    fragments = acl_in(hosts[1])
    assert [len(f) for f in fragments] == [100, 100, 51]
    assert b''.join(fragments) == pdu


def test_a_disconnection_frees_the_links_buffers(hosts: list[HciClient]) -> None:
    central, peripheral = connect(hosts)
    host_buffers(hosts[1], 251, 2)
    sent = send_pdus(hosts[0], central, 6)
    assert acl_in(hosts[1]) == sent[:2]
    hosts[0].command(hci.HCI_Disconnect_Command(connection_handle=central, reason=0x13))
    hosts[1].wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event), 2.0)
    assert acl_in(hosts[1]) == []  # what waited went with the link
    hosts[0].wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event), 2.0)
    central, peripheral = connect(hosts)
    sent = send_pdus(hosts[0], central, 3)
    assert acl_in(hosts[1]) == sent[:2]  # both buffers free again, no more
    completed(hosts[1], peripheral, 1)
    assert acl_in(hosts[1]) == sent[2:]


def test_command_checks(hosts: list[HciClient]) -> None:
    for length, total in ((26, 4), (251, 0)):
        assert status_of(hosts[0].command(hci.HCI_Host_Buffer_Size_Command(
            host_acl_data_packet_length=length, host_synchronous_data_packet_length=0,
            host_total_num_acl_data_packets=total,
            host_total_num_synchronous_data_packets=0))) == \
            hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
    assert status_of(hosts[0].command(hci.HCI_Set_Controller_To_Host_Flow_Control_Command(
        flow_control_enable=4))) == hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
    # Host Number Of Completed Packets: no reply when well formed, an error when not.
    completed(hosts[0], 0x0001, 1)
    assert hosts[0].collect(lambda p: isinstance(p, hci.HCI_Command_Complete_Event), QUIET_S) == []
    hosts[0].send(struct.pack('<BHBBH', 0x01, HOST_NUMBER_OF_COMPLETED_PACKETS, 3, 1, 0x0001))
    event = hosts[0].wait_for(lambda p: isinstance(p, hci.HCI_Command_Complete_Event), 2.0)
    assert event.command_opcode == HOST_NUMBER_OF_COMPLETED_PACKETS
    assert bytes(event.return_parameters)[0] == hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
