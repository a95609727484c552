"""GATT client: the board discovers, reads, writes and receives notifications
and indications from a bumble GATT server on a spare controller of the radio.

What bumble's server holds (its attribute table) is the oracle for every
discovery result.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from bumble import att, gatt
from bumble.gatt import Characteristic, Descriptor, Service

from harness.board import Board, Event, RemoteUUID
from harness.gap import PUBLIC, up
from harness.gap import connect as connect_boards
from harness.gattc_server import BumbleGattServer, uuid_le
from pytest_mpbt import RigPool
from tools.radio import ControllerInfo, Radio

R, W, WNR, N, I = (Characteristic.Properties.READ, Characteristic.Properties.WRITE,
                   Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
                   Characteristic.Properties.NOTIFY, Characteristic.Properties.INDICATE)
READABLE, WRITEABLE = Characteristic.READABLE, Characteristic.WRITEABLE

STATUS_TIMEOUT = 0x100
STATUS_DISCONNECTED = 0x101
ATT_READ_NOT_PERMITTED = 0x02
ATT_WRITE_NOT_PERMITTED = 0x03
# OSError numbers by name (they differ between the boards' C libraries).
ENOMEM, ENOTCONN, ETIMEDOUT, EALREADY, EPERM = 'ENOMEM', 'ENOTCONN', 'ETIMEDOUT', 'EALREADY', 'EPERM'


def u16(value: int) -> gatt.UUID:
    return gatt.UUID.from_16_bits(value)


def u128(n: int) -> gatt.UUID:
    return gatt.UUID(f'6E40{n:04X}-B5A3-F393-E0A9-E50E24DCCA9E')


def board_uuid(uuid: gatt.UUID) -> str:
    """The expression that makes this UUID on the board."""
    raw = uuid_le(uuid)
    if len(raw) == 2:
        return f'bluetooth.UUID(0x{raw[1]:02X}{raw[0]:02X})'
    return f'bluetooth.UUID({str(uuid)!r})'


@pytest.fixture
def server(spare_controller: ControllerInfo, radio: Radio) -> Iterator[BumbleGattServer]:
    peer = BumbleGattServer(radio, spare_controller)
    try:
        yield peer
    finally:
        peer.close()


def connect(board: Board, server: BumbleGattServer, services: list[Service]) -> int:
    """Start the server with `services`, connect the board to it; the board's handle."""
    server.start(services)
    up(board)
    board.exec(f'ble.gap_connect({PUBLIC}, {server.address_bytes!r})')
    done = board.wait_for_event('_IRQ_PERIPHERAL_CONNECT')
    assert done.data[1:] == (PUBLIC, server.address_bytes)
    server.wait_connected()
    return done.data[0]


def results(board: Board, result: str, done: str, timeout: float = 20) -> tuple[list[Event], Event]:
    """Wait for the DONE event; the RESULT events that came before it."""
    end = board.wait_for_event(done, timeout)
    found = [e for e in board.take_events() if e.name == result]
    return found, end


def read(board: Board, conn: int, handle: int, timeout: float = 20) -> tuple[bytes | None, int]:
    board.exec(f'ble.gattc_read({conn}, {handle})')
    done = board.wait_for_event('_IRQ_GATTC_READ_DONE', timeout)
    assert done.data[:2] == (conn, handle)
    values = [e for e in board.take_events() if e.name == '_IRQ_GATTC_READ_RESULT']
    if done.data[2] != 0:
        assert values == []
        return None, done.data[2]
    assert len(values) == 1, values
    assert values[0].data[:2] == (conn, handle)
    return values[0].data[2], 0


def errno_of(board: Board, code: str) -> str | int:
    """The errno name of the OSError `code` raises on the board (0: none)."""
    return board.eval(f'_e(lambda: {code})')


ERRNO_HELPER = '''
import errno
def _e(f):
    try:
        f()
    except OSError as e:
        return errno.errorcode.get(e.errno, e.errno)
    return 0
'''


# -- discovery -----------------------------------------------------------------
MANY_SERVICES = [Service(u128(0x100 + i), [Characteristic(u128(0x200 + i), R, READABLE, bytes([i]))])
                 for i in range(12)] + [
    Service(u16(0x180D), [Characteristic(u16(0x2A37), R | N, READABLE, b'\x00\x48')])]


