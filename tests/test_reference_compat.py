"""Every argument form MicroPython's reference binding (extmod/modbluetooth.c)
accepts, called on our boards (issue 14). The README's table "Differences
from MicroPython's reference binding" lists where we answer otherwise, and
why; those refusals are checked here too, so the table cannot drift.

Each call form is run on the board and must neither raise nor be ignored:
where the call has an effect that can be seen (a scan, a connection, a value
written, a notification received), the test looks for it.
"""
from __future__ import annotations

import pytest

from api_names import METHODS
from harness.board import Board, RemoteUUID
from harness.gap import ADV_INTERVAL_US, FULL_SCAN, advertise, connect, mac, up

# Buffers of every kind the reference takes wherever it asks for bytes.
BUFFER_FORMS = ('b"ab"', 'bytearray(b"ab")', 'memoryview(b"xaby")[1:3]', '"ab"')

# The board side: run a call, answer 'ok' or the exception (errno name for
# OSError), so one round trip checks many forms.
CALLS = '''
import errno
_ERRNO = {v: k for k, v in errno.__dict__.items() if type(v) is int}
def _try(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return _ERRNO.get(e.errno, e.errno)
    except Exception as e:
        return type(e).__name__
'''

# An IRQ handler that records each event's field types (the recorder copies
# values, so it cannot tell a memoryview from bytes), then hands the event on.
FIELD_TYPES = '''
_types = {}
def _typing_irq(event, data):
    _types.setdefault(event, tuple(type(x).__name__ for x in data))
    return _mpbt_rec.irq(event, data)
ble.irq(_typing_irq)
'''


def prepare(board: Board) -> None:
    up(board)
    board.exec(CALLS)


def tries(board: Board, calls: list[str]) -> dict[str, str]:
    """Each call's outcome: 'ok', an errno name, or an exception class name."""
    listing = ', '.join(f'_try(lambda: {c})' for c in calls)
    return dict(zip(calls, board.eval(f'[{listing}]')))


def all_ok(board: Board, calls: list[str]) -> None:
    outcomes = tries(board, calls)
    refused = {c: r for c, r in outcomes.items() if r != 'ok'}
    assert not refused, refused


def each_done(board: Board, calls: list[str], done: str) -> None:
    """GATT client procedures one at a time, each until its DONE event."""
    for call in calls:
        all_ok(board, [call])
        board.wait_for_event(done, timeout=10)


# -- the three defects the issue reported ---------------------------------------

@pytest.mark.api(methods=['gap_connect'], events=['_IRQ_PERIPHERAL_CONNECT'])
def test_gap_connect_takes_none_for_duration_and_intervals(central: Board,
                                                            peripheral: Board) -> None:
    # aioble's connect() passes None for all three.
    for board in (central, peripheral):
        prepare(board)
    connect(central, peripheral, 'None, None, None')


@pytest.mark.api(methods=['gatts_register_services', 'gattc_write'], events=['_IRQ_GATTS_WRITE'])
def test_characteristic_flags_above_16_bits_are_the_applications(central: Board,
                                                                   peripheral: Board) -> None:
    # aioble marks a capture-mode characteristic with 0x10000 | _FLAG_WRITE.
    for board in (central, peripheral):
        prepare(board)
    peripheral.exec('((h,),) = ble.gatts_register_services(((bluetooth.UUID(0x1234), '
                    '((bluetooth.UUID(0x5678), 0x10000 | 0x0008),)),))')
    c_conn, _ = connect(central, peripheral)
    handle = peripheral.eval('h')
    central.exec(f'ble.gattc_write({c_conn}, {handle}, b"captured", 1)')
    assert central.wait_for_event('_IRQ_GATTC_WRITE_DONE').data == (c_conn, handle, 0)
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data[1] == handle
    assert peripheral.eval('ble.gatts_read(h)') == b'captured'
    # The low 16 bits still decide: no read flag, so a read is refused.
    central.exec(f'ble.gattc_read({c_conn}, {handle})')
    assert central.wait_for_event('_IRQ_GATTC_READ_DONE').data == (c_conn, handle, 0x02)


