# A small asyncio layer over `bluetooth`, written for our tests in the manner
# of micropython-lib's aioble: one IRQ handler that copies each event into a
# queue an awaiting task reads, characteristics in capture mode (flag bit
# 0x10000, each write's value taken in its IRQ_GATTS_WRITE handler with
# gatts_read), and bonding secrets in a JSON file on the board's filesystem
# (base64, as aioble keeps them). It runs on the board (MicroPython).
import asyncio
import binascii
import bluetooth
import json
from micropython import const

IRQ_CENTRAL_CONNECT = const(1)
IRQ_CENTRAL_DISCONNECT = const(2)
IRQ_GATTS_WRITE = const(3)
IRQ_PERIPHERAL_CONNECT = const(7)
IRQ_PERIPHERAL_DISCONNECT = const(8)
IRQ_GATTC_SERVICE_RESULT = const(9)
IRQ_GATTC_SERVICE_DONE = const(10)
IRQ_GATTC_CHARACTERISTIC_RESULT = const(11)
IRQ_GATTC_CHARACTERISTIC_DONE = const(12)
IRQ_GATTC_DESCRIPTOR_RESULT = const(13)
IRQ_GATTC_DESCRIPTOR_DONE = const(14)
IRQ_GATTC_READ_RESULT = const(15)
IRQ_GATTC_READ_DONE = const(16)
IRQ_GATTC_WRITE_DONE = const(17)
IRQ_GATTC_NOTIFY = const(18)
IRQ_GATTC_INDICATE = const(19)
IRQ_GATTS_INDICATE_DONE = const(20)
IRQ_ENCRYPTION_UPDATE = const(28)
IRQ_GET_SECRET = const(29)
IRQ_SET_SECRET = const(30)

FLAG_READ = const(0x0002)
FLAG_WRITE_NO_RESPONSE = const(0x0004)
FLAG_WRITE = const(0x0008)
FLAG_NOTIFY = const(0x0010)
FLAG_INDICATE = const(0x0020)
FLAG_CAPTURE = const(0x10000)  # aioble's own bit: not a flag of the API

TIMEOUT_MS = const(20000)

ble = bluetooth.BLE()


class Queue:
    """Payloads of one kind of event, awaited by one task at a time."""

    def __init__(self):
        self.flag = asyncio.ThreadSafeFlag()
        self.items = []

    def put(self, item):
        self.items.append(item)
        self.flag.set()

    async def get(self, timeout_ms=TIMEOUT_MS):
        while not self.items:
            await asyncio.wait_for_ms(self.flag.wait(), timeout_ms)
        return self.items.pop(0)


_queues = {}
_captures = {}  # value handle -> Queue of (conn_handle, value)
_secrets = {}  # (sec_type, key) -> value
stores = [0]  # IRQ_SET_SECRET calls that changed the store


def queue(event):
    q = _queues.get(event)
    if q is None:
        q = _queues[event] = Queue()
    return q


def _copy(x):
    # Byte fields are memoryviews into the event ring and the UUID object is
    # reused: valid only inside the handler.
    if isinstance(x, memoryview):
        return bytes(x)
    if isinstance(x, bluetooth.UUID):
        return bluetooth.UUID(x)
    return x


def _get_secret(sec_type, index, key):
    if key is None:
        found = [v for (t, _), v in _secrets.items() if t == sec_type]
        return found[index] if index < len(found) else None
    return _secrets.get((sec_type, bytes(key)))


def _set_secret(sec_type, key, value):
    k = (sec_type, bytes(key))
    if value is None:
        if _secrets.pop(k, None) is None:
            return False
    else:
        _secrets[k] = bytes(value)
    stores[0] += 1
    return True


def _irq(event, data):
    if event == IRQ_GET_SECRET:
        return _get_secret(*data)
    if event == IRQ_SET_SECRET:
        return _set_secret(*data)
    if event == IRQ_GATTS_WRITE:
        conn, handle = data
        captured = _captures.get(handle)
        if captured is not None:
            # Capture mode: this write's own value, read in its handler.
            captured.put((conn, ble.gatts_read(handle)))
        return None
    queue(event).put(tuple(_copy(x) for x in data))
    return None