@pytest.mark.api(methods=['gattc_discover_services'],
                 events=['_IRQ_GATTC_SERVICE_RESULT', '_IRQ_GATTC_SERVICE_DONE'])
def test_discover_many_services(central: Board, server: BumbleGattServer) -> None:
    conn = connect(central, server, MANY_SERVICES)
    central.exec(f'ble.gattc_discover_services({conn})')
    found, done = results(central, '_IRQ_GATTC_SERVICE_RESULT', '_IRQ_GATTC_SERVICE_DONE')
    assert done.data == (conn, 0)
    expected = [(conn, s.handle, s.end_group_handle, RemoteUUID(uuid_le(s.uuid)))
                for s in server.all_services()]
    assert len(expected) >= 14  # bumble's GAP and GATT services, then ours
    assert [e.data for e in found] == expected

    # By UUID: one 128-bit service, one 16-bit service, and one not there.
    for service in (MANY_SERVICES[7], MANY_SERVICES[12]):
        central.exec(f'ble.gattc_discover_services({conn}, {board_uuid(service.uuid)})')
        found, done = results(central, '_IRQ_GATTC_SERVICE_RESULT', '_IRQ_GATTC_SERVICE_DONE')
        assert done.data == (conn, 0)
        assert [e.data for e in found] == [
            (conn, service.handle, service.end_group_handle, RemoteUUID(uuid_le(service.uuid)))]
    central.exec(f'ble.gattc_discover_services({conn}, bluetooth.UUID(0x1234))')
    found, done = results(central, '_IRQ_GATTC_SERVICE_RESULT', '_IRQ_GATTC_SERVICE_DONE')
    assert (found, done.data) == ([], (conn, 0))


HR_SERVICE = Service(u16(0x180D), [
    Characteristic(u16(0x2A37), R | N, READABLE, b'\x00\x48'),
    Characteristic(u16(0x2A38), R, READABLE, b'\x01'),
    Characteristic(u128(0x300), R | W | I, READABLE | WRITEABLE, b'x',
                   descriptors=[Descriptor(u16(0x2901), READABLE, b'user text'),
                                Descriptor(u128(0x301), READABLE | WRITEABLE, b'd')]),
    Characteristic(u16(0x2A39), W, WRITEABLE, b''),
])
OTHER_SERVICE = Service(u128(0x400), [Characteristic(u16(0x2A38), R, READABLE, b'\x02')])


def declarations(server: BumbleGattServer, start: int, end: int) -> list:
    """bumble's characteristic declarations in [start, end], in handle order."""
    assert server.device is not None
    return [a for a in server.device.gatt_server.attributes
            if isinstance(a, gatt.CharacteristicDeclaration) and start <= a.handle <= end]


@pytest.mark.api(methods=['gattc_discover_characteristics', 'gattc_discover_descriptors'],
                 events=['_IRQ_GATTC_CHARACTERISTIC_RESULT', '_IRQ_GATTC_CHARACTERISTIC_DONE',
                         '_IRQ_GATTC_DESCRIPTOR_RESULT', '_IRQ_GATTC_DESCRIPTOR_DONE'])
