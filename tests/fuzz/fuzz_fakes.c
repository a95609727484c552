// The layers around the Security Manager, faked for the fuzzer: the link
// table, L2CAP (PDUs sent are checked and queued for the peer model), the
// HCI command queue (queued for the fake controller), the port (a clock the
// script moves, deterministic random bytes), our address and IRK, the GATT
// server's subscriptions, the events to the application and its store.
//
// An event handler may call the API back (the script decides, when the
// header asks for it), as a MicroPython IRQ handler can, once the host has
// returned.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bh_addr.h"
#include "bh_aes.h"
#include "bh_err.h"
#include "bh_gatts.h"
#include "bh_hci.h"
#include "bh_port.h"
#include "bh_smp.h"
#include "bh_smp_keys.h"
#include "fuzz_smp.h"

void fuzz_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "%s:%d: expectation failed: %s\n", file, line, what);
    abort();
}

void fuzz_trace(const char *what, uint16_t handle, const uint8_t *data, size_t len) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("FUZZ_TRACE");
        on = e != NULL && e[0] == '1';
    }
    if (!on) {
        return;
    }
    fprintf(stderr, "%-6s %04x", what, handle);
    for (size_t i = 0; i < len && i < 24; i++) {
        fprintf(stderr, " %02x", data[i]);
    }
    fprintf(stderr, len > 24 ? " ...\n" : "\n");
}

// ---- the script ----

fuzz_in_t fuzz_in;

uint8_t fuzz_u8(void) {
    if (fuzz_in.n == 0) {
        return 0;
    }
    fuzz_in.n--;
    return *fuzz_in.p++;
}

bool fuzz_more(void) {
    return fuzz_in.n > 0;
}

// ---- links ----

const uint16_t fuzz_handle[FUZZ_LINKS] = { 0x0040, 0x0041 };
bh_conn_t fuzz_conns[FUZZ_LINKS];

int fuzz_link_of(uint16_t handle) {
    for (int i = 0; i < FUZZ_LINKS; i++) {
        if (fuzz_handle[i] == handle) {
            return i;
        }
    }
    return -1;
}

bh_conn_t *bh_conn_find(uint16_t handle) {
    for (size_t i = 0; i < FUZZ_LINKS; i++) {
        if (fuzz_conns[i].used && fuzz_conns[i].handle == handle) {
            return &fuzz_conns[i];
        }
    }
    return NULL;
}

void bh_conn_security_changed(bh_conn_t *conn) {
    (void)conn;
}

// ---- L2CAP ----

static bh_l2cap_rx_fn_t smp_rx;
uint8_t fuzz_sent_pk[FUZZ_LINKS][64];
bool fuzz_have_sent_pk[FUZZ_LINKS];
bool fuzz_l2cap_refuses;
fuzz_pdu_t fuzz_tx[FUZZ_TX_MAX];
size_t fuzz_n_tx;

int bh_l2cap_set_rx_handler(uint16_t cid, bh_l2cap_rx_fn_t fn) {
    FUZZ_CHECK(cid == BH_L2CAP_CID_SMP);
    smp_rx = fn;
    return 0;
}

bool fuzz_deliver(uint16_t handle, const uint8_t *pdu, size_t len) {
    FUZZ_CHECK(smp_rx != NULL);
    return smp_rx(handle, BH_L2CAP_CID_SMP, pdu, len);
}

int bh_l2cap_send(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    FUZZ_CHECK(cid == BH_L2CAP_CID_SMP);
    // Never for a link that is gone (issue 15 item 6: an event handler's
    // active(False) once left the Security Manager going on in a reset slot).
    FUZZ_CHECK(bh_conn_find(conn_handle) != NULL);
    fuzz_check_sent(data, len);
    fuzz_trace("tx", conn_handle, data, len);
    int link = fuzz_link_of(conn_handle);
    if (link >= 0 && data[0] == BH_SMP_PUBLIC_KEY) {
        memcpy(fuzz_sent_pk[link], data + 1, 64);
        fuzz_have_sent_pk[link] = true;
    }
    if (fuzz_l2cap_refuses) {
        return -BH_ENOMEM;
    }
    if (fuzz_n_tx < FUZZ_TX_MAX) {
        fuzz_tx[fuzz_n_tx].handle = conn_handle;
        fuzz_tx[fuzz_n_tx].len = (uint8_t)len;
        memcpy(fuzz_tx[fuzz_n_tx].data, data, len);
        fuzz_n_tx++;
    }
    return 0;
}

