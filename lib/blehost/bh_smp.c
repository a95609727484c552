// Security Manager: the pairing state machine on L2CAP CID 6 (see bh_smp.h).
//
// One pairing per link at a time, driven by the peer's PDUs, the
// controller's P-256 events, encryption changes and the user's answers
// (bh_smp_passkey); bh_smp_advance() runs whatever step became possible.
// Nothing here waits: controller work goes through the asynchronous command
// queue and the link state remembers what is outstanding.
//
// This file: the random numbers, the link table and its failure and report
// helpers, the received-PDU dispatcher, the encryption events from
// bh_sec.c, the API and the layer hooks. The pairing steps are in
// bh_smp_pair.c, key distribution and the bond in bh_smp_dist.c; what they
// share is in bh_smp_int.h.
//
// Nonces and keys come from a CTR generator (AES-128) seeded from the
// port's cryptographic source, or the controller's LE Rand, in the poll
// hook (where a synchronous command is allowed) and rekeyed after each use.
#include <string.h>

#include "bh_addr.h"
#include "bh_aes.h"
#include "bh_conn.h"
#include "bh_err.h"
#include "bh_hci.h"
#include "bh_port.h"
#include "bh_smp.h"
#include "bh_smp_crypto.h"
#include "bh_smp_int.h"
#include "bh_smp_keys.h"
#include "bh_util.h"

bh_smp_cfg_t bh_smp_cfg = { .io = BH_IO_NO_INPUT_OUTPUT };
bh_smp_state_t bh_smp;

// ---- random numbers ----

static void drbg_block(uint8_t out[16]) {
    for (int i = 15; i >= 0 && ++bh_smp.drbg_ctr[i] == 0; i--) {
    }
    bh_aes128_encrypt(bh_smp.drbg_key, bh_smp.drbg_ctr, out);
}

bool bh_smp_random(uint8_t *buf, size_t len) {
    if (!bh_smp.seeded) {
        uint8_t seed[32];
        if (bh_port_random(seed, sizeof(seed)) != 0) {
            return false;
        }
        memcpy(bh_smp.drbg_key, seed, 16);
        memcpy(bh_smp.drbg_ctr, seed + 16, 16);
        bh_smp_wipe(seed, sizeof(seed));
        bh_smp.seeded = true;
    }
    uint8_t b[16];
    while (len > 0) {
        drbg_block(b);
        size_t n = len < 16 ? len : 16;
        memcpy(buf, b, n);
        buf += n;
        len -= n;
    }
    // Rekey: earlier outputs cannot be recomputed from the state.
    drbg_block(b);
    memcpy(bh_smp.drbg_key, b, 16);
    bh_smp_wipe(b, sizeof(b));
    return true;
}

// Seeding without waiting: the port's source, or four LE Rand commands on
// the asynchronous queue (a synchronous command could wait behind a flood
// of advertising reports).
static void rand_done(void *ctx, int status, const uint8_t *ret, size_t len) {
    uintptr_t i = (uintptr_t)ctx;
    if (status != 0 || len < 8 || bh_smp.seed_gen != (uint8_t)(i >> 8)) {
        bh_smp.seeding = false; // try again from the poll hook
        return;
    }
    memcpy(bh_smp.seed + 8 * (i & 3), ret, 8);
    if (++bh_smp.seed_parts == 4) {
        memcpy(bh_smp.drbg_key, bh_smp.seed, 16);
        memcpy(bh_smp.drbg_ctr, bh_smp.seed + 16, 16);
        memset(bh_smp.seed, 0, sizeof(bh_smp.seed));
        bh_smp.seeded = true;
        bh_smp.seeding = false;
    }
}

