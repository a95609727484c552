// Security Manager, the pairing itself: the feature exchange and the
// choice of method, key size and keys to distribute; the legacy and LE
// Secure Connections confirm, random and check steps; the controller's
// P-256 commands (the local key pair is the controller's, read once per
// activation; one DHKey is computed at a time, the controller allows no
// more); and bh_smp_advance(), which runs the steps that wait for
// something other than a PDU. Ends by starting the encryption with the
// STK or LTK (bh_smp.c takes the encryption change from there).
#include <string.h>

#include "bh_conn.h"
#include "bh_hci.h"
#include "bh_port.h"
#include "bh_smp.h"
#include "bh_smp_crypto.h"
#include "bh_smp_int.h"
#include "bh_smp_keys.h"
#include "bh_util.h"

#define OP_LE_READ_P256 BH_HCI_OP(0x08, 0x0025)
#define OP_LE_GEN_DHKEY BH_HCI_OP(0x08, 0x0026)

#define KEY_SIZE_MAX (16)
#define KEY_SIZE_MIN (7)

// Core Vol 3 Part H Table 2.8, [initiator io][responder io]; M_NC becomes
// the entry of `legacy` below for legacy pairing.
static const uint8_t method_table[5][5] = {
    { M_JW, M_JW, M_PK_I_DISP, M_JW, M_PK_I_DISP },
    { M_JW, M_NC, M_PK_I_DISP, M_JW, M_NC },
    { M_PK_R_DISP, M_PK_R_DISP, M_PK_BOTH_INPUT, M_JW, M_PK_R_DISP },
    { M_JW, M_JW, M_JW, M_JW, M_JW },
    { M_PK_R_DISP, M_NC, M_PK_I_DISP, M_JW, M_NC },
};
// Legacy pairing where the table says Numeric Comparison: [initiator io]
// (responder DisplayYesNo or KeyboardDisplay).
static uint8_t legacy_for_nc(uint8_t io_i, uint8_t io_r) {
    if (io_i == BH_IO_DISPLAY_YESNO && io_r == BH_IO_DISPLAY_YESNO) {
        return M_JW;
    }
    if (io_i == BH_IO_KEYBOARD_DISPLAY && io_r == BH_IO_DISPLAY_YESNO) {
        return M_PK_R_DISP;
    }
    return M_PK_I_DISP;
}

// ---- pairing features ----

static uint8_t local_dist(void) {
    return bh_smp_cfg.bond ? (DIST_ENC | DIST_ID) : 0;
}

static void ask_user(smp_link_t *s, uint8_t action, uint32_t passkey) {
    s->user = action;
    s->user_done = false;
    bh_evt_passkey_action(s->handle, action, passkey);
}

// A passkey to show; false when no random numbers could be had (never a
// predictable 000000).
static bool random_passkey(uint32_t *passkey) {
    uint8_t r[4];
    if (!bh_smp_random(r, sizeof(r))) {
        return false;
    }
    *passkey = (uint32_t)(r[0] | (r[1] << 8) | (r[2] << 16) | ((uint32_t)r[3] << 24)) % 1000000u;
    bh_smp_wipe(r, sizeof(r));
    return true;
}

// What the store holds for the link's peer when a pairing starts, so the
// features can be refused before anything else if the result would be a
// weaker bond (the application deletes the bond to allow it).
static void load_prior_bond(smp_link_t *s) {
    s->have_prior = false;
    bh_conn_t *c = bh_conn_find(s->handle);
    bh_smp_bond_t b;
    if (c != NULL && bh_smp_cfg.bond && bh_smp_bond_find(&c->id, &b)) {
        s->have_prior = true;
        s->prior_flags = b.flags;
        s->prior_key_size = b.key_size;
    }
    bh_smp_wipe(&b, sizeof(b));
}

