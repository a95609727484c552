"""Names of the `bluetooth` API the tests must cover (facts only)."""
from __future__ import annotations

METHODS: tuple[str, ...] = (
    'active', 'config', 'irq',
    'gap_advertise', 'gap_scan', 'gap_connect', 'gap_disconnect',
    'gatts_register_services', 'gatts_read', 'gatts_write', 'gatts_notify',
    'gatts_indicate', 'gatts_set_buffer',
    'gattc_discover_services', 'gattc_discover_characteristics',
    'gattc_discover_descriptors', 'gattc_read', 'gattc_write', 'gattc_exchange_mtu',
    'l2cap_listen', 'l2cap_connect', 'l2cap_disconnect', 'l2cap_send', 'l2cap_recvinto',
    'gap_pair', 'gap_passkey',
)

EVENTS: dict[str, int] = {
    '_IRQ_CENTRAL_CONNECT': 1,
    '_IRQ_CENTRAL_DISCONNECT': 2,
    '_IRQ_GATTS_WRITE': 3,
    '_IRQ_GATTS_READ_REQUEST': 4,
    '_IRQ_SCAN_RESULT': 5,
    '_IRQ_SCAN_DONE': 6,
    '_IRQ_PERIPHERAL_CONNECT': 7,
    '_IRQ_PERIPHERAL_DISCONNECT': 8,
    '_IRQ_GATTC_SERVICE_RESULT': 9,
    '_IRQ_GATTC_SERVICE_DONE': 10,
    '_IRQ_GATTC_CHARACTERISTIC_RESULT': 11,
    '_IRQ_GATTC_CHARACTERISTIC_DONE': 12,
    '_IRQ_GATTC_DESCRIPTOR_RESULT': 13,
    '_IRQ_GATTC_DESCRIPTOR_DONE': 14,
    '_IRQ_GATTC_READ_RESULT': 15,
    '_IRQ_GATTC_READ_DONE': 16,
    '_IRQ_GATTC_WRITE_DONE': 17,
    '_IRQ_GATTC_NOTIFY': 18,
    '_IRQ_GATTC_INDICATE': 19,
    '_IRQ_GATTS_INDICATE_DONE': 20,
    '_IRQ_MTU_EXCHANGED': 21,
    '_IRQ_L2CAP_ACCEPT': 22,
    '_IRQ_L2CAP_CONNECT': 23,
    '_IRQ_L2CAP_DISCONNECT': 24,
    '_IRQ_L2CAP_RECV': 25,
    '_IRQ_L2CAP_SEND_READY': 26,
    '_IRQ_CONNECTION_UPDATE': 27,
    '_IRQ_ENCRYPTION_UPDATE': 28,
    '_IRQ_GET_SECRET': 29,
    '_IRQ_SET_SECRET': 30,
    '_IRQ_PASSKEY_ACTION': 31,
}

EVENT_NAMES: dict[int, str] = {code: name for name, code in EVENTS.items()}

assert len(METHODS) == 26 and len(EVENTS) == 31
