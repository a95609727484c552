"""The virtual radio's controllers do P-256 as real ones do (raw HCI, no boards).

LE Secure Connections gets its ECDH from the controller: LE_Read_Local_P-256_
Public_Key and LE_Generate_DHKey (Core Vol 4 Part E 7.8.36, 7.8.37), answered
by the LE Read Local P-256 Public Key Complete and LE Generate DHKey Complete
events (7.7.65.8, 7.7.65.9). Opcodes, subevent codes and mask bits are written
here from the spec, not taken from bumble, so a wrong value on either side
fails. See fix (l) in tools/radio/controller.py.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from bumble import hci
from cryptography.hazmat.primitives.asymmetric import ec

from tools.radio import Radio
from tools.radio.hci_client import ALL_EVENTS_MASK, HciClient

READ_LOCAL_P256_PUBLIC_KEY = 0x2025  # OGF 0x08, OCF 0x0025
GENERATE_DHKEY = 0x2026  # v1: OGF 0x08, OCF 0x0026
READ_KEY_COMPLETE, DHKEY_COMPLETE = 0x08, 0x09  # LE Meta subevents
SUCCESS, COMMAND_DISALLOWED, INVALID_PARAMETERS = 0x00, 0x0C, 0x12
P256_PRIME = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
NO_EVENT_S = 0.2  # the radio computes in a few ms
LE_MASK_ALL = 0x1FFF  # every LE subevent up to 13
LE_MASK_P256 = (1 << (READ_KEY_COMPLETE - 1)) | (1 << (DHKEY_COMPLETE - 1))  # bits 7, 8


@pytest.fixture
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[HciClient]]:
    """Two controllers, each with a reset test-side host that unmasked every LE event."""
    with Radio(['tcp-server:_:0'] * 2,
               capture_dir=tmp_path_factory.mktemp('radio-captures')) as radio:
        clients = [HciClient(info.tcp_port or 0) for info in radio.controllers]
        try:
            for client in clients:
                client.reset_and_unmask(le_mask=LE_MASK_ALL.to_bytes(8, 'little'))
            yield clients
        finally:
            for client in clients:
                client.close()


def read_command() -> hci.HCI_Command:
    return hci.HCI_Command(op_code=READ_LOCAL_P256_PUBLIC_KEY, parameters=b'')


def generate_command(remote_key: bytes) -> hci.HCI_Command:
    return hci.HCI_Command(op_code=GENERATE_DHKEY, parameters=remote_key)


def is_subevent(code: int) -> Callable[[hci.HCI_Packet], bool]:
    return lambda p: isinstance(p, hci.HCI_LE_Meta_Event) and p.subevent_code == code


def status_of(host: HciClient, command: hci.HCI_Command) -> int:
    """Send a P-256 command: it is answered with a Command Status."""
    event = host.command(command)
    assert isinstance(event, hci.HCI_Command_Status_Event), event
    return event.status


def complete(host: HciClient, code: int) -> tuple[int, bytes]:
    """(status, payload) of the next Complete event of subevent `code`."""
    event = host.wait_for(is_subevent(code), 2.0)
    parameters = event.parameters  # subevent code, status, payload
    return parameters[1], parameters[2:]


def read_public_key(host: HciClient) -> bytes:
    """The controller's new public key as HCI carries it: X, Y, 32 octets each, LE."""
    assert status_of(host, read_command()) == SUCCESS
    status, key = complete(host, READ_KEY_COMPLETE)
    assert status == SUCCESS and len(key) == 64
    return key


def generate_dhkey(host: HciClient, remote_key: bytes) -> tuple[int, bytes]:
    assert status_of(host, generate_command(remote_key)) == SUCCESS
    status, dhkey = complete(host, DHKEY_COMPLETE)
    assert len(dhkey) == 32
    return status, dhkey


def curve_point(key: bytes) -> ec.EllipticCurvePublicKey:
    """Loads the HCI (little-endian) form; ValueError unless it is a P-256 point.
    cryptography refuses off-curve points but takes coordinates >= p modulo p."""
    x, y = int.from_bytes(key[:32], 'little'), int.from_bytes(key[32:], 'little')
    if x >= P256_PRIME or y >= P256_PRIME:
        raise ValueError('coordinate out of range')
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def hci_form(public_key: ec.EllipticCurvePublicKey) -> bytes:
    numbers = public_key.public_numbers()
    return numbers.x.to_bytes(32, 'little') + numbers.y.to_bytes(32, 'little')