def test_uuid_from_a_str_of_2_4_or_16_characters_is_its_bytes(central: Board) -> None:
    central.exec('from bluetooth import UUID')
    assert central.eval('UUID("AB12") == UUID(b"AB12")') is True
    assert central.eval('repr(UUID("AB12"))') == 'UUID(0x32314241)'
    assert central.eval('bytes(UUID("ab"))') == b'ab'
    assert central.eval('bytes(UUID("0123456789abcdef"))') == b'0123456789abcdef'


# -- UUID ----------------------------------------------------------------------

UART = '6E400001-B5A3-F393-E0A9-E50E24DCCA9E'
UART_LE = bytes(reversed(bytes.fromhex(UART.replace('-', ''))))


def test_uuid_every_form_the_reference_takes(central: Board) -> None:
    central.exec('from bluetooth import UUID')
    forms = {
        '0': b'\x00\x00', '0xffff': b'\xff\xff',
        'b"\\x0d\\x18"': b'\x0d\x18', 'bytearray(b"\\x0d\\x18")': b'\x0d\x18',
        'memoryview(b"\\x01\\x02\\x03\\x04")': b'\x01\x02\x03\x04',
        f'{UART!r}': UART_LE, f'{UART.lower()!r}': UART_LE,
        f'{UART.replace("-", "")!r}': UART_LE,
        # Hyphens may stand anywhere; a buffer of text is text too.
        f'{"-".join(UART.replace("-", ""))!r}': UART_LE,
        f'{UART.encode()!r}': UART_LE,
        'UUID(0x180d)': b'\x0d\x18',
    }
    got = central.eval('[bytes(UUID(v)) for v in (' + ', '.join(forms) + ',)]')
    assert dict(zip(forms, got)) == forms


def test_uuid_ordering_and_repr_as_the_reference(central: Board) -> None:
    central.exec('from bluetooth import UUID')
    # Narrower first; one width by stored (little-endian) octets.
    assert central.eval('[bytes(u) for u in sorted([UUID(b"\\x00\\x00\\x00\\x01"), '
                        'UUID(0x0102), UUID(0x0201), UUID(b"\\x01\\x00\\x00\\x00")])]') == \
        [b'\x01\x02', b'\x02\x01', b'\x00\x00\x00\x01', b'\x01\x00\x00\x00']
    assert central.eval('(UUID(0x10) < UUID(0x20), UUID(0x10) >= UUID(0x10), '
                        'UUID(0x10) > UUID(0x20), UUID(0x10) <= UUID(0x20))') == \
        (True, True, False, True)
    assert central.eval('repr(UUID(b"\\x78\\x56\\x34\\x12"))') == 'UUID(0x12345678)'
    assert central.eval('repr(UUID(0x180d))') == 'UUID(0x180d)'
    assert central.eval(f'repr(UUID({UART!r}))') == f"UUID('{UART.lower()}')"


def test_uuid_refusals_kept(central: Board) -> None:
    # The reference masks negative ints (UUID(-1) is 0xffff); we refuse them.
    prepare(central)
    assert tries(central, ['bluetooth.UUID(-1)', 'bluetooth.UUID(0x10000)',
                           'bluetooth.UUID("123")', 'bluetooth.UUID(None)']) == {
        'bluetooth.UUID(-1)': 'ValueError', 'bluetooth.UUID(0x10000)': 'ValueError',
        'bluetooth.UUID("123")': 'ValueError', 'bluetooth.UUID(None)': 'TypeError'}


# -- general -----------------------------------------------------------------------

