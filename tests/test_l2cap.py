"""L2CAP LE credit-based channels: two boards (listen/accept/connect, SDUs
both ways read with every kind of buffer, credit flow control, refusals,
link loss, errors at the API), and a bumble peer on a spare controller (an
independent implementation on the other end, and one that breaks the
credit rules)."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from harness.board import Board
from harness.gap import advertise, connect, mac, scan_marker, up
from harness.peer import HciPeer
from l2cap_peer import L2capPeer
from tools.radio import ControllerInfo

PSM = 0x80
OTHER_PSM = 0x81
# L2CAP result codes (Core Vol 3 Part A 4.23) and the module's own statuses.
SPSM_NOT_SUPPORTED = 0x0002
NO_RESOURCES = 0x0004
INSUFFICIENT_AUTHENTICATION = 0x0005
UNACCEPTABLE_PARAMETERS = 0x000b
LE_DYNAMIC_CIDS = range(0x0040, 0x0080)
LINK_CLOSED_WHILE_CONNECTING = 0x101

# Board-side helpers: errors by name, a numbered SDU pattern, reads.
HELPERS = '''
import errno
def _e(f):
    try:
        f()
    except OSError as e:
        return errno.errorcode.get(e.errno, e.errno)
    except Exception as e:
        return type(e).__name__
    return 0
def _pat(i, n):
    return bytes([i & 0xff]) + bytes((i * 31 + j) & 0xff for j in range(n - 1))
def _recv(conn, cid, size):
    buf = bytearray(size)
    n = ble.l2cap_recvinto(conn, cid, buf)
    return bytes(buf[:n])
_rx = bytearray()
def _take(conn, cid, size):
    buf = bytearray(size)
    n = ble.l2cap_recvinto(conn, cid, buf)
    _rx.extend(buf[:n])
    return n
def _drain(conn, cid, size=128):
    buf = bytearray(size)
    total = 0
    while True:
        n = ble.l2cap_recvinto(conn, cid, buf)
        if n == 0:
            return total
        _rx.extend(buf[:n])
        total += n
_sent = 0
def _pump(conn, cid, count, size):
    global _sent
    while _sent < count:
        ok = ble.l2cap_send(conn, cid, _pat(_sent, size))
        _sent += 1
        if not ok:
            return False
    return True
'''


def pattern(i: int, n: int) -> bytes:
    """What the boards' _pat(i, n) makes: SDU number i, n bytes."""
    return bytes([i & 0xff]) + bytes((i * 31 + j) & 0xff for j in range(n - 1))


def err(board: Board, code: str) -> str | int:
    """The errno name of the OSError `code` raises on the board, the class
    name of any other exception, or 0 if it does not raise."""
    return board.eval(f'_e(lambda: {code})')


def names(board: Board) -> list[str]:
    """Names of the events recorded so far and not yet waited for."""
    return [e.name for e in board.take_events()]


def gatt_round_trip(board: Board, conn: int) -> None:
    """The board reads handle 1 of its peer (the GAP service declaration) on
    link `conn` and waits for READ_DONE. ACL goes in order both ways on a link,
    so READ_DONE comes after every event the board raised for what the peer
    sent before answering, including anything the peer had queued for the link
    before the read reached it (one ring, in order)."""
    board.exec(f'ble.gattc_read({conn}, 1)')
    done = board.wait_for_event('_IRQ_GATTC_READ_DONE', predicate=lambda e: e.data[:2] == (conn, 1))
    assert done.data[2] == 0, f'the marker read failed: {done}'  # it must have been answered


def activate(*boards: Board) -> None:
    for board in boards:
        up(board)
        board.exec(HELPERS)


@dataclasses.dataclass
class Channel:
    c_conn: int
    p_conn: int
    c_cid: int
    p_cid: int


def open_channel(central: Board, peripheral: Board, c_conn: int, p_conn: int,
                 c_mtu: int, p_mtu: int, listen: bool = True) -> Channel:
    """The peripheral listens on PSM (our MTU p_mtu; listen=False: it still
    does), the central connects (c_mtu); checks ACCEPT and CONNECT on both
    sides."""
    if listen:
        peripheral.exec(f'ble.l2cap_listen({PSM}, {p_mtu})')
    central.exec(f'ble.l2cap_connect({c_conn}, {PSM}, {c_mtu})')
    accept = peripheral.wait_for_event('_IRQ_L2CAP_ACCEPT')
    p_cid = accept.data[1]
    assert accept.data == (p_conn, p_cid, PSM, p_mtu, c_mtu)
    assert p_cid in LE_DYNAMIC_CIDS
    opened = peripheral.wait_for_event('_IRQ_L2CAP_CONNECT')
    assert opened.data == (p_conn, p_cid, PSM, p_mtu, c_mtu)
    opened = central.wait_for_event('_IRQ_L2CAP_CONNECT')
    c_cid = opened.data[1]
    assert opened.data == (c_conn, c_cid, PSM, c_mtu, p_mtu)
    assert c_cid in LE_DYNAMIC_CIDS
    return Channel(c_conn, p_conn, c_cid, p_cid)


