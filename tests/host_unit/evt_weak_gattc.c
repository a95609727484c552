// Default (weak) definitions of the GATT client's bh_evt_gattc_* callbacks
// (bh_gattc.h), so unit-test programs that link the whole host need not
// define them.
#include "bh_gattc.h"

#define WEAK __attribute__((weak))

WEAK void bh_evt_gattc_service(uint16_t conn_handle, uint16_t start_handle, uint16_t end_handle,
    const uint8_t *uuid, size_t uuid_len) {
    (void)conn_handle;
    (void)start_handle;
    (void)end_handle;
    (void)uuid;
    (void)uuid_len;
}

WEAK void bh_evt_gattc_service_done(uint16_t conn_handle, uint16_t status) {
    (void)conn_handle;
    (void)status;
}

WEAK void bh_evt_gattc_characteristic(uint16_t conn_handle, uint16_t end_handle,
    uint16_t value_handle, uint8_t properties, const uint8_t *uuid, size_t uuid_len) {
    (void)conn_handle;
    (void)end_handle;
    (void)value_handle;
    (void)properties;
    (void)uuid;
    (void)uuid_len;
}

WEAK void bh_evt_gattc_characteristic_done(uint16_t conn_handle, uint16_t status) {
    (void)conn_handle;
    (void)status;
}

WEAK void bh_evt_gattc_descriptor(uint16_t conn_handle, uint16_t handle, const uint8_t *uuid,
    size_t uuid_len) {
    (void)conn_handle;
    (void)handle;
    (void)uuid;
    (void)uuid_len;
}

WEAK void bh_evt_gattc_descriptor_done(uint16_t conn_handle, uint16_t status) {
    (void)conn_handle;
    (void)status;
}

WEAK void bh_evt_gattc_read_result(uint16_t conn_handle, uint16_t value_handle,
    const uint8_t *data, size_t len) {
    (void)conn_handle;
    (void)value_handle;
    (void)data;
    (void)len;
}

WEAK void bh_evt_gattc_read_done(uint16_t conn_handle, uint16_t value_handle, uint16_t status) {
    (void)conn_handle;
    (void)value_handle;
    (void)status;
}

WEAK void bh_evt_gattc_write_done(uint16_t conn_handle, uint16_t value_handle, uint16_t status) {
    (void)conn_handle;
    (void)value_handle;
    (void)status;
}

WEAK void bh_evt_gattc_notify(uint16_t conn_handle, uint16_t value_handle, const uint8_t *data,
    size_t len, bool indication) {
    (void)conn_handle;
    (void)value_handle;
    (void)data;
    (void)len;
    (void)indication;
}
