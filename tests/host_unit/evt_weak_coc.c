// Default (weak) definitions of the bh_evt_l2cap_* callbacks of bh_coc.h, so
// unit-test programs that do not look at channels link without them.
#include "bh_coc.h"

#define WEAK __attribute__((weak))

WEAK uint16_t bh_evt_l2cap_accept(uint16_t conn_handle, uint16_t cid, uint16_t psm,
    uint16_t our_mtu, uint16_t peer_mtu) {
    (void)conn_handle;
    (void)cid;
    (void)psm;
    (void)our_mtu;
    (void)peer_mtu;
    return 0;
}

WEAK void bh_evt_l2cap_connect(uint16_t conn_handle, uint16_t cid, uint16_t psm,
    uint16_t our_mtu, uint16_t peer_mtu) {
    (void)conn_handle;
    (void)cid;
    (void)psm;
    (void)our_mtu;
    (void)peer_mtu;
}

WEAK void bh_evt_l2cap_disconnect(uint16_t conn_handle, uint16_t cid, uint16_t psm, uint16_t status) {
    (void)conn_handle;
    (void)cid;
    (void)psm;
    (void)status;
}

WEAK bool bh_evt_l2cap_recv(uint16_t conn_handle, uint16_t cid) {
    (void)conn_handle;
    (void)cid;
    return true;
}

WEAK void bh_evt_l2cap_send_ready(uint16_t conn_handle, uint16_t cid, uint16_t status) {
    (void)conn_handle;
    (void)cid;
    (void)status;
}

WEAK void bh_evt_l2cap_storage_free(uint8_t *mem) {
    (void)mem;
}
