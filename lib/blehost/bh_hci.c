// HCI commands and events: the receive queue, command credits, synchronous
// and asynchronous commands, table-driven event dispatch. See bh_hci.h.
#include <string.h>

#include "bh_err.h"
#include "bh_hci.h"
#include "bh_h4.h"
#include "bh_port.h"
#include "bh_util.h"

// Receive queue records: [type][len lo][len hi][packet], contiguous; a
// record that does not fit before the end of the ring starts at 0 and the
// rest of the ring is padding (a type byte of 0, or fewer than 3 bytes).
#define RXQ_HDR (3)
#define PKT_MAX (BH_H4_BUF_SIZE)

// A command with its header, or an ACL packet with its header.
#define TX_MAX (3 + BH_HCI_CMD_MAX_PARAMS > BH_H4_ACL_HDR + BH_ACL_TX_MAX_DATA \
    ? 3 + BH_HCI_CMD_MAX_PARAMS : BH_H4_ACL_HDR + BH_ACL_TX_MAX_DATA)

// Packets dispatched per bh_hci_process() call, so a flooding controller
// cannot keep the caller inside the host for long.
#define DISPATCH_MAX (32)

// Transport reads per bh_hci_process() or wait round.
#define READ_MAX (32)

// LE Meta subevents that only ever queue an event for the application
// (advertising reports): the one kind a command wait may dispatch to make
// room in a full receive queue, since it runs no protocol code.
#define LE_SUBEVT_ADV_REPORT (0x02)
#define LE_SUBEVT_DIRECT_ADV_REPORT (0x0b)
#define LE_SUBEVT_EXT_ADV_REPORT (0x0d)

// Host Number Of Completed Packets (Core Vol 4 Part E 7.3.40).
#define OP_HOST_NUM_COMPLETED BH_HCI_OP(0x03, 0x0035)

typedef struct _inflight_t {
    uint16_t opcode; // 0: free
    bool sync;
    uint32_t seq;    // send order: completions of one opcode come in this order
    uint32_t sent_ms;
    bh_hci_done_fn_t done;
    void *ctx;
} inflight_t;

typedef struct _queued_cmd_t {
    uint16_t opcode;
    uint8_t plen;
    uint8_t params[BH_HCI_ASYNC_PARAMS_MAX];
    bh_hci_done_fn_t done;
    void *ctx;
} queued_cmd_t;

// The synchronous command being waited for (at most one at a time).
typedef struct _sync_wait_t {
    bool active;
    bool done;
    int result;
    uint8_t *ret;
    size_t ret_min;
    size_t ret_max;
    size_t ret_len;
} sync_wait_t;

static struct {
    const bh_hci_handlers_t *handlers;
    // receive queue
    uint8_t rxq[BH_HCI_RX_QUEUE];
    size_t rx_head;
    size_t rx_tail;
    size_t rx_used;
    // a packet read but not yet queued (the queue was full)
    bool held;
    uint8_t held_type;
    uint16_t held_len;
    uint8_t in[PKT_MAX];  // the packet being read (an H4 port assembles it here) or held
    uint8_t out[PKT_MAX]; // the packet being dispatched
    bool framing_lost;
    // the command or ACL packet being sent, after a byte of room for the
    // transport's packet type (send_packet)
    uint8_t tx[1 + TX_MAX];
    uint8_t credits;
    uint32_t next_seq;
    uint32_t no_credit_since;
    inflight_t inflight[BH_HCI_INFLIGHT_MAX];
    queued_cmd_t cmdq[BH_HCI_CMD_QUEUE_LEN];
    size_t cmdq_head;
    size_t cmdq_count;
    sync_wait_t sync;
    // controller-to-host flow control (off until bh_hci_host_flow_on())
    uint16_t host_acl_packets;
    bh_hci_stats_t stats;
} hci;

static const bh_hci_handlers_t no_handlers;

// Framing losses since boot: the recovery they cause re-initialises the
// layer, and the count must outlive it.
static uint32_t framing_errors;

void bh_hci_init(const bh_hci_handlers_t *handlers) {
    memset(&hci, 0, sizeof(hci));
    hci.handlers = handlers ? handlers : &no_handlers;
    // Until the controller says otherwise it accepts one command.
    hci.credits = 1;
}

static void rxq_clear(void) {
    hci.rx_head = hci.rx_tail = hci.rx_used = 0;
    hci.held = false;
}

