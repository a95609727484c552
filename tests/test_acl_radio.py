"""The host's ACL data path over the virtual radio, seen from a raw HCI peer:
reassembly of fragmented L2CAP PDUs, an L2CAP Command Reject for a signalling
command the host does not understand (same identifier, reason 0), oversize
PDUs dropped without harm, and fragments from the peer that do not belong to
any PDU ignored."""
from __future__ import annotations

import struct

import pytest
from bumble import hci

from harness.board import Board
from harness.gap import PUBLIC, up
from harness.peer import HciPeer

PB_FIRST, PB_CONT = 0b10, 0b01
SIGNALLING_CID = 5


def connect_peer(central: Board, peer: HciPeer) -> tuple[int, int]:
    """The board connects as central to the peer; returns the board's and the
    peer's handles of the link."""
    peer.advertise(b'\x02\x01\x06')
    central.exec(f'ble.gap_connect({PUBLIC}, {peer.address_bytes!r})')
    connected = central.wait_for_event('_IRQ_PERIPHERAL_CONNECT')
    complete = peer.connection_complete()
    assert complete.status == 0
    return connected.data[0], complete.connection_handle


def send_pdu(peer: HciPeer, handle: int, cid: int, payload: bytes, fragment: int = 27) -> None:
    pdu = struct.pack('<HH', len(payload), cid) + payload
    for offset in range(0, len(pdu), fragment):
        peer.client.send_acl(handle, pdu[offset:offset + fragment],
                             PB_FIRST if offset == 0 else PB_CONT)


def receive_pdu(peer: HciPeer, handle: int, timeout: float = 5.0) -> tuple[int, bytes]:
    """Reassemble the next L2CAP PDU the board sends on this link."""
    def acl(packet: hci.HCI_Packet) -> bool:
        return isinstance(packet, hci.HCI_AclDataPacket) and packet.connection_handle == handle
    first = peer.client.wait_for(acl, timeout)
    assert isinstance(first, hci.HCI_AclDataPacket)
    assert first.pb_flag in (0b00, 0b10), first
    data = bytes(first.data)
    assert len(data) >= 4
    length, cid = struct.unpack_from('<HH', data)
    while len(data) < 4 + length:
        more = peer.client.wait_for(acl, timeout)
        assert isinstance(more, hci.HCI_AclDataPacket) and more.pb_flag == PB_CONT, more
        data += bytes(more.data)
    assert len(data) == 4 + length, 'the board sent more than its basic header announced'
    return cid, data[4:]


def no_pdu(peer: HciPeer, handle: int, seconds: float = 0.5) -> bool:
    return not peer.client.collect(
        lambda p: isinstance(p, hci.HCI_AclDataPacket) and p.connection_handle == handle, seconds)


@pytest.mark.api(methods=['gap_connect'], events=['_IRQ_PERIPHERAL_CONNECT'])
def test_unknown_signalling_command_rejected_after_reassembly(
        central: Board, hci_peers: list[HciPeer]) -> None:
    up(central)
    peer = hci_peers[0]
    _, handle = connect_peer(central, peer)
    # An undefined command with 40 bytes of data: two ACL fragments; then
    # one whose basic header is split over 3-byte fragments.
    body = bytes(range(40))
    command = struct.pack('<BBH', 0x7F, 0x2A, len(body)) + body
    send_pdu(peer, handle, SIGNALLING_CID, command)
    cid, reply = receive_pdu(peer, handle)
    assert cid == SIGNALLING_CID
    # Command Reject, identifier echoed, reason 0x0000 Command not understood.
    assert reply == bytes([0x01, 0x2A, 0x02, 0x00, 0x00, 0x00])
    send_pdu(peer, handle, SIGNALLING_CID, struct.pack('<BBH', 0x7F, 0x2B, 0), fragment=3)
    assert receive_pdu(peer, handle) == (SIGNALLING_CID, bytes([0x01, 0x2B, 0x02, 0, 0, 0]))
    # A Command Reject from the peer is never answered.
    send_pdu(peer, handle, SIGNALLING_CID, bytes([0x01, 0x2C, 0x02, 0x00, 0x00, 0x00]))
    assert no_pdu(peer, handle)


@pytest.mark.api(methods=['gap_connect', 'gap_disconnect'],
                 events=['_IRQ_PERIPHERAL_CONNECT', '_IRQ_PERIPHERAL_DISCONNECT'])
def test_malformed_acl_input_is_dropped_and_the_link_keeps_working(
        central: Board, hci_peers: list[HciPeer]) -> None:
    up(central)
    peer = hci_peers[0]
    board_handle, handle = connect_peer(central, peer)
    # Longer than the host accepts (517-byte payloads): skipped to its end.
    send_pdu(peer, handle, 4, bytes(600))
    # Continuations with nothing started, and a start never completed then
    # replaced by a new one.
    peer.client.send_acl(handle, bytes(10), PB_CONT)
    peer.client.send_acl(handle, struct.pack('<HH', 50, SIGNALLING_CID) + bytes(10), PB_FIRST)
    send_pdu(peer, handle, SIGNALLING_CID, struct.pack('<BBH', 0x7E, 0x11, 2) + b'\xaa\xbb')
    assert receive_pdu(peer, handle) == (SIGNALLING_CID, bytes([0x01, 0x11, 0x02, 0, 0, 0]))
    assert no_pdu(peer, handle)
    # The board is still fine: it answers Python and disconnects cleanly.
    assert central.eval('ble.active()') is True
    assert central.eval(f'ble.gap_disconnect({board_handle})') is True
    central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
    assert peer.disconnection().status == 0

