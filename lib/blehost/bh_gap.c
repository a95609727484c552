// GAP: connecting as central, links as either role, disconnection and
// connection parameter updates; the LE Meta routing of the GAP events. See
// blehost.h and bh_gap.h.
#include "bh_err.h"
#include <string.h>

#include "bh_addr.h"
#include "bh_coc.h"
#include "bh_conn.h"
#include "bh_gap.h"
#include "bh_port.h"
#include "bh_smp.h"
#include "bh_util.h"

// Reason sent when we must refuse a link because the table is full
// (Remote Device Terminated Connection due to Low Resources).
#define REASON_LOW_RESOURCES (0x14)
// Reason for gap_disconnect (Remote User Terminated Connection).
#define REASON_USER (0x13)

// Initiator scan: continuous (window == interval), 30 ms.
#define INITIATOR_SCAN_INTERVAL (0x0030)
#define INITIATOR_SCAN_WINDOW (0x0030)
// Supervision timeout for our links (10 ms units): 4 s, or more for long
// intervals (at least six intervals; the Core spec needs more than two).
#define SUPERVISION_TIMEOUT_MIN (400)
#define SUPERVISION_TIMEOUT_MAX (3200)
#define PERIPHERAL_LATENCY_MAX (499)
// How long a cancelled attempt may take to report its end before the host
// reports it itself (a controller that has lost track of it).
#define CANCEL_GRACE_MS (1000)

static bh_gap_stats_t gap_stats;

// Connecting to a bonded peer that uses resolvable private addresses, by
// its identity address, has two phases: the host scans until an advertiser
// resolves with the peer's IRK (or shows the identity itself), then
// initiates to the address heard.
static struct {
    bool pending;     // accepted: resolving, or LE_Create_Connection sent
    bool cancelling;  // LE_Create_Connection_Cancel sent
    bool resolving;   // scanning for the peer's current address
    bool found;       // ... and heard it: initiate from the next poll
    uint32_t start_ms;
    uint32_t timeout_ms; // 0: none
    uint32_t cancel_ms;
    uint16_t interval_min;
    uint16_t interval_max;
    bh_addr_t peer;      // as the application named it
    bh_addr_t target;    // the address heard (resolving)
    uint8_t irk[16];     // the peer's (resolving)
} attempt;

int bh_gap_cmd(uint16_t opcode, const uint8_t *params, size_t plen) {
    return bh_hci_cmd_sync(opcode, params, plen, NULL, 0, 0, NULL, BH_HCI_CMD_TIMEOUT_MS);
}

int bh_gap_cmd_errno(uint16_t opcode, const uint8_t *params, size_t plen) {
    int err = bh_gap_cmd(opcode, params, plen);
    return err > 0 ? -BH_EIO : err;
}

void bh_gap_reset(void) {
    memset(&attempt, 0, sizeof(attempt));
    bh_l2cap_sig_init();
    bh_adv_reset();
    bh_scan_reset();
}

static void attempt_failed(uint8_t status) {
    bh_addr_t peer = attempt.peer;
    memset(&attempt, 0, sizeof(attempt));
    bh_evt_connect_failed(&peer, status);
}

void bh_gap_shutdown(void) {
    bh_scan_shutdown();
    if (attempt.pending) {
        attempt_failed(BH_HCI_ERR_LOCAL_HOST_TERMINATED);
    }
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        bh_conn_t *c = bh_conn_at(i);
        if (c != NULL) {
            uint16_t handle = c->handle;
            uint8_t role = c->role;
            bh_addr_t peer = c->id;
            bh_conn_remove(c);
            bh_evt_disconnected(handle, role, &peer, BH_HCI_ERR_LOCAL_HOST_TERMINATED);
        }
    }
    bh_gap_reset();
}

// ---- connecting ----

bool bh_connect_is_pending(void) {
    return attempt.pending;
}

static uint16_t supervision_timeout(uint16_t interval_max) {
    // six intervals of 1.25 ms, in 10 ms units
    uint32_t t = ((uint32_t)interval_max * 6 + 7) / 8;
    if (t < SUPERVISION_TIMEOUT_MIN) {
        t = SUPERVISION_TIMEOUT_MIN;
    }
    return t > SUPERVISION_TIMEOUT_MAX ? SUPERVISION_TIMEOUT_MAX : (uint16_t)t;
}

