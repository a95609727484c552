"""The host's core as a user meets it: synchronous upcalls that call back into
the module, responses that always find room, values seen by write handlers,
Service Changed, read verdicts, every queued write reported, host errors as
MicroPython errno values, and a scan flood where nothing is lost but what the
event ring counts."""
from __future__ import annotations

import struct
import time

import pytest
from bumble import hci
from bumble.core import UUID

from gatts_peer import GattPeer
from harness.board import Board
from harness.gap import FULL_SCAN, advertise, connect, mac, up
from harness.peer import ADV_NONCONN_IND, HciPeer
from tools.radio import Radio

F_READ, F_WNR, F_WRITE, F_NOTIFY, F_INDICATE = 0x02, 0x04, 0x08, 0x10, 0x20
F_AUX_WRITE = 0x0100
ATT_ERROR_RSP, READ_BY_TYPE_REQ, READ_BY_TYPE_RSP = 0x01, 0x08, 0x09
READ_REQ, READ_RSP = 0x0a, 0x0b
WRITE_REQ, WRITE_CMD = 0x12, 0x52
PREPARE_WRITE_REQ, EXECUTE_WRITE_REQ, EXECUTE_WRITE_RSP = 0x16, 0x18, 0x19
READ_NOT_PERMITTED, UNLIKELY_ERROR = 0x02, 0x0e
SERVICE_CHANGED_HANDLE, SERVICE_CHANGED_CCCD = 8, 9


def serve(board: Board, peer: GattPeer, services: str) -> tuple[object, int]:
    """Register `services`, advertise, let the peer connect: (handles, conn)."""
    up(board)
    handles = board.eval(f'ble.gatts_register_services({services})')
    advertise(board)
    peer.connect(mac(board)[1], mac(board)[0])
    return handles, board.wait_for_event('_IRQ_CENTRAL_CONNECT').data[0]


def read_by_type(uuid16: int) -> bytes:
    return struct.pack('<BHHH', READ_BY_TYPE_REQ, 1, 0xffff, uuid16)


def request(peer: GattPeer, pdu: bytes, timeout: float = 5.0) -> bytes:
    """Send one ATT request; return the server's response, passing over what
    the board sends as a client meanwhile (commands, notifications)."""
    peer._send_raw(pdu)
    deadline = time.monotonic() + timeout
    while True:
        rsp = peer.raw_rx.get(timeout=max(0.0, deadline - time.monotonic()))
        if rsp[0] & 0x40 == 0 and rsp[0] not in (0x1b, 0x1d):
            return rsp


def assert_recorder_lost_nothing(board: Board) -> None:
    assert board.eval('_mpbt_rec.dropped') == 0
    assert board.eval('ble.config("rxbuf_dropped")') == 0


