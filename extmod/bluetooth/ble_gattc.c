// GATT client methods of the BLE object (gattc_*) and the host's client
// events as IRQ records.
//
// Decisions beyond the spec text:
// - One ATT request per connection at a time (as ATT requires): a gattc_*
//   call made while another procedure (discovery, read, write with
//   response, MTU exchange) runs on the same connection is queued and runs
//   when the earlier ones are done, in call order. Up to 4 procedures wait
//   per connection, and the values of waiting writes share one pool of
//   1024 bytes (BH_GATTC_QUEUE_DATA) across connections; beyond either the
//   call raises OSError(ENOMEM), as MicroPython's NimBLE ports do when their
//   GATT procedures or buffers run out (retry once something has ended).
//   Reads and writes with response share 2 value buffers of 512 bytes
//   (BH_GATTC_VALUE_BUFS) across connections: one that finds none free
//   waits its turn like a queued procedure (a buffer that comes back goes
//   first to the connections that waited), so four connections reading or
//   writing long values at once all complete, two at a time.
//   gattc_write(mode=0) needs no transaction and goes out at once
//   (OSError(ENOMEM) when the transmit queue is full: retry after a short
//   wait).
// - gattc_discover_descriptors(conn, start, end) reports the attributes
//   after start_handle up to end_handle: pass the characteristic's value
//   handle and its end handle (as MicroPython's other implementations do).
// - gattc_read returns the whole value (up to 512 bytes, Read Blob after the
//   first MTU-1 bytes) in one _IRQ_GATTC_READ_RESULT, then
//   _IRQ_GATTC_READ_DONE. gattc_write(mode=1) with more than MTU-3 bytes
//   (up to 512) is a long write (Prepare/Execute Write); a server that
//   answers the first Prepare Write with Request Not Supported (ours does
//   for attributes without _FLAG_AUX_WRITE) gets the first MTU-3 bytes in
//   a Write Request, and the DONE status is 0x104. mode=0 with more than
//   MTU-3 bytes raises ValueError.
// - Statuses: 0 success; 1..0xff the ATT error code the server answered;
//   0x100 no response within the 30 s ATT timeout; 0x101 disconnected
//   during the procedure; 0x102 the server's response was malformed or did
//   not echo a prepared write; 0x103 transmit queue unavailable; 0x104 only
//   the first MTU-3 bytes were written (see above).
// - After an ATT timeout the connection's ATT bearer is unusable (Core spec):
//   procedures queued behind the one that timed out end with the same
//   status, and further gattc_* calls on it raise OSError(ETIMEDOUT) until it
//   is reconnected. The connection itself stays up. A disconnect ends the
//   running and the queued procedures with status 0x101.
// - gattc_exchange_mtu may be called once per connection (the Core spec
//   allows one request per client); again raises OSError(EALREADY). An
//   exchange the server refuses still raises _IRQ_MTU_EXCHANGED with 23; one
//   cut short by a disconnect or the ATT timeout raises none.
// - A write with response longer than MTU-3 bytes (MTU as it is when the
//   write starts) is a long write: the server receives the whole value.
#include "bh_err.h"

#include "py/runtime.h"
#include "py/mperrno.h"
#include "blehost.h"
#include "bh_att.h"
#include "bh_gattc.h"
#include "modbluetooth.h"

#define IRQ_GATTC_SERVICE_RESULT (9)
#define IRQ_GATTC_SERVICE_DONE (10)
#define IRQ_GATTC_CHARACTERISTIC_RESULT (11)
#define IRQ_GATTC_CHARACTERISTIC_DONE (12)
#define IRQ_GATTC_DESCRIPTOR_RESULT (13)
#define IRQ_GATTC_DESCRIPTOR_DONE (14)
#define IRQ_GATTC_READ_RESULT (15)
#define IRQ_GATTC_READ_DONE (16)
#define IRQ_GATTC_WRITE_DONE (17)
#define IRQ_GATTC_NOTIFY (18)
#define IRQ_GATTC_INDICATE (19)

#define WRITE_MODE_NO_RESPONSE (0)
#define WRITE_MODE_WITH_RESPONSE (1)

// A host error as an exception; an invalid range or UUID is the caller's.
static void raise_if_error(int err) {
    if (err == 0) {
        return;
    }
    if (err == -BH_EINVAL) {
        mp_raise_ValueError(MP_ERROR_TEXT("invalid handle range or UUID"));
    }
    ble_raise_errno(err);
}

