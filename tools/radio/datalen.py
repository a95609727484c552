"""Data Length Extension and the LE 2M PHY, as a mixin of FaithfulController.

Core Vol 6 Part B 4.5.10 and 5.1.9 (data length update), 5.1.10 (PHY
update); Vol 4 Part E 7.8.33-35 and 7.8.46-49 (commands), 7.7.65.7 and
7.7.65.12 (events). bumble answers the read commands with 27 octets and LE 1M
whatever happens, has no LE_Set_Data_Length nor LE_Set_PHY, and sends no LL
procedure between controllers. Here:
  - each connection starts at 27 octets / 328 us and LE 1M both ways;
  - a controller whose suggested default exceeds 27 octets (or 328 us) starts
    the LL_LENGTH_REQ/RSP exchange by itself when a connection opens;
    LE_Set_Data_Length starts it for one connection;
  - LE Data Length Change goes to each host whose effective values changed;
  - LE_Set_PHY runs LL_PHY_REQ/RSP/UPDATE_IND; the central picks each
    direction's PHY from both sides' preferences (2M over 1M); LE PHY Update
    Complete goes to a host whose PHYs changed and always to the one that
    asked;
  - a controller built without these features (LEGACY, the old 27-octet LE 1M
    controller) does not know the commands (Unknown HCI Command) and answers
    the LL procedures with LL_UNKNOWN_RSP, as a Core 4.0/4.1 controller does;
  - `air_profile` tells the link how each direction uses the air.
The Coded PHY is not modelled (no feature bit; LE_Set_PHY refuses it).
All state lives in `self.dl_links`, keyed by connection handle.
"""
from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, ClassVar

from bumble import hci, ll
from bumble.controller import Connection

from .air import (
    DEFAULT_PAYLOAD_OCTETS,
    DEFAULT_TIME_US,
    LE_1M,
    LE_2M,
    MAX_PAYLOAD_OCTETS,
    AirProfile,
    octets_in_time,
)

