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
#include "bh_hci.h"
#include "bh_port.h"
#include "bh_util.h"

// Packet Boundary flags (bits 12-13 of the handle word).
#define PB_FIRST_NON_FLUSHABLE (0x0) // host to controller: start of a PDU
#define PB_CONTINUATION (0x1)
#define PB_FIRST_FLUSHABLE (0x2)     // controller to host: start of a PDU

#define HANDLE_NONE (0xffff)

#define RX_BUF_SIZE (BH_L2CAP_HDR + BH_L2CAP_RX_MAX_PAYLOAD)
#define TX_BUF_SIZE (BH_L2CAP_HDR + BH_L2CAP_TX_MAX_PAYLOAD)

// Transmit queue records: handle (HANDLE_NONE: dropped, skipped when it
// reaches the head) and PDU length (basic header included), then the PDU,
// contiguous. A record that does not fit before the end of the ring starts
// at 0; the bytes left at the end are padding, marked with REC_PAD when a
// record header fits there.
#define REC_HDR (4)
#define REC_PAD (0xfffe)
#define REC_MAX (REC_HDR + TX_BUF_SIZE)
#define TXQ_SIZE ((size_t)BH_ACL_TX_QUEUE_BYTES)

#if BH_ACL_TX_QUEUE_BYTES > 0xffff || BH_ACL_TX_QUEUE_BYTES < REC_MAX
#error "BH_ACL_TX_QUEUE_BYTES must hold one largest PDU record and fit 16 bits"
#endif

typedef struct _ring_t {
    uint16_t head; // where the next record goes
    uint16_t tail; // the oldest record
    uint16_t used; // bytes taken, padding included
} ring_t;

typedef struct _rx_state_t {
    uint16_t handle;  // HANDLE_NONE when the slot is free
    uint16_t fill;    // bytes of the PDU collected in buf
    uint16_t expect;  // whole PDU length once the basic header is in, else 0
    uint16_t skip;    // bytes still to discard of a PDU too big for buf
    uint8_t buf[RX_BUF_SIZE];
} rx_state_t;

