// GATT server methods (gatts_*) and the host's GATT server events.
//
// Decisions beyond the spec:
// - Flags: only the low 16 bits count (see get_flags).
// - gatts_register_services raises OSError(EBUSY) while advertising,
//   TypeError/ValueError for malformed definitions (a UUID that is not a
//   bluetooth.UUID: ValueError, as the reference binding raises) and
//   OSError(ENOMEM) beyond the host's bounds (bh_config.h BH_GATTS_MAX_*);
//   nothing is registered then: the previous services stay. The return
//   value is a list of tuples, as the spec says.
// - The database (attribute table, UUIDs, values) lives on the MicroPython
//   heap, as with the reference binding: registration allocates exactly what
//   the services need (each value at its default capacity of 20 bytes),
//   kept alive from a root pointer; re-registration, active(False) and soft
//   reset free it (the services are gone after deactivation, as with the
//   reference binding). gatts_write/gatts_set_buffer that raise a capacity
//   beyond the room move the database to a larger block first (MemoryError
//   when the heap has none: nothing changed). Events (remote reads, writes,
//   notifications) never allocate.
// - Characteristics with notify/indicate get a CCCD (0x2902) right after
//   their value (handle value+1, extended properties first when
//   FLAG_AUX_WRITE); its handle is not returned and writes to it only
//   change the subscription (no _IRQ_GATTS_WRITE, as MicroPython's own
//   multi_bluetooth tests expect). A 0x2902 descriptor listed by the user
//   replaces it: its handle is returned, it is the subscription state, and
//   writes to it raise _IRQ_GATTS_WRITE.
// - A client may write a value with either FLAG_WRITE or
//   FLAG_WRITE_NO_RESPONSE (and use prepare/execute writes on it).
// - gatts_indicate while an indication awaits its confirmation on that link
//   raises OSError(EBUSY). gatts_notify/indicate raise OSError(ENOMEM) only
//   if the transmit queue stays full for a second.
// - _IRQ_GATTS_INDICATE_DONE status: 0 confirmed, ETIMEDOUT (30 s ATT
//   timeout) or ENOTCONN (link closed before the confirmation).
#include "bh_err.h"
#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "blehost.h"
#include "bh_att.h"
#include "bh_gatts.h"
#include "modbluetooth.h"
#include "mpbt_port.h"

#define IRQ_GATTS_WRITE (3)
#define IRQ_GATTS_READ_REQUEST (4)
#define IRQ_GATTS_INDICATE_DONE (20)
#define IRQ_MTU_EXCHANGED (21)

#define BLE_ATT_READ_NOT_PERMITTED (0x02)
#define BLE_ATT_UNLIKELY_ERROR (0x0e)
#define SEND_RETRY_MS (1000)

// The host's database storage (bh_gatts_reset_db), on the heap.
MP_REGISTER_ROOT_POINTER(void *bluetooth_gatts_db);

// A host error as an exception; an over-long value is the caller's mistake.
static NORETURN void raise_host_error(int err) {
    if (err == -BH_EMSGSIZE) {
        mp_raise_ValueError(MP_ERROR_TEXT("value longer than 512 bytes"));
    }
    ble_raise_errno(err);
}

// Take new storage for the database (NULL: none) and free the old, once
// the host has let go of it.
static int db_replace(uint8_t *mem, size_t len, const bh_gatts_plan_t *plan) {
    uint8_t *old = MP_STATE_VM(bluetooth_gatts_db);
    size_t old_len = bh_gatts_storage_len();
    int err = bh_gatts_reset_db(mem, len, plan);
    if (err != 0) {
        return err;
    }
    MP_STATE_VM(bluetooth_gatts_db) = mem;
    if (old != NULL) {
        m_del(uint8_t, old, old_len);
    }
    return 0;
}

void ble_gatts_init(void) {
    // After a soft reset the root pointer is stale: the heap is new.
    MP_STATE_VM(bluetooth_gatts_db) = NULL;
    (void)bh_gatts_reset_db(NULL, 0, NULL);
    (void)bh_att_set_local_mtu(BLE_MTU_DEFAULT);
}

