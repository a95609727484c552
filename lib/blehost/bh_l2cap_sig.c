// LE signalling channel (L2CAP CID 5), the GAP part: the Connection
// Parameter Update procedure (Core spec Vol 3 Part A 4.20, 4.21). A
// peripheral asks its central for new parameters; as central we answer
// (accepted or rejected) and, when accepted, apply them with
// LE_Connection_Update, whose completion raises bh_evt_conn_update() on both
// sides. Other commands go to the LE credit-based channels (bh_coc.c);
// what neither understands is rejected by bh_acl.c.
#include <string.h>

#include "bh_coc.h"
#include "bh_conn.h"
#include "bh_gap.h"
#include "bh_util.h"

#define SIG_CONN_PARAM_UPDATE_REQ (0x12)
#define SIG_CONN_PARAM_UPDATE_RSP (0x13)
#define PARAM_UPDATE_ACCEPTED (0x0000)
#define PARAM_UPDATE_REJECTED (0x0001)

static bool param_update_request(uint16_t handle, uint8_t identifier, const uint8_t *p, size_t len) {
    bh_conn_t *c = bh_conn_find(handle);
    // Only a central is asked; a malformed request is not understood.
    if (c == NULL || c->role != BH_ROLE_CENTRAL || len != 8) {
        return false;
    }
    uint16_t req[4];
    for (size_t i = 0; i < 4; i++) {
        req[i] = bh_get_u16(p + 2 * i);
    }
    bool ok = bh_gap_params_acceptable(req);
    uint8_t rsp[6] = { SIG_CONN_PARAM_UPDATE_RSP, identifier, 2, 0 };
    bh_put_u16(rsp + 4, ok ? PARAM_UPDATE_ACCEPTED : PARAM_UPDATE_REJECTED);
    (void)bh_l2cap_send(handle, BH_L2CAP_CID_LE_SIGNALING, rsp, sizeof(rsp));
    if (ok) {
        (void)bh_gap_update_params(handle, req);
    }
    return true;
}

static bool l2cap_sig_rx(uint16_t handle, uint16_t cid, const uint8_t *data, size_t len) {
    (void)cid;
    // code, identifier, length (checked by bh_acl.c), data
    const uint8_t *p = data + 4;
    switch (data[0]) {
        case SIG_CONN_PARAM_UPDATE_REQ:
            return param_update_request(handle, data[1], p, len - 4);
        case SIG_CONN_PARAM_UPDATE_RSP:
            // We never ask (no API for it): nothing to match, nothing to do.
            return true;
        default:
            // LE credit-based channels (and rejects of our requests).
            return bh_coc_on_signal(handle, data, len);
    }
}

void bh_l2cap_sig_init(void) {
    (void)bh_l2cap_set_rx_handler(BH_L2CAP_CID_LE_SIGNALING, l2cap_sig_rx);
}