// Both feature PDUs known: pick the method, key size and key distribution,
// and ask the user what this method needs first. Returns a failure reason
// or 0.
static uint8_t negotiate(smp_link_t *s) {
    const uint8_t *rq = s->preq, *rs = s->pres;
    s->sc = (rq[3] & AUTH_SC) && (rs[3] & AUTH_SC);
    if (bh_smp_cfg.sc_only && !s->sc) {
        return BH_SMP_ERR_AUTH_REQUIREMENTS;
    }
    uint8_t size = rq[4] < rs[4] ? rq[4] : rs[4];
    if (size < KEY_SIZE_MIN) {
        return BH_SMP_ERR_ENC_KEY_SIZE;
    }
    s->key_size = size;
    s->bonding = (rq[3] & AUTH_BOND) && (rs[3] & AUTH_BOND);
    uint8_t idist = rs[5], rdist = rs[6];
    if (s->sc) {
        idist &= ~DIST_ENC;
        rdist &= ~DIST_ENC;
    }
    s->local_dist = s->initiator ? idist : rdist;
    s->peer_dist = s->initiator ? rdist : idist;
    s->method = M_JW;
    if ((rq[3] | rs[3]) & AUTH_MITM) {
        uint8_t io_i = rq[1], io_r = rs[1];
        s->method = method_table[io_i][io_r];
        if (s->method == M_NC && !s->sc) {
            s->method = legacy_for_nc(io_i, io_r);
        }
    }
    if (s->have_prior && bh_smp_weaker_than_bond(s->prior_flags, s->prior_key_size, s->method != M_JW,
        s->sc, s->key_size)) {
        return BH_SMP_ERR_AUTH_REQUIREMENTS;
    }
    s->user_done = true;
    bool display = s->method == (s->initiator ? M_PK_I_DISP : M_PK_R_DISP);
    bool input = s->method == M_PK_BOTH_INPUT || s->method == (s->initiator ? M_PK_R_DISP : M_PK_I_DISP);
    if (display) {
        uint32_t passkey;
        if (!random_passkey(&passkey)) {
            return BH_SMP_ERR_UNSPECIFIED;
        }
        ask_user(s, BH_PASSKEY_DISPLAY, passkey);
    } else if (input) {
        ask_user(s, BH_PASSKEY_INPUT, 0);
    }
    s->phase = s->sc ? PH_PUBKEY : PH_LEGACY;
    s->expect = s->sc ? (s->initiator ? 0 : BH_SMP_PUBLIC_KEY) : (s->initiator ? 0 : BH_SMP_PAIRING_CONFIRM);
    if (s->sc) {
        if (bh_smp.pk_state == P_NONE) {
            bh_smp.pk_state = P_WANTED;
        }
        bh_smp_kick_p256();
    }
    return 0;
}

static bool valid_features(const uint8_t *p, size_t len) {
    return len == 7 && p[1] <= BH_IO_KEYBOARD_DISPLAY && p[4] <= KEY_SIZE_MAX;
}

// A pairing starts with no keys: what it stores describes it alone.
static void start_afresh(smp_link_t *s) {
    bh_smp_clear(s);
    bh_smp_wipe(&s->bond, sizeof(s->bond));
    s->have_bond = false;
    load_prior_bond(s);
}

void bh_smp_start_pairing(smp_link_t *s) {
    bh_smp_identity_for_pairing();
    start_afresh(s);
    s->initiator = true;
    s->started_ms = bh_port_ticks_ms();
    s->preq[0] = BH_SMP_PAIRING_REQUEST;
    s->preq[1] = bh_smp_cfg.io;
    s->preq[2] = 0; // no OOB data
    s->preq[3] = local_authreq();
    s->preq[4] = KEY_SIZE_MAX;
    s->preq[5] = local_dist();
    s->preq[6] = local_dist();
    s->phase = PH_FEATURES;
    s->expect = BH_SMP_PAIRING_RESPONSE;
    bh_smp_send(s, s->preq, sizeof(s->preq));
}

void bh_smp_on_pairing_request(smp_link_t *s, const uint8_t *p, size_t len) {
    if (bh_smp_too_soon(s)) {
        bh_smp_refuse(s, BH_SMP_ERR_REPEATED_ATTEMPTS);
        return;
    }
    if (!valid_features(p, len)) {
        // A pairing attempt that failed: reported, as any other refusal.
        bh_smp_fail(s, BH_SMP_ERR_INVALID_PARAMS, true);
        return;
    }
    bh_smp_identity_for_pairing();
    start_afresh(s);
    s->initiator = false;
    s->started_ms = bh_port_ticks_ms();
    memcpy(s->preq, p, 7);
    uint8_t ours = local_dist();
    s->pres[0] = BH_SMP_PAIRING_RESPONSE;
    s->pres[1] = bh_smp_cfg.io;
    s->pres[2] = 0;
    s->pres[3] = local_authreq();
    s->pres[4] = KEY_SIZE_MAX;
    // Keys only when both sides bond.
    bool bond = bh_smp_cfg.bond && (p[3] & AUTH_BOND);
    s->pres[5] = bond ? p[5] & ours : 0;
    s->pres[6] = bond ? p[6] & ours : 0;
    uint8_t err = negotiate(s);
    if (err != 0) {
        bh_smp_fail(s, err, true);
        return;
    }
    bh_smp_send(s, s->pres, sizeof(s->pres));
    bh_smp_advance(s);
}