@pytest.mark.api(methods=['active', 'config', 'irq'])
def test_general_methods_every_form(central: Board) -> None:
    prepare(central)
    all_ok(central, ['bluetooth.BLE()', 'bluetooth.BLE(0)', 'ble.active()', 'ble.active(1)',
                     'ble.active(True)', 'ble.irq(None)', 'ble.irq(lambda e, d: None)',
                     'ble.irq(_mpbt_rec.irq)', 'ble.config("mac")', 'ble.config("gap_name")',
                     'ble.config("rxbuf")', 'ble.config("mtu")', 'ble.config("addr_mode")']
            + [f'ble.config(gap_name={b})' for b in BUFFER_FORMS]
            + ['ble.config(mtu=100)', 'ble.config(mtu=True + 99)', 'ble.config(rxbuf=2048)',
               'ble.config(bond=1)', 'ble.config(bond=None)', 'ble.config(mitm="yes")',
               'ble.config(mitm=0)', 'ble.config(le_secure=[])', 'ble.config(io=3)',
               'ble.config(addr_mode=ble.config("addr_mode"))'])
    assert central.eval('(ble.config("gap_name"), ble.config("mtu"), ble.config("rxbuf"))') == \
        (b'ab', 100, 2048)
    assert central.eval('(ble.config("bond"), ble.config("mitm"), ble.config("le_secure"))') == \
        (False, False, False)
    # Refused as the reference refuses them.
    assert tries(central, ['ble.irq(1)', 'ble.config()', 'ble.config("nope")',
                           'ble.config(nope=1)', 'ble.config("mac", gap_name="x")']) == {
        'ble.irq(1)': 'ValueError', 'ble.config()': 'TypeError',
        'ble.config("nope")': 'ValueError', 'ble.config(nope=1)': 'ValueError',
        'ble.config("mac", gap_name="x")': 'TypeError'}
    # active(None) is active(False), as any false value.
    assert central.eval('ble.active(None)') is False
    assert central.eval('ble.active(1)') is True


# -- GAP ---------------------------------------------------------------------------

@pytest.mark.api(methods=['gap_advertise', 'gap_scan'], events=['_IRQ_SCAN_RESULT', '_IRQ_SCAN_DONE'])
def test_gap_advertise_and_scan_every_form(central: Board, peripheral: Board) -> None:
    for board in (central, peripheral):
        prepare(board)
    central.exec(FIELD_TYPES)
    adv_forms = ['ble.gap_advertise()', f'ble.gap_advertise({ADV_INTERVAL_US})',
                 f'ble.gap_advertise({ADV_INTERVAL_US}, None)',
                 f'ble.gap_advertise({ADV_INTERVAL_US}, adv_data=None, resp_data=None)',
                 f'ble.gap_advertise({ADV_INTERVAL_US}, connectable=0)',
                 f'ble.gap_advertise({ADV_INTERVAL_US}, connectable=None)',
                 f'ble.gap_advertise({ADV_INTERVAL_US}, connectable=1)',
                 f'ble.gap_advertise(interval_us={ADV_INTERVAL_US})',
                 'ble.gap_advertise(None)', 'ble.gap_advertise(interval_us=None)']
    adv_forms += [f'ble.gap_advertise({ADV_INTERVAL_US}, {b}, resp_data={b})'
                  for b in BUFFER_FORMS]
    all_ok(peripheral, adv_forms)
    _, addr = mac(peripheral)
    central.exec(f'_mpbt_rec.scan_from = {addr!r}')
    # gap_advertise() without an interval advertises (every 500 ms).
    peripheral.exec('ble.gap_advertise(adv_data=b"\\x02\\x01\\x06")')
    central.exec(f'ble.gap_scan(0, {FULL_SCAN})')
    heard = central.wait_for_event('_IRQ_SCAN_RESULT', timeout=10)
    assert heard.data[1] == addr and heard.data[4] == b'\x02\x01\x06'
    central.exec('ble.gap_scan(None)')
    central.wait_for_event('_IRQ_SCAN_DONE')
    # gap_scan() without arguments scans until stopped, at the default
    # duty cycle (11.25 ms every 1.28 s): a fast advertiser is heard.
    peripheral.exec(f'ble.gap_advertise({ADV_INTERVAL_US})')
    central.take_events()
    central.exec('ble.gap_scan()')
    assert central.wait_for_event('_IRQ_SCAN_RESULT', timeout=20).data[1] == addr
    assert not [e for e in central.take_events() if e.name == '_IRQ_SCAN_DONE']
    central.exec('ble.gap_scan(None)')
    central.wait_for_event('_IRQ_SCAN_DONE')
    # addr and adv_data are memoryviews.
    assert central.eval('_types[5]') == ('int', 'memoryview', 'int', 'int', 'memoryview')
    scan_forms = ['ble.gap_scan(50)', 'ble.gap_scan(50, 30000)', f'ble.gap_scan(50, {FULL_SCAN})',
                  f'ble.gap_scan(50, {FULL_SCAN}, 1)', f'ble.gap_scan(50, {FULL_SCAN}, None)',
                  'ble.gap_scan(50, None, None, True)']
    for form in scan_forms:
        all_ok(central, [form])
        central.wait_for_event('_IRQ_SCAN_DONE', timeout=5)
    peripheral.exec('ble.gap_advertise(None)')