static void seed(void) {
    if (bh_smp.seeded || bh_smp.seeding) {
        return;
    }
    if (bh_port_random(bh_smp.seed, sizeof(bh_smp.seed)) == 0) {
        memcpy(bh_smp.drbg_key, bh_smp.seed, 16);
        memcpy(bh_smp.drbg_ctr, bh_smp.seed + 16, 16);
        memset(bh_smp.seed, 0, sizeof(bh_smp.seed));
        bh_smp.seeded = true;
        return;
    }
    bh_smp.seed_gen++;
    bh_smp.seed_parts = 0;
    bh_smp.seeding = true;
    for (uintptr_t i = 0; i < 4; i++) {
        if (bh_hci_cmd_async(BH_HCI_OP_LE_RAND, NULL, 0, rand_done,
            (void *)(((uintptr_t)bh_smp.seed_gen << 8) | i)) != 0) {
            bh_smp.seed_gen++; // answers to this round are dropped
            bh_smp.seeding = false;
            return;
        }
    }
}

// ---- links ----

smp_link_t *bh_smp_link_find(uint16_t handle) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        if (bh_smp.links[i].used && bh_smp.links[i].handle == handle) {
            return &bh_smp.links[i];
        }
    }
    return NULL;
}

// A PDU the transmit queue refuses ends the pairing at the next poll (the
// peer would otherwise wait for it until the 30 s timeout).
void bh_smp_send(smp_link_t *s, const uint8_t *pdu, size_t len) {
    if (bh_l2cap_send(s->handle, BH_L2CAP_CID_SMP, pdu, len) != 0 && s->phase != PH_IDLE
        && s->fail_pending == 0) {
        s->fail_pending = BH_SMP_ERR_UNSPECIFIED;
    }
}

void bh_smp_send16(smp_link_t *s, uint8_t code, const uint8_t v[16]) {
    uint8_t pdu[17];
    pdu[0] = code;
    memcpy(pdu + 1, v, 16);
    bh_smp_send(s, pdu, sizeof(pdu));
}

// A failure reports the link as it is (a pairing that fails after its
// encryption leaves the link encrypted with the new key, unbonded), with
// the status, which the embedding shows as a negative key size.
void bh_smp_report(smp_link_t *s, bool ok, uint16_t status) {
    bh_conn_t *c = bh_conn_find(s->handle);
    if (c == NULL) {
        bh_evt_encryption_update(s->handle, false, false, false, 0, status);
        return;
    }
    if (ok) {
        bh_evt_encryption_update(s->handle, c->sec.encrypted, c->sec.authenticated, c->sec.bonded,
            c->sec.key_size, 0);
    } else {
        bh_evt_encryption_update(s->handle, c->sec.encrypted, c->sec.encrypted && c->sec.authenticated,
            false, c->sec.encrypted ? c->sec.key_size : 0, status);
    }
}

// Forget the pairing (keeps the link's slot and its loaded bond).
void bh_smp_clear(smp_link_t *s) {
    uint16_t handle = s->handle;
    bool dead = s->dead;
    bh_addr_t ia = s->ia, ra = s->ra;
    bool initiator = s->initiator;
    bh_smp_bond_t bond = s->bond;
    bool have_bond = s->have_bond;
    bool skip = s->skip_next_enc;
    bh_smp_wipe(s, sizeof(*s));
    s->skip_next_enc = skip;
    s->used = true;
    s->handle = handle;
    s->dead = dead;
    s->ia = ia;
    s->ra = ra;
    s->initiator = initiator;
    s->bond = bond;
    s->have_bond = have_bond;
    bh_smp_wipe(&bond, sizeof(bond));
}

// ---- repeated attempts (2.3.6) ----

static bool addr_eq(const bh_addr_t *a, const bh_addr_t *b) {
    return a->type == b->type && memcmp(a->val, b->val, 6) == 0;
}

// The entry of the link's peer: by the address it uses or its identity.
static smp_backoff_t *backoff_find(const smp_link_t *s) {
    bh_conn_t *c = bh_conn_find(s->handle);
    if (c == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < BH_SMP_BACKOFF_MAX; i++) {
        smp_backoff_t *e = &bh_smp.backoff[i];
        if (e->used && (addr_eq(&e->addr, &c->peer) || addr_eq(&e->id, &c->id)
                        || addr_eq(&e->addr, &c->id) || addr_eq(&e->id, &c->peer))) {
            return e;
        }
    }
    return NULL;
}