static struct {
    uint8_t txq[TXQ_SIZE]; // FIFO byte ring of records
    ring_t tx;
    uint16_t tx_sent; // bytes of the oldest PDU already given to the controller
    bool pumping;
    rx_state_t rx[BH_MAX_CONNECTIONS];
    bh_acl_stats_t stats;
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

// The record after the one at `at` (or the padding at `at`) and the bytes
// in between; *rec tells whether `at` held a record.
static size_t rec_span(size_t at, bool *rec) {
    *rec = TXQ_SIZE - at >= REC_HDR && bh_get_u16(acl.txq + at) != REC_PAD;
    return *rec ? REC_HDR + (size_t)bh_get_u16(acl.txq + at + 2) : TXQ_SIZE - at;
}

size_t bh_acl_tx_queued(void) {
    size_t n = 0;
    size_t at = acl.tx.tail;
    for (size_t left = acl.tx.used; left > 0;) {
        bool rec;
        size_t span = rec_span(at, &rec);
        n += rec && bh_get_u16(acl.txq + at) != HANDLE_NONE;
        left -= span;
        at = rec ? at + span : 0;
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

// Where a record of n bytes goes in r, updating r as if it were put there
// (with the padding it leaves at the end); SIZE_MAX when it does not fit.
static size_t ring_place(ring_t *r, size_t n) {
    if (r->used == 0) {
        r->head = r->tail = 0;
    }
    size_t at;
    if (r->used == 0 || r->head > r->tail) {
        // Free: [head, end) and [0, tail).
        if (TXQ_SIZE - r->head >= n) {
            at = r->head;
        } else if (r->tail >= n) {
            r->used += TXQ_SIZE - r->head;
            at = 0;
        } else {
            return SIZE_MAX;
        }
    } else if ((size_t)(r->tail - r->head) >= n) {
        // Free: [head, tail) (none when head == tail: full).
        at = r->head;
    } else {
        return SIZE_MAX;
    }
    r->head = (uint16_t)(at + n);
    r->used += (uint16_t)n;
    return at;
}

// How many records of n bytes ring_place() would still put in r, one after
// the other: those that fit before the end of the ring, then from 0 up to
// the oldest record.
static size_t records_fit(const ring_t *r, size_t n) {
    if (r->used == 0) {
        return TXQ_SIZE / n;
    }
    if (r->head > r->tail) {
        return (TXQ_SIZE - r->head) / n + r->tail / n;
    }
    return (size_t)(r->tail - r->head) / n; // 0 when full (head == tail)
}

// Whether BH_ACL_TX_RESERVED records of the largest size still fit in r.
// Protocol PDUs of any size then find room behind bulk data: a smaller
// record fits wherever a largest one does.
static bool reserve_holds(ring_t r) {
    size_t reserved = BH_ACL_TX_RESERVED; // (may be 0)
    return records_fit(&r, REC_MAX) >= reserved;
}

// The oldest record's offset (padding before it skipped), SIZE_MAX if none.
static size_t tx_oldest(void) {
    if (acl.tx.used == 0) {
        return SIZE_MAX;
    }
    bool rec;
    size_t span = rec_span(acl.tx.tail, &rec);
    if (!rec) {
        // Padding is always followed by the record that wrapped.
        acl.tx.used -= (uint16_t)span;
        acl.tx.tail = 0;
    }
    return acl.tx.tail;
}

static void tx_pop(void) {
    size_t at = tx_oldest();
    size_t span = REC_HDR + bh_get_u16(acl.txq + at + 2);
    acl.tx.tail = (uint16_t)(at + span);
    acl.tx.used -= (uint16_t)span;
    acl.tx_sent = 0;
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
    size_t at;
    while (frag > 0 && (at = tx_oldest()) != SIZE_MAX) {
        const uint8_t *rec = acl.txq + at;
        uint16_t handle = bh_get_u16(rec);
        size_t len = bh_get_u16(rec + 2);
        bh_conn_t *c = handle == HANDLE_NONE ? NULL : bh_conn_find(handle);
        if (c == NULL) {
            if (handle != HANDLE_NONE) {
                acl.stats.tx_dropped++;
            }
            tx_pop();
            continue;
        }
        if (!bh_conn_acl_take(c)) {
            break; // wait for Number Of Completed Packets
        }
        size_t n = len - acl.tx_sent;
        if (n > frag) {
            n = frag;
        }
        uint16_t pb = acl.tx_sent == 0 ? PB_FIRST_NON_FLUSHABLE : PB_CONTINUATION;
        if (bh_hci_send_acl((uint16_t)(handle | (pb << 12)), rec + REC_HDR + acl.tx_sent, n) != 0) {
            // The packet did not reach the controller: its buffer is still
            // free; the rest of this PDU is useless.
            bh_conn_acl_completed(handle, 1);
            acl.stats.tx_dropped++;
            tx_pop();
            continue;
        }
        acl.stats.tx_packets++;
        acl.tx_sent += (uint16_t)n;
        if (acl.tx_sent == len) {
            acl.stats.tx_pdus++;
            tx_pop();
        }
    }
    acl.pumping = false;
}

size_t bh_acl_tx_bulk_room(size_t len) {
    if (len > BH_L2CAP_TX_MAX_PAYLOAD) {
        len = BH_L2CAP_TX_MAX_PAYLOAD;
    }
    ring_t r = acl.tx;
    size_t count = 0;
    while (ring_place(&r, REC_HDR + BH_L2CAP_HDR + len) != SIZE_MAX && reserve_holds(r)) {
        count++;
    }
    return count;
}

// Room for a record of n bytes (bulk: with the reserve left behind it):
// its offset with acl.tx updated and the padding it skips marked, or
// SIZE_MAX.
static size_t tx_reserve(size_t n, bool bulk) {
    ring_t r = acl.tx;
    size_t at = ring_place(&r, n);
    if (at == SIZE_MAX || (bulk && !reserve_holds(r))) {
        return SIZE_MAX;
    }
    size_t pad = r.used - acl.tx.used - n;
    if (pad >= REC_HDR) {
        bh_put_u16(acl.txq + acl.tx.head, REC_PAD);
    }
    acl.tx = r;
    return at;
}

static int send_pdu(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len, bool bulk) {
    if (bh_conn_find(conn_handle) == NULL) {
        return -BH_ENOTCONN;
    }
    if (len > BH_L2CAP_TX_MAX_PAYLOAD) {
        return -BH_EMSGSIZE;
    }
    size_t n = REC_HDR + BH_L2CAP_HDR + len;
    size_t at = tx_reserve(n, bulk);
    if (at == SIZE_MAX) {
        // Records of closed links at the head can go now.
        tx_pump();
        at = tx_reserve(n, bulk);
        if (at == SIZE_MAX) {
            if (!bulk) {
                acl.stats.tx_refused++;
            }
            return -BH_ENOMEM;
        }
    }
    uint8_t *rec = acl.txq + at;
    bh_put_u16(rec, conn_handle);
    bh_put_u16(rec + 2, (uint16_t)(BH_L2CAP_HDR + len));
    bh_put_u16(rec + REC_HDR, (uint16_t)len);
    bh_put_u16(rec + REC_HDR + 2, cid);
    if (len > 0) {
        memcpy(rec + REC_HDR + BH_L2CAP_HDR, data, len);
    }
    tx_pump();
    return 0;
}

int bh_l2cap_send(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    return send_pdu(conn_handle, cid, data, len, false);
}

int bh_l2cap_send_bulk(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    return send_pdu(conn_handle, cid, data, len, true);
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
    size_t at = acl.tx.tail;
    for (size_t left = acl.tx.used; left > 0;) {
        bool rec;
        size_t span = rec_span(at, &rec);
        if (rec && bh_get_u16(acl.txq + at) == conn_handle) {
            bh_put_u16(acl.txq + at, HANDLE_NONE);
            acl.stats.tx_dropped++;
        }
        left -= span;
        at = rec ? at + span : 0;
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
