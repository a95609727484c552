// Pairing and bonding: gap_pair, gap_passkey, the passkey-action event and
// the bonding store upcalls (_IRQ_GET_SECRET / _IRQ_SET_SECRET), over the
// host's Security Manager (lib/blehost/bh_smp.c). Record layouts: README.
#include <string.h>

#include "py/runtime.h"
#include "blehost.h"
#include "modbluetooth.h"

#define IRQ_GET_SECRET (29)
#define IRQ_SET_SECRET (30)
#define IRQ_PASSKEY_ACTION (31)

void ble_sec_apply_config(mp_obj_bluetooth_ble_t *ble) {
    bh_smp_set_config(ble->io, ble->mitm, ble->le_secure, ble->bond);
}

// Applications that bond get our stored identity back (the IRK of our
// private addresses, our static address) as soon as their store may be
// reachable: at activation, when the handler is set, when bond is turned
// on. Others are never asked for it (pairing asks again anyway).
void ble_sec_identity_hint(mp_obj_bluetooth_ble_t *ble) {
    // Not from inside a store upcall (irq() called there): the Security
    // Manager is in the middle of a step and must not load an identity now.
    if (ble->bond && ble->irq_handler != mp_const_none && bh_is_active() && ble->store_depth == 0) {
        bh_smp_identity_load();
    }
}

static mp_obj_t ble_gap_pair(mp_obj_t self_in, mp_obj_t conn_in) {
    (void)self_in;
    ble_check_active();
    mp_int_t conn = mp_obj_get_int(conn_in);
    int err = bh_smp_pair(conn < 0 || conn > 0xffff ? 0xffff : (uint16_t)conn);
    if (err != 0) {
        ble_raise_errno(err);
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_2(ble_gap_pair_obj, ble_gap_pair);

static mp_obj_t ble_gap_passkey(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    ble_check_active();
    mp_int_t conn = mp_obj_get_int(args[1]);
    mp_int_t action = mp_obj_get_int(args[2]);
    mp_int_t passkey = mp_obj_get_int(args[3]);
    if (action != BH_PASSKEY_INPUT && action != BH_PASSKEY_DISPLAY && action != BH_PASSKEY_NUMCMP) {
        mp_raise_ValueError(MP_ERROR_TEXT("unknown passkey action"));
    }
    if (passkey < 0 || passkey > 999999) {
        mp_raise_ValueError(MP_ERROR_TEXT("passkey must be 0..999999"));
    }
    int err = bh_smp_passkey(conn < 0 || conn > 0xffff ? 0xffff : (uint16_t)conn, (uint8_t)action,
        (uint32_t)passkey);
    if (err != 0) {
        ble_raise_errno(err);
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gap_passkey_obj, 4, 4, ble_gap_passkey);

void bh_evt_passkey_action(uint16_t conn_handle, uint8_t action, uint32_t passkey) {
    const ble_field_t fields[] = { BLE_INT(conn_handle), BLE_INT(action), BLE_INT(passkey) };
    ble_event_push(IRQ_PASSKEY_ACTION, fields, MP_ARRAY_SIZE(fields));
}

int bh_evt_get_secret(uint8_t sec_type, uint16_t index, const uint8_t *key, size_t key_len,
    uint8_t *value, size_t value_max) {
    // key None asks for the index'th record of the type.
    const ble_field_t fields[] = { BLE_INT(sec_type), BLE_INT(index), BLE_BYTES(key, key_len) };
    mp_obj_t ret = ble_event_call_store(IRQ_GET_SECRET, fields, MP_ARRAY_SIZE(fields));
    mp_buffer_info_t buf;
    if (ret == mp_const_none || !mp_get_buffer(ret, &buf, MP_BUFFER_READ)) {
        return -1;
    }
    memcpy(value, buf.buf, buf.len < value_max ? buf.len : value_max);
    return (int)buf.len;
}

bool bh_evt_set_secret(uint8_t sec_type, const uint8_t *key, size_t key_len,
    const uint8_t *value, size_t value_len) {
    const ble_field_t fields[] = { BLE_INT(sec_type), BLE_BYTES(key, key_len), BLE_BYTES(value, value_len) };
    mp_obj_t ret = ble_event_call_store(IRQ_SET_SECRET, fields, MP_ARRAY_SIZE(fields));
    return mp_obj_is_true(ret);
}
