// Default (weak) definitions of every bh_evt_* callback of blehost.h, so each
// unit-test program defines only the events it observes. A new callback in
// blehost.h needs a line here.
#include "blehost.h"

#define WEAK __attribute__((weak))

WEAK void bh_evt_connected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer) {
    (void)conn_handle;
    (void)role;
    (void)peer;
}

WEAK void bh_evt_disconnected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer,
    uint8_t reason) {
    (void)conn_handle;
    (void)role;
    (void)peer;
    (void)reason;
}

WEAK void bh_evt_scan_result(const bh_addr_t *addr, uint8_t adv_type, int8_t rssi,
    const uint8_t *data, size_t len) {
    (void)addr;
    (void)adv_type;
    (void)rssi;
    (void)data;
    (void)len;
}

WEAK void bh_evt_scan_done(void) {
}

WEAK void bh_evt_connect_failed(const bh_addr_t *peer, uint8_t status) {
    (void)peer;
    (void)status;
}

WEAK void bh_evt_conn_update(uint16_t conn_handle, uint16_t interval, uint16_t latency,
    uint16_t timeout, uint8_t status) {
    (void)conn_handle;
    (void)interval;
    (void)latency;
    (void)timeout;
    (void)status;
}

WEAK void bh_evt_encryption_update(uint16_t conn_handle, bool encrypted, bool authenticated,
    bool bonded, uint8_t key_size, uint16_t status) {
    (void)conn_handle;
    (void)encrypted;
    (void)authenticated;
    (void)bonded;
    (void)key_size;
    (void)status;
}

WEAK void bh_evt_passkey_action(uint16_t conn_handle, uint8_t action, uint32_t passkey) {
    (void)conn_handle;
    (void)action;
    (void)passkey;
}

WEAK int bh_evt_get_secret(uint8_t sec_type, uint16_t index, const uint8_t *key, size_t key_len,
    uint8_t *value, size_t value_max) {
    (void)sec_type;
    (void)index;
    (void)key;
    (void)key_len;
    (void)value;
    (void)value_max;
    return -1;
}

WEAK bool bh_evt_set_secret(uint8_t sec_type, const uint8_t *key, size_t key_len,
    const uint8_t *value, size_t value_len) {
    (void)sec_type;
    (void)key;
    (void)key_len;
    (void)value;
    (void)value_len;
    return false;
}
