"""The virtual radio encrypts LE links as real controllers do (raw HCI, no boards).

Two test-side hosts on two controllers of one radio, connected (host 0 the
central, host 1 the peripheral), drive the encryption commands of Core Vol 4
Part E 7.8.23-7.8.26 and 7.5.7 and read the events of 7.7.5, 7.7.8, 7.7.8.1,
7.7.39 and 7.7.65.5 byte by byte. Opcodes, event codes, parameter layouts and
mask bits are written here from the spec, not taken from bumble, so a wrong
value on either side fails. See fixes (o)-(u) in tools/radio/controller.py.

The last tests pair two bumble Devices (bumble's own host and SMP) over the
radio: LE Secure Connections and legacy Just Works, and a bonded pair that
re-encrypts with its stored LTK after reconnecting.
"""
from __future__ import annotations

import asyncio
import dataclasses
import struct
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from bumble import hci
from bumble.device import Connection, Device
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport
from bumble.transport.common import Transport

from tools.radio import ControllerInfo, Radio, public_address_for
from tools.radio.hci_client import ALL_EVENTS_MASK, ALL_LE_EVENTS_MASK, HciClient, clients_of

# Commands (OGF << 10 | OCF)
LE_RAND = 0x2018
LE_ENABLE_ENCRYPTION = 0x2019
LE_LTK_REPLY = 0x201A
LE_LTK_NEGATIVE_REPLY = 0x201B
READ_ENCRYPTION_KEY_SIZE = 0x1408
SET_EVENT_MASK_PAGE_2 = 0x0C63
# Events
DISCONNECTION_COMPLETE = 0x05
ENCRYPTION_CHANGE = 0x08
KEY_REFRESH_COMPLETE = 0x30
LE_META = 0x3E
ENCRYPTION_CHANGE_V2 = 0x59
LTK_REQUEST = 0x05  # LE Meta subevent
ENCRYPTION_EVENTS = (ENCRYPTION_CHANGE, ENCRYPTION_CHANGE_V2, KEY_REFRESH_COMPLETE)
# Mask bits
ENCRYPTION_CHANGE_BIT = 7  # page 1
KEY_REFRESH_BIT = 47  # page 1
LE_META_BIT = 61  # page 1
ENCRYPTION_CHANGE_V2_BIT = 25  # page 2
LTK_REQUEST_LE_BIT = 4  # LE event mask
# Status codes
SUCCESS = 0x00
UNKNOWN_CONNECTION = 0x02
PIN_OR_KEY_MISSING = 0x06
COMMAND_DISALLOWED = 0x0C
INSUFFICIENT_SECURITY = 0x2F
MIC_FAILURE = 0x3D
AES_CCM = 0x01

PUBLIC = 0
QUIET_S = 0.3  # many connection events of 30 ms: long enough to see nothing come
LTK = bytes(range(16))
OTHER_LTK = bytes(range(16, 32))
RAND = bytes.fromhex('0102030405060708')
EDIV = 0x1234
T = TypeVar('T')


@dataclasses.dataclass(frozen=True)
class Link:
    central: HciClient
    peripheral: HciClient
    central_handle: int
    peripheral_handle: int

    @property
    def sides(self) -> tuple[tuple[HciClient, int], tuple[HciClient, int]]:
        """Each end's host with its handle for the link."""
        return ((self.central, self.central_handle), (self.peripheral, self.peripheral_handle))


# -- fixtures -----------------------------------------------------------------
@pytest.fixture
def radio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radio]:
    with Radio(['tcp-server:_:0'] * 2,
               capture_dir=tmp_path_factory.mktemp('radio-captures')) as running:
        yield running


@pytest.fixture
def hosts(radio: Radio) -> Iterator[list[HciClient]]:
    """A reset host per controller, every page-1 and LE event unmasked."""
    with clients_of(info.tcp_port or 0 for info in radio.controllers) as clients:
        yield clients


@pytest.fixture
def link(hosts: list[HciClient]) -> Link:
    """Host 0 connected as central to host 1."""
    central, peripheral = hosts
    advertise(peripheral)
    peer = hci.Address(public_address_for(1), hci.Address.PUBLIC_DEVICE_ADDRESS)
    central.command(hci.HCI_LE_Create_Connection_Command(
        le_scan_interval=0x10, le_scan_window=0x10, initiator_filter_policy=0,
        peer_address_type=PUBLIC, peer_address=peer, own_address_type=PUBLIC,
        connection_interval_min=0x18, connection_interval_max=0x18, max_latency=0,
        supervision_timeout=0x200, min_ce_length=0, max_ce_length=0))
    handles = [connection_handle(client) for client in hosts]
    return Link(central, peripheral, handles[0], handles[1])