def test_discover_characteristics_and_descriptors(central: Board,
                                                  server: BumbleGattServer) -> None:
    conn = connect(central, server, [HR_SERVICE, OTHER_SERVICE])
    start, end = HR_SERVICE.handle, HR_SERVICE.end_group_handle
    central.exec(f'ble.gattc_discover_characteristics({conn}, {start}, {end})')
    found, done = results(central, '_IRQ_GATTC_CHARACTERISTIC_RESULT',
                          '_IRQ_GATTC_CHARACTERISTIC_DONE')
    assert done.data == (conn, 0)
    decls = declarations(server, start, end)
    assert len(decls) == 4
    # Each characteristic ends before the next declaration; the last at the range end.
    ends = [d.handle - 1 for d in decls[1:]] + [end]
    expected = [(conn, e, d.value_handle, int(d.characteristic.properties),
                 RemoteUUID(uuid_le(d.characteristic.uuid))) for d, e in zip(decls, ends)]
    assert [e.data for e in found] == expected
    for d, e in zip(decls, ends):
        assert e == d.characteristic.end_group_handle

    # A UUID filter over the whole range: 0x2A38 is in both services.
    central.exec(f'ble.gattc_discover_characteristics({conn}, 1, 65535, bluetooth.UUID(0x2A38))')
    found, done = results(central, '_IRQ_GATTC_CHARACTERISTIC_RESULT',
                          '_IRQ_GATTC_CHARACTERISTIC_DONE')
    assert done.data == (conn, 0)
    wanted = [c for c in (HR_SERVICE.characteristics[1], OTHER_SERVICE.characteristics[0])]
    assert [e.data[2] for e in found] == [c.handle for c in wanted]
    assert found[0].data[1] == wanted[0].end_group_handle
    assert all(e.data[4] == RemoteUUID(b'\x38\x2a') for e in found)
    # A 128-bit filter.
    central.exec(f'ble.gattc_discover_characteristics({conn}, 1, 65535, {board_uuid(u128(0x300))})')
    found, done = results(central, '_IRQ_GATTC_CHARACTERISTIC_RESULT',
                          '_IRQ_GATTC_CHARACTERISTIC_DONE')
    assert [e.data[2] for e in found] == [HR_SERVICE.characteristics[2].handle]

    # Descriptors of the third characteristic: CCCD (bumble adds it for
    # indicate), user description, a 128-bit one, in handle order.
    chr3 = HR_SERVICE.characteristics[2]
    central.exec(f'ble.gattc_discover_descriptors({conn}, {chr3.handle}, {ends[2]})')
    found, done = results(central, '_IRQ_GATTC_DESCRIPTOR_RESULT', '_IRQ_GATTC_DESCRIPTOR_DONE')
    assert done.data == (conn, 0)
    assert server.device is not None
    attrs = [a for a in server.device.gatt_server.attributes
             if chr3.handle < a.handle <= ends[2]]
    assert [e.data for e in found] == [(conn, a.handle, RemoteUUID(uuid_le(a.type)))
                                       for a in attrs]
    assert {e.data[2] for e in found} >= {RemoteUUID(b'\x02\x29'), RemoteUUID(b'\x01\x29')}
    # Everything after handle 1 in one discovery (many responses).
    central.exec(f'ble.gattc_discover_descriptors({conn}, 1, 65535)')
    found, done = results(central, '_IRQ_GATTC_DESCRIPTOR_RESULT', '_IRQ_GATTC_DESCRIPTOR_DONE')
    assert done.data == (conn, 0)
    assert [e.data[1] for e in found] == [a.handle for a in server.device.gatt_server.attributes
                                          if a.handle > 1]
    # A characteristic without descriptors: an empty range, done at once.
    last = HR_SERVICE.characteristics[3].handle
    central.exec(f'ble.gattc_discover_descriptors({conn}, {last}, {last})')
    found, done = results(central, '_IRQ_GATTC_DESCRIPTOR_RESULT', '_IRQ_GATTC_DESCRIPTOR_DONE')
    assert (found, done.data) == ([], (conn, 0))


# -- read and write ---------------------------------------------------------------
LONG_VALUE = bytes((i * 7 + 3) & 0xff for i in range(512))


def refuse(code: int):
    def handler(*_args: object) -> None:
        raise att.ATT_Error(code)
    return handler


def rw_services(writes: list[tuple[str, bytes]]) -> list[Service]:
    def recorder(name: str) -> gatt.CharacteristicValue:
        return gatt.CharacteristicValue(
            read=lambda _c: b'', write=lambda _c, value: writes.append((name, bytes(value))))
    return [Service(u128(0x500), [
        Characteristic(u128(0x501), R, READABLE, LONG_VALUE),
        Characteristic(u128(0x502), R, READABLE, LONG_VALUE[:22]),
        Characteristic(u128(0x503), W | WNR, WRITEABLE, recorder('sink')),
        Characteristic(u128(0x504), R | W, READABLE | WRITEABLE,
                       gatt.CharacteristicValue(read=lambda _c: b'no writes',
                                                write=refuse(ATT_WRITE_NOT_PERMITTED))),
        Characteristic(u128(0x505), R | W, READABLE | WRITEABLE,
                       gatt.CharacteristicValue(read=refuse(ATT_READ_NOT_PERMITTED))),
    ])]


