// GAP methods of the BLE object (gap_advertise, gap_scan, gap_connect,
// gap_disconnect) and the host's GAP events as IRQ records.
//
// Decisions beyond the spec text:
// - gap_scan() while a scan runs restarts it with the new parameters and
//   duration; the scan does not end, so _IRQ_SCAN_DONE comes once, when the
//   last duration elapses or the scan is stopped. gap_scan(None) when idle
//   does nothing (no event).
// - gap_connect(addr_type, addr, 0) waits for the peer until cancelled;
//   gap_connect(None) with no attempt pending does nothing (no event).
// - A connect attempt that ends without a link (timeout, cancel, refusal)
//   raises _IRQ_PERIPHERAL_DISCONNECT (0xffff, addr_type, addr) with the
//   address that was asked for.
// - active(False) reports what it ends: _IRQ_SCAN_DONE for a scan, the
//   failed attempt, and the disconnect event of every open link.
// - The advertising payloads are kept across gap_advertise() calls and
//   forgotten at activation.
#include "py/runtime.h"
#include "py/mperrno.h"
#include "blehost.h"
#include "bh_err.h"
#include "modbluetooth.h"

#define IRQ_CENTRAL_CONNECT (1)
#define IRQ_CENTRAL_DISCONNECT (2)
#define IRQ_SCAN_RESULT (5)
#define IRQ_SCAN_DONE (6)
#define IRQ_PERIPHERAL_CONNECT (7)
#define IRQ_PERIPHERAL_DISCONNECT (8)
#define IRQ_CONNECTION_UPDATE (27)
#define IRQ_ENCRYPTION_UPDATE (28)

#define CONN_HANDLE_NONE (0xffff)

#define ADV_UNIT_US (625)
#define CONN_UNIT_US (1250)

#define ADV_INTERVAL_DEFAULT_US (500000)
#define SCAN_INTERVAL_DEFAULT_US (1280000)
#define SCAN_WINDOW_DEFAULT_US (11250)
#define CONNECT_SCAN_DURATION_DEFAULT_MS (2000)
// Longest duration accepted (about 12 days; fits a small int everywhere).
#define DURATION_MAX_MS (0x3fffffff)

static void raise_if_error(int err) {
    if (err != 0) {
        ble_raise_errno(err);
    }
}

static mp_int_t get_int_range(mp_obj_t obj, mp_int_t lo, mp_int_t hi, qstr name) {
    mp_int_t v = mp_obj_get_int(obj);
    if (v < lo || v > hi) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("%q out of range"), name);
    }
    return v;
}

// Microseconds to controller units (rounded down), range-checked.
static uint16_t us_to_units(mp_int_t us, uint32_t unit_us, uint16_t lo, uint16_t hi, qstr name) {
    if (us < 0 || (mp_uint_t)us / unit_us < lo || (mp_uint_t)us / unit_us > hi) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("%q must be %u..%u us"), name,
            (unsigned)(lo * unit_us), (unsigned)(hi * unit_us + unit_us - 1));
    }
    return (uint16_t)((mp_uint_t)us / unit_us);
}

// A payload argument (checked by check_payload): None keeps the stored one.
static void set_payload(mp_obj_t obj, int (*setter)(const uint8_t *, size_t)) {
    if (obj != mp_const_none) {
        mp_buffer_info_t buf;
        mp_get_buffer_raise(obj, &buf, MP_BUFFER_READ);
        raise_if_error(setter(buf.buf, buf.len));
    }
}

// None, or any buffer of at most 31 bytes.
static void check_payload(mp_obj_t obj, qstr name) {
    if (obj != mp_const_none) {
        mp_buffer_info_t buf;
        mp_get_buffer_raise(obj, &buf, MP_BUFFER_READ);
        if (buf.len > BH_ADV_DATA_MAX) {
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("%q longer than %d bytes"), name,
                BH_ADV_DATA_MAX);
        }
    }
}

// ---- gap_advertise(interval_us=500000, adv_data=None, *, resp_data=None, connectable=True) ----
// interval_us may be omitted (500 ms, as the reference binding); None stops.

