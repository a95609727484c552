"""The radio's Data Length Extension and LE 2M PHY, over raw HCI (no boards).

Fix (x) of tools/radio/controller.py (tools/radio/datalen.py, air.py): LE
buffers for 251-octet PDUs, the feature bits, the data length and PHY
commands, the LL procedures between two controllers with their events on
both sides, and air time that follows each connection's PDU size, PHY and
MIC. A radio with legacy controllers keeps the old 27-octet LE 1M one.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import pytest
from bumble import hci

from tools.radio import Radio
from harness.deliveries import record_deliveries
from tools.radio.hci_client import HciClient, clients_of, connect_hosts

PB_FIRST_NON_FLUSHABLE, PB_CONTINUING = 0b00, 0b01
LE_1M, LE_2M = 1, 2
PHY_1M_BIT, PHY_2M_BIT, PHY_CODED_BIT = 0x01, 0x02, 0x04
# LE features (Core Vol 6 Part B 4.6): bit 5 data length extension, 8 LE 2M, 11 Coded.
DLE_FEATURE_BIT, LE_2M_FEATURE_BIT, CODED_FEATURE_BIT = 5, 8, 11
# Supported commands (Vol 4 Part E 6.27): octet 33 bit 6 LE Set Data Length,
# octet 35 bit 3 LE Read Maximum Data Length, bits 4-6 the PHY commands.
SET_DATA_LENGTH_COMMAND_BIT = 33 * 8 + 6
PHY_COMMAND_BITS = [35 * 8 + bit for bit in (3, 4, 5, 6)]
QUIET_S = 0.3
LTK = bytes(range(16))


@contextlib.contextmanager
def radio_with(legacy: bool | set[int] = False) -> Iterator[tuple[Radio, list[HciClient]]]:
    with Radio(['tcp-server:_:0'] * 2, legacy_controllers=legacy) as radio, \
            clients_of(info.tcp_port or 0 for info in radio.controllers) as hosts:
        yield radio, hosts


@pytest.fixture
def current() -> Iterator[tuple[Radio, list[HciClient]]]:
    with radio_with() as pair:
        yield pair


@pytest.fixture
def hosts(current: tuple[Radio, list[HciClient]]) -> list[HciClient]:
    return current[1]


connect = connect_hosts  # host 0 connects to host 1 (interval 30 ms)


def status_of(event: hci.HCI_Event) -> int:
    if isinstance(event, hci.HCI_Command_Status_Event):
        return event.status
    return bytes(event.return_parameters)[0]


def length_changes(host: HciClient, duration: float = QUIET_S) -> list[tuple[int, ...]]:
    """(handle, tx octets, tx time, rx octets, rx time) of each LE Data Length Change."""
    return [(e.connection_handle, e.max_tx_octets, e.max_tx_time, e.max_rx_octets, e.max_rx_time)
            for e in host.collect(
                lambda p: isinstance(p, hci.HCI_LE_Data_Length_Change_Event), duration)]


def phy_updates(host: HciClient, duration: float = QUIET_S) -> list[tuple[int, int, int, int]]:
    """(status, handle, tx PHY, rx PHY) of each LE PHY Update Complete."""
    return [(e.status, e.connection_handle, e.tx_phy, e.rx_phy) for e in host.collect(
        lambda p: isinstance(p, hci.HCI_LE_PHY_Update_Complete_Event), duration)]


def read_phy(host: HciClient, handle: int) -> tuple[int, int]:
    parameters = host.ok(hci.HCI_LE_Read_PHY_Command(connection_handle=handle)).return_parameters
    return parameters.tx_phy, parameters.rx_phy  # type: ignore[union-attr]


def set_phy(host: HciClient, handle: int, tx_phys: int, rx_phys: int, all_phys: int = 0) -> int:
    return status_of(host.command(hci.HCI_LE_Set_PHY_Command(
        connection_handle=handle, all_phys=all_phys, tx_phys=tx_phys, rx_phys=rx_phys,
        phy_options=0)))


def suggest(host: HciClient, octets: int, time_us: int) -> int:
    return status_of(host.command(hci.HCI_LE_Write_Suggested_Default_Data_Length_Command(
        suggested_max_tx_octets=octets, suggested_max_tx_time=time_us)))


def features_of(host: HciClient) -> int:
    parameters = host.ok(hci.HCI_LE_Read_Local_Supported_Features_Command()).return_parameters
    return int.from_bytes(parameters.le_features, 'little')  # type: ignore[union-attr]


def supported_commands_of(host: HciClient) -> int:
    parameters = host.ok(hci.HCI_Read_Local_Supported_Commands_Command()).return_parameters
    return int.from_bytes(parameters.supported_commands, 'little')  # type: ignore[union-attr]


def l2cap_pdu(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, 'little') + (0x0040).to_bytes(2, 'little') + payload


def flood(host: HciClient, handle: int, count: int, payload: int) -> list[bytes]:
    """`count` numbered PDUs of `payload` octets in 251-octet HCI packets."""
    pdus = [l2cap_pdu(bytes([index & 0xFF]) * payload) for index in range(count)]
    for pdu in pdus:
        for offset in range(0, len(pdu), 251):
            host.send_acl(handle, pdu[offset:offset + 251],
                          PB_FIRST_NON_FLUSHABLE if offset == 0 else PB_CONTINUING)
    return pdus


def receive(host: HciClient, handle: int, count: int) -> list[bytes]:
    pdus: list[bytes] = []
    current = bytearray()
    while len(pdus) < count:
        packet = host.wait_for(lambda p: isinstance(p, hci.HCI_AclDataPacket)
                               and p.connection_handle == handle, 10.0)
        current += packet.data  # type: ignore[attr-defined]
        if len(current) >= 4 + int.from_bytes(current[:2], 'little'):
            pdus.append(bytes(current))
            current = bytearray()
    return pdus


def air_us(phy: int, payload: int, mic: bool = False) -> int:
    """Independent model: one data PDU, T_IFS, the empty acknowledgement, T_IFS.
    LE 1M: (1+4+2+n+3) octets at 8 us; LE 2M: (2+4+2+n+3) at 4 us; +4 MIC octets."""
    overhead = 10 if phy == LE_1M else 11
    us = 8 if phy == LE_1M else 4
    mic_octets = 4 if mic and payload else 0
    return (overhead + payload + mic_octets) * us + 150 + overhead * us + 150


def model_us(length: int, phy: int, octets: int, mic: bool = False) -> int:
    """An L2CAP PDU of `length` octets cut into LL PDUs of at most `octets`."""
    return sum(air_us(phy, min(octets, length - offset), mic)
               for offset in range(0, length, octets))


def model_s(pdus: list[bytes], phy: int, octets: int) -> float:
    return sum(model_us(len(pdu), phy, octets) for pdu in pdus) / 1e6


def record_air(radio: Radio, sender: int) -> list[tuple[int, int]]:
    """(PDU length, air time in us) of each PDU controller `sender` puts on the
    air, recorded on the radio's loop."""
    seen: list[tuple[int, int]] = []
    controller = radio.controller(sender)
    link = controller.link
    send = link.send_acl_data

    def recording(sender_controller: object, destination: object, transport: object,
                  data: bytes, on_delivered: Callable[[], None] | None = None, **kw: object) -> None:
        if sender_controller is controller:
            seen.append((len(data), kw['air'].pdu_us(len(data))))  # type: ignore[attr-defined]
        send(sender_controller, destination, transport, data, on_delivered, **kw)  # type: ignore[arg-type]
    radio.call(lambda: setattr(link, 'send_acl_data', recording))
    return seen


