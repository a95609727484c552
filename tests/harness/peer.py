"""A test-side BLE peer: a raw HCI host on one of the radio's spare controllers.

Used where a test needs a third device (several connections at once), a
central that requests a connection update, or a flood of advertisers. It
speaks plain HCI (tools/radio/hci_client.py), so what it does on the air is
exactly what the test says; it answers nothing above HCI (no ATT, no L2CAP
signalling), which GAP tests do not need.
"""
from __future__ import annotations

from bumble import hci

from tools.radio import ControllerInfo
from tools.radio.hci_client import HciClient

PUBLIC = 0
ADV_IND, ADV_DIRECT_IND, ADV_SCAN_IND, ADV_NONCONN_IND = range(4)


class HciPeer:
    def __init__(self, info: ControllerInfo) -> None:
        if info.tcp_port is None:
            raise ValueError(f'controller {info.index} is not a spare TCP controller')
        self.info = info
        self.client = HciClient(info.tcp_port)
        self.client.reset_and_unmask()
        self.handle: int | None = None  # of the last connection completed

    @property
    def index(self) -> int:
        return self.info.index

    @property
    def address_bytes(self) -> bytes:
        """Its public address as the bluetooth module shows it (MSB first)."""
        return self.info.address_bytes

    @property
    def address(self) -> hci.Address:
        return hci.Address(self.info.public_address, hci.Address.PUBLIC_DEVICE_ADDRESS)

    def close(self) -> None:
        try:
            self.client.ok(hci.HCI_Reset_Command())
        except (AssertionError, TimeoutError, OSError):
            pass
        self.client.close()

    # -- advertiser ------------------------------------------------------------
    def advertise(self, data: bytes = b'', scan_rsp: bytes = b'', *,
                  adv_type: int = ADV_IND, interval: int = 0x20) -> None:
        """Start legacy advertising (interval in 0.625 ms units, >= 20 ms)."""
        self.client.ok(hci.HCI_LE_Set_Advertising_Enable_Command(advertising_enable=0))
        self.client.ok(hci.HCI_LE_Set_Advertising_Parameters_Command(
            advertising_interval_min=interval, advertising_interval_max=interval,
            advertising_type=adv_type, own_address_type=PUBLIC, peer_address_type=0,
            peer_address=hci.Address.ANY, advertising_channel_map=7,
            advertising_filter_policy=0))
        self.client.ok(hci.HCI_LE_Set_Advertising_Data_Command(advertising_data=data))
        self.client.ok(hci.HCI_LE_Set_Scan_Response_Data_Command(scan_response_data=scan_rsp))
        self.client.ok(hci.HCI_LE_Set_Advertising_Enable_Command(advertising_enable=1))

    # -- central ------------------------------------------------------------------
    def connect(self, addr_type: int, addr: bytes, *, interval: int = 0x28,
                latency: int = 0, timeout: int = 0x100) -> None:
        """Start LE_Create_Connection to (addr_type, MSB-first addr)."""
        peer = hci.Address(bytes(reversed(addr)), addr_type)
        event = self.client.command(hci.HCI_LE_Create_Connection_Command(
            le_scan_interval=0x10, le_scan_window=0x10, initiator_filter_policy=0,
            peer_address_type=addr_type, peer_address=peer, own_address_type=PUBLIC,
            connection_interval_min=interval, connection_interval_max=interval,
            max_latency=latency, supervision_timeout=timeout, min_ce_length=0,
            max_ce_length=0))
        assert event.status == 0, f'LE_Create_Connection status 0x{event.status:02X}'

    def connection_complete(self, timeout: float = 5.0) -> hci.HCI_LE_Connection_Complete_Event:
        event = self.client.wait_for(
            lambda p: isinstance(p, hci.HCI_LE_Connection_Complete_Event), timeout)
        assert isinstance(event, hci.HCI_LE_Connection_Complete_Event)
        if event.status == 0:
            self.handle = event.connection_handle
        return event

    def update(self, handle: int, interval: int, latency: int, timeout: int) -> None:
        event = self.client.command(hci.HCI_LE_Connection_Update_Command(
            connection_handle=handle, connection_interval_min=interval,
            connection_interval_max=interval, max_latency=latency,
            supervision_timeout=timeout, min_ce_length=0, max_ce_length=0))
        assert event.status == 0, f'LE_Connection_Update status 0x{event.status:02X}'

    def update_complete(self, timeout: float = 5.0) -> hci.HCI_LE_Connection_Update_Complete_Event:
        event = self.client.wait_for(
            lambda p: isinstance(p, hci.HCI_LE_Connection_Update_Complete_Event), timeout)
        assert isinstance(event, hci.HCI_LE_Connection_Update_Complete_Event)
        return event

    def disconnect(self, handle: int, reason: int = 0x13) -> None:
        self.client.command(hci.HCI_Disconnect_Command(connection_handle=handle, reason=reason))

    def disconnection(self, timeout: float = 5.0) -> hci.HCI_Disconnection_Complete_Event:
        event = self.client.wait_for(
            lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event), timeout)
        assert isinstance(event, hci.HCI_Disconnection_Complete_Event)
        return event
