// The `bluetooth` module: the BLE singleton, its methods, module constants,
// the host's event callbacks and the port hooks of mpbt_port.h.
#include <string.h>


#include "py/runtime.h"
#include "py/mperrno.h"
#include "bh_err.h"
#include "blehost.h"
#include "bh_rate.h"
#include "modbluetooth.h"
#include "mpbt_port.h"

// HCI_Reset timeouts: user deactivation may wait a little, soft reset not.
#define DEACTIVATE_RESET_TIMEOUT_MS (1000)
#define DEINIT_RESET_TIMEOUT_MS (100)

MP_REGISTER_ROOT_POINTER(struct _mp_obj_bluetooth_ble_t *bluetooth_ble);

static const mp_obj_type_t ble_type_ble;

static volatile bool poll_pending; // a poll callback sits in the scheduler queue

mp_obj_bluetooth_ble_t *ble_get(void) {
    return MP_STATE_VM(bluetooth_ble);
}

// The one place where the host's error numbers (bh_err.h) become
// MicroPython's errno values, whatever table the port uses.
int ble_errno_to_mp(int err) {
    switch (err) {
        case -BH_EPERM:
            return MP_EPERM;
        case -BH_ENODEV:
            return MP_ENODEV;
        case -BH_ETIMEDOUT:
            return MP_ETIMEDOUT;
        case -BH_EINVAL:
            return MP_EINVAL;
        case -BH_EBUSY:
            return MP_EBUSY;
        case -BH_ENOTCONN:
            return MP_ENOTCONN;
        case -BH_ENOMEM:
            return MP_ENOMEM;
        case -BH_EALREADY:
            return MP_EALREADY;
        case -BH_EOPNOTSUPP:
            return MP_EOPNOTSUPP;
        case -BH_EAGAIN:
            return MP_EAGAIN;
        default:
            return MP_EIO;
    }
}

NORETURN void ble_raise_errno(int err) {
    mp_raise_OSError(ble_errno_to_mp(err));
}

void ble_check_not_in_store(void) {
    mp_obj_bluetooth_ble_t *ble = ble_get();
    if (ble != NULL && ble->store_depth > 0) {
        mp_raise_OSError(MP_EBUSY);
    }
}

void ble_check_active(void) {
    ble_check_not_in_store();
    if (!bh_is_active()) {
        mp_raise_OSError(MP_EPERM);
    }
}

// ---- construction, active, irq ----

// Arguments are ignored, as by the reference binding.
static mp_obj_t ble_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    (void)n_args;
    (void)n_kw;
    (void)args;
    mp_obj_bluetooth_ble_t *ble = MP_STATE_VM(bluetooth_ble);
    if (ble == NULL) {
        ble = mp_obj_malloc(mp_obj_bluetooth_ble_t, type);
        ble->irq_handler = mp_const_none;
        ble->mtu = BLE_MTU_DEFAULT;
        ble->io = 3; // no input, no output
        ble->gap_name_len = sizeof(BLE_GAP_NAME_DEFAULT) - 1;
        memcpy(ble->gap_name, BLE_GAP_NAME_DEFAULT, ble->gap_name_len);
        ble_event_init(ble, BLE_RXBUF_DEFAULT);
        ble_gatts_init();
        ble_sec_apply_config(ble);
        ble->le_2m = true;
        (void)bh_rate_set_2m(true); // inactive: only remembered
        MP_STATE_VM(bluetooth_ble) = ble;
    }
    return MP_OBJ_FROM_PTR(ble);
}

static mp_obj_t ble_active(size_t n_args, const mp_obj_t *args) {
    mp_obj_bluetooth_ble_t *ble = MP_OBJ_TO_PTR(args[0]);
    if (n_args == 2) {
        ble_check_not_in_store();
        bool want = mp_obj_is_true(args[1]);
        if (want && !bh_is_active()) {
            ble_event_clear(ble);
            int err = bh_activate();
            if (err != 0) {
                ble_raise_errno(err);
            }
            ble_sec_identity_hint(ble);
        } else if (!want && bh_is_active()) {
            bh_deactivate(DEACTIVATE_RESET_TIMEOUT_MS);
            ble_gatts_deinit();
        }
    }
    return mp_obj_new_bool(bh_is_active());
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ble_active_obj, 1, 2, ble_active);

static mp_obj_t ble_irq(mp_obj_t self_in, mp_obj_t handler) {
    mp_obj_bluetooth_ble_t *ble = MP_OBJ_TO_PTR(self_in);
    if (handler != mp_const_none && !mp_obj_is_callable(handler)) {
        // ValueError, as the reference binding raises.
        mp_raise_ValueError(MP_ERROR_TEXT("handler must be callable or None"));
    }
    ble->irq_handler = handler;
    ble_sec_identity_hint(ble);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(ble_irq_obj, ble_irq);

// GATT client methods (ble_gattc.c).
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_discover_services_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_discover_characteristics_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_discover_descriptors_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_read_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_write_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gattc_exchange_mtu_obj);