# -- buffers, features, commands ------------------------------------------------
def test_buffers_features_and_commands_of_the_current_controller(hosts: list[HciClient]) -> None:
    for command in (hci.HCI_LE_Read_Buffer_Size_Command(), hci.HCI_LE_Read_Buffer_Size_V2_Command()):
        parameters = hosts[0].ok(command).return_parameters
        assert (parameters.le_acl_data_packet_length,  # type: ignore[union-attr]
                parameters.total_num_le_acl_data_packets) == (251, 8)  # type: ignore[union-attr]
    features = features_of(hosts[0])
    assert features >> DLE_FEATURE_BIT & 1 and features >> LE_2M_FEATURE_BIT & 1
    assert not features >> CODED_FEATURE_BIT & 1  # not modelled, not claimed
    commands = supported_commands_of(hosts[0])
    assert all(commands >> bit & 1 for bit in [SET_DATA_LENGTH_COMMAND_BIT] + PHY_COMMAND_BITS)
    maximum = hosts[0].ok(hci.HCI_LE_Read_Maximum_Data_Length_Command()).return_parameters
    assert (maximum.supported_max_tx_octets, maximum.supported_max_tx_time,  # type: ignore[union-attr]
            maximum.supported_max_rx_octets, maximum.supported_max_rx_time) == (  # type: ignore[union-attr]
        251, 2120, 251, 2120)