void ble_gatts_deinit(void) {
    // Inside a read-request handler the host still serves from it: it goes
    // at the next registration instead.
    (void)db_replace(NULL, 0, NULL);
}

// Room in the database for the value at h to have capacity cap: move it to
// a larger block when needed. Not on the event path (gatts_write and
// gatts_set_buffer only).
static void db_make_room(uint16_t h, size_t cap) {
    size_t len = bh_gatts_storage_len();
    size_t need = bh_gatts_storage_for(h, cap);
    if (need <= len) {
        return;
    }
    uint8_t *mem = m_new(uint8_t, need);
    uint8_t *old = MP_STATE_VM(bluetooth_gatts_db);
    int err = bh_gatts_move_db(mem, need);
    if (err != 0) {
        m_del(uint8_t, mem, need);
        ble_raise_errno(err);
    }
    MP_STATE_VM(bluetooth_gatts_db) = mem;
    if (old != NULL) {
        m_del(uint8_t, old, len);
    }
}

// ---- gatts_register_services ----

static void get_uuid(mp_obj_t obj, const uint8_t **data, size_t *len) {
    if (!mp_obj_is_type(obj, &ble_type_uuid)) {
        // ValueError, as the reference binding raises.
        mp_raise_ValueError(MP_ERROR_TEXT("UUID must be a bluetooth.UUID"));
    }
    const ble_uuid_obj_t *u = MP_OBJ_TO_PTR(obj);
    *data = u->data;
    *len = u->len;
}

static mp_obj_t *get_seq(mp_obj_t obj, size_t *len, size_t min, size_t max, const char *what) {
    if (!mp_obj_is_type(obj, &mp_type_tuple) && !mp_obj_is_type(obj, &mp_type_list)) {
        mp_raise_msg_varg(&mp_type_TypeError, MP_ERROR_TEXT("%s must be a tuple or list"), what);
    }
    mp_obj_t *items;
    mp_obj_get_array(obj, len, &items);
    if (*len < min || *len > max) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("%s must have %d to %d items"), what, (int)min, (int)max);
    }
    return items;
}

// As the reference binding: the low 16 bits are the flags; bits above them
// are the application's own (aioble marks capture mode with 0x10000), and
// the two bits of the low 16 that the API does not define (0x0080, 0x8000)
// mean nothing here.
static uint16_t get_flags(mp_obj_t obj) {
    return (uint16_t)((mp_uint_t)mp_obj_get_int(obj) & BH_GATTS_F_ALL);
}

static bool is_cccd_uuid(mp_obj_t obj) {
    const uint8_t *d;
    size_t n;
    get_uuid(obj, &d, &n);
    return n == 2 && d[0] == (BH_GATTS_UUID_CCCD & 0xff) && d[1] == (BH_GATTS_UUID_CCCD >> 8);
}