def link_and_channel(central: Board, peripheral: Board, c_mtu: int = 300,
                     p_mtu: int = 450) -> Channel:
    activate(central, peripheral)
    c_conn, p_conn = connect(central, peripheral)
    return open_channel(central, peripheral, c_conn, p_conn, c_mtu, p_mtu)


def send(board: Board, conn: int, cid: int, data: bytes) -> None:
    """Send one SDU; if the channel stalls (the peer's credits have not come
    back yet), wait for SEND_READY."""
    if board.eval(f'ble.l2cap_send({conn}, {cid}, {data!r})') is False:
        assert board.wait_for_event('_IRQ_L2CAP_SEND_READY').data == (conn, cid, 0)


def closed_both(central: Board, peripheral: Board, ch: Channel) -> None:
    """DISCONNECT with status 0 on both sides, and the CIDs are gone."""
    assert central.wait_for_event('_IRQ_L2CAP_DISCONNECT').data == (ch.c_conn, ch.c_cid, PSM, 0)
    assert peripheral.wait_for_event('_IRQ_L2CAP_DISCONNECT').data == (ch.p_conn, ch.p_cid, PSM, 0)
    assert err(central, f'ble.l2cap_send({ch.c_conn}, {ch.c_cid}, b"x")') == 'ENOTCONN'
    assert err(peripheral, f'ble.l2cap_recvinto({ch.p_conn}, {ch.p_cid}, None)') == 'ENOTCONN'


ALL_METHODS = ['l2cap_listen', 'l2cap_connect', 'l2cap_disconnect', 'l2cap_send',
               'l2cap_recvinto']


# -- board to board ------------------------------------------------------------------
@pytest.mark.api(methods=ALL_METHODS,
                 events=['_IRQ_L2CAP_ACCEPT', '_IRQ_L2CAP_CONNECT', '_IRQ_L2CAP_RECV',
                         '_IRQ_L2CAP_DISCONNECT'])
def test_channel_sdus_both_ways_and_disconnect(central: Board, peripheral: Board) -> None:
    ch = link_and_channel(central, peripheral, c_mtu=300, p_mtu=450)
    ends = ((central, ch.c_conn, ch.c_cid, peripheral, ch.p_conn, ch.p_cid),
            (peripheral, ch.p_conn, ch.p_cid, central, ch.c_conn, ch.c_cid))
    for round_, (tx, t_conn, t_cid, rx, r_conn, r_cid) in enumerate(ends):
        for k, size in enumerate((1, 100, 300)):
            data = pattern(round_ * 3 + k, size)
            if k == 0:
                # The first SDU each way goes at once on the initial credits.
                assert tx.eval(f'ble.l2cap_send({t_conn}, {t_cid}, {data!r})') is True
            else:
                send(tx, t_conn, t_cid, data)
            assert rx.wait_for_event('_IRQ_L2CAP_RECV').data == (r_conn, r_cid)
            assert rx.eval(f'ble.l2cap_recvinto({r_conn}, {r_cid}, None)') == size
            if size == 100:
                # Two reads through a buffer smaller than the SDU; the second
                # into a memoryview in the middle of a bytearray.
                assert rx.eval(f'_recv({r_conn}, {r_cid}, 60)') == data[:60]
                assert rx.eval(f'ble.l2cap_recvinto({r_conn}, {r_cid}, None)') == 40
                rx.exec(f'b = bytearray(b"\\xee" * 80)\n'
                        f'n = ble.l2cap_recvinto({r_conn}, {r_cid}, memoryview(b)[10:70])')
                assert rx.eval('n') == 40
                assert rx.eval('bytes(b)') == b'\xee' * 10 + data[60:] + b'\xee' * 30
            else:
                assert rx.eval(f'_recv({r_conn}, {r_cid}, {size})') == data
            assert rx.eval(f'ble.l2cap_recvinto({r_conn}, {r_cid}, None)') == 0
            assert rx.eval(f'_recv({r_conn}, {r_cid}, 16)') == b''
    # The central closes: both sides see status 0, nothing else happened.
    assert central.eval(f'ble.l2cap_disconnect({ch.c_conn}, {ch.c_cid})') is None
    closed_both(central, peripheral, ch)
    # Round trips both ways: each board has then handled all the other sent.
    gatt_round_trip(central, ch.c_conn)
    gatt_round_trip(peripheral, ch.p_conn)
    assert not [n for n in names(central) + names(peripheral) if 'L2CAP' in n]


@pytest.mark.api(methods=['l2cap_send', 'l2cap_recvinto', 'l2cap_disconnect'],
                 events=['_IRQ_L2CAP_SEND_READY', '_IRQ_L2CAP_RECV', '_IRQ_L2CAP_DISCONNECT'])