def no_p256_event(host: HciClient) -> bool:
    return not host.collect(lambda p: is_subevent(READ_KEY_COMPLETE)(p)
                            or is_subevent(DHKEY_COMPLETE)(p), NO_EVENT_S)


def set_le_mask(host: HciClient, mask: int) -> None:
    host.ok(hci.HCI_LE_Set_Event_Mask_Command(le_event_mask=mask.to_bytes(8, 'little')))


# LE_Read_Local_P-256_Public_Key --------------------------------------------
def test_each_read_gives_a_fresh_valid_public_key_after_a_command_status(
        hosts: list[HciClient]) -> None:
    host = hosts[0]
    keys = [read_public_key(host) for _ in range(3)]
    for key in keys:
        curve_point(key)  # raises ValueError unless (x, y) is on P-256
    assert len(set(keys)) == 3, 'a key pair was reused'
    assert read_public_key(hosts[1]) not in keys
    # The Command Status came before the key, as for every P-256 command.
    kinds = [('status' if isinstance(p, hci.HCI_Command_Status_Event) else 'key')
             for p in host.log
             if (isinstance(p, hci.HCI_Command_Status_Event)
                 and p.command_opcode == READ_LOCAL_P256_PUBLIC_KEY)
             or is_subevent(READ_KEY_COMPLETE)(p)]
    assert kinds == ['status', 'key'] * 3


# LE_Generate_DHKey ---------------------------------------------------------
def test_both_controllers_compute_the_same_dhkey(hosts: list[HciClient]) -> None:
    first, second = read_public_key(hosts[0]), read_public_key(hosts[1])
    status_first, dhkey_first = generate_dhkey(hosts[0], second)
    status_second, dhkey_second = generate_dhkey(hosts[1], first)
    assert (status_first, status_second) == (SUCCESS, SUCCESS)
    assert dhkey_first == dhkey_second
    assert dhkey_first != b'\xff' * 32 and dhkey_first != bytes(32)
    # The private key stays until the next read: same DHKey again...
    assert generate_dhkey(hosts[0], second) == (SUCCESS, dhkey_first)
    # ...and a new read replaces it: the DHKey with the same peer key changes.
    read_public_key(hosts[0])
    status, renewed = generate_dhkey(hosts[0], second)
    assert status == SUCCESS and renewed != dhkey_first


def test_dhkey_is_the_ecdh_of_an_independent_implementation(hosts: list[HciClient]) -> None:
    # The test is the remote device: its own key pair, ECDH by cryptography.
    ours = ec.generate_private_key(ec.SECP256R1())
    theirs = curve_point(read_public_key(hosts[0]))
    status, dhkey = generate_dhkey(hosts[0], hci_form(ours.public_key()))
    assert status == SUCCESS
    # The DHKey is the X coordinate of the shared point, little-endian on HCI.
    assert dhkey == ours.exchange(ec.ECDH(), theirs)[::-1]