@pytest.mark.api(methods=['gattc_read', 'gattc_exchange_mtu', 'config'],
                 events=['_IRQ_GATTC_READ_RESULT', '_IRQ_GATTC_READ_DONE', '_IRQ_MTU_EXCHANGED'])
def test_read_long_values_and_mtu(central: Board, server: BumbleGattServer) -> None:
    services = rw_services([])
    conn = connect(central, server, services)
    long_chr, exact_chr, _, _, no_read = services[0].characteristics
    # At the default MTU: Read then Read Blobs, the whole value in one result.
    assert read(central, conn, long_chr.handle) == (LONG_VALUE, 0)
    # Exactly MTU-1 bytes: bumble answers the blob read Attribute Not Long.
    assert read(central, conn, exact_chr.handle) == (LONG_VALUE[:22], 0)
    # A refused read: the ATT error as status, no result.
    assert read(central, conn, no_read.handle) == (None, ATT_READ_NOT_PERMITTED)
    assert read(central, conn, 0x0fff) == (None, 0x01)  # invalid handle

    central.exec('ble.config(mtu=256)')
    assert central.eval('ble.config("mtu")') == 256
    central.exec(f'ble.gattc_exchange_mtu({conn})')
    assert central.wait_for_event('_IRQ_MTU_EXCHANGED').data == (conn, 256)
    assert server.att_mtu() == 256
    assert read(central, conn, long_chr.handle) == (LONG_VALUE, 0)
    central.exec(ERRNO_HELPER)
    assert errno_of(central, f'ble.gattc_exchange_mtu({conn})') == EALREADY


@pytest.mark.api(methods=['gattc_write'], events=['_IRQ_GATTC_WRITE_DONE'])
def test_write_modes_and_long_writes(central: Board, server: BumbleGattServer) -> None:
    writes: list[tuple[str, bytes]] = []
    services = rw_services(writes)
    conn = connect(central, server, services)
    sink, no_write = services[0].characteristics[2], services[0].characteristics[3]

    def write(data: bytes, mode: int, handle: int = sink.handle) -> int:
        central.exec(f'ble.gattc_write({conn}, {handle}, {data!r}, {mode})')
        done = central.wait_for_event('_IRQ_GATTC_WRITE_DONE', 20)
        assert done.data[:2] == (conn, handle)
        return done.data[2]

    assert write(b'short', 1) == 0
    assert write(LONG_VALUE, 1) == 0  # Prepare/Execute at MTU 23: 29 prepares
    assert write(LONG_VALUE[:100], 1) == 0
    central.exec(f'ble.gattc_write({conn}, {sink.handle}, {LONG_VALUE[:20]!r})')
    central.exec(f'ble.gattc_write({conn}, {sink.handle}, "str", 0)')
    assert central.raises(f'ble.gattc_write({conn}, {sink.handle}, bytes(21), 0)') == 'ValueError'
    assert central.raises(f'ble.gattc_write({conn}, {sink.handle}, bytes(513), 1)') == 'ValueError'
    assert central.raises(f'ble.gattc_write({conn}, {sink.handle}, b"x", 2)') == 'ValueError'
    # Refused: the server's ATT error as status, short and long.
    assert write(b'nope', 1, no_write.handle) == ATT_WRITE_NOT_PERMITTED
    assert write(LONG_VALUE[:60], 1, no_write.handle) == ATT_WRITE_NOT_PERMITTED
    # Mode 0 raises no event: the refused writes above went out after the two
    # mode-0 ones on the same bearer, so their WRITE_DONEs (waited for, each of
    # its own handle) come after anything those raised (one ring, in order).
    assert [e for e in central.take_events() if e.name == '_IRQ_GATTC_WRITE_DONE'] == []

    def seen() -> list[tuple[str, bytes]]:
        return server.radio.call(lambda: list(writes))
    deadline = time.monotonic() + 5
    while len(seen()) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen() == [('sink', b'short'), ('sink', LONG_VALUE), ('sink', LONG_VALUE[:100]),
                      ('sink', LONG_VALUE[:20]), ('sink', b'str')]