def test_legacy_controller_keeps_27_octets_and_le_1m_only() -> None:
    with radio_with(legacy=True) as (_, hosts):
        for command in (hci.HCI_LE_Read_Buffer_Size_Command(),
                        hci.HCI_LE_Read_Buffer_Size_V2_Command()):
            parameters = hosts[0].ok(command).return_parameters
            assert (parameters.le_acl_data_packet_length,  # type: ignore[union-attr]
                    parameters.total_num_le_acl_data_packets) == (27, 64)  # type: ignore[union-attr]
        features = features_of(hosts[0])
        assert not features >> DLE_FEATURE_BIT & 1 and not features >> LE_2M_FEATURE_BIT & 1
        commands = supported_commands_of(hosts[0])
        assert not any(commands >> bit & 1 for bit in [SET_DATA_LENGTH_COMMAND_BIT] + PHY_COMMAND_BITS)
        central, _ = connect(hosts)
        for command in (hci.HCI_LE_Read_Maximum_Data_Length_Command(),
                        hci.HCI_LE_Set_Data_Length_Command(connection_handle=central,
                                                           tx_octets=251, tx_time=2120),
                        hci.HCI_LE_Read_PHY_Command(connection_handle=central),
                        hci.HCI_LE_Set_PHY_Command(connection_handle=central, all_phys=0,
                                                   tx_phys=PHY_2M_BIT, rx_phys=PHY_2M_BIT,
                                                   phy_options=0)):
            event = hosts[0].command(command)
            assert isinstance(event, hci.HCI_Command_Complete_Event)
            assert status_of(event) == hci.HCI_ErrorCode.UNKNOWN_HCI_COMMAND_ERROR
        assert phy_updates(hosts[0]) == [] and length_changes(hosts[1]) == []


# -- Data Length Extension --------------------------------------------------------
def test_suggested_default_data_length_is_checked_kept_and_reset(hosts: list[HciClient]) -> None:
    def read() -> tuple[int, int]:
        parameters = hosts[0].ok(
            hci.HCI_LE_Read_Suggested_Default_Data_Length_Command()).return_parameters
        return (parameters.suggested_max_tx_octets,  # type: ignore[union-attr]
                parameters.suggested_max_tx_time)  # type: ignore[union-attr]
    assert read() == (27, 328)
    assert suggest(hosts[0], 251, 2120) == 0
    assert read() == (251, 2120)
    for octets, time_us in ((26, 328), (252, 2120), (27, 327), (27, 0x4291)):
        assert suggest(hosts[0], octets, time_us) == hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
    assert read() == (251, 2120)
    hosts[0].ok(hci.HCI_Reset_Command())
    assert read() == (27, 328)