// Every SMP PDU we send has the Core's length for its code (Vol 3 Part H
// 3.5, 3.6) and a Pairing Failed carries a defined reason.
void fuzz_check_sent(const uint8_t *pdu, size_t len) {
    static const uint8_t lens[15] = { 0, 7, 7, 17, 17, 2, 17, 11, 17, 8, 17, 2, 65, 17, 2 };
    FUZZ_CHECK(len > 0 && len <= 80);
    FUZZ_CHECK(pdu[0] > 0 && pdu[0] < 15);
    FUZZ_CHECK(len == lens[pdu[0]]);
    if (pdu[0] == BH_SMP_PAIRING_FAILED) {
        FUZZ_CHECK(pdu[1] >= 0x01 && pdu[1] <= 0x0e);
    }
    if (pdu[0] == BH_SMP_PAIRING_REQUEST || pdu[0] == BH_SMP_PAIRING_RESPONSE) {
        FUZZ_CHECK(pdu[1] <= BH_IO_KEYBOARD_DISPLAY && pdu[4] >= 7 && pdu[4] <= 16);
    }
}

// ---- HCI commands ----

fuzz_cmd_t fuzz_cmds[FUZZ_CMD_MAX];
size_t fuzz_n_cmds;
bool fuzz_cmd_refused;

int bh_hci_cmd_async(uint16_t opcode, const uint8_t *params, size_t plen, bh_hci_done_fn_t done, void *ctx) {
    FUZZ_CHECK(plen <= sizeof(fuzz_cmds[0].params));
    if (fuzz_cmd_refused || fuzz_n_cmds == FUZZ_CMD_MAX) {
        return -BH_ENOMEM;
    }
    uint8_t op[2] = { (uint8_t)opcode, (uint8_t)(opcode >> 8) };
    fuzz_trace("cmd", 0, op, 2);
    fuzz_cmd_t *c = &fuzz_cmds[fuzz_n_cmds++];
    c->opcode = opcode;
    c->len = (uint8_t)plen;
    if (plen > 0) {
        memcpy(c->params, params, plen);
    }
    c->done = done;
    c->ctx = ctx;
    int link = fuzz_link_of((uint16_t)(uintptr_t)ctx);
    c->ours_valid = opcode == BH_HCI_OP(0x08, 0x0026) && link >= 0 && fuzz_have_sent_pk[link];
    if (c->ours_valid) {
        memcpy(c->ours, fuzz_sent_pk[link], 64);
    }
    return 0;
}

// ---- the port and our identity ----

uint32_t fuzz_now_ms;
bool fuzz_random_fails;
static uint8_t rnd_state;

uint32_t bh_port_ticks_ms(void) {
    return fuzz_now_ms;
}

int bh_port_random(uint8_t *buf, size_t len) {
    if (fuzz_random_fails) {
        return -BH_EIO;
    }
    for (size_t i = 0; i < len; i++) {
        rnd_state = (uint8_t)(rnd_state * 73 + 41);
        buf[i] = rnd_state;
    }
    return 0;
}

const bh_addr_t fuzz_own_addr = { 1, { 0x01, 0x02, 0x03, 0x04, 0x05, 0xc6 } };
const uint8_t fuzz_own_irk[16] = { 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                                   0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f };

bool bh_is_active(void) {
    return true;
}

int bh_get_addr(bh_addr_t *addr) {
    *addr = fuzz_own_addr;
    return 0;
}

int bh_get_irk(uint8_t irk[16]) {
    memcpy(irk, fuzz_own_irk, 16);
    return 0;
}

int bh_addr_identity(bh_addr_t *id) {
    *id = fuzz_own_addr;
    return 0;
}

void bh_addr_set_identity(const uint8_t irk[16], const bh_addr_t *id) {
    (void)irk;
    (void)id;
}

bool bh_addr_is_rpa(const bh_addr_t *addr) {
    return addr->type == 1 && (addr->val[5] >> 6) == 1;
}

bool bh_addr_resolves(const uint8_t irk[16], const bh_addr_t *addr) {
    if (!bh_addr_is_rpa(addr)) {
        return false;
    }
    uint8_t hash[3];
    bh_ah(irk, addr->val + 3, hash);
    return memcmp(hash, addr->val, 3) == 0;
}

// ---- GATT server subscriptions (one per link, for the CCCD records) ----

size_t bh_gatts_cccd_list(uint16_t conn_handle, uint16_t *handles, uint16_t *values, size_t max) {
    if (max == 0 || fuzz_link_of(conn_handle) < 0) {
        return 0;
    }
    handles[0] = 0x0010;
    values[0] = 0x0001;
    return 1;
}

bool bh_gatts_cccd_restore(uint16_t conn_handle, uint16_t handle, uint16_t value) {
    (void)conn_handle;
    return handle != 0 && value <= 3;
}

// ---- the store ----

#define STORE_MAX (6)
static struct {
    bool used;
    uint8_t type;
    uint8_t key_len;
    uint8_t key[8];
    uint8_t len;
    uint8_t value[80];
} store[STORE_MAX];
bool fuzz_store_refuses;

