// GAP: addresses and connection events. See bh_gap.h.
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

#define MODE_DEFAULT (0xff)

static struct {
    uint8_t requested_mode; // MODE_DEFAULT or a BH_ADDR_MODE_*
    uint8_t mode;           // effective while active
    bool started;
    bool have_public;
    bool have_random;
    uint8_t public_addr[6];
    uint8_t random_addr[6];
} gap = { .requested_mode = MODE_DEFAULT };

void bh_gap_reset(void) {
    uint8_t requested = gap.requested_mode;
    memset(&gap, 0, sizeof(gap));
    gap.requested_mode = requested;
}

static bool is_zero(const uint8_t *a, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (a[i] != 0) {
            return false;
        }
    }
    return true;
}

// A static random address: top two bits 11, the other 46 bits neither all
// zero nor all one (Core spec Vol 6 Part B 1.3.2.1).
static void make_static_random(uint8_t addr[6]) {
    bh_port_random(addr, 6);
    addr[5] |= 0xc0;
    uint8_t all_and = addr[0] & addr[1] & addr[2] & addr[3] & addr[4] & addr[5];
    uint8_t low_or = addr[0] | addr[1] | addr[2] | addr[3] | addr[4] | (addr[5] & 0x3f);
    if (all_and == 0xff) {
        addr[0] = 0xfe;
    } else if (low_or == 0) {
        addr[0] = 0x01;
    }
}

static int use_random(void) {
    if (!gap.have_random) {
        uint8_t addr[6];
        make_static_random(addr);
        int err = bh_hci_cmd_sync(BH_HCI_OP_LE_SET_RANDOM_ADDRESS, addr, 6, NULL, 0, 0, NULL,
            BH_HCI_CMD_TIMEOUT_MS);
        if (err != 0) {
            return err < 0 ? err : -EIO;
        }
        memcpy(gap.random_addr, addr, 6);
        gap.have_random = true;
    }
    gap.mode = BH_ADDR_MODE_RANDOM;
    return 0;
}

static int apply_mode(uint8_t mode) {
    switch (mode) {
        case BH_ADDR_MODE_PUBLIC:
            if (!gap.have_public) {
                return -EINVAL;
            }
            gap.mode = BH_ADDR_MODE_PUBLIC;
            return 0;
        case BH_ADDR_MODE_RANDOM:
            return use_random();
        case BH_ADDR_MODE_RPA:
        case BH_ADDR_MODE_NRPA:
            return -EOPNOTSUPP;
        default:
            return -EINVAL;
    }
}

int bh_gap_start(const uint8_t public_addr[6]) {
    memcpy(gap.public_addr, public_addr, 6);
    gap.have_public = !is_zero(public_addr, 6);
    gap.have_random = false;
    uint8_t mode = gap.requested_mode;
    if (mode == MODE_DEFAULT || (mode == BH_ADDR_MODE_PUBLIC && !gap.have_public)
        || mode == BH_ADDR_MODE_RPA || mode == BH_ADDR_MODE_NRPA) {
        // Default rule: public if the controller has one, else static random.
        mode = gap.have_public ? BH_ADDR_MODE_PUBLIC : BH_ADDR_MODE_RANDOM;
    }
    int err = apply_mode(mode);
    gap.started = err == 0;
    return err;
}

int bh_set_addr_mode(uint8_t mode) {
    if (mode > BH_ADDR_MODE_NRPA) {
        return -EINVAL;
    }
    if (mode == BH_ADDR_MODE_RPA || mode == BH_ADDR_MODE_NRPA) {
        return -EOPNOTSUPP;
    }
    if (gap.started) {
        int err = apply_mode(mode);
        if (err != 0) {
            return err;
        }
    }
    gap.requested_mode = mode;
    return 0;
}

uint8_t bh_get_addr_mode(void) {
    if (gap.started) {
        return gap.mode;
    }
    return gap.requested_mode == MODE_DEFAULT ? BH_ADDR_MODE_PUBLIC : gap.requested_mode;
}

uint8_t bh_gap_own_addr_type(void) {
    return gap.mode == BH_ADDR_MODE_PUBLIC ? BH_ADDR_TYPE_PUBLIC : BH_ADDR_TYPE_RANDOM;
}

int bh_get_addr(bh_addr_t *addr) {
    if (!gap.started) {
        return -ENODEV;
    }
    addr->type = bh_gap_own_addr_type();
    memcpy(addr->val, addr->type == BH_ADDR_TYPE_PUBLIC ? gap.public_addr : gap.random_addr, 6);
    return 0;
}

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
