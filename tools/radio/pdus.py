"""Legacy advertising PDUs as our controllers put them on the shared link.

bumble's link only knows ADV_IND; a real radio carries the PDU type, and a
scanner learns the scan response only by asking (SCAN_REQ/SCAN_RSP). The
virtual air has no timing, so the advertiser puts its scan response data in
the PDU and each scanner decides whether it would have asked for it.
"""
from __future__ import annotations

import dataclasses
import enum

from bumble import hci


class LegacyPduType(enum.IntEnum):
    """Values match LE_Set_Advertising_Parameters' Advertising_Type."""

    ADV_IND = 0
    ADV_DIRECT_IND = 1
    ADV_SCAN_IND = 2
    ADV_NONCONN_IND = 3
    ADV_DIRECT_IND_LOW_DUTY = 4

    @property
    def connectable(self) -> bool:
        return self in (self.ADV_IND, self.ADV_DIRECT_IND, self.ADV_DIRECT_IND_LOW_DUTY)

    @property
    def scannable(self) -> bool:
        return self in (self.ADV_IND, self.ADV_SCAN_IND)

    @property
    def directed(self) -> bool:
        return self in (self.ADV_DIRECT_IND, self.ADV_DIRECT_IND_LOW_DUTY)

    @property
    def report_type(self) -> int:
        """Event_Type of the legacy LE Advertising Report for this PDU."""
        return 1 if self.directed else int(self)


# Event_Type bits of LE Extended Advertising Reports for legacy PDUs
# (connectable, scannable, directed, scan response, legacy).
EXT_REPORT_TYPE = {
    LegacyPduType.ADV_IND: 0b0010011,
    LegacyPduType.ADV_DIRECT_IND: 0b0010101,
    LegacyPduType.ADV_DIRECT_IND_LOW_DUTY: 0b0010101,
    LegacyPduType.ADV_SCAN_IND: 0b0010010,
    LegacyPduType.ADV_NONCONN_IND: 0b0010000,
}
EXT_REPORT_SCAN_RSP = {
    LegacyPduType.ADV_IND: 0b0011011,
    LegacyPduType.ADV_SCAN_IND: 0b0011010,
}
LEGACY_REPORT_SCAN_RSP = 4

# Advertising_Event_Properties of an extended advertising set (Core Vol 4
# Part E 7.8.53): bit 4 "use legacy PDUs", and which legacy PDU the low bits
# (connectable, scannable, directed, high duty cycle) then name.
LEGACY_PDUS = 0x10
LEGACY_PROPERTIES = {
    0b0011: LegacyPduType.ADV_IND,
    0b1101: LegacyPduType.ADV_DIRECT_IND,
    0b0101: LegacyPduType.ADV_DIRECT_IND_LOW_DUTY,
    0b0010: LegacyPduType.ADV_SCAN_IND,
    0b0000: LegacyPduType.ADV_NONCONN_IND,
}


@dataclasses.dataclass
class LegacyAdvPdu:
    advertiser_address: hci.Address
    pdu_type: LegacyPduType
    data: bytes
    scan_response_data: bytes
    target_address: hci.Address | None = None
