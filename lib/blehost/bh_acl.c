// ACL data path and L2CAP fixed-channel dispatch. See bh_acl.h.
#include "bh_err.h"
#include <stdbool.h>
#include <string.h>

#include "bh_acl.h"
#include "bh_att.h"
#include "bh_coc.h"
#include "bh_config.h"
#include "bh_conn.h"
#include "bh_h4.h"
#include "bh_port.h"
#include "bh_util.h"

// Packet Boundary flags (bits 12-13 of the handle word).
#define PB_FIRST_NON_FLUSHABLE (0x0) // host to controller: start of a PDU
#define PB_CONTINUATION (0x1)
#define PB_FIRST_FLUSHABLE (0x2)     // controller to host: start of a PDU

#define HANDLE_NONE (0xffff)

#define RX_BUF_SIZE (BH_L2CAP_HDR + BH_L2CAP_RX_MAX_PAYLOAD)
#define TX_BUF_SIZE (BH_L2CAP_HDR + BH_L2CAP_TX_MAX_PAYLOAD)

typedef struct _tx_pdu_t {
    uint16_t handle; // HANDLE_NONE: dropped, skipped when it reaches the head
    uint16_t len;    // whole PDU, basic header included
    uint16_t sent;   // bytes already given to the controller
    uint8_t data[TX_BUF_SIZE];
} tx_pdu_t;

typedef struct _rx_state_t {
    uint16_t handle;  // HANDLE_NONE when the slot is free
    uint16_t fill;    // bytes of the PDU collected in buf
    uint16_t expect;  // whole PDU length once the basic header is in, else 0
    uint16_t skip;    // bytes still to discard of a PDU too big for buf
    uint8_t buf[RX_BUF_SIZE];
} rx_state_t;

static struct {
    tx_pdu_t txq[BH_ACL_TX_QUEUE_LEN]; // FIFO ring
    size_t tx_head;
    size_t tx_count;
    bool pumping;
    rx_state_t rx[BH_MAX_CONNECTIONS];
    bh_acl_stats_t stats;
    // One ACL packet as handed to the transport: header, data.
    uint8_t pkt[BH_H4_ACL_HDR + BH_ACL_TX_MAX_DATA];
} acl;

// Fixed channels 4 (ATT), 5 (LE signalling), 6 (SMP); kept across resets.
static bh_l2cap_rx_fn_t rx_handlers[3];

// The handler of dynamic CIDs (LE credit-based channels, bh_coc.c); kept
// across resets.
static bh_l2cap_dyn_rx_fn_t dyn_handler;

void bh_l2cap_set_dynamic_handler(bh_l2cap_dyn_rx_fn_t fn) {
    dyn_handler = fn;
}

void bh_acl_reset(void) {
    memset(&acl, 0, sizeof(acl));
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        acl.rx[i].handle = HANDLE_NONE;
    }
}

void bh_acl_get_stats(bh_acl_stats_t *stats) {
    *stats = acl.stats;
}

size_t bh_acl_tx_queued(void) {
    size_t n = 0;
    for (size_t i = 0; i < acl.tx_count; i++) {
        n += acl.txq[(acl.tx_head + i) % BH_ACL_TX_QUEUE_LEN].handle != HANDLE_NONE;
    }
    return n;
}

int bh_l2cap_set_rx_handler(uint16_t cid, bh_l2cap_rx_fn_t fn) {
    if (cid < BH_L2CAP_CID_ATT || cid > BH_L2CAP_CID_SMP) {
        return -BH_EINVAL;
    }
    rx_handlers[cid - BH_L2CAP_CID_ATT] = fn;
    return 0;
}

// ---- transmit ----

static void tx_pop(void) {
    acl.tx_head = (acl.tx_head + 1) % BH_ACL_TX_QUEUE_LEN;
    acl.tx_count--;
}

static size_t fragment_max(void) {
    size_t n = bh_conn_acl_data_len();
    return n > BH_ACL_TX_MAX_DATA ? BH_ACL_TX_MAX_DATA : n;
}

// Give the controller as many fragments as it has buffers for, in queue
// order (per-link order is queue order).
static void tx_pump(void) {
    if (acl.pumping) {
        return;
    }
    acl.pumping = true;
    size_t frag = fragment_max();
    while (acl.tx_count > 0 && frag > 0) {
        tx_pdu_t *p = &acl.txq[acl.tx_head];
        bh_conn_t *c = p->handle == HANDLE_NONE ? NULL : bh_conn_find(p->handle);
        if (c == NULL) {
            if (p->handle != HANDLE_NONE) {
                acl.stats.tx_dropped++;
            }
            tx_pop();
            continue;
        }
        if (!bh_conn_acl_take(c)) {
            break; // wait for Number Of Completed Packets
        }
        size_t n = p->len - p->sent;
        if (n > frag) {
            n = frag;
        }
        uint16_t pb = p->sent == 0 ? PB_FIRST_NON_FLUSHABLE : PB_CONTINUATION;
        bh_put_u16(acl.pkt, (uint16_t)(p->handle | (pb << 12)));
        bh_put_u16(acl.pkt + 2, (uint16_t)n);
        memcpy(acl.pkt + BH_H4_ACL_HDR, p->data + p->sent, n);
        if (bh_port_hci_send(BH_HCI_PKT_ACL, acl.pkt, BH_H4_ACL_HDR + n) != 0) {
            // The packet did not reach the controller: its buffer is still
            // free; the rest of this PDU is useless.
            bh_conn_acl_completed(p->handle, 1);
            acl.stats.tx_dropped++;
            tx_pop();
            continue;
        }
        acl.stats.tx_packets++;
        p->sent += (uint16_t)n;
        if (p->sent == p->len) {
            acl.stats.tx_pdus++;
            tx_pop();
        }
    }
    acl.pumping = false;
}

