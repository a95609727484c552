"""Several connections at once and concurrent roles on one board."""
from __future__ import annotations

import pytest

from harness.board import Board
from harness.gap import PUBLIC, advertise, connect, listen_only_to, mac, scan_results, up
from harness.peer import HciPeer


@pytest.mark.api(methods=['gap_connect', 'gap_disconnect'],
                 events=['_IRQ_PERIPHERAL_CONNECT', '_IRQ_PERIPHERAL_DISCONNECT'])
def test_central_holds_four_connections(central: Board, peripheral: Board,
                                        hci_peers: list[HciPeer]) -> None:
    assert len(hci_peers) >= 3, 'the rig needs 3 spare controllers for this test'
    up(central)
    up(peripheral)
    handles = {}
    c_handle, _ = connect(central, peripheral)
    handles[mac(peripheral)] = c_handle
    for peer in hci_peers[:3]:
        peer.advertise(b'\x02\x01\x06')
        central.exec(f'ble.gap_connect({PUBLIC}, {peer.address_bytes!r})')
        done = central.wait_for_event('_IRQ_PERIPHERAL_CONNECT')
        assert done.data[1:] == (PUBLIC, peer.address_bytes)
        assert peer.connection_complete().status == 0
        handles[(PUBLIC, peer.address_bytes)] = done.data[0]
    assert len(set(handles.values())) == 4, handles
    # Peer-initiated disconnect of one leaves the others.
    assert hci_peers[1].handle is not None
    hci_peers[1].disconnect(hci_peers[1].handle)
    gone = central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
    dropped = (PUBLIC, hci_peers[1].address_bytes)
    assert gone.data == (handles[dropped], *dropped)
    # The board disconnects the rest; each gets its own event.
    for address, handle in handles.items():
        if address == dropped:
            assert central.eval(f'ble.gap_disconnect({handle})') is False
            continue
        assert central.eval(f'ble.gap_disconnect({handle})') is True
        gone = central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
        assert gone.data == (handle, *address)
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')


@pytest.mark.api(methods=['gap_advertise', 'gap_connect', 'gap_scan'],
                 events=['_IRQ_CENTRAL_CONNECT', '_IRQ_PERIPHERAL_CONNECT', '_IRQ_SCAN_RESULT',
                         '_IRQ_CENTRAL_DISCONNECT', '_IRQ_PERIPHERAL_DISCONNECT'])
def test_concurrent_roles(central: Board, peripheral: Board, hci_peers: list[HciPeer]) -> None:
    """central board: central of the peripheral board, then also advertising and
    connected to as peripheral by an HCI peer, and scanning meanwhile."""
    up(central)
    up(peripheral)
    c_handle, p_handle = connect(central, peripheral)
    # Advertise while connected as central; a peer connects to us.
    advertise(central, b'\x05\x09both')
    peer = hci_peers[0]
    peer.connect(*mac(central))
    assert peer.connection_complete().status == 0
    accepted = central.wait_for_event('_IRQ_CENTRAL_CONNECT')
    assert accepted.data[1:] == (PUBLIC, peer.address_bytes)
    assert accepted.data[0] != c_handle
    # Scan while connected in both roles: the other peer's adverts arrive.
    hci_peers[1].advertise(b'\x05\x09scan', adv_type=3)
    listen_only_to(central, hci_peers[1].address_bytes)
    results = scan_results(central, 0.6)
    assert results and {e.data[4] for e in results} == {b'\x05\x09scan'}
    # Both links still work: each disconnects with its own event.
    assert peer.handle is not None
    peer.disconnect(peer.handle)
    assert central.wait_for_event('_IRQ_CENTRAL_DISCONNECT').data[0] == accepted.data[0]
    assert central.eval(f'ble.gap_disconnect({c_handle})') is True
    assert central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT').data[0] == c_handle
    assert peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT').data[0] == p_handle
