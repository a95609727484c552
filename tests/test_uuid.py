"""bluetooth.UUID semantics, on each board kind."""
from __future__ import annotations

import pytest

from harness.board import Board

UART_SERVICE = '6E400001-B5A3-F393-E0A9-E50E24DCCA9E'
UART_SERVICE_LE = bytes(reversed(bytes.fromhex(UART_SERVICE.replace('-', ''))))


@pytest.fixture
def board(central: Board) -> Board:
    central.exec('from bluetooth import UUID')
    return central


def test_16_bit_from_int_and_from_buffer(board: Board) -> None:
    assert board.eval('bytes(UUID(0x180D))') == b'\x0d\x18'
    assert board.eval('UUID(0x180D) == UUID(b"\\x0d\\x18")') is True
    assert board.eval('UUID(0x2908) == UUID(bytearray(b"\\x08\\x29"))') is True
    assert board.eval('UUID(0x180D) == UUID(0x180F)') is False


def test_32_bit_from_buffer(board: Board) -> None:
    assert board.eval('bytes(UUID(b"\\x08\\x29\\x00\\x01"))') == b'\x08\x29\x00\x01'
    assert board.eval('UUID(b"\\x08\\x29\\x00\\x01") == UUID(b"\\x08\\x29\\x00\\x02")') is False


def test_128_bit_from_string_and_buffer(board: Board) -> None:
    assert board.eval(f'bytes(UUID("{UART_SERVICE}"))') == UART_SERVICE_LE
    assert board.eval(f'bytes(UUID("{UART_SERVICE.lower()}"))') == UART_SERVICE_LE
    assert board.eval(f'UUID("{UART_SERVICE}") == UUID({UART_SERVICE_LE!r})') is True


def test_equality_and_hash_make_uuids_usable_as_keys(board: Board) -> None:
    board.exec(f'd = {{UUID(0x180D): "hr", UUID("{UART_SERVICE}"): "uart"}}')
    assert board.eval('d[UUID(b"\\x0d\\x18")]') == 'hr'
    assert board.eval(f'd[UUID({UART_SERVICE_LE!r})]') == 'uart'
    assert board.eval('hash(UUID(0x180D)) == hash(UUID(0x180D))') is True
    assert board.eval('UUID(0x180D) in d and UUID(0x180F) not in d') is True


def test_repr_round_trips(board: Board) -> None:
    # 16- and 128-bit UUIDs print in their constructor form.
    for value in ('0x180D', f'"{UART_SERVICE}"'):
        assert board.eval(f'repr(UUID({value}))').startswith('UUID(')
        assert board.eval(f'eval(repr(UUID({value}))) == UUID({value})') is True
    # A 32-bit one prints as its value, as the reference binding prints it.
    reprs = board.eval('[repr(UUID(b"\\x08\\x29\\x00\\x01")), repr(UUID(b"\\x08\\x29\\x00\\x02"))]')
    assert reprs == ['UUID(0x01002908)', 'UUID(0x02002908)']


@pytest.mark.parametrize('value', ['-1', '0x10000', 'b""', 'b"\\x01"', 'b"\\x01\\x02\\x03"',
                                   'bytes(17)', '"not-a-uuid"', '"6E400001-B5A3-F393-E0A9"'])
def test_bad_values_raise_value_error(board: Board, value: str) -> None:
    assert board.raises(f'UUID({value})') == 'ValueError'


@pytest.mark.parametrize('value', ['1.5', 'None', '[1, 2]'])
def test_other_types_raise_type_error(board: Board, value: str) -> None:
    assert board.raises(f'UUID({value})') == 'TypeError'