@pytest.mark.api(methods=['gap_connect', 'gap_disconnect'],
                 events=['_IRQ_PERIPHERAL_CONNECT', '_IRQ_PERIPHERAL_DISCONNECT'])
def test_gap_connect_every_form(central: Board, peripheral: Board) -> None:
    for board in (central, peripheral):
        prepare(board)
    for tail in ('', '2000', 'None', '2000, 0, 0', '2000, None, 50000', '2000, 30000, None',
                 'None, 0, None'):
        c_conn, p_conn = connect(central, peripheral, tail)
        assert central.eval(f'ble.gap_disconnect({c_conn})') is True
        central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
        peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')
    # Any buffer holds the address; gap_connect(None) cancels.
    advertise(peripheral)
    addr_type, addr = mac(peripheral)
    central.exec(f'ble.gap_connect({addr_type}, memoryview({addr!r}), None)')
    assert central.wait_for_event('_IRQ_PERIPHERAL_CONNECT').data[1:] == (addr_type, addr)
    assert tries(central, ['ble.gap_disconnect(0x7fff)', 'ble.gap_connect(None)',
                           f'ble.gap_connect({addr_type})']) == {
        'ble.gap_disconnect(0x7fff)': 'ok', 'ble.gap_connect(None)': 'ok',
        f'ble.gap_connect({addr_type})': 'TypeError'}
    assert central.eval('ble.gap_disconnect(0x7fff)') is False


# -- GATT server and client -------------------------------------------------------------

SERVICES = '''
_S = bluetooth.UUID
_svc = [
    (_S(0x1811), [(_S(0x2A46), 0x0002 | 0x0010 | 0x0020 | 0x0008),
                  [_S(b"\\x01\\x02\\x03\\x04"), 0x0002 | 0x0004 | 0x10000, ((_S(0x2901), 0x0002),)],
                  (_S("{uart}"), 0x0008, [])]),
    [_S(0xFEAA), ((_S(0x2A00 + 0x99), -0xFFF6),)],  # -0xFFF6 & 0xFFFF: READ | WRITE
]
_h = ble.gatts_register_services(_svc)
(_notify, _u32, _u32_desc, _uart), (_neg,) = _h
'''.replace('{uart}', UART)


@pytest.mark.api(methods=['gatts_register_services', 'gatts_read', 'gatts_write', 'gatts_notify',
                          'gatts_indicate', 'gatts_set_buffer', 'gattc_discover_services',
                          'gattc_discover_characteristics', 'gattc_discover_descriptors',
                          'gattc_read', 'gattc_write', 'gattc_exchange_mtu'],
                 events=['_IRQ_GATTC_NOTIFY', '_IRQ_GATTC_INDICATE', '_IRQ_GATTS_INDICATE_DONE',
                         '_IRQ_GATTC_SERVICE_RESULT', '_IRQ_GATTC_CHARACTERISTIC_RESULT',
                         '_IRQ_GATTC_DESCRIPTOR_RESULT', '_IRQ_GATTC_READ_RESULT',
                         '_IRQ_GATTS_WRITE', '_IRQ_MTU_EXCHANGED'])
