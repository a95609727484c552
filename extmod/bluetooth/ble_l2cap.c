// L2CAP LE credit-based connection-oriented channels: the l2cap_* methods of
// the BLE object over lib/blehost/bh_coc.h, and the host's channel events as
// IRQ records.
//
// Errors (the host's result -> what Python sees):
// - inactive controller: OSError(EPERM), before the host is asked;
// - arguments of the wrong type: TypeError (buf of l2cap_recvinto must be
//   writable, buf of l2cap_send any buffer); conn_handle outside
//   0..0x0eff, cid outside 0..0xffff, psm outside 1..255 (LE PSMs the host
//   serves), mtu outside 23..1024: ValueError (the host's -BH_EINVAL on
//   listen/connect arguments);
// - -BH_EMSGSIZE from l2cap_send (buf over the peer's MTU or over twice ours):
//   ValueError;
// - -BH_EINVAL from l2cap_disconnect/send/recvinto, whose arguments are checked
//   above, means no such channel (never opened, closed, or not open yet):
//   OSError(ENOTCONN);
// - -BH_ENOTCONN (l2cap_connect on a handle with no link): OSError(ENOTCONN);
// - -BH_EALREADY: OSError(EALREADY): l2cap_connect while listening or while a
//   channel is open or connecting, l2cap_listen while a channel is open or
//   connecting, l2cap_disconnect of a channel that is connecting or already
//   closing;
// - -BH_EAGAIN: OSError(EAGAIN): l2cap_send after it returned False, before
//   _IRQ_L2CAP_SEND_READY;
// - -BH_ENOMEM: OSError(ENOMEM): l2cap_connect found the transmit queue full
//   (retry).
// - MemoryError: l2cap_listen/l2cap_connect found no room on the heap for
//   the channel's buffers (see Memory below); the host was not asked.
//
// Events: _IRQ_L2CAP_ACCEPT is called synchronously (as
// _IRQ_GATTS_READ_REQUEST): None, False or 0 accepts; any other int is the
// L2CAP result code sent to the peer (0x0002-0x000b as given, anything else
// as 0x0004 "no resources"); any other object, and a handler that raises,
// refuses with 0x0004. No handler accepts. _IRQ_L2CAP_DISCONNECT status is
// 0 for an open channel closing (either side, or its link), otherwise a
// failed l2cap_connect: the peer's result code (0x0002-0x000b), 0x100 no
// response within 30 s, 0x101 link closed while connecting.
// _IRQ_L2CAP_SEND_READY always has status 0 (the host never drops a stalled
// SDU while the channel is open).
//
// Memory: as MicroPython's NimBLE binding, a channel's buffers live on the
// MicroPython heap, sized by the MTU asked for: l2cap_listen and
// l2cap_connect allocate BH_COC_STORAGE_SIZE(mtu) bytes plus a length word
// (4 * mtu + 4 + min(mtu + 2, 517): 4617 for an MTU of 1024) before asking the host,
// so a MemoryError leaves the host untouched. A root pointer keeps the
// block alive while the host holds it; the host hands it back
// (bh_evt_l2cap_storage_free) when a connected channel ends, when a new
// l2cap_listen replaces the old one, and at deactivation or soft reset,
// and the block is freed then. The event path never allocates.
#include "bh_err.h"

#include "py/runtime.h"
#include "py/mperrno.h"
#include "blehost.h"
#include "bh_coc.h"
#include "modbluetooth.h"

#define IRQ_L2CAP_ACCEPT (22)
#define IRQ_L2CAP_CONNECT (23)
#define IRQ_L2CAP_DISCONNECT (24)
#define IRQ_L2CAP_RECV (25)
#define IRQ_L2CAP_SEND_READY (26)

#define PSM_MIN (0x0001)
#define PSM_MAX (0x00ff)

// One channel's storage on the heap: its length, then the bytes the host uses.
typedef struct _ble_l2cap_storage_t {
    size_t len;
    uint8_t mem[];
} ble_l2cap_storage_t;

// What the host holds: the listen's storage and the storage of a channel
// l2cap_connect asked for.
#define STORAGE_LISTEN (0)
#define STORAGE_CONNECT (1)
MP_REGISTER_ROOT_POINTER(struct _ble_l2cap_storage_t *ble_l2cap_storage[2]);

// What a refusing or raising _IRQ_L2CAP_ACCEPT handler sends.
#define RESULT_NO_RESOURCES (0x0004)