# -- notifications and indications ---------------------------------------------------
@pytest.mark.api(events=['_IRQ_GATTC_NOTIFY', '_IRQ_GATTC_INDICATE'])
def test_notifications_and_indications(central: Board, server: BumbleGattServer) -> None:
    conn = connect(central, server, [HR_SERVICE])
    hr, ind = HR_SERVICE.characteristics[0], HR_SERVICE.characteristics[2]
    for i in range(20):
        server.notify(hr, bytes([i, 0x48]))
    # bumble's indicate returns only after the board's confirmation.
    for i in range(3):
        server.indicate(ind, b'ind%d' % i)
    deadline = time.monotonic() + 10
    events: list[Event] = []
    while time.monotonic() < deadline:
        events += [e for e in central.take_events() if e.name.startswith('_IRQ_GATTC_')]
        if len(events) >= 23:
            break
        time.sleep(0.1)
    notes = [e.data for e in events if e.name == '_IRQ_GATTC_NOTIFY']
    inds = [e.data for e in events if e.name == '_IRQ_GATTC_INDICATE']
    assert notes == [(conn, hr.handle, bytes([i, 0x48])) for i in range(20)]
    assert inds == [(conn, ind.handle, b'ind%d' % i) for i in range(3)]
    # After an MTU exchange a notification carries MTU-3 bytes.
    central.exec(f'ble.config(mtu=100)\nble.gattc_exchange_mtu({conn})')
    assert central.wait_for_event('_IRQ_MTU_EXCHANGED').data == (conn, 100)
    server.notify(hr, bytes(range(97)))
    assert central.wait_for_event('_IRQ_GATTC_NOTIFY').data == (conn, hr.handle, bytes(range(97)))


# -- one request at a time, disconnects, timeouts ------------------------------------------
def slow_services(delay_s: float, started: list[float] | None = None) -> list[Service]:
    """The first characteristic answers reads after delay_s; each read it
    starts to answer is noted in `started` (on the radio's loop)."""
    async def slow_read(_connection: object) -> bytes:
        if started is not None:
            started.append(time.monotonic())
        await asyncio.sleep(delay_s)
        return b'slow'
    return [Service(u128(0x600), [
        Characteristic(u128(0x601), R, READABLE, gatt.CharacteristicValue(read=slow_read)),
        Characteristic(u128(0x602), R | W | WNR, READABLE | WRITEABLE, b'fast'),
    ])]


@pytest.mark.api(methods=['gattc_read', 'gattc_write', 'gattc_discover_services',
                          'gattc_exchange_mtu'],
                 events=['_IRQ_GATTC_READ_DONE', '_IRQ_GATTC_WRITE_DONE',
                         '_IRQ_GATTC_SERVICE_DONE', '_IRQ_MTU_EXCHANGED'])
def test_requests_queued_one_at_a_time(central: Board, server: BumbleGattServer) -> None:
    services = slow_services(1.0)
    conn = connect(central, server, services)
    slow, fast = services[0].characteristics
    central.exec(ERRNO_HELPER)
    # While the slow read runs: four procedures wait their turn, a fifth is
    # refused (ENOMEM, as NimBLE when its procedures run out), a Write
    # Command goes out at once.
    calls = central.eval(
        f'(_e(lambda: ble.gattc_read({conn}, {slow.handle})), '
        f'_e(lambda: ble.gattc_read({conn}, {fast.handle})), '
        f'_e(lambda: ble.gattc_write({conn}, {fast.handle}, b"y", 1)), '
        f'_e(lambda: ble.gattc_discover_services({conn})), '
        f'_e(lambda: ble.gattc_exchange_mtu({conn})), '
        f'_e(lambda: ble.gattc_read({conn}, {fast.handle})), '
        f'_e(lambda: ble.gattc_write({conn}, {fast.handle}, b"x", 0)))')
    assert calls == (0, 0, 0, 0, 0, ENOMEM, 0)
    offered = central.eval('ble.config("mtu")')  # bumble accepts up to 517
    assert central.wait_for_event('_IRQ_MTU_EXCHANGED').data == (conn, offered)  # the last one
    order = [(e.name, e.data) for e in central.take_events() if e.name != '_IRQ_GATTC_SERVICE_RESULT']
    assert order == [
        ('_IRQ_GATTC_READ_RESULT', (conn, slow.handle, b'slow')),
        ('_IRQ_GATTC_READ_DONE', (conn, slow.handle, 0)),
        # The Write Command sent during the slow read reached the server first.
        ('_IRQ_GATTC_READ_RESULT', (conn, fast.handle, b'x')),
        ('_IRQ_GATTC_READ_DONE', (conn, fast.handle, 0)),
        ('_IRQ_GATTC_WRITE_DONE', (conn, fast.handle, 0)),
        ('_IRQ_GATTC_SERVICE_DONE', (conn, 0)),
    ]
    assert read(central, conn, fast.handle) == (b'y', 0)
    # Bad arguments and missing links.
    assert errno_of(central, f'ble.gattc_read({conn + 1}, 1)') == ENOTCONN
    assert central.raises(f'ble.gattc_read({conn}, 0)') == 'ValueError'
    assert central.raises(f'ble.gattc_discover_characteristics({conn}, 5, 4)') == 'ValueError'
    assert central.raises(f'ble.gattc_discover_services({conn}, 0x180d)') == 'TypeError'
    central.exec('ble.active(False)')
    assert errno_of(central, f'ble.gattc_read({conn}, 1)') == EPERM