def test_set_data_length_runs_the_ll_exchange_and_both_hosts_see_the_change(
        hosts: list[HciClient]) -> None:
    central, peripheral = connect(hosts)
    assert length_changes(hosts[0]) == [] and length_changes(hosts[1]) == []  # nobody asked
    event = hosts[0].command(hci.HCI_LE_Set_Data_Length_Command(
        connection_handle=central, tx_octets=251, tx_time=2120))
    assert isinstance(event, hci.HCI_Command_Complete_Event) and status_of(event) == 0
    assert event.return_parameters.connection_handle == central  # type: ignore[union-attr]
    # The central sends 251 octets; the peripheral still suggests 27 for its own.
    assert length_changes(hosts[0]) == [(central, 251, 2120, 27, 328)]
    assert length_changes(hosts[1]) == [(peripheral, 27, 328, 251, 2120)]
    # The peripheral raises its side too: each host sees its values once more.
    hosts[1].ok(hci.HCI_LE_Set_Data_Length_Command(
        connection_handle=peripheral, tx_octets=200, tx_time=1700))
    assert length_changes(hosts[1]) == [(peripheral, 200, 1700, 251, 2120)]
    assert length_changes(hosts[0]) == [(central, 251, 2120, 200, 1700)]


def test_set_data_length_errors(hosts: list[HciClient]) -> None:
    central, _ = connect(hosts)
    for handle, octets, time_us, status in (
            (central + 5, 251, 2120, hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR),
            (central, 26, 2120, hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR),
            (central, 252, 2120, hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR),
            (central, 251, 0x0147, hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR)):
        assert status_of(hosts[0].command(hci.HCI_LE_Set_Data_Length_Command(
            connection_handle=handle, tx_octets=octets, tx_time=time_us))) == status
    assert length_changes(hosts[0]) == [] and length_changes(hosts[1]) == []


def test_controllers_update_the_data_length_on_their_own(hosts: list[HciClient]) -> None:
    # Both hosts suggest 251 octets: each controller starts LL_LENGTH_REQ when
    # the link opens; each host gets one LE Data Length Change, no command needed.
    for host in hosts:
        assert suggest(host, 251, 2120) == 0
    central, peripheral = connect(hosts)
    assert length_changes(hosts[0]) == [(central, 251, 2120, 251, 2120)]
    assert length_changes(hosts[1]) == [(peripheral, 251, 2120, 251, 2120)]


def test_a_legacy_peer_answers_unknown_and_the_link_stays_at_27_octets() -> None:
    with radio_with(legacy={1}) as (radio, hosts):
        assert suggest(hosts[0], 251, 2120) == 0
        central, peripheral = connect(hosts)
        assert length_changes(hosts[0]) == [] and length_changes(hosts[1]) == []
        assert set_phy(hosts[0], central, PHY_2M_BIT, PHY_2M_BIT) == 0
        assert phy_updates(hosts[0]) == [(hci.HCI_ErrorCode.UNSUPPORTED_REMOTE_FEATURE_ERROR,
                                          central, LE_1M, LE_1M)]
        assert phy_updates(hosts[1]) == []
        seen = record_air(radio, 0)
        flood(hosts[0], central, 1, 247)
        assert len(receive(hosts[1], peripheral, 1)) == 1
        assert seen == [(251, model_us(251, LE_1M, 27))]  # 10 LL PDUs: 6608 us


# -- PHY ---------------------------------------------------------------------------
def test_set_phy_moves_both_directions_to_2m_and_both_hosts_are_told(
        hosts: list[HciClient]) -> None:
    central, peripheral = connect(hosts)
    assert read_phy(hosts[0], central) == (LE_1M, LE_1M)
    assert set_phy(hosts[0], central, PHY_1M_BIT | PHY_2M_BIT, PHY_1M_BIT | PHY_2M_BIT) == 0
    assert phy_updates(hosts[0]) == [(0, central, LE_2M, LE_2M)]
    assert phy_updates(hosts[1]) == [(0, peripheral, LE_2M, LE_2M)]
    assert read_phy(hosts[0], central) == read_phy(hosts[1], peripheral) == (LE_2M, LE_2M)
    # The peripheral may start it too; it asks for LE 1M in its receive direction only.
    assert set_phy(hosts[1], peripheral, PHY_1M_BIT | PHY_2M_BIT, PHY_1M_BIT) == 0
    assert phy_updates(hosts[1]) == [(0, peripheral, LE_2M, LE_1M)]
    assert phy_updates(hosts[0]) == [(0, central, LE_1M, LE_2M)]