# -- synchronous upcalls that call back into the module ---------------------------
@pytest.mark.api(methods=['gatts_notify'], events=['_IRQ_GATTS_READ_REQUEST'])
def test_read_request_handler_that_notifies_or_raises_under_load(
        peripheral: Board, gatt_peer: GattPeer) -> None:
    # Two characteristics of one UUID: Read By Type answers both, and the
    # handler runs for the second while the first is already in the response.
    ((value, second),), conn = serve(peripheral, gatt_peer,
                                     f'((bluetooth.UUID(0xFEE0), ((bluetooth.UUID(0xFEE1), '
                                     f'{F_READ | F_NOTIFY}), (bluetooth.UUID(0xFEE1), {F_READ}))),)')
    peripheral.exec(f'''
ble.gatts_write({value}, b"value-1")
ble.gatts_write({second}, b"value-2")
_requests = [0]
_calls = [0]
def _irq(event, data):
    if event == 4:
        _calls[0] += 1
        if data[1] == {value}:
            _requests[0] += 1
        # Notify from inside the read request: the response being built must
        # come out intact.
        ble.gatts_notify(data[0], {value}, b"N" * 18)
        if data[1] == {value} and _requests[0] % 3 == 0:
            raise ValueError("handler fails")
        return 0
    return _mpbt_rec.irq(event, data)
ble.irq(_irq)''')
    expected = (bytes([READ_BY_TYPE_RSP, 2 + 7]) + struct.pack('<H', value) + b'value-1'
                + struct.pack('<H', second) + b'value-2')
    # The board runs a program meanwhile, so the handler's tracebacks are
    # part of its output rather than noise between REPL commands.
    peripheral.start('while _requests[0] < 30:\n    time.sleep_ms(10)\n'
                     'time.sleep_ms(100)\nprint("calls", _calls[0])')
    for attempt in range(1, 31):
        rsp = gatt_peer.raw(read_by_type(0xFEE1))
        if attempt % 3 == 0:
            # A handler that raises denies the read (Unlikely Error).
            assert rsp == struct.pack('<BBHB', ATT_ERROR_RSP, READ_BY_TYPE_REQ, value,
                                      UNLIKELY_ERROR), attempt
        else:
            assert rsp == expected, (attempt, rsp.hex())
    out = peripheral.join(timeout=20)
    # Two handler calls per answered request, one per refused one.
    calls = 20 * 2 + 10
    assert f'calls {calls}' in out and out.count('ValueError: handler fails') == 10, out
    notified = []
    deadline = time.monotonic() + 5
    while len(notified) < calls and time.monotonic() < deadline:
        try:
            notified.append(gatt_peer.notified.get(timeout=0.5))
        except Exception:  # noqa: BLE001 - queue.Empty until the deadline
            pass
    assert len(notified) == calls and set(notified) == {(value, b'N' * 18)}


# Bulk senders on the link: the board's writes without response (it is a
# client of the peer too) and its notifications (gatts_notify waits for room
# rather than raise, so only the write flood counts refusals).
FLOODS = {
    'writes_without_response': 'ble.gattc_write({conn}, 3, b"x" * 20, 0)',
    'notifications': 'ble.gatts_notify({conn}, {value}, b"x" * 20)',
}


@pytest.mark.parametrize('flood', sorted(FLOODS))
@pytest.mark.api(methods=['gattc_write', 'gatts_notify', 'gatts_read'])
def test_att_requests_answered_while_bulk_data_fills_the_queue(
        peripheral: Board, gatt_peer: GattPeer, flood: str) -> None:
    ((value,),), conn = serve(peripheral, gatt_peer,
                              f'((bluetooth.UUID(0xFEE0), ((bluetooth.UUID(0xFEE1), '
                              f'{F_READ | F_NOTIFY}),)),)')
    peripheral.exec(f'ble.gatts_write({value}, b"v")')
    send = FLOODS[flood].format(conn=conn, value=value)
    # The board sends as fast as the queue takes it, for 6 s.
    peripheral.start(f'''
_sent = 0
_full = 0
_t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), _t0) < 6000:
    try:
        {send}
        _sent += 1
    except OSError:
        _full += 1
        time.sleep_ms(1)
print("sent", _sent, "full", _full)''')
    time.sleep(0.5)
    for attempt in range(25):
        # Every request gets its response while the queue is saturated.
        started = time.monotonic()
        try:
            rsp = request(gatt_peer, bytes([READ_REQ]) + struct.pack('<H', value))
        except Exception as error:  # noqa: BLE001 - name the attempt that got no answer
            raise AssertionError(f'request {attempt}: no response after '
                                 f'{time.monotonic() - started:.1f} s') from error
        assert rsp == bytes([READ_RSP]) + b'v', attempt
    out = peripheral.join(timeout=30)
    sent, full = (int(w) for w in out.split()[1::2])
    assert sent > 100, out
    if flood == 'writes_without_response':
        assert full > 0, out  # the bulk share of the queue was full at times


# -- GATT server behaviour the reference implementation has -------------------------
@pytest.mark.api(methods=['gatts_notify', 'gatts_indicate'],
                 events=['_IRQ_GATTC_NOTIFY', '_IRQ_GATTC_INDICATE'])
