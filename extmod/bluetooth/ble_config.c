// BLE.config(): get one key, or set several with keywords.
//
// Keys beyond the spec:
// - 'rxbuf_dropped' (get only): the number of events dropped because the
//   ring buffer was full (or discarded by a resize) since this BLE object was
//   created.
// - 'rpa_timeout' (get/set, seconds, 1..41400, default 900): lifetime of a
//   resolvable or non-resolvable private address (addr_mode 2 and 3) before
//   it is replaced; kept across activations; a new value applies to the
//   address in use.
// - 'irk' (get only, while active): the 16-byte local Identity Resolving Key
//   of this activation, most significant octet first (as the Core spec
//   writes ah()), so a peer or a test that is given it can resolve our RPAs.
//   It is generated at each activation; only code on the device can read it,
//   and it is what pairing with key distribution would hand to a bonded peer.
#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "blehost.h"
#include "bh_att.h"
#include "bh_rate.h"
#include "bh_err.h"
#include "modbluetooth.h"

static NORETURN void raise_unknown(void) {
    mp_raise_ValueError(MP_ERROR_TEXT("unknown config param"));
}

static qstr key_qstr(mp_obj_t key) {
    if (!mp_obj_is_str(key)) {
        mp_raise_TypeError(MP_ERROR_TEXT("config key must be a str"));
    }
    size_t len;
    const char *s = mp_obj_str_get_data(key, &len);
    // Only look keys up: unknown strings must not be interned.
    return qstr_find_strn(s, len);
}

static mp_obj_t get_mac(void) {
    bh_addr_t addr;
    int err = bh_get_addr(&addr);
    if (err != 0) {
        mp_raise_OSError(MP_EPERM);
    }
    // Python sees the address most-significant byte first (display order);
    // HCI carries it least-significant first.
    uint8_t be[6];
    for (size_t i = 0; i < 6; i++) {
        be[i] = addr.val[5 - i];
    }
    mp_obj_t items[2] = { MP_OBJ_NEW_SMALL_INT(addr.type), mp_obj_new_bytes(be, 6) };
    return mp_obj_new_tuple(2, items);
}

static mp_obj_t get_irk(void) {
    uint8_t irk[16];
    if (bh_get_irk(irk) != 0) {
        mp_raise_OSError(MP_EPERM);
    }
    return mp_obj_new_bytes(irk, sizeof(irk));
}

static mp_obj_t config_get(mp_obj_bluetooth_ble_t *ble, mp_obj_t key) {
    switch (key_qstr(key)) {
        case MP_QSTR_mac:
            return get_mac();
        case MP_QSTR_addr_mode:
            return MP_OBJ_NEW_SMALL_INT(bh_get_addr_mode());
        case MP_QSTR_gap_name:
            return mp_obj_new_bytes(ble->gap_name, ble->gap_name_len);
        case MP_QSTR_rxbuf:
            return mp_obj_new_int_from_uint(ble->ring_size);
        case MP_QSTR_rxbuf_dropped:
            return mp_obj_new_int_from_uint(ble->events_dropped);
        case MP_QSTR_rpa_timeout:
            return mp_obj_new_int_from_uint(bh_get_rpa_timeout());
        case MP_QSTR_irk:
            return get_irk();
        case MP_QSTR_mtu:
            return MP_OBJ_NEW_SMALL_INT(ble->mtu);
        case MP_QSTR_bond:
            return mp_obj_new_bool(ble->bond);
        case MP_QSTR_mitm:
            return mp_obj_new_bool(ble->mitm);
        case MP_QSTR_io:
            return MP_OBJ_NEW_SMALL_INT(ble->io);
        case MP_QSTR_le_secure:
            return mp_obj_new_bool(ble->le_secure);
        case MP_QSTR_le_2m:
            return mp_obj_new_bool(ble->le_2m);
        default:
            raise_unknown();
    }
}

static mp_int_t get_int_in(mp_obj_t value, mp_int_t lo, mp_int_t hi, qstr name) {
    mp_int_t v = mp_obj_get_int(value);
    if (v < lo || v > hi) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("%q must be %d..%d"), name, (int)lo, (int)hi);
    }
    return v;
}