void bh_hci_drain(void) {
    size_t total = 0;
    uint8_t type;
    for (;;) {
        int n = bh_port_hci_recv(&type, hci.in, sizeof(hci.in));
        if (n == 0) {
            break;
        }
        total += n > 0 ? (size_t)n : 1;
        if (total >= BH_HCI_DRAIN_MAX_BYTES) {
            break;
        }
    }
    #if BH_PORT_H4
    bh_h4_port_reset();
    #endif
    rxq_clear();
    hci.framing_lost = false;
}

void bh_hci_framing_ok(void) {
    hci.framing_lost = false;
}

// ---- receive queue ----

// Room for a record of n bytes: its offset, or SIZE_MAX.
static size_t rxq_reserve(size_t n) {
    size_t size = sizeof(hci.rxq);
    if (hci.rx_used == 0) {
        hci.rx_head = hci.rx_tail = 0;
    }
    size_t head = hci.rx_head;
    size_t tail = hci.rx_tail;
    if (hci.rx_used < size && head >= tail) {
        if (size - head >= n) {
            return head;
        }
        if (tail >= n) {
            if (size - head >= RXQ_HDR) {
                hci.rxq[head] = 0; // padding marker
            }
            hci.rx_used += size - head;
            hci.rx_head = 0;
            return 0;
        }
        return SIZE_MAX;
    }
    if (head < tail && tail - head >= n) {
        return head;
    }
    return SIZE_MAX;
}

static bool rxq_push(uint8_t type, const uint8_t *pkt, size_t len) {
    size_t at = rxq_reserve(RXQ_HDR + len);
    if (at == SIZE_MAX) {
        return false;
    }
    hci.rxq[at] = type;
    bh_put_u16(hci.rxq + at + 1, (uint16_t)len);
    memcpy(hci.rxq + at + RXQ_HDR, pkt, len);
    hci.rx_head = at + RXQ_HDR + len;
    hci.rx_used += RXQ_HDR + len;
    if (hci.rx_used > hci.stats.rx_queue_peak) {
        hci.stats.rx_queue_peak = (uint16_t)hci.rx_used;
    }
    return true;
}

// The oldest record's offset, or SIZE_MAX when empty (skips padding).
static size_t rxq_peek(void) {
    if (hci.rx_used == 0) {
        return SIZE_MAX;
    }
    size_t size = sizeof(hci.rxq);
    size_t tail = hci.rx_tail;
    if (size - tail < RXQ_HDR || hci.rxq[tail] == 0) {
        hci.rx_used -= size - tail;
        hci.rx_tail = 0;
        if (hci.rx_used == 0) {
            return SIZE_MAX;
        }
    }
    return hci.rx_tail;
}

// Copy the oldest record out (into hci.out) and free it: dispatching from a
// copy lets handlers read more input without the record moving under them.
static bool rxq_pop(uint8_t *type, size_t *len) {
    size_t at = rxq_peek();
    if (at == SIZE_MAX) {
        return false;
    }
    *type = hci.rxq[at];
    *len = bh_get_u16(hci.rxq + at + 1);
    memcpy(hci.out, hci.rxq + at + RXQ_HDR, *len);
    hci.rx_tail = at + RXQ_HDR + *len;
    hci.rx_used -= RXQ_HDR + *len;
    return true;
}

bool bh_hci_rx_pending(void) {
    return hci.rx_used > 0 || hci.held;
}

// ---- commands ----

static inflight_t *inflight_find(uint16_t opcode) {
    // Oldest first: a controller completes commands of one opcode in order.
    inflight_t *best = NULL;
    for (size_t i = 0; i < BH_HCI_INFLIGHT_MAX; i++) {
        inflight_t *f = &hci.inflight[i];
        if (f->opcode == opcode && (best == NULL || (int32_t)(f->seq - best->seq) < 0)) {
            best = f;
        }
    }
    return best;
}

static inflight_t *inflight_free_slot(void) {
    for (size_t i = 0; i < BH_HCI_INFLIGHT_MAX; i++) {
        if (hci.inflight[i].opcode == 0) {
            return &hci.inflight[i];
        }
    }
    return NULL;
}

static void set_credits(uint8_t n) {
    if (n == 0 && hci.credits != 0) {
        hci.no_credit_since = bh_port_ticks_ms();
    }
    hci.credits = n;
}