# Supported maximum time without the Coded PHY: 251 octets and a MIC on LE 1M.
MAX_TIME_US = 2120
# Command ranges (Vol 4 Part E 7.8.33, 7.8.35).
TX_TIME_RANGE = range(0x0148, 0x4290 + 1)
TX_OCTETS_RANGE = range(0x001B, 0x00FB + 1)
# PHY bit masks of the commands and LL PDUs (bit 0 LE 1M, bit 1 LE 2M, bit 2 Coded).
PHY_1M_BIT, PHY_2M_BIT, PHY_CODED_BIT = 0x01, 0x02, 0x04
ALL_PHYS_NO_TX_PREFERENCE, ALL_PHYS_NO_RX_PREFERENCE = 0x01, 0x02
UNSUPPORTED_REMOTE_FEATURE = 0x1A
DATA_LENGTH_AND_PHY_COMMANDS = frozenset({
    hci.HCI_LE_SET_DATA_LENGTH_COMMAND,
    hci.HCI_LE_READ_SUGGESTED_DEFAULT_DATA_LENGTH_COMMAND,
    hci.HCI_LE_WRITE_SUGGESTED_DEFAULT_DATA_LENGTH_COMMAND,
    hci.HCI_LE_READ_MAXIMUM_DATA_LENGTH_COMMAND,
    hci.HCI_LE_READ_PHY_COMMAND,
    hci.HCI_LE_SET_DEFAULT_PHY_COMMAND,
    hci.HCI_LE_SET_PHY_COMMAND,
})


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a controller model supports."""

    data_length_extension: bool
    le_2m_phy: bool
    acl_data_packet_length: int  # LE_Read_Buffer_Size [v2]
    acl_data_packets: int        # ... and how many such buffers

    @property
    def phy_bits(self) -> int:
        return PHY_1M_BIT | (PHY_2M_BIT if self.le_2m_phy else 0)


# A handful of 251-octet buffers, as real controllers give the host (bumble's
# 64 let a host hand over 16 KB at once: a burst of 40 writes without
# response then took no time at all on the host's side).
CURRENT = Capabilities(data_length_extension=True, le_2m_phy=True,
                       acl_data_packet_length=MAX_PAYLOAD_OCTETS, acl_data_packets=8)
# The controller the radio modelled before: 64 buffers of 27 octets, LE 1M.
LEGACY = Capabilities(data_length_extension=False, le_2m_phy=False,
                      acl_data_packet_length=DEFAULT_PAYLOAD_OCTETS, acl_data_packets=64)


# -- LL control PDUs bumble does not define (Vol 6 Part B 2.4.2.21-2.4.2.24) --
@dataclasses.dataclass
class LengthReq(ll.ControlPdu):
    opcode = ll.ControlPdu.Opcode.LL_LENGTH_REQ
    max_rx_octets: int
    max_rx_time: int
    max_tx_octets: int
    max_tx_time: int


@dataclasses.dataclass
class LengthRsp(ll.ControlPdu):
    opcode = ll.ControlPdu.Opcode.LL_LENGTH_RSP
    max_rx_octets: int
    max_rx_time: int
    max_tx_octets: int
    max_tx_time: int


@dataclasses.dataclass
class PhyReq(ll.ControlPdu):
    opcode = ll.ControlPdu.Opcode.LL_PHY_REQ
    tx_phys: int
    rx_phys: int


@dataclasses.dataclass
class PhyRsp(ll.ControlPdu):
    opcode = ll.ControlPdu.Opcode.LL_PHY_RSP
    tx_phys: int
    rx_phys: int


@dataclasses.dataclass
class PhyUpdateInd(ll.ControlPdu):
    """The new PHY of each direction as one bit, 0 for unchanged."""

    opcode = ll.ControlPdu.Opcode.LL_PHY_UPDATE_IND
    phy_c_to_p: int
    phy_p_to_c: int


@dataclasses.dataclass
class UnknownRsp(ll.ControlPdu):
    opcode = ll.ControlPdu.Opcode.LL_UNKNOWN_RSP
    unknown_type: int


@dataclasses.dataclass
class LinkState:
    """One connection's data length and PHY, as this controller sees them."""

    tx_octets: int = DEFAULT_PAYLOAD_OCTETS  # connMaxTxOctets
    tx_time: int = DEFAULT_TIME_US
    rx_octets: int = DEFAULT_PAYLOAD_OCTETS  # connMaxRxOctets
    rx_time: int = DEFAULT_TIME_US
    peer_tx_octets: int = DEFAULT_PAYLOAD_OCTETS
    peer_tx_time: int = DEFAULT_TIME_US
    peer_rx_octets: int = DEFAULT_PAYLOAD_OCTETS
    peer_rx_time: int = DEFAULT_TIME_US
    tx_phy: int = LE_1M
    rx_phy: int = LE_1M
    tx_phys: int = PHY_1M_BIT  # preferences for this link
    rx_phys: int = PHY_1M_BIT
    phy_asked_by_host: bool = False
    peer_lacks_features: bool = False
    # The effective values of the last exchange (what the host was told and
    # the air uses); our own new values count only once the peer has them.
    agreed: tuple[int, int, int, int] = (DEFAULT_PAYLOAD_OCTETS, DEFAULT_TIME_US,
                                         DEFAULT_PAYLOAD_OCTETS, DEFAULT_TIME_US)

    def effective(self) -> tuple[int, int, int, int]:
        """(tx octets, tx time, rx octets, rx time) in force (4.5.10)."""
        return (min(self.tx_octets, self.peer_rx_octets), min(self.tx_time, self.peer_rx_time),
                min(self.rx_octets, self.peer_tx_octets), min(self.rx_time, self.peer_tx_time))


def best_phy(bits: int) -> int | None:
    """The PHY a central picks from a set of allowed ones: LE 2M over LE 1M."""
    if bits & PHY_2M_BIT:
        return LE_2M
    if bits & PHY_1M_BIT:
        return LE_1M
    return None