static void backoff_count(const smp_link_t *s) {
    bh_conn_t *c = bh_conn_find(s->handle);
    if (c == NULL) {
        return;
    }
    smp_backoff_t *e = backoff_find(s);
    if (e == NULL) {
        // A free entry, else the one whose last failure is oldest.
        e = &bh_smp.backoff[0];
        for (size_t i = 0; i < BH_SMP_BACKOFF_MAX; i++) {
            smp_backoff_t *x = &bh_smp.backoff[i];
            if (!x->used) {
                e = x;
                break;
            }
            if ((int32_t)(x->failed_ms - e->failed_ms) < 0) {
                e = x;
            }
        }
        memset(e, 0, sizeof(*e));
        e->used = true;
    }
    e->addr = c->peer;
    e->id = c->id;
    if (e->failures < BH_SMP_RETRY_MAX_FAILURES) {
        e->failures++;
    }
    e->failed_ms = bh_port_ticks_ms();
}

// After failed authentications a new attempt with the peer waits
// BH_SMP_RETRY_MS, doubled for each further failure.
bool bh_smp_too_soon(const smp_link_t *s) {
    const smp_backoff_t *e = backoff_find(s);
    return e != NULL && e->failures > 0
           && (uint32_t)(bh_port_ticks_ms() - e->failed_ms) < (BH_SMP_RETRY_MS << (e->failures - 1));
}

void bh_smp_backoff_clear(const smp_link_t *s) {
    smp_backoff_t *e = backoff_find(s);
    if (e != NULL) {
        memset(e, 0, sizeof(*e));
    }
}

// ---- how a pairing ends ----

// A pairing attempt ended (either way): a public key of ours that a peer
// saw is not used again (2.3.6 asks for a new one after a few attempts at
// most; a reflecting peer learns it on a first, aborted attempt). The
// next one is read as soon as no other pairing needs the current one.
void bh_smp_attempt_over(smp_link_t *s) {
    if (s->pk_sent) {
        bh_smp.pk_stale = true;
    }
}

// A pairing that would leave a weaker bond than the one stored for the
// same identity (unauthenticated for authenticated, legacy for Secure
// Connections, a shorter key).
bool bh_smp_weaker_than_bond(uint8_t prior_flags, uint8_t prior_key_size, bool auth, bool sc,
    uint8_t key_size) {
    return ((prior_flags & BH_SMP_BOND_AUTH) && !auth) || ((prior_flags & BH_SMP_BOND_SC) && !sc)
           || key_size < prior_key_size;
}

// End a pairing or an encryption attempt with a failure: tell the peer
// (reason != 0 and send), then the application.
void bh_smp_fail(smp_link_t *s, uint16_t status, bool tell_peer) {
    if (status == BH_SMP_ERR_CONFIRM_VALUE_FAILED || status == BH_SMP_ERR_DHKEY_CHECK_FAILED
        || status == BH_SMP_ERR_NUMERIC_COMPARISON_FAILED || status == BH_SMP_ERR_PASSKEY_ENTRY_FAILED) {
        // An authentication failed: the next attempt must wait (2.3.6).
        backoff_count(s);
    }
    bh_smp_attempt_over(s);
    if (tell_peer && status > 0 && status < 0x100) {
        uint8_t pdu[2] = { BH_SMP_PAIRING_FAILED, (uint8_t)status };
        bh_smp_send(s, pdu, sizeof(pdu));
    }
    if (bh_smp.dh_busy && bh_smp.dh_owner == s->handle && s->dh == P_BUSY) {
        bh_smp.dh_owner = 0xffff; // its result is for nobody now
    }
    bh_smp_clear(s);
    s->ended_by_us = tell_peer;
    bh_smp_report(s, false, status);
    bh_smp_kick_p256();
}