static void sync_finish(int result, const uint8_t *rp, size_t rlen) {
    sync_wait_t *w = &hci.sync;
    if (result == BH_HCI_SUCCESS && rp != NULL) {
        if (rlen < w->ret_min) {
            result = -BH_EMSGSIZE;
        } else {
            if (rlen > w->ret_max) {
                rlen = w->ret_max;
            }
            if (rlen > 0) {
                memcpy(w->ret, rp, rlen);
            }
            w->ret_len = rlen;
        }
    } else if (result == BH_HCI_SUCCESS && w->ret_min > 0) {
        // Command Status "started": a caller that needs return parameters
        // got none.
        result = -BH_EMSGSIZE;
    }
    w->done = true;
    w->result = result;
}

// A command's completion: rp/rlen are the return parameters after the
// status (NULL for a Command Status).
static void complete(uint16_t opcode, int status, const uint8_t *rp, size_t rlen) {
    inflight_t *f = inflight_find(opcode);
    if (f == NULL) {
        hci.stats.stray_completions++;
        return;
    }
    inflight_t done = *f;
    f->opcode = 0;
    if (done.sync) {
        sync_finish(status, rp, rlen);
    } else if (done.done != NULL) {
        done.done(done.ctx, status, rp, rlen);
    }
}

static void command_complete(const uint8_t *p, size_t len) {
    if (len < 3) {
        hci.stats.malformed_events++;
        return;
    }
    set_credits(p[0]);
    uint16_t opcode = bh_get_u16(p + 1);
    if (opcode == 0) {
        return; // the controller announcing credits
    }
    if (len < 4) {
        complete(opcode, -BH_EMSGSIZE, NULL, 0);
        return;
    }
    complete(opcode, p[3], p[3] == BH_HCI_SUCCESS ? p + 4 : NULL, len - 4);
}

static void command_status(const uint8_t *p, size_t len) {
    if (len < 4) {
        hci.stats.malformed_events++;
        return;
    }
    set_credits(p[1]);
    uint16_t opcode = bh_get_u16(p + 2);
    if (opcode == 0) {
        return;
    }
    complete(opcode, p[0], NULL, 0);
}

static void num_completed_packets(const uint8_t *p, size_t len) {
    if (len < 1 || len - 1 < (size_t)p[0] * 4) {
        hci.stats.malformed_events++;
        return;
    }
    for (size_t i = 0; i < p[0]; i++) {
        const uint8_t *entry = p + 1 + i * 4;
        if (hci.handlers->num_completed_packets) {
            hci.handlers->num_completed_packets(bh_get_u16(entry) & 0x0fff, bh_get_u16(entry + 2));
        }
    }
}

// Hand a packet to the port: frame[1 .. 1 + len) holds it, frame[0] is room
// for the H4 packet type, so an H4 transport takes the frame as it is.
static int send_packet(uint8_t type, uint8_t *frame, size_t len) {
    #if BH_PORT_H4
    frame[0] = type;
    return bh_port_hci_write(frame, 1 + len);
    #else
    return bh_port_hci_send(type, frame + 1, len);
    #endif
}

static int write_command(uint16_t opcode, const uint8_t *params, size_t plen) {
    uint8_t *pkt = hci.tx + 1;
    bh_put_u16(pkt, opcode);
    pkt[2] = (uint8_t)plen;
    if (plen > 0) {
        memcpy(pkt + 3, params, plen);
    }
    int err = send_packet(BH_HCI_PKT_CMD, hci.tx, 3 + plen);
    if (err == 0) {
        set_credits((uint8_t)(hci.credits - 1));
    }
    return err < 0 ? err : (err > 0 ? -BH_EIO : 0);
}

int bh_hci_send_acl(uint16_t handle_flags, const uint8_t *data, size_t len) {
    if (len > BH_ACL_TX_MAX_DATA) {
        return -BH_EMSGSIZE;
    }
    uint8_t *pkt = hci.tx + 1;
    bh_put_u16(pkt, handle_flags);
    bh_put_u16(pkt + 2, (uint16_t)len);
    memcpy(pkt + BH_H4_ACL_HDR, data, len);
    return send_packet(BH_HCI_PKT_ACL, hci.tx, BH_H4_ACL_HDR + len);
}

// A controller that took credits and then went silent: after a long wait
// assume one credit back, so later commands can at least try (and time out).
static void check_credit_silence(uint32_t now) {
    if (hci.credits == 0 && bh_elapsed_ms(now, hci.no_credit_since) >= BH_HCI_CREDIT_WAIT_MS) {
        hci.stats.credit_timeouts++;
        hci.credits = 1;
    }
}