def test_notify_and_indicate_any_handle_with_explicit_data(central: Board,
                                                           peripheral: Board) -> None:
    up(central)
    up(peripheral)
    c_conn, p_conn = connect(central, peripheral)
    peripheral.exec(f'ble.gatts_notify({p_conn}, 0x1234, b"abc")')
    assert central.wait_for_event('_IRQ_GATTC_NOTIFY').data == (c_conn, 0x1234, b'abc')
    peripheral.exec(f'ble.gatts_indicate({p_conn}, 0xfffe, b"ind")')
    assert central.wait_for_event('_IRQ_GATTC_INDICATE').data == (c_conn, 0xfffe, b'ind')
    # Without data the local value is sent: an unknown handle has none.
    assert peripheral.raises(f'ble.gatts_notify({p_conn}, 0x1234)') == 'ValueError'
    assert peripheral.raises(f'ble.gatts_notify({p_conn}, 0, b"x")') == 'ValueError'
    assert peripheral.raises(f'ble.gatts_notify({p_conn}, 0x10000, b"x")') == 'ValueError'


@pytest.mark.api(methods=['gatts_read'], events=['_IRQ_GATTS_WRITE'])
def test_gatts_read_in_write_handler_sees_the_value_that_write_stored(
        peripheral: Board, gatt_peer: GattPeer) -> None:
    ((value,),), conn = serve(peripheral, gatt_peer,
                              f'((bluetooth.UUID(0xFEE0), ((bluetooth.UUID(0xFEE1), '
                              f'{F_READ | F_WRITE | F_WNR}),)),)')
    peripheral.exec('''
ble.config(rxbuf=4096)
_seen = []
def _irq(event, data):
    if event == 3:
        _seen.append(ble.gatts_read(data[1]))
        time.sleep_ms(20)  # slower than the writes arrive: later ones land first
    return _mpbt_rec.irq(event, data)
ble.irq(_irq)''')
    values = [b'%03d' % i for i in range(60)]
    for v in values:  # back to back: later writes land before earlier handlers run
        gatt_peer.send_raw(bytes([WRITE_CMD]) + struct.pack('<H', value) + v)
    deadline = time.monotonic() + 20
    while peripheral.eval('len(_seen)') < len(values) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert peripheral.eval('_seen') == values
    assert peripheral.eval(f'ble.gatts_read({value})') == values[-1]
    assert_recorder_lost_nothing(peripheral)


@pytest.mark.api(methods=['gatts_register_services'])
def test_service_changed_indicated_when_services_are_registered_again(
        peripheral: Board, gatt_peer: GattPeer) -> None:
    serve(peripheral, gatt_peer, '((bluetooth.UUID(0xFEE0), ((bluetooth.UUID(0xFEE1), 2),)),)')
    services = gatt_peer.run(gatt_peer.peer.discover_services())
    gatt = [s for s in services if s.uuid == UUID.from_16_bits(0x1801)]
    assert [(s.handle, s.end_group_handle) for s in gatt] == [(6, SERVICE_CHANGED_CCCD)]
    (sc,) = gatt_peer.run(gatt[0].discover_characteristics())
    assert (sc.handle, sc.uuid, int(sc.properties)) == \
        (SERVICE_CHANGED_HANDLE, UUID.from_16_bits(0x2A05), F_INDICATE)
    # Not readable; subscribe to indications.
    assert gatt_peer.raw(bytes([READ_REQ]) + struct.pack('<H', SERVICE_CHANGED_HANDLE)) == \
        struct.pack('<BBHB', ATT_ERROR_RSP, READ_REQ, SERVICE_CHANGED_HANDLE, READ_NOT_PERMITTED)
    assert gatt_peer.raw(bytes([WRITE_REQ]) + struct.pack('<HH', SERVICE_CHANGED_CCCD, 2)) == b'\x13'
    peripheral.exec('ble.gap_advertise(None)')
    peripheral.exec('ble.gatts_register_services(((bluetooth.UUID(0xFEE2), '
                    '((bluetooth.UUID(0xFEE3), 2),)),))')
    handle, data = gatt_peer.indicated.get(timeout=5)
    assert (handle, data) == (SERVICE_CHANGED_HANDLE, struct.pack('<HH', 10, 0xffff))
    # The application hears nothing of the host's own indication. The peer
    # confirmed it before it reads (both in one callback on its loop); the
    # board handles the read after the confirmation: any event that raised
    # is queued before the read's answer leaves.
    gatt_peer.round_trip()
    assert [e for e in peripheral.take_events() if e.name == '_IRQ_GATTS_INDICATE_DONE'] == []


