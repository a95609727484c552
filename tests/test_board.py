"""The boards as whole MicroPython boards: filesystem, boot.py/main.py,
resets and deep sleep, machine and os, asyncio with Bluetooth."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from harness.board import Board
from harness.gap import connect, up
from pytest_mpbt import RigPool

HARD_RESET, DEEPSLEEP_RESET, SOFT_RESET = 2, 4, 5
TEST_DIR = '/_t'  # everything a test writes, removed by the `scratch` fixture

REMOVE_TREE = '''
import os
def _rm(p):
    try:
        names = os.listdir(p)
    except OSError:
        try:
            os.remove(p)
        except OSError:
            pass
        return
    for n in names:
        _rm(p + '/' + n)
    os.rmdir(p)
'''


def remove(board: Board, *paths: str) -> None:
    board.exec(REMOVE_TREE + ''.join(f'_rm({p!r})\n' for p in paths) + 'os.chdir("/")')


@pytest.fixture
def scratch(board_kind: str, rig_pool: RigPool, central: Board) -> Iterator[Board]:
    """The central board with an empty TEST_DIR and no boot.py/main.py; all
    three removed afterwards (the filesystem lives as long as the rig)."""
    remove(central, TEST_DIR, '/boot.py', '/main.py')
    central.exec(f'import os\nos.mkdir({TEST_DIR!r})')
    yield central
    # The board a power cycle put in its place, if any.
    remove(rig_pool.get(board_kind).boards[0], TEST_DIR, '/boot.py', '/main.py')


def write(board: Board, path: str, text: str) -> None:
    board.exec(f'with open({path!r}, "w") as f:\n    f.write({text!r})')


def test_filesystem_api(scratch: Board) -> None:
    b = scratch
    b.exec('import os')
    assert b.eval('os.getcwd()') == '/'
    b.exec(f'os.chdir({TEST_DIR!r})')
    assert b.eval('os.getcwd()') == TEST_DIR
    b.exec('with open("t.txt", "w") as f:\n    print(f.write("line 1\\nline 2\\n"))')
    assert b.eval('open("t.txt").readlines()') == ['line 1\n', 'line 2\n']
    data = bytes(range(256)) * 20
    b.exec(f'with open("b.bin", "wb") as f:\n    f.write(bytes(range(256)) * 20)')
    assert b.eval('open("b.bin", "rb").read()') == data
    assert b.eval('os.stat("b.bin")[6]') == len(data)
    b.exec('os.mkdir("sub")')
    assert b.eval('os.stat("sub")[0] & 0x4000') == 0x4000
    b.exec('os.rename("t.txt", "sub/u.txt")')
    assert b.eval('sorted(os.listdir())') == ['b.bin', 'sub']
    assert b.eval('os.listdir("sub")') == ['u.txt']
    b.exec('os.remove("sub/u.txt")\nos.rmdir("sub")')
    assert b.eval('os.listdir()') == ['b.bin']
    assert b.raises('open("missing.txt")') == 'OSError'
    bsize, frsize, blocks, bfree = b.eval('os.statvfs("/")[:4]')
    assert bsize == 4096 and blocks >= 256 and 0 < bfree < blocks
    assert b.eval('"/lib" in __import__("sys").path') is True


def test_files_and_lib_modules_survive_resets(scratch: Board) -> None:
    b = scratch
    write(b, f'{TEST_DIR}/keep.txt', 'kept')
    b.exec(f'import os\ntry:\n    os.mkdir("/lib")\nexcept OSError:\n    pass')
    write(b, '/lib/_t_mod.py', 'VALUE = 42\n')
    try:
        b.soft_reset()
        assert b.eval(f'open({TEST_DIR + "/keep.txt"!r}).read()') == 'kept'
        assert b.eval('__import__("machine").reset_cause()') == SOFT_RESET
        b.reset()
        assert b.eval('__import__("machine").reset_cause()') == HARD_RESET
        assert b.eval(f'open({TEST_DIR + "/keep.txt"!r}).read()') == 'kept'
        assert b.eval('__import__("_t_mod").VALUE') == 42
    finally:
        remove(b, '/lib/_t_mod.py')


def test_files_survive_a_power_cycle(board_kind: str, rig_pool: RigPool,
                                     scratch: Board) -> None:
    write(scratch, f'{TEST_DIR}/power.txt', 'still here')
    board = rig_pool.power_cycle(board_kind, 0)
    board.soft_reset()
    assert board.eval(f'open({TEST_DIR + "/power.txt"!r}).read()') == 'still here'
    assert board.eval('__import__("machine").reset_cause()') == SOFT_RESET
    # The board still works on air after its restart.
    up(board)
    assert board.eval('ble.active()') is True


def test_boot_py_then_main_py_run_at_start(scratch: Board) -> None:
    b = scratch
    write(b, '/boot.py', 'print("BOOT ran")\nimport machine\n_cause = machine.reset_cause()\n')
    write(b, '/main.py', 'print("MAIN ran after boot, cause", _cause)\n')
    out = b.reset()
    assert out.index('BOOT ran') < out.index('MAIN ran after boot, cause 2')
    # A soft reset runs boot.py again; main.py only in the friendly REPL
    # (mpremote and the harness use the raw one), as on real boards.
    b.transport.serial.write(b'\r\x02')  # Ctrl-B: the friendly REPL
    b.transport.read_until(1, b'>>> ', timeout=5)
    b.transport.serial.write(b'\x04')  # Ctrl-D: soft reset in the friendly REPL
    data = b.transport.read_until(1, b'>>> ', timeout=10).decode(errors='replace')
    assert 'soft reboot' in data and data.index('BOOT ran') < data.index('MAIN ran after boot, cause 5')
    b.take_repl()


def test_looping_main_py_can_be_interrupted(scratch: Board) -> None:
    b = scratch
    write(b, '/main.py', 'print("looping")\nwhile True:\n    pass\n')
    out = b.reset(until=b'looping\r\n', take_repl=False)
    assert 'looping' in out
    time.sleep(0.3)  # well inside the loop
    b.transport.serial.write(b'\x03')
    data = b.transport.read_until(1, b'>>> ', timeout=10).decode(errors='replace')
    assert 'KeyboardInterrupt' in data, data
    b.take_repl()
    remove(b, '/main.py')


def test_machine_and_os(boards: tuple[Board, Board]) -> None:
    first, second = boards
    ids = [b.eval('__import__("machine").unique_id()') for b in boards]
    assert all(isinstance(i, bytes) and len(i) >= 6 for i in ids)
    assert ids[0] != ids[1]
    assert first.eval('__import__("machine").unique_id()') == ids[0]  # stable
    uname = first.eval('tuple(__import__("os").uname())')
    assert len(uname) == 5 and uname[0] and '1.2' in uname[2]
    assert 'GC:' in first.exec('import micropython\nmicropython.mem_info()')
    first.exec('import machine\nmachine.idle()\nmachine.lightsleep(20)')
    constants = first.eval('[machine.HARD_RESET, machine.DEEPSLEEP_RESET, machine.SOFT_RESET]')
    assert constants == [HARD_RESET, DEEPSLEEP_RESET, SOFT_RESET]


def test_deepsleep_ends_in_a_reset_after_the_time(central: Board) -> None:
    started = time.monotonic()
    central.reset('import machine\nmachine.deepsleep(1500)', timeout=10)
    assert time.monotonic() - started >= 1.5
    assert central.eval('__import__("machine").reset_cause()') == DEEPSLEEP_RESET


@pytest.mark.parametrize('how', ['reset', 'deepsleep'])
def test_reset_while_connected_drops_the_link(central: Board, peripheral: Board,
                                               how: str) -> None:
    up(central)
    up(peripheral)
    connect(central, peripheral)
    code = 'machine.reset()' if how == 'reset' else 'machine.deepsleep(300)'
    peripheral.reset(f'import machine\n{code}', timeout=10)
    central.wait_for_event('_IRQ_PERIPHERAL_DISCONNECT', timeout=10)
    # Both boards work on air again.
    up(peripheral)
    connect(central, peripheral)


ASYNC_PERIPHERAL = '''
import asyncio, bluetooth
_SVC = bluetooth.UUID(0xFEE0)
_CHR = (bluetooth.UUID(0xFEE1), bluetooth.FLAG_READ | bluetooth.FLAG_WRITE | bluetooth.FLAG_NOTIFY)
ble = bluetooth.BLE()
ble.active(True)
((_h,),) = ble.gatts_register_services(((_SVC, (_CHR,)),))
_written = asyncio.ThreadSafeFlag()
_connected = asyncio.ThreadSafeFlag()
_conn = [None]
def _irq(event, data):
    if event == 1:
        _conn[0] = data[0]
        _connected.set()
    elif event == 3:
        _written.set()
ble.irq(_irq)
async def serve():
    ble.gap_advertise(20000, b'\\x02\\x01\\x06\\x05\\x09asyn')
    print('advertising')
    await asyncio.wait_for(_connected.wait(), 10)
    await asyncio.wait_for(_written.wait(), 10)
    value = bytes(ble.gatts_read(_h))
    ble.gatts_notify(_conn[0], _h, value.upper())
    await asyncio.sleep_ms(300)
    print('served', value)
asyncio.run(serve())
'''

ASYNC_CENTRAL = '''
import asyncio, bluetooth
ble = bluetooth.BLE()
ble.active(True)
_ev = {}
_flag = asyncio.ThreadSafeFlag()
def _irq(event, data):
    if event == 7:
        _ev['conn'] = data[0]
    elif event == 11:
        if bluetooth.UUID(data[4]) == bluetooth.UUID(0xFEE1):
            _ev['value_handle'] = data[2]
    elif event == 12:
        _ev['chars_done'] = True
    elif event == 18:
        _ev['notified'] = bytes(data[2])
    else:
        return
    _flag.set()
ble.irq(_irq)
async def until(key):
    while key not in _ev:
        await asyncio.wait_for(_flag.wait(), 10)
    return _ev[key]
async def client(addr_type, addr):
    ble.gap_connect(addr_type, addr)
    conn = await until('conn')
    ble.gattc_discover_characteristics(conn, 1, 0xffff)
    await until('chars_done')
    handle = _ev['value_handle']
    ble.gattc_write(conn, handle + 1, b'\\x01\\x00', 1)
    ble.gattc_write(conn, handle, b'hello async', 1)
    print('notified', await until('notified'))
    ble.gap_disconnect(conn)
'''


def test_asyncio_ble_peripheral_and_central(central: Board, peripheral: Board) -> None:
    """asyncio tasks woken by ThreadSafeFlag from the IRQ handler, board to board."""
    peripheral.exec('import bluetooth\nbluetooth.BLE().active(True)')
    addr_type, addr = peripheral.eval('bluetooth.BLE().config("mac")')
    peripheral.start(ASYNC_PERIPHERAL)
    peripheral.wait_for_output('advertising')
    central.exec(ASYNC_CENTRAL)
    out = central.exec(f'asyncio.run(client({addr_type}, {addr!r}))', timeout=30)
    assert "notified b'HELLO ASYNC'" in out
    assert "served b'hello async'" in peripheral.join(timeout=20)