size_t bh_acl_tx_bulk_room(void) {
    size_t free_slots = BH_ACL_TX_QUEUE_LEN - acl.tx_count;
    return free_slots > BH_ACL_TX_RESERVED ? free_slots - BH_ACL_TX_RESERVED : 0;
}

static int send_pdu(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len, size_t keep_free) {
    if (bh_conn_find(conn_handle) == NULL) {
        return -BH_ENOTCONN;
    }
    if (len > BH_L2CAP_TX_MAX_PAYLOAD) {
        return -BH_EMSGSIZE;
    }
    if (acl.tx_count + keep_free >= BH_ACL_TX_QUEUE_LEN) {
        // Slots of closed links at the head can go now.
        tx_pump();
        if (acl.tx_count + keep_free >= BH_ACL_TX_QUEUE_LEN) {
            if (keep_free == 0) {
                acl.stats.tx_refused++;
            }
            return -BH_ENOMEM;
        }
    }
    tx_pdu_t *p = &acl.txq[(acl.tx_head + acl.tx_count) % BH_ACL_TX_QUEUE_LEN];
    p->handle = conn_handle;
    p->len = (uint16_t)(BH_L2CAP_HDR + len);
    p->sent = 0;
    bh_put_u16(p->data, (uint16_t)len);
    bh_put_u16(p->data + 2, cid);
    if (len > 0) {
        memcpy(p->data + BH_L2CAP_HDR, data, len);
    }
    acl.tx_count++;
    tx_pump();
    return 0;
}

int bh_l2cap_send(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    return send_pdu(conn_handle, cid, data, len, 0);
}

int bh_l2cap_send_bulk(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    return send_pdu(conn_handle, cid, data, len, BH_ACL_TX_RESERVED);
}

void bh_acl_on_completed(uint16_t conn_handle, uint16_t count) {
    bh_conn_t *c = bh_conn_find(conn_handle);
    if (c == NULL) {
        // Unknown link (or one that just closed: its buffers were returned
        // when it closed).
        acl.stats.nocp_invalid++;
        return;
    }
    if (count > c->acl_in_flight) {
        // More than we sent: credit only what we sent, so a confused
        // controller cannot make us overrun its buffers.
        acl.stats.nocp_invalid++;
    }
    bh_conn_acl_completed(conn_handle, count);
    tx_pump();
}

void bh_acl_conn_closed(uint16_t conn_handle) {
    for (size_t i = 0; i < acl.tx_count; i++) {
        tx_pdu_t *p = &acl.txq[(acl.tx_head + i) % BH_ACL_TX_QUEUE_LEN];
        if (p->handle == conn_handle) {
            p->handle = HANDLE_NONE;
            acl.stats.tx_dropped++;
        }
    }
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        if (acl.rx[i].handle == conn_handle) {
            acl.rx[i].handle = HANDLE_NONE;
        }
    }
    // Buffers the link held are free again (bh_conn_remove): use them.
    tx_pump();
}

// ---- receive ----

static rx_state_t *rx_for(uint16_t handle) {
    rx_state_t *free_slot = NULL;
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        rx_state_t *r = &acl.rx[i];
        if (r->handle == handle) {
            return r;
        }
        if (r->handle == HANDLE_NONE && free_slot == NULL) {
            free_slot = r;
        }
    }
    if (free_slot != NULL) {
        memset(free_slot, 0, offsetof(rx_state_t, buf));
        free_slot->handle = handle;
    }
    return free_slot;
}

static void rx_restart(rx_state_t *r) {
    r->fill = 0;
    r->expect = 0;
    r->skip = 0;
}

static void sig_reject(uint16_t handle, uint8_t identifier) {
    uint8_t rej[6] = { BH_L2CAP_SIG_COMMAND_REJECT, identifier, 2, 0 };
    bh_put_u16(rej + 4, BH_L2CAP_REJECT_NOT_UNDERSTOOD);
    if (bh_l2cap_send(handle, BH_L2CAP_CID_LE_SIGNALING, rej, sizeof(rej)) == 0) {
        acl.stats.sig_rejected++;
    }
}