static const mp_rom_map_elem_t ble_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_active), MP_ROM_PTR(&ble_active_obj) },
    { MP_ROM_QSTR(MP_QSTR_config), MP_ROM_PTR(&ble_config_obj) },
    { MP_ROM_QSTR(MP_QSTR_irq), MP_ROM_PTR(&ble_irq_obj) },
    { MP_ROM_QSTR(MP_QSTR_gap_advertise), MP_ROM_PTR(&ble_gap_advertise_obj) },
    { MP_ROM_QSTR(MP_QSTR_gap_scan), MP_ROM_PTR(&ble_gap_scan_obj) },
    { MP_ROM_QSTR(MP_QSTR_gap_connect), MP_ROM_PTR(&ble_gap_connect_obj) },
    { MP_ROM_QSTR(MP_QSTR_gap_disconnect), MP_ROM_PTR(&ble_gap_disconnect_obj) },
    { MP_ROM_QSTR(MP_QSTR_gatts_register_services), MP_ROM_PTR(&ble_gatts_register_services_obj) },
    { MP_ROM_QSTR(MP_QSTR_gatts_read), MP_ROM_PTR(&ble_gatts_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_gatts_write), MP_ROM_PTR(&ble_gatts_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_gatts_notify), MP_ROM_PTR(&ble_gatts_notify_obj) },
    { MP_ROM_QSTR(MP_QSTR_gatts_indicate), MP_ROM_PTR(&ble_gatts_indicate_obj) },
    { MP_ROM_QSTR(MP_QSTR_gatts_set_buffer), MP_ROM_PTR(&ble_gatts_set_buffer_obj) },
    { MP_ROM_QSTR(MP_QSTR_gattc_discover_services), MP_ROM_PTR(&ble_gattc_discover_services_obj) },
    { MP_ROM_QSTR(MP_QSTR_gattc_discover_characteristics), MP_ROM_PTR(&ble_gattc_discover_characteristics_obj) },
    { MP_ROM_QSTR(MP_QSTR_gattc_discover_descriptors), MP_ROM_PTR(&ble_gattc_discover_descriptors_obj) },
    { MP_ROM_QSTR(MP_QSTR_gattc_read), MP_ROM_PTR(&ble_gattc_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_gattc_write), MP_ROM_PTR(&ble_gattc_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_gattc_exchange_mtu), MP_ROM_PTR(&ble_gattc_exchange_mtu_obj) },
    { MP_ROM_QSTR(MP_QSTR_l2cap_listen), MP_ROM_PTR(&ble_l2cap_listen_obj) },
    { MP_ROM_QSTR(MP_QSTR_l2cap_connect), MP_ROM_PTR(&ble_l2cap_connect_obj) },
    { MP_ROM_QSTR(MP_QSTR_l2cap_disconnect), MP_ROM_PTR(&ble_l2cap_disconnect_obj) },
    { MP_ROM_QSTR(MP_QSTR_l2cap_send), MP_ROM_PTR(&ble_l2cap_send_obj) },
    { MP_ROM_QSTR(MP_QSTR_l2cap_recvinto), MP_ROM_PTR(&ble_l2cap_recvinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_gap_pair), MP_ROM_PTR(&ble_gap_pair_obj) },
    { MP_ROM_QSTR(MP_QSTR_gap_passkey), MP_ROM_PTR(&ble_gap_passkey_obj) },
};
static MP_DEFINE_CONST_DICT(ble_locals_dict, ble_locals_dict_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    ble_type_ble,
    MP_QSTR_BLE,
    MP_TYPE_FLAG_NONE,
    make_new, ble_make_new,
    locals_dict, &ble_locals_dict
    );

// The host's GAP events are turned into IRQ records in ble_gap.c.

// ---- port hooks (mpbt_port.h) ----

void mp_bluetooth_hci_poll(void) {
    if (MP_STATE_VM(bluetooth_ble) == NULL) {
        return;
    }
    bh_poll();
    if (bh_poll_pending()) {
        // Dispatch is bounded per poll: come back for the rest.
        mp_bluetooth_hci_poll_soon();
    }
    ble_event_poll_done();
}

static mp_obj_t poll_callback(mp_obj_t unused) {
    (void)unused;
    poll_pending = false;
    mp_bluetooth_hci_poll();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(poll_callback_obj, poll_callback);

void mp_bluetooth_hci_poll_soon(void) {
    if (!poll_pending) {
        poll_pending = mp_sched_schedule(MP_OBJ_FROM_PTR(&poll_callback_obj), mp_const_none);
    }
}

void mp_bluetooth_deinit(void) {
    if (bh_is_active()) {
        bh_deactivate(DEINIT_RESET_TIMEOUT_MS);
    }
    ble_gatts_deinit();
    // A soft reset starts from the default configuration.
    bh_addr_config_reset();
    MP_STATE_VM(bluetooth_ble) = NULL;
    poll_pending = false;
    ble_event_reset_schedule();
}

// ---- module ----

static const mp_rom_map_elem_t bluetooth_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_bluetooth) },
    { MP_ROM_QSTR(MP_QSTR_BLE), MP_ROM_PTR(&ble_type_ble) },
    { MP_ROM_QSTR(MP_QSTR_UUID), MP_ROM_PTR(&ble_type_uuid) },
    { MP_ROM_QSTR(MP_QSTR_FLAG_READ), MP_ROM_INT(0x0002) },
    { MP_ROM_QSTR(MP_QSTR_FLAG_WRITE_NO_RESPONSE), MP_ROM_INT(0x0004) },
    { MP_ROM_QSTR(MP_QSTR_FLAG_WRITE), MP_ROM_INT(0x0008) },
    { MP_ROM_QSTR(MP_QSTR_FLAG_NOTIFY), MP_ROM_INT(0x0010) },
    { MP_ROM_QSTR(MP_QSTR_FLAG_INDICATE), MP_ROM_INT(0x0020) },
};
static MP_DEFINE_CONST_DICT(bluetooth_module_globals, bluetooth_module_globals_table);

const mp_obj_module_t mp_module_bluetooth = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&bluetooth_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_bluetooth, mp_module_bluetooth);