// Send queued asynchronous commands while credits and slots allow.
static void cmdq_pump(void) {
    while (hci.cmdq_count > 0 && hci.credits > 0) {
        inflight_t *f = inflight_free_slot();
        if (f == NULL) {
            return;
        }
        queued_cmd_t *q = &hci.cmdq[hci.cmdq_head];
        queued_cmd_t c = *q;
        hci.cmdq_head = (hci.cmdq_head + 1) % BH_HCI_CMD_QUEUE_LEN;
        hci.cmdq_count--;
        int err = write_command(c.opcode, c.params, c.plen);
        if (err != 0) {
            if (c.done != NULL) {
                c.done(c.ctx, err, NULL, 0);
            }
            continue;
        }
        *f = (inflight_t) { .opcode = c.opcode, .seq = hci.next_seq++, .sent_ms = bh_port_ticks_ms(),
                            .done = c.done, .ctx = c.ctx };
    }
}

int bh_hci_cmd_async(uint16_t opcode, const uint8_t *params, size_t plen,
    bh_hci_done_fn_t done, void *ctx) {
    if (plen > BH_HCI_ASYNC_PARAMS_MAX) {
        return -BH_EMSGSIZE;
    }
    if (hci.cmdq_count == BH_HCI_CMD_QUEUE_LEN) {
        return -BH_ENOMEM;
    }
    queued_cmd_t *q = &hci.cmdq[(hci.cmdq_head + hci.cmdq_count) % BH_HCI_CMD_QUEUE_LEN];
    q->opcode = opcode;
    q->plen = (uint8_t)plen;
    if (plen > 0) {
        memcpy(q->params, params, plen);
    }
    q->done = done;
    q->ctx = ctx;
    hci.cmdq_count++;
    cmdq_pump();
    return 0;
}

static void expire_inflight(uint32_t now) {
    for (size_t i = 0; i < BH_HCI_INFLIGHT_MAX; i++) {
        inflight_t *f = &hci.inflight[i];
        if (f->opcode == 0 || f->sync || bh_elapsed_ms(now, f->sent_ms) < BH_HCI_CMD_TIMEOUT_MS) {
            continue;
        }
        inflight_t done = *f;
        f->opcode = 0;
        hci.stats.async_timeouts++;
        // The controller lost track of it: allow later commands to try.
        if (hci.credits == 0) {
            hci.credits = 1;
        }
        if (done.done != NULL) {
            done.done(done.ctx, -BH_ETIMEDOUT, NULL, 0);
        }
    }
}

void bh_hci_poll(uint32_t now_ms) {
    expire_inflight(now_ms);
    check_credit_silence(now_ms);
    cmdq_pump();
}

// ---- controller-to-host flow control ----

void bh_hci_host_flow_on(uint16_t acl_packets) {
    hci.host_acl_packets = acl_packets;
}

// One ACL packet of `handle` has left the receive queue: its buffer goes
// back to the controller at once (Host Number Of Completed Packets; no
// Command Complete, no credit needed, 7.3.40). With only a few buffers,
// batching the reports left the link idle while the controller waited.
static void host_done(uint16_t handle) {
    if (hci.host_acl_packets == 0) {
        return;
    }
    uint8_t frame[1 + 3 + 5] = { 0, 0, 0, 5, 1 };
    bh_put_u16(frame + 1, OP_HOST_NUM_COMPLETED);
    bh_put_u16(frame + 5, handle);
    bh_put_u16(frame + 7, 1);
    // A failed write leaves the controller short of a buffer for us: it
    // holds data back, nothing is lost, and the link's own timeouts take
    // over if the transport is gone.
    (void)send_packet(BH_HCI_PKT_CMD, frame, sizeof(frame) - 1);
}

// ---- reading ----

// Packets handled where they are read: command completions and credits.
static bool consume_now(uint8_t type, const uint8_t *pkt, size_t len) {
    if (type != BH_HCI_PKT_EVT || len < 2) {
        return false;
    }
    const uint8_t *p = pkt + 2;
    size_t plen = len - 2;
    switch (pkt[0]) {
        case BH_HCI_EVT_COMMAND_COMPLETE:
            command_complete(p, plen);
            break;
        case BH_HCI_EVT_COMMAND_STATUS:
            command_status(p, plen);
            break;
        case BH_HCI_EVT_NUM_COMPLETED_PACKETS:
            num_completed_packets(p, plen);
            break;
        default:
            return false;
    }
    cmdq_pump();
    return true;
}