void fuzz_store_reset(void) {
    memset(store, 0, sizeof(store));
    fuzz_store_refuses = false;
}

void fuzz_store_delete_bonds(void) {
    for (size_t i = 0; i < STORE_MAX; i++) {
        if (store[i].type == BH_SEC_TYPE_PEER_BOND) {
            store[i].used = false;
        }
    }
}

static int store_find(uint8_t type, const uint8_t *key, size_t key_len) {
    for (int i = 0; i < STORE_MAX; i++) {
        if (store[i].used && store[i].type == type && store[i].key_len == key_len
            && memcmp(store[i].key, key, key_len) == 0) {
            return i;
        }
    }
    return -1;
}

// Bond policy of issue 15: the identity is a valid one
// (item 13), a bond is not replaced by a weaker one (item 2), and a bond
// says authenticated only after an authenticated pairing (item 1: some
// link is authenticated as it is written).
bool fuzz_store_preloading;

static void strict_bond_checks(const uint8_t *key, const uint8_t *value, const uint8_t *old) {
    static const uint8_t zero[6];
    if (fuzz_store_preloading) {
        return; // an earlier session's bond
    }
    FUZZ_CHECK(memcmp(key + 1, zero, 6) != 0);
    FUZZ_CHECK(key[0] == 0 || (key[1] >> 6) == 3);
    if (old != NULL) {
        FUZZ_CHECK(!(old[1] & BH_SMP_BOND_AUTH) || (value[1] & BH_SMP_BOND_AUTH));
        FUZZ_CHECK(!(old[1] & BH_SMP_BOND_SC) || (value[1] & BH_SMP_BOND_SC));
        FUZZ_CHECK(value[2] >= old[2]);
    }
    bool any_auth = false;
    for (size_t i = 0; i < FUZZ_LINKS; i++) {
        any_auth |= fuzz_conns[i].used && fuzz_conns[i].sec.authenticated;
    }
    FUZZ_CHECK(!(value[1] & BH_SMP_BOND_AUTH) || any_auth);
    (void)zero;
}

int bh_evt_get_secret(uint8_t sec_type, uint16_t index, const uint8_t *key, size_t key_len,
    uint8_t *value, size_t value_max) {
    int i = -1;
    if (key == NULL) {
        for (int j = 0; j < STORE_MAX; j++) {
            if (store[j].used && store[j].type == sec_type && index-- == 0) {
                i = j;
                break;
            }
        }
    } else {
        FUZZ_CHECK(key_len <= sizeof(store[0].key));
        i = store_find(sec_type, key, key_len);
    }
    if (i < 0) {
        return -1;
    }
    size_t n = store[i].len < value_max ? store[i].len : value_max;
    memcpy(value, store[i].value, n);
    return store[i].len;
}

bool bh_evt_set_secret(uint8_t sec_type, const uint8_t *key, size_t key_len,
    const uint8_t *value, size_t value_len) {
    FUZZ_CHECK(key != NULL && key_len <= sizeof(store[0].key));
    FUZZ_CHECK(value_len <= sizeof(store[0].value));
    int i = store_find(sec_type, key, key_len);
    if (sec_type == BH_SEC_TYPE_PEER_BOND && value != NULL) {
        // A bond names a key size the link can have had.
        FUZZ_CHECK(value_len == BH_SMP_BOND_LEN && value[2] >= 7 && value[2] <= 16);
        strict_bond_checks(key, value, i >= 0 ? store[i].value : NULL);
    }
    if (fuzz_store_refuses) {
        return false;
    }
    if (value == NULL) {
        if (i >= 0) {
            store[i].used = false;
        }
        return true;
    }
    for (int j = 0; i < 0 && j < STORE_MAX; j++) {
        if (!store[j].used) {
            i = j;
        }
    }
    if (i < 0) {
        return false; // full
    }
    store[i].used = true;
    store[i].type = sec_type;
    store[i].key_len = (uint8_t)key_len;
    memcpy(store[i].key, key, key_len);
    store[i].len = (uint8_t)value_len;
    memcpy(store[i].value, value, value_len);
    return true;
}

// A bond the application kept from an earlier session (irk NULL: the
// peer gave none), with the key fuzz_stored_ltk.
const bh_smp_ltk_t fuzz_stored_ltk = {
    0x1234, { 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33 },
    { 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c },
};

bool fuzz_store_bond(const bh_addr_t *id, const uint8_t *irk, uint8_t flags, uint8_t key_size) {
    bh_smp_bond_t b;
    memset(&b, 0, sizeof(b));
    b.id = *id;
    b.flags = flags | BH_SMP_BOND_LTK_C | BH_SMP_BOND_LTK_P;
    if (irk != NULL) {
        memcpy(b.irk, irk, 16);
        b.flags |= BH_SMP_BOND_IRK;
    }
    b.key_size = key_size;
    b.ltk_c = fuzz_stored_ltk;
    memset(b.ltk_c.ltk + key_size, 0, 16 - key_size);
    b.ltk_p = b.ltk_c;
    fuzz_store_preloading = true;
    bool ok = bh_smp_bond_save(&b);
    fuzz_store_preloading = false;
    return ok;
}

