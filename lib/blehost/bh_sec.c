// Link security state over HCI. See bh_sec.h.
#include <string.h>

#include "blehost.h"
#include "bh_conn.h"
#include "bh_hci.h"
#include "bh_sec.h"
#include "bh_smp.h"
#include "bh_util.h"

static bh_sec_stats_t stats;

void bh_sec_reset(void) {
    memset(&stats, 0, sizeof(stats));
}

const bh_layer_t bh_sec_layer = {
    .reset = bh_sec_reset,
};

void bh_sec_get_stats(bh_sec_stats_t *out) {
    *out = stats;
}

// The Security Manager decides what the change means (pairing going on to
// key distribution, a bonded key's properties) and when the application
// hears of it; then the other layers see the new state.
static void report(bh_conn_t *c) {
    bh_smp_encryption_changed(c, 0);
    bh_conn_security_changed(c);
}

static void key_size_read(void *ctx, int status, const uint8_t *ret, size_t len) {
    uint16_t handle = (uint16_t)(uintptr_t)ctx;
    if (status == BH_HCI_SUCCESS && len >= 3 && (bh_get_u16(ret) & 0x0fff) != handle) {
        return; // an answer about another link: not ours
    }
    bh_conn_t *c = bh_conn_find(handle);
    if (c == NULL || !c->sec.encrypted) {
        return;
    }
    // Return parameters: handle (2), key size (1). Unknown stays 0.
    c->sec.key_size = status == BH_HCI_SUCCESS && len >= 3 ? ret[2] : 0;
    report(c);
}

static void encryption_on(bh_conn_t *c, int key_size) {
    c->sec.encrypted = true;
    if (key_size >= 0) {
        c->sec.key_size = (uint8_t)key_size;
        report(c);
        return;
    }
    // v1 carries no key size: ask, and report once it is known.
    uint8_t p[2];
    bh_put_u16(p, c->handle);
    if (bh_hci_cmd_async(BH_HCI_OP_READ_ENC_KEY_SIZE, p, sizeof(p), key_size_read,
        (void *)(uintptr_t)c->handle) != 0) {
        c->sec.key_size = 0;
        report(c);
    }
}

// The link of an event that starts with status and handle, if the attempt
// succeeded; a failure is counted and handed to the Security Manager (the
// link keeps the state it had).
static bh_conn_t *succeeded_on(const uint8_t *p) {
    bh_conn_t *c = bh_conn_find(bh_get_u16(p + 1) & 0x0fff);
    if (c != NULL && p[0] != BH_HCI_SUCCESS) {
        stats.enc_failed++;
        bh_smp_encryption_changed(c, p[0]);
        return NULL;
    }
    return c;
}

static void encryption_change(const uint8_t *p, int key_size) {
    bh_conn_t *c = succeeded_on(p);
    if (c == NULL) {
        return;
    }
    if (p[3]) {
        encryption_on(c, key_size);
    } else if (c->sec.encrypted) {
        memset(&c->sec, 0, sizeof(c->sec));
        report(c);
    }
}

void bh_sec_on_encryption_change(const uint8_t *p, size_t len) {
    (void)len;
    encryption_change(p, -1);
}

void bh_sec_on_encryption_change_v2(const uint8_t *p, size_t len) {
    (void)len;
    encryption_change(p, p[4]);
}

void bh_sec_on_key_refresh(const uint8_t *p, size_t len) {
    (void)len;
    bh_conn_t *c = succeeded_on(p);
    if (c == NULL) {
        return;
    }
    // Re-encrypted with a (possibly new) key: report it as a new state.
    encryption_on(c, -1);
}

void bh_sec_on_ltk_request(const uint8_t *p, size_t len) {
    (void)len;
    uint16_t handle = bh_get_u16(p) & 0x0fff;
    bh_conn_t *c = bh_conn_find(handle);
    if (c == NULL) {
        return;
    }
    // Rand (8), EDIV (2): the Security Manager answers with the key of the
    // pairing going on or of the peer's bond.
    if (bh_smp_ltk_request(c, p + 2, bh_get_u16(p + 10))) {
        return;
    }
    // No key: refuse, so the central's encryption fails at once with PIN or
    // Key Missing and the link stays up.
    uint8_t reply[2];
    bh_put_u16(reply, handle);
    if (bh_hci_cmd_async(BH_HCI_OP_LE_LTK_NEG_REPLY, reply, sizeof(reply), NULL, NULL) == 0) {
        stats.ltk_refused++;
    }
}
