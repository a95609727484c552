// Default (weak) definitions of the GATT server's and the ATT bearer's
// bh_evt_* callbacks (bh_gatts.h, bh_att.h), so each unit-test program
// defines only the events it observes.
#include "bh_att.h"
#include "bh_gatts.h"

#define WEAK __attribute__((weak))

WEAK void bh_evt_mtu_exchanged(uint16_t conn_handle, uint16_t mtu) {
    (void)conn_handle;
    (void)mtu;
}

WEAK void bh_evt_gatts_write(uint16_t conn_handle, uint16_t handle) {
    (void)conn_handle;
    (void)handle;
}

WEAK uint8_t bh_evt_gatts_read_request(uint16_t conn_handle, uint16_t handle) {
    (void)conn_handle;
    (void)handle;
    return 0;
}

WEAK void bh_evt_gatts_indicate_done(uint16_t conn_handle, uint16_t handle, uint8_t outcome) {
    (void)conn_handle;
    (void)handle;
    (void)outcome;
}

WEAK size_t bh_evt_gap_name(const uint8_t **name) {
    static const uint8_t default_name[] = "unit";
    *name = default_name;
    return sizeof(default_name) - 1;
}