void bh_smp_refuse(smp_link_t *s, uint8_t reason) {
    uint8_t pdu[2] = { BH_SMP_PAIRING_FAILED, reason };
    bh_smp_send(s, pdu, sizeof(pdu));
}

// A bad PDU ends the pairing that runs; with none running it is only
// refused (the application started nothing, so hears of nothing).
void bh_smp_reject(smp_link_t *s, uint8_t reason) {
    if (s->phase != PH_IDLE) {
        bh_smp_fail(s, reason, true);
    } else {
        bh_smp_refuse(s, reason);
    }
}

// ---- received PDUs ----

static size_t pdu_len(uint8_t code) {
    switch (code) {
        case BH_SMP_PAIRING_REQUEST:
        case BH_SMP_PAIRING_RESPONSE:
            return 7;
        case BH_SMP_PAIRING_CONFIRM:
        case BH_SMP_PAIRING_RANDOM:
        case BH_SMP_ENCRYPTION_INFO:
        case BH_SMP_IDENTITY_INFO:
        case BH_SMP_SIGNING_INFO:
        case BH_SMP_DHKEY_CHECK:
            return 17;
        case BH_SMP_CENTRAL_IDENT:
            return 11;
        case BH_SMP_IDENTITY_ADDR_INFO:
            return 8;
        case BH_SMP_PUBLIC_KEY:
            return 65;
        default: // Pairing Failed, Security Request, Keypress
            return 2;
    }
}

static void start_security_central(smp_link_t *s, uint8_t peer_auth);
static void encryption_changed(smp_link_t *s, bh_conn_t *c, uint8_t status);