static uint16_t get_range(mp_obj_t obj, mp_int_t lo, mp_int_t hi, qstr name) {
    mp_int_t v = mp_obj_get_int(obj);
    if (v < lo || v > hi) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("%q must be %d..%d"), name,
            (int)lo, (int)hi);
    }
    return (uint16_t)v;
}

// A connection handle or CID outside its range names no channel: ENOTCONN,
// as for any unknown one (the reference binding's answer too).
static uint16_t get_id(mp_obj_t obj, mp_int_t hi) {
    mp_int_t v = mp_obj_get_int(obj);
    if (v < 0 || v > hi) {
        mp_raise_OSError(MP_ENOTCONN);
    }
    return (uint16_t)v;
}

static uint16_t get_conn_handle(mp_obj_t obj) {
    return get_id(obj, BH_CONN_HANDLE_MAX);
}

static uint16_t get_cid(mp_obj_t obj) {
    return get_id(obj, 0xffff);
}

static uint16_t get_psm(mp_obj_t obj) {
    return get_range(obj, PSM_MIN, PSM_MAX, MP_QSTR_psm);
}

// As the reference binding, an MTU out of range is clamped, not refused:
// to 23 (the Core's minimum) and to the largest SDU our buffers take.
static uint16_t get_mtu(mp_obj_t obj) {
    mp_int_t v = mp_obj_get_int(obj);
    return (uint16_t)MIN(MAX(v, BH_COC_MTU_MIN), BH_COC_MTU_MAX);
}

// A host error of listen/connect. The checks above already reject what the
// host calls -BH_EINVAL; should the two ever differ, it is still an argument.
static void raise_setup_error(int err) {
    if (err == -BH_EINVAL) {
        mp_raise_ValueError(MP_ERROR_TEXT("invalid psm or mtu"));
    }
    if (err != 0) {
        ble_raise_errno(err);
    }
}

// A host error on an existing channel: -BH_EINVAL is "no such channel".
static void raise_channel_error(int err) {
    if (err == -BH_EINVAL) {
        mp_raise_OSError(MP_ENOTCONN);
    }
    if (err == -BH_EMSGSIZE) {
        mp_raise_ValueError(MP_ERROR_TEXT("buf longer than the peer's MTU or twice ours"));
    }
    if (err < 0) {
        ble_raise_errno(err);
    }
}

// ---- channel storage ----

static ble_l2cap_storage_t *storage_new(uint16_t mtu) {
    size_t len = BH_COC_STORAGE_SIZE(mtu);
    ble_l2cap_storage_t *s = m_malloc(sizeof(ble_l2cap_storage_t) + len);
    s->len = len;
    return s;
}

static void storage_del(ble_l2cap_storage_t *s) {
    m_del(uint8_t, s, sizeof(ble_l2cap_storage_t) + s->len);
}

// The host took s (call returned 0, keep it in slot) or refused it (free
// it, raise the error).
static void storage_handed(ble_l2cap_storage_t *s, int err, size_t slot) {
    if (err != 0) {
        storage_del(s);
        raise_setup_error(err);
    }
    MP_STATE_VM(ble_l2cap_storage)[slot] = s;
}

void bh_evt_l2cap_storage_free(uint8_t *mem) {
    for (size_t i = 0; i < MP_ARRAY_SIZE(MP_STATE_VM(ble_l2cap_storage)); ++i) {
        ble_l2cap_storage_t *s = MP_STATE_VM(ble_l2cap_storage)[i];
        if (s != NULL && s->mem == mem) {
            MP_STATE_VM(ble_l2cap_storage)[i] = NULL;
            storage_del(s);
            return;
        }
    }
}

// ---- methods ----