static bool is_adv_report(const uint8_t *rec) {
    if (rec[0] != BH_HCI_PKT_EVT || bh_get_u16(rec + 1) < 3 || rec[RXQ_HDR] != BH_HCI_EVT_LE_META) {
        return false;
    }
    uint8_t sub = rec[RXQ_HDR + 2];
    return sub == LE_SUBEVT_ADV_REPORT || sub == LE_SUBEVT_DIRECT_ADV_REPORT || sub == LE_SUBEVT_EXT_ADV_REPORT;
}

static void dispatch(uint8_t type, const uint8_t *pkt, size_t len);

// Read packets from the port into the queue, consuming completions. With
// may_dispatch_adv (a command wait), advertising reports at the head of a
// full queue are dispatched to make room: a flood of them must not starve
// the wait of its completion. Returns true when the transport had nothing
// more (worth sleeping), false when reading stopped early (a full queue, or
// the bound on reads per call).
static bool read_input(bool may_dispatch_adv) {
    for (unsigned reads = 0; reads < READ_MAX; reads++) {
        if (!hci.held) {
            uint8_t type;
            int n = bh_port_hci_recv(&type, hci.in, sizeof(hci.in));
            if (n == 0) {
                return true;
            }
            if (n < 0) {
                if (n == -BH_EPROTO) {
                    framing_errors++;
                    hci.framing_lost = true;
                }
                continue;
            }
            if (consume_now(type, hci.in, (size_t)n)) {
                continue;
            }
            hci.held = true;
            hci.held_type = type;
            hci.held_len = (uint16_t)n;
        }
        if (rxq_push(hci.held_type, hci.in, hci.held_len)) {
            hci.held = false;
            continue;
        }
        // Full: backpressure, unless the head is an advertising report a
        // wait may hand on (it only queues an application event).
        size_t at = rxq_peek();
        if (!may_dispatch_adv || at == SIZE_MAX || !is_adv_report(hci.rxq + at)) {
            hci.stats.rx_stalls++;
            return true; // nothing to do until the queue drains
        }
        // Dispatch the head in place (it runs no code that reads input).
        size_t len = bh_get_u16(hci.rxq + at + 1);
        hci.rx_tail = at + RXQ_HDR + len;
        hci.rx_used -= RXQ_HDR + len;
        dispatch(BH_HCI_PKT_EVT, hci.rxq + at + RXQ_HDR, len);
    }
    return false;
}

// ---- dispatch ----

static const bh_hci_evt_row_t *find_row(const bh_hci_evt_row_t *rows, size_t n, uint8_t code) {
    for (size_t i = 0; i < n; i++) {
        if (rows[i].code == code) {
            return &rows[i];
        }
    }
    return NULL;
}

static void dispatch_event(const uint8_t *pkt, size_t len) {
    if (len < 2 || (size_t)pkt[1] + 2 != len) {
        hci.stats.malformed_events++;
        return;
    }
    const uint8_t *p = pkt + 2;
    size_t plen = len - 2;
    const bh_hci_handlers_t *h = hci.handlers;
    if (pkt[0] == BH_HCI_EVT_HARDWARE_ERROR) {
        if (plen < 1) {
            hci.stats.malformed_events++;
        } else {
            hci.stats.hardware_error = p[0];
        }
        return;
    }
    const bh_hci_evt_row_t *row;
    if (pkt[0] == BH_HCI_EVT_LE_META) {
        if (plen < 1) {
            hci.stats.malformed_events++;
            return;
        }
        row = find_row(h->le_events, h->n_le_events, p[0]);
        p++;
        plen--;
    } else {
        row = find_row(h->events, h->n_events, pkt[0]);
    }
    if (row == NULL) {
        hci.stats.unknown_events++;
    } else if (plen < row->min_len) {
        hci.stats.malformed_events++;
    } else {
        row->fn(p, plen);
    }
}

static void dispatch(uint8_t type, const uint8_t *pkt, size_t len) {
    if (type == BH_HCI_PKT_EVT) {
        dispatch_event(pkt, len);
    } else if (type == BH_HCI_PKT_ACL) {
        if (len >= 2) {
            host_done(bh_get_u16(pkt) & 0x0fff);
        }
        if (len >= 4 && hci.handlers->acl) {
            hci.handlers->acl(bh_get_u16(pkt), pkt + 4, len - 4);
        }
    }
}

void bh_hci_service(void) {
    read_input(false);
}