static void set_addr_mode(mp_obj_t value) {
    mp_int_t mode = get_int_in(value, 0, 3, MP_QSTR_addr_mode);
    int err = bh_set_addr_mode((uint8_t)mode);
    if (err == -BH_EINVAL) {
        // The only mode in range the host refuses: no public address.
        mp_raise_ValueError(MP_ERROR_TEXT("addr_mode 0 needs a controller public address"));
    }
    if (err != 0) {
        // EBUSY: the controller refuses a new random address while
        // advertising, scanning or connecting.
        ble_raise_errno(err);
    }
}


static void set_gap_name(mp_obj_bluetooth_ble_t *ble, mp_obj_t value) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(value, &buf, MP_BUFFER_READ);
    if (buf.len > BLE_GAP_NAME_MAX) {
        mp_raise_ValueError(MP_ERROR_TEXT("gap_name too long"));
    }
    memcpy(ble->gap_name, buf.buf, buf.len);
    ble->gap_name_len = (uint8_t)buf.len;
}

static void config_set(mp_obj_bluetooth_ble_t *ble, qstr key, mp_obj_t value) {
    switch (key) {
        case MP_QSTR_addr_mode:
            set_addr_mode(value);
            break;
        case MP_QSTR_gap_name:
            set_gap_name(ble, value);
            break;
        case MP_QSTR_rxbuf: {
            mp_int_t size = get_int_in(value, BLE_RXBUF_MIN, BLE_RXBUF_MAX, MP_QSTR_rxbuf);
            if ((size_t)size != ble->ring_size) {
                ble_event_resize(ble, size);
            }
            break;
        }
        case MP_QSTR_mtu:
            ble->mtu = get_int_in(value, BLE_MTU_MIN, BLE_MTU_MAX, MP_QSTR_mtu);
            // The MTU offered in exchanges (bh_att.h).
            bh_att_set_local_mtu(ble->mtu);
            break;
        case MP_QSTR_bond:
            ble->bond = mp_obj_is_true(value);
            ble_sec_apply_config(ble);
            ble_sec_identity_hint(ble);
            break;
        case MP_QSTR_mitm:
            ble->mitm = mp_obj_is_true(value);
            ble_sec_apply_config(ble);
            break;
        case MP_QSTR_io:
            ble->io = get_int_in(value, 0, 4, MP_QSTR_io);
            ble_sec_apply_config(ble);
            break;
        case MP_QSTR_le_secure:
            ble->le_secure = mp_obj_is_true(value);
            ble_sec_apply_config(ble);
            break;
        case MP_QSTR_le_2m: {
            // New links (and PHY updates a peer starts) follow it.
            ble->le_2m = mp_obj_is_true(value);
            int err = bh_rate_set_2m(ble->le_2m);
            if (err != 0) {
                ble_raise_errno(err);
            }
            break;
        }
        case MP_QSTR_rpa_timeout:
            bh_set_rpa_timeout((uint32_t)get_int_in(value, BH_RPA_TIMEOUT_MIN_S, BH_RPA_TIMEOUT_MAX_S, MP_QSTR_rpa_timeout));
            break;
        case MP_QSTR_mac:
        case MP_QSTR_rxbuf_dropped:
        case MP_QSTR_irk:
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("%q is read-only"), key);
        default:
            raise_unknown();
    }
}

static mp_obj_t ble_config(size_t n_args, const mp_obj_t *args, mp_map_t *kwargs) {
    mp_obj_bluetooth_ble_t *ble = MP_OBJ_TO_PTR(args[0]);
    if (n_args == 2 && kwargs->used == 0) {
        return config_get(ble, args[1]);
    }
    if (n_args == 1 && kwargs->used > 0) {
        ble_check_not_in_store();
        for (size_t i = 0; i < kwargs->alloc; i++) {
            if (mp_map_slot_is_filled(kwargs, i)) {
                config_set(ble, mp_obj_str_get_qstr(kwargs->table[i].key), kwargs->table[i].value);
            }
        }
        return mp_const_none;
    }
    mp_raise_TypeError(MP_ERROR_TEXT("config takes one key to get, or keywords to set"));
}
MP_DEFINE_CONST_FUN_OBJ_KW(ble_config_obj, 1, ble_config);
