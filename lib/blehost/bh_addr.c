// Our own device address: address mode (public, static random, resolvable
// or non-resolvable private), generation, programming and rotation. See
// bh_addr.h and blehost.h.
//
// Private addresses are generated here and given to the controller with
// LE_Set_Random_Address; the controller's own privacy feature (resolving
// list, controller-generated RPAs) is not used. Controllers refuse that
// command (Command Disallowed) while legacy advertising, scanning or
// initiating is enabled. When refused, advertising and scanning are paused
// around the command (disable, set address, enable again: a gap of a few
// milliseconds, the same parameters and data; a scan keeps its remaining
// duration). A connection attempt is not interrupted: the change waits for
// it to end, retried every BH_ADDR_RETRY_MS, or done at once when the GAP
// layer calls bh_addr_refresh().
#include "bh_err.h"
#include <stdbool.h>
#include <string.h>

#include "bh_addr.h"
#include "bh_aes.h"
#include "bh_config.h"
#include "bh_gap.h"
#include "bh_hci.h"
#include "bh_port.h"
#include "bh_util.h"

#define MODE_DEFAULT (0xff)

// HCI status: the controller refuses the command in its current state.
#define HCI_COMMAND_DISALLOWED (0x0c)

static struct {
    uint8_t requested_mode; // MODE_DEFAULT or a BH_ADDR_MODE_*
    uint8_t mode;           // effective while active
    bool started;
    bool have_public;
    bool have_static;       // static random address generated this activation
    bool rotation_due;      // a private address change is waiting for the controller
    uint8_t public_addr[6];
    uint8_t static_addr[6];
    uint8_t random_addr[6]; // what the controller holds as its random address
    uint8_t irk[16];        // local IRK, most significant octet first
    uint32_t rotated_ms;    // when the current private address was programmed
    uint32_t retry_ms;      // last failed attempt to program a due address
} st = { .requested_mode = MODE_DEFAULT };

// Survives activations: it is configuration, not state.
static uint32_t rpa_timeout_s = BH_RPA_TIMEOUT_S;

void bh_addr_reset(void) {
    uint8_t requested = st.requested_mode;
    // Forget the IRK and all addresses of the previous activation.
    memset(&st, 0, sizeof(st));
    st.requested_mode = requested;
}

void bh_addr_config_reset(void) {
    st.requested_mode = MODE_DEFAULT;
    rpa_timeout_s = BH_RPA_TIMEOUT_S;
}

static bool is_zero(const uint8_t *a, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (a[i] != 0) {
            return false;
        }
    }
    return true;
}

// The random part of an address (all bits but the top two of val[5]) must be
// neither all zero nor all one (Core spec Vol 6 Part B 1.3.2). `lo` is the
// first byte of that part: 0 for static/NRPA (46 bits), 3 for the prand of
// an RPA (22 bits). Fixes one bit when needed.
static void fix_random_part(uint8_t addr[6], size_t lo) {
    uint8_t all_and = addr[5] | 0xc0;
    uint8_t low_or = addr[5] & 0x3f;
    for (size_t i = lo; i < 5; i++) {
        all_and &= addr[i];
        low_or |= addr[i];
    }
    if (all_and == 0xff) {
        addr[lo] &= 0xfe;
    } else if (low_or == 0) {
        addr[lo] |= 0x01;
    }
}

// Static random: top two bits 11.
static int make_static(uint8_t addr[6]) {
    int err = bh_random(addr, 6);
    addr[5] |= 0xc0;
    fix_random_part(addr, 0);
    return err;
}

// Non-resolvable private: top two bits 00, never equal to the public address.
static int make_nrpa(uint8_t addr[6]) {
    int err;
    do {
        err = bh_random(addr, 6);
        addr[5] &= 0x3f;
        fix_random_part(addr, 0);
    } while (err == 0 && memcmp(addr, st.public_addr, 6) == 0);
    return err;
}

// Resolvable private: prand (top two bits 01) in the upper three octets,
// hash = ah(IRK, prand) in the lower three (HCI byte order).
static int make_rpa(uint8_t addr[6]) {
    int err = bh_random(addr + 3, 3);
    addr[5] = (addr[5] & 0x3f) | 0x40;
    fix_random_part(addr, 3);
    bh_ah(st.irk, addr + 3, addr);
    return err;
}