def advertise(host: HciClient) -> None:
    host.ok(hci.HCI_LE_Set_Advertising_Parameters_Command(
        advertising_interval_min=0x20, advertising_interval_max=0x20, advertising_type=0,
        own_address_type=PUBLIC, peer_address_type=0, peer_address=hci.Address.ANY,
        advertising_channel_map=7, advertising_filter_policy=0))
    host.ok(hci.HCI_LE_Set_Advertising_Enable_Command(advertising_enable=1))


def connection_handle(host: HciClient) -> int:
    event = host.wait_for(lambda p: subevent_of(p) == 0x01, 2.0)  # LE Connection Complete
    status, handle = struct.unpack_from('<BH', params_of(event), 1)
    assert status == SUCCESS
    return handle


# -- raw HCI ------------------------------------------------------------------
def params_of(packet: hci.HCI_Packet) -> bytes:
    """An event's parameters as they were on the wire (after type, code, length)."""
    raw = bytes(packet)
    assert raw[0] == 0x04 and raw[2] == len(raw) - 3
    return raw[3:]


def code_of(packet: hci.HCI_Packet) -> int | None:
    raw = bytes(packet)
    return raw[1] if raw[0] == 0x04 else None


def subevent_of(packet: hci.HCI_Packet) -> int | None:
    return params_of(packet)[0] if code_of(packet) == LE_META else None


def is_event(code: int) -> Callable[[hci.HCI_Packet], bool]:
    return lambda p: code_of(p) == code


def command(op_code: int, parameters: bytes = b'') -> hci.HCI_Command:
    return hci.HCI_Command(op_code=op_code, parameters=parameters)


def command_status(host: HciClient, op_code: int, parameters: bytes) -> int:
    """Send a command answered by a Command Status (7.7.15): its status."""
    event = host.command(command(op_code, parameters))
    assert code_of(event) == 0x0F, event
    status, _, answered = struct.unpack('<BBH', params_of(event))
    assert answered == op_code
    return status


def command_complete(host: HciClient, op_code: int, parameters: bytes = b'') -> bytes:
    """Send a command answered by a Command Complete (7.7.14): its return parameters."""
    event = host.command(command(op_code, parameters))
    assert code_of(event) == 0x0E, event
    _, answered = struct.unpack_from('<BH', params_of(event))
    assert answered == op_code
    return params_of(event)[3:]


def enable_encryption(host: HciClient, handle: int, ltk: bytes = LTK, rand: bytes = RAND,
                      ediv: int = EDIV) -> int:
    return command_status(host, LE_ENABLE_ENCRYPTION,
                          struct.pack('<H8sH16s', handle, rand, ediv, ltk))


def ltk_reply(host: HciClient, handle: int, ltk: bytes = LTK) -> tuple[int, int]:
    """(status, handle) of the Command Complete of LE_Long_Term_Key_Request_Reply."""
    status, answered = struct.unpack('<BH', command_complete(
        host, LE_LTK_REPLY, struct.pack('<H16s', handle, ltk)))
    return status, answered


def ltk_negative_reply(host: HciClient, handle: int) -> tuple[int, int]:
    status, answered = struct.unpack('<BH', command_complete(
        host, LE_LTK_NEGATIVE_REPLY, struct.pack('<H', handle)))
    return status, answered


def ltk_request(host: HciClient) -> tuple[int, bytes, int]:
    """(handle, Rand, EDIV) of the next LE Long Term Key Request (7.7.65.5)."""
    event = host.wait_for(lambda p: subevent_of(p) == LTK_REQUEST, 2.0)
    parameters = params_of(event)
    assert len(parameters) == 1 + 2 + 8 + 2
    handle, rand, ediv = struct.unpack('<H8sH', parameters[1:])
    return handle, rand, ediv


def next_event(host: HciClient, code: int) -> bytes:
    return params_of(host.wait_for(is_event(code), 2.0))