def test_flow_control_stalls_until_everything_read(central: Board, peripheral: Board) -> None:
    count, size = 20, 200  # SDUs of the peer's (the peripheral's) MTU
    ch = link_and_channel(central, peripheral, c_mtu=150, p_mtu=size)
    c, cc, p, pc = ch.c_conn, ch.c_cid, ch.p_conn, ch.p_cid
    received = 0
    stalls = 0
    while not central.eval(f'_pump({c}, {cc}, {count}, {size})'):
        stalls += 1
        # The peripheral holds what its credits allowed; nothing more comes
        # and the sender stays stalled until all of it is read.
        assert peripheral.wait_for_event('_IRQ_L2CAP_RECV').data == (p, pc)
        if stalls == 1:
            assert err(central, f'ble.l2cap_send({c}, {cc}, b"x")') == 'EAGAIN'
            # The peripheral's read is answered after any K-frame the central
            # had sent; the central's after any credits the peripheral had sent.
            gatt_round_trip(peripheral, p)
            gatt_round_trip(central, c)
            assert peripheral.eval(f'ble.l2cap_recvinto({p}, {pc}, None)') == size
            assert '_IRQ_L2CAP_SEND_READY' not in names(central)
            assert peripheral.eval(f'_take({p}, {pc}, 50)') == 50  # part of it
            received += 50
            # Answered after any credits that partial read made the peripheral send.
            gatt_round_trip(central, c)
            assert '_IRQ_L2CAP_SEND_READY' not in names(central)
            assert peripheral.eval(f'ble.l2cap_recvinto({p}, {pc}, None)') == size - 50
        else:
            # Answered after any credits the peripheral had sent.
            gatt_round_trip(central, c)
            assert '_IRQ_L2CAP_SEND_READY' not in names(central)
        read = peripheral.eval(f'_drain({p}, {pc})')
        assert 0 < read <= size
        received += read
        assert central.wait_for_event('_IRQ_L2CAP_SEND_READY').data == (c, cc, 0)
    assert stalls >= 1, 'l2cap_send never returned False'
    deadline = time.monotonic() + 10
    while received < count * size:
        received += peripheral.eval(f'_drain({p}, {pc})')
        if received < count * size:
            left = max(0.1, deadline - time.monotonic())
            peripheral.wait_for_event('_IRQ_L2CAP_RECV', timeout=left)
    assert received == count * size
    assert peripheral.eval('bytes(_rx)') == b''.join(pattern(i, size) for i in range(count))
    # The peripheral (the listener) closes this time.
    peripheral.exec(f'ble.l2cap_disconnect({p}, {pc})')
    closed_both(central, peripheral, ch)


@pytest.mark.api(methods=['l2cap_listen', 'l2cap_connect'],
                 events=['_IRQ_L2CAP_ACCEPT', '_IRQ_L2CAP_DISCONNECT', '_IRQ_L2CAP_CONNECT'])
def test_refused_by_accept_handler_and_unknown_psm(central: Board, peripheral: Board) -> None:
    activate(central, peripheral)
    c_conn, p_conn = connect(central, peripheral)
    peripheral.exec(f'ble.l2cap_listen({PSM}, 450)')
    # The handler's code goes to the connector as it is (0x0002-0x000b) ...
    for reply, status in ((NO_RESOURCES, NO_RESOURCES),
                          (INSUFFICIENT_AUTHENTICATION, INSUFFICIENT_AUTHENTICATION),
                          (UNACCEPTABLE_PARAMETERS, UNACCEPTABLE_PARAMETERS),
                          (0x1234, NO_RESOURCES),  # ... anything else as "no resources"
                          ('no', NO_RESOURCES)):
        peripheral.reply('_IRQ_L2CAP_ACCEPT', reply)
        central.exec(f'ble.l2cap_connect({c_conn}, {PSM}, 300)')
        accept = peripheral.wait_for_event('_IRQ_L2CAP_ACCEPT')
        assert accept.data[0] == p_conn and accept.data[2:] == (PSM, 450, 300)
        failed = central.wait_for_event('_IRQ_L2CAP_DISCONNECT')
        assert failed.data[0] == c_conn and failed.data[2:] == (PSM, status), failed
        # Round trips both ways: each board has then handled all the other sent.
        gatt_round_trip(central, c_conn)
        gatt_round_trip(peripheral, p_conn)
        assert not [n for n in names(central) if 'L2CAP' in n]
        assert not [n for n in names(peripheral) if 'L2CAP' in n]
    # Accepting again (None) opens the channel: the refusals left nothing behind.
    peripheral.reply('_IRQ_L2CAP_ACCEPT', None)
    ch = open_channel(central, peripheral, c_conn, p_conn, 300, 450)
    send(central, ch.c_conn, ch.c_cid, b'after refusals')
    assert peripheral.wait_for_event('_IRQ_L2CAP_RECV').data == (ch.p_conn, ch.p_cid)
    assert peripheral.eval(f'_recv({ch.p_conn}, {ch.p_cid}, 64)') == b'after refusals'
    central.exec(f'ble.l2cap_disconnect({ch.c_conn}, {ch.c_cid})')
    closed_both(central, peripheral, ch)
    # A PSM nobody listens on: SPSM not supported, and no ACCEPT.
    central.exec(f'ble.l2cap_connect({c_conn}, {OTHER_PSM}, 300)')
    failed = central.wait_for_event('_IRQ_L2CAP_DISCONNECT')
    assert failed.data[0] == c_conn and failed.data[2:] == (OTHER_PSM, SPSM_NOT_SUPPORTED), failed
    # Round trips both ways: each board has then handled all the other sent.
    gatt_round_trip(central, c_conn)
    gatt_round_trip(peripheral, p_conn)
    assert not [n for n in names(central) + names(peripheral) if 'L2CAP' in n]