static int set_random(const uint8_t addr[6]) {
    return bh_hci_cmd_sync(BH_HCI_OP_LE_SET_RANDOM_ADDRESS, addr, 6, NULL, 0, 0, NULL,
        BH_HCI_CMD_TIMEOUT_MS);
}

static int enable(uint16_t opcode, bool on) {
    // LE_Set_Advertising_Enable: enable. LE_Set_Scan_Enable: enable, filter
    // duplicates (off, as bh_scan.c sets it).
    uint8_t p[2] = { on, 0 };
    return bh_hci_cmd_sync(opcode, p, opcode == BH_HCI_OP_LE_SET_ADV_ENABLE ? 1 : 2, NULL, 0, 0,
        NULL, BH_HCI_CMD_TIMEOUT_MS);
}

// LE_Set_Random_Address with advertising and scanning paused around it.
static int set_random_paused(const uint8_t addr[6]) {
    if (bh_connect_is_pending()) {
        return HCI_COMMAND_DISALLOWED;
    }
    bool adv = bh_adv_is_enabled() && enable(BH_HCI_OP_LE_SET_ADV_ENABLE, false) == 0;
    bool scan = bh_scan_is_active() && enable(BH_HCI_OP_LE_SET_SCAN_ENABLE, false) == 0;
    int err = set_random(addr);
    // Resume whatever was paused, even if the address was refused.
    if (scan) {
        (void)enable(BH_HCI_OP_LE_SET_SCAN_ENABLE, true);
    }
    if (adv) {
        (void)enable(BH_HCI_OP_LE_SET_ADV_ENABLE, true);
    }
    return err;
}

static int program_random(const uint8_t addr[6]) {
    int err = set_random(addr);
    if (err == HCI_COMMAND_DISALLOWED) {
        err = set_random_paused(addr);
    }
    if (err == HCI_COMMAND_DISALLOWED) {
        return -BH_EBUSY;
    }
    if (err != 0) {
        return err < 0 ? err : -BH_EIO;
    }
    memcpy(st.random_addr, addr, 6);
    return 0;
}

// Generate and program a fresh private address for mode (RPA or NRPA).
static int new_private(uint8_t mode) {
    uint8_t addr[6];
    int err = mode == BH_ADDR_MODE_RPA ? make_rpa(addr) : make_nrpa(addr);
    if (err != 0) {
        return err;
    }
    err = program_random(addr);
    if (err == 0) {
        st.rotated_ms = bh_port_ticks_ms();
        st.rotation_due = false;
    }
    return err;
}

static int apply_mode(uint8_t mode) {
    int err;
    switch (mode) {
        case BH_ADDR_MODE_PUBLIC:
            if (!st.have_public) {
                return -BH_EINVAL;
            }
            err = 0;
            break;
        case BH_ADDR_MODE_RANDOM:
            // Generated once per activation, then stable.
            if (!st.have_static) {
                err = make_static(st.static_addr);
                if (err != 0) {
                    return err;
                }
                st.have_static = true;
            }
            err = 0;
            if (memcmp(st.random_addr, st.static_addr, 6) != 0) {
                err = program_random(st.static_addr);
            }
            break;
        case BH_ADDR_MODE_RPA:
        case BH_ADDR_MODE_NRPA:
            // Setting a private mode (again) always gives a fresh address.
            err = new_private(mode);
            break;
        default:
            return -BH_EINVAL;
    }
    if (err == 0) {
        st.mode = mode;
        st.rotation_due = false;
    }
    return err;
}

int bh_addr_start(const uint8_t public_addr[6]) {
    memcpy(st.public_addr, public_addr, 6);
    st.have_public = !is_zero(public_addr, 6);
    // One local IRK per activation (an identity that survives activations
    // needs bonding storage, which is not there yet).
    int rerr = bh_random(st.irk, sizeof(st.irk));
    if (rerr != 0) {
        return rerr;
    }
    st.mode = MODE_DEFAULT;
    uint8_t mode = st.requested_mode;
    if (mode == MODE_DEFAULT || (mode == BH_ADDR_MODE_PUBLIC && !st.have_public)) {
        // Default rule: public if the controller has one, else static random.
        mode = st.have_public ? BH_ADDR_MODE_PUBLIC : BH_ADDR_MODE_RANDOM;
    }
    int err = apply_mode(mode);
    st.started = err == 0;
    return err;
}