def encryption_change(host: HciClient) -> tuple[int, int, int]:
    """(status, handle, Encryption_Enabled) of the next Encryption Change v1 (7.7.8)."""
    parameters = next_event(host, ENCRYPTION_CHANGE)
    assert len(parameters) == 4
    status, handle, enabled = struct.unpack('<BHB', parameters)
    return status, handle, enabled


def key_size(host: HciClient, handle: int) -> tuple[int, int, int]:
    """(status, handle, Key_Size) from HCI_Read_Encryption_Key_Size (7.5.7)."""
    parameters = command_complete(host, READ_ENCRYPTION_KEY_SIZE, struct.pack('<H', handle))
    status, answered, size = struct.unpack('<BHB', parameters)
    return status, answered, size


def quiet(host: HciClient, *codes: int, duration: float = QUIET_S) -> bool:
    """True if no event of these codes (LE Meta subevent LTK_REQUEST for LE_META)
    arrives within `duration`."""
    def matches(packet: hci.HCI_Packet) -> bool:
        code = code_of(packet)
        if code == LE_META:
            return LE_META in codes and subevent_of(packet) == LTK_REQUEST
        return code in codes
    return not host.collect(matches, duration)


def set_event_mask(host: HciClient, cleared_bit: int) -> None:
    mask = int.from_bytes(ALL_EVENTS_MASK, 'little') & ~(1 << cleared_bit)
    host.ok(hci.HCI_Set_Event_Mask_Command(event_mask=mask.to_bytes(8, 'little')))


def set_event_mask_page_2(host: HciClient, mask: int) -> None:
    assert command_complete(host, SET_EVENT_MASK_PAGE_2, mask.to_bytes(8, 'little')) == bytes([0])


def encrypt(link: Link, ltk: bytes = LTK) -> None:
    """The whole start procedure with equal keys, up to both Encryption Changes."""
    assert enable_encryption(link.central, link.central_handle, ltk) == SUCCESS
    assert ltk_request(link.peripheral)[0] == link.peripheral_handle
    assert ltk_reply(link.peripheral, link.peripheral_handle, ltk) == (SUCCESS,
                                                                      link.peripheral_handle)
    assert encryption_change(link.peripheral) == (SUCCESS, link.peripheral_handle, AES_CCM)
    assert encryption_change(link.central) == (SUCCESS, link.central_handle, AES_CCM)


def l2cap(payload: bytes) -> bytes:
    return struct.pack('<HH', len(payload), 0x0040) + payload


def acl_payloads(host: HciClient, handle: int, duration: float = QUIET_S) -> list[bytes]:
    """The ACL packets of `handle` received within `duration` (to see none come)."""
    packets = host.collect(lambda p: isinstance(p, hci.HCI_AclDataPacket)
                           and p.connection_handle == handle, duration)
    return [bytes(p.data) for p in packets if isinstance(p, hci.HCI_AclDataPacket)]


def received_acl(host: HciClient, handle: int) -> list[bytes]:
    """The next ACL packet of `handle` (waiting for it), and any other that
    follows within a short while."""
    first = host.wait_for(lambda p: isinstance(p, hci.HCI_AclDataPacket)
                          and p.connection_handle == handle, 2.0)
    assert isinstance(first, hci.HCI_AclDataPacket)
    return [bytes(first.data), *acl_payloads(host, handle, 0.05)]


def acl_flows(link: Link) -> None:
    """One ACL packet each way arrives intact."""
    to_peripheral, to_central = l2cap(b'central->peripheral'), l2cap(b'peripheral->central')
    link.central.send_acl(link.central_handle, to_peripheral, 0b00)
    link.peripheral.send_acl(link.peripheral_handle, to_central, 0b00)
    assert received_acl(link.peripheral, link.peripheral_handle) == [to_peripheral]
    assert received_acl(link.central, link.central_handle) == [to_central]


