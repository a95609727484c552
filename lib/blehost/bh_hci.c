// HCI commands and events. See bh_hci.h.
#include <errno.h>
#include <string.h>

#include "bh_hci.h"
#include "bh_h4.h"
#include "bh_port.h"
#include "bh_util.h"

// A caller of bh_hci_cmd_sync() waiting for its completion. Waiters live on
// the callers' stacks; nested waits (a command issued while another waits)
// form a list so each completion reaches its own waiter.
typedef struct _cmd_waiter_t {
    struct _cmd_waiter_t *next;
    uint16_t opcode;
    bool done;
    int result;
    uint8_t *ret;
    size_t ret_min;
    size_t ret_max;
    size_t ret_len;
} cmd_waiter_t;

// Bound on transport reads per bh_hci_process() call, so a flooding
// controller cannot keep the caller inside the host forever.
#define HCI_PROCESS_MAX_READS (32)

static struct {
    const bh_hci_handlers_t *handlers;
    bh_h4_t h4;
    uint8_t rx[BH_HCI_RX_CHUNK];
    size_t rx_pos;
    size_t rx_len;
    uint8_t tx[1 + 3 + BH_HCI_CMD_MAX_PARAMS];
    uint8_t credits;
    cmd_waiter_t *waiters;
    bh_hci_stats_t stats;
} hci;

static const bh_hci_handlers_t no_handlers;

void bh_hci_init(const bh_hci_handlers_t *handlers) {
    memset(&hci, 0, sizeof(hci));
    hci.handlers = handlers ? handlers : &no_handlers;
    bh_h4_reset(&hci.h4);
    // Until the controller says otherwise it accepts one command.
    hci.credits = 1;
}

void bh_hci_drain(void) {
    size_t total = 0;
    size_t n;
    do {
        n = bh_port_hci_read(hci.rx, sizeof(hci.rx));
        total += n;
    } while (n > 0 && total < BH_HCI_DRAIN_MAX_BYTES);
    hci.rx_pos = hci.rx_len = 0;
    bh_h4_reset(&hci.h4);
}

static cmd_waiter_t *find_waiter(uint16_t opcode) {
    for (cmd_waiter_t *w = hci.waiters; w != NULL; w = w->next) {
        if (!w->done && w->opcode == opcode) {
            return w;
        }
    }
    return NULL;
}

static void finish(cmd_waiter_t *w, int result) {
    w->done = true;
    w->result = result;
}

static void command_complete(const uint8_t *p, size_t len) {
    if (len < 3) {
        hci.stats.malformed_events++;
        return;
    }
    hci.credits = p[0];
    uint16_t opcode = bh_get_u16(p + 1);
    cmd_waiter_t *w = find_waiter(opcode);
    if (w == NULL) {
        // Opcode 0 is the controller announcing credits, not a stray.
        if (opcode != 0) {
            hci.stats.stray_completions++;
        }
        return;
    }
    const uint8_t *rp = p + 3;
    size_t rlen = len - 3;
    if (rlen < 1) {
        finish(w, -EMSGSIZE);
        return;
    }
    if (rp[0] != BH_HCI_SUCCESS) {
        finish(w, rp[0]);
        return;
    }
    rp++;
    rlen--;
    if (rlen < w->ret_min) {
        finish(w, -EMSGSIZE);
        return;
    }
    if (rlen > w->ret_max) {
        rlen = w->ret_max;
    }
    if (rlen > 0) {
        memcpy(w->ret, rp, rlen);
    }
    w->ret_len = rlen;
    finish(w, BH_HCI_SUCCESS);
}

static void command_status(const uint8_t *p, size_t len) {
    if (len < 4) {
        hci.stats.malformed_events++;
        return;
    }
    hci.credits = p[1];
    cmd_waiter_t *w = find_waiter(bh_get_u16(p + 2));
    if (w == NULL) {
        hci.stats.stray_completions++;
        return;
    }
    // Success here means "started"; a caller that needs return parameters
    // got none.
    if (p[0] == BH_HCI_SUCCESS && w->ret_min > 0) {
        finish(w, -EMSGSIZE);
    } else {
        finish(w, p[0]);
    }
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

static void handle_event(const uint8_t *pkt, size_t len) {
    // The H4 parser guarantees len == 2 + pkt[1].
    const uint8_t *p = pkt + BH_H4_EVT_HDR;
    size_t plen = len - BH_H4_EVT_HDR;
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
        case BH_HCI_EVT_DISCONNECTION_COMPLETE:
            if (hci.handlers->disconnection_complete) {
                hci.handlers->disconnection_complete(p, plen);
            }
            break;
        case BH_HCI_EVT_HARDWARE_ERROR:
            if (plen < 1) {
                hci.stats.malformed_events++;
            } else {
                hci.stats.hardware_error = p[0];
            }
            break;
        case BH_HCI_EVT_LE_META:
            if (plen < 1) {
                hci.stats.malformed_events++;
            } else if (hci.handlers->le_meta) {
                hci.handlers->le_meta(p[0], p + 1, plen - 1);
            }
            break;
        default:
            hci.stats.unknown_events++;
            break;
    }
}