static mp_obj_t ble_gap_advertise(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_interval_us, ARG_adv_data, ARG_resp_data, ARG_connectable };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_interval_us, MP_ARG_OBJ, {.u_obj = MP_OBJ_NEW_SMALL_INT(ADV_INTERVAL_DEFAULT_US)} },
        { MP_QSTR_adv_data, MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_resp_data, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_connectable, MP_ARG_KW_ONLY | MP_ARG_BOOL, {.u_bool = true} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    mp_obj_t interval_obj = args[ARG_interval_us].u_obj;
    uint16_t interval = 0;
    if (interval_obj != mp_const_none) {
        interval = us_to_units(mp_obj_get_int(interval_obj), ADV_UNIT_US, BH_ADV_INTERVAL_MIN,
            BH_ADV_INTERVAL_MAX, MP_QSTR_interval_us);
    }
    // Check everything before changing anything.
    check_payload(args[ARG_adv_data].u_obj, MP_QSTR_adv_data);
    check_payload(args[ARG_resp_data].u_obj, MP_QSTR_resp_data);
    ble_check_active();
    set_payload(args[ARG_adv_data].u_obj, bh_adv_set_data);
    set_payload(args[ARG_resp_data].u_obj, bh_adv_set_scan_rsp);
    if (interval_obj == mp_const_none) {
        raise_if_error(bh_adv_stop());
    } else {
        raise_if_error(bh_adv_start(interval, args[ARG_connectable].u_bool));
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_KW(ble_gap_advertise_obj, 1, ble_gap_advertise);

// An optional positional argument: absent or None means its default.
static bool given(size_t n_args, const mp_obj_t *args, size_t index) {
    return n_args > index && args[index] != mp_const_none;
}

// ---- gap_scan(duration_ms=0, interval_us=1280000, window_us=11250, active=False, /) ----
// As the reference binding: gap_scan() scans until stopped; gap_scan(None)
// stops. Interval and window may also be None (their defaults).

static mp_obj_t ble_gap_scan(size_t n_args, const mp_obj_t *args) {
    if (n_args > 1 && args[1] == mp_const_none) {
        ble_check_active();
        raise_if_error(bh_scan_stop());
        return mp_const_none;
    }
    mp_int_t duration = n_args > 1 ? get_int_range(args[1], 0, DURATION_MAX_MS, MP_QSTR_duration_ms) : 0;
    mp_int_t interval_us = given(n_args, args, 2) ? mp_obj_get_int(args[2]) : SCAN_INTERVAL_DEFAULT_US;
    mp_int_t window_us = given(n_args, args, 3) ? mp_obj_get_int(args[3]) : SCAN_WINDOW_DEFAULT_US;
    uint16_t interval = us_to_units(interval_us, ADV_UNIT_US,
        BH_SCAN_INTERVAL_MIN, BH_SCAN_INTERVAL_MAX, MP_QSTR_interval_us);
    uint16_t window = us_to_units(window_us, ADV_UNIT_US,
        BH_SCAN_INTERVAL_MIN, BH_SCAN_INTERVAL_MAX, MP_QSTR_window_us);
    if (window > interval || window_us > interval_us) {
        mp_raise_ValueError(MP_ERROR_TEXT("window_us must not exceed interval_us"));
    }
    bool active = n_args > 4 && mp_obj_is_true(args[4]);
    ble_check_active();
    raise_if_error(bh_scan_start((uint32_t)duration, interval, window, active));
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gap_scan_obj, 1, 5, ble_gap_scan);

// ---- gap_connect(addr_type, addr=None, scan_duration_ms=2000,
//                  min_conn_interval_us=None, max_conn_interval_us=None, /) ----
// As the reference binding (and aioble, which passes None for all three):
// None means the default, and so does 0 for an interval.

static mp_obj_t ble_gap_connect(size_t n_args, const mp_obj_t *args) {
    if (args[1] == mp_const_none) {
        ble_check_active();
        raise_if_error(bh_connect_cancel());
        return mp_const_none;
    }
    bh_addr_t peer;
    peer.type = get_int_range(args[1], BH_ADDR_TYPE_PUBLIC, BH_ADDR_TYPE_RANDOM, MP_QSTR_addr_type);
    if (n_args < 3 || args[2] == mp_const_none) {
        mp_raise_TypeError(MP_ERROR_TEXT("gap_connect needs addr"));
    }
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, MP_BUFFER_READ);
    if (buf.len != 6) {
        mp_raise_ValueError(MP_ERROR_TEXT("addr must be 6 bytes"));
    }
    // Python gives the address most significant byte first; HCI wants it
    // least significant first.
    for (size_t i = 0; i < 6; i++) {
        peer.val[i] = ((const uint8_t *)buf.buf)[5 - i];
    }
    mp_int_t duration = CONNECT_SCAN_DURATION_DEFAULT_MS;
    if (given(n_args, args, 3)) {
        duration = get_int_range(args[3], 0, DURATION_MAX_MS, MP_QSTR_scan_duration_ms);
    }
    bool have_min = given(n_args, args, 4) && mp_obj_get_int(args[4]) != 0;
    bool have_max = given(n_args, args, 5) && mp_obj_get_int(args[5]) != 0;
    uint16_t min = BH_CONN_INTERVAL_DEFAULT_MIN;
    uint16_t max = BH_CONN_INTERVAL_DEFAULT_MAX;
    if (have_min) {
        min = us_to_units(mp_obj_get_int(args[4]), CONN_UNIT_US, BH_CONN_INTERVAL_MIN,
            BH_CONN_INTERVAL_MAX, MP_QSTR_min_conn_interval_us);
    }
    if (have_max) {
        max = us_to_units(mp_obj_get_int(args[5]), CONN_UNIT_US, BH_CONN_INTERVAL_MIN,
            BH_CONN_INTERVAL_MAX, MP_QSTR_max_conn_interval_us);
    }
    if (have_min && have_max) {
        if (min > max) {
            mp_raise_ValueError(MP_ERROR_TEXT("min_conn_interval_us exceeds max_conn_interval_us"));
        }
    } else if (have_min && max < min) {
        // Only a minimum: allow up to the default maximum, or exactly it.
        max = min;
    } else if (have_max && min > max) {
        min = max;
    }
    ble_check_active();
    raise_if_error(bh_connect(&peer, (uint32_t)duration, min, max));
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gap_connect_obj, 2, 6, ble_gap_connect);

// ---- gap_disconnect(conn_handle, /) -> bool ----

static mp_obj_t ble_gap_disconnect(mp_obj_t self_in, mp_obj_t handle_in) {
    (void)self_in;
    mp_int_t handle = mp_obj_get_int(handle_in);
    ble_check_active();
    if (handle < 0 || handle > BH_CONN_HANDLE_MAX) {
        return mp_const_false;
    }
    int err = bh_disconnect((uint16_t)handle);
    if (err == -BH_ENOTCONN) {
        return mp_const_false;
    }
    raise_if_error(err);
    return mp_const_true;
}
MP_DEFINE_CONST_FUN_OBJ_2(ble_gap_disconnect_obj, ble_gap_disconnect);

// ---- host events -> ring records ----

static void addr_to_be(const bh_addr_t *addr, uint8_t be[6]) {
    for (size_t i = 0; i < 6; i++) {
        be[i] = addr->val[5 - i];
    }
}

static void push_conn_event(uint8_t event, uint16_t conn_handle, const bh_addr_t *peer) {
    uint8_t be[6];
    addr_to_be(peer, be);
    const ble_field_t fields[] = { BLE_INT(conn_handle), BLE_INT(peer->type), BLE_BYTES(be, 6) };
    ble_event_push(event, fields, MP_ARRAY_SIZE(fields));
}

void bh_evt_connected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer) {
    push_conn_event(role == BH_ROLE_PERIPHERAL ? IRQ_CENTRAL_CONNECT : IRQ_PERIPHERAL_CONNECT,
        conn_handle, peer);
}

