// ATT bearer on fixed channel 4: per-link MTU, routing of received PDUs to
// the GATT server and client, timers. See bh_att.h.
#include "bh_err.h"
#include <stdbool.h>
#include <string.h>

#include "bh_att.h"
#include "bh_config.h"
#include "bh_conn.h"
#include "blehost.h"

typedef struct _att_link_t {
    bool used;
    bool exchanged; // an MTU exchange completed (reported once)
    uint16_t handle;
    uint16_t mtu;
} att_link_t;

static att_link_t att_links[BH_MAX_CONNECTIONS];

// The MTU we offer; kept across activations (not reset by bh_att_init).
static uint16_t att_local_mtu = BH_ATT_LOCAL_MTU_DEFAULT;


static att_link_t *link_find(uint16_t handle) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        if (att_links[i].used && att_links[i].handle == handle) {
            return &att_links[i];
        }
    }
    return NULL;
}

// The link's state, created on first use while the connection exists (so
// the ATT layer needs no hook at connection time).
static att_link_t *link_get(uint16_t handle) {
    att_link_t *l = link_find(handle);
    if (l != NULL || bh_conn_find(handle) == NULL) {
        return l;
    }
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        l = &att_links[i];
        if (!l->used) {
            memset(l, 0, sizeof(*l));
            l->used = true;
            l->handle = handle;
            l->mtu = BH_ATT_MTU_DEFAULT;
            return l;
        }
    }
    return NULL;
}

int bh_att_set_local_mtu(uint16_t mtu) {
    if (mtu < BH_ATT_MTU_DEFAULT || mtu > BH_ATT_MTU_MAX) {
        return -BH_EINVAL;
    }
    att_local_mtu = mtu;
    return 0;
}

uint16_t bh_att_get_local_mtu(void) {
    return att_local_mtu;
}

uint16_t bh_att_get_mtu(uint16_t conn_handle) {
    att_link_t *l = link_get(conn_handle);
    return l == NULL ? 0 : l->mtu;
}

void bh_att_mtu_exchanged(uint16_t conn_handle, uint16_t peer_mtu) {
    att_link_t *l = link_get(conn_handle);
    if (l == NULL) {
        return;
    }
    uint16_t mtu = peer_mtu < att_local_mtu ? peer_mtu : att_local_mtu;
    if (mtu < BH_ATT_MTU_DEFAULT) {
        mtu = BH_ATT_MTU_DEFAULT;
    }
    l->mtu = mtu;
    if (!l->exchanged) {
        l->exchanged = true;
        bh_evt_mtu_exchanged(conn_handle, mtu);
    }
}

int bh_att_send(uint16_t conn_handle, const uint8_t *pdu, size_t len) {
    return bh_l2cap_send(conn_handle, BH_L2CAP_CID_ATT, pdu, len);
}

int bh_att_send_bulk(uint16_t conn_handle, const uint8_t *pdu, size_t len) {
    return bh_l2cap_send_bulk(conn_handle, BH_L2CAP_CID_ATT, pdu, len);
}

// Opcodes the client handles: responses, notifications, indications.
static bool is_for_client(uint8_t op) {
    switch (op) {
        case BH_ATT_ERROR_RSP:
        case BH_ATT_EXCHANGE_MTU_RSP:
        case BH_ATT_FIND_INFORMATION_RSP:
        case BH_ATT_FIND_BY_TYPE_VALUE_RSP:
        case BH_ATT_READ_BY_TYPE_RSP:
        case BH_ATT_READ_RSP:
        case BH_ATT_READ_BLOB_RSP:
        case BH_ATT_READ_MULTIPLE_RSP:
        case BH_ATT_READ_BY_GROUP_TYPE_RSP:
        case BH_ATT_WRITE_RSP:
        case BH_ATT_PREPARE_WRITE_RSP:
        case BH_ATT_EXECUTE_WRITE_RSP:
        case BH_ATT_HANDLE_VALUE_NTF:
        case BH_ATT_HANDLE_VALUE_IND:
            return true;
        default:
            return false;
    }
}

static bool att_rx(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    (void)cid;
    if (len == 0 || link_get(conn_handle) == NULL) {
        return true;
    }
    if (is_for_client(data[0])) {
        bh_gattc_on_pdu(conn_handle, data, len);
    } else {
        // Requests, commands, confirmations and unknown opcodes.
        bh_gatts_on_pdu(conn_handle, data, len);
    }
    return true;
}

void bh_att_conn_closed(uint16_t conn_handle) {
    att_link_t *l = link_find(conn_handle);
    if (l != NULL) {
        memset(l, 0, sizeof(*l));
    }
    bh_gatts_conn_closed(conn_handle);
    bh_gattc_conn_closed(conn_handle);
}

void bh_att_init(void) {
    memset(att_links, 0, sizeof(att_links));
    (void)bh_l2cap_set_rx_handler(BH_L2CAP_CID_ATT, att_rx);
    bh_gatts_reset_links();
    bh_gattc_reset();
}

void bh_att_poll(uint32_t now_ms) {
    bh_gatts_poll(now_ms);
    bh_gattc_poll(now_ms);
}

static void att_disconnected(bh_conn_t *conn) {
    bh_att_conn_closed(conn->handle);
}

const bh_layer_t bh_att_layer = {
    .reset = bh_att_init,
    .disconnected = att_disconnected,
    .poll = bh_att_poll,
};