def test_a_phy_update_that_changes_nothing_is_told_to_the_asking_host_only(
        hosts: list[HciClient]) -> None:
    central, peripheral = connect(hosts)
    # The peripheral prefers LE 1M by default: the central asking for 2M gets nothing new.
    hosts[1].ok(hci.HCI_LE_Set_Default_PHY_Command(all_phys=0, tx_phys=PHY_1M_BIT,
                                                   rx_phys=PHY_1M_BIT))
    central, peripheral = connect_again(hosts, central)
    assert set_phy(hosts[0], central, PHY_2M_BIT | PHY_1M_BIT, PHY_2M_BIT | PHY_1M_BIT) == 0
    assert phy_updates(hosts[0]) == [(0, central, LE_1M, LE_1M)]
    assert phy_updates(hosts[1]) == []


def connect_again(hosts: list[HciClient], central: int) -> tuple[int, int]:
    """Drop the link (both sides told) and connect anew, keeping the hosts' settings."""
    hosts[0].command(hci.HCI_Disconnect_Command(connection_handle=central, reason=0x13))
    for host in hosts:
        host.wait_for(lambda p: isinstance(p, hci.HCI_Disconnection_Complete_Event), 2.0)
    return connect(hosts)


def test_phy_command_errors(hosts: list[HciClient]) -> None:
    central, _ = connect(hosts)
    assert set_phy(hosts[0], central + 5, PHY_2M_BIT, PHY_2M_BIT) == \
        hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR
    assert set_phy(hosts[0], central, PHY_CODED_BIT, PHY_1M_BIT) == \
        hci.HCI_ErrorCode.UNSUPPORTED_FEATURE_OR_PARAMETER_VALUE_ERROR
    assert set_phy(hosts[0], central, 0, PHY_1M_BIT) == \
        hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
    assert status_of(hosts[0].command(hci.HCI_LE_Set_Default_PHY_Command(
        all_phys=0, tx_phys=PHY_CODED_BIT, rx_phys=PHY_1M_BIT))) == \
        hci.HCI_ErrorCode.UNSUPPORTED_FEATURE_OR_PARAMETER_VALUE_ERROR
    assert status_of(hosts[0].command(hci.HCI_LE_Read_PHY_Command(connection_handle=central + 5))) == \
        hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR
    assert phy_updates(hosts[0]) == [] and phy_updates(hosts[1]) == []


# -- air time ------------------------------------------------------------------------
FLOOD = 60  # PDUs of 251 octets: one LL PDU each once the data length is 251


def dle_link(hosts: list[HciClient]) -> tuple[int, int]:
    for host in hosts:
        assert suggest(host, 251, 2120) == 0
    central, peripheral = connect(hosts)
    assert length_changes(hosts[0]) and length_changes(hosts[1])
    return central, peripheral


def timed_flood(hosts: list[HciClient], central: int, peripheral: int) -> tuple[list[bytes], float]:
    started = time.monotonic()
    sent = flood(hosts[0], central, FLOOD, 247)
    assert receive(hosts[1], peripheral, FLOOD) == sent
    return sent, time.monotonic() - started


def test_air_time_follows_the_data_length(hosts: list[HciClient]) -> None:
    central, peripheral = dle_link(hosts)
    sent, elapsed = timed_flood(hosts, central, peripheral)
    # 60 x 2468 us = 148 ms at 251 octets per PDU; 27-octet PDUs would take 396 ms.
    assert model_s(sent, LE_1M, 251) <= elapsed < model_s(sent, LE_1M, 27), elapsed


def test_a_2m_flood_keeps_to_its_air_time(hosts: list[HciClient]) -> None:
    central, peripheral = dle_link(hosts)
    assert set_phy(hosts[0], central, PHY_2M_BIT, PHY_2M_BIT) == 0
    assert phy_updates(hosts[0]) == [(0, central, LE_2M, LE_2M)]
    sent, elapsed = timed_flood(hosts, central, peripheral)
    # 60 x 1392 us = 84 ms on LE 2M (148 ms on LE 1M: the exact air time of
    # each PDU is the next test's; this one shows the lane keeps to it).
    assert model_s(sent, LE_2M, 251) <= elapsed < model_s(sent, LE_1M, 27), elapsed


