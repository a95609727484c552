"""GATT client and server on two boards: the spec's Heart Rate + Nordic UART
example registered on the peripheral and used end to end by the central."""
from __future__ import annotations

import pytest

from harness.board import Board, RemoteUUID
from harness.gap import connect, up
from harness.spec_example import HR_UART

UART_UUID = bytes(reversed(bytes.fromhex('6E400001B5A3F393E0A9E50E24DCCA9E')))
TX_UUID = bytes(reversed(bytes.fromhex('6E400003B5A3F393E0A9E50E24DCCA9E')))
RX_UUID = bytes(reversed(bytes.fromhex('6E400002B5A3F393E0A9E50E24DCCA9E')))
PROP_READ, PROP_WRITE, PROP_NOTIFY, PROP_INDICATE = 0x02, 0x08, 0x10, 0x20
CCCD = RemoteUUID(b'\x02\x29')


def results(board: Board, result: str, done: str) -> list[tuple]:
    end = board.wait_for_event(done, 20)
    assert end.data[1] == 0, end
    return [e.data for e in board.take_events() if e.name == result]


# A characteristic that takes long writes: _FLAG_WRITE | _FLAG_AUX_WRITE.
LONG_SERVICE = '(bluetooth.UUID(0xAAAA), ((bluetooth.UUID(0xBBBB), 0x0108),))'
STATUS_TRUNCATED = 0x104


def setup_pair(central: Board, peripheral: Board) -> tuple[int, int, tuple[int, int, int, int]]:
    up(central)
    up(peripheral)
    peripheral.exec(HR_UART)
    ((hr,), (tx, rx), (long_rx,)) = peripheral.eval(
        f'ble.gatts_register_services((HR_SERVICE, UART_SERVICE, {LONG_SERVICE}))')
    c_conn, p_conn = connect(central, peripheral)
    return c_conn, p_conn, (hr, tx, rx, long_rx)


@pytest.mark.api(methods=['gattc_discover_services', 'gattc_discover_characteristics',
                          'gattc_discover_descriptors', 'gattc_read', 'gattc_write'],
                 events=['_IRQ_GATTC_SERVICE_RESULT', '_IRQ_GATTC_SERVICE_DONE',
                         '_IRQ_GATTC_CHARACTERISTIC_RESULT', '_IRQ_GATTC_CHARACTERISTIC_DONE',
                         '_IRQ_GATTC_DESCRIPTOR_RESULT', '_IRQ_GATTC_DESCRIPTOR_DONE',
                         '_IRQ_GATTC_READ_RESULT', '_IRQ_GATTC_READ_DONE',
                         '_IRQ_GATTC_WRITE_DONE', '_IRQ_GATTC_NOTIFY', '_IRQ_GATTC_INDICATE'])