# 1-3: the start procedure with equal keys -----------------------------------------
def test_equal_keys_encrypt_the_link_on_both_sides(link: Link) -> None:
    assert key_size(link.central, link.central_handle) == (
        INSUFFICIENT_SECURITY, link.central_handle, 0)
    assert enable_encryption(link.central, link.central_handle) == SUCCESS
    # The peripheral's host is asked for the key with the central's Rand and EDIV.
    assert ltk_request(link.peripheral) == (link.peripheral_handle, RAND, EDIV)
    assert quiet(link.central, *ENCRYPTION_EVENTS, duration=0.1)  # not before the reply
    assert ltk_reply(link.peripheral, link.peripheral_handle) == (SUCCESS, link.peripheral_handle)
    assert encryption_change(link.peripheral) == (SUCCESS, link.peripheral_handle, AES_CCM)
    assert encryption_change(link.central) == (SUCCESS, link.central_handle, AES_CCM)
    for host, handle in link.sides:
        assert key_size(host, handle) == (SUCCESS, handle, 16)
        assert quiet(host, *ENCRYPTION_EVENTS, ENCRYPTION_CHANGE_V2, LE_META, duration=0.1)
    # The order each host saw: Command Status, then Encryption Change (central);
    # LTK Request, Command Complete of the reply, then Encryption Change (peripheral).
    assert encryption_order(link.central) == ['status', 'change']
    assert encryption_order(link.peripheral) == ['ltk request', 'reply complete', 'change']


def encryption_order(host: HciClient) -> list[str]:
    names = []
    for packet in host.log:
        code = code_of(packet)
        if code == 0x0F and struct.unpack_from('<H', params_of(packet), 2)[0] == LE_ENABLE_ENCRYPTION:
            names.append('status')
        elif code == 0x0E and struct.unpack_from('<H', params_of(packet), 1)[0] == LE_LTK_REPLY:
            names.append('reply complete')
        elif subevent_of(packet) == LTK_REQUEST:
            names.append('ltk request')
        elif code == ENCRYPTION_CHANGE:
            names.append('change')
    return names


@pytest.mark.parametrize('v1_unmasked', [True, False], ids=['v1_unmasked', 'v1_masked'])
def test_encryption_change_v2_goes_to_a_host_that_unmasked_it(
        link: Link, v1_unmasked: bool) -> None:
    # Only the central unmasks v2 (event mask page 2 bit 25): it gets v2 with
    # the key size and never v1, whether v1 (page 1 bit 7) is unmasked too or
    # not; the peripheral still gets v1.
    if not v1_unmasked:
        set_event_mask(link.central, ENCRYPTION_CHANGE_BIT)
    set_event_mask_page_2(link.central, 1 << ENCRYPTION_CHANGE_V2_BIT)
    assert enable_encryption(link.central, link.central_handle) == SUCCESS
    ltk_request(link.peripheral)
    ltk_reply(link.peripheral, link.peripheral_handle)
    parameters = next_event(link.central, ENCRYPTION_CHANGE_V2)
    assert struct.unpack('<BHBB', parameters) == (SUCCESS, link.central_handle, AES_CCM, 16)
    assert quiet(link.central, ENCRYPTION_CHANGE)
    assert encryption_change(link.peripheral) == (SUCCESS, link.peripheral_handle, AES_CCM)
    assert quiet(link.peripheral, ENCRYPTION_CHANGE_V2, duration=0.05)


# 4: different keys ----------------------------------------------------------------
def test_different_keys_drop_the_link_with_mic_failure(link: Link) -> None:
    assert enable_encryption(link.central, link.central_handle, LTK) == SUCCESS
    ltk_request(link.peripheral)
    assert ltk_reply(link.peripheral, link.peripheral_handle, OTHER_LTK) == (
        SUCCESS, link.peripheral_handle)
    for host, handle in link.sides:
        assert struct.unpack('<BHB', next_event(host, DISCONNECTION_COMPLETE)) == (
            SUCCESS, handle, MIC_FAILURE)
        assert quiet(host, *ENCRYPTION_EVENTS, duration=0.1)
        assert key_size(host, handle)[0] == UNKNOWN_CONNECTION


# 5: negative reply ----------------------------------------------------------------
def test_negative_reply_leaves_the_link_up_and_unencrypted(link: Link) -> None:
    assert enable_encryption(link.central, link.central_handle) == SUCCESS
    ltk_request(link.peripheral)
    assert ltk_negative_reply(link.peripheral, link.peripheral_handle) == (
        SUCCESS, link.peripheral_handle)
    assert encryption_change(link.central) == (PIN_OR_KEY_MISSING, link.central_handle, 0)
    # The peripheral's host hears nothing more, and the link stays up.
    assert quiet(link.peripheral, *ENCRYPTION_EVENTS, DISCONNECTION_COMPLETE)
    assert quiet(link.central, DISCONNECTION_COMPLETE, duration=0.05)
    for host, handle in link.sides:
        assert key_size(host, handle) == (INSUFFICIENT_SECURITY, handle, 0)
    acl_flows(link)
    # A later attempt with a key the peripheral has works.
    encrypt(link)