static bool smp_rx(uint16_t handle, uint16_t cid, const uint8_t *data, size_t len) {
    (void)cid;
    bh_conn_t *c = bh_conn_find(handle);
    smp_link_t *s = bh_smp_link_find(handle);
    if (len == 0 || c == NULL || s == NULL || s->dead) {
        return true;
    }
    uint8_t code = data[0];
    if (code == 0 || code > BH_SMP_KEYPRESS) {
        uint8_t pdu[2] = { BH_SMP_PAIRING_FAILED, BH_SMP_ERR_CMD_NOT_SUPPORTED };
        bh_smp_send(s, pdu, sizeof(pdu));
        return true;
    }
    if (len != pdu_len(code)) {
        bh_smp_reject(s, BH_SMP_ERR_INVALID_PARAMS);
        return true;
    }
    if (code == BH_SMP_PAIRING_FAILED) {
        if (s->phase != PH_IDLE) {
            // Reason 0 is reserved: still a failure, never "status 0".
            bh_smp_fail(s, data[1] != 0 ? data[1] : BH_SMP_ERR_UNSPECIFIED, false);
        }
        return true;
    }
    if (code == BH_SMP_KEYPRESS) {
        return true; // progress shown on the peer: nothing to do
    }
    if (code == BH_SMP_PAIRING_REQUEST && c->role == BH_ROLE_PERIPHERAL
        && (s->phase == PH_IDLE || s->phase == PH_FEATURES)) {
        bh_smp_on_pairing_request(s, data, len);
        return true;
    }
    if (code == BH_SMP_SECURITY_REQUEST && c->role == BH_ROLE_CENTRAL) {
        if (bh_smp_too_soon(s)) {
            bh_smp_refuse(s, BH_SMP_ERR_REPEATED_ATTEMPTS);
        } else if (s->phase == PH_IDLE && s->enc == ENC_NONE) {
            start_security_central(s, data[1]);
        }
        return true;
    }
    if (s->phase == PH_ENCRYPT && c->sec.encrypted && code >= BH_SMP_ENCRYPTION_INFO
        && code <= BH_SMP_SIGNING_INFO) {
        // The peer's keys came before our report of the encryption (the
        // key size is still being read): the link is encrypted, go on.
        bool reported = s->enc_changed; // else bh_sec's report is still to come
        s->enc_changed = false;
        encryption_changed(s, c, 0);
        s->skip_next_enc = !reported;
    }
    if (s->phase != PH_IDLE && (s->enc_lost || (s->phase == PH_KEYS && !c->sec.encrypted))) {
        // Keys only over the encryption this pairing set up: sent in the
        // clear they would be anybody's.
        bh_smp_fail(s, BH_SMP_ERR_UNSPECIFIED, true);
        return true;
    }
    if (s->phase == PH_IDLE || code != s->expect) {
        // Out of order: the pairing (if any) cannot go on.
        if (s->phase != PH_IDLE) {
            bh_smp_fail(s, BH_SMP_ERR_UNSPECIFIED, true);
        } else if (!s->ended_by_us) {
            // (After our Pairing Failed, the peer's PDUs that crossed it
            // get no answer: one would fail the peer's next attempt.)
            bh_smp_refuse(s, BH_SMP_ERR_UNSPECIFIED);
        }
        return true;
    }
    s->started_ms = bh_port_ticks_ms();
    switch (code) {
        case BH_SMP_PAIRING_RESPONSE:
            bh_smp_on_pairing_response(s, data, len);
            break;
        case BH_SMP_PAIRING_CONFIRM:
            if (s->sent && bh_smp_equal(data + 1, s->our_confirm, 16)) {
                // Our own Confirm sent back: a peer that does not know
                // the passkey, about to reflect our nonce too.
                bh_smp_fail(s, BH_SMP_ERR_CONFIRM_VALUE_FAILED, true);
                break;
            }
            memcpy(s->peer_confirm, data + 1, 16);
            s->have_confirm = true;
            if (s->initiator) {
                // Answer with our nonce: the one our Confirm was made of,
                // or (SC Just Works / Numeric Comparison, where only the
                // responder commits) a fresh one.
                if (s->phase == PH_AUTH1 && !is_passkey(s) && !bh_smp_random(s->nl, 16)) {
                    bh_smp_fail(s, BH_SMP_ERR_UNSPECIFIED, true);
                    break;
                }
                bh_smp_send16(s, BH_SMP_PAIRING_RANDOM, s->nl);
                s->expect = BH_SMP_PAIRING_RANDOM;
            } else {
                s->expect = 0;
                bh_smp_advance(s);
            }
            break;
        case BH_SMP_PAIRING_RANDOM:
            bh_smp_on_random(s, data + 1);
            break;
        case BH_SMP_PUBLIC_KEY:
            // Checked here whatever the controller does (CVE-2018-5383).
            if (!bh_p256_on_curve(data + 1)) {
                bh_smp_fail(s, BH_SMP_ERR_DHKEY_CHECK_FAILED, true);
                break;
            }
            if (bh_p256_is_debug_key(data + 1) && !bh_smp_cfg.debug_keys) {
                bh_smp_fail(s, BH_SMP_ERR_AUTH_REQUIREMENTS, true);
                break;
            }
            memcpy(s->ppk, data + 1, 64);
            s->have_peer_pk = true;
            s->expect = 0;
            bh_smp_advance(s);
            break;
        case BH_SMP_DHKEY_CHECK:
            memcpy(s->peer_check, data + 1, 16);
            s->have_check = true;
            s->expect = 0;
            bh_smp_advance(s);
            break;
        default:
            bh_smp_on_key_pdu(s, data, len);
            break;
    }
    return true;
}

// ---- encryption events (from bh_sec.c) ----