static int create_connection(const bh_addr_t *peer) {
    // scan interval, window, filter policy, peer type, peer address, own
    // address type, interval min, max, latency, supervision timeout, CE
    // length min, max.
    uint8_t p[25] = { 0 };
    bh_put_u16(p, INITIATOR_SCAN_INTERVAL);
    bh_put_u16(p + 2, INITIATOR_SCAN_WINDOW);
    p[5] = peer->type;
    memcpy(p + 6, peer->val, 6);
    p[12] = bh_own_addr_type();
    bh_put_u16(p + 13, attempt.interval_min);
    bh_put_u16(p + 15, attempt.interval_max);
    bh_put_u16(p + 19, supervision_timeout(attempt.interval_max));
    return bh_gap_cmd_errno(BH_HCI_OP_LE_CREATE_CONN, p, sizeof(p));
}

int bh_connect(const bh_addr_t *peer, uint32_t timeout_ms, uint16_t interval_min,
    uint16_t interval_max) {
    if (!bh_is_active()) {
        return -BH_ENODEV;
    }
    if (peer->type > BH_ADDR_TYPE_RANDOM || interval_min < BH_CONN_INTERVAL_MIN
        || interval_max > BH_CONN_INTERVAL_MAX || interval_min > interval_max) {
        return -BH_EINVAL;
    }
    if (attempt.pending) {
        return -BH_EALREADY;
    }
    if (bh_conn_count() >= BH_MAX_CONNECTIONS) {
        return -BH_ENOMEM;
    }
    memset(&attempt, 0, sizeof(attempt));
    attempt.peer = *peer;
    attempt.timeout_ms = timeout_ms;
    attempt.interval_min = interval_min;
    attempt.interval_max = interval_max;
    // A bonded peer named by its identity may be advertising with private
    // addresses that only its IRK recognises.
    if (bh_smp_peer_irk(peer, attempt.irk)) {
        attempt.resolving = true;
        attempt.pending = true;
        int err = bh_scan_own(true);
        if (err != 0) {
            memset(&attempt, 0, sizeof(attempt));
            return err;
        }
        attempt.start_ms = bh_port_ticks_ms();
        return 0;
    }
    // Pending before the command goes out: a completion can only follow
    // its Command Status, but it must never find us unprepared.
    attempt.pending = true;
    int err = create_connection(peer);
    if (err != 0) {
        attempt.pending = false;
        return err;
    }
    attempt.start_ms = bh_port_ticks_ms();
    return 0;
}

void bh_gap_on_adv_seen(const bh_addr_t *addr, uint8_t adv_type) {
    // Connectable reports only: ADV_IND (0) and ADV_DIRECT_IND (1).
    if (!attempt.resolving || attempt.found || adv_type > 1) {
        return;
    }
    if ((addr->type == attempt.peer.type && memcmp(addr->val, attempt.peer.val, 6) == 0)
        || bh_addr_resolves(attempt.irk, addr)) {
        attempt.found = true;
        attempt.target = *addr;
    }
}

// The peer was heard: stop looking, initiate to the address it uses.
static void resolved_initiate(void) {
    attempt.resolving = false;
    attempt.found = false;
    (void)bh_scan_own(false);
    int err = create_connection(&attempt.target);
    if (err != 0) {
        attempt_failed(BH_HCI_ERR_UNSPECIFIED);
    }
}

int bh_connect_cancel(void) {
    if (!bh_is_active()) {
        return -BH_ENODEV;
    }
    if (!attempt.pending || attempt.cancelling) {
        return 0;
    }
    if (attempt.resolving) {
        // Not initiating yet: the end is ours to report, as the
        // controller reports a cancelled attempt.
        int err = bh_scan_own(false);
        attempt_failed(BH_HCI_ERR_UNKNOWN_CONN_ID);
        return err;
    }
    attempt.cancelling = true;
    attempt.cancel_ms = bh_port_ticks_ms();
    int err = bh_gap_cmd(BH_HCI_OP_LE_CREATE_CONN_CANCEL, NULL, 0);
    // Command Disallowed: the controller is no longer initiating, so the
    // completion (likely a success) is on its way. Either way the end of
    // the attempt is reported by its LE Connection Complete, or after
    // CANCEL_GRACE_MS by bh_gap_poll().
    if (err == BH_HCI_ERR_COMMAND_DISALLOWED) {
        err = 0;
    }
    return err > 0 ? -BH_EIO : err;
}