void bh_smp_on_pairing_response(smp_link_t *s, const uint8_t *p, size_t len) {
    // The responder may only narrow the distribution we asked for.
    if (!valid_features(p, len) || (p[5] & ~s->preq[5]) || (p[6] & ~s->preq[6])) {
        bh_smp_fail(s, BH_SMP_ERR_INVALID_PARAMS, true);
        return;
    }
    memcpy(s->pres, p, 7);
    uint8_t err = negotiate(s);
    if (err != 0) {
        bh_smp_fail(s, err, true);
        return;
    }
    bh_smp_advance(s);
}

// ---- encryption ----

static void enc_started(void *ctx, int status, const uint8_t *ret, size_t len) {
    (void)ret;
    (void)len;
    smp_link_t *s = bh_smp_link_find((uint16_t)(uintptr_t)ctx);
    if (s != NULL && status != 0) {
        s->fail_pending = status > 0 ? BH_SEC_FAIL_HCI | (uint16_t)status : BH_SMP_ERR_UNSPECIFIED;
    }
}

void bh_smp_start_encryption(smp_link_t *s, const uint8_t rand[8], uint16_t ediv, const uint8_t ltk[16]) {
    uint8_t p[28];
    bh_put_u16(p, s->handle);
    memcpy(p + 2, rand, 8);
    bh_put_u16(p + 10, ediv);
    memcpy(p + 12, ltk, 16);
    if (bh_hci_cmd_async(BH_HCI_OP_LE_ENABLE_ENCRYPTION, p, sizeof(p), enc_started,
        (void *)(uintptr_t)s->handle) != 0) {
        s->fail_pending = BH_SMP_ERR_UNSPECIFIED;
    }
    bh_smp_wipe(p, sizeof(p));
}

static void to_encrypt(smp_link_t *s) {
    mask_key(s->ltk, s->key_size);
    s->phase = PH_ENCRYPT;
    s->expect = 0;
    s->enc = ENC_PAIRING;
    if (s->initiator) {
        static const uint8_t zero[8];
        bh_smp_start_encryption(s, zero, 0, s->ltk);
    }
}

// ---- legacy pairing ----

static void legacy_confirm(smp_link_t *s, const uint8_t r[16], uint8_t out[16]) {
    bh_smp_c1(s->tk, r, s->preq, s->pres, &s->ia, &s->ra, out);
}

static void legacy_random(smp_link_t *s, const uint8_t *p) {
    memcpy(s->np, p, 16);
    uint8_t check[16];
    legacy_confirm(s, s->np, check);
    bool ok = bh_smp_equal(check, s->peer_confirm, 16);
    bh_smp_wipe(check, sizeof(check));
    if (!ok) {
        bh_smp_fail(s, BH_SMP_ERR_CONFIRM_VALUE_FAILED, true);
        return;
    }
    if (!s->initiator) {
        bh_smp_send16(s, BH_SMP_PAIRING_RANDOM, s->nl);
    }
    // STK = s1(TK, Srand, Mrand).
    if (s->initiator) {
        bh_smp_s1(s->tk, s->np, s->nl, s->ltk);
    } else {
        bh_smp_s1(s->tk, s->nl, s->np, s->ltk);
    }
    to_encrypt(s);
}

// ---- LE Secure Connections ----

static const uint8_t *pkx_i(smp_link_t *s) {
    return s->initiator ? bh_smp.pk : s->ppk;
}

static const uint8_t *pkx_r(smp_link_t *s) {
    return s->initiator ? s->ppk : bh_smp.pk;
}

static uint8_t passkey_z(smp_link_t *s) {
    return (uint8_t)(0x80 | ((s->passkey >> s->round) & 1));
}

