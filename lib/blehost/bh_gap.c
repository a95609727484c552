// GAP: connection events. See bh_gap.h.
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "bh_conn.h"
#include "bh_gap.h"
#include "bh_hci.h"
#include "bh_port.h"
#include "bh_util.h"

// Reason sent when we must refuse a link because the table is full
// (Remote Device Terminated Connection due to Low Resources).
#define GAP_REASON_LOW_RESOURCES (0x14)

static void connection_complete(const uint8_t *p, size_t len, size_t min_len) {
    if (len < min_len) {
        return;
    }
    if (p[0] != BH_HCI_SUCCESS) {
        // Failed attempts are reported by the connect logic (later issue).
        return;
    }
    uint16_t handle = bh_get_u16(p + 1) & 0x0fff;
    uint8_t role = p[3] == 0 ? BH_ROLE_CENTRAL : BH_ROLE_PERIPHERAL;
    // Identity address types 2/3 (resolved RPA) report as public/random.
    bh_addr_t peer = { .type = p[4] & 1 };
    memcpy(peer.val, p + 5, 6);
    if (bh_conn_add(handle, role, &peer) == NULL) {
        uint8_t cmd[3];
        bh_put_u16(cmd, handle);
        cmd[2] = GAP_REASON_LOW_RESOURCES;
        bh_hci_cmd_post(BH_HCI_OP_DISCONNECT, cmd, sizeof(cmd));
        return;
    }
    bh_evt_connected(handle, role, &peer);
}

void bh_gap_on_le_meta(uint8_t subevent, const uint8_t *params, size_t len) {
    switch (subevent) {
        case BH_LE_SUBEVT_CONNECTION_COMPLETE:
            // status, handle, role, peer type, peer addr, interval, latency,
            // timeout, clock accuracy
            connection_complete(params, len, 18);
            break;
        case BH_LE_SUBEVT_ENH_CONNECTION_COMPLETE:
            // as above plus local and peer resolvable private addresses
            connection_complete(params, len, 30);
            break;
        default:
            break;
    }
}

void bh_gap_on_disconnection_complete(const uint8_t *p, size_t len) {
    // status, handle, reason
    if (len < 4 || p[0] != BH_HCI_SUCCESS) {
        return;
    }
    uint16_t handle = bh_get_u16(p + 1) & 0x0fff;
    bh_conn_t *c = bh_conn_find(handle);
    if (c == NULL) {
        return;
    }
    // Copy out before the slot is freed and before calling up.
    bh_addr_t peer = c->peer;
    uint8_t role = c->role;
    bh_conn_remove(c);
    bh_evt_disconnected(handle, role, &peer, p[3]);
}