# 6: encryption pause and restart ----------------------------------------------------
def test_encrypting_an_encrypted_link_refreshes_the_key(link: Link) -> None:
    encrypt(link)
    new_rand, new_ediv = bytes.fromhex('a1a2a3a4a5a6a7a8'), 0xBEEF
    assert enable_encryption(link.central, link.central_handle, OTHER_LTK,
                             new_rand, new_ediv) == SUCCESS
    assert ltk_request(link.peripheral) == (link.peripheral_handle, new_rand, new_ediv)
    assert ltk_reply(link.peripheral, link.peripheral_handle, OTHER_LTK) == (
        SUCCESS, link.peripheral_handle)
    for host, handle in link.sides:
        assert struct.unpack('<BH', next_event(host, KEY_REFRESH_COMPLETE)) == (SUCCESS, handle)
        assert quiet(host, ENCRYPTION_CHANGE, ENCRYPTION_CHANGE_V2, duration=0.1)
        assert key_size(host, handle) == (SUCCESS, handle, 16)
    acl_flows(link)


def test_a_negative_reply_at_refresh_leaves_the_link_up_and_unencrypted(link: Link) -> None:
    encrypt(link)
    assert enable_encryption(link.central, link.central_handle, OTHER_LTK) == SUCCESS
    ltk_request(link.peripheral)
    assert ltk_negative_reply(link.peripheral, link.peripheral_handle) == (
        SUCCESS, link.peripheral_handle)
    # Encryption was paused and does not restart: the central hears why.
    assert encryption_change(link.central) == (PIN_OR_KEY_MISSING, link.central_handle, 0)
    assert quiet(link.peripheral, *ENCRYPTION_EVENTS, DISCONNECTION_COMPLETE)
    for host, handle in link.sides:
        assert key_size(host, handle) == (INSUFFICIENT_SECURITY, handle, 0)
    acl_flows(link)


def test_a_wrong_key_at_refresh_drops_the_link_with_mic_failure(link: Link) -> None:
    encrypt(link)
    assert enable_encryption(link.central, link.central_handle, OTHER_LTK) == SUCCESS
    ltk_request(link.peripheral)
    ltk_reply(link.peripheral, link.peripheral_handle, LTK)
    for host, handle in link.sides:
        assert struct.unpack('<BHB', next_event(host, DISCONNECTION_COMPLETE)) == (
            SUCCESS, handle, MIC_FAILURE)
        assert quiet(host, *ENCRYPTION_EVENTS, duration=0.05)


# 7: LE_Rand -------------------------------------------------------------------------
def test_le_rand_gives_eight_fresh_random_octets(hosts: list[HciClient]) -> None:
    draws = []
    for host in hosts * 3:
        parameters = command_complete(host, LE_RAND)
        assert len(parameters) == 1 + 8 and parameters[0] == SUCCESS
        draws.append(parameters[1:])
    assert len(set(draws)) == len(draws)


# 8: event masks ---------------------------------------------------------------------
def test_masked_encryption_change_is_not_sent_but_the_link_is_encrypted(link: Link) -> None:
    for host in (link.central, link.peripheral):
        set_event_mask(host, ENCRYPTION_CHANGE_BIT)
    assert enable_encryption(link.central, link.central_handle) == SUCCESS
    ltk_request(link.peripheral)
    ltk_reply(link.peripheral, link.peripheral_handle)
    for host, handle in link.sides:
        assert quiet(host, *ENCRYPTION_EVENTS)
        assert key_size(host, handle) == (SUCCESS, handle, 16)
    # The refresh is bit 47: masked there, and then unmasked again.
    set_event_mask(link.central, KEY_REFRESH_BIT)
    refresh(link)
    assert quiet(link.central, *ENCRYPTION_EVENTS)
    assert struct.unpack('<BH', next_event(link.peripheral, KEY_REFRESH_COMPLETE)) == (
        SUCCESS, link.peripheral_handle)
    set_event_mask(link.central, ENCRYPTION_CHANGE_BIT)  # bit 47 set again
    refresh(link)
    assert struct.unpack('<BH', next_event(link.central, KEY_REFRESH_COMPLETE)) == (
        SUCCESS, link.central_handle)