static mp_obj_t ble_l2cap_listen(mp_obj_t self_in, mp_obj_t psm_in, mp_obj_t mtu_in) {
    (void)self_in;
    uint16_t psm = get_psm(psm_in);
    uint16_t mtu = get_mtu(mtu_in);
    ble_check_active();
    // Kept alive by the C stack until storage_handed() roots it.
    ble_l2cap_storage_t *s = storage_new(mtu);
    storage_handed(s, bh_coc_listen(psm, mtu, s->mem, s->len), STORAGE_LISTEN);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_3(ble_l2cap_listen_obj, ble_l2cap_listen);

static mp_obj_t ble_l2cap_connect(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    uint16_t conn_handle = get_conn_handle(args[1]);
    uint16_t psm = get_psm(args[2]);
    uint16_t mtu = get_mtu(args[3]);
    ble_check_active();
    ble_l2cap_storage_t *s = storage_new(mtu);
    storage_handed(s, bh_coc_connect(conn_handle, psm, mtu, s->mem, s->len), STORAGE_CONNECT);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_l2cap_connect_obj, 4, 4, ble_l2cap_connect);

static mp_obj_t ble_l2cap_disconnect(mp_obj_t self_in, mp_obj_t conn_in, mp_obj_t cid_in) {
    (void)self_in;
    uint16_t conn_handle = get_conn_handle(conn_in);
    uint16_t cid = get_cid(cid_in);
    ble_check_active();
    raise_channel_error(bh_coc_disconnect(conn_handle, cid));
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_3(ble_l2cap_disconnect_obj, ble_l2cap_disconnect);

static mp_obj_t ble_l2cap_send(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    uint16_t conn_handle = get_conn_handle(args[1]);
    uint16_t cid = get_cid(args[2]);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[3], &buf, MP_BUFFER_READ);
    ble_check_active();
    // The host copies the SDU: buf may change as soon as this returns.
    int ret = bh_coc_send(conn_handle, cid, buf.buf, buf.len);
    raise_channel_error(ret);
    return mp_obj_new_bool(ret == 1);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_l2cap_send_obj, 4, 4, ble_l2cap_send);

static mp_obj_t ble_l2cap_recvinto(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    uint16_t conn_handle = get_conn_handle(args[1]);
    uint16_t cid = get_cid(args[2]);
    bool count_only = args[3] == mp_const_none;
    mp_buffer_info_t buf = { .buf = NULL, .len = 0 };
    if (!count_only) {
        mp_get_buffer_raise(args[3], &buf, MP_BUFFER_WRITE);
    }
    ble_check_active();
    // The host counts when given no buffer; an empty buffer (whose pointer
    // may be NULL) reads nothing, but the channel must still exist.
    int ret = bh_coc_recv(conn_handle, cid, buf.len > 0 ? buf.buf : NULL, buf.len);
    raise_channel_error(ret);
    if (!count_only && buf.len == 0) {
        ret = 0;
    }
    return MP_OBJ_NEW_SMALL_INT(ret);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_l2cap_recvinto_obj, 4, 4, ble_l2cap_recvinto);

// ---- host events (no allocation: ring records and small ints only) ----

uint16_t bh_evt_l2cap_accept(uint16_t conn_handle, uint16_t cid, uint16_t psm,
    uint16_t our_mtu, uint16_t peer_mtu) {
    const ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(cid), BLE_INT(psm),
                              BLE_INT(our_mtu), BLE_INT(peer_mtu) };
    mp_obj_t ret = ble_event_call_sync_raw(IRQ_L2CAP_ACCEPT, f, MP_ARRAY_SIZE(f));
    if (ret == mp_const_none || ret == mp_const_false) {
        return 0;
    }
    if (ret == MP_OBJ_NULL || !mp_obj_is_small_int(ret)) {
        // The handler raised (already printed) or answered something else
        // than an int: refuse rather than open a channel nobody expects.
        return RESULT_NO_RESOURCES;
    }
    mp_int_t v = MP_OBJ_SMALL_INT_VALUE(ret);
    if (v == 0) {
        return 0;
    }
    // The host sends codes outside 0x0002-0x000b as 0x0004.
    return v > 0 && v <= 0xffff ? (uint16_t)v : RESULT_NO_RESOURCES;
}

void bh_evt_l2cap_connect(uint16_t conn_handle, uint16_t cid, uint16_t psm,
    uint16_t our_mtu, uint16_t peer_mtu) {
    const ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(cid), BLE_INT(psm),
                              BLE_INT(our_mtu), BLE_INT(peer_mtu) };
    ble_event_push(IRQ_L2CAP_CONNECT, f, MP_ARRAY_SIZE(f));
}

void bh_evt_l2cap_disconnect(uint16_t conn_handle, uint16_t cid, uint16_t psm, uint16_t status) {
    const ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(cid), BLE_INT(psm), BLE_INT(status) };
    ble_event_push(IRQ_L2CAP_DISCONNECT, f, MP_ARRAY_SIZE(f));
}

bool bh_evt_l2cap_recv(uint16_t conn_handle, uint16_t cid) {
    const ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(cid) };
    // Dropped (ring full): the host raises it again from its poll.
    return ble_event_push(IRQ_L2CAP_RECV, f, MP_ARRAY_SIZE(f));
}

void bh_evt_l2cap_send_ready(uint16_t conn_handle, uint16_t cid, uint16_t status) {
    const ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(cid), BLE_INT(status) };
    ble_event_push(IRQ_L2CAP_SEND_READY, f, MP_ARRAY_SIZE(f));
}