static void poll_attempt(uint32_t now) {
    if (!attempt.pending) {
        return;
    }
    if (attempt.found) {
        resolved_initiate();
        if (!attempt.pending) {
            return;
        }
    }
    if (attempt.cancelling) {
        if (bh_elapsed_ms(now, attempt.cancel_ms) >= CANCEL_GRACE_MS) {
            attempt_failed(BH_HCI_ERR_UNKNOWN_CONN_ID);
        }
    } else if (attempt.timeout_ms != 0 && bh_elapsed_ms(now, attempt.start_ms) >= attempt.timeout_ms) {
        (void)bh_connect_cancel();
    }
}

// ---- links ----

int bh_disconnect(uint16_t conn_handle) {
    if (!bh_is_active()) {
        return -BH_ENODEV;
    }
    bh_conn_t *c = bh_conn_find(conn_handle);
    if (c == NULL) {
        return -BH_ENOTCONN;
    }
    if (c->disconnecting) {
        return 0;
    }
    c->disconnecting = true;
    uint8_t p[3];
    bh_put_u16(p, conn_handle);
    p[2] = REASON_USER;
    int err = bh_gap_cmd(BH_HCI_OP_DISCONNECT, p, sizeof(p));
    if (err == 0) {
        return 0;
    }
    // The link may have gone (and been reported) while we waited.
    c = bh_conn_find(conn_handle);
    if (c == NULL) {
        return 0;
    }
    c->disconnecting = false;
    return err > 0 ? -BH_EIO : err;
}

bool bh_gap_params_acceptable(const uint16_t r[4]) {
    uint16_t min = r[0], max = r[1], latency = r[2], timeout = r[3];
    return min >= BH_CONN_INTERVAL_MIN && min <= max && max <= BH_CONN_INTERVAL_MAX
           && latency <= PERIPHERAL_LATENCY_MAX
           && timeout >= 10 && timeout <= SUPERVISION_TIMEOUT_MAX
           // timeout (10 ms) > 2 * (1 + latency) * interval (1.25 ms)
           && (uint32_t)timeout * 4 > (uint32_t)(1 + latency) * max;
}

void bh_gap_poll(void) {
    bh_scan_poll();
    poll_attempt(bh_port_ticks_ms());
}

int bh_gap_update_params(uint16_t conn_handle, const uint16_t params[4]) {
    // handle, interval min, max, latency, supervision timeout, CE length
    // min, max
    uint8_t p[14] = { 0 };
    bh_put_u16(p, conn_handle);
    for (size_t i = 0; i < 4; i++) {
        bh_put_u16(p + 2 + 2 * i, params[i]);
    }
    return bh_hci_cmd_async(BH_HCI_OP_LE_CONN_UPDATE, p, sizeof(p), NULL, NULL);
}

// ---- events ----

static void connection_complete(const uint8_t *p, size_t len, size_t min_len) {
    // status, handle, role, peer type, peer addr, [local RPA, peer RPA,]
    // interval, latency, timeout, clock accuracy
    if (len < min_len) {
        return;
    }
    uint8_t status = p[0];
    uint16_t handle = bh_get_u16(p + 1) & 0x0fff;
    uint8_t role = p[3] == 0 ? BH_ROLE_CENTRAL : BH_ROLE_PERIPHERAL;
    // Identity address types 2/3 (resolved RPA) report as public/random.
    bh_addr_t peer = { .type = p[4] & 1 };
    memcpy(peer.val, p + 5, 6);
    const uint8_t *params = p + min_len - 7;
    bool ours = role == BH_ROLE_CENTRAL && attempt.pending && !attempt.resolving;
    // Our attempt is reported with the address the application named (an
    // identity reached through a private address, or the address a scan
    // showed it), so it can match the two; a central that connected to
    // us by the identity of its bond when its private address resolves.
    bh_addr_t id = ours ? attempt.peer : peer;
    if (status != BH_HCI_SUCCESS) {
        // A failed attempt of ours (cancelled, timed out, refused); failed
        // peripheral links (directed advertising timeout) are not links.
        if (ours) {
            attempt_failed(status);
        }
        return;
    }
    if (ours) {
        memset(&attempt, 0, sizeof(attempt));
    } else if (role == BH_ROLE_PERIPHERAL) {
        bh_adv_on_connected();
    }
    bh_conn_t *c = bh_conn_add(handle, role, &peer);
    if (c == NULL) {
        uint8_t cmd[3];
        bh_put_u16(cmd, handle);
        cmd[2] = REASON_LOW_RESOURCES;
        if (bh_hci_cmd_async(BH_HCI_OP_DISCONNECT, cmd, sizeof(cmd), NULL, NULL) != 0) {
            gap_stats.refusals_lost++;
        }
        if (ours) {
            bh_evt_connect_failed(&peer, REASON_LOW_RESOURCES);
        }
        return;
    }
    c->interval = bh_get_u16(params);
    c->latency = bh_get_u16(params + 2);
    c->timeout = bh_get_u16(params + 4);
    if (!ours && bh_addr_is_rpa(&id)) {
        (void)bh_smp_peer_identity(&peer, &id);
    }
    c->id = id;
    bh_evt_connected(handle, role, &c->id);
}