def test_heart_rate_and_uart_example_end_to_end(central: Board, peripheral: Board) -> None:
    conn, p_conn, (hr, tx, rx, long_rx) = setup_pair(central, peripheral)

    central.exec(f'ble.gattc_discover_services({conn})')
    services = results(central, '_IRQ_GATTC_SERVICE_RESULT', '_IRQ_GATTC_SERVICE_DONE')
    uuids = [s[3] for s in services]
    # Generic Access and Generic Attribute, always served, then the three
    # registered.
    assert uuids == [RemoteUUID(b'\x00\x18'), RemoteUUID(b'\x01\x18'), RemoteUUID(b'\x0d\x18'),
                     RemoteUUID(UART_UUID), RemoteUUID(b'\xaa\xaa')]
    (_, hr_start, hr_end, _), (_, uart_start, uart_end, _) = services[2:4]
    assert hr_start < hr < hr_end < uart_start < tx < rx <= uart_end

    # Characteristics: value handles as gatts_register_services returned them.
    central.exec(f'ble.gattc_discover_characteristics({conn}, {hr_start}, {hr_end})')
    assert results(central, '_IRQ_GATTC_CHARACTERISTIC_RESULT',
                   '_IRQ_GATTC_CHARACTERISTIC_DONE') == [
        (conn, hr_end, hr, PROP_READ | PROP_NOTIFY, RemoteUUID(b'\x37\x2a'))]
    central.exec(f'ble.gattc_discover_characteristics({conn}, {uart_start}, {uart_end})')
    chars = results(central, '_IRQ_GATTC_CHARACTERISTIC_RESULT', '_IRQ_GATTC_CHARACTERISTIC_DONE')
    assert [(c[2], c[3], c[4]) for c in chars] == [
        (tx, PROP_READ | PROP_NOTIFY, RemoteUUID(TX_UUID)), (rx, PROP_WRITE, RemoteUUID(RX_UUID))]
    assert chars[0][1] == rx - 2 and chars[1][1] == uart_end  # end: before rx's declaration
    # The CCCD the server added to tx (notify).
    central.exec(f'ble.gattc_discover_descriptors({conn}, {tx}, {chars[0][1]})')
    (dsc,) = results(central, '_IRQ_GATTC_DESCRIPTOR_RESULT', '_IRQ_GATTC_DESCRIPTOR_DONE')
    assert dsc[2] == CCCD
    cccd = dsc[1]
    # By UUID.
    central.exec(f'ble.gattc_discover_services({conn}, bluetooth.UUID(0x180D))')
    assert results(central, '_IRQ_GATTC_SERVICE_RESULT', '_IRQ_GATTC_SERVICE_DONE') == [
        (conn, hr_start, hr_end, RemoteUUID(b'\x0d\x18'))]

    # Read what the server wrote locally.
    peripheral.exec(f'ble.gatts_write({hr}, b"\\x00\\x48")')
    central.exec(f'ble.gattc_read({conn}, {hr})')
    assert central.wait_for_event('_IRQ_GATTC_READ_DONE').data == (conn, hr, 0)
    assert [e.data for e in central.take_events() if e.name == '_IRQ_GATTC_READ_RESULT'] == [
        (conn, hr, b'\x00\x48')]
    # Write with response: the server's value and its IRQ.
    central.exec(f'ble.gattc_write({conn}, {rx}, b"hello", 1)')
    assert central.wait_for_event('_IRQ_GATTC_WRITE_DONE').data == (conn, rx, 0)
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data == (p_conn, rx)
    assert peripheral.eval(f'ble.gatts_read({rx})') == b'hello'
    # Without response.
    central.exec(f'ble.gattc_write({conn}, {rx}, b"bye")')
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data == (p_conn, rx)
    assert peripheral.eval(f'ble.gatts_read({rx})') == b'bye'

    # Subscribe to tx, then the server's send_update notifies.
    central.exec(f'ble.gattc_write({conn}, {cccd}, b"\\x01\\x00", 1)')
    assert central.wait_for_event('_IRQ_GATTC_WRITE_DONE').data == (conn, cccd, 0)
    peripheral.exec(f'ble.gatts_write({tx}, b"tx data", True)')
    assert central.wait_for_event('_IRQ_GATTC_NOTIFY').data == (conn, tx, b'tx data')
    # An indication: the client confirms, the server sees status 0.
    peripheral.exec(f'ble.gatts_indicate({p_conn}, {tx}, b"ind")')
    assert central.wait_for_event('_IRQ_GATTC_INDICATE').data == (conn, tx, b'ind')
    assert peripheral.wait_for_event('_IRQ_GATTS_INDICATE_DONE').data == (p_conn, tx, 0)


@pytest.mark.api(methods=['gattc_exchange_mtu', 'gattc_read', 'gattc_write'],
                 events=['_IRQ_MTU_EXCHANGED', '_IRQ_GATTC_READ_RESULT', '_IRQ_GATTC_WRITE_DONE'])