def load_secrets(path):
    _secrets.clear()
    try:
        with open(path) as f:
            for t, k, v in json.load(f):
                _secrets[(t, binascii.a2b_base64(k))] = binascii.a2b_base64(v)
    except OSError:
        pass


def save_secrets(path):
    with open(path, 'w') as f:
        json.dump([[t, binascii.b2a_base64(k).decode().strip(),
                    binascii.b2a_base64(v).decode().strip()]
                   for (t, k), v in _secrets.items()], f)


def activate(secrets_path):
    """Load the store first, then set the handler (the host then adopts the
    stored identity), as aioble's load_secrets() before start-up."""
    load_secrets(secrets_path)
    ble.active(True)
    ble.config(bond=True, le_secure=True, mitm=False, io=3)
    ble.irq(_irq)


def register(definition):
    """gatts_register_services; returns the handles; capture-mode values get a queue."""
    handles = ble.gatts_register_services(definition)
    for (_, chars), service_handles in zip(definition, handles):
        at = 0  # a characteristic's handle, then its descriptors'
        for char in chars:
            if char[1] & FLAG_CAPTURE:
                _captures[service_handles[at]] = Queue()
            at += 1 + (len(char[2]) if len(char) > 2 else 0)
    return handles


def captured(handle):
    return _captures[handle]


async def advertise(interval_us=30000):
    """Advertise until a central connects; its connection handle."""
    ble.gap_advertise(interval_us, adv_data=b'\x02\x01\x06')
    return (await queue(IRQ_CENTRAL_CONNECT).get())[0]


async def connect(addr_type, addr):
    # As aioble's connect(): every optional argument None.
    ble.gap_connect(addr_type, addr, None, None, None)
    return (await queue(IRQ_PERIPHERAL_CONNECT).get())[0]


async def _results(result_event, done_event):
    results = []
    done = queue(done_event)
    found = queue(result_event)
    await done.get()
    while found.items:
        results.append(found.items.pop(0))
    return results


async def discover(conn):
    """{uuid: (value_handle, end_handle, properties)} of every characteristic,
    and {(value_handle, uuid): handle} of their descriptors."""
    ble.gattc_discover_services(conn)
    services = await _results(IRQ_GATTC_SERVICE_RESULT, IRQ_GATTC_SERVICE_DONE)
    chars = {}
    for _, start, end, _ in services:
        ble.gattc_discover_characteristics(conn, start, end)
        for _, char_end, value, props, uuid in await _results(
                IRQ_GATTC_CHARACTERISTIC_RESULT, IRQ_GATTC_CHARACTERISTIC_DONE):
            chars[uuid] = (value, char_end, props)
    descriptors = {}
    for value, char_end, _ in chars.values():
        if char_end > value:
            ble.gattc_discover_descriptors(conn, value, char_end)
            for _, handle, uuid in await _results(IRQ_GATTC_DESCRIPTOR_RESULT,
                                                  IRQ_GATTC_DESCRIPTOR_DONE):
                descriptors[(value, uuid)] = handle
    return chars, descriptors


async def read(conn, handle):
    ble.gattc_read(conn, handle)
    value = (await queue(IRQ_GATTC_READ_RESULT).get())[2]
    status = (await queue(IRQ_GATTC_READ_DONE).get())[2]
    return value, status


async def write(conn, handle, value, response):
    ble.gattc_write(conn, handle, value, 1 if response else 0)
    if response:
        return (await queue(IRQ_GATTC_WRITE_DONE).get())[2]
    return None


async def indicate(conn, handle, value):
    ble.gatts_indicate(conn, handle, value)
    return (await queue(IRQ_GATTS_INDICATE_DONE).get())[2]


async def pair(conn):
    ble.gap_pair(conn)
    return (await queue(IRQ_ENCRYPTION_UPDATE).get())[1:]


async def disconnected(event):
    return (await queue(event).get())[0]