@pytest.mark.api(methods=ALL_METHODS, events=['_IRQ_L2CAP_CONNECT', '_IRQ_L2CAP_DISCONNECT'])
def test_api_errors(central: Board, peripheral: Board) -> None:
    activate(central, peripheral)
    c_conn, p_conn = connect(central, peripheral)
    # Bad psm: ValueError, on both methods that take it (an MTU out of range
    # is clamped, as by the reference binding: test_reference_compat).
    for psm, mtu in ((0, 100), (0x100, 100), (-1, 100)):
        assert err(peripheral, f'ble.l2cap_listen({psm}, {mtu})') == 'ValueError', (psm, mtu)
        assert err(central, f'ble.l2cap_connect({c_conn}, {psm}, {mtu})') == 'ValueError', \
            (psm, mtu)
    assert err(central, f'ble.l2cap_connect({c_conn}, "x", 100)') == 'TypeError'
    # A handle with no link.
    assert err(central, f'ble.l2cap_connect({c_conn + 1}, {PSM}, 100)') == 'ENOTCONN'
    # Nothing is open yet: every channel call is ENOTCONN.
    for call in (f'ble.l2cap_send({c_conn}, 0x40, b"x")',
                 f'ble.l2cap_recvinto({c_conn}, 0x40, None)',
                 f'ble.l2cap_disconnect({c_conn}, 0x40)'):
        assert err(central, call) == 'ENOTCONN', call
    # Listening forbids connecting (one channel at a time).
    peripheral.exec(f'ble.l2cap_listen({PSM}, 450)')
    assert err(peripheral, f'ble.l2cap_connect({p_conn}, {PSM}, 100)') == 'EALREADY'
    ch = open_channel(central, peripheral, c_conn, p_conn, c_mtu=100, p_mtu=450)
    c, cc, p, pc = ch.c_conn, ch.c_cid, ch.p_conn, ch.p_cid
    # A channel is open: a second connect, and listening again, are refused.
    assert err(central, f'ble.l2cap_connect({c}, {PSM}, 100)') == 'EALREADY'
    assert err(peripheral, f'ble.l2cap_listen({PSM}, 450)') == 'EALREADY'
    # SDU limits: the peer's MTU, and twice ours.
    assert err(peripheral, f'ble.l2cap_send({p}, {pc}, bytes(101))') == 'ValueError'
    assert err(central, f'ble.l2cap_send({c}, {cc}, bytes(451))') == 'ValueError'
    assert err(central, f'ble.l2cap_send({c}, {cc}, bytes(201))') == 'ValueError'  # 2 * 100
    assert central.eval(f'ble.l2cap_send({c}, {cc}, _pat(7, 200))') is True
    assert peripheral.wait_for_event('_IRQ_L2CAP_RECV').data == (p, pc)
    assert peripheral.eval(f'_recv({p}, {pc}, 256)') == pattern(7, 200)
    assert not [n for n in names(peripheral) if n == '_IRQ_L2CAP_RECV']  # the refused SDUs
    # Buffers of the wrong kind.
    assert err(central, f'ble.l2cap_send({c}, {cc}, 5)') == 'TypeError'
    assert err(central, f'ble.l2cap_recvinto({c}, {cc}, b"read-only")') == 'TypeError'
    # Unknown CIDs and handles, and out-of-range ones.
    for conn, cid in ((c, cc + 1), (c + 1, cc)):
        for call in (f'ble.l2cap_send({conn}, {cid}, b"x")',
                     f'ble.l2cap_recvinto({conn}, {cid}, bytearray(4))',
                     f'ble.l2cap_recvinto({conn}, {cid}, None)',
                     f'ble.l2cap_disconnect({conn}, {cid})'):
            assert err(central, call) == 'ENOTCONN', call
    assert err(central, f'ble.l2cap_send({c}, 0x10000, b"x")') == 'ENOTCONN'
    assert err(central, f'ble.l2cap_recvinto(-1, {cc}, None)') == 'ENOTCONN'
    # Closing twice: the second call while the first is under way.
    central.exec(f'ble.l2cap_disconnect({c}, {cc})\n'
                 f'r = _e(lambda: ble.l2cap_disconnect({c}, {cc}))')
    assert central.eval('r') == 'EALREADY'
    closed_both(central, peripheral, ch)
    assert err(central, f'ble.l2cap_disconnect({c}, {cc})') == 'ENOTCONN'
    # Inactive: EPERM from all five, with arguments that are otherwise fine.
    central.exec('ble.active(False)')
    for call in (f'ble.l2cap_listen({PSM}, 100)', f'ble.l2cap_connect({c}, {PSM}, 100)',
                 f'ble.l2cap_disconnect({c}, {cc})', f'ble.l2cap_send({c}, {cc}, b"x")',
                 f'ble.l2cap_recvinto({c}, {cc}, bytearray(4))',
                 f'ble.l2cap_recvinto({c}, {cc}, None)'):
        assert err(central, call) == 'EPERM', call