// Pass 1 (plan != NULL) checks the whole definition and plans the storage
// it needs; pass 2 builds the database and the result.
static mp_obj_t walk_services(mp_obj_t def, bh_gatts_plan_t *plan) {
    bool add = plan == NULL;
    size_t n_services;
    mp_obj_t *services = get_seq(def, &n_services, 0, SIZE_MAX, "services");
    mp_obj_t result = add ? mp_obj_new_list(0, NULL) : mp_const_none;
    for (size_t s = 0; s < n_services; s++) {
        size_t n;
        mp_obj_t *service = get_seq(services[s], &n, 2, 2, "service");
        const uint8_t *uuid;
        size_t uuid_len;
        get_uuid(service[0], &uuid, &uuid_len);
        size_t n_chars;
        mp_obj_t *chars = get_seq(service[1], &n_chars, 0, SIZE_MAX, "characteristics");
        mp_obj_t handles = MP_OBJ_NULL;
        if (add) {
            int err = bh_gatts_add_service(uuid, uuid_len);
            if (err < 0) {
                (void)db_replace(NULL, 0, NULL);
                raise_host_error(err);
            }
            handles = mp_obj_new_list(0, NULL);
        } else {
            bh_gatts_plan_service(plan, uuid, uuid_len);
        }
        for (size_t c = 0; c < n_chars; c++) {
            mp_obj_t *chr = get_seq(chars[c], &n, 2, 3, "characteristic");
            get_uuid(chr[0], &uuid, &uuid_len);
            uint16_t flags = get_flags(chr[1]);
            size_t n_descs = 0;
            mp_obj_t *descs = NULL;
            if (n == 3) {
                descs = get_seq(chr[2], &n_descs, 0, SIZE_MAX, "descriptors");
            }
            bool user_cccd = false;
            for (size_t d = 0; d < n_descs; d++) {
                mp_obj_t *desc = get_seq(descs[d], &n, 2, 2, "descriptor");
                user_cccd |= is_cccd_uuid(desc[0]);
                (void)get_flags(desc[1]);
            }
            if (!add) {
                bh_gatts_plan_characteristic(plan, uuid, uuid_len, flags, user_cccd);
                for (size_t d = 0; d < n_descs; d++) {
                    mp_obj_t *desc = get_seq(descs[d], &n, 2, 2, "descriptor");
                    const uint8_t *du;
                    size_t du_len;
                    get_uuid(desc[0], &du, &du_len);
                    bh_gatts_plan_descriptor(plan, du, du_len);
                }
                continue;
            }
            int h = bh_gatts_add_characteristic(uuid, uuid_len, flags, user_cccd);
            if (h < 0) {
                (void)db_replace(NULL, 0, NULL);
                raise_host_error(h);
            }
            mp_obj_list_append(handles, MP_OBJ_NEW_SMALL_INT(h));
            for (size_t d = 0; d < n_descs; d++) {
                mp_obj_t *desc = get_seq(descs[d], &n, 2, 2, "descriptor");
                get_uuid(desc[0], &uuid, &uuid_len);
                h = bh_gatts_add_descriptor(uuid, uuid_len, get_flags(desc[1]));
                if (h < 0) {
                    (void)db_replace(NULL, 0, NULL);
                    raise_host_error(h);
                }
                mp_obj_list_append(handles, MP_OBJ_NEW_SMALL_INT(h));
            }
        }
        if (add) {
            size_t len;
            mp_obj_t *items;
            mp_obj_list_get(handles, &len, &items);
            mp_obj_list_append(result, mp_obj_new_tuple(len, items));
        }
    }
    return result;
}

static mp_obj_t ble_gatts_register_services(mp_obj_t self_in, mp_obj_t def) {
    (void)self_in;
    ble_check_active();
    if (bh_adv_is_enabled()) {
        // The spec: advertising must be stopped before registering services.
        mp_raise_OSError(MP_EBUSY);
    }
    bh_gatts_plan_t plan = { 0 };
    walk_services(def, &plan);
    size_t size;
    int err = bh_gatts_plan_size(&plan, &size);
    if (err != 0) {
        raise_host_error(err);
    }
    // Exactly what the services need; MemoryError leaves the old ones.
    uint8_t *mem = size > 0 ? m_new(uint8_t, size) : NULL;
    err = db_replace(mem, size, &plan);
    if (err != 0) {
        if (mem != NULL) {
            m_del(uint8_t, mem, size);
        }
        raise_host_error(err);
    }
    mp_obj_t handles = walk_services(def, NULL);
    bh_gatts_db_changed();
    return handles;
}
MP_DEFINE_CONST_FUN_OBJ_2(ble_gatts_register_services_obj, ble_gatts_register_services);

// ---- values ----

static uint16_t get_value_handle(mp_obj_t obj, const uint8_t **data, size_t *len) {
    mp_int_t h = mp_obj_get_int(obj);
    const uint8_t *d;
    size_t n;
    if (h <= 0 || h > 0xffff || bh_gatts_get_value((uint16_t)h, &d, &n) != 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("invalid value handle"));
    }
    if (data != NULL) {
        *data = d;
        *len = n;
    }
    return (uint16_t)h;
}