static void handle_packet(uint8_t type, const uint8_t *pkt, size_t len) {
    if (type == BH_H4_EVT) {
        handle_event(pkt, len);
    } else if (hci.handlers->acl) {
        // ACL: the parser guarantees len == 4 + data length.
        hci.handlers->acl(bh_get_u16(pkt), pkt + BH_H4_ACL_HDR, len - BH_H4_ACL_HDR);
    }
}

void bh_hci_process(void) {
    for (unsigned reads = 0;;) {
        if (hci.rx_pos >= hci.rx_len) {
            if (reads++ == HCI_PROCESS_MAX_READS) {
                return;
            }
            size_t n = bh_port_hci_read(hci.rx, sizeof(hci.rx));
            hci.rx_pos = 0;
            hci.rx_len = n > sizeof(hci.rx) ? sizeof(hci.rx) : n;
            if (hci.rx_len == 0) {
                return;
            }
        }
        // Advance the shared position before dispatching, so a nested call
        // (from a handler) continues after this packet.
        hci.rx_pos += bh_h4_feed(&hci.h4, hci.rx + hci.rx_pos, hci.rx_len - hci.rx_pos);
        if (hci.h4.ready) {
            hci.h4.ready = false;
            handle_packet(hci.h4.type, hci.h4.buf, hci.h4.fill);
        }
    }
}

static bool expired(uint32_t start, uint32_t timeout_ms) {
    return (uint32_t)(bh_port_ticks_ms() - start) >= timeout_ms;
}

static uint32_t remaining(uint32_t start, uint32_t timeout_ms) {
    uint32_t spent = bh_port_ticks_ms() - start;
    return spent >= timeout_ms ? 0 : timeout_ms - spent;
}

static int write_command(uint16_t opcode, const uint8_t *params, size_t plen) {
    hci.tx[0] = BH_H4_CMD;
    bh_put_u16(hci.tx + 1, opcode);
    hci.tx[3] = (uint8_t)plen;
    if (plen > 0) {
        memcpy(hci.tx + 4, params, plen);
    }
    int err = bh_port_hci_write(hci.tx, 4 + plen);
    if (err == 0) {
        hci.credits--;
    }
    return err;
}

static void unlink_waiter(cmd_waiter_t *w) {
    for (cmd_waiter_t **pp = &hci.waiters; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            return;
        }
    }
}

int bh_hci_cmd_sync(uint16_t opcode, const uint8_t *params, size_t plen,
    uint8_t *ret, size_t ret_min, size_t ret_max, size_t *ret_len, uint32_t timeout_ms) {
    if (ret_len) {
        *ret_len = 0;
    }
    if (plen > BH_HCI_CMD_MAX_PARAMS || ret_min > ret_max) {
        return -EMSGSIZE;
    }
    if (find_waiter(opcode) != NULL) {
        // Two identical commands in flight could not be told apart.
        return -EBUSY;
    }
    uint32_t start = bh_port_ticks_ms();

    // Wait for a command credit.
    bh_hci_process();
    while (hci.credits == 0) {
        if (expired(start, timeout_ms)) {
            // The controller lost track; allow later commands to try.
            hci.credits = 1;
            return -ETIMEDOUT;
        }
        bh_port_hci_wait(remaining(start, timeout_ms));
        bh_hci_process();
    }

    cmd_waiter_t w = {
        .next = hci.waiters, .opcode = opcode, .ret = ret, .ret_min = ret_min, .ret_max = ret_max,
    };
    hci.waiters = &w;
    int err = write_command(opcode, params, plen);
    if (err != 0) {
        unlink_waiter(&w);
        return err < 0 ? err : -EIO;
    }
    for (;;) {
        bh_hci_process();
        if (w.done) {
            break;
        }
        if (expired(start, timeout_ms)) {
            unlink_waiter(&w);
            hci.credits = 1;
            return -ETIMEDOUT;
        }
        bh_port_hci_wait(remaining(start, timeout_ms));
    }
    unlink_waiter(&w);
    if (ret_len) {
        *ret_len = w.ret_len;
    }
    return w.result;
}

int bh_hci_cmd_post(uint16_t opcode, const uint8_t *params, size_t plen) {
    if (plen > BH_HCI_CMD_MAX_PARAMS) {
        return -EMSGSIZE;
    }
    if (hci.credits == 0) {
        return -EBUSY;
    }
    int err = write_command(opcode, params, plen);
    return err < 0 ? err : (err > 0 ? -EIO : 0);
}

void bh_hci_get_stats(bh_hci_stats_t *stats) {
    *stats = hci.stats;
    stats->cmd_credits = hci.credits;
    stats->pending_opcode = hci.waiters ? hci.waiters->opcode : 0;
    stats->bad_type_bytes = hci.h4.bad_type_bytes;
    stats->skipped_packets = hci.h4.skipped_packets;
}