# Board-side heap churn: garbage made and collected, then live filler
# objects with a known content, likely placed where freed blocks were (a
# channel buffer the GC freed, or one the host still wrote after giving it
# back, would show as a changed filler or a changed SDU).
HEAP_HELPERS = '''
import gc
_fill = []
def _churn(rounds=8):
    for r in range(rounds):
        junk = [bytearray(64 + (k * 37) % 700) for k in range(120)]
        junk = None
        gc.collect()
    for i in range(300):
        _fill.append(bytearray(bytes([(len(_fill) * 7 + 1) & 0xff]) * 48))
def _fill_ok():
    return all(b == bytes([(i * 7 + 1) & 0xff]) * 48 for i, b in enumerate(_fill))
'''


def sdus_both_ways(central: Board, peripheral: Board, ch: Channel, size: int,
                   first: int, count: int = 2) -> None:
    """count SDUs of size bytes each way, each read whole and compared."""
    ends = ((central, ch.c_conn, ch.c_cid, peripheral, ch.p_conn, ch.p_cid),
            (peripheral, ch.p_conn, ch.p_cid, central, ch.c_conn, ch.c_cid))
    for tx, t_conn, t_cid, rx, r_conn, r_cid in ends:
        for i in range(first, first + count):
            send(tx, t_conn, t_cid, pattern(i, size))
            assert rx.wait_for_event('_IRQ_L2CAP_RECV').data == (r_conn, r_cid)
            assert rx.eval(f'ble.l2cap_recvinto({r_conn}, {r_cid}, None)') == size
            assert rx.eval(f'_recv({r_conn}, {r_cid}, {size}) == _pat({i}, {size})') is True


@pytest.mark.api(methods=['l2cap_listen', 'l2cap_connect', 'l2cap_send', 'l2cap_recvinto'],
                 events=['_IRQ_L2CAP_RECV'])
def test_mtu_1024_channel_survives_heavy_gc(central: Board, peripheral: Board) -> None:
    """A channel's buffers live on the MicroPython heap (sized by the MTU):
    kept alive while the channel is, whatever the application allocates
    and collects, with SDUs of 1024 bytes both ways."""
    ch = link_and_channel(central, peripheral, c_mtu=1024, p_mtu=1024)
    for board in (central, peripheral):
        board.exec(HEAP_HELPERS)
        board.exec('_churn()', timeout=60)
    sdus_both_ways(central, peripheral, ch, 1024, 0)
    # An SDU received, the heap churned before it is read: still whole.
    send(central, ch.c_conn, ch.c_cid, pattern(7, 1024))
    assert peripheral.wait_for_event('_IRQ_L2CAP_RECV').data == (ch.p_conn, ch.p_cid)
    for board in (central, peripheral):
        board.exec('_churn()', timeout=60)
    assert peripheral.eval(f'_recv({ch.p_conn}, {ch.p_cid}, 1024) == _pat(7, 1024)') is True
    sdus_both_ways(central, peripheral, ch, 1024, 10)
    for board in (central, peripheral):
        assert board.eval('_fill_ok()') is True


@pytest.mark.api(methods=['l2cap_listen', 'l2cap_connect', 'l2cap_disconnect', 'active'],
                 events=['_IRQ_L2CAP_DISCONNECT'])