def encrypt(hosts: list[HciClient], central: int, peripheral: int) -> None:
    hosts[0].ok(hci.HCI_LE_Enable_Encryption_Command(
        connection_handle=central, random_number=bytes(8), encrypted_diversifier=0,
        long_term_key=LTK))
    hosts[1].wait_for(lambda p: isinstance(p, hci.HCI_LE_Long_Term_Key_Request_Event), 2.0)
    hosts[1].ok(hci.HCI_LE_Long_Term_Key_Request_Reply_Command(
        connection_handle=peripheral, long_term_key=LTK))
    for host in hosts:
        event = host.wait_for(lambda p: isinstance(p, hci.HCI_Encryption_Change_Event), 2.0)
        assert event.status == 0 and event.encryption_enabled


@pytest.mark.parametrize('phy', [LE_1M, LE_2M])
def test_each_pdu_takes_its_air_time_and_encryption_adds_the_mic(
        current: tuple[Radio, list[HciClient]], phy: int) -> None:
    radio, hosts = current
    central, peripheral = dle_link(hosts)
    if phy == LE_2M:
        assert set_phy(hosts[0], central, PHY_2M_BIT, PHY_2M_BIT) == 0
        assert phy_updates(hosts[0])
    seen = record_air(radio, 0)
    lengths = [4 + 1, 4 + 27, 4 + 247, 4 + 300]  # L2CAP PDUs of 1, 2 LL PDUs
    for length in lengths:
        flood(hosts[0], central, 1, length - 4)
    receive(hosts[1], peripheral, len(lengths))
    assert seen == [(n, model_us(n, phy, 251)) for n in lengths]
    encrypt(hosts, central, peripheral)
    seen.clear()
    for length in lengths:
        flood(hosts[0], central, 1, length - 4)
    receive(hosts[1], peripheral, len(lengths))
    assert seen == [(n, model_us(n, phy, 251, mic=True)) for n in lengths]
    # 251 octets and a MIC: 2500 us on LE 1M, 1408 us on LE 2M.
    assert seen[2][1] == {LE_1M: 2500, LE_2M: 1408}[phy]


RATE_FLOOD = 300  # PDUs of 251 octets: 418 ms of LE 2M air


@pytest.mark.timing
def test_a_host_that_keeps_the_buffers_full_gets_the_air_rate_and_no_more(
        current: tuple[Radio, list[HciClient]]) -> None:
    radio, hosts = current
    central, peripheral = dle_link(hosts)
    assert set_phy(hosts[0], central, PHY_2M_BIT, PHY_2M_BIT) == 0
    assert phy_updates(hosts[0]) == [(0, central, LE_2M, LE_2M)]
    delivered_at = record_deliveries(radio, 1)  # the radio loop's clock
    pdus = [l2cap_pdu(bytes([index & 0xFF]) * 247) for index in range(RATE_FLOOD)]
    credits = 8  # the controller's LE ACL buffers; each PDU takes one
    started = time.monotonic()
    for pdu in pdus:
        while not credits:
            credits += sum(hosts[0].wait_for(lambda p: isinstance(
                p, hci.HCI_Number_Of_Completed_Packets_Event), 2.0).num_completed_packets)
        hosts[0].send_acl(central, pdu, PB_FIRST_NON_FLUSHABLE)
        credits -= 1
    assert receive(hosts[1], peripheral, RATE_FLOOD) == pdus
    elapsed = time.monotonic() - started
    slot = model_us(251, LE_2M, 251) / 1e6  # 1392 us
    # Never ahead of the air: the k-th PDU is in only after k slots.
    assert len(delivered_at) == RATE_FLOOD
    for index, at in enumerate(delivered_at):
        assert at - started >= (index + 1) * slot, (index, at - started)
    # And the radio's own work overlaps the air: at least 90% of the bound
    # over the whole flood, host round trips for the buffers included.
    bound = model_s(pdus, LE_2M, 251)
    assert bound / elapsed >= 0.9, f'{bound / elapsed:.0%} of the air rate'