static void sc_confirm_local(smp_link_t *s, uint8_t out[16]) {
    uint8_t z = s->method == M_JW || s->method == M_NC ? 0 : passkey_z(s);
    bh_smp_f4(bh_smp.pk, s->ppk, s->nl, z, out);
}

static bool sc_check_peer_confirm(smp_link_t *s) {
    uint8_t z = s->method == M_JW || s->method == M_NC ? 0 : passkey_z(s);
    uint8_t c[16];
    bh_smp_f4(s->ppk, bh_smp.pk, s->np, z, c);
    bool ok = bh_smp_equal(c, s->peer_confirm, 16);
    bh_smp_wipe(c, sizeof(c));
    return ok;
}

// Nonces exchanged (or the 20 passkey rounds done): on to the checks.
static void to_auth2(smp_link_t *s) {
    s->phase = PH_AUTH2;
    s->sent = false;
    s->expect = s->initiator ? 0 : BH_SMP_DHKEY_CHECK;
    if (s->method == M_NC) {
        const uint8_t *na = s->initiator ? s->nl : s->np;
        const uint8_t *nb = s->initiator ? s->np : s->nl;
        ask_user(s, BH_PASSKEY_NUMCMP, bh_smp_g2(pkx_i(s), pkx_r(s), na, nb) % 1000000u);
    }
}

static void sc_random(smp_link_t *s, const uint8_t *p) {
    memcpy(s->np, p, 16);
    bool check = s->initiator || is_passkey(s);
    if (check && !sc_check_peer_confirm(s)) {
        bh_smp_fail(s, BH_SMP_ERR_CONFIRM_VALUE_FAILED, true);
        return;
    }
    if (!s->initiator) {
        bh_smp_send16(s, BH_SMP_PAIRING_RANDOM, s->nl);
    }
    if (is_passkey(s) && ++s->round < 20) {
        s->sent = false;
        s->have_confirm = false;
        s->expect = s->initiator ? 0 : BH_SMP_PAIRING_CONFIRM;
        bh_smp_advance(s);
        return;
    }
    to_auth2(s);
    bh_smp_advance(s);
}

static void sc_checks(smp_link_t *s, uint8_t ea[16], uint8_t eb[16]) {
    const uint8_t *na = s->initiator ? s->nl : s->np;
    const uint8_t *nb = s->initiator ? s->np : s->nl;
    bh_smp_f5(s->dhkey, na, nb, &s->ia, &s->ra, s->mackey, s->ltk);
    uint8_t r[16] = { 0 };
    if (is_passkey(s)) {
        memcpy(r, s->tk, 16);
    }
    bh_smp_f6(s->mackey, na, nb, r, &s->preq[1], &s->ia, &s->ra, ea);
    bh_smp_f6(s->mackey, nb, na, r, &s->pres[1], &s->ra, &s->ia, eb);
}

static void sc_auth2(smp_link_t *s) {
    if (s->dh != P_READY || !s->user_done) {
        return;
    }
    uint8_t ea[16], eb[16];
    if (s->initiator) {
        if (!s->sent) {
            sc_checks(s, ea, eb);
            bh_smp_send16(s, BH_SMP_DHKEY_CHECK, ea);
            s->sent = true;
            s->expect = BH_SMP_DHKEY_CHECK;
        }
        if (s->have_check) {
            sc_checks(s, ea, eb);
            bool ok = bh_smp_equal(eb, s->peer_check, 16);
            bh_smp_wipe(ea, sizeof(ea));
            bh_smp_wipe(eb, sizeof(eb));
            if (!ok) {
                bh_smp_fail(s, BH_SMP_ERR_DHKEY_CHECK_FAILED, true);
                return;
            }
            to_encrypt(s);
        }
    } else if (s->have_check) {
        sc_checks(s, ea, eb);
        bool ok = bh_smp_equal(ea, s->peer_check, 16);
        if (ok) {
            bh_smp_send16(s, BH_SMP_DHKEY_CHECK, eb);
        }
        bh_smp_wipe(ea, sizeof(ea));
        bh_smp_wipe(eb, sizeof(eb));
        if (!ok) {
            bh_smp_fail(s, BH_SMP_ERR_DHKEY_CHECK_FAILED, true);
            return;
        }
        to_encrypt(s);
    }
}