def phy_bit(phy: int) -> int:
    return PHY_2M_BIT if phy == LE_2M else PHY_1M_BIT


class DataLengthAndPhy:
    """Mixin: needs bumble's Controller (send_hci_packet, find_le_connection_by_handle)."""

    if TYPE_CHECKING:
        name: str
        le_features: hci.LeFeatureMask
        supported_commands: set[int]
        le_acl_data_packet_length: int
        encryption_key_sizes: dict[int, int]

        def send_hci_packet(self, packet: hci.HCI_Packet) -> None: ...
        def find_le_connection_by_handle(self, handle: int) -> Connection | None: ...
        def _send_hci_command_status(self, status: int, op_code: int) -> None: ...

    capabilities: Capabilities = CURRENT
    FEATURE_BITS: ClassVar[hci.LeFeatureMask] = (
        hci.LeFeatureMask.LE_DATA_PACKET_LENGTH_EXTENSION | hci.LeFeatureMask.LE_2M_PHY)

    def _init_data_length_state(self) -> None:
        """Power-on and HCI_Reset values, from the capabilities."""
        caps = self.capabilities
        features = self.le_features & ~self.FEATURE_BITS & ~hci.LeFeatureMask.LE_CODED_PHY
        if caps.data_length_extension:
            features |= hci.LeFeatureMask.LE_DATA_PACKET_LENGTH_EXTENSION
        if caps.le_2m_phy:
            features |= hci.LeFeatureMask.LE_2M_PHY
        self.le_features = features
        commands = set(self.supported_commands) - DATA_LENGTH_AND_PHY_COMMANDS
        if caps.data_length_extension:
            commands |= DATA_LENGTH_AND_PHY_COMMANDS
        self.supported_commands = commands
        self.suggested_max_tx_octets = DEFAULT_PAYLOAD_OCTETS
        self.suggested_max_tx_time = DEFAULT_TIME_US
        self.supported_max = MAX_PAYLOAD_OCTETS if caps.data_length_extension else DEFAULT_PAYLOAD_OCTETS
        self.supported_max_time = MAX_TIME_US if caps.data_length_extension else DEFAULT_TIME_US
        self.default_tx_phys = caps.phy_bits
        self.default_rx_phys = caps.phy_bits
        self.dl_links: dict[int, LinkState] = {}

    def knows_command(self, op_code: int) -> bool:
        """False for the data length and PHY commands of a controller without them."""
        return op_code not in DATA_LENGTH_AND_PHY_COMMANDS or self.capabilities.data_length_extension

    # -- connections ---------------------------------------------------------
    def data_length_link_opened(self, connection: Connection) -> None:
        """A connection exists (either role): 27 octets and LE 1M; start a
        Data Length Update if our suggested default asks for more."""
        state = LinkState(rx_octets=self.supported_max, rx_time=self.supported_max_time,
                          tx_phys=self.default_tx_phys, rx_phys=self.default_rx_phys)
        if self.capabilities.data_length_extension:
            state.tx_octets = self.suggested_max_tx_octets
            state.tx_time = self.suggested_max_tx_time
        self.dl_links[connection.handle] = state
        # (z) the first connection event: both sides share it.
        if not hasattr(connection, 'anchor_s'):
            connection.anchor_s = asyncio.get_running_loop().time()  # type: ignore[attr-defined]
        if (self.capabilities.data_length_extension
                and (state.tx_octets > DEFAULT_PAYLOAD_OCTETS or state.tx_time > DEFAULT_TIME_US)):
            # After the Connection Complete the host is about to get.
            asyncio.get_running_loop().call_soon(self._send_length_req, connection)

    def rate_info(self, handle: int) -> dict[str, tuple[int, ...]]:
        """The link's agreed data length and PHYs, for LinkInfo."""
        state = self.dl_links.get(handle)
        if state is None:
            return {}
        return {'data_length': state.agreed, 'phys': (state.tx_phy, state.rx_phy)}

    def data_length_link_closed(self, handle: int) -> None:
        self.dl_links.pop(handle, None)

    def air_profile(self, connection: Connection) -> AirProfile:
        """How our direction of `connection` uses the air now."""
        state = self.dl_links.get(connection.handle)
        mic = connection.handle in self.encryption_key_sizes
        if state is None:
            return AirProfile(mic=mic)
        tx_octets, tx_time, _, _ = state.agreed
        octets = min(tx_octets, octets_in_time(state.tx_phy, tx_time, mic))
        return AirProfile(phy=state.tx_phy, ack_phy=state.rx_phy,
                          payload_octets=max(octets, DEFAULT_PAYLOAD_OCTETS), mic=mic)

    # -- data length commands --------------------------------------------------
    def on_hci_le_read_maximum_data_length_command(
        self, _command: hci.HCI_LE_Read_Maximum_Data_Length_Command
    ) -> hci.HCI_LE_Read_Maximum_Data_Length_ReturnParameters:
        return hci.HCI_LE_Read_Maximum_Data_Length_ReturnParameters(
            status=hci.HCI_ErrorCode.SUCCESS,
            supported_max_tx_octets=self.supported_max,
            supported_max_tx_time=self.supported_max_time,
            supported_max_rx_octets=self.supported_max,
            supported_max_rx_time=self.supported_max_time,
        )

    def on_hci_le_read_suggested_default_data_length_command(
        self, _command: hci.HCI_LE_Read_Suggested_Default_Data_Length_Command
    ) -> hci.HCI_LE_Read_Suggested_Default_Data_Length_ReturnParameters:
        return hci.HCI_LE_Read_Suggested_Default_Data_Length_ReturnParameters(
            status=hci.HCI_ErrorCode.SUCCESS,
            suggested_max_tx_octets=self.suggested_max_tx_octets,
            suggested_max_tx_time=self.suggested_max_tx_time,
        )

    def on_hci_le_write_suggested_default_data_length_command(
        self, command: hci.HCI_LE_Write_Suggested_Default_Data_Length_Command
    ) -> hci.HCI_StatusReturnParameters:
        octets, time_us = command.suggested_max_tx_octets, command.suggested_max_tx_time
        if octets not in TX_OCTETS_RANGE or time_us not in TX_TIME_RANGE:
            return hci.HCI_StatusReturnParameters(
                hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR)
        # Values above what we support are used as our maximum (7.8.35).
        self.suggested_max_tx_octets = min(octets, self.supported_max)
        self.suggested_max_tx_time = min(time_us, self.supported_max_time)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def on_hci_le_set_data_length_command(
        self, command: hci.HCI_LE_Set_Data_Length_Command
    ) -> hci.HCI_StatusAndConnectionHandleReturnParameters:
        handle = command.connection_handle
        connection = self.find_le_connection_by_handle(handle)
        state = self.dl_links.get(handle)
        if connection is None or state is None:
            status = hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR
        elif command.tx_octets not in TX_OCTETS_RANGE or command.tx_time not in TX_TIME_RANGE:
            status = hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
        else:
            status = hci.HCI_ErrorCode.SUCCESS
            state.tx_octets = min(command.tx_octets, self.supported_max)
            state.tx_time = min(command.tx_time, self.supported_max_time)
            if not state.peer_lacks_features:
                asyncio.get_running_loop().call_soon(self._send_length_req, connection)
        return hci.HCI_StatusAndConnectionHandleReturnParameters(
            status=status, connection_handle=handle)

    def _send_length_req(self, connection: Connection) -> None:
        state = self.dl_links.get(connection.handle)
        if state is None:
            return  # closed meanwhile
        connection.send_ll_control_pdu(LengthReq(state.rx_octets, state.rx_time,
                                                 state.tx_octets, state.tx_time))

    def _peer_lengths(self, connection: Connection, state: LinkState,
                      pdu: LengthReq | LengthRsp) -> None:
        """Take the peer's values; tell our host if the effective ones changed."""
        state.peer_rx_octets = max(pdu.max_rx_octets, DEFAULT_PAYLOAD_OCTETS)
        state.peer_rx_time = max(pdu.max_rx_time, DEFAULT_TIME_US)
        state.peer_tx_octets = max(pdu.max_tx_octets, DEFAULT_PAYLOAD_OCTETS)
        state.peer_tx_time = max(pdu.max_tx_time, DEFAULT_TIME_US)
        after = state.effective()
        if after != state.agreed:
            state.agreed = after
            tx_octets, tx_time, rx_octets, rx_time = after
            self.send_hci_packet(hci.HCI_LE_Data_Length_Change_Event(
                connection_handle=connection.handle, max_tx_octets=tx_octets,
                max_tx_time=tx_time, max_rx_octets=rx_octets, max_rx_time=rx_time))

    # -- PHY commands ----------------------------------------------------------
    def on_hci_le_read_phy_command(
        self, command: hci.HCI_LE_Read_PHY_Command
    ) -> hci.HCI_LE_Read_PHY_ReturnParameters:
        state = self.dl_links.get(command.connection_handle)
        return hci.HCI_LE_Read_PHY_ReturnParameters(
            status=(hci.HCI_ErrorCode.SUCCESS if state is not None
                    else hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR),
            connection_handle=command.connection_handle,
            tx_phy=state.tx_phy if state else LE_1M,
            rx_phy=state.rx_phy if state else LE_1M,
        )

    def _phy_preferences(self, all_phys: int, tx_phys: int, rx_phys: int) -> tuple[int, int] | int:
        """(tx, rx) preference bits, or an error status (7.8.48, 7.8.49)."""
        if all_phys & ~0x03:
            return hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
        supported = self.capabilities.phy_bits
        if not all_phys & ALL_PHYS_NO_TX_PREFERENCE and tx_phys & ~supported:
            return hci.HCI_ErrorCode.UNSUPPORTED_FEATURE_OR_PARAMETER_VALUE_ERROR
        if not all_phys & ALL_PHYS_NO_RX_PREFERENCE and rx_phys & ~supported:
            return hci.HCI_ErrorCode.UNSUPPORTED_FEATURE_OR_PARAMETER_VALUE_ERROR
        tx = supported if all_phys & ALL_PHYS_NO_TX_PREFERENCE else tx_phys
        rx = supported if all_phys & ALL_PHYS_NO_RX_PREFERENCE else rx_phys
        if not tx or not rx:
            return hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
        return tx, rx

    def on_hci_le_set_default_phy_command(
        self, command: hci.HCI_LE_Set_Default_PHY_Command
    ) -> hci.HCI_StatusReturnParameters:
        preferences = self._phy_preferences(command.all_phys, command.tx_phys, command.rx_phys)
        if isinstance(preferences, int):
            return hci.HCI_StatusReturnParameters(preferences)
        self.default_tx_phys, self.default_rx_phys = preferences
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def on_hci_le_set_phy_command(self, command: hci.HCI_LE_Set_PHY_Command) -> None:
        connection = self.find_le_connection_by_handle(command.connection_handle)
        state = self.dl_links.get(command.connection_handle)
        preferences = self._phy_preferences(command.all_phys, command.tx_phys, command.rx_phys)
        if connection is None or state is None:
            status = hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR
        elif isinstance(preferences, int):
            status = preferences
        elif state.phy_asked_by_host:
            status = hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR
        else:
            status = hci.HCI_ErrorCode.SUCCESS
        self._send_hci_command_status(status, command.op_code)
        if status != hci.HCI_ErrorCode.SUCCESS:
            return
        assert connection is not None and state is not None and not isinstance(preferences, int)
        state.tx_phys, state.rx_phys = preferences
        state.phy_asked_by_host = True
        if state.peer_lacks_features:
            self._phy_update_complete(connection, state, UNSUPPORTED_REMOTE_FEATURE)
            return
        connection.send_ll_control_pdu(PhyReq(state.tx_phys, state.rx_phys))

    def _central_decides_phys(self, connection: Connection, state: LinkState,
                              peer_tx: int, peer_rx: int) -> None:
        """The central picks each direction from both sides' preferences and
        announces what changes (an unchanged direction is sent as 0)."""
        c_to_p = best_phy(state.tx_phys & peer_rx) or state.tx_phy
        p_to_c = best_phy(peer_tx & state.rx_phys) or state.rx_phy
        connection.send_ll_control_pdu(PhyUpdateInd(
            phy_bit(c_to_p) if c_to_p != state.tx_phy else 0,
            phy_bit(p_to_c) if p_to_c != state.rx_phy else 0))
        self._apply_phys(connection, state, tx=c_to_p, rx=p_to_c)

    def _apply_phys(self, connection: Connection, state: LinkState, tx: int, rx: int) -> None:
        changed = (tx, rx) != (state.tx_phy, state.rx_phy)
        state.tx_phy, state.rx_phy = tx, rx
        if changed or state.phy_asked_by_host:
            self._phy_update_complete(connection, state, hci.HCI_ErrorCode.SUCCESS)

    def _phy_update_complete(self, connection: Connection, state: LinkState, status: int) -> None:
        state.phy_asked_by_host = False
        self.send_hci_packet(hci.HCI_LE_PHY_Update_Complete_Event(
            status=status, connection_handle=connection.handle,
            tx_phy=state.tx_phy, rx_phy=state.rx_phy))

    # -- LL procedures ---------------------------------------------------------
    def on_data_length_or_phy_pdu(self, connection: Connection, packet: ll.ControlPdu) -> bool:
        """Handle one of our LL control PDUs; False if it is not one of them."""
        if not isinstance(packet, (LengthReq, LengthRsp, PhyReq, PhyRsp, PhyUpdateInd, UnknownRsp)):
            return False
        state = self.dl_links.get(connection.handle)
        if state is None:
            return True  # the link is closing
        caps = self.capabilities
        central = connection.role == hci.Role.CENTRAL
        match packet:
            case LengthReq() | PhyReq() if not caps.data_length_extension:
                connection.send_ll_control_pdu(UnknownRsp(int(packet.opcode)))
            case LengthReq():
                connection.send_ll_control_pdu(LengthRsp(state.rx_octets, state.rx_time,
                                                         state.tx_octets, state.tx_time))
                self._peer_lengths(connection, state, packet)
            case LengthRsp():
                self._peer_lengths(connection, state, packet)
            case PhyReq() if central:
                self._central_decides_phys(connection, state, packet.tx_phys, packet.rx_phys)
            case PhyReq():
                connection.send_ll_control_pdu(PhyRsp(state.tx_phys, state.rx_phys))
            case PhyRsp() if central:
                self._central_decides_phys(connection, state, packet.tx_phys, packet.rx_phys)
            case PhyUpdateInd() if not central:
                # The central's c_to_p is our receive direction.
                rx = LE_2M if packet.phy_c_to_p == PHY_2M_BIT else (
                    LE_1M if packet.phy_c_to_p == PHY_1M_BIT else state.rx_phy)
                tx = LE_2M if packet.phy_p_to_c == PHY_2M_BIT else (
                    LE_1M if packet.phy_p_to_c == PHY_1M_BIT else state.tx_phy)
                self._apply_phys(connection, state, tx=tx, rx=rx)
            case UnknownRsp():
                state.peer_lacks_features = True
                if (packet.unknown_type == ll.ControlPdu.Opcode.LL_PHY_REQ
                        and state.phy_asked_by_host):
                    self._phy_update_complete(connection, state, UNSUPPORTED_REMOTE_FEATURE)
        return True