def test_gatt_every_form_and_event_field_types(central: Board, peripheral: Board) -> None:
    for board in (central, peripheral):
        prepare(board)
        board.exec(FIELD_TYPES)
    # Services, characteristics and descriptors as lists or tuples; flags
    # beyond 16 bits, and negative ones, keep their low 16 bits.
    peripheral.exec(SERVICES)
    assert peripheral.eval('(type(_h).__name__, [type(t).__name__ for t in _h])') == \
        ('list', ['tuple', 'tuple'])
    c_conn, p_conn = connect(central, peripheral)
    handles = peripheral.eval('(_notify, _u32, _u32_desc, _uart, _neg)')
    notify_h, u32_h, _, uart_h, neg_h = handles
    # Server side: every buffer form, every send_update form.
    writes = [f'ble.gatts_write(_u32, {b})' for b in BUFFER_FORMS]
    writes += ['ble.gatts_write(_u32, b"v", False)', 'ble.gatts_write(_u32, b"v", None)',
               'ble.gatts_write(_u32, b"v", 0)', 'ble.gatts_set_buffer(_uart, 100)',
               'ble.gatts_set_buffer(_uart, 100, None)', 'ble.gatts_set_buffer(_uart, 100, 1)',
               'ble.gatts_read(_u32)']
    all_ok(peripheral, writes)
    assert peripheral.eval('ble.gatts_write(_u32, b"w")') is None  # the spec's -> None
    assert peripheral.eval('ble.gatts_read(_u32)') == b'w'
    # Client side: discovery with and without UUIDs (None too), every form.
    each_done(central, [f'ble.gattc_discover_services({c_conn})',
                        f'ble.gattc_discover_services({c_conn}, None)',
                        f'ble.gattc_discover_services({c_conn}, bluetooth.UUID(0x1811))'],
              '_IRQ_GATTC_SERVICE_DONE')
    each_done(central, [f'ble.gattc_discover_characteristics({c_conn}, 1, 0xffff)',
                        f'ble.gattc_discover_characteristics({c_conn}, 1, 0xffff, None)',
                        f'ble.gattc_discover_characteristics({c_conn}, 1, 0xffff, '
                        f'bluetooth.UUID(b"\\x01\\x02\\x03\\x04"))'],
              '_IRQ_GATTC_CHARACTERISTIC_DONE')
    each_done(central, [f'ble.gattc_discover_descriptors({c_conn}, {u32_h}, {u32_h + 1})'],
              '_IRQ_GATTC_DESCRIPTOR_DONE')
    found = central.take_events()
    services = [e.data[3] for e in found if e.name == '_IRQ_GATTC_SERVICE_RESULT']
    assert RemoteUUID(b'\x11\x18') in services and RemoteUUID(b'\xaa\xfe') in services
    chars = [e.data for e in found if e.name == '_IRQ_GATTC_CHARACTERISTIC_RESULT']
    # ATT carries a 32-bit UUID in its 128-bit form (Bluetooth base UUID).
    u32_as_128 = bytes.fromhex('fb349b5f8000008000100000') + b'\x01\x02\x03\x04'
    assert any(c[2] == u32_h and c[4] == RemoteUUID(u32_as_128) for c in chars)
    assert any(c[2] == neg_h and c[3] == 0x0a for c in chars)  # read | write
    descs = [e.data for e in found if e.name == '_IRQ_GATTC_DESCRIPTOR_RESULT']
    assert any(d[2] == RemoteUUID(b'\x01\x29') for d in descs)
    # Reads and writes with every buffer form and mode form.
    all_ok(central, [f'ble.gattc_read({c_conn}, {u32_h})'])
    assert central.wait_for_event('_IRQ_GATTC_READ_RESULT').data == (c_conn, u32_h, b'w')
    each_done(central, [f'ble.gattc_write({c_conn}, {uart_h}, {b}, 1)' for b in BUFFER_FORMS]
              + [f'ble.gattc_write({c_conn}, {uart_h}, b"t", True)'], '_IRQ_GATTC_WRITE_DONE')
    all_ok(central, [f'ble.gattc_write({c_conn}, {u32_h}, {b})' for b in BUFFER_FORMS]
           + [f'ble.gattc_write({c_conn}, {u32_h}, b"m", 0)',
              f'ble.gattc_write({c_conn}, {u32_h}, b"m", False)'])
    each_done(central, [f'ble.gattc_exchange_mtu({c_conn})'], '_IRQ_MTU_EXCHANGED')
    # The server's append buffer (set_buffer(..., 1)) got every write in order.
    assert peripheral.eval('ble.gatts_read(_uart)') == b'ab' * len(BUFFER_FORMS) + b't'
    assert peripheral.eval('ble.gatts_read(_u32)') == b'm'  # the last write without response
    # Notifications and indications: None, omitted and every buffer form.
    central.exec(f'ble.gattc_write({c_conn}, {notify_h + 1}, b"\\x03\\x00", 1)')
    central.wait_for_event('_IRQ_GATTC_WRITE_DONE')
    peripheral.exec('ble.gatts_write(_notify, b"n")')
    sends = [f'ble.gatts_notify({p_conn}, _notify)', f'ble.gatts_notify({p_conn}, _notify, None)']
    sends += [f'ble.gatts_notify({p_conn}, _notify, {b})' for b in BUFFER_FORMS]
    all_ok(peripheral, sends)
    for form in ['None', 'b"i"', '"i"', 'memoryview(b"i")']:
        all_ok(peripheral, [f'ble.gatts_indicate({p_conn}, _notify, {form})'])
        assert peripheral.wait_for_event('_IRQ_GATTS_INDICATE_DONE').data == (p_conn, notify_h, 0)
    received = central.take_events()
    assert [e.data for e in received if e.name == '_IRQ_GATTC_NOTIFY'] == \
        [(c_conn, notify_h, v) for v in [b'n', b'n'] + [b'ab'] * len(BUFFER_FORMS)]
    assert [e.data for e in received if e.name == '_IRQ_GATTC_INDICATE'] == \
        [(c_conn, notify_h, v) for v in (b'n', b'i', b'i', b'i')]
    # Fields that carry bytes are memoryviews, UUIDs bluetooth.UUID, the rest ints.
    types = central.eval('_types')
    assert types[18] == ('int', 'int', 'memoryview')  # _IRQ_GATTC_NOTIFY
    assert types[19] == ('int', 'int', 'memoryview')  # _IRQ_GATTC_INDICATE
    assert types[15] == ('int', 'int', 'memoryview')  # _IRQ_GATTC_READ_RESULT
    assert types[9] == ('int', 'int', 'int', 'UUID')  # _IRQ_GATTC_SERVICE_RESULT
    assert types[11] == ('int', 'int', 'int', 'int', 'UUID')
    assert types[13] == ('int', 'int', 'UUID')
    assert types[7] == ('int', 'int', 'memoryview')  # _IRQ_PERIPHERAL_CONNECT
    assert types[17] == ('int', 'int', 'int') and types[21] == ('int', 'int')
    p_types = peripheral.eval('_types')
    assert p_types[1] == ('int', 'int', 'memoryview') and p_types[3] == ('int', 'int')
    assert p_types[20] == ('int', 'int', 'int')
    # Unknown connection handles, in range or not: ENOTCONN, as the reference.
    assert set(tries(central, [f'ble.gattc_read(-1, {u32_h})', f'ble.gattc_read(0x10000, {u32_h})',
                               'ble.gattc_exchange_mtu(0x7ff)']).values()) == {'ENOTCONN'}