// A handle outside the range names no link: ENOTCONN, as an unknown one
// (the reference binding's answer too).
static uint16_t get_conn_handle(mp_obj_t obj) {
    mp_int_t v = mp_obj_get_int(obj);
    if (v < 0 || v > BH_CONN_HANDLE_MAX) {
        mp_raise_OSError(MP_ENOTCONN);
    }
    return (uint16_t)v;
}

static uint16_t get_handle(mp_obj_t obj, qstr name) {
    mp_int_t v = mp_obj_get_int(obj);
    if (v < 1 || v > 0xffff) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("%q must be 1..65535"), name);
    }
    return (uint16_t)v;
}

// An optional UUID argument: NULL for None.
static const ble_uuid_obj_t *get_uuid(size_t n_args, const mp_obj_t *args, size_t index) {
    if (n_args <= index || args[index] == mp_const_none) {
        return NULL;
    }
    if (!mp_obj_is_type(args[index], &ble_type_uuid)) {
        mp_raise_TypeError(MP_ERROR_TEXT("uuid must be a bluetooth.UUID or None"));
    }
    return MP_OBJ_TO_PTR(args[index]);
}

// ---- methods ----

static mp_obj_t ble_gattc_discover_services(size_t n_args, const mp_obj_t *args) {
    uint16_t conn_handle = get_conn_handle(args[1]);
    const ble_uuid_obj_t *uuid = get_uuid(n_args, args, 2);
    ble_check_active();
    raise_if_error(bh_gattc_discover_services(conn_handle, uuid ? uuid->data : NULL,
        uuid ? uuid->len : 0));
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_discover_services_obj, 2, 3,
    ble_gattc_discover_services);

static void check_range(uint16_t start_handle, uint16_t end_handle) {
    if (start_handle > end_handle) {
        mp_raise_ValueError(MP_ERROR_TEXT("start_handle after end_handle"));
    }
}

static mp_obj_t ble_gattc_discover_characteristics(size_t n_args, const mp_obj_t *args) {
    uint16_t conn_handle = get_conn_handle(args[1]);
    uint16_t start_handle = get_handle(args[2], MP_QSTR_start_handle);
    uint16_t end_handle = get_handle(args[3], MP_QSTR_end_handle);
    check_range(start_handle, end_handle);
    const ble_uuid_obj_t *uuid = get_uuid(n_args, args, 4);
    ble_check_active();
    raise_if_error(bh_gattc_discover_characteristics(conn_handle, start_handle, end_handle,
        uuid ? uuid->data : NULL, uuid ? uuid->len : 0));
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_discover_characteristics_obj, 4, 5,
    ble_gattc_discover_characteristics);

static mp_obj_t ble_gattc_discover_descriptors(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    uint16_t conn_handle = get_conn_handle(args[1]);
    uint16_t start_handle = get_handle(args[2], MP_QSTR_start_handle);
    uint16_t end_handle = get_handle(args[3], MP_QSTR_end_handle);
    check_range(start_handle, end_handle);
    ble_check_active();
    raise_if_error(bh_gattc_discover_descriptors(conn_handle, start_handle, end_handle));
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_discover_descriptors_obj, 4, 4,
    ble_gattc_discover_descriptors);

static mp_obj_t ble_gattc_read(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    uint16_t conn_handle = get_conn_handle(args[1]);
    uint16_t value_handle = get_handle(args[2], MP_QSTR_value_handle);
    ble_check_active();
    raise_if_error(bh_gattc_read(conn_handle, value_handle));
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_read_obj, 3, 3, ble_gattc_read);

static mp_obj_t ble_gattc_write(size_t n_args, const mp_obj_t *args) {
    uint16_t conn_handle = get_conn_handle(args[1]);
    uint16_t value_handle = get_handle(args[2], MP_QSTR_value_handle);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[3], &buf, MP_BUFFER_READ);
    mp_int_t mode = n_args > 4 ? mp_obj_get_int(args[4]) : WRITE_MODE_NO_RESPONSE;
    if (mode != WRITE_MODE_NO_RESPONSE && mode != WRITE_MODE_WITH_RESPONSE) {
        mp_raise_ValueError(MP_ERROR_TEXT("mode must be 0 or 1"));
    }
    if (mode == WRITE_MODE_WITH_RESPONSE && buf.len > BH_GATTC_VALUE_MAX) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("data longer than %d bytes"),
            BH_GATTC_VALUE_MAX);
    }
    ble_check_active();
    int err = bh_gattc_write(conn_handle, value_handle, buf.buf, buf.len,
        mode == WRITE_MODE_WITH_RESPONSE);
    if (err == -BH_EMSGSIZE) {
        mp_raise_msg_varg(&mp_type_ValueError,
            MP_ERROR_TEXT("data longer than MTU-3 (%d bytes) needs mode=1"),
            bh_att_get_mtu(conn_handle) - 3);
    }
    raise_if_error(err);
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_write_obj, 4, 5, ble_gattc_write);