// A Pairing Random the dispatcher (bh_smp.c) found in its place.
void bh_smp_on_random(smp_link_t *s, const uint8_t *p) {
    if (bh_smp_equal(p, s->nl, 16)) {
        // Our own nonce sent back (a reflection, see the Confirm).
        bh_smp_fail(s, BH_SMP_ERR_CONFIRM_VALUE_FAILED, true);
        return;
    }
    if (s->sc) {
        sc_random(s, p);
    } else {
        legacy_random(s, p);
    }
}

// ---- the P-256 commands ----

static void p256_status(void *ctx, int status, const uint8_t *ret, size_t len) {
    (void)ctx;
    (void)ret;
    (void)len;
    if (status != 0) {
        bh_smp.pk_state = P_NONE;
        for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
            smp_link_t *s = &bh_smp.links[i];
            if (s->used && s->phase == PH_PUBKEY) {
                s->fail_pending = BH_SMP_ERR_UNSPECIFIED;
            }
        }
    }
}

static void dhkey_status(void *ctx, int status, const uint8_t *ret, size_t len) {
    (void)ret;
    (void)len;
    if (status != 0) {
        bh_smp.dh_busy = false;
        smp_link_t *s = bh_smp_link_find((uint16_t)(uintptr_t)ctx);
        if (s != NULL && s->dh == P_BUSY) {
            s->dh = P_NONE;
            s->fail_pending = BH_SMP_ERR_DHKEY_CHECK_FAILED;
        }
    }
}

// A pairing between sending our public key and its last use of it (the
// confirm values, the comparison number) needs the current key pair.
static bool key_pair_in_use(void) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        const smp_link_t *s = &bh_smp.links[i];
        if (s->used && s->pk_sent && (s->phase == PH_PUBKEY || s->phase == PH_AUTH1 || s->phase == PH_AUTH2)) {
            return true;
        }
    }
    return false;
}

// Start the next P-256 computation when the controller is free.
void bh_smp_kick_p256(void) {
    if (bh_smp.dh_busy || bh_smp.pk_state == P_BUSY) {
        return;
    }
    if (bh_smp.pk_stale && bh_smp.pk_state == P_READY && !key_pair_in_use()) {
        // A peer saw it: the next pairing gets a new one, read now so it
        // does not wait for it.
        bh_smp.pk_state = P_WANTED;
        bh_smp.pk_stale = false;
    }
    if (bh_smp.pk_state == P_WANTED) {
        if (bh_hci_cmd_async(OP_LE_READ_P256, NULL, 0, p256_status, NULL) == 0) {
            bh_smp.pk_state = P_BUSY;
        }
        return;
    }
    if (bh_smp.pk_state != P_READY) {
        return;
    }
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        smp_link_t *s = &bh_smp.links[i];
        if (s->used && s->dh == P_WANTED) {
            if (bh_hci_cmd_async(OP_LE_GEN_DHKEY, s->ppk, 64, dhkey_status,
                (void *)(uintptr_t)s->handle) == 0) {
                s->dh = P_BUSY;
                bh_smp.dh_busy = true;
                bh_smp.dh_owner = s->handle;
            }
            return;
        }
    }
}

void bh_smp_on_p256_complete(const uint8_t *p, size_t len) {
    (void)len;
    if (bh_smp.pk_state != P_BUSY) {
        return;
    }
    if (p[0] != 0) {
        bh_smp.pk_state = P_NONE;
        for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
            smp_link_t *s = &bh_smp.links[i];
            if (s->used && s->phase == PH_PUBKEY) {
                bh_smp_fail(s, BH_SMP_ERR_UNSPECIFIED, true);
            }
        }
        return;
    }
    memcpy(bh_smp.pk, p + 1, 64);
    bh_smp.pk_state = P_READY;
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        smp_link_t *s = &bh_smp.links[i];
        if (s->used && s->phase == PH_PUBKEY) {
            bh_smp_advance(s);
        }
    }
    bh_smp_kick_p256();
}