static void conn_update_complete(const uint8_t *p, size_t len) {
    // status, handle, interval, latency, timeout
    if (len < 9) {
        return;
    }
    uint16_t handle = bh_get_u16(p + 1) & 0x0fff;
    bh_conn_t *c = bh_conn_find(handle);
    if (c == NULL) {
        return;
    }
    uint16_t interval = bh_get_u16(p + 3);
    uint16_t latency = bh_get_u16(p + 5);
    uint16_t timeout = bh_get_u16(p + 7);
    if (p[0] == BH_HCI_SUCCESS) {
        c->interval = interval;
        c->latency = latency;
        c->timeout = timeout;
    }
    bh_evt_conn_update(handle, interval, latency, timeout, p[0]);
}

static void remote_param_request(const uint8_t *p, size_t len) {
    // handle, interval min, max, latency, timeout
    (void)len;
    uint16_t handle = bh_get_u16(p) & 0x0fff;
    if (bh_conn_find(handle) == NULL) {
        return;
    }
    uint16_t req[4];
    for (size_t i = 0; i < 4; i++) {
        req[i] = bh_get_u16(p + 2 + 2 * i);
    }
    // The controller holds the procedure until the host replies.
    uint8_t r[14] = { 0 };
    bh_put_u16(r, handle);
    int err;
    if (bh_gap_params_acceptable(req)) {
        memcpy(r + 2, p + 2, 8);
        err = bh_hci_cmd_async(BH_HCI_OP_LE_REMOTE_PARAM_REPLY, r, 14, NULL, NULL);
    } else {
        r[2] = BH_HCI_ERR_UNACCEPTABLE_CONN_PARAMS;
        err = bh_hci_cmd_async(BH_HCI_OP_LE_REMOTE_PARAM_NEG_REPLY, r, 3, NULL, NULL);
    }
    if (err != 0) {
        gap_stats.refusals_lost++;
    }
}

void bh_gap_on_connection_complete(const uint8_t *p, size_t len) {
    connection_complete(p, len, BH_GAP_CONN_COMPLETE_MIN_LEN);
}

void bh_gap_on_enh_connection_complete(const uint8_t *p, size_t len) {
    connection_complete(p, len, BH_GAP_ENH_CONN_COMPLETE_MIN_LEN);
}

void bh_gap_on_conn_update_complete(const uint8_t *p, size_t len) {
    conn_update_complete(p, len);
}

void bh_gap_on_remote_param_request(const uint8_t *p, size_t len) {
    remote_param_request(p, len);
}

void bh_gap_get_stats(bh_gap_stats_t *stats) {
    *stats = gap_stats;
}

void bh_gap_on_disconnection_complete(const uint8_t *p, size_t len) {
    // status, handle, reason
    if (len < 4) {
        return;
    }
    uint16_t handle = bh_get_u16(p + 1) & 0x0fff;
    bh_conn_t *c = bh_conn_find(handle);
    if (c == NULL) {
        return;
    }
    if (p[0] != BH_HCI_SUCCESS) {
        // Our HCI_Disconnect failed late: the link stays.
        c->disconnecting = false;
        return;
    }
    // Copy out before the slot is freed and before calling up.
    bh_addr_t peer = c->id;
    uint8_t role = c->role;
    bh_conn_remove(c);
    bh_evt_disconnected(handle, role, &peer, p[3]);
}