int bh_set_addr_mode(uint8_t mode) {
    if (mode > BH_ADDR_MODE_NRPA) {
        return -BH_EINVAL;
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
        return -BH_ENODEV;
    }
    addr->type = bh_own_addr_type();
    memcpy(addr->val, addr->type == BH_ADDR_TYPE_PUBLIC ? st.public_addr : st.random_addr, 6);
    return 0;
}

int bh_addr_identity(bh_addr_t *id) {
    if (!st.started) {
        return -BH_ENODEV;
    }
    // The address peers see us with unless we are private.
    if (st.have_public && st.mode != BH_ADDR_MODE_RANDOM) {
        id->type = BH_ADDR_TYPE_PUBLIC;
        memcpy(id->val, st.public_addr, 6);
        return 0;
    }
    if (!st.have_static) {
        int err = make_static(st.static_addr);
        if (err != 0) {
            return err;
        }
        st.have_static = true;
    }
    id->type = BH_ADDR_TYPE_RANDOM;
    memcpy(id->val, st.static_addr, 6);
    return 0;
}

static bool is_private(void) {
    return st.started && (st.mode == BH_ADDR_MODE_RPA || st.mode == BH_ADDR_MODE_NRPA);
}

void bh_addr_set_identity(const uint8_t irk[16], const bh_addr_t *id) {
    if (!st.started) {
        return;
    }
    memcpy(st.irk, irk, 16);
    if (id != NULL && id->type == BH_ADDR_TYPE_RANDOM && (id->val[5] & 0xc0) == 0xc0) {
        memcpy(st.static_addr, id->val, 6);
        st.have_static = true;
    }
    // Addresses from now on come from this identity: a fresh private
    // address with the IRK, or the static address. Busy (advertising,
    // scanning, initiating): a private address is changed once the
    // controller lets us; a static one at the next mode change.
    if (apply_mode(st.mode) != 0 && is_private()) {
        st.rotation_due = true;
        st.retry_ms = bh_port_ticks_ms();
    }
}

int bh_get_irk(uint8_t irk[16]) {
    if (!st.started) {
        return -BH_ENODEV;
    }
    memcpy(irk, st.irk, 16);
    return 0;
}

int bh_set_rpa_timeout(uint32_t seconds) {
    if (seconds < BH_RPA_TIMEOUT_MIN_S || seconds > BH_RPA_TIMEOUT_MAX_S) {
        return -BH_EINVAL;
    }
    rpa_timeout_s = seconds;
    return 0;
}

uint32_t bh_get_rpa_timeout(void) {
    return rpa_timeout_s;
}


// The current private address has been in use for the RPA timeout (or an
// earlier change is still waiting for the controller).
static bool due(uint32_t now) {
    return st.rotation_due || bh_elapsed_ms(now, st.rotated_ms) >= rpa_timeout_s * 1000u;
}

static int rotate(uint32_t now) {
    st.rotation_due = true;
    int err = new_private(st.mode);
    if (err != 0) {
        st.retry_ms = now;
    }
    return err;
}

int bh_addr_refresh(void) {
    uint32_t now = bh_port_ticks_ms();
    if (!is_private() || !due(now)) {
        return 0;
    }
    return rotate(now);
}

void bh_addr_poll(void) {
    if (!is_private()) {
        return;
    }
    uint32_t now = bh_port_ticks_ms();
    if (!due(now) || (st.rotation_due && bh_elapsed_ms(now, st.retry_ms) < BH_ADDR_RETRY_MS)) {
        return;
    }
    (void)rotate(now);
}

bool bh_addr_rotation_due(void) {
    return is_private() && due(bh_port_ticks_ms());
}

bool bh_addr_is_rpa(const bh_addr_t *addr) {
    return addr->type == BH_ADDR_TYPE_RANDOM && (addr->val[5] & 0xc0) == 0x40;
}

bool bh_addr_resolves(const uint8_t irk[16], const bh_addr_t *addr) {
    // HCI order: hash in val[0..2], prand in val[3..5].
    if (!bh_addr_is_rpa(addr)) {
        return false;
    }
    uint8_t hash[3];
    bh_ah(irk, addr->val + 3, hash);
    return memcmp(hash, addr->val, 3) == 0;
}
