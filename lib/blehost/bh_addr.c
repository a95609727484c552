// Our own device address: address mode (public, static random, resolvable
// or non-resolvable private), generation and programming. See bh_addr.h.
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "bh_addr.h"
#include "bh_hci.h"
#include "bh_port.h"

#define MODE_DEFAULT (0xff)

static struct {
    uint8_t requested_mode; // MODE_DEFAULT or a BH_ADDR_MODE_*
    uint8_t mode;           // effective while active
    bool started;
    bool have_public;
    bool have_random;
    uint8_t public_addr[6];
    uint8_t random_addr[6];
} st = { .requested_mode = MODE_DEFAULT };

void bh_addr_reset(void) {
    uint8_t requested = st.requested_mode;
    memset(&st, 0, sizeof(st));
    st.requested_mode = requested;
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
    if (!st.have_random) {
        uint8_t addr[6];
        make_static_random(addr);
        int err = bh_hci_cmd_sync(BH_HCI_OP_LE_SET_RANDOM_ADDRESS, addr, 6, NULL, 0, 0, NULL,
            BH_HCI_CMD_TIMEOUT_MS);
        if (err != 0) {
            return err < 0 ? err : -EIO;
        }
        memcpy(st.random_addr, addr, 6);
        st.have_random = true;
    }
    st.mode = BH_ADDR_MODE_RANDOM;
    return 0;
}

static int apply_mode(uint8_t mode) {
    switch (mode) {
        case BH_ADDR_MODE_PUBLIC:
            if (!st.have_public) {
                return -EINVAL;
            }
            st.mode = BH_ADDR_MODE_PUBLIC;
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

int bh_addr_start(const uint8_t public_addr[6]) {
    memcpy(st.public_addr, public_addr, 6);
    st.have_public = !is_zero(public_addr, 6);
    st.have_random = false;
    uint8_t mode = st.requested_mode;
    if (mode == MODE_DEFAULT || (mode == BH_ADDR_MODE_PUBLIC && !st.have_public)
        || mode == BH_ADDR_MODE_RPA || mode == BH_ADDR_MODE_NRPA) {
        // Default rule: public if the controller has one, else static random.
        mode = st.have_public ? BH_ADDR_MODE_PUBLIC : BH_ADDR_MODE_RANDOM;
    }
    int err = apply_mode(mode);
    st.started = err == 0;
    return err;
}

int bh_set_addr_mode(uint8_t mode) {
    if (mode > BH_ADDR_MODE_NRPA) {
        return -EINVAL;
    }
    if (mode == BH_ADDR_MODE_RPA || mode == BH_ADDR_MODE_NRPA) {
        return -EOPNOTSUPP;
    }
    if (st.started) {
        int err = apply_mode(mode);
        if (err != 0) {
            return err;
        }
    }
    st.requested_mode = mode;
    return 0;
}

uint8_t bh_get_addr_mode(void) {
    if (st.started) {
        return st.mode;
    }
    return st.requested_mode == MODE_DEFAULT ? BH_ADDR_MODE_PUBLIC : st.requested_mode;
}

uint8_t bh_own_addr_type(void) {
    return st.mode == BH_ADDR_MODE_PUBLIC ? BH_ADDR_TYPE_PUBLIC : BH_ADDR_TYPE_RANDOM;
}

int bh_get_addr(bh_addr_t *addr) {
    if (!st.started) {
        return -ENODEV;
    }
    addr->type = bh_own_addr_type();
    memcpy(addr->val, addr->type == BH_ADDR_TYPE_PUBLIC ? st.public_addr : st.random_addr, 6);
    return 0;
}

