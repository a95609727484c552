"""A minimal raw HCI host over TCP, to talk to one radio controller directly.

Used by tests/test_radio.py to prove the radio's behaviour without a board:
packets are built and parsed with bumble's HCI classes, framed as H4.
"""
from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from bumble import hci
from bumble.transport.common import PacketParser

from .radio import public_address_for

ALL_EVENTS_MASK = bytes.fromhex('ffffffffffffbf3d')  # default page-1 plus LE meta
ALL_LE_EVENTS_MASK = bytes.fromhex('ff1d000000000000')  # incl. extended reports, not enhanced conn


class HciClient:
    def __init__(self, port: int, host: str = '127.0.0.1', timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        # Each HCI packet goes at once, as on a UART: without this, Nagle's
        # algorithm holds a flood's later packets until the radio's delayed
        # acknowledgement (40 ms), and the air would sit idle meanwhile.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(0.2)
        self.received: queue.Queue[hci.HCI_Packet] = queue.Queue()
        self.pending: list[hci.HCI_Packet] = []
        self.log: list[hci.HCI_Packet] = []
        self._parser = PacketParser(self)
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # PacketParser sink
    def on_packet(self, packet: bytes) -> None:
        parsed = hci.HCI_Packet.from_bytes(packet)
        self.log.append(parsed)
        self.received.put(parsed)

    def _read_loop(self) -> None:
        while not self._closing.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            self._parser.feed_data(data)

    def close(self) -> None:
        self._closing.set()
        self.sock.close()
        self._reader.join(timeout=2)

    def __enter__(self) -> HciClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending -----------------------------------------------------------
    def send(self, packet: hci.HCI_Packet | bytes) -> None:
        self.sock.sendall(bytes(packet))

    def send_acl(self, handle: int, data: bytes, pb_flag: int) -> None:
        self.send(hci.HCI_AclDataPacket(handle, pb_flag, 0, len(data), data))

    def command(self, command: hci.HCI_Command, timeout: float | None = None) -> hci.HCI_Event:
        """Send a command; return its Command Complete or Command Status event."""
        self.send(command)

        def answers(packet: hci.HCI_Packet) -> bool:
            return (isinstance(packet, (hci.HCI_Command_Complete_Event,
                                        hci.HCI_Command_Status_Event))
                    and packet.command_opcode == command.op_code)
        event = self.wait_for(answers, timeout)
        assert isinstance(event, hci.HCI_Event)
        return event

    def ok(self, command: hci.HCI_Command) -> hci.HCI_Event:
        """Send a command that must succeed."""
        event = self.command(command)
        status = (event.status if isinstance(event, hci.HCI_Command_Status_Event)
                  else getattr(event.return_parameters, 'status', 0))
        if status != 0:
            raise AssertionError(f'{command.name} failed with status 0x{status:02X}')
        return event

    # -- receiving ---------------------------------------------------------
    def wait_for(self, predicate: Callable[[hci.HCI_Packet], bool],
                 timeout: float | None = None) -> hci.HCI_Packet:
        """Return (and consume) the first received packet matching predicate."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for index, packet in enumerate(self.pending):
            if predicate(packet):
                return self.pending.pop(index)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f'no matching HCI packet; received: {self.pending[-10:]}')
            try:
                packet = self.received.get(timeout=remaining)
            except queue.Empty:
                continue
            if predicate(packet):
                return packet
            self.pending.append(packet)

    def collect(self, predicate: Callable[[hci.HCI_Packet], bool],
                duration: float) -> list[hci.HCI_Packet]:
        """All matching packets received within `duration` seconds (consumed)."""
        found = [p for p in self.pending if predicate(p)]
        self.pending = [p for p in self.pending if not predicate(p)]
        deadline = time.monotonic() + duration
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                packet = self.received.get(timeout=remaining)
            except queue.Empty:
                break
            (found if predicate(packet) else self.pending).append(packet)
        return found

    # -- common sequences --------------------------------------------------
    def reset_and_unmask(self, le_mask: bytes = ALL_LE_EVENTS_MASK) -> None:
        self.ok(hci.HCI_Reset_Command())
        self.pending.clear()
        self.ok(hci.HCI_Set_Event_Mask_Command(event_mask=ALL_EVENTS_MASK))
        self.ok(hci.HCI_LE_Set_Event_Mask_Command(le_event_mask=le_mask))

    def read_bd_addr(self) -> hci.Address:
        event = self.ok(hci.HCI_Read_BD_ADDR_Command())
        return event.return_parameters.bd_addr  # type: ignore[union-attr]


@contextlib.contextmanager
def clients_of(ports: Iterable[int]) -> Iterator[list[HciClient]]:
    """One reset host per controller TCP port, every page-1 and LE event
    unmasked; closed on exit."""
    clients = [HciClient(port) for port in ports]
    try:
        for client in clients:
            client.reset_and_unmask()
        yield clients
    finally:
        for client in clients:
            client.close()


def connect_hosts(hosts: list[HciClient], interval: int = 0x18,
                  latency: int = 0) -> tuple[int, int]:
    """Host 0 connects to host 1 (controller 1 of the radio, advertising
    with its public address); their (central, peripheral) handles."""
    central, peripheral = hosts
    public = 0
    peripheral.ok(hci.HCI_LE_Set_Advertising_Parameters_Command(
        advertising_interval_min=0x20, advertising_interval_max=0x20, advertising_type=0,
        own_address_type=public, peer_address_type=0, peer_address=hci.Address.ANY,
        advertising_channel_map=7, advertising_filter_policy=0))
    peripheral.ok(hci.HCI_LE_Set_Advertising_Enable_Command(advertising_enable=1))
    central.command(hci.HCI_LE_Create_Connection_Command(
        le_scan_interval=0x10, le_scan_window=0x10, initiator_filter_policy=0,
        peer_address_type=public,
        peer_address=hci.Address(public_address_for(1), hci.Address.PUBLIC_DEVICE_ADDRESS),
        own_address_type=public, connection_interval_min=interval,
        connection_interval_max=interval, max_latency=latency, supervision_timeout=0x200,
        min_ce_length=0, max_ce_length=0))
    handles = []
    for host in hosts:
        event = host.wait_for(lambda p: isinstance(p, hci.HCI_LE_Connection_Complete_Event), 2.0)
        assert event.status == 0
        handles.append(event.connection_handle)
    return handles[0], handles[1]