@pytest.mark.api(methods=['gatts_register_services'], events=['_IRQ_GATTS_READ_REQUEST'])
def test_read_request_verdicts_outside_a_byte_deny(peripheral: Board,
                                                   gatt_peer: GattPeer) -> None:
    ((value,),), _ = serve(peripheral, gatt_peer,
                           '((bluetooth.UUID(0xFEE0), ((bluetooth.UUID(0xFEE1), 2),)),)')
    request = bytes([READ_REQ]) + struct.pack('<H', value)
    for verdict, code in [(256, READ_NOT_PERMITTED), (-1, READ_NOT_PERMITTED),
                          (2 ** 40, READ_NOT_PERMITTED), (0x80, 0x80), (0, None)]:
        peripheral.reply('_IRQ_GATTS_READ_REQUEST', verdict)
        rsp = gatt_peer.raw(request)
        if code is None:
            assert rsp == bytes([READ_RSP]), verdict
        else:
            assert rsp == struct.pack('<BBHB', ATT_ERROR_RSP, READ_REQ, value, code), verdict


@pytest.mark.api(methods=['gatts_register_services'], events=['_IRQ_GATTS_WRITE'])
def test_execute_write_reports_every_attribute_written(peripheral: Board,
                                                       gatt_peer: GattPeer) -> None:
    chars = ', '.join(f'(bluetooth.UUID({0xFE00 + i}), {F_READ | F_WRITE | F_AUX_WRITE})'
                      for i in range(12))
    ((*handles,),), conn = serve(peripheral, gatt_peer,
                                 f'((bluetooth.UUID(0xFEE0), ({chars},)),)')
    for i, h in enumerate(handles):
        rsp = gatt_peer.raw(struct.pack('<BHH', PREPARE_WRITE_REQ, h, 0) + bytes([i]))
        assert rsp[0] == PREPARE_WRITE_REQ + 1
    assert gatt_peer.raw(bytes([EXECUTE_WRITE_REQ, 1])) == bytes([EXECUTE_WRITE_RSP])
    written = []
    for _ in handles:
        written.append(peripheral.wait_for_event('_IRQ_GATTS_WRITE').data)
    assert sorted(written) == [(conn, h) for h in handles]
    assert [peripheral.eval(f'ble.gatts_read({h})') for h in handles] == \
        [bytes([i]) for i in range(len(handles))]


# -- errors ----------------------------------------------------------------------
@pytest.mark.api(methods=['gap_disconnect', 'gatts_notify', 'l2cap_connect', 'config'])
def test_host_errors_are_micropython_errno_values(central: Board) -> None:
    up(central)
    central.exec('import errno')
    assert central.eval('ble.gap_disconnect(0x0abc)') is False
    for call, name in [('ble.gatts_notify(5, 0x20, b"x")', 'ENOTCONN'),
                       ('ble.l2cap_connect(5, 0x80, 64)', 'ENOTCONN')]:
        central.exec(f'try:\n {call}\n r = None\nexcept OSError as e:\n r = e.errno')
        assert central.eval(f'r == errno.{name}') is True, (call, central.eval('r'))
    assert central.raises('ble.config(addr_mode=7)') == 'ValueError'


