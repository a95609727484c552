"""GATT server: a board serves services to a bumble GATT client on a spare
controller. Registration (handles, UUID widths, flags, CCCDs, errors), the
Generic Access service, reads/writes with every buffer rule, read requests
denied with each code, security flags, notifications/indications and their
timeout, long values after an MTU exchange, and the ATT server's answers to
raw PDUs."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from bumble import att
from bumble.core import UUID

from gatts_peer import GattPeer
from harness.board import Board
from harness.gap import advertise, mac, up
from harness.spec_example import HR_UART
from pytest_mpbt import RigPool

F_READ, F_WNR, F_WRITE, F_NOTIFY, F_INDICATE = 0x02, 0x04, 0x08, 0x10, 0x20
F_AUX_WRITE = 0x0100
F_READ_ENC, F_READ_AUTHN, F_READ_AUTHZ = 0x0200, 0x0400, 0x0800
F_WRITE_ENC, F_WRITE_AUTHN, F_WRITE_AUTHZ = 0x1000, 0x2000, 0x4000


def serve(board: Board, peer: GattPeer, services: str) -> object:
    """Activate, register `services` (an expression), advertise, let the peer
    connect; return (register result, board's conn handle)."""
    up(board)
    board.exec(HR_UART)
    handles = board.eval(f'ble.gatts_register_services({services})')
    advertise(board)
    peer.connect(mac(board)[1], mac(board)[0])
    conn = board.wait_for_event('_IRQ_CENTRAL_CONNECT').data[0]
    return handles, conn


def att_error(peer: GattPeer, coroutine) -> int:
    with pytest.raises(att.ATT_Error) as info:
        peer.run(coroutine)
    return info.value.error_code


# -- registration and discovery ---------------------------------------------------
@pytest.mark.api(methods=['gatts_register_services', 'gatts_read', 'gatts_write'],
                 events=['_IRQ_CENTRAL_CONNECT'])
def test_heart_rate_and_uart_example_discovered(peripheral: Board, gatt_peer: GattPeer) -> None:
    handles, _ = serve(peripheral, gatt_peer, '(HR_SERVICE, UART_SERVICE)')
    assert isinstance(handles, list) and len(handles) == 2
    ((hr,), (tx, rx)) = handles
    # Generic Access takes handles 1..5, Generic Attribute (Service Changed)
    # 6..9; then HR: service, decl, value, CCCD.
    assert (hr, tx, rx) == (12, 16, 19)
    peer = gatt_peer.peer
    services = gatt_peer.run(peer.discover_services())
    found = [(s.uuid, s.handle, s.end_group_handle) for s in services]
    assert found == [(UUID.from_16_bits(0x1800), 1, 5), (UUID.from_16_bits(0x1801), 6, 9),
                     (UUID.from_16_bits(0x180D), 10, 13),
                     (UUID('6E400001-B5A3-F393-E0A9-E50E24DCCA9E'), 14, 19)]
    chars = {}
    for service in services:
        for c in gatt_peer.run(service.discover_characteristics()):
            chars[c.handle] = c
            gatt_peer.run(c.discover_descriptors())
    assert {h: (c.uuid, int(c.properties)) for h, c in chars.items()} == {
        3: (UUID.from_16_bits(0x2A00), F_READ), 5: (UUID.from_16_bits(0x2A01), F_READ),
        8: (UUID.from_16_bits(0x2A05), F_INDICATE),
        hr: (UUID.from_16_bits(0x2A37), F_READ | F_NOTIFY),
        tx: (UUID('6E400003-B5A3-F393-E0A9-E50E24DCCA9E'), F_READ | F_NOTIFY),
        rx: (UUID('6E400002-B5A3-F393-E0A9-E50E24DCCA9E'), F_WRITE)}
    cccd = UUID.from_16_bits(0x2902)
    assert [(d.handle, d.type) for d in chars[hr].descriptors] == [(hr + 1, cccd)]
    assert [(d.handle, d.type) for d in chars[tx].descriptors] == [(tx + 1, cccd)]
    assert chars[rx].descriptors == []
    # Values written locally are what the client reads.
    peripheral.exec(f'ble.gatts_write({hr}, b"\\x00\\x48")')
    assert gatt_peer.run(peer.read_value(hr)) == b'\x00\x48'
    assert peripheral.eval(f'ble.gatts_read({tx})') == b''


@pytest.mark.api(methods=['gatts_register_services', 'config'])
def test_gap_name_served_live(peripheral: Board, gatt_peer: GattPeer) -> None:
    serve(peripheral, gatt_peer, '()')
    peripheral.exec('ble.config(gap_name="first name")')
    assert gatt_peer.run(gatt_peer.peer.read_value(3)) == b'first name'
    long_name = 'n' * 100  # longer than one read: read blob
    peripheral.exec(f'ble.config(gap_name={long_name!r})')
    assert gatt_peer.run(gatt_peer.peer.read_value(3)) == long_name.encode()
    chars = gatt_peer.run(gatt_peer.peer.read_characteristics_by_uuid(UUID.from_16_bits(0x2A00)))
    assert chars == [long_name.encode()[:19]]  # Read By Type: MTU-4 bytes of the value
    assert gatt_peer.run(gatt_peer.peer.read_value(5)) == b'\x00\x00'  # appearance
    assert att_error(gatt_peer, gatt_peer.peer.write_value(3, b'x', with_response=True)) == 0x03


@pytest.mark.api(methods=['gatts_register_services'])
def test_uuid_widths_descriptors_and_flags(peripheral: Board, gatt_peer: GattPeer) -> None:
    services = f'''(
      (bluetooth.UUID(0x1234), (
         (bluetooth.UUID(b'\\x78\\x56\\x34\\x12'), {F_READ | F_WRITE | F_INDICATE | F_AUX_WRITE}, (
             (bluetooth.UUID(0x2901), {F_READ}),
             (bluetooth.UUID('00000000-1111-2222-3333-555555555555'), {F_READ | F_WRITE}),
         )),
         (bluetooth.UUID(0x2A38), 0x7f),
      )),
    )'''
    handles, _ = serve(peripheral, gatt_peer, services)
    ((value, user_desc, custom_desc, second),) = handles
    # value, ext props, CCCD, then the user's descriptors.
    assert (value, user_desc, custom_desc) == (value, value + 3, value + 4)
    assert second == custom_desc + 2
    services = gatt_peer.run(gatt_peer.peer.discover_services())
    assert services[2].uuid == UUID.from_16_bits(0x1234)
    chars = gatt_peer.run(services[2].discover_characteristics())
    # A 32-bit UUID goes over the air as 128 bits.
    assert chars[0].uuid == UUID('12345678-0000-1000-8000-00805F9B34FB')
    assert int(chars[0].properties) == F_READ | F_WRITE | F_INDICATE | 0x80
    assert int(chars[1].properties) == 0x7f
    descs = gatt_peer.run(chars[0].discover_descriptors())
    assert [(d.handle, d.type) for d in descs] == [
        (value + 1, UUID.from_16_bits(0x2900)), (value + 2, UUID.from_16_bits(0x2902)),
        (user_desc, UUID.from_16_bits(0x2901)),
        (custom_desc, UUID('00000000-1111-2222-3333-555555555555'))]
    assert gatt_peer.run(gatt_peer.peer.read_value(value + 1)) == b'\x01\x00'  # reliable write
    peripheral.exec(f'ble.gatts_write({user_desc}, "user description")')
    assert gatt_peer.run(gatt_peer.peer.read_value(user_desc)) == b'user description'
    gatt_peer.run(gatt_peer.peer.write_value(custom_desc, b'desc', with_response=True))
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data[1] == custom_desc
    assert peripheral.eval(f'ble.gatts_read({custom_desc})') == b'desc'


@pytest.mark.api(methods=['gatts_register_services', 'gap_advertise'])
def test_register_errors_and_replacement(peripheral: Board) -> None:
    up(peripheral)
    peripheral.exec(HR_UART)
    first = peripheral.eval('ble.gatts_register_services((HR_SERVICE, UART_SERVICE))')
    # Replacing restarts the handles.
    assert peripheral.eval('ble.gatts_register_services((UART_SERVICE,))') == [(12, 15)]
    assert peripheral.eval('ble.gatts_register_services((HR_SERVICE, UART_SERVICE))') == first
    assert peripheral.eval('ble.gatts_register_services([])') == []
    for bad, kind in [
        ('5', 'TypeError'), ('((0x180D, ()),)', 'ValueError'),
        ('((bluetooth.UUID(0x180D),),)', 'ValueError'),
        ('((bluetooth.UUID(0x180D), ((bluetooth.UUID(1),),)),)', 'ValueError'),
        ('((bluetooth.UUID(0x180D), ((bluetooth.UUID(1), 2, (), 4),)),)', 'ValueError'),
        ('((bluetooth.UUID(0x180D), ((bluetooth.UUID(1), "r"),)),)', 'TypeError'),
        ('((bluetooth.UUID(0x180D), ((bluetooth.UUID(1), 2, ((bluetooth.UUID(2),),)),)),)', 'ValueError'),
        ('((bluetooth.UUID(0x180D), ((bluetooth.UUID(1), 2, ((3, 2),)),)),)', 'ValueError'),
    ]:
        assert peripheral.raises(f'ble.gatts_register_services({bad})') == kind, bad
    # A malformed definition leaves the previous services alone.
    peripheral.exec('ble.gatts_register_services((HR_SERVICE,))')
    peripheral.raises('ble.gatts_register_services(((bluetooth.UUID(1), 5),))')
    assert peripheral.eval('ble.gatts_read(12)') == b''
    # The database is bounded (bh_config.h BH_GATTS_MAX_ATTRS, 2048 handles,
    # 9 of them fixed): exactly at the bound it registers, one attribute more
    # is ENOMEM (and the previous services stay), not a crash.
    peripheral.exec('big = [(bluetooth.UUID(0x1000), [(bluetooth.UUID(0x2000 + i), 2) for i in range(1019)])]')
    assert peripheral.eval('len(ble.gatts_register_services(big)[0])') == 1019
    assert peripheral.eval('ble.gatts_read(2048)') == b''
    peripheral.exec('big[0][1][-1] = (bluetooth.UUID(0x2000), 2, ((bluetooth.UUID(0x2901), 2),))')
    peripheral.exec('try:\n ble.gatts_register_services(big)\n r = None\nexcept OSError as e:\n r = e.errno')
    assert peripheral.eval('r') == 12
    assert peripheral.eval('ble.gatts_read(2048)') == b''
    peripheral.exec('del big')
    # Advertising must be stopped first.
    advertise(peripheral)
    peripheral.exec('try:\n ble.gatts_register_services((HR_SERVICE,))\n r = None\nexcept OSError as e:\n r = e.errno')
    assert peripheral.eval('r') == 16
    peripheral.exec('ble.gap_advertise(None)')
    assert peripheral.eval('ble.gatts_register_services((HR_SERVICE,))') == [(12,)]
    # Value handles are checked.
    for call in ('ble.gatts_read(1)', 'ble.gatts_read(8)', 'ble.gatts_read(13)', 'ble.gatts_write(0, b"")',
                 'ble.gatts_set_buffer(500, 10)', 'ble.gatts_notify(0, 3)'):
        assert peripheral.raises(call) == 'ValueError', call
    assert peripheral.raises('ble.gatts_set_buffer(12, 513)') == 'ValueError'
    assert peripheral.raises('ble.gatts_write(12, bytes(513))') == 'ValueError'
    peripheral.exec('try:\n ble.gatts_notify(5, 12)\n r = None\nexcept OSError as e:\n r = e.errno')
    assert peripheral.eval('r') == peripheral.eval('__import__("errno").ENOTCONN')


# -- values -------------------------------------------------------------------------
@pytest.mark.api(methods=['gatts_write', 'gatts_read', 'gatts_set_buffer'],
                 events=['_IRQ_GATTS_WRITE'])
def test_remote_writes_truncated_and_local_write_raises_max(peripheral: Board,
                                                           gatt_peer: GattPeer) -> None:
    handles, conn = serve(peripheral, gatt_peer, '(UART_SERVICE,)')
    ((tx, rx),) = handles
    peer = gatt_peer.peer
    assert gatt_peer.run(peer.request_mtu(100)) == 100
    assert peripheral.wait_for_event('_IRQ_MTU_EXCHANGED').data == (conn, 100)
    gatt_peer.run(peer.write_value(rx, bytes(range(40)), with_response=True))
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data == (conn, rx)
    assert peripheral.eval(f'ble.gatts_read({rx})') == bytes(range(20))
    peripheral.exec(f'ble.gatts_write({rx}, bytes(60))')
    gatt_peer.run(peer.write_value(rx, bytes(range(80)), with_response=True))
    peripheral.wait_for_event('_IRQ_GATTS_WRITE')
    assert peripheral.eval(f'ble.gatts_read({rx})') == bytes(range(60))
    peripheral.exec(f'ble.gatts_set_buffer({rx}, 10)')
    gatt_peer.run(peer.write_value(rx, b'0123456789abcdef', with_response=True))
    peripheral.wait_for_event('_IRQ_GATTS_WRITE')
    assert peripheral.eval(f'ble.gatts_read({rx})') == b'0123456789'
    # Write without response on a characteristic without either write flag:
    # dropped; with a response: Write Not Permitted.
    assert att_error(gatt_peer, peer.write_value(tx, b'no', with_response=True)) == 0x03
    gatt_peer.run(peer.write_value(tx, b'no', with_response=False))
    # The board handles the peer's read after that command (one bearer, in
    # order): any value change or event it caused is there before the answer.
    gatt_peer.round_trip()
    assert peripheral.eval(f'ble.gatts_read({tx})') == b''
    assert not [e for e in peripheral.take_events() if e.code == 3]


@pytest.mark.api(methods=['gatts_set_buffer', 'gatts_read'], events=['_IRQ_GATTS_WRITE'])
def test_append_mode_accumulates_and_read_clears(peripheral: Board, gatt_peer: GattPeer) -> None:
    handles, conn = serve(peripheral, gatt_peer, '(UART_SERVICE,)')
    ((_, rx),) = handles
    peripheral.exec(f'ble.gatts_set_buffer({rx}, 30, True)')
    for chunk in (b'alpha-', b'beta-', b'gamma'):
        gatt_peer.run(gatt_peer.peer.write_value(rx, chunk, with_response=True))
        assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data == (conn, rx)
    assert peripheral.eval(f'ble.gatts_read({rx})') == b'alpha-beta-gamma'
    assert peripheral.eval(f'ble.gatts_read({rx})') == b''
    for chunk in (b'0123456789', b'abcdefghij', b'ABCDEFGHIJ', b'overflow'):
        gatt_peer.run(gatt_peer.peer.write_value(rx, chunk, with_response=False))
    for _ in range(4):
        peripheral.wait_for_event('_IRQ_GATTS_WRITE')
    assert peripheral.eval(f'ble.gatts_read({rx})') == b'0123456789abcdefghijABCDEFGHIJ'


@pytest.mark.api(methods=['gatts_write', 'gatts_read', 'gatts_set_buffer'],
                 events=['_IRQ_MTU_EXCHANGED', '_IRQ_GATTS_WRITE'])
def test_512_byte_value_read_and_written_after_mtu_exchange(peripheral: Board,
                                                            gatt_peer: GattPeer) -> None:
    handles, conn = serve(peripheral, gatt_peer,
                          f'((bluetooth.UUID(0xAAAA), ((bluetooth.UUID(0xBBBB), {F_READ | F_WRITE | F_AUX_WRITE}),)),)')
    ((h,),) = handles
    peripheral.exec('ble.config(mtu=247)')
    assert gatt_peer.run(gatt_peer.peer.request_mtu(517)) == 247
    assert peripheral.wait_for_event('_IRQ_MTU_EXCHANGED').data == (conn, 247)
    value = bytes((i * 7) & 0xFF for i in range(512))
    peripheral.exec(f'ble.gatts_write({h}, {value!r})')
    assert gatt_peer.run(gatt_peer.peer.read_value(h)) == value
    # Long write (prepare/execute): the whole value arrives, one event.
    other = bytes(reversed(value))
    gatt_peer.run(gatt_peer.peer.write_value(h, other, with_response=True))
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data == (conn, h)
    assert peripheral.eval(f'ble.gatts_read({h})') == other
    # The board handles the peer's read after the Execute Write (one bearer,
    # in order): any further event that write raised is queued before the answer.
    gatt_peer.round_trip()
    assert not [e for e in peripheral.take_events() if e.code == 3]


# -- read requests and security -----------------------------------------------------
@pytest.mark.api(methods=['gatts_register_services'], events=['_IRQ_GATTS_READ_REQUEST'])
def test_read_request_denied_with_each_code(peripheral: Board, gatt_peer: GattPeer) -> None:
    handles, conn = serve(peripheral, gatt_peer, '(HR_SERVICE,)')
    ((hr,),) = handles
    peripheral.exec(f'ble.gatts_write({hr}, b"bpm")')
    for code in (0x02, 0x03, 0x05, 0x08, 0x0F):
        peripheral.reply('_IRQ_GATTS_READ_REQUEST', code)
        assert att_error(gatt_peer, gatt_peer.peer.read_value(hr)) == code
        assert peripheral.wait_for_event('_IRQ_GATTS_READ_REQUEST').data == (conn, hr)
    for accept in (0, None):
        peripheral.reply('_IRQ_GATTS_READ_REQUEST', accept)
        assert gatt_peer.run(gatt_peer.peer.read_value(hr)) == b'bpm'
        assert peripheral.wait_for_event('_IRQ_GATTS_READ_REQUEST').data == (conn, hr)


@pytest.mark.api(methods=['gatts_register_services'])
def test_security_flags_refused_on_unencrypted_link(peripheral: Board,
                                                    gatt_peer: GattPeer) -> None:
    flags = [F_READ | F_WRITE | F_READ_ENC, F_READ | F_WRITE | F_READ_AUTHN,
             F_READ | F_WRITE | F_READ_AUTHZ, F_READ | F_WRITE | F_WRITE_ENC,
             F_READ | F_WRITE | F_WRITE_AUTHN, F_READ | F_WRITE | F_WRITE_AUTHZ,
             F_WRITE, F_READ]
    chars = ', '.join(f'(bluetooth.UUID({0x3000 + i}), {f})' for i, f in enumerate(flags))
    handles, _ = serve(peripheral, gatt_peer, f'((bluetooth.UUID(0x2FFF), ({chars},)),)')
    (hs,) = handles
    peer = gatt_peer.peer
    read = lambda h: att_error(gatt_peer, peer.read_value(h))  # noqa: E731
    write = lambda h: att_error(gatt_peer, peer.write_value(h, b'x', with_response=True))  # noqa: E731
    # No keys on this link: encryption and authentication both need pairing
    # first (Insufficient Authentication, Core Vol 3 Part C 10.3.1).
    assert [read(h) for h in hs[:2]] == [0x05, 0x05]
    assert [write(h) for h in hs[3:6]] == [0x05, 0x05, 0x08]
    assert read(hs[6]) == 0x02 and write(hs[7]) == 0x03
    # Read authorization is the application's answer to the read request.
    assert gatt_peer.run(peer.read_value(hs[2])) == b''
    assert peripheral.wait_for_event('_IRQ_GATTS_READ_REQUEST').data[1] == hs[2]
    peripheral.reply('_IRQ_GATTS_READ_REQUEST', 0x08)
    assert read(hs[2]) == 0x08
    peripheral.reply('_IRQ_GATTS_READ_REQUEST', None)
    # The other direction of each is allowed.
    gatt_peer.run(peer.write_value(hs[0], b'ok', with_response=True))
    assert gatt_peer.run(peer.read_value(hs[3])) == b''
    assert not [e for e in peripheral.take_events() if e.code == 4 and e.data[1] in hs[:2]]


@pytest.mark.api(methods=['gatts_register_services'], events=['_IRQ_ENCRYPTION_UPDATE'])
def test_just_works_pairing_opens_encrypted_not_authenticated(peripheral: Board,
                                                              gatt_peer: GattPeer) -> None:
    # After Just Works pairing (unauthenticated) an encrypted value is
    # readable; one that needs authentication is still refused (0x05).
    handles, conn = serve(peripheral, gatt_peer,
                          f'((bluetooth.UUID(0x2FFF), ((bluetooth.UUID(0x3000), {F_READ | F_READ_ENC}),'
                          f' (bluetooth.UUID(0x3001), {F_READ | F_READ_AUTHN}))),)')
    ((h, h_authn),) = handles
    peripheral.exec(f'ble.gatts_write({h}, b"enc")')
    assert att_error(gatt_peer, gatt_peer.peer.read_value(h)) == 0x05

    async def pair() -> None:
        await gatt_peer.connection.pair()
    gatt_peer.run(pair())
    assert peripheral.wait_for_event('_IRQ_ENCRYPTION_UPDATE').data == (conn, 1, 0, 0, 16)
    assert gatt_peer.run(gatt_peer.peer.read_value(h)) == b'enc'
    assert att_error(gatt_peer, gatt_peer.peer.read_value(h_authn)) == 0x05


# -- notifications and indications ----------------------------------------------------
@pytest.mark.api(methods=['gatts_notify', 'gatts_indicate', 'gatts_write'],
                 events=['_IRQ_GATTS_INDICATE_DONE', '_IRQ_GATTS_WRITE'])
def test_notify_indicate_and_send_update(peripheral: Board, gatt_peer: GattPeer) -> None:
    handles, conn = serve(peripheral, gatt_peer,
                          f'((bluetooth.UUID(0x1111), ((bluetooth.UUID(0x2222), {F_READ | F_NOTIFY | F_INDICATE}),'
                          f' (bluetooth.UUID(0x3333), {F_READ | F_NOTIFY}, ((bluetooth.UUID(0x2902), {F_READ | F_WRITE}),)))),)')
    ((h, h2, user_cccd),) = handles
    cccd = h + 1
    assert user_cccd == h2 + 1
    gp = gatt_peer
    # Not subscribed: send_update sends nothing; notify/indicate send anyway.
    peripheral.exec(f'ble.gatts_write({h}, b"v1", True)')
    peripheral.exec(f'ble.gatts_notify({conn}, {h})')
    assert gp.notified.get(timeout=5) == (h, b'v1')
    peripheral.exec(f'ble.gatts_notify({conn}, {h}, b"explicit")')
    assert gp.notified.get(timeout=5) == (h, b'explicit')
    assert peripheral.eval(f'ble.gatts_read({h})') == b'v1'
    peripheral.exec(f'ble.gatts_indicate({conn}, {h})')
    assert gp.indicated.get(timeout=5) == (h, b'v1')
    assert peripheral.wait_for_event('_IRQ_GATTS_INDICATE_DONE').data == (conn, h, 0)
    assert gp.notified.empty()
    # Subscribe to notifications: the automatic CCCD raises no event.
    gp.run(gp.peer.write_value(cccd, b'\x01\x00', with_response=True))
    assert gp.run(gp.peer.read_value(cccd)) == b'\x01\x00'
    peripheral.exec(f'ble.gatts_write({h}, b"v2", True)')
    assert gp.notified.get(timeout=5) == (h, b'v2')
    # Indications instead.
    gp.run(gp.peer.write_value(cccd, b'\x02\x00', with_response=True))
    peripheral.exec(f'ble.gatts_write({h}, b"v3", True)')
    assert gp.indicated.get(timeout=5) == (h, b'v3')
    assert peripheral.wait_for_event('_IRQ_GATTS_INDICATE_DONE').data == (conn, h, 0)
    gp.run(gp.peer.write_value(cccd, b'\x00\x00', with_response=True))
    peripheral.exec(f'ble.gatts_write({h}, b"v4", True)')
    # The board's answer to the peer's read goes out after anything that
    # gatts_write queued for the link (one transmit queue, in order), and after
    # any event the CCCD write raised.
    gp.round_trip()
    assert gp.notified.empty() and gp.indicated.empty()
    assert not [e for e in peripheral.take_events() if e.code == 3]
    # A user-declared CCCD: writes raise _IRQ_GATTS_WRITE and subscribe.
    gp.run(gp.peer.write_value(user_cccd, b'\x01\x00', with_response=True))
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data == (conn, user_cccd)
    assert peripheral.eval(f'ble.gatts_read({user_cccd})') == b'\x01\x00'
    peripheral.exec(f'ble.gatts_write({h2}, b"second", True)')
    assert gp.notified.get(timeout=5) == (h2, b'second')
    # Notifications carry at most MTU-3 bytes.
    peripheral.exec(f'ble.gatts_notify({conn}, {h}, bytes(range(100)))')
    assert gp.notified.get(timeout=5) == (h, bytes(range(20)))


@pytest.mark.api(methods=['gatts_notify'])
def test_notifications_in_order_none_lost(peripheral: Board, gatt_peer: GattPeer) -> None:
    handles, conn = serve(peripheral, gatt_peer, '(HR_SERVICE,)')
    ((hr,),) = handles
    count = 300
    peripheral.exec(f'for i in range({count}):\n ble.gatts_notify({conn}, {hr}, i.to_bytes(2, "little") + bytes(10))\n time.sleep_ms(2)',
                    timeout=60)
    got = [gatt_peer.notified.get(timeout=10) for _ in range(count)]
    assert [int.from_bytes(v[:2], 'little') for _, v in got] == list(range(count))
    # The board's answer to the peer's read goes out after every notification
    # it had queued for the link (one transmit queue, in order).
    gatt_peer.round_trip()
    assert gatt_peer.notified.empty()


@pytest.mark.api(methods=['gatts_notify', 'gatts_write'])
def test_long_read_answered_while_notifications_fill_the_queue(peripheral: Board,
                                                               gatt_peer: GattPeer) -> None:
    """Notifications are bulk data: they never take the transmit queue's room
    for protocol PDUs, so a read response of MTU - 1 bytes goes while the
    board keeps its queue full of the longest notifications (a lost response
    would leave the peer's read waiting)."""
    handles, conn = serve(peripheral, gatt_peer,
                          f'((bluetooth.UUID(0xAAAA), ((bluetooth.UUID(0xBBBB), {F_READ}), '
                          f'(bluetooth.UUID(0xCCCC), {F_NOTIFY}),)),)')
    ((h, hn),) = handles
    peripheral.exec('ble.config(mtu=517)')
    assert gatt_peer.run(gatt_peer.peer.request_mtu(517)) == 517
    value = bytes((i * 7) & 0xFF for i in range(512))
    peripheral.exec(f'ble.gatts_write({h}, {value!r})')

    async def read_later() -> bytes:
        await asyncio.sleep(0.5)
        return await gatt_peer.peer.read_value(h)

    read = asyncio.run_coroutine_threadsafe(read_later(), gatt_peer.loop)
    # gatts_notify waits while the queue is full: the loop keeps it full.
    peripheral.exec(f'''sent = 0
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 2500:
    ble.gatts_notify({conn}, {hn}, bytes(514))
    sent += 1
''', timeout=30)
    assert peripheral.eval('sent') > 100
    # Answered during the flood, not after it.
    assert read.done()
    assert read.result(timeout=10) == value

@pytest.mark.api(methods=['gatts_indicate'], events=['_IRQ_GATTS_INDICATE_DONE'])
def test_indication_unconfirmed_times_out_then_disconnect_ends_one(peripheral: Board,
                                                                 gatt_peer: GattPeer) -> None:
    handles, conn = serve(peripheral, gatt_peer, '(HR_SERVICE,)')
    ((hr,),) = handles
    gatt_peer.ignore_indications()
    started = time.monotonic()
    peripheral.exec(f'ble.gatts_indicate({conn}, {hr}, b"one")')
    assert gatt_peer.indicated.get(timeout=5) == (hr, b'one')
    # One outstanding indication per link.
    peripheral.exec(f'try:\n ble.gatts_indicate({conn}, {hr}, b"two")\n r = None\nexcept OSError as e:\n r = e.errno')
    assert peripheral.eval('r') == 16
    done = peripheral.wait_for_event('_IRQ_GATTS_INDICATE_DONE', timeout=40)
    elapsed = time.monotonic() - started
    assert done.data[:2] == (conn, hr) and done.data[2] != 0
    assert 29 <= elapsed <= 36, f'indication ended after {elapsed:.1f} s'
    # The next one ends when the link goes.
    peripheral.exec(f'ble.gatts_indicate({conn}, {hr}, b"three")')
    assert gatt_peer.indicated.get(timeout=5) == (hr, b'three')
    gatt_peer.disconnect()
    done = peripheral.wait_for_event('_IRQ_GATTS_INDICATE_DONE', timeout=10)
    assert done.data[:2] == (conn, hr) and done.data[2] not in (0, None)
    assert done.data[2] != 0
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')


# -- the ATT server's answers to raw PDUs -------------------------------------------------
def err(op: int, handle: int, code: int) -> bytes:
    return bytes([0x01, op]) + handle.to_bytes(2, 'little') + bytes([code])


@pytest.mark.api(methods=['gatts_register_services', 'gatts_write'])
def test_att_server_raw_requests(peripheral: Board, gatt_peer: GattPeer) -> None:
    long_service = f'(bluetooth.UUID(0xAAAA), ((bluetooth.UUID(0xBBBB), {F_WRITE | F_AUX_WRITE}),))'
    handles, _ = serve(peripheral, gatt_peer, f'(HR_SERVICE, UART_SERVICE, {long_service})')
    ((hr,), (tx, plain_rx), (rx,)) = handles
    peripheral.exec(f'ble.gatts_write({hr}, b"hr-value")\nble.gatts_write({tx}, b"tx-value")')
    raw = gatt_peer.raw
    u16 = lambda v: v.to_bytes(2, 'little')  # noqa: E731
    # Unsupported request, unsupported command (ignored), signed write (ignored).
    assert raw(b'\x20\x01\x00') == err(0x20, 0, 0x06)
    assert gatt_peer.raw_silence(b'\x7f\x01\x00')
    assert gatt_peer.raw_silence(b'\xd2' + u16(rx) + b'x' + bytes(12))
    # Invalid handles, lengths, offsets.
    assert raw(b'\x0a' + u16(0)) == err(0x0a, 0, 0x01)
    assert raw(b'\x0a' + u16(200)) == err(0x0a, 200, 0x01)
    assert raw(b'\x0a\x01') == err(0x0a, 0, 0x04)
    assert raw(b'\x0c' + u16(hr) + u16(9)) == err(0x0c, hr, 0x07)
    assert raw(b'\x0c' + u16(hr) + u16(8)) == b'\x0d'
    assert raw(b'\x0c' + u16(hr) + u16(3)) == b'\x0dvalue'
    # Find Information: 16-bit format, then stops at the 128-bit UUIDs.
    rsp = raw(b'\x04' + u16(1) + u16(0xffff))
    assert rsp[:2] == b'\x05\x01' and rsp[2:6] == u16(1) + u16(0x2800)
    assert raw(b'\x04' + u16(200) + u16(0xffff)) == err(0x04, 200, 0x0a)
    assert raw(b'\x04' + u16(5) + u16(4)) == err(0x04, 5, 0x01)
    # Find By Type Value: the Heart Rate service by UUID.
    assert raw(b'\x06' + u16(1) + u16(0xffff) + u16(0x2800) + u16(0x180D)) == b'\x07' + u16(10) + u16(13)
    assert raw(b'\x06' + u16(1) + u16(0xffff) + u16(0x2800) + u16(0x1234)) == err(0x06, 1, 0x0a)
    # Read By Group Type: 0x2803 is not a grouping type.
    assert raw(b'\x10' + u16(1) + u16(0xffff) + u16(0x2803)) == err(0x10, 1, 0x10)
    rsp = raw(b'\x10' + u16(1) + u16(0xffff) + u16(0x2800))
    assert rsp == (b'\x11\x06' + u16(1) + u16(5) + u16(0x1800) + u16(6) + u16(9) + u16(0x1801)
                   + u16(10) + u16(13) + u16(0x180D))
    # Read By Type: characteristic declarations.
    rsp = raw(b'\x08' + u16(10) + u16(13) + u16(0x2803))
    assert rsp == b'\x09\x07' + u16(11) + bytes([F_READ | F_NOTIFY]) + u16(hr) + u16(0x2A37)
    rsp = raw(b'\x08' + u16(1) + u16(0xffff) + u16(0x2A37))
    assert rsp == b'\x09\x0a' + u16(hr) + b'hr-value'
    # Read Multiple.
    assert raw(b'\x0e' + u16(hr) + u16(tx)) == b'\x0fhr-valuetx-value'
    assert raw(b'\x0e' + u16(hr) + u16(300)) == err(0x0e, 300, 0x01)
    # Write: not permitted on a declaration.
    assert raw(b'\x12' + u16(7) + b'x') == err(0x12, 7, 0x03)
    # Queued writes only with _FLAG_AUX_WRITE: the spec's UART RX has plain
    # FLAG_WRITE, HR's CCCD is automatic; both refuse a Prepare Write.
    assert raw(b'\x16' + u16(plain_rx) + u16(0) + b'abc') == err(0x16, plain_rx, 0x06)
    assert raw(b'\x16' + u16(hr + 1) + u16(0) + b'\x01\x00') == err(0x16, hr + 1, 0x06)
    assert raw(b'\x18\x01') == b'\x19'
    assert peripheral.eval(f'ble.gatts_read({plain_rx})') == b''
    # Prepare/Execute: cancel keeps the value; a bad offset is refused at execute.
    assert raw(b'\x16' + u16(rx) + u16(0) + b'abc') == b'\x17' + u16(rx) + u16(0) + b'abc'
    assert raw(b'\x18\x00') == b'\x19'
    assert peripheral.eval(f'ble.gatts_read({rx})') == b''
    assert raw(b'\x16' + u16(rx) + u16(5) + b'abc')[0] == 0x17
    assert raw(b'\x18\x01') == err(0x18, rx, 0x07)
    assert raw(b'\x18\x02') == err(0x18, 0, 0x04)
    # Prepare queue full.
    rsp = b''
    for i in range(200):
        rsp = raw(b'\x16' + u16(rx) + u16(18 * i) + bytes(18))
        if rsp[0] == 0x01:
            break
    assert rsp == err(0x16, rx, 0x09)
    assert raw(b'\x18\x00') == b'\x19'
    # Exchange MTU: answered with the local MTU (default 256).
    assert raw(b'\x02' + u16(100)) == b'\x03' + u16(256)
    assert peripheral.eval('ble.config("mtu")') == 256
    # Confirmation without an indication: ignored.
    assert gatt_peer.raw_silence(b'\x1e')


# -- the database's storage on the heap ------------------------------------------------
# Characteristics of one service, each READ | WRITE | AUX_WRITE.
def many_chars(count: int, base: int = 0x4000) -> str:
    return (f'((bluetooth.UUID(0x3FFF), [(bluetooth.UUID({base} + i), {F_READ | F_WRITE | F_AUX_WRITE}) '
            f'for i in range({count})]),)')


def value_of(i: int, length: int = 512) -> bytes:
    return bytes((i * 31 + k * 7) & 0xFF for k in range(length))


def heap_churn(board: Board) -> None:
    """Allocate and drop a lot on the board (filled with 0xEE), collecting
    between rounds: freed blocks get reused and overwritten."""
    board.exec('for _r in range(6):\n'
               ' _junk = [bytearray(b"\\xee" * 700) for _ in range(300)]\n'
               ' _junk = None\n'
               ' gc.collect()', timeout=60)


@pytest.mark.api(methods=['gatts_register_services', 'gatts_write', 'gatts_read'],
                 events=['_IRQ_GATTS_WRITE'])
def test_values_beyond_the_old_8k_pool_served_after_gc(peripheral: Board,
                                                       gatt_peer: GattPeer) -> None:
    # 40 values of 512 bytes: 20 KB, more than the old fixed pool (8 KB).
    handles, conn = serve(peripheral, gatt_peer, many_chars(40))
    (hs,) = handles
    assert len(hs) == 40
    peripheral.exec(f'gc.collect()\n_before = gc.mem_alloc()\n_hs = {list(hs)!r}\n'
                    f'for _i, _h in enumerate(_hs):\n'
                    f' ble.gatts_write(_h, bytes((_i * 31 + _k * 7) & 0xFF for _k in range(512)))\n'
                    f'gc.collect()\n_grown = gc.mem_alloc() - _before')
    # The values are on the heap: it grew by about 40 * (512 - 20) bytes.
    assert peripheral.eval('_grown') >= 40 * (512 - 20)
    heap_churn(peripheral)
    peer = gatt_peer.peer
    assert gatt_peer.run(peer.request_mtu(247)) == 247
    for i in (0, 1, 17, 38, 39):
        assert gatt_peer.run(peer.read_value(hs[i])) == value_of(i), i
    # A long write from the peer lands in the right value; the others stay.
    other = bytes(reversed(value_of(5)))
    gatt_peer.run(peer.write_value(hs[5], other, with_response=True))
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data == (conn, hs[5])
    heap_churn(peripheral)
    assert peripheral.eval(f'ble.gatts_read({hs[5]})') == other
    assert peripheral.eval(f'ble.gatts_read({hs[4]})') == value_of(4)
    assert peripheral.eval(f'ble.gatts_read({hs[6]})') == value_of(6)
    assert gatt_peer.run(peer.read_value(hs[39])) == value_of(39)
    # Discovery still sees the whole table.
    services = gatt_peer.run(peer.discover_services())
    chars = gatt_peer.run(services[2].discover_characteristics())
    assert [c.handle for c in chars] == list(hs)


@pytest.mark.api(methods=['gatts_register_services', 'gatts_set_buffer', 'gatts_write'])
def test_value_bytes_bounded_exactly(peripheral: Board) -> None:
    # BH_GATTS_MAX_VALUE_BYTES (65535, 16-bit offsets): 127 values of 512
    # bytes and one of 20 fit (65044); the 128th at 512 would need 65536.
    up(peripheral)
    hs = peripheral.eval(f'ble.gatts_register_services({many_chars(128)})[0]')
    peripheral.exec(f'_hs = {list(hs)!r}\nfor _h in _hs[:127]:\n ble.gatts_set_buffer(_h, 512)')
    peripheral.exec(f'ble.gatts_write(_hs[0], {value_of(0)!r})\nble.gatts_write(_hs[127], b"last")')
    peripheral.exec('try:\n ble.gatts_set_buffer(_hs[127], 512)\n r = None\nexcept OSError as e:\n r = e.errno')
    assert peripheral.eval('r') == 12
    peripheral.exec('try:\n ble.gatts_write(_hs[127], bytes(512))\n r = None\nexcept OSError as e:\n r = e.errno')
    assert peripheral.eval('r') == 12
    # Nothing lost by the refusals; 511 still fits.
    assert peripheral.eval('ble.gatts_read(_hs[127])') == b'last'
    assert peripheral.eval('ble.gatts_read(_hs[0])') == value_of(0)
    peripheral.exec('ble.gatts_set_buffer(_hs[127], 511)')
    peripheral.exec(f'ble.gatts_write(_hs[127], {value_of(9, 511)!r})')
    assert peripheral.eval('ble.gatts_read(_hs[127])') == value_of(9, 511)


@pytest.mark.api(methods=['gatts_register_services', 'gatts_set_buffer', 'gatts_write', 'gatts_read'])
def test_set_buffer_growth_keeps_the_other_values(peripheral: Board, gatt_peer: GattPeer) -> None:
    handles, _ = serve(peripheral, gatt_peer, '(HR_SERVICE, UART_SERVICE)')
    ((hr,), (tx, rx)) = handles
    peripheral.exec(f'ble.gatts_write({hr}, b"heart")\nble.gatts_write({tx}, b"tx-value")\n'
                    f'ble.gatts_write({rx}, b"rx-value")')
    # Registration took exactly the services' need: every growth beyond the
    # default 20 bytes moves the database to a larger block.
    peripheral.exec(f'gc.collect()\n_before = gc.mem_alloc()\nble.gatts_set_buffer({hr}, 300)\n'
                    f'gc.collect()\n_grown = gc.mem_alloc() - _before')
    assert 280 <= peripheral.eval('_grown') <= 280 + 64
    peripheral.exec(f'ble.gatts_set_buffer({tx}, 400, True)\nble.gatts_set_buffer({rx}, 200)')
    heap_churn(peripheral)
    assert peripheral.eval(f'(ble.gatts_read({hr}), ble.gatts_read({rx}))') == (b'heart', b'rx-value')
    assert gatt_peer.run(gatt_peer.peer.read_value(tx)) == b'tx-value'
    assert gatt_peer.run(gatt_peer.peer.read_value(hr)) == b'heart'
    peripheral.exec(f'ble.gatts_write({hr}, bytes(range(256)) + bytes(44))')
    assert gatt_peer.run(gatt_peer.peer.read_value(tx)) == b'tx-value'
    assert peripheral.eval(f'ble.gatts_read({rx})') == b'rx-value'
    gatt_peer.run(gatt_peer.peer.request_mtu(247))
    assert gatt_peer.run(gatt_peer.peer.read_value(hr)) == bytes(range(256)) + bytes(44)


@pytest.mark.api(methods=['gatts_register_services', 'active'])
def test_reregistration_and_deactivation_leave_no_stale_storage(peripheral: Board,
                                                              gatt_peer: GattPeer) -> None:
    up(peripheral)
    peripheral.exec(HR_UART)
    peripheral.exec('gc.collect()\n_base = gc.mem_alloc()')
    hs = peripheral.eval(f'ble.gatts_register_services({many_chars(30)})[0]')
    peripheral.exec(f'for _h in {list(hs)!r}:\n ble.gatts_write(_h, bytes([_h & 0xff]) * 400)')
    peripheral.exec('gc.collect()')
    assert peripheral.eval('gc.mem_alloc() - _base') >= 30 * 400
    # Re-registering frees the old block (the heap shrinks back) and the
    # host serves only the new services, whatever now fills the old memory.
    assert peripheral.eval('ble.gatts_register_services((HR_SERVICE,))') == [(12,)]
    peripheral.exec('gc.collect()')
    assert peripheral.eval('gc.mem_alloc() - _base') < 4000
    heap_churn(peripheral)
    assert peripheral.raises(f'ble.gatts_read({hs[10]})') == 'ValueError'
    peripheral.exec('ble.gatts_write(12, b"new-hr")')
    advertise(peripheral)
    gatt_peer.connect(mac(peripheral)[1], mac(peripheral)[0])
    peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT')
    peer = gatt_peer.peer
    services = gatt_peer.run(peer.discover_services())
    assert [(s.handle, s.end_group_handle) for s in services] == [(1, 5), (6, 9), (10, 13)]
    assert gatt_peer.run(peer.read_value(12)) == b'new-hr'
    assert gatt_peer.raw(b'\x0a' + (14).to_bytes(2, 'little')) == err(0x0a, 14, 0x01)
    gatt_peer.disconnect()
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    # Deactivation frees it too; after reactivation only the fixed services
    # are served until the application registers again.
    peripheral.exec('ble.active(False)\ngc.collect()', timeout=20)
    assert peripheral.eval('gc.mem_alloc() - _base') < 4000
    peripheral.exec('ble.active(True)', timeout=20)
    heap_churn(peripheral)
    assert peripheral.raises('ble.gatts_read(12)') == 'ValueError'
    advertise(peripheral)
    gatt_peer.connect(mac(peripheral)[1], mac(peripheral)[0])
    peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT')
    services = gatt_peer.run(gatt_peer.peer.discover_services())
    assert [(s.handle, s.end_group_handle) for s in services] == [(1, 5), (6, 9)]
    assert gatt_peer.raw(b'\x0a' + (12).to_bytes(2, 'little')) == err(0x0a, 12, 0x01)
    # Registering again (advertising stopped) serves the new database.
    peripheral.exec('ble.gap_advertise(None)')
    assert peripheral.eval('ble.gatts_register_services((UART_SERVICE,))') == [(12, 15)]
    peripheral.exec('ble.gatts_write(12, b"uart-tx")')
    assert gatt_peer.run(gatt_peer.peer.read_value(12)) == b'uart-tx'


# -- one prepare-write queue for all links ------------------------------------------------
@pytest.fixture
def two_gatt_peers(board_kind: str, rig_pool: RigPool,
                   boards: tuple[Board, ...]) -> Iterator[tuple[GattPeer, GattPeer]]:
    """Two bumble GATT clients, on the group's first two spare controllers."""
    handle = rig_pool.get(board_kind)
    if handle.rig is None or len(handle.rig.spares) < 2:
        pytest.skip('needs two spare controllers on the virtual radio')
    peers: list[GattPeer] = []
    try:
        for info in handle.rig.spares[:2]:
            peers.append(GattPeer(info))
        yield peers[0], peers[1]
    finally:
        for peer in peers:
            peer.close()


def prepare(peer: GattPeer, handle: int, offset: int, data: bytes) -> bytes:
    return peer.raw(b'\x16' + handle.to_bytes(2, 'little') + offset.to_bytes(2, 'little') + data)


@pytest.mark.api(methods=['gatts_register_services', 'gatts_read'], events=['_IRQ_GATTS_WRITE'])
def test_two_links_prepare_at_once_and_share_the_queue(
        peripheral: Board, two_gatt_peers: tuple[GattPeer, GattPeer]) -> None:
    one, two = two_gatt_peers
    up(peripheral)
    (hs,) = peripheral.eval(f'ble.gatts_register_services({many_chars(2)})')
    a, b = hs
    peripheral.exec(f'ble.gatts_set_buffer({a}, 512)\nble.gatts_set_buffer({b}, 512)')
    conns = []
    for peer in (one, two):
        advertise(peripheral)
        peer.connect(mac(peripheral)[1], mac(peripheral)[0])
        conns.append(peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT').data[0])
    # Interleaved long writes of both clients to the same value and another.
    for i in range(5):
        chunk = bytes([0x61 + i]) * 18
        echo = b'\x17' + a.to_bytes(2, 'little') + (18 * i).to_bytes(2, 'little')
        assert prepare(one, a, 18 * i, chunk) == echo + chunk
        assert prepare(two, a, 18 * i, chunk.upper()) == echo + chunk.upper()
        assert prepare(two, b, 18 * i, bytes([0x30 + i]) * 18)[0] == 0x17
    assert two.raw(b'\x18\x01') == b'\x19'
    writes = {peripheral.wait_for_event('_IRQ_GATTS_WRITE').data for _ in range(2)}
    assert writes == {(conns[1], a), (conns[1], b)}
    assert peripheral.eval(f'ble.gatts_read({a})') == b''.join(bytes([0x41 + i]) * 18 for i in range(5))
    assert peripheral.eval(f'ble.gatts_read({b})') == b''.join(bytes([0x30 + i]) * 18 for i in range(5))
    # The first client's writes were untouched by the second's Execute Write.
    assert one.raw(b'\x18\x01') == b'\x19'
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data == (conns[0], a)
    assert peripheral.eval(f'ble.gatts_read({a})') == b''.join(bytes([0x61 + i]) * 18 for i in range(5))
    # Fill the shared queue (1024 bytes, 7 + 18 per write: 40 writes) from both.
    counts = [0, 0]
    full = None
    for i in range(60):
        who = i % 2
        peer, h = (one, a) if who == 0 else (two, b)
        rsp = prepare(peer, h, 18 * counts[who], bytes([0x70 + who]) * 18)
        if rsp[0] != 0x17:
            full = (who, rsp)
            break
        counts[who] += 1
    assert full is not None and sum(counts) == 1024 // 25
    who, rsp = full
    assert rsp == err(0x16, a if who == 0 else b, 0x09)
    assert prepare(two, b, 0, b'z' * 18) == err(0x16, b, 0x09)
    # The first client goes: its room comes back; the second's writes stay.
    one.disconnect()
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    for k in range(counts[0]):
        assert prepare(two, b, 18 * (counts[1] + k), b'q' * 18)[0] == 0x17
    assert prepare(two, b, 0, b'z' * 18) == err(0x16, b, 0x09)
    assert two.raw(b'\x18\x01') == b'\x19'
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data == (conns[1], b)
    expected = bytes([0x71]) * 18 * counts[1] + b'q' * 18 * counts[0]
    assert peripheral.eval(f'ble.gatts_read({b})') == expected[:512]
    assert peripheral.eval(f'ble.gatts_read({a})') == b''.join(bytes([0x61 + i]) * 18 for i in range(5))


@pytest.mark.api(methods=['gatts_write'], events=['_IRQ_GATTS_READ_REQUEST'])
def test_value_grown_in_read_request_handler_is_what_the_client_reads(
        peripheral: Board, gatt_peer: GattPeer) -> None:
    # The handler's gatts_write needs a larger block: the database moves (the
    # old block freed) while the host serves the read; the answer comes
    # from the new one, and the other values came along.
    handles, conn = serve(peripheral, gatt_peer, many_chars(3))
    ((a, b, c),) = handles
    # A long read is a Read and Read Blobs, each with its read request: the
    # handler writes the value it wants served once (the first request).
    peripheral.exec(f'ble.gatts_write({b}, b"bee")\nble.gatts_write({c}, b"sea")\n_n = [0]\n_want = {{}}\n'
                    'def _irq(event, data):\n'
                    ' if event == 4:\n'
                    '  v = _want.get(data[1])\n'
                    '  if v and ble.gatts_read(data[1]) != v:\n'
                    '   _n[0] += 1\n'
                    '   ble.gatts_write(data[1], v)\n'
                    '   gc.collect()\n'
                    '  return 0\n'
                    ' return _mpbt_rec.irq(event, data)\n'
                    'ble.irq(_irq)')
    assert gatt_peer.run(gatt_peer.peer.request_mtu(247)) == 247
    for n, (h, value) in enumerate([(a, b'\x01' * 150), (a, b'\x02' * 300), (b, b'\x03' * 450),
                                    (a, b'\x04' * 512)], 1):
        peripheral.exec(f'_want[{h}] = {value!r}')
        assert gatt_peer.run(gatt_peer.peer.read_value(h)) == value
        assert peripheral.eval('_n[0]') == n
    assert peripheral.eval(f'(ble.gatts_read({b}), ble.gatts_read({c}))') == (b'\x03' * 450, b'sea')