void bh_evt_disconnected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer, uint8_t reason) {
    (void)reason;
    push_conn_event(role == BH_ROLE_PERIPHERAL ? IRQ_CENTRAL_DISCONNECT : IRQ_PERIPHERAL_DISCONNECT,
        conn_handle, peer);
}

void bh_evt_connect_failed(const bh_addr_t *peer, uint8_t status) {
    (void)status;
    push_conn_event(IRQ_PERIPHERAL_DISCONNECT, CONN_HANDLE_NONE, peer);
}

void bh_evt_scan_result(const bh_addr_t *addr, uint8_t adv_type, int8_t rssi,
    const uint8_t *data, size_t len) {
    uint8_t be[6];
    addr_to_be(addr, be);
    const ble_field_t fields[] = {
        BLE_INT(addr->type), BLE_BYTES(be, 6), BLE_INT(adv_type), BLE_INT(rssi), BLE_BYTES(data, len),
    };
    ble_event_push(IRQ_SCAN_RESULT, fields, MP_ARRAY_SIZE(fields));
}

void bh_evt_scan_done(void) {
    ble_event_push(IRQ_SCAN_DONE, NULL, 0);
}

void bh_evt_conn_update(uint16_t conn_handle, uint16_t interval, uint16_t latency,
    uint16_t timeout, uint8_t status) {
    const ble_field_t fields[] = {
        BLE_INT(conn_handle), BLE_INT(interval), BLE_INT(latency), BLE_INT(timeout), BLE_INT(status),
    };
    ble_event_push(IRQ_CONNECTION_UPDATE, fields, MP_ARRAY_SIZE(fields));
}

void bh_evt_encryption_update(uint16_t conn_handle, bool encrypted, bool authenticated,
    bool bonded, uint8_t key_size, uint16_t status) {
    // A failed pairing or encryption: encrypted 0 and key_size the negated
    // reason (README, "Pairing and bonding").
    const ble_field_t fields[] = {
        BLE_INT(conn_handle), BLE_INT(encrypted), BLE_INT(authenticated), BLE_INT(bonded),
        BLE_INT(status != 0 ? -(int32_t)status : key_size),
    };
    ble_event_push(IRQ_ENCRYPTION_UPDATE, fields, MP_ARRAY_SIZE(fields));
}