// As central: encrypt with the bond, or pair. peer_auth: the AuthReq of the
// peripheral's Security Request (0 when we start); a bond without the MITM
// protection or Secure Connections it asks for is not enough, so we pair
// again instead (Vol 3 Part H 2.4.6).
static void start_security_central(smp_link_t *s, uint8_t peer_auth) {
    bh_conn_t *c = bh_conn_find(s->handle);
    if (c == NULL) {
        return;
    }
    bh_smp_bond_t b;
    if (bh_smp_cfg.bond && bh_smp_bond_find(&c->id, &b) && (b.flags & BH_SMP_BOND_LTK_C)
        && !((peer_auth & AUTH_MITM) && !(b.flags & BH_SMP_BOND_AUTH))
        && !((peer_auth & AUTH_SC) && !(b.flags & BH_SMP_BOND_SC))) {
        bh_smp_clear(s);
        s->bond = b;
        s->have_bond = true;
        s->enc = ENC_BOND;
        bh_smp_start_encryption(s, b.ltk_c.rand, b.ltk_c.ediv, b.ltk_c.ltk);
        bh_smp_wipe(&b, sizeof(b));
        return;
    }
    bh_smp_wipe(&b, sizeof(b));
    bh_smp_start_pairing(s);
}

// Recorded here, acted on from the poll hook: the report may come from a
// command completion (the key size read after Encryption Change v1), where
// the store's upcalls are not allowed.
void bh_smp_encryption_changed(bh_conn_t *c, uint8_t status) {
    smp_link_t *s = bh_smp_link_find(c->handle);
    if (s != NULL) {
        s->enc_changed = true;
        s->enc_status = status;
        if (status == 0 && !c->sec.encrypted && s->phase != PH_IDLE) {
            // Noted at once: key PDUs may come before the poll hook runs.
            s->enc_lost = true;
        }
    }
}

static void encryption_changed(smp_link_t *s, bh_conn_t *c, uint8_t status) {
    if (s->phase != PH_IDLE && (s->enc_lost || (s->phase == PH_KEYS && !c->sec.encrypted))) {
        // Encryption went off under a pairing: no keys can follow, and a
        // pairing dropped without a word would leave the peer waiting.
        bh_smp_fail(s, BH_SMP_ERR_UNSPECIFIED, true);
        return;
    }
    if (status == 0 && s->skip_next_enc) {
        s->skip_next_enc = false;
        return;
    }
    if (status != 0) {
        if (s->enc == ENC_BOND && s->initiator && status == 0x06) {
            // PIN or Key Missing: the peer lost our bond; pair afresh.
            s->enc = ENC_NONE;
            s->have_bond = false;
            bh_smp_start_pairing(s);
            return;
        }
        if (s->enc != ENC_NONE || s->phase != PH_IDLE) {
            bh_smp_fail(s, BH_SEC_FAIL_HCI | status, false);
        }
        return;
    }
    if (!c->sec.encrypted) {
        bh_smp_clear(s);
        bh_smp_report(s, true, 0);
        return;
    }
    if (s->phase == PH_ENCRYPT) {
        c->sec.key_size = s->key_size;
        c->sec.authenticated = s->method != M_JW;
        c->sec.bonded = false;
        s->phase = PH_KEYS;
        s->enc = ENC_NONE;
        s->started_ms = bh_port_ticks_ms();
        // The responder distributes first (3.6.1).
        if (!s->initiator && !bh_smp_send_keys(s)) {
            bh_smp_fail(s, BH_SMP_ERR_UNSPECIFIED, true);
            return;
        }
        bh_smp_after_keys(s);
        return;
    }
    if (s->enc == ENC_BOND || s->have_bond) {
        c->sec.key_size = s->bond.key_size;
        c->sec.authenticated = (s->bond.flags & BH_SMP_BOND_AUTH) != 0;
        c->sec.bonded = true;
        c->sec.bond_id = s->bond.id;
        bh_smp_cccd_restore(c->handle, &s->bond.id);
    }
    s->enc = ENC_NONE;
    bh_smp_report(s, true, 0);
}

