"""What users rely on: a raising handler does not stop later events, a board
blocked in stdin.readline() or time.sleep() still connects and gets its
events, soft reset while connected leaves both boards usable, gap_name."""
from __future__ import annotations

import time

import pytest

from harness.board import Board
from harness.gap import FULL_SCAN, advertise, connect, listen_only_to, mac, up


@pytest.mark.api(methods=['irq', 'gap_scan', 'gap_connect'],
                 events=['_IRQ_SCAN_RESULT', '_IRQ_SCAN_DONE', '_IRQ_PERIPHERAL_CONNECT'])
def test_raising_handler_prints_traceback_and_later_events_still_come(
        central: Board, peripheral: Board) -> None:
    up(central)
    up(peripheral)
    advertise(peripheral, b'\x02\x01\x06')
    listen_only_to(central, mac(peripheral)[1])
    central.exec('''
def _raising(event, data):
    _mpbt_rec.irq(event, data)
    if event in (5, 7):
        raise ValueError('handler failed on purpose %d' % event)
ble.irq(_raising)
''')
    out = central.exec(f'ble.gap_scan(500, {FULL_SCAN})\ntime.sleep_ms(1500)')
    assert 'handler failed on purpose 5' in out and 'Traceback' in out, out
    central.wait_for_event('_IRQ_SCAN_DONE', timeout=5)
    results = [e for e in central.events if e.code == 5]
    assert len(results) >= 3, 'results stopped after the handler raised'
    # Still delivering, for another kind of event too.
    out = central.exec(f'ble.gap_connect(*{mac(peripheral)!r})\ntime.sleep_ms(1500)')
    assert 'handler failed on purpose 7' in out, out
    central.wait_for_event('_IRQ_PERIPHERAL_CONNECT')


TIMED_HANDLER = '''
_times = []
def _timed(event, data):
    _times.append((event, time.ticks_ms()))
    _mpbt_rec.irq(event, data)
ble.irq(_timed)
'''


@pytest.mark.api(methods=['gap_advertise', 'irq'], events=['_IRQ_CENTRAL_CONNECT'])
@pytest.mark.parametrize('blocker', ['readline', 'sleep'])
def test_board_blocked_in_readline_or_sleep_still_connects(
        central: Board, peripheral: Board, blocker: str) -> None:
    up(central)
    up(peripheral)
    advertise(peripheral, b'\x02\x01\x06')
    peripheral.exec(TIMED_HANDLER)
    address = mac(peripheral)  # before it blocks: the board answers nothing while blocked
    if blocker == 'readline':
        block = 'import sys\n_t0 = time.ticks_ms()\nprint("blocking")\n_line = sys.stdin.readline()\n'
    else:
        block = '_t0 = time.ticks_ms()\nprint("blocking")\ntime.sleep(4)\n'
    peripheral.start(block + '_t1 = time.ticks_ms()\nprint("unblocked")')
    peripheral.wait_for_output('blocking')
    central.exec(f'ble.gap_connect(*{address!r})')
    central.wait_for_event('_IRQ_PERIPHERAL_CONNECT')
    time.sleep(1.0)  # the peripheral is still blocked here
    if blocker == 'readline':
        peripheral.transport.serial.write(b'go on\n')
    assert 'unblocked' in peripheral.join(timeout=15)
    t0, t1 = peripheral.eval('(_t0, _t1)')
    times = peripheral.eval('_times')
    connected = [t for event, t in times if event == 1]
    assert connected, f'no CENTRAL_CONNECT handler call: {times}'
    # The handler ran while the main code was still blocked (>= 0.5 s before it returned).
    assert t0 <= connected[0] <= t1 - 500, (t0, connected[0], t1)
    if blocker == 'readline':
        assert peripheral.eval('_line') == 'go on\n'


@pytest.mark.api(methods=['gap_connect', 'gap_advertise', 'active'],
                 events=['_IRQ_PERIPHERAL_DISCONNECT', '_IRQ_CENTRAL_DISCONNECT',
                         '_IRQ_PERIPHERAL_CONNECT', '_IRQ_CENTRAL_CONNECT'])
@pytest.mark.parametrize('who', ['peripheral', 'central'])
def test_soft_reset_while_connected_leaves_both_usable(
        central: Board, peripheral: Board, who: str) -> None:
    up(central)
    up(peripheral)
    c_handle, p_handle = connect(central, peripheral)
    if who == 'peripheral':
        peripheral.soft_reset()
        gone = central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT', timeout=10)
        assert gone.data[0] == c_handle
        assert central.eval(f'ble.gap_disconnect({c_handle})') is False
    else:
        central.soft_reset()
        left = peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT', timeout=10)
        assert left.data[0] == p_handle
        assert peripheral.eval(f'ble.gap_disconnect({p_handle})') is False
    # Both boards work again: the reset one comes back up, they reconnect.
    up(peripheral if who == 'peripheral' else central)
    c_handle, p_handle = connect(central, peripheral)
    assert central.eval(f'ble.gap_disconnect({c_handle})') is True
    central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
    peripheral.wait_for_event('_IRQ_CENTRAL_DISCONNECT')


@pytest.mark.api(methods=['config', 'gap_advertise', 'gap_connect'])
def test_gap_name_can_be_set_at_any_time(central: Board, peripheral: Board) -> None:
    up(central)
    up(peripheral)
    peripheral.exec('ble.config(gap_name="before")')
    c_handle, _ = connect(central, peripheral)  # advertising, then connected
    for name in ('while connected', 'x' * 20, ''):
        peripheral.exec(f'ble.config(gap_name={name!r})')
        got = peripheral.eval('ble.config("gap_name")')
        assert (got.decode() if isinstance(got, bytes) else got) == name
    peripheral.exec('ble.config(gap_name=b"bytes too")')
    got = peripheral.eval('ble.config("gap_name")')
    assert (got.decode() if isinstance(got, bytes) else got) == 'bytes too'
    assert peripheral.raises('ble.config(gap_name=5)') == 'TypeError'
    central.exec(f'ble.gap_disconnect({c_handle})')
    central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT')
