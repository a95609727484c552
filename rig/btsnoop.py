"""A reader of btsnoop files (the radio's captures), checking what
Wireshark's btsnoop reader checks, so a test can tell that a capture opens
there: the magic, version 1, a known datalink, and whole records whose
included length is at most their original length and a sane size.

Format (all big-endian): 16-byte header b'btsnoop\\0', version u32,
datalink u32; then records of original length u32, included length u32,
flags u32, cumulative drops u32, timestamp i64 (microseconds since
0000-01-01), and the packet.
"""
from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

MAGIC = b'btsnoop\0'
HEADER = struct.Struct('>8sII')
RECORD = struct.Struct('>IIIIq')
DATALINKS = {1001: 'H1', 1002: 'H4', 1003: 'BCSP', 1004: 'H5', 2001: 'Linux monitor'}
MAX_PACKET = 262144  # Wireshark's largest standard packet
H4_TYPES = {1: 'command', 2: 'ACL', 3: 'SCO', 4: 'event', 5: 'ISO'}
FLAG_RECEIVED = 0x1  # direction: controller to host
FLAG_COMMAND_OR_EVENT = 0x2


class BtsnoopError(ValueError):
    """Not a btsnoop file a reader accepts; the message says where."""


@dataclasses.dataclass(frozen=True)
class Record:
    flags: int
    timestamp_us: int
    data: bytes

    @property
    def received(self) -> bool:
        return bool(self.flags & FLAG_RECEIVED)


@dataclasses.dataclass(frozen=True)
class Capture:
    datalink: int
    records: tuple[Record, ...]


def read(path: Path) -> Capture:
    data = path.read_bytes()
    if len(data) < HEADER.size:
        raise BtsnoopError(f'{path}: {len(data)} bytes, shorter than the header')
    magic, version, datalink = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise BtsnoopError(f'{path}: not a btsnoop file (magic {magic!r})')
    if version != 1:
        raise BtsnoopError(f'{path}: btsnoop version {version}, not 1')
    if datalink not in DATALINKS:
        raise BtsnoopError(f'{path}: unknown datalink {datalink}')
    records: list[Record] = []
    offset = HEADER.size
    while offset < len(data):
        where = f'{path}: record {len(records)} at byte {offset}'
        if len(data) - offset < RECORD.size:
            raise BtsnoopError(f'{where}: truncated record header')
        original, included, flags, _drops, timestamp = RECORD.unpack_from(data, offset)
        offset += RECORD.size
        if included > original or included > MAX_PACKET:
            raise BtsnoopError(f'{where}: included length {included} (original {original})')
        if len(data) - offset < included:
            raise BtsnoopError(f'{where}: truncated packet ({included} bytes claimed)')
        packet = data[offset:offset + included]
        offset += included
        if datalink == 1002 and (not packet or packet[0] not in H4_TYPES):
            raise BtsnoopError(f'{where}: not an H4 packet ({packet[:1].hex() or "empty"})')
        records.append(Record(flags, timestamp, packet))
    return Capture(datalink, tuple(records))