bool bh_smp_ltk_request(bh_conn_t *c, const uint8_t rand[8], uint16_t ediv) {
    smp_link_t *s = bh_smp_link_find(c->handle);
    if (s == NULL || s->dead) {
        return false;
    }
    const uint8_t *key = NULL;
    static const uint8_t zero_rand[8];
    if (s->phase == PH_ENCRYPT && !s->initiator) {
        // The pairing's key goes with EDIV and Rand zero (Vol 3 Part H
        // 2.4.4.1); any other request is not for it.
        if (ediv == 0 && memcmp(rand, zero_rand, 8) == 0) {
            key = s->ltk;
        }
    } else if (s->phase == PH_IDLE) {
        bh_smp_bond_t b;
        if (bh_smp_bond_find(&c->id, &b) && (b.flags & BH_SMP_BOND_LTK_P)
            && b.ltk_p.ediv == ediv && memcmp(b.ltk_p.rand, rand, 8) == 0) {
            s->bond = b;
            s->have_bond = true;
            s->enc = ENC_BOND;
            key = s->bond.ltk_p.ltk;
        }
        bh_smp_wipe(&b, sizeof(b));
    }
    if (key == NULL) {
        return false;
    }
    uint8_t p[18];
    bh_put_u16(p, c->handle);
    memcpy(p + 2, key, 16);
    int err = bh_hci_cmd_async(BH_HCI_OP_LE_LTK_REPLY, p, sizeof(p), NULL, NULL);
    bh_smp_wipe(p, sizeof(p));
    return err == 0;
}

// ---- API ----

bool bh_smp_peer_irk(const bh_addr_t *id, uint8_t irk[16]) {
    bh_smp_bond_t b;
    if (!bh_smp_cfg.bond || bh_addr_is_rpa(id) || !bh_smp_bond_find(id, &b) || !(b.flags & BH_SMP_BOND_IRK)) {
        return false;
    }
    memcpy(irk, b.irk, 16);
    bh_smp_wipe(&b, sizeof(b));
    return true;
}

bool bh_smp_peer_identity(const bh_addr_t *rpa, bh_addr_t *id) {
    bh_smp_bond_t b;
    if (!bh_smp_cfg.bond || !bh_addr_is_rpa(rpa) || !bh_smp_bond_find(rpa, &b)) {
        return false;
    }
    *id = b.id;
    bh_smp_wipe(&b, sizeof(b));
    return true;
}

void bh_smp_identity_load(void) {
    if (bh_is_active() && !bh_smp.id_stored) {
        bh_smp.id_stored = bh_smp_local_id_load();
    }
}

// Pairing looks at the store only when bonding is on.
void bh_smp_identity_for_pairing(void) {
    if (bh_smp_cfg.bond) {
        bh_smp_identity_load();
    }
}

void bh_smp_set_config(uint8_t io, bool mitm, bool sc_only, bool bond) {
    bh_smp_cfg.io = io <= BH_IO_KEYBOARD_DISPLAY ? io : BH_IO_NO_INPUT_OUTPUT;
    bh_smp_cfg.mitm = mitm;
    bh_smp_cfg.sc_only = sc_only;
    bh_smp_cfg.bond = bond;
}

void bh_smp_set_controller_sc(bool supported) {
    bh_smp_cfg.no_controller_sc = !supported;
}

void bh_smp_set_debug_keys(bool allow) {
    bh_smp_cfg.debug_keys = allow;
}

int bh_smp_pair(uint16_t conn_handle) {
    bh_conn_t *c = bh_conn_find(conn_handle);
    smp_link_t *s = bh_smp_link_find(conn_handle);
    if (c == NULL || s == NULL) {
        return -BH_ENOTCONN;
    }
    if (s->phase != PH_IDLE || s->enc != ENC_NONE) {
        return -BH_EALREADY;
    }
    if (s->dead) {
        return -BH_ETIMEDOUT;
    }
    if (bh_smp_too_soon(s)) {
        return -BH_EAGAIN;
    }
    if (bh_smp_cfg.sc_only && bh_smp_cfg.no_controller_sc) {
        return -BH_EOPNOTSUPP; // Secure Connections Only, and no way to do them
    }
    bh_smp_identity_for_pairing();
    if (c->role == BH_ROLE_CENTRAL) {
        start_security_central(s, 0);
        return 0;
    }
    uint8_t pdu[2] = { BH_SMP_SECURITY_REQUEST, local_authreq() };
    return bh_l2cap_send(conn_handle, BH_L2CAP_CID_SMP, pdu, sizeof(pdu));
}