void bh_smp_on_dhkey_complete(const uint8_t *p, size_t len) {
    (void)len;
    if (!bh_smp.dh_busy) {
        return;
    }
    bh_smp.dh_busy = false;
    smp_link_t *s = bh_smp_link_find(bh_smp.dh_owner);
    bh_smp.dh_owner = 0xffff;
    if (s != NULL && s->dh == P_BUSY) {
        if (p[0] != 0) {
            // The controller found the peer's key off the curve (an
            // invalid-curve attack) or failed: no pairing on it.
            bh_smp_fail(s, BH_SMP_ERR_DHKEY_CHECK_FAILED, true);
        } else {
            memcpy(s->dhkey, p + 1, 32);
            s->dh = P_READY;
            bh_smp_advance(s);
        }
    }
    bh_smp_kick_p256();
}

// ---- the steps that wait for something other than a PDU ----

// The temporary key of a passkey (little-endian, zero-padded; 0 for Just
// Works), which the confirm values of both kinds of pairing take.
static void set_tk(smp_link_t *s, uint32_t passkey) {
    memset(s->tk, 0, 16);
    s->tk[0] = (uint8_t)passkey;
    s->tk[1] = (uint8_t)(passkey >> 8);
    s->tk[2] = (uint8_t)(passkey >> 16);
}

// Our Pairing Confirm for this round, over a fresh nonce; false when no
// random numbers could be had (the pairing has then failed).
static bool send_confirm(smp_link_t *s) {
    uint8_t *c = s->our_confirm;
    if (!bh_smp_random(s->nl, 16)) {
        bh_smp_fail(s, BH_SMP_ERR_UNSPECIFIED, true);
        return false;
    }
    if (s->sc) {
        sc_confirm_local(s, c);
    } else {
        legacy_confirm(s, s->nl, c);
    }
    bh_smp_send16(s, BH_SMP_PAIRING_CONFIRM, c);
    s->sent = true;
    return true;
}

void bh_smp_advance(smp_link_t *s) {
    if (!s->used) {
        return;
    }
    if (s->phase == PH_LEGACY && s->user_done && !s->sent) {
        if (s->initiator || s->have_confirm) {
            set_tk(s, s->method == M_JW ? 0 : s->passkey);
            if (!send_confirm(s)) {
                return;
            }
            s->expect = s->initiator ? BH_SMP_PAIRING_CONFIRM : BH_SMP_PAIRING_RANDOM;
        }
        return;
    }
    if (s->phase == PH_PUBKEY) {
        if (bh_smp.pk_state != P_READY || (bh_smp.pk_stale && !s->pk_sent)) {
            return;
        }
        if (!s->pk_sent && (s->initiator || s->have_peer_pk)) {
            uint8_t pdu[65];
            pdu[0] = BH_SMP_PUBLIC_KEY;
            memcpy(pdu + 1, bh_smp.pk, 64);
            bh_smp_send(s, pdu, sizeof(pdu));
            s->pk_sent = true;
            s->expect = s->initiator ? BH_SMP_PUBLIC_KEY : 0;
        }
        if (!s->pk_sent || !s->have_peer_pk) {
            return;
        }
        // A peer that reflects our own key back gets no pairing. f4 and
        // g2 take X alone, so (X, p - Y) is the same reflection.
        if (bh_smp_equal(s->ppk, bh_smp.pk, 32)) {
            bh_smp_fail(s, BH_SMP_ERR_INVALID_PARAMS, true);
            return;
        }
        s->dh = P_WANTED;
        bh_smp_kick_p256();
        s->phase = PH_AUTH1;
        s->sent = false;
        s->round = 0;
        if (!is_passkey(s)) {
            s->expect = s->initiator ? BH_SMP_PAIRING_CONFIRM : 0;
            if (!s->initiator) {
                if (!send_confirm(s)) {
                    return;
                }
                s->expect = BH_SMP_PAIRING_RANDOM;
            }
            return;
        }
        s->expect = s->initiator ? 0 : BH_SMP_PAIRING_CONFIRM;
    }
    if (s->phase == PH_AUTH1 && is_passkey(s) && s->user_done && !s->sent
        && (s->initiator || s->have_confirm)) {
        set_tk(s, s->passkey);
        if (!send_confirm(s)) {
            return;
        }
        s->expect = s->initiator ? BH_SMP_PAIRING_CONFIRM : BH_SMP_PAIRING_RANDOM;
        return;
    }
    if (s->phase == PH_AUTH2) {
        sc_auth2(s);
    }
}