static mp_obj_t ble_gatts_read(mp_obj_t self_in, mp_obj_t handle_in) {
    (void)self_in;
    ble_check_active();
    const uint8_t *data;
    size_t len;
    uint16_t h = get_value_handle(handle_in, &data, &len);
    if (ble_event_write_snapshot(h, &data, &len)) {
        // Inside this attribute's _IRQ_GATTS_WRITE handler: the value that
        // write stored, even if later writes replaced it since.
        return mp_obj_new_bytes(data, len);
    }
    mp_obj_t value = mp_obj_new_bytes(data, len);
    bh_gatts_consume(h);
    return value;
}
MP_DEFINE_CONST_FUN_OBJ_2(ble_gatts_read_obj, ble_gatts_read);

static mp_obj_t ble_gatts_write(size_t n_args, const mp_obj_t *args) {
    ble_check_active();
    uint16_t h = get_value_handle(args[1], NULL, NULL);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, MP_BUFFER_READ);
    if (buf.len > BH_ATT_VALUE_MAX) {
        mp_raise_ValueError(MP_ERROR_TEXT("value longer than 512 bytes"));
    }
    db_make_room(h, buf.len);
    int err = bh_gatts_set_value(h, buf.buf, buf.len);
    ble_event_write_snapshot_drop(h);
    if (err != 0) {
        raise_host_error(err);
    }
    if (n_args == 4 && mp_obj_is_true(args[3])) {
        // Wait (servicing HCI) while the transmit queue is full.
        uint32_t t0 = mp_hal_ticks_ms();
        while ((err = bh_gatts_send_update(h)) == -BH_ENOMEM && mp_hal_ticks_ms() - t0 < SEND_RETRY_MS) {
            mp_event_wait_ms(1);
            mp_bluetooth_hci_poll();
            bh_transport_service();
        }
        if (err != 0) {
            raise_host_error(err);
        }
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gatts_write_obj, 3, 4, ble_gatts_write);