# -- the receive queue under a flood ---------------------------------------------------
@pytest.mark.timing
@pytest.mark.api(methods=['gap_scan', 'config'], events=['_IRQ_SCAN_RESULT'])
def test_scan_flood_loses_nothing_but_what_the_ring_counts(
        central: Board, radio: Radio, hci_peers: list[HciPeer]) -> None:
    up(central)
    for index, peer in enumerate(hci_peers):
        peer.advertise(bytes([2, 0xFF, index]), adv_type=ADV_NONCONN_IND, interval=0x20)
    sent = [0]

    def install() -> None:
        controller = radio.controller(0)
        original = controller.send_hci_packet

        def counting(packet: hci.HCI_Packet) -> None:
            if isinstance(packet, hci.HCI_LE_Advertising_Report_Event):
                sent[0] += len(packet.reports)
            original(packet)
        controller.send_hci_packet = counting  # type: ignore[method-assign]

        def restore() -> None:
            controller.send_hci_packet = original  # type: ignore[method-assign]
        install.restore = restore  # type: ignore[attr-defined]
    radio.call(install)
    try:
        central.exec('''
ble.config(rxbuf=256)
_got = [0]
def _irq(event, data):
    if event == 5:
        _got[0] += 1
        time.sleep_ms(20)  # slower than the flood: the ring overflows
    return _mpbt_rec.irq(event, data) if event != 5 else None
ble.irq(_irq)''')
        central.exec(f'ble.gap_scan(3000, {FULL_SCAN})')
        # The ring may be full when the scan ends, so _IRQ_SCAN_DONE itself
        # may be a counted drop: wait until the board has taken everything
        # the controller sent (the counts stop moving), not for the event.
        deadline = time.monotonic() + 60
        last = None
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = (central.eval('_got[0]'), central.eval('ble.config("rxbuf_dropped")'),
                   radio.call(lambda: sent[0]))
            if now == last and time.monotonic() > deadline - 55:
                break
            last = now
    finally:
        radio.call(install.restore)  # type: ignore[attr-defined]
    got = central.eval('_got[0]')
    dropped = central.eval('ble.config("rxbuf_dropped")')
    done = len([e for e in central.take_events() if e.name == '_IRQ_SCAN_DONE'])
    assert dropped > 0 and got > 0, (got, dropped, sent[0])
    # Every report the controller sent became an event or a counted drop, and
    # so did the end of the scan; except reports still on their way when the
    # host ended the scan (at most a few: it takes none after _IRQ_SCAN_DONE).
    accounted = got + dropped - (1 - done)  # a dropped _IRQ_SCAN_DONE is in `dropped`
    assert 0 <= sent[0] - accounted <= 3, (done, got, dropped, sent[0])


# -- link security ---------------------------------------------------------------
@pytest.mark.api(methods=['gap_advertise', 'gap_disconnect'],
                 events=['_IRQ_CENTRAL_CONNECT', '_IRQ_CENTRAL_DISCONNECT'])
def test_encryption_with_a_key_the_board_lacks_is_refused_and_the_link_kept(
        peripheral: Board, hci_peers: list[HciPeer]) -> None:
    # A phone that bonded with earlier firmware at this address starts
    # encryption with its old key: the board has none.
    up(peripheral)
    advertise(peripheral)
    central = hci_peers[0]
    addr_type, addr = mac(peripheral)
    central.connect(addr_type, addr)
    handle = central.connection_complete().connection_handle
    conn = peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT').data[0]
    started = time.monotonic()
    central.client.ok(hci.HCI_LE_Enable_Encryption_Command(
        connection_handle=handle, random_number=bytes(range(8)), encrypted_diversifier=0x1234,
        long_term_key=bytes(range(16, 32))))
    change = central.client.wait_for(
        lambda p: isinstance(p, hci.HCI_Encryption_Change_Event), timeout=5)
    assert change.status == hci.HCI_PIN_OR_KEY_MISSING_ERROR
    assert change.encryption_enabled == 0
    assert time.monotonic() - started < 2  # refused at once, not a link-layer timeout
    # The link is still up: the board ends it itself, with its own reason.
    assert peripheral.eval(f'ble.gap_disconnect({conn})') is True
    assert central.disconnection().reason == hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    assert [e for e in peripheral.take_events() if e.name == '_IRQ_ENCRYPTION_UPDATE'] == []