def refresh(link: Link) -> None:
    assert enable_encryption(link.central, link.central_handle) == SUCCESS
    ltk_request(link.peripheral)
    ltk_reply(link.peripheral, link.peripheral_handle)


@pytest.mark.parametrize('masking', ['le_mask_bit_4', 'le_meta_bit_61'])
def test_masked_ltk_request_is_not_sent(link: Link, masking: str) -> None:
    if masking == 'le_mask_bit_4':
        mask = int.from_bytes(ALL_LE_EVENTS_MASK, 'little') & ~(1 << LTK_REQUEST_LE_BIT)
        link.peripheral.ok(hci.HCI_LE_Set_Event_Mask_Command(le_event_mask=mask.to_bytes(8, 'little')))
    else:
        set_event_mask(link.peripheral, LE_META_BIT)
    assert enable_encryption(link.central, link.central_handle) == SUCCESS
    assert quiet(link.peripheral, LE_META)
    # The request is pending all the same: the reply is taken, encryption starts.
    assert ltk_reply(link.peripheral, link.peripheral_handle) == (SUCCESS, link.peripheral_handle)
    assert encryption_change(link.central) == (SUCCESS, link.central_handle, AES_CCM)


# 9: errors --------------------------------------------------------------------------
def test_enable_encryption_errors(link: Link) -> None:
    assert enable_encryption(link.central, 0x0EEE) == UNKNOWN_CONNECTION
    # Only the central starts encryption.
    assert enable_encryption(link.peripheral, link.peripheral_handle) == COMMAND_DISALLOWED
    assert quiet(link.central, LE_META, *ENCRYPTION_EVENTS)
    # One procedure at a time.
    assert enable_encryption(link.central, link.central_handle) == SUCCESS
    assert enable_encryption(link.central, link.central_handle) == COMMAND_DISALLOWED
    ltk_request(link.peripheral)
    assert quiet(link.peripheral, LE_META)  # the second one sent nothing
    ltk_reply(link.peripheral, link.peripheral_handle)
    assert encryption_change(link.central) == (SUCCESS, link.central_handle, AES_CCM)


def test_ltk_replies_without_a_pending_request_are_disallowed(link: Link) -> None:
    assert ltk_reply(link.peripheral, link.peripheral_handle) == (
        COMMAND_DISALLOWED, link.peripheral_handle)
    assert ltk_negative_reply(link.peripheral, link.peripheral_handle) == (
        COMMAND_DISALLOWED, link.peripheral_handle)
    assert ltk_reply(link.central, link.central_handle) == (COMMAND_DISALLOWED, link.central_handle)
    assert ltk_reply(link.peripheral, 0x0EEE) == (UNKNOWN_CONNECTION, 0x0EEE)
    assert key_size(link.peripheral, 0x0EEE) == (UNKNOWN_CONNECTION, 0x0EEE, 0)
    # A request answered once is no longer pending.
    encrypt(link)
    assert ltk_reply(link.peripheral, link.peripheral_handle) == (
        COMMAND_DISALLOWED, link.peripheral_handle)
    assert quiet(link.central, *ENCRYPTION_EVENTS, DISCONNECTION_COMPLETE)


# 10: data ---------------------------------------------------------------------------
def test_data_flows_after_encryption(link: Link) -> None:
    encrypt(link)
    acl_flows(link)


def test_data_waits_while_the_ltk_request_is_pending(link: Link) -> None:
    assert enable_encryption(link.central, link.central_handle) == SUCCESS
    ltk_request(link.peripheral)
    sent_by_central, sent_by_peripheral = l2cap(b'held at the central'), l2cap(b'held too')
    link.central.send_acl(link.central_handle, sent_by_central, 0b00)
    link.peripheral.send_acl(link.peripheral_handle, sent_by_peripheral, 0b00)
    assert acl_payloads(link.peripheral, link.peripheral_handle) == []
    assert acl_payloads(link.central, link.central_handle) == []
    ltk_reply(link.peripheral, link.peripheral_handle)
    assert received_acl(link.peripheral, link.peripheral_handle) == [sent_by_central]
    assert received_acl(link.central, link.central_handle) == [sent_by_peripheral]
    # Each host had its Encryption Change before the data.
    assert data_order(link.central) == data_order(link.peripheral) == ['change', 'data']