static mp_obj_t ble_gatts_set_buffer(size_t n_args, const mp_obj_t *args) {
    ble_check_active();
    uint16_t h = get_value_handle(args[1], NULL, NULL);
    mp_int_t len = mp_obj_get_int(args[2]);
    if (len < 0 || len > BH_ATT_VALUE_MAX) {
        mp_raise_ValueError(MP_ERROR_TEXT("len must be 0..512"));
    }
    bool append = n_args == 4 && mp_obj_is_true(args[3]);
    db_make_room(h, (size_t)len);
    int err = bh_gatts_set_buffer(h, (size_t)len, append);
    if (err != 0) {
        raise_host_error(err);
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gatts_set_buffer_obj, 3, 4, ble_gatts_set_buffer);

// ---- notify / indicate ----

static mp_obj_t send_common(size_t n_args, const mp_obj_t *args, bool indicate) {
    ble_check_active();
    mp_int_t conn = mp_obj_get_int(args[1]);
    const uint8_t *data;
    size_t len;
    bool local = n_args < 4 || args[3] == mp_const_none;
    uint16_t h;
    mp_buffer_info_t buf;
    if (local) {
        h = get_value_handle(args[2], &data, &len);
    } else {
        // With explicit data any handle may be sent: the peer's database
        // need not match ours (as NimBLE-based ports allow).
        mp_int_t hv = mp_obj_get_int(args[2]);
        if (hv <= 0 || hv > 0xffff) {
            mp_raise_ValueError(MP_ERROR_TEXT("invalid value handle"));
        }
        h = (uint16_t)hv;
        mp_get_buffer_raise(args[3], &buf, MP_BUFFER_READ);
        data = buf.buf;
        len = buf.len;
    }
    if (conn < 0 || conn > BH_CONN_HANDLE_MAX) {
        mp_raise_OSError(MP_ENOTCONN);
    }
    // Wait (servicing HCI) while the transmit queue is full. The local value
    // may move meanwhile (a remote write): fetch it again after each wait.
    uint32_t t0 = mp_hal_ticks_ms();
    for (;;) {
        int err = indicate ? bh_gatts_indicate((uint16_t)conn, h, data, len)
            : bh_gatts_notify((uint16_t)conn, h, data, len);
        if (err != -BH_ENOMEM || mp_hal_ticks_ms() - t0 >= SEND_RETRY_MS) {
            if (err != 0) {
                raise_host_error(err);
            }
            return mp_const_none;
        }
        mp_event_wait_ms(1);
        mp_bluetooth_hci_poll();
        // Inside a handler the host's loop is busy: still take the
        // controller's buffer credits, so the queue drains.
        bh_transport_service();
        if (local) {
            get_value_handle(args[2], &data, &len);
        }
    }
}

static mp_obj_t ble_gatts_notify(size_t n_args, const mp_obj_t *args) {
    return send_common(n_args, args, false);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gatts_notify_obj, 3, 4, ble_gatts_notify);

static mp_obj_t ble_gatts_indicate(size_t n_args, const mp_obj_t *args) {
    return send_common(n_args, args, true);
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gatts_indicate_obj, 3, 4, ble_gatts_indicate);

// ---- host events ----

void bh_evt_gatts_write(uint16_t conn_handle, uint16_t handle) {
    const ble_field_t fields[] = { BLE_INT(conn_handle), BLE_INT(handle) };
    // From the host's top-level loop, as the reference implementation does:
    // the handler runs now, so gatts_read() in it sees what this write
    // stored. Events queued before it are delivered first, keeping order.
    if (ble_event_flush()) {
        (void)ble_event_call_sync(IRQ_GATTS_WRITE, fields, MP_ARRAY_SIZE(fields));
        return;
    }
    // Inside another handler (the host ran from a VM hook while Python was
    // handling an event): queue it with the value this write left, for
    // gatts_read() in its handler; append-mode buffers accumulate instead.
    const uint8_t *data = NULL;
    size_t len = 0;
    if (!bh_gatts_is_append(handle)) {
        (void)bh_gatts_get_value(handle, &data, &len);
    }
    const ble_field_t queued[] = {
        BLE_INT(conn_handle), BLE_INT(handle), BLE_HIDDEN(data, data == NULL ? 0 : len),
    };
    ble_event_push(IRQ_GATTS_WRITE, queued, data == NULL ? 2 : 3);
}

uint8_t bh_evt_gatts_read_request(uint16_t conn_handle, uint16_t handle) {
    const ble_field_t fields[] = { BLE_INT(conn_handle), BLE_INT(handle) };
    mp_obj_t ret = ble_event_call_sync_raw(IRQ_GATTS_READ_REQUEST, fields, MP_ARRAY_SIZE(fields));
    if (ret == MP_OBJ_NULL) {
        // The handler raised: an authorization check that failed must not
        // grant the read.
        return BLE_ATT_UNLIKELY_ERROR;
    }
    if (ret == mp_const_none || ret == mp_const_false || !mp_obj_is_int(ret)) {
        return 0;
    }
    // Any non-zero int denies: 1..255 is sent as the ATT error, anything
    // else (a big or negative int) as Read Not Permitted.
    if (!mp_obj_is_small_int(ret)) {
        return BLE_ATT_READ_NOT_PERMITTED;
    }
    mp_int_t v = MP_OBJ_SMALL_INT_VALUE(ret);
    if (v == 0) {
        return 0;
    }
    return v > 0 && v <= 0xff ? (uint8_t)v : BLE_ATT_READ_NOT_PERMITTED;
}

void bh_evt_gatts_indicate_done(uint16_t conn_handle, uint16_t handle, uint8_t outcome) {
    int status = outcome == BH_GATTS_IND_OK ? 0 : outcome == BH_GATTS_IND_TIMEOUT ? MP_ETIMEDOUT : MP_ENOTCONN;
    const ble_field_t fields[] = { BLE_INT(conn_handle), BLE_INT(handle), BLE_INT(status) };
    ble_event_push(IRQ_GATTS_INDICATE_DONE, fields, MP_ARRAY_SIZE(fields));
}

void bh_evt_mtu_exchanged(uint16_t conn_handle, uint16_t mtu) {
    const ble_field_t fields[] = { BLE_INT(conn_handle), BLE_INT(mtu) };
    ble_event_push(IRQ_MTU_EXCHANGED, fields, MP_ARRAY_SIZE(fields));
}

size_t bh_evt_gap_name(const uint8_t **name) {
    mp_obj_bluetooth_ble_t *ble = ble_get();
    if (ble == NULL) {
        *name = NULL;
        return 0;
    }
    *name = ble->gap_name;
    return ble->gap_name_len;
}