# -- L2CAP ------------------------------------------------------------------------------

@pytest.mark.api(methods=['l2cap_listen', 'l2cap_connect', 'l2cap_send', 'l2cap_recvinto',
                          'l2cap_disconnect'],
                 events=['_IRQ_L2CAP_ACCEPT', '_IRQ_L2CAP_CONNECT', '_IRQ_L2CAP_RECV',
                         '_IRQ_L2CAP_DISCONNECT'])
def test_l2cap_every_form(central: Board, peripheral: Board) -> None:
    for board in (central, peripheral):
        prepare(board)
    c_conn, p_conn = connect(central, peripheral)
    # MTUs out of range are clamped, as the reference does: 5000 -> our 1024.
    peripheral.exec('ble.l2cap_listen(0x80, 5000)')
    central.exec(f'ble.l2cap_connect({c_conn}, 0x80, 10)')
    opened = central.wait_for_event('_IRQ_L2CAP_CONNECT').data
    accepted = peripheral.wait_for_event('_IRQ_L2CAP_CONNECT').data
    assert opened[0] == c_conn and opened[3:] == (23, 1024)  # ours clamped up from 10
    assert accepted[3:] == (1024, 23)
    cid, p_cid = opened[1], accepted[1]
    for form in BUFFER_FORMS:
        assert central.eval(f'ble.l2cap_send({c_conn}, {cid}, {form})') is True
        peripheral.wait_for_event('_IRQ_L2CAP_RECV')
        assert peripheral.eval(f'ble.l2cap_recvinto({p_conn}, {p_cid}, None)') == 2
        got = peripheral.eval(f'(lambda b: (ble.l2cap_recvinto({p_conn}, {p_cid}, memoryview(b)), '
                              f'bytes(b)))(bytearray(2))')
        assert got == (2, b'ab')
    assert tries(central, [f'ble.l2cap_send({c_conn}, 0x10000, b"x")',
                           f'ble.l2cap_recvinto(-1, {cid}, None)']) == {
        f'ble.l2cap_send({c_conn}, 0x10000, b"x")': 'ENOTCONN',
        f'ble.l2cap_recvinto(-1, {cid}, None)': 'ENOTCONN'}
    central.exec(f'ble.l2cap_disconnect({c_conn}, {cid})')
    peripheral.wait_for_event('_IRQ_L2CAP_DISCONNECT')