def test_channel_storage_given_back(central: Board, peripheral: Board) -> None:
    """The storage of a replaced listen, of a closed channel and of
    everything at deactivation goes back to the heap (gc.mem_free() sees it)
    and is never written again: filler objects placed in the freed blocks
    stay intact while new channels carry data."""
    activate(central, peripheral)
    for board in (central, peripheral):
        board.exec(HEAP_HELPERS)
    c_conn, p_conn = connect(central, peripheral)
    free = 'gc.collect() or gc.mem_free()'
    before = peripheral.eval(free)
    peripheral.exec(f'ble.l2cap_listen({PSM}, 1024)')
    held = before - peripheral.eval(free)
    assert 4617 <= held < 4617 + 256  # BH_COC_STORAGE_SIZE(1024), its header, GC blocks
    # A new listen gives the old storage back; fillers take its place.
    peripheral.exec(f'ble.l2cap_listen({PSM}, 512)')
    assert before - peripheral.eval(free) < held
    peripheral.exec('_churn(2)', timeout=60)
    ch = open_channel(central, peripheral, c_conn, p_conn, c_mtu=1024, p_mtu=512, listen=False)
    sdus_both_ways(central, peripheral, ch, 512, 0)
    assert peripheral.eval('_fill_ok()') is True
    # The central's channel closes: its storage goes back, the peripheral
    # keeps listening on its own.
    c_before = central.eval(free)
    assert central.eval(f'ble.l2cap_disconnect({ch.c_conn}, {ch.c_cid})') is None
    closed_both(central, peripheral, ch)
    assert central.eval(free) - c_before > 4096  # its 4617 bytes (less what the checks made)
    central.exec('_churn(2)', timeout=60)
    ch = open_channel(central, peripheral, c_conn, p_conn, c_mtu=1024, p_mtu=512, listen=False)
    sdus_both_ways(central, peripheral, ch, 512, 10)
    assert central.eval('_fill_ok()') is True
    # Deactivation with a channel open (and the peripheral listening): all
    # storage goes back on both boards.
    c_before, p_before = central.eval(free), peripheral.eval(free)
    for board in (central, peripheral):
        board.exec('ble.active(False)')
    assert central.wait_for_event('_IRQ_L2CAP_DISCONNECT').data == (ch.c_conn, ch.c_cid, PSM, 0)
    assert peripheral.wait_for_event('_IRQ_L2CAP_DISCONNECT').data == (ch.p_conn, ch.p_cid, PSM, 0)
    assert central.eval(free) - c_before > 4096  # the channel's 4617 bytes
    assert peripheral.eval(free) - p_before > 2048  # the listen's 2566 bytes (MTU 512)
    for board in (central, peripheral):
        board.exec('_churn(2)', timeout=60)
        board.exec('ble.active(True)', timeout=20)
    c_conn, p_conn = connect(central, peripheral)
    ch = open_channel(central, peripheral, c_conn, p_conn, c_mtu=1024, p_mtu=1024)
    sdus_both_ways(central, peripheral, ch, 1024, 20)
    for board in (central, peripheral):
        assert board.eval('_fill_ok()') is True


@pytest.mark.api(methods=['l2cap_listen', 'l2cap_connect', 'l2cap_send', 'l2cap_recvinto',
                          'gap_disconnect'],
                 events=['_IRQ_L2CAP_DISCONNECT', '_IRQ_L2CAP_CONNECT',
                         '_IRQ_PERIPHERAL_DISCONNECT', '_IRQ_CENTRAL_DISCONNECT'])
def test_link_loss_closes_channel_then_new_link_works(central: Board, peripheral: Board) -> None:
    ch = link_and_channel(central, peripheral, c_mtu=300, p_mtu=450)
    # Data left unread on the peripheral when the link goes.
    send(central, ch.c_conn, ch.c_cid, pattern(1, 300))
    assert peripheral.wait_for_event('_IRQ_L2CAP_RECV').data == (ch.p_conn, ch.p_cid)
    assert central.eval(f'ble.gap_disconnect({ch.c_conn})') is True
    assert central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT').data[0] == ch.c_conn
    assert peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT').data[0] == ch.p_conn
    closed_both(central, peripheral, ch)
    # A new link; the peripheral still listens on the same PSM and MTU.
    c_conn, p_conn = connect(central, peripheral)
    new = open_channel(central, peripheral, c_conn, p_conn, 200, 450, listen=False)
    # Nothing of the old channel is left to read; data flows both ways.
    assert peripheral.eval(f'ble.l2cap_recvinto({p_conn}, {new.p_cid}, None)') == 0
    for tx, t_conn, t_cid, rx, r_conn, r_cid, data in (
            (central, c_conn, new.c_cid, peripheral, p_conn, new.p_cid, pattern(2, 400)),
            (peripheral, p_conn, new.p_cid, central, c_conn, new.c_cid, pattern(3, 200))):
        send(tx, t_conn, t_cid, data)
        assert rx.wait_for_event('_IRQ_L2CAP_RECV').data == (r_conn, r_cid)
        assert rx.eval(f'_recv({r_conn}, {r_cid}, 512)') == data
    # The link goes from the peripheral's side this time.
    assert peripheral.eval(f'ble.gap_disconnect({p_conn})') is True
    closed_both(central, peripheral, new)