def data_order(host: HciClient) -> list[str]:
    """Encryption Changes and ACL packets in the order the host got them."""
    return [('data' if isinstance(p, hci.HCI_AclDataPacket) else 'change')
            for p in host.log
            if isinstance(p, hci.HCI_AclDataPacket) or code_of(p) == ENCRYPTION_CHANGE]


def test_data_sent_right_behind_the_ltk_reply_waits_for_encryption(link: Link) -> None:
    assert enable_encryption(link.central, link.central_handle) == SUCCESS
    ltk_request(link.peripheral)
    # The reply and a data packet in one write: the controller takes both at once.
    data = l2cap(b'right behind the reply')
    link.peripheral.send(
        bytes(command(LE_LTK_REPLY, struct.pack('<H16s', link.peripheral_handle, LTK)))
        + bytes(hci.HCI_AclDataPacket(link.peripheral_handle, 0b00, 0, len(data), data)))
    assert received_acl(link.central, link.central_handle) == [data]
    assert data_order(link.central) == ['change', 'data']


# Read Local Supported Commands / Features --------------------------------------------
def test_supported_commands_and_features_list_encryption(hosts: list[HciClient]) -> None:
    bitmap = command_complete(hosts[0], 0x1002)[1:]  # Read_Local_Supported_Commands
    assert len(bitmap) == 64
    assert bitmap[20] & (1 << 4), 'Read Encryption Key Size (octet 20 bit 4)'
    assert bitmap[22] & (1 << 2), 'Set Event Mask Page 2 (octet 22 bit 2)'
    assert bitmap[27] & (1 << 7), 'LE Rand (octet 27 bit 7)'
    assert bitmap[28] & 0b111 == 0b111, 'LE Enable Encryption, LTK Reply and Negative Reply'
    features = command_complete(hosts[0], 0x2003)[1:]  # LE_Read_Local_Supported_Features
    assert features[0] & 1, 'LE Encryption (bit 0)'


# bumble's own host and SMP over the radio -------------------------------------------
@dataclasses.dataclass
class BumblePeers:
    radio: Radio
    central: Device
    peripheral: Device

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        """Run a coroutine on the radio's loop, where the Devices live."""
        return self.radio.run(coroutine, timeout)


class PeerDevice(Device):
    """bumble's Device with one host bug of 0.0.236 fixed, so that a bonded
    legacy pair can re-encrypt at all, on our radio or any controller.

    After legacy pairing bumble stores the LTK the peripheral distributed as
    `ltk_central` on both sides (named for the role that encrypts with it);
    Device.encrypt() on the central uses it, but get_long_term_key() in the
    peripheral role answers with `ltk_peripheral`, the key the central
    distributed: the two sides then start encryption with different keys and
    the link drops with MIC Failure. The peripheral must give the key it
    distributed itself, the one whose EDIV and Rand the central sent.
    """

    async def get_long_term_key(self, connection_handle: int, rand: bytes,
                                ediv: int) -> bytes | None:
        connection = self.lookup_connection(connection_handle)
        if (connection is not None and connection.role == hci.Role.PERIPHERAL
                and self.keystore is not None):
            keys = await self.keystore.get(str(connection.peer_address))
            own = keys.ltk_central if keys is not None and keys.ltk is None else None
            if own is not None and own.ediv == ediv and own.rand == rand:
                return own.value
        return await super().get_long_term_key(connection_handle, rand, ediv)


async def open_device(info: ControllerInfo, name: str) -> tuple[Device, Transport]:
    transport = await open_transport(info.client_spec)
    device = PeerDevice.with_hci(name, hci.Address(f'F0:00:00:00:00:{info.index + 1:02X}'),
                                 transport.source, transport.sink)
    await device.power_on()
    return device, transport


@pytest.fixture
def bumble_peers(radio: Radio) -> Iterator[BumblePeers]:
    """Two bumble Devices on the radio's loop, one per controller."""
    opened = [radio.run(open_device(info, f'bumble{info.index}'))
              for info in radio.controllers]
    try:
        yield BumblePeers(radio, opened[0][0], opened[1][0])
    finally:
        for _, transport in opened:
            radio.run(transport.close())