static mp_obj_t ble_gattc_exchange_mtu(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    uint16_t conn_handle = get_conn_handle(args[1]);
    ble_check_active();
    mp_obj_bluetooth_ble_t *ble = ble_get();
    if (ble != NULL) {
        // config('mtu') is the MTU we offer.
        bh_att_set_local_mtu(ble->mtu);
    }
    raise_if_error(bh_gattc_exchange_mtu(conn_handle));
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_exchange_mtu_obj, 2, 2, ble_gattc_exchange_mtu);

// ---- host events ----

void bh_evt_gattc_service(uint16_t conn_handle, uint16_t start_handle, uint16_t end_handle,
    const uint8_t *uuid, size_t uuid_len) {
    ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(start_handle), BLE_INT(end_handle),
                        BLE_UUID(uuid, uuid_len) };
    ble_event_push(IRQ_GATTC_SERVICE_RESULT, f, MP_ARRAY_SIZE(f));
}

void bh_evt_gattc_service_done(uint16_t conn_handle, uint16_t status) {
    ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(status) };
    ble_event_push(IRQ_GATTC_SERVICE_DONE, f, MP_ARRAY_SIZE(f));
}

void bh_evt_gattc_characteristic(uint16_t conn_handle, uint16_t end_handle,
    uint16_t value_handle, uint8_t properties, const uint8_t *uuid, size_t uuid_len) {
    ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(end_handle), BLE_INT(value_handle),
                        BLE_INT(properties), BLE_UUID(uuid, uuid_len) };
    ble_event_push(IRQ_GATTC_CHARACTERISTIC_RESULT, f, MP_ARRAY_SIZE(f));
}

void bh_evt_gattc_characteristic_done(uint16_t conn_handle, uint16_t status) {
    ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(status) };
    ble_event_push(IRQ_GATTC_CHARACTERISTIC_DONE, f, MP_ARRAY_SIZE(f));
}

void bh_evt_gattc_descriptor(uint16_t conn_handle, uint16_t handle, const uint8_t *uuid,
    size_t uuid_len) {
    ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(handle), BLE_UUID(uuid, uuid_len) };
    ble_event_push(IRQ_GATTC_DESCRIPTOR_RESULT, f, MP_ARRAY_SIZE(f));
}

void bh_evt_gattc_descriptor_done(uint16_t conn_handle, uint16_t status) {
    ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(status) };
    ble_event_push(IRQ_GATTC_DESCRIPTOR_DONE, f, MP_ARRAY_SIZE(f));
}

void bh_evt_gattc_read_result(uint16_t conn_handle, uint16_t value_handle, const uint8_t *data,
    size_t len) {
    ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(value_handle), BLE_BYTES(data, len) };
    ble_event_push(IRQ_GATTC_READ_RESULT, f, MP_ARRAY_SIZE(f));
}

void bh_evt_gattc_read_done(uint16_t conn_handle, uint16_t value_handle, uint16_t status) {
    ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(value_handle), BLE_INT(status) };
    ble_event_push(IRQ_GATTC_READ_DONE, f, MP_ARRAY_SIZE(f));
}

void bh_evt_gattc_write_done(uint16_t conn_handle, uint16_t value_handle, uint16_t status) {
    ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(value_handle), BLE_INT(status) };
    ble_event_push(IRQ_GATTC_WRITE_DONE, f, MP_ARRAY_SIZE(f));
}

void bh_evt_gattc_notify(uint16_t conn_handle, uint16_t value_handle, const uint8_t *data,
    size_t len, bool indication) {
    ble_field_t f[] = { BLE_INT(conn_handle), BLE_INT(value_handle), BLE_BYTES(data, len) };
    ble_event_push(indication ? IRQ_GATTC_INDICATE : IRQ_GATTC_NOTIFY, f, MP_ARRAY_SIZE(f));
}