@pytest.mark.api(methods=['l2cap_connect'], events=['_IRQ_L2CAP_DISCONNECT'])
def test_link_closed_while_connecting(peripheral: Board, hci_peers: list[HciPeer]) -> None:
    # A raw HCI peer answers nothing above HCI: the request stays pending.
    activate(peripheral)
    advertise(peripheral)
    peer = hci_peers[0]
    peer.connect(*mac(peripheral))
    handle = peer.connection_complete().connection_handle
    conn = peripheral.wait_for_event('_IRQ_CENTRAL_CONNECT').data[0]
    peripheral.exec(f'ble.l2cap_connect({conn}, {PSM}, 100)')
    assert err(peripheral, f'ble.l2cap_connect({conn}, {PSM}, 100)') == 'EALREADY'
    # The peer answers nothing above HCI: a local scan's SCAN_DONE comes after
    # any L2CAP event the board raised for the pending request (one ring, in order).
    scan_marker(peripheral)
    assert not [n for n in names(peripheral) if 'L2CAP' in n]
    peer.disconnect(handle)
    failed = peripheral.wait_for_event('_IRQ_L2CAP_DISCONNECT')
    assert failed.data[0] == conn and failed.data[2:] == (PSM, LINK_CLOSED_WHILE_CONNECTING), failed
    assert peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT').data[0] == conn
    assert not [n for n in names(peripheral) if n == '_IRQ_L2CAP_CONNECT']


# -- against bumble ----------------------------------------------------------------------
@pytest.fixture
def l2cap_peer(spare_controller: ControllerInfo) -> Iterator[L2capPeer]:
    peer = L2capPeer(spare_controller)
    try:
        yield peer
    finally:
        peer.close()


def peer_link(board: Board, peer: L2capPeer) -> int:
    """Activate the board; the bumble peer connects to it. Returns the
    board's connection handle."""
    activate(board)
    advertise(board)
    addr_type, addr = mac(board)
    peer.connect(addr, addr_type)
    return board.wait_for_event('_IRQ_CENTRAL_CONNECT').data[0]


def bumble_channel(board: Board, peer: L2capPeer, conn: int, mtu: int, mps: int,
                   credits: int, board_mtu: int) -> int:
    """bumble opens a channel on the listening board; returns the board's CID."""
    channel = peer.open_channel(PSM, mtu, mps, credits)
    accept = board.wait_for_event('_IRQ_L2CAP_ACCEPT')
    cid = accept.data[1]
    assert accept.data == (conn, cid, PSM, board_mtu, mtu)
    assert board.wait_for_event('_IRQ_L2CAP_CONNECT').data == (conn, cid, PSM, board_mtu, mtu)
    assert channel.destination_cid == cid and channel.peer_mtu == board_mtu
    return cid


@pytest.mark.api(methods=['l2cap_listen', 'l2cap_send', 'l2cap_recvinto'],
                 events=['_IRQ_L2CAP_ACCEPT', '_IRQ_L2CAP_CONNECT', '_IRQ_L2CAP_RECV',
                         '_IRQ_L2CAP_SEND_READY', '_IRQ_L2CAP_DISCONNECT'])
def test_bumble_connects_to_listening_board(peripheral: Board, l2cap_peer: L2capPeer) -> None:
    board, peer = peripheral, l2cap_peer
    conn = peer_link(board, peer)
    # Our MTU 1000 takes two K-frames per SDU (our MPS is at most 517);
    # bumble's MPS 64 and 4 credits make the board segment and wait.
    board.exec(f'ble.l2cap_listen({PSM}, 1000)')
    cid = bumble_channel(board, peer, conn, mtu=256, mps=64, credits=4, board_mtu=1000)
    # bumble -> board: a full-MTU SDU, reassembled; a second SDU waits for
    # the credits the board grants only when the first has been read.
    first, second = pattern(1, 1000), pattern(2, 10)
    peer.write(first)
    peer.write(second)
    assert board.wait_for_event('_IRQ_L2CAP_RECV').data == (conn, cid)
    # bumble answers the board's read after any K-frame its credits let it send.
    gatt_round_trip(board, conn)
    assert board.eval(f'ble.l2cap_recvinto({conn}, {cid}, None)') == 1000
    assert board.eval(f'_recv({conn}, {cid}, 1024)') == first
    assert board.wait_for_event('_IRQ_L2CAP_RECV').data == (conn, cid)
    assert board.eval(f'_recv({conn}, {cid}, 1024)') == second
    # board -> bumble: 256 bytes are 5 frames of bumble's MPS, it gave 4
    # credits: the send stalls until bumble's credits come back.
    assert board.eval(f'ble.l2cap_send({conn}, {cid}, _pat(3, 256))') is False
    assert board.wait_for_event('_IRQ_L2CAP_SEND_READY').data == (conn, cid, 0)
    assert peer.recv() == pattern(3, 256)
    send(board, conn, cid, b'!')
    assert peer.recv() == b'!'
    assert err(board, f'ble.l2cap_send({conn}, {cid}, bytes(257))') == 'ValueError'
    # bumble closes the channel.
    peer.close_channel()
    assert board.wait_for_event('_IRQ_L2CAP_DISCONNECT').data == (conn, cid, PSM, 0)
    assert err(board, f'ble.l2cap_recvinto({conn}, {cid}, None)') == 'ENOTCONN'


