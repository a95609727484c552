"""Controller-to-host flow control, as a mixin of FaithfulController.

Core Vol 4 Part E 4.2 and 7.3.38-40: once the host has said how many ACL
packets of what size it can hold (Host_Buffer_Size) and turned flow control
on (Set_Controller_To_Host_Flow_Control, 0x01 or 0x03), the controller never
has more ACL packets with the host than that count; each Host Number Of
Completed Packets gives buffers back. Packets beyond the count wait in the
controller, in order. bumble accepted both commands and ignored them, and
did not know Host Number Of Completed Packets (Unknown HCI Command, which a
real controller never answers to it: the command has no reply unless its
parameters are wrong).

Simplification: the controller's own receive buffers are not limited (a real
link layer would stop acknowledging the peer's PDUs when they are full): data
the host cannot take yet waits here while the air goes on.
"""
from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from bumble import hci

FLOW_OFF, FLOW_ACL, FLOW_SCO, FLOW_BOTH = 0x00, 0x01, 0x02, 0x03
MIN_HOST_ACL_LENGTH = 27  # an LE host must take at least one 27-octet PDU


class HostFlowControl:
    """Mixin: needs bumble's Controller (send_hci_packet, find_le_connection_by_handle)."""

    if TYPE_CHECKING:
        le_acl_data_packet_length: int

        def send_hci_packet(self, packet: hci.HCI_Packet) -> None: ...

    def _init_host_flow_state(self) -> None:
        """Power-on and HCI_Reset values: flow control off, no host sizes."""
        self.host_flow_acl = False
        self.host_acl_length = 0  # 0: the host gave none
        self.host_acl_total = 0
        self.host_acl_in_use: dict[int, int] = {}
        self.host_acl_waiting: collections.deque[hci.HCI_AclDataPacket] = collections.deque()

    def host_acl_fragment_size(self) -> int:
        """Largest ACL packet we may give our host."""
        if self.host_acl_length:
            return min(self.le_acl_data_packet_length, self.host_acl_length)
        return self.le_acl_data_packet_length

    def on_hci_set_controller_to_host_flow_control_command(
        self, command: hci.HCI_Set_Controller_To_Host_Flow_Control_Command
    ) -> hci.HCI_StatusReturnParameters:
        if command.flow_control_enable > FLOW_BOTH:
            return hci.HCI_StatusReturnParameters(
                hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR)
        self.host_flow_acl = command.flow_control_enable in (FLOW_ACL, FLOW_BOTH)
        if not self.host_flow_acl:
            self.host_acl_in_use.clear()
            self._pump_to_host()
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def on_hci_host_buffer_size_command(
        self, command: hci.HCI_Host_Buffer_Size_Command
    ) -> hci.HCI_StatusReturnParameters:
        if (command.host_acl_data_packet_length < MIN_HOST_ACL_LENGTH
                or command.host_total_num_acl_data_packets == 0):
            return hci.HCI_StatusReturnParameters(
                hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR)
        self.host_acl_length = command.host_acl_data_packet_length
        self.host_acl_total = command.host_total_num_acl_data_packets
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def on_hci_host_number_of_completed_packets_command(self, command: hci.HCI_Command) -> None:
        """No reply unless the parameters are malformed (7.3.40)."""
        parameters = bytes(command.parameters or b'')
        count = parameters[0] if parameters else 0
        if not parameters or len(parameters) != 1 + 4 * count:
            self.send_hci_packet(hci.HCI_Command_Complete_Event(
                num_hci_command_packets=1, command_opcode=command.op_code,
                return_parameters=hci.HCI_StatusReturnParameters(
                    hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR)))
            return
        for index in range(count):
            entry = parameters[1 + 4 * index:5 + 4 * index]
            handle = int.from_bytes(entry[:2], 'little') & 0x0FFF
            done = int.from_bytes(entry[2:], 'little')
            if handle in self.host_acl_in_use:
                self.host_acl_in_use[handle] = max(self.host_acl_in_use[handle] - done, 0)
        self._pump_to_host()

    def send_acl_to_host(self, packet: hci.HCI_AclDataPacket) -> None:
        """Give our host an ACL packet now, or once it has a buffer for it."""
        self.host_acl_waiting.append(packet)
        self._pump_to_host()

    def _host_has_room(self) -> bool:
        if not self.host_flow_acl or not self.host_acl_total:
            return True
        return sum(self.host_acl_in_use.values()) < self.host_acl_total

    def _pump_to_host(self) -> None:
        while self.host_acl_waiting and self._host_has_room():
            packet = self.host_acl_waiting.popleft()
            if self.host_flow_acl:
                handle = packet.connection_handle
                self.host_acl_in_use[handle] = self.host_acl_in_use.get(handle, 0) + 1
            self.send_hci_packet(packet)

    def host_flow_link_closed(self, handle: int) -> None:
        """With the Disconnection Complete, the host's buffers of `handle` are
        free again and what still waited for them is dropped (7.7.5)."""
        self.host_acl_in_use.pop(handle, None)
        self.host_acl_waiting = collections.deque(
            p for p in self.host_acl_waiting if p.connection_handle != handle)
        self._pump_to_host()