int bh_smp_passkey(uint16_t conn_handle, uint8_t action, uint32_t passkey) {
    smp_link_t *s = bh_smp_link_find(conn_handle);
    if (s == NULL || bh_conn_find(conn_handle) == NULL) {
        return -BH_ENOTCONN;
    }
    if (s->user == 0 || s->user != action) {
        return -BH_EPERM;
    }
    if (action == BH_PASSKEY_NUMCMP) {
        s->user = 0;
        if (!passkey) {
            bh_smp_fail(s, BH_SMP_ERR_NUMERIC_COMPARISON_FAILED, true);
            return 0;
        }
    } else {
        if (passkey > 999999) {
            return -BH_EINVAL;
        }
        s->user = 0;
        s->passkey = passkey;
    }
    s->user_done = true;
    bh_smp_advance(s);
    return 0;
}

// ---- the layer ----

static void smp_reset(void) {
    bh_smp_wipe(&bh_smp, sizeof(bh_smp));
    bh_smp.dh_owner = 0xffff;
    (void)bh_l2cap_set_rx_handler(BH_L2CAP_CID_SMP, smp_rx);
}

static void smp_connected(bh_conn_t *c) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        smp_link_t *s = &bh_smp.links[i];
        if (!s->used) {
            memset(s, 0, sizeof(*s));
            s->used = true;
            s->handle = c->handle;
            s->initiator = c->role == BH_ROLE_CENTRAL;
            bh_addr_t own;
            if (bh_get_addr(&own) != 0) {
                memset(&own, 0, sizeof(own));
            }
            s->ia = s->initiator ? own : c->peer;
            s->ra = s->initiator ? c->peer : own;
            return;
        }
    }
}

static void smp_disconnected(bh_conn_t *c) {
    smp_link_t *s = bh_smp_link_find(c->handle);
    if (s == NULL) {
        return;
    }
    if (bh_smp.dh_busy && bh_smp.dh_owner == s->handle) {
        bh_smp.dh_owner = 0xffff;
    }
    if (s->phase != PH_IDLE || s->enc != ENC_NONE) {
        bh_smp_report(s, false, BH_SEC_FAIL_DISCONNECTED);
    }
    bh_smp_attempt_over(s);
    bh_smp_wipe(s, sizeof(*s));
    bh_smp_kick_p256();
}

static void smp_poll(uint32_t now_ms) {
    seed();
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        smp_link_t *s = &bh_smp.links[i];
        if (!s->used) {
            continue;
        }
        if (s->enc_changed) {
            s->enc_changed = false;
            bh_conn_t *c = bh_conn_find(s->handle);
            if (c != NULL) {
                encryption_changed(s, c, s->enc_status);
            }
            if (!s->used) {
                continue;
            }
        }
        if (s->fail_pending) {
            uint16_t st = s->fail_pending;
            s->fail_pending = 0;
            bh_smp_fail(s, st, st < 0x100);
            continue;
        }
        if (s->phase != PH_IDLE && bh_elapsed_ms(now_ms, s->started_ms) >= BH_SMP_TIMEOUT_MS) {
            // SMP timeout: no further SMP on this link (3.4).
            bh_smp_fail(s, BH_SEC_FAIL_TIMEOUT, false);
            s->dead = true;
        }
    }
    bh_smp_kick_p256();
}

const bh_layer_t bh_smp_layer = {
    .reset = smp_reset,
    .connected = smp_connected,
    .disconnected = smp_disconnected,
    .poll = smp_poll,
};