# -- security ---------------------------------------------------------------------------

@pytest.mark.api(methods=['gap_pair', 'gap_passkey'], events=['_IRQ_PASSKEY_ACTION'])
def test_pairing_methods_every_form(central: Board, peripheral: Board) -> None:
    for board in (central, peripheral):
        prepare(board)
        board.exec('ble.config(io=2, mitm=True, le_secure=1, bond=1)')  # keyboard: both type
        board.exec(FIELD_TYPES)
    c_conn, p_conn = connect(central, peripheral)
    central.exec(f'ble.gap_pair({c_conn})')
    for board, conn in ((central, c_conn), (peripheral, p_conn)):
        action = board.wait_for_event('_IRQ_PASSKEY_ACTION').data
        assert action[:2] == (conn, 2)
        board.exec(f'ble.gap_passkey({conn}, {action[1]}, True + 123455)')  # an int subtype
    for board, conn in ((central, c_conn), (peripheral, p_conn)):
        assert board.wait_for_event('_IRQ_ENCRYPTION_UPDATE').data[:3] == (conn, 1, 1)
        # The store's events: keys and values are memoryviews (a key None
        # when the host asks for the index'th record).
        types = board.eval('_types')
        assert types[31] == ('int', 'int', 'int') and types[28] == ('int',) * 5
        assert types[29][:2] == ('int', 'int') and types[29][2] in ('memoryview', 'NoneType')
        assert types[30] == ('int', 'memoryview', 'memoryview')
    assert tries(central, ['ble.gap_pair(0x7ff)', f'ble.gap_passkey({c_conn}, 5, 0)']) == {
        'ble.gap_pair(0x7ff)': 'ENOTCONN', f'ble.gap_passkey({c_conn}, 5, 0)': 'ValueError'}


def test_every_method_is_audited() -> None:
    # Each of the API's methods is called in some test of this file.
    source = open(__file__).read()
    assert [m for m in METHODS if f'ble.{m}(' not in source] == []


def test_differences_table_rows(central: Board) -> None:
    # Each row of the README's "Differences from MicroPython's reference
    # binding" where we refuse what the reference passes on, or accept more.
    prepare(central)
    central.exec('((_h,),) = ble.gatts_register_services(((bluetooth.UUID(0x180F), '
                 '((bluetooth.UUID(0x2A19), 2),)),))')
    refused = ['ble.gatts_read(_h + 7)', 'ble.config(rxbuf=16)', 'ble.config(rxbuf=63)',
               'ble.config(io=5)', 'ble.config(addr_mode=4)', 'ble.config(mtu=22)',
               'ble.config(mtu=518)', 'ble.gap_advertise(19999)', 'ble.gap_advertise(10240625)',
               'ble.gap_advertise(100000, bytes(32))', 'ble.gap_scan(0, 10000, 20000)',
               'ble.gattc_write(0, 1, b"x", 2)', 'ble.gattc_read(0, 0)',
               'ble.gattc_discover_characteristics(0, 9, 8)', 'ble.l2cap_listen(0, 100)',
               'ble.gap_passkey(0, 5, 0)', 'ble.gap_passkey(0, 2, 1000000)',
               'ble.gap_connect(2, bytes(6))', 'bluetooth.UUID(-1)']
    assert tries(central, refused) == {call: 'ValueError' for call in refused}
    assert tries(central, ['ble.config(rxbuf=64)']) == {'ble.config(rxbuf=64)': 'ok'}
    assert central.eval('[ble.config(k) for k in ("bond", "mitm", "io", "le_secure")]') == \
        [False, False, 3, False]
    central.exec('ble.active(False)')
    all_ok(central, ['ble.config(mtu=200)', 'ble.config(addr_mode=1)'])
    central.exec('ble.active(True)')
    assert central.eval('(ble.config("mtu"), ble.config("addr_mode"), ble.config("mac")[0])') == \
        (200, 1, 1)