def just_works(sc: bool) -> Callable[[Connection], PairingConfig]:
    delegate = PairingDelegate(io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT)
    return lambda _connection: PairingConfig(sc=sc, mitm=False, bonding=True, delegate=delegate)


async def connect(peers: BumblePeers) -> tuple[Connection, Connection]:
    """The central connects to the advertising peripheral: both ends' Connections."""
    incoming: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
    peers.peripheral.once('connection', incoming.set_result)
    await peers.peripheral.start_advertising(own_address_type=hci.OwnAddressType.PUBLIC,
                                             auto_restart=False)
    central = await peers.central.connect(
        hci.Address(public_address_for(1), hci.Address.PUBLIC_DEVICE_ADDRESS),
        own_address_type=hci.OwnAddressType.PUBLIC, timeout=10)
    return central, await asyncio.wait_for(incoming, 5)


async def encrypted(connection: Connection) -> None:
    """Wait until bumble saw an Encryption Change (or Key Refresh) on the link."""
    for _ in range(200):
        if connection.is_encrypted:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f'{connection} never encrypted')


async def security_requested(central: Connection, peripheral: Connection) -> None:
    """The peripheral's host asks for security (SMP Security Request); the
    central's host hears it."""
    asked: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    central.once(central.EVENT_SECURITY_REQUEST, asked.set_result)
    peripheral.request_pairing()
    await asyncio.wait_for(asked, 5)


async def pair_and_check(peers: BumblePeers, sc: bool,
                         initiator: str = 'central') -> tuple[Connection, Connection]:
    for device in (peers.central, peers.peripheral):
        device.pairing_config_factory = just_works(sc)
    central, peripheral = await connect(peers)
    if initiator == 'peripheral':
        await security_requested(central, peripheral)
    await central.pair()
    await encrypted(peripheral)
    return central, peripheral


INITIATORS = ['central', 'peripheral']  # who asks: the central pairs, or the peripheral
SC_IDS = {True: 'secure_connections', False: 'legacy'}


@pytest.mark.parametrize('initiator', INITIATORS)
@pytest.mark.parametrize('sc', [True, False], ids=SC_IDS.get)
def test_bumble_pairs_just_works_over_the_radio(
        bumble_peers: BumblePeers, sc: bool, initiator: str) -> None:
    central, peripheral = bumble_peers.run(
        pair_and_check(bumble_peers, sc, initiator))
    for connection in (central, peripheral):
        assert connection.is_encrypted
        # bumble's host unmasks Encryption Change v2: the key size came in it.
        assert connection.encryption_key_size == 16
    assert central.sc == sc and peripheral.sc == sc
    # Both controllers hold the link as encrypted.
    for index in range(2):
        assert list(encrypted_links(bumble_peers.radio, index).values()) == [16]


def encrypted_links(radio: Radio, index: int) -> dict[int, int]:
    """Controller `index`'s encrypted links: handle -> key size."""
    controller = radio.controller(index)
    return radio.call(lambda: dict(controller.encryption_key_sizes))


async def reconnect_and_encrypt(peers: BumblePeers, sc: bool,
                                initiator: str) -> tuple[Connection, Connection]:
    central, peripheral = await pair_and_check(peers, sc)
    # Both hosts bonded: the keys are in their key stores.
    for device, peer in ((peers.central, central.peer_address),
                         (peers.peripheral, peripheral.peer_address)):
        assert device.keystore is not None and await device.keystore.get(str(peer)) is not None
    await central.disconnect()
    await asyncio.sleep(0.1)
    central, peripheral = await connect(peers)
    assert not central.is_encrypted and not peripheral.is_encrypted
    if initiator == 'peripheral':
        await security_requested(central, peripheral)
    await central.encrypt()  # the stored LTK (with its EDIV and Rand for legacy)
    await encrypted(peripheral)
    return central, peripheral


@pytest.mark.parametrize('initiator', INITIATORS)
@pytest.mark.parametrize('sc', [True, False], ids=SC_IDS.get)
def test_bonded_bumble_peers_reencrypt_after_reconnecting(
        bumble_peers: BumblePeers, sc: bool, initiator: str) -> None:
    central, peripheral = bumble_peers.run(
        reconnect_and_encrypt(bumble_peers, sc, initiator))
    assert central.is_encrypted and peripheral.is_encrypted
    assert central.encryption_key_size == peripheral.encryption_key_size == 16
