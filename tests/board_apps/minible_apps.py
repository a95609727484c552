# The two applications of test_aioble_style.py, on top of minible (board side).
# The peripheral serves a capture-mode characteristic and a notify/indicate
# one; what the central writes drives it. Each prints one line of results.
import asyncio
import bluetooth
import minible as m

SERVICE = bluetooth.UUID('7e5c0001-55a0-4c5b-9d6e-6f6d696e6962')
CAPTURE = bluetooth.UUID('7e5c0002-55a0-4c5b-9d6e-6f6d696e6962')
NOTE = bluetooth.UUID(0x2A3D)
CCCD = bluetooth.UUID(0x2902)


async def _peripheral(secrets_path):
    m.activate(secrets_path)
    ((capture, note),) = m.register((
        (SERVICE, (
            (CAPTURE, m.FLAG_READ | m.FLAG_WRITE | m.FLAG_WRITE_NO_RESPONSE | m.FLAG_CAPTURE),
            (NOTE, m.FLAG_READ | m.FLAG_NOTIFY | m.FLAG_INDICATE),
        )),
    ))
    m.ble.gatts_write(capture, b'init')
    conn = await m.advertise()
    log = []
    while True:
        c, value = await m.captured(capture).get()
        log.append(value)
        if value == b'notify':
            m.ble.gatts_notify(c, note, b'n1')
        elif value == b'indicate':
            log.append(('indicated', await m.indicate(c, note, b'i1')))
        elif value == b'bye':
            break
    await m.disconnected(m.IRQ_CENTRAL_DISCONNECT)
    m.save_secrets(secrets_path)
    updates = [u[1:] for u in m.queue(m.IRQ_ENCRYPTION_UPDATE).items if u[0] == conn]
    print('PERIPHERAL', repr({'log': log, 'updates': updates, 'stores': m.stores[0]}))


async def _central(secrets_path, addr_type, addr, first):
    m.activate(secrets_path)
    conn = await m.connect(addr_type, addr)
    chars, descriptors = await m.discover(conn)
    capture, note = chars[CAPTURE][0], chars[NOTE][0]
    out = {'props': (chars[CAPTURE][2], chars[NOTE][2])}
    if first:
        out['read'] = await m.read(conn, capture)
        out['w1'] = await m.write(conn, capture, b'w1', True)
        for value in (b'nr1', b'nr2', b'nr3'):
            await m.write(conn, capture, value, False)
        out['subscribe'] = await m.write(conn, descriptors[(note, CCCD)], b'\x03\x00', True)
        out['notify_written'] = await m.write(conn, capture, b'notify', True)
        out['notify'] = (await m.queue(m.IRQ_GATTC_NOTIFY).get())[1:]
        out['indicate_written'] = await m.write(conn, capture, b'indicate', True)
        out['indicate'] = (await m.queue(m.IRQ_GATTC_INDICATE).get())[1:]
        out['note'] = note
    out['pair'] = await m.pair(conn)
    if not first:
        out['read'] = await m.read(conn, capture)
    out['bye'] = await m.write(conn, capture, b'bye', True)
    m.ble.gap_disconnect(conn)
    await m.disconnected(m.IRQ_PERIPHERAL_DISCONNECT)
    m.save_secrets(secrets_path)
    out['stores'] = m.stores[0]
    print('CENTRAL', repr(out))


def peripheral(secrets_path):
    asyncio.run(_peripheral(secrets_path))


def central(secrets_path, addr_type, addr, first):
    asyncio.run(_central(secrets_path, addr_type, addr, first))