def test_512_byte_value_both_ways_after_mtu_exchange(central: Board, peripheral: Board) -> None:
    conn, p_conn, (hr, tx, rx, long_rx) = setup_pair(central, peripheral)
    value = bytes((i * 13 + 1) & 0xff for i in range(512))
    peripheral.exec(f'ble.gatts_write({hr}, {value!r})\nble.gatts_write({long_rx}, bytes(512))\n'
                    f'ble.gatts_write({rx}, bytes(512))')
    central.exec('ble.config(mtu=185)')
    peripheral.exec('ble.config(mtu=247)')
    central.exec(f'ble.gattc_exchange_mtu({conn})')
    assert central.wait_for_event('_IRQ_MTU_EXCHANGED').data == (conn, 185)
    assert peripheral.wait_for_event('_IRQ_MTU_EXCHANGED').data == (p_conn, 185)
    central.exec(f'ble.gattc_read({conn}, {hr})')
    assert central.wait_for_event('_IRQ_GATTC_READ_DONE').data == (conn, hr, 0)
    assert [e.data for e in central.take_events() if e.name == '_IRQ_GATTC_READ_RESULT'] == [
        (conn, hr, value)]
    # A long write (more than MTU-3): Prepare/Execute, the whole value arrives.
    central.exec(f'ble.gattc_write({conn}, {long_rx}, {value[::-1]!r}, 1)')
    assert central.wait_for_event('_IRQ_GATTC_WRITE_DONE').data == (conn, long_rx, 0)
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data == (p_conn, long_rx)
    assert peripheral.eval(f'ble.gatts_read({long_rx})') == value[::-1]
    # The spec's UART RX has no _FLAG_AUX_WRITE: the server refuses queued
    # writes, so the client writes the first MTU-3 bytes and says so.
    central.exec(f'ble.gattc_write({conn}, {rx}, {value!r}, 1)')
    assert central.wait_for_event('_IRQ_GATTC_WRITE_DONE').data == (conn, rx, STATUS_TRUNCATED)
    assert peripheral.wait_for_event('_IRQ_GATTS_WRITE').data == (p_conn, rx)
    assert peripheral.eval(f'ble.gatts_read({rx})') == value[:182]
    assert not [e for e in peripheral.take_events() if e.name == '_IRQ_GATTS_WRITE']
    # A notification now carries MTU-3 = 182 bytes.
    peripheral.exec(f'ble.gatts_notify({p_conn}, {tx}, {value[:182]!r})')
    assert central.wait_for_event('_IRQ_GATTC_NOTIFY').data == (conn, tx, value[:182])
    assert central.raises(f'ble.gattc_write({conn}, {rx}, bytes(183), 0)') == 'ValueError'


@pytest.mark.api(methods=['gattc_exchange_mtu'], events=['_IRQ_MTU_EXCHANGED'])
def test_mtu_exchange_initiated_by_peripheral(central: Board, peripheral: Board) -> None:
    conn, p_conn, (hr, tx, rx, long_rx) = setup_pair(central, peripheral)
    central.exec('ble.config(mtu=100)')
    peripheral.exec('ble.config(mtu=300)')
    peripheral.exec(f'ble.gattc_exchange_mtu({p_conn})')
    assert peripheral.wait_for_event('_IRQ_MTU_EXCHANGED').data == (p_conn, 100)
    assert central.wait_for_event('_IRQ_MTU_EXCHANGED').data == (conn, 100)
    # The peripheral is a client too: it reads the central's Device Name.
    central.exec('ble.config(gap_name="central-b2b")')
    peripheral.exec(f'ble.gattc_discover_characteristics({p_conn}, 1, 65535, bluetooth.UUID(0x2A00))')
    (name_chr,) = results(peripheral, '_IRQ_GATTC_CHARACTERISTIC_RESULT',
                          '_IRQ_GATTC_CHARACTERISTIC_DONE')
    peripheral.exec(f'ble.gattc_read({p_conn}, {name_chr[2]})')
    assert peripheral.wait_for_event('_IRQ_GATTC_READ_DONE').data[2] == 0
    assert [e.data[2] for e in peripheral.take_events()
            if e.name == '_IRQ_GATTC_READ_RESULT'] == [b'central-b2b']


@pytest.mark.api(methods=['gattc_read'], events=['_IRQ_GATTC_READ_DONE'])
def test_read_denied_by_server_with_each_code(central: Board, peripheral: Board) -> None:
    conn, _, (hr, _, rx, _) = setup_pair(central, peripheral)
    for code in (0x02, 0x05, 0x08, 0x0F, 0x80):
        peripheral.reply('_IRQ_GATTS_READ_REQUEST', code)
        central.exec(f'ble.gattc_read({conn}, {hr})')
        assert central.wait_for_event('_IRQ_GATTC_READ_DONE').data == (conn, hr, code)
    # A write with response after the reads on the same bearer: its WRITE_DONE
    # comes after any event the client raised for them (one ring, in order).
    central.exec(f'ble.gattc_write({conn}, {rx}, b"marker", 1)')
    assert central.wait_for_event('_IRQ_GATTC_WRITE_DONE').data == (conn, rx, 0)  # answered
    assert not [e for e in central.take_events() if e.name == '_IRQ_GATTC_READ_RESULT']