// One LE signalling C-frame: exactly one command (Core spec Vol 3 Part A 4).
static void sig_dispatch(uint16_t handle, const uint8_t *p, size_t len) {
    if (len < 4) {
        acl.stats.rx_dropped++; // no identifier to answer to
        return;
    }
    uint8_t code = p[0];
    uint8_t identifier = p[1];
    if (identifier == 0) {
        acl.stats.rx_dropped++; // invalid identifier: silently discarded
        return;
    }
    bool understood = false;
    if (bh_get_u16(p + 2) == len - 4) {
        bh_l2cap_rx_fn_t fn = rx_handlers[BH_L2CAP_CID_LE_SIGNALING - BH_L2CAP_CID_ATT];
        understood = fn != NULL && fn(handle, BH_L2CAP_CID_LE_SIGNALING, p, len);
    }
    // Never answer a reject with a reject.
    if (!understood && code != BH_L2CAP_SIG_COMMAND_REJECT) {
        sig_reject(handle, identifier);
    }
}

static void rx_dispatch(uint16_t handle, const uint8_t *pdu, size_t len) {
    uint16_t cid = bh_get_u16(pdu + 2);
    const uint8_t *p = pdu + BH_L2CAP_HDR;
    size_t plen = len - BH_L2CAP_HDR;
    acl.stats.rx_pdus++;
    if (cid == BH_L2CAP_CID_LE_SIGNALING) {
        sig_dispatch(handle, p, plen);
        return;
    }
    if (cid >= BH_L2CAP_CID_DYNAMIC_FIRST) {
        if (dyn_handler != NULL) {
            dyn_handler(handle, cid, p, plen);
        } else {
            acl.stats.rx_unknown_cid++;
        }
        return;
    }
    bh_l2cap_rx_fn_t fn = NULL;
    if (cid >= BH_L2CAP_CID_ATT && cid <= BH_L2CAP_CID_SMP) {
        fn = rx_handlers[cid - BH_L2CAP_CID_ATT];
    }
    if (fn == NULL) {
        acl.stats.rx_unknown_cid++;
        return;
    }
    (void)fn(handle, cid, p, plen);
}

// Append a fragment's bytes to r's PDU; dispatch when complete.
static void rx_append(rx_state_t *r, uint16_t handle, const uint8_t *data, size_t len) {
    if (r->skip > 0) {
        // Rest of a PDU too big for our buffer.
        if (len > r->skip) {
            acl.stats.rx_dropped++; // more than the PDU announced
            rx_restart(r);
            return;
        }
        r->skip -= (uint16_t)len;
        return;
    }
    // Complete the basic header first.
    while (r->expect == 0 && len > 0) {
        r->buf[r->fill++] = *data++;
        len--;
        if (r->fill == BH_L2CAP_HDR) {
            size_t total = BH_L2CAP_HDR + (size_t)bh_get_u16(r->buf);
            if (total > RX_BUF_SIZE) {
                acl.stats.rx_dropped++;
                size_t rest = total - BH_L2CAP_HDR;
                rx_restart(r);
                if (len > rest) {
                    return; // more than announced: nothing left to skip
                }
                r->skip = (uint16_t)(rest - len);
                return;
            }
            r->expect = (uint16_t)total;
        }
    }
    if (len == 0 && r->expect != r->fill) {
        return;
    }
    if (len > (size_t)(r->expect - r->fill)) {
        acl.stats.rx_dropped++; // fragment runs past the announced length
        rx_restart(r);
        return;
    }
    memcpy(r->buf + r->fill, data, len);
    r->fill += (uint16_t)len;
    if (r->fill == r->expect) {
        size_t total = r->expect;
        // Ready for the next PDU before calling up: a handler that re-enters
        // the host must be done with the data first (see blehost.h).
        rx_restart(r);
        rx_dispatch(handle, r->buf, total);
    }
}

void bh_acl_on_data(uint16_t handle_flags, const uint8_t *data, size_t len) {
    uint16_t handle = handle_flags & 0x0fff;
    uint8_t pb = (handle_flags >> 12) & 0x3;
    rx_state_t *r = bh_conn_find(handle) ? rx_for(handle) : NULL;
    if (r == NULL) {
        acl.stats.rx_dropped++; // no such link
        return;
    }
    switch (pb) {
        case PB_FIRST_FLUSHABLE:
            if (r->fill > 0 || r->skip > 0) {
                acl.stats.rx_dropped++; // the previous PDU never completed
            }
            rx_restart(r);
            if (len == 0) {
                acl.stats.rx_dropped++;
                return;
            }
            rx_append(r, handle, data, len);
            break;
        case PB_CONTINUATION:
            if (r->fill == 0 && r->skip == 0) {
                acl.stats.rx_dropped++; // no PDU in progress
                return;
            }
            rx_append(r, handle, data, len);
            break;
        default:
            // 0b00 is host-to-controller only; 0b11 is reserved.
            acl.stats.rx_dropped++;
            if (r->fill > 0 || r->skip > 0) {
                rx_restart(r);
            }
            break;
    }
}