@pytest.mark.api(methods=['l2cap_connect', 'l2cap_send', 'l2cap_recvinto', 'l2cap_disconnect'],
                 events=['_IRQ_L2CAP_CONNECT', '_IRQ_L2CAP_RECV', '_IRQ_L2CAP_SEND_READY',
                         '_IRQ_L2CAP_DISCONNECT'])
def test_board_connects_to_bumble_server(peripheral: Board, l2cap_peer: L2capPeer) -> None:
    board, peer = peripheral, l2cap_peer
    conn = peer_link(board, peer)
    peer.serve(0x90, mtu=120, mps=30, credits=3)
    # A PSM bumble does not serve: its refusal comes back as the status.
    board.exec(f'ble.l2cap_connect({conn}, 0x91, 200)')
    failed = board.wait_for_event('_IRQ_L2CAP_DISCONNECT')
    assert failed.data[0] == conn and failed.data[2:] == (0x91, SPSM_NOT_SUPPORTED), failed
    board.exec(f'ble.l2cap_connect({conn}, 0x90, 200)')
    opened = board.wait_for_event('_IRQ_L2CAP_CONNECT')
    cid = opened.data[1]
    assert opened.data == (conn, cid, 0x90, 200, 120)
    channel = peer.accepted.get(timeout=5)
    assert channel.destination_cid == cid and channel.peer_mtu == 200
    # 120 bytes are 5 frames of bumble's MPS 30; 3 credits: stalled, then ready.
    assert board.eval(f'ble.l2cap_send({conn}, {cid}, _pat(4, 120))') is False
    assert board.wait_for_event('_IRQ_L2CAP_SEND_READY').data == (conn, cid, 0)
    assert peer.recv() == pattern(4, 120)
    for i in range(5):  # a few more, each as soon as the last has gone
        send(board, conn, cid, pattern(10 + i, 50 + i))
    assert [peer.recv() for _ in range(5)] == [pattern(10 + i, 50 + i) for i in range(5)]
    # bumble -> board: our full MTU.
    peer.write(pattern(5, 200))
    assert board.wait_for_event('_IRQ_L2CAP_RECV').data == (conn, cid)
    assert board.eval(f'_recv({conn}, {cid}, 256)') == pattern(5, 200)
    # The board closes; bumble sees the channel go.
    board.exec(f'ble.l2cap_disconnect({conn}, {cid})')
    assert board.wait_for_event('_IRQ_L2CAP_DISCONNECT').data == (conn, cid, 0x90, 0)
    assert peer.wait_closed() == channel.source_cid


@pytest.mark.api(methods=['l2cap_listen', 'l2cap_recvinto', 'l2cap_send'],
                 events=['_IRQ_L2CAP_DISCONNECT', '_IRQ_L2CAP_RECV'])
def test_peer_breaking_credit_rules_is_disconnected(peripheral: Board,
                                                     l2cap_peer: L2capPeer) -> None:
    board, peer = peripheral, l2cap_peer
    conn = peer_link(board, peer)
    # MTU 100: the board's MPS is 102 and it grants 1 credit (one SDU).
    board.exec(f'ble.l2cap_listen({PSM}, 100)')

    def sdu_frame(sdu_len: int, data: bytes) -> bytes:
        return sdu_len.to_bytes(2, 'little') + data

    # (what the peer sends first, legally or not, the frame that breaks a rule)
    cases = (
        ('a K-frame with no credit left', [sdu_frame(10, bytes(range(10)))],
         sdu_frame(5, b'extra')),
        ('an SDU longer than our MTU', [], sdu_frame(101, bytes(50))),
        ('a K-frame longer than our MPS', [], sdu_frame(100, bytes(101))),
    )
    for what, legal, bad in cases:
        cid = bumble_channel(board, peer, conn, mtu=100, mps=100, credits=5, board_mtu=100)
        for frame in legal:
            peer.raw_frame(frame)
            assert board.wait_for_event('_IRQ_L2CAP_RECV').data == (conn, cid), what
        peer.raw_frame(bad)
        assert board.wait_for_event('_IRQ_L2CAP_DISCONNECT').data == (conn, cid, PSM, 0), what
        assert peer.wait_closed() == peer.channel.source_cid, what
        assert '_IRQ_L2CAP_RECV' not in names(board), what
        assert err(board, f'ble.l2cap_recvinto({conn}, {cid}, None)') == 'ENOTCONN', what
    # The board is still usable: a well-behaved channel on the same link.
    cid = bumble_channel(board, peer, conn, mtu=100, mps=100, credits=5, board_mtu=100)
    peer.write(pattern(6, 100))
    assert board.wait_for_event('_IRQ_L2CAP_RECV').data == (conn, cid)
    assert board.eval(f'_recv({conn}, {cid}, 128)') == pattern(6, 100)
    send(board, conn, cid, pattern(7, 100))
    assert peer.recv() == pattern(7, 100)