@pytest.mark.api(methods=['gattc_read', 'gattc_write'],
                 events=['_IRQ_GATTC_READ_DONE', '_IRQ_GATTC_WRITE_DONE',
                         '_IRQ_PERIPHERAL_DISCONNECT'])
def test_disconnect_ends_procedure(central: Board, server: BumbleGattServer) -> None:
    started: list[float] = []
    services = slow_services(3.0, started)
    conn = connect(central, server, services)
    slow, fast = services[0].characteristics
    central.exec(f'ble.gattc_read({conn}, {slow.handle})\nble.gattc_write({conn}, {fast.handle}, b"q", 1)')
    # The link goes while the read is under way: the server is answering it.
    deadline = time.monotonic() + 10
    while not server.radio.call(lambda: list(started)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.radio.call(lambda: list(started)), 'the read never reached the server'
    server.disconnect()
    done = central.wait_for_event('_IRQ_GATTC_READ_DONE')
    assert done.data == (conn, slow.handle, STATUS_DISCONNECTED)
    # The write queued behind it ends too.
    assert central.wait_for_event('_IRQ_GATTC_WRITE_DONE').data == (
        conn, fast.handle, STATUS_DISCONNECTED)
    central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
    assert not [e for e in central.take_events() if e.name == '_IRQ_GATTC_READ_RESULT']


@pytest.mark.timeout(120)
@pytest.mark.api(methods=['gattc_read'], events=['_IRQ_GATTC_READ_DONE'])
def test_att_timeout(central: Board, server: BumbleGattServer) -> None:
    services = slow_services(60.0)  # bumble answers long after the 30 s ATT timeout
    conn = connect(central, server, services)
    slow, fast = services[0].characteristics
    started = time.monotonic()
    central.exec(f'ble.gattc_read({conn}, {slow.handle})')
    done = central.wait_for_event('_IRQ_GATTC_READ_DONE', timeout=45)
    elapsed = time.monotonic() - started
    assert done.data == (conn, slow.handle, STATUS_TIMEOUT)
    assert 29 <= elapsed <= 40, elapsed
    # The bearer is dead for requests; the link stays up.
    central.exec(ERRNO_HELPER)
    assert errno_of(central, f'ble.gattc_read({conn}, {fast.handle})') == ETIMEDOUT
    assert central.eval(f'ble.gap_disconnect({conn})') is True
    central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')


@pytest.mark.api(methods=['gattc_read'], events=['_IRQ_MTU_EXCHANGED'])
def test_mtu_exchange_initiated_by_server(central: Board, server: BumbleGattServer) -> None:
    services = rw_services([])
    conn = connect(central, server, services)
    central.exec('ble.config(mtu=300)')
    assert server.request_mtu(200) == 200
    assert central.wait_for_event('_IRQ_MTU_EXCHANGED').data == (conn, 200)
    # The client uses the new MTU: the 512-byte value in 3 responses.
    assert read(central, conn, services[0].characteristics[0].handle) == (LONG_VALUE, 0)


# -- value buffers and write values shared by the links ------------------------------
@pytest.fixture
def three_servers(board_kind: str, rig_pool: RigPool, boards: tuple[Board, ...],
                  radio: Radio) -> Iterator[list[BumbleGattServer]]:
    """Bumble GATT servers on the group's first three spare controllers."""
    spares = rig_pool.get(board_kind).rig.spares
    assert len(spares) >= 3, 'the rig needs 3 spare controllers for this test'
    servers = [BumbleGattServer(radio, info) for info in spares[:3]]
    try:
        yield servers
    finally:
        for peer in servers:
            peer.close()


def link_value(i: int, salt: int = 0) -> bytes:
    return bytes((i * 37 + k * 11 + salt) & 0xff for k in range(512))


@pytest.mark.api(methods=['gattc_read', 'gattc_write'],
                 events=['_IRQ_GATTC_READ_RESULT', '_IRQ_GATTC_READ_DONE', '_IRQ_GATTC_WRITE_DONE'])
def test_four_links_long_reads_and_writes_at_once(central: Board, peripheral: Board,
                                                  three_servers: list[BumbleGattServer]) -> None:
    """The client's 2 value buffers and 1024-byte pool of waiting write values
    are shared by the links: four 512-byte reads, then four 512-byte writes,
    started at once on four links (MTU 23: 24 and 30 requests each) all
    complete with the right values; with two writes waiting, the pool is
    full and one more queued write raises ENOMEM."""
    up(peripheral)
    ((handle,),) = peripheral.eval('ble.gatts_register_services(((bluetooth.UUID(0xAAAA), '
                                   '((bluetooth.UUID(0xBBBB), 0x010A),)),))')
    peripheral.exec(f'ble.gatts_write({handle}, {link_value(0)!r})')
    up(central)
    central.exec('ble.config(rxbuf=4096)')  # four 512-byte results may wait at once
    conns = [connect_boards(central, peripheral)[0]]
    handles = [handle]
    stored: list[dict[int, bytes]] = []
    for i, server in enumerate(three_servers, 1):
        value = {'v': link_value(i)}

        def write(_c: object, data: bytes, value: dict = value) -> None:
            value['v'] = bytes(data)
        chr_ = Characteristic(u128(0x701), R | W, READABLE | WRITEABLE,
                              gatt.CharacteristicValue(read=lambda _c, value=value: value['v'],
                                                       write=write))
        stored.append(value)
        server.start([Service(u128(0x700), [chr_])])
        central.exec(f'ble.gap_connect({PUBLIC}, {server.address_bytes!r})')
        done = central.wait_for_event('_IRQ_PERIPHERAL_CONNECT')
        assert done.data[1:] == (PUBLIC, server.address_bytes)
        server.wait_connected()
        conns.append(done.data[0])
        handles.append(chr_.handle)
    assert len(set(conns)) == 4

    central.exec('\n'.join(f'ble.gattc_read({c}, {h})' for c, h in zip(conns, handles)))
    done = {central.wait_for_event('_IRQ_GATTC_READ_DONE', 60).data for _ in conns}
    assert done == {(c, h, 0) for c, h in zip(conns, handles)}
    got = {e.data[0]: e.data for e in central.take_events() if e.name == '_IRQ_GATTC_READ_RESULT'}
    assert got == {c: (c, h, link_value(i)) for i, (c, h) in enumerate(zip(conns, handles))}

    central.exec(ERRNO_HELPER)
    calls = central.eval('(' + ''.join(
        f'_e(lambda: ble.gattc_write({c}, {h}, {link_value(i, 1)!r}, 1)), '
        for i, (c, h) in enumerate(zip(conns, handles)))
        + f'_e(lambda: ble.gattc_write({conns[0]}, {handles[0]}, b"x", 1)))')
    assert calls == (0, 0, 0, 0, ENOMEM)
    done = {central.wait_for_event('_IRQ_GATTC_WRITE_DONE', 60).data for _ in conns}
    assert done == {(c, h, 0) for c, h in zip(conns, handles)}
    assert peripheral.eval(f'ble.gatts_read({handle})') == link_value(0, 1)
    radio = three_servers[0].radio
    assert [radio.call(lambda v=v: v['v']) for v in stored] == [link_value(i, 1) for i in (1, 2, 3)]
    # Everything ended: the pool and the buffers are free again.
    assert read(central, conns[3], handles[3]) == (link_value(3, 1), 0)