// ---- events to the application ----

uint8_t fuzz_pk_action[FUZZ_LINKS];
uint32_t fuzz_pk_shown[FUZZ_LINKS];
bool fuzz_reenter;

// Event handlers run as the MicroPython binding runs them: queued, and
// called once the host has returned (its scheduler), never inside the
// Security Manager's transition; a store upcall makes no API call (the
// binding raises EBUSY there). Each handler may make one API call.
#define HANDLERS_MAX (8)
static uint16_t handlers[HANDLERS_MAX];
static size_t n_handlers;

void fuzz_fakes_reset(void) {
    n_handlers = 0;
    memset(fuzz_have_sent_pk, 0, sizeof(fuzz_have_sent_pk));
}

static void handler_queue(uint16_t handle) {
    if (fuzz_reenter && n_handlers < HANDLERS_MAX) {
        handlers[n_handlers++] = handle;
    }
}

static void handler_calls_api(uint16_t handle) {
    uint8_t b = fuzz_u8();
    switch (b & 7) {
        case 1:
            (void)bh_smp_pair(handle);
            break;
        case 2:
            (void)bh_smp_passkey(handle, (uint8_t)(2 + (b >> 3) % 3), fuzz_u8() * 4099u);
            break;
        case 3:
            (void)bh_smp_pair(fuzz_handle[(b >> 3) & 1]);
            break;
        case 4:
            bh_smp_identity_load();
            break;
        case 5:
            fuzz_active_cycle(false); // active(False); active(True)
            break;
        default:
            break;
    }
}

void fuzz_run_handlers(void) {
    // Events the handlers' calls raise queue behind (at most HANDLERS_MAX
    // in all).
    for (size_t i = 0; i < n_handlers; i++) {
        handler_calls_api(handlers[i]);
    }
    n_handlers = 0;
}

void bh_evt_encryption_update(uint16_t conn_handle, bool encrypted, bool authenticated,
    bool bonded, uint8_t key_size, uint16_t status) {
    FUZZ_CHECK(fuzz_link_of(conn_handle) >= 0);
    const uint8_t ev[6] = { encrypted, authenticated, bonded, key_size, (uint8_t)status, (uint8_t)(status >> 8) };
    fuzz_trace("enc", conn_handle, ev, sizeof(ev));
    if (status != 0) {
        // A failure reports the link as it is (README: a pairing that fails
        // after its encryption leaves the link encrypted, not bonded).
        const bh_conn_t *c = bh_conn_find(conn_handle);
        bool enc_now = c != NULL && c->sec.encrypted;
        FUZZ_CHECK(!bonded && encrypted == enc_now);
        FUZZ_CHECK(encrypted || (!authenticated && key_size == 0));
    } else if (encrypted) {
        // 0: the controller could not tell (bh_sec.c).
        FUZZ_CHECK(fuzz_ctrl_lied || key_size == 0 || (key_size >= 7 && key_size <= 16));
        if (authenticated) {
            // Only an authenticated success ends the waiting (a Just Works
            // one between guesses proves nothing of the passkey).
            fuzz_history_success(fuzz_link_of(conn_handle));
        }
    } else {
        // Finding F1: no bond completed after the link's encryption went off.
        FUZZ_CHECK(!authenticated && !bonded);
        // Issue 15 item 14: status 0 unencrypted only when encryption went
        // off (a controller's event); a peer's Pairing Failed 0x00 is a failure.
        FUZZ_CHECK(fuzz_ctrl_lied);
    }
    handler_queue(conn_handle);
}

void bh_evt_passkey_action(uint16_t conn_handle, uint8_t action, uint32_t passkey) {
    int link = fuzz_link_of(conn_handle);
    FUZZ_CHECK(link >= 0);
    FUZZ_CHECK(action == BH_PASSKEY_INPUT || action == BH_PASSKEY_DISPLAY || action == BH_PASSKEY_NUMCMP);
    FUZZ_CHECK(passkey <= 999999);
    // Issue 15 item 10: no passkey 000000 from a failed random draw.
    FUZZ_CHECK(action != BH_PASSKEY_DISPLAY || passkey != 0);
    const uint8_t ev[4] = { action, (uint8_t)passkey, (uint8_t)(passkey >> 8), (uint8_t)(passkey >> 16) };
    fuzz_trace("pk", conn_handle, ev, sizeof(ev));
    fuzz_pk_action[link] = action;
    fuzz_pk_shown[link] = passkey;
    fuzz_peer_user(link, action, passkey);
    handler_queue(conn_handle);
}