void bh_hci_process(void) {
    for (unsigned n = 0; n < DISPATCH_MAX; n++) {
        read_input(false);
        if (hci.framing_lost) {
            hci.framing_lost = false;
            if (hci.handlers->framing_lost) {
                hci.handlers->framing_lost();
            }
            return;
        }
        uint8_t type;
        size_t len;
        if (!rxq_pop(&type, &len)) {
            return;
        }
        dispatch(type, hci.out, len);
    }
}

// ---- synchronous commands ----

static uint32_t remaining(uint32_t start, uint32_t timeout_ms) {
    uint32_t spent = bh_port_ticks_ms() - start;
    return spent >= timeout_ms ? 0 : timeout_ms - spent;
}

int bh_hci_cmd_sync(uint16_t opcode, const uint8_t *params, size_t plen,
    uint8_t *ret, size_t ret_min, size_t ret_max, size_t *ret_len, uint32_t timeout_ms) {
    if (ret_len) {
        *ret_len = 0;
    }
    if (plen > BH_HCI_CMD_MAX_PARAMS || ret_min > ret_max) {
        return -BH_EMSGSIZE;
    }
    if (hci.sync.active) {
        return -BH_EBUSY;
    }
    hci.sync = (sync_wait_t) { .active = true, .ret = ret, .ret_min = ret_min, .ret_max = ret_max };

    // Wait for a command credit and an in-flight slot (bounded by the
    // credit silence rule and the async timeouts, not by this command's
    // timeout, which runs from when it is sent).
    bool idle = read_input(true);
    inflight_t *f;
    for (;;) {
        uint32_t now = bh_port_ticks_ms();
        check_credit_silence(now);
        expire_inflight(now);
        if (hci.credits > 0 && (f = inflight_free_slot()) != NULL) {
            break;
        }
        if (idle) {
            bh_port_hci_wait(10);
        }
        idle = read_input(true);
    }
    int err = write_command(opcode, params, plen);
    if (err != 0) {
        hci.sync.active = false;
        return err;
    }
    uint32_t start = bh_port_ticks_ms();
    *f = (inflight_t) { .opcode = opcode, .sync = true, .seq = hci.next_seq++, .sent_ms = start };
    for (;;) {
        idle = read_input(true);
        if (hci.sync.done) {
            break;
        }
        uint32_t left = remaining(start, timeout_ms);
        if (left == 0) {
            for (size_t i = 0; i < BH_HCI_INFLIGHT_MAX; i++) {
                if (hci.inflight[i].opcode == opcode && hci.inflight[i].sync) {
                    hci.inflight[i].opcode = 0;
                }
            }
            hci.sync.active = false;
            // The controller lost track; allow later commands to try.
            if (hci.credits == 0) {
                hci.credits = 1;
            }
            return -BH_ETIMEDOUT;
        }
        if (idle) {
            bh_port_hci_wait(left);
        }
    }
    hci.sync.active = false;
    if (ret_len) {
        *ret_len = hci.sync.ret_len;
    }
    return hci.sync.result;
}

int bh_random(uint8_t *buf, size_t len) {
    int err = bh_port_random(buf, len);
    if (err != -BH_ENOSYS) {
        return err;
    }
    while (len > 0) {
        uint8_t r[8];
        err = bh_hci_cmd_sync(BH_HCI_OP_LE_RAND, NULL, 0, r, 8, 8, NULL, BH_HCI_CMD_TIMEOUT_MS);
        if (err != 0) {
            return err > 0 ? -BH_EIO : err;
        }
        size_t n = len < 8 ? len : 8;
        memcpy(buf, r, n);
        buf += n;
        len -= n;
    }
    return 0;
}

void bh_hci_get_stats(bh_hci_stats_t *stats) {
    *stats = hci.stats;
    stats->framing_errors = framing_errors;
    stats->cmd_credits = hci.credits;
    stats->pending_opcode = 0;
    uint32_t oldest = 0;
    for (size_t i = 0; i < BH_HCI_INFLIGHT_MAX; i++) {
        const inflight_t *f = &hci.inflight[i];
        if (f->opcode != 0 && (stats->pending_opcode == 0 || (int32_t)(f->seq - oldest) < 0)) {
            stats->pending_opcode = f->opcode;
            oldest = f->seq;
        }
    }
    #if BH_PORT_H4
    bh_h4_port_counters(&stats->bad_type_bytes, &stats->skipped_packets);
    #endif
}