def valid_point_with_small_x() -> tuple[int, int]:
    """A P-256 point whose x + p still fits in 32 octets (p = 3 mod 4: square
    roots are a power)."""
    x = 0
    while True:
        rhs = (x ** 3 - 3 * x + P256_B) % P256_PRIME
        y = pow(rhs, (P256_PRIME + 1) // 4, P256_PRIME)
        if y * y % P256_PRIME == rhs:
            return x, y
        x += 1


def off_curve_keys() -> dict[str, bytes]:
    good = hci_form(ec.generate_private_key(ec.SECP256R1()).public_key())
    y = int.from_bytes(good[32:], 'little')
    x_small, y_small = valid_point_with_small_x()
    return {
        'y_plus_one': good[:32] + ((y + 1) % P256_PRIME).to_bytes(32, 'little'),
        'zero': bytes(64),
        'all_ff': b'\xff' * 64,
        # Reduced mod p it is on the curve; as a coordinate it is out of range.
        'x_plus_p': (x_small + P256_PRIME).to_bytes(32, 'little') + y_small.to_bytes(32, 'little'),
    }


@pytest.mark.parametrize('name', sorted(off_curve_keys()))
def test_a_remote_key_off_the_curve_fails_in_the_complete_event(
        hosts: list[HciClient], name: str) -> None:
    remote = off_curve_keys()[name]
    with pytest.raises(ValueError):
        curve_point(remote)  # the key really is invalid
    read_public_key(hosts[0])
    assert generate_dhkey(hosts[0], remote) == (INVALID_PARAMETERS, b'\xff' * 32)
    # Nothing is broken: a valid key still gives a DHKey.
    status, _ = generate_dhkey(hosts[0], read_public_key(hosts[1]))
    assert status == SUCCESS


def test_a_remote_key_of_the_wrong_length_is_refused_in_the_command_status(
        hosts: list[HciClient]) -> None:
    key = read_public_key(hosts[1])
    read_public_key(hosts[0])
    assert status_of(hosts[0], generate_command(key[:63])) == INVALID_PARAMETERS
    assert no_p256_event(hosts[0])


def test_generate_dhkey_before_any_local_key_is_disallowed(hosts: list[HciClient]) -> None:
    remote = read_public_key(hosts[1])
    assert status_of(hosts[0], generate_command(remote)) == COMMAND_DISALLOWED
    assert no_p256_event(hosts[0])
    # HCI_Reset forgets the key pair too.
    read_public_key(hosts[0])
    hosts[0].reset_and_unmask(le_mask=LE_MASK_ALL.to_bytes(8, 'little'))
    assert status_of(hosts[0], generate_command(remote)) == COMMAND_DISALLOWED
    assert no_p256_event(hosts[0])


def test_one_p256_computation_at_a_time(hosts: list[HciClient]) -> None:
    host = hosts[0]
    remote = read_public_key(hosts[1])
    read_public_key(host)
    # A second P-256 command while the first computes: Command Disallowed,
    # and only the first one completes. Both commands go in one write, so the
    # radio sees the second before the first can finish.
    for second in (generate_command(remote), read_command()):
        host.send(bytes(read_command()) + bytes(second))
        statuses = [host.wait_for(
            lambda p: isinstance(p, hci.HCI_Command_Status_Event), 2.0) for _ in range(2)]
        assert [(s.command_opcode, s.status) for s in statuses] == [
            (READ_LOCAL_P256_PUBLIC_KEY, SUCCESS), (second.op_code, COMMAND_DISALLOWED)]
        status, key = complete(host, READ_KEY_COMPLETE)
        assert status == SUCCESS
        curve_point(key)
        assert no_p256_event(host)
    read_public_key(host)  # and once it is done, the next one runs


# Event masks ---------------------------------------------------------------
def test_masked_p256_events_are_not_sent(hosts: list[HciClient]) -> None:
    host = hosts[0]
    remote = read_public_key(hosts[1])
    # The default LE mask (0x1F, after a reset) has neither bit 7 nor bit 8.
    host.ok(hci.HCI_Reset_Command())
    host.ok(hci.HCI_Set_Event_Mask_Command(event_mask=ALL_EVENTS_MASK))
    assert status_of(host, read_command()) == SUCCESS
    assert no_p256_event(host)
    # Every other LE event unmasked: still nothing.
    set_le_mask(host, LE_MASK_ALL & ~LE_MASK_P256)
    assert status_of(host, read_command()) == SUCCESS
    assert no_p256_event(host)
    assert status_of(host, generate_command(remote)) == SUCCESS  # masked reads made keys
    assert no_p256_event(host)
    # Bit 7 only: the key arrives, the DHKey does not.
    set_le_mask(host, LE_MASK_ALL & ~(1 << (DHKEY_COMPLETE - 1)))
    key = read_public_key(host)
    assert status_of(host, generate_command(remote)) == SUCCESS
    assert no_p256_event(host)
    # Bit 8 too: the DHKey arrives, and matches the other side's.
    set_le_mask(host, LE_MASK_ALL)
    status, dhkey = generate_dhkey(host, remote)
    assert status == SUCCESS
    assert generate_dhkey(hosts[1], key) == (SUCCESS, dhkey)
    # Both bits set but the LE Meta event (page-1 bit 61) masked: nothing.
    host.ok(hci.HCI_Set_Event_Mask_Command(
        event_mask=(int.from_bytes(ALL_EVENTS_MASK, 'little') & ~(1 << 61)).to_bytes(8, 'little')))
    assert status_of(host, read_command()) == SUCCESS
    assert no_p256_event(host)


# Read Local Supported Commands ---------------------------------------------
def test_supported_commands_list_the_p256_commands(hosts: list[HciClient]) -> None:
    event = hosts[0].ok(hci.HCI_Read_Local_Supported_Commands_Command())
    bitmap = event.return_parameters.supported_commands  # type: ignore[union-attr]
    assert len(bitmap) == 64
    assert bitmap[34] & 0b010, 'LE Read Local P-256 Public Key (octet 34 bit 1)'
    assert bitmap[34] & 0b100, 'LE Generate DHKey v1 (octet 34 bit 2)'
    assert not bitmap[41] & 0b100, 'LE Generate DHKey v2 (octet 41 bit 2) is not implemented'
