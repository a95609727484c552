// Security Manager: the pairing state machine on L2CAP CID 6 (see bh_smp.h).
//
// One pairing per link at a time, driven by the peer's PDUs, the
// controller's P-256 events, encryption changes and the user's answers
// (bh_smp_passkey); advance() runs whatever step became possible. Nothing
// here waits: controller work goes through the asynchronous command queue
// and the link state remembers what is outstanding. The local P-256 key
// pair is the controller's, read once per activation; one DHKey is computed
// at a time (the controller allows no more).
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
#include "bh_smp_keys.h"
#include "bh_util.h"

#define OP_LE_READ_P256 BH_HCI_OP(0x08, 0x0025)
#define OP_LE_GEN_DHKEY BH_HCI_OP(0x08, 0x0026)

#define AUTH_BOND (0x01)
#define AUTH_MITM (0x04)
#define AUTH_SC (0x08)
#define AUTH_KEYPRESS (0x10)
#define DIST_ENC (0x01)
#define DIST_ID (0x02)
#define KEY_SIZE_MAX (16)
#define KEY_SIZE_MIN (7)

// Pairing methods.
enum { M_JW, M_NC, M_PK_I_DISP, M_PK_R_DISP, M_PK_BOTH_INPUT };

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

// Phases of a pairing.
enum { PH_IDLE, PH_FEATURES, PH_LEGACY, PH_PUBKEY, PH_AUTH1, PH_AUTH2, PH_ENCRYPT, PH_KEYS };
// What an encryption of this link was started with.
enum { ENC_NONE, ENC_PAIRING, ENC_BOND };
// Controller P-256 work.
enum { P_NONE, P_WANTED, P_BUSY, P_READY };

typedef struct _smp_link_t {
    bool used;
    bool initiator;
    bool sc;
    bool bonding;     // both sides asked for bonding
    bool dead;        // timed out: no more SMP on this link (3.4)
    uint8_t phase;
    uint8_t method;
    uint8_t expect;   // the PDU code we wait for, 0 for none
    uint8_t user;     // passkey action waiting for the user, 0 for none
    bool user_done;   // passkey known / comparison accepted (or none needed)
    bool sent;        // this step's Confirm (or DHKey Check) went out
    bool have_confirm;
    bool have_check;
    bool have_peer_pk;
    bool pk_sent;
    bool keys_sent;
    bool got_enc_info;
    bool got_id_info;
    uint8_t dh;       // P_*
    uint8_t enc;      // ENC_*
    uint8_t round;    // passkey entry round 0..19
    uint8_t key_size;
    uint8_t local_dist;
    uint8_t peer_dist;
    uint16_t handle;
    uint16_t fail_pending; // a failure seen where no upcall is allowed
    bool enc_changed;      // an encryption change waits for the poll hook
    bool skip_next_enc;    // taken early (key PDUs came first): ignore its report
    uint8_t enc_status;
    uint32_t passkey;
    uint32_t started_ms;
    uint8_t failures;        // failed authentications on this link (2.3.6)
    uint32_t failed_ms;      // when the last one failed
    uint8_t preq[7];
    uint8_t pres[7];
    bh_addr_t ia;
    bh_addr_t ra;
    uint8_t tk[16];          // legacy TK; the passkey as r for f4/f6
    uint8_t nl[16];          // our nonce / Mrand or Srand
    uint8_t np[16];          // the peer's
    uint8_t peer_confirm[16];
    uint8_t peer_check[16];
    uint8_t ppk[64];         // the peer's public key
    uint8_t dhkey[32];
    uint8_t mackey[16];
    uint8_t ltk[16];         // STK (legacy) or LTK (SC) for this encryption
    bh_smp_bond_t bond;      // keys collected, or loaded for re-encryption
    bool have_bond;
} smp_link_t;

static struct {
    uint8_t io;
    bool mitm;
    bool sc_only;
    bool bond;
} cfg = { .io = BH_IO_NO_INPUT_OUTPUT };

static struct {
    smp_link_t links[BH_MAX_CONNECTIONS];
    uint8_t pk_state;     // P_*: our P-256 public key
    uint8_t pk[64];
    uint16_t dh_owner;    // link whose DHKey the controller computes
    bool dh_busy;
    bool seeded;
    bool seeding;         // LE Rand answers awaited
    uint8_t seed_gen;
    uint8_t seed_parts;
    uint8_t seed[32];
    bool id_stored;       // our identity is in the store (loaded or saved)
    uint8_t drbg_key[16];
    uint8_t drbg_ctr[16];
} smp;

static void advance(smp_link_t *s);
static void kick_p256(void);

// ---- random numbers ----

static void drbg_block(uint8_t out[16]) {
    for (int i = 15; i >= 0 && ++smp.drbg_ctr[i] == 0; i--) {
    }
    bh_aes128_encrypt(smp.drbg_key, smp.drbg_ctr, out);
}

static bool smp_random(uint8_t *buf, size_t len) {
    if (!smp.seeded) {
        uint8_t seed[32];
        if (bh_port_random(seed, sizeof(seed)) != 0) {
            return false;
        }
        memcpy(smp.drbg_key, seed, 16);
        memcpy(smp.drbg_ctr, seed + 16, 16);
        memset(seed, 0, sizeof(seed));
        smp.seeded = true;
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
    memcpy(smp.drbg_key, b, 16);
    memset(b, 0, sizeof(b));
    return true;
}

// Seeding without waiting: the port's source, or four LE Rand commands on
// the asynchronous queue (a synchronous command could wait behind a flood
// of advertising reports).
static void rand_done(void *ctx, int status, const uint8_t *ret, size_t len) {
    uintptr_t i = (uintptr_t)ctx;
    if (status != 0 || len < 8 || smp.seed_gen != (uint8_t)(i >> 8)) {
        smp.seeding = false; // try again from the poll hook
        return;
    }
    memcpy(smp.seed + 8 * (i & 3), ret, 8);
    if (++smp.seed_parts == 4) {
        memcpy(smp.drbg_key, smp.seed, 16);
        memcpy(smp.drbg_ctr, smp.seed + 16, 16);
        memset(smp.seed, 0, sizeof(smp.seed));
        smp.seeded = true;
        smp.seeding = false;
    }
}

static void seed(void) {
    if (smp.seeded || smp.seeding) {
        return;
    }
    if (bh_port_random(smp.seed, sizeof(smp.seed)) == 0) {
        memcpy(smp.drbg_key, smp.seed, 16);
        memcpy(smp.drbg_ctr, smp.seed + 16, 16);
        memset(smp.seed, 0, sizeof(smp.seed));
        smp.seeded = true;
        return;
    }
    smp.seed_gen++;
    smp.seed_parts = 0;
    smp.seeding = true;
    for (uintptr_t i = 0; i < 4; i++) {
        if (bh_hci_cmd_async(BH_HCI_OP_LE_RAND, NULL, 0, rand_done,
            (void *)(((uintptr_t)smp.seed_gen << 8) | i)) != 0) {
            smp.seed_gen++; // answers to this round are dropped
            smp.seeding = false;
            return;
        }
    }
}

// ---- links ----

static smp_link_t *link_find(uint16_t handle) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        if (smp.links[i].used && smp.links[i].handle == handle) {
            return &smp.links[i];
        }
    }
    return NULL;
}

static void send(smp_link_t *s, const uint8_t *pdu, size_t len) {
    (void)bh_l2cap_send(s->handle, BH_L2CAP_CID_SMP, pdu, len);
}

static void send16(smp_link_t *s, uint8_t code, const uint8_t v[16]) {
    uint8_t pdu[17];
    pdu[0] = code;
    memcpy(pdu + 1, v, 16);
    send(s, pdu, sizeof(pdu));
}

static void report(smp_link_t *s, bool ok, uint16_t status) {
    bh_conn_t *c = bh_conn_find(s->handle);
    if (c == NULL) {
        bh_evt_encryption_update(s->handle, false, false, false, 0, status);
        return;
    }
    if (ok) {
        bh_evt_encryption_update(s->handle, c->sec.encrypted, c->sec.authenticated, c->sec.bonded,
            c->sec.key_size, 0);
    } else {
        bh_evt_encryption_update(s->handle, false, false, false, 0, status);
    }
}

// Forget the pairing (keeps the link's slot and its loaded bond).
static void clear(smp_link_t *s) {
    uint16_t handle = s->handle;
    bool dead = s->dead;
    bh_addr_t ia = s->ia, ra = s->ra;
    bool initiator = s->initiator;
    bh_smp_bond_t bond = s->bond;
    bool have_bond = s->have_bond;
    uint8_t failures = s->failures;
    bool skip = s->skip_next_enc;
    uint32_t failed_ms = s->failed_ms;
    memset(s, 0, sizeof(*s));
    s->failures = failures;
    s->failed_ms = failed_ms;
    s->skip_next_enc = skip;
    s->used = true;
    s->handle = handle;
    s->dead = dead;
    s->ia = ia;
    s->ra = ra;
    s->initiator = initiator;
    s->bond = bond;
    s->have_bond = have_bond;
}

// End a pairing or an encryption attempt with a failure: tell the peer
// (reason != 0 and send), then the application.
static void fail(smp_link_t *s, uint16_t status, bool tell_peer) {
    if (status == BH_SMP_ERR_CONFIRM_VALUE_FAILED || status == BH_SMP_ERR_DHKEY_CHECK_FAILED
        || status == BH_SMP_ERR_NUMERIC_COMPARISON_FAILED || status == BH_SMP_ERR_PASSKEY_ENTRY_FAILED) {
        // An authentication failed: the next attempt must wait (2.3.6).
        if (s->failures < BH_SMP_RETRY_MAX_DOUBLINGS) {
            s->failures++;
        }
        s->failed_ms = bh_port_ticks_ms();
    }
    if (tell_peer && status > 0 && status < 0x100) {
        uint8_t pdu[2] = { BH_SMP_PAIRING_FAILED, (uint8_t)status };
        send(s, pdu, sizeof(pdu));
    }
    if (smp.dh_busy && smp.dh_owner == s->handle && s->dh == P_BUSY) {
        smp.dh_owner = 0xffff; // its result is for nobody now
    }
    clear(s);
    report(s, false, status);
}

// After failed authentications a new attempt on the link waits
// BH_SMP_RETRY_MS, doubled for each further failure.
static bool too_soon(const smp_link_t *s) {
    return s->failures > 0
           && (uint32_t)(bh_port_ticks_ms() - s->failed_ms) < (BH_SMP_RETRY_MS << (s->failures - 1));
}

static void refuse(smp_link_t *s, uint8_t reason) {
    uint8_t pdu[2] = { BH_SMP_PAIRING_FAILED, reason };
    send(s, pdu, sizeof(pdu));
}

// ---- pairing features ----

static uint8_t local_authreq(void) {
    return (cfg.bond ? AUTH_BOND : 0) | (cfg.mitm ? AUTH_MITM : 0) | AUTH_SC;
}

static uint8_t local_dist(void) {
    return cfg.bond ? (DIST_ENC | DIST_ID) : 0;
}

static void mask_key(uint8_t key[16], uint8_t size) {
    memset(key + size, 0, 16 - size);
}

static void ask_user(smp_link_t *s, uint8_t action, uint32_t passkey) {
    s->user = action;
    s->user_done = false;
    bh_evt_passkey_action(s->handle, action, passkey);
}

static uint32_t random_passkey(void) {
    uint8_t r[4] = { 0 };
    (void)smp_random(r, sizeof(r));
    return (uint32_t)(r[0] | (r[1] << 8) | (r[2] << 16) | ((uint32_t)r[3] << 24)) % 1000000u;
}

// Both feature PDUs known: pick the method, key size and key distribution,
// and ask the user what this method needs first. Returns a failure reason
// or 0.
static uint8_t negotiate(smp_link_t *s) {
    const uint8_t *rq = s->preq, *rs = s->pres;
    s->sc = (rq[3] & AUTH_SC) && (rs[3] & AUTH_SC);
    if (cfg.sc_only && !s->sc) {
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
    s->user_done = true;
    bool display = s->method == (s->initiator ? M_PK_I_DISP : M_PK_R_DISP);
    bool input = s->method == M_PK_BOTH_INPUT || s->method == (s->initiator ? M_PK_R_DISP : M_PK_I_DISP);
    if (display) {
        ask_user(s, BH_PASSKEY_DISPLAY, random_passkey());
    } else if (input) {
        ask_user(s, BH_PASSKEY_INPUT, 0);
    }
    s->phase = s->sc ? PH_PUBKEY : PH_LEGACY;
    s->expect = s->sc ? (s->initiator ? 0 : BH_SMP_PUBLIC_KEY) : (s->initiator ? 0 : BH_SMP_PAIRING_CONFIRM);
    if (s->sc) {
        if (smp.pk_state == P_NONE) {
            smp.pk_state = P_WANTED;
        }
        kick_p256();
    }
    return 0;
}

static bool valid_features(const uint8_t *p, size_t len) {
    return len == 7 && p[1] <= BH_IO_KEYBOARD_DISPLAY && p[4] <= KEY_SIZE_MAX;
}

static void identity_for_pairing(void);

static void start_pairing(smp_link_t *s) {
    identity_for_pairing();
    clear(s);
    s->initiator = true;
    s->started_ms = bh_port_ticks_ms();
    s->preq[0] = BH_SMP_PAIRING_REQUEST;
    s->preq[1] = cfg.io;
    s->preq[2] = 0; // no OOB data
    s->preq[3] = local_authreq();
    s->preq[4] = KEY_SIZE_MAX;
    s->preq[5] = local_dist();
    s->preq[6] = local_dist();
    s->phase = PH_FEATURES;
    s->expect = BH_SMP_PAIRING_RESPONSE;
    send(s, s->preq, sizeof(s->preq));
}

static void on_pairing_request(smp_link_t *s, const uint8_t *p, size_t len) {
    if (too_soon(s)) {
        refuse(s, BH_SMP_ERR_REPEATED_ATTEMPTS);
        return;
    }
    if (!valid_features(p, len)) {
        fail(s, BH_SMP_ERR_INVALID_PARAMS, true);
        return;
    }
    identity_for_pairing();
    clear(s);
    s->initiator = false;
    s->started_ms = bh_port_ticks_ms();
    memcpy(s->preq, p, 7);
    uint8_t ours = local_dist();
    s->pres[0] = BH_SMP_PAIRING_RESPONSE;
    s->pres[1] = cfg.io;
    s->pres[2] = 0;
    s->pres[3] = local_authreq();
    s->pres[4] = KEY_SIZE_MAX;
    // Keys only when both sides bond.
    bool bond = cfg.bond && (p[3] & AUTH_BOND);
    s->pres[5] = bond ? p[5] & ours : 0;
    s->pres[6] = bond ? p[6] & ours : 0;
    uint8_t err = negotiate(s);
    if (err != 0) {
        fail(s, err, true);
        return;
    }
    send(s, s->pres, sizeof(s->pres));
    advance(s);
}

static void on_pairing_response(smp_link_t *s, const uint8_t *p, size_t len) {
    // The responder may only narrow the distribution we asked for.
    if (!valid_features(p, len) || (p[5] & ~s->preq[5]) || (p[6] & ~s->preq[6])) {
        fail(s, BH_SMP_ERR_INVALID_PARAMS, true);
        return;
    }
    memcpy(s->pres, p, 7);
    uint8_t err = negotiate(s);
    if (err != 0) {
        fail(s, err, true);
        return;
    }
    advance(s);
}

// ---- encryption ----

static void enc_started(void *ctx, int status, const uint8_t *ret, size_t len) {
    (void)ret;
    (void)len;
    smp_link_t *s = link_find((uint16_t)(uintptr_t)ctx);
    if (s != NULL && status != 0) {
        s->fail_pending = status > 0 ? BH_SEC_FAIL_HCI | (uint16_t)status : BH_SMP_ERR_UNSPECIFIED;
    }
}

static void start_encryption(smp_link_t *s, const uint8_t rand[8], uint16_t ediv, const uint8_t ltk[16]) {
    uint8_t p[28];
    bh_put_u16(p, s->handle);
    memcpy(p + 2, rand, 8);
    bh_put_u16(p + 10, ediv);
    memcpy(p + 12, ltk, 16);
    if (bh_hci_cmd_async(BH_HCI_OP_LE_ENABLE_ENCRYPTION, p, sizeof(p), enc_started,
        (void *)(uintptr_t)s->handle) != 0) {
        s->fail_pending = BH_SMP_ERR_UNSPECIFIED;
    }
    memset(p, 0, sizeof(p));
}

static void to_encrypt(smp_link_t *s) {
    mask_key(s->ltk, s->key_size);
    s->phase = PH_ENCRYPT;
    s->expect = 0;
    s->enc = ENC_PAIRING;
    if (s->initiator) {
        static const uint8_t zero[8];
        start_encryption(s, zero, 0, s->ltk);
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
    if (memcmp(check, s->peer_confirm, 16) != 0) {
        fail(s, BH_SMP_ERR_CONFIRM_VALUE_FAILED, true);
        return;
    }
    if (!s->initiator) {
        send16(s, BH_SMP_PAIRING_RANDOM, s->nl);
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
    return s->initiator ? smp.pk : s->ppk;
}

static const uint8_t *pkx_r(smp_link_t *s) {
    return s->initiator ? s->ppk : smp.pk;
}

static uint8_t passkey_z(smp_link_t *s) {
    return (uint8_t)(0x80 | ((s->passkey >> s->round) & 1));
}

static void sc_confirm_local(smp_link_t *s, uint8_t out[16]) {
    uint8_t z = s->method == M_JW || s->method == M_NC ? 0 : passkey_z(s);
    bh_smp_f4(smp.pk, s->ppk, s->nl, z, out);
}

static bool sc_check_peer_confirm(smp_link_t *s) {
    uint8_t z = s->method == M_JW || s->method == M_NC ? 0 : passkey_z(s);
    uint8_t c[16];
    bh_smp_f4(s->ppk, smp.pk, s->np, z, c);
    return memcmp(c, s->peer_confirm, 16) == 0;
}

static bool is_passkey(smp_link_t *s) {
    return s->method >= M_PK_I_DISP;
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
        fail(s, BH_SMP_ERR_CONFIRM_VALUE_FAILED, true);
        return;
    }
    if (!s->initiator) {
        send16(s, BH_SMP_PAIRING_RANDOM, s->nl);
    }
    if (is_passkey(s) && ++s->round < 20) {
        s->sent = false;
        s->have_confirm = false;
        s->expect = s->initiator ? 0 : BH_SMP_PAIRING_CONFIRM;
        advance(s);
        return;
    }
    to_auth2(s);
    advance(s);
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
            send16(s, BH_SMP_DHKEY_CHECK, ea);
            s->sent = true;
            s->expect = BH_SMP_DHKEY_CHECK;
        }
        if (s->have_check) {
            sc_checks(s, ea, eb);
            if (memcmp(eb, s->peer_check, 16) != 0) {
                fail(s, BH_SMP_ERR_DHKEY_CHECK_FAILED, true);
                return;
            }
            to_encrypt(s);
        }
    } else if (s->have_check) {
        sc_checks(s, ea, eb);
        if (memcmp(ea, s->peer_check, 16) != 0) {
            fail(s, BH_SMP_ERR_DHKEY_CHECK_FAILED, true);
            return;
        }
        send16(s, BH_SMP_DHKEY_CHECK, eb);
        to_encrypt(s);
    }
}

// ---- the P-256 commands ----

static void p256_status(void *ctx, int status, const uint8_t *ret, size_t len) {
    (void)ctx;
    (void)ret;
    (void)len;
    if (status != 0) {
        smp.pk_state = P_NONE;
        for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
            smp_link_t *s = &smp.links[i];
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
        smp.dh_busy = false;
        smp_link_t *s = link_find((uint16_t)(uintptr_t)ctx);
        if (s != NULL && s->dh == P_BUSY) {
            s->dh = P_NONE;
            s->fail_pending = BH_SMP_ERR_DHKEY_CHECK_FAILED;
        }
    }
}

// Start the next P-256 computation when the controller is free.
static void kick_p256(void) {
    if (smp.dh_busy || smp.pk_state == P_BUSY) {
        return;
    }
    if (smp.pk_state == P_WANTED) {
        if (bh_hci_cmd_async(OP_LE_READ_P256, NULL, 0, p256_status, NULL) == 0) {
            smp.pk_state = P_BUSY;
        }
        return;
    }
    if (smp.pk_state != P_READY) {
        return;
    }
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        smp_link_t *s = &smp.links[i];
        if (s->used && s->dh == P_WANTED) {
            if (bh_hci_cmd_async(OP_LE_GEN_DHKEY, s->ppk, 64, dhkey_status,
                (void *)(uintptr_t)s->handle) == 0) {
                s->dh = P_BUSY;
                smp.dh_busy = true;
                smp.dh_owner = s->handle;
            }
            return;
        }
    }
}

void bh_smp_on_p256_complete(const uint8_t *p, size_t len) {
    (void)len;
    if (smp.pk_state != P_BUSY) {
        return;
    }
    if (p[0] != 0) {
        smp.pk_state = P_NONE;
        for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
            smp_link_t *s = &smp.links[i];
            if (s->used && s->phase == PH_PUBKEY) {
                fail(s, BH_SMP_ERR_UNSPECIFIED, true);
            }
        }
        return;
    }
    memcpy(smp.pk, p + 1, 64);
    smp.pk_state = P_READY;
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        smp_link_t *s = &smp.links[i];
        if (s->used && s->phase == PH_PUBKEY) {
            advance(s);
        }
    }
    kick_p256();
}

void bh_smp_on_dhkey_complete(const uint8_t *p, size_t len) {
    (void)len;
    if (!smp.dh_busy) {
        return;
    }
    smp.dh_busy = false;
    smp_link_t *s = link_find(smp.dh_owner);
    smp.dh_owner = 0xffff;
    if (s != NULL && s->dh == P_BUSY) {
        if (p[0] != 0) {
            // The controller found the peer's key off the curve (an
            // invalid-curve attack) or failed: no pairing on it.
            fail(s, BH_SMP_ERR_DHKEY_CHECK_FAILED, true);
        } else {
            memcpy(s->dhkey, p + 1, 32);
            s->dh = P_READY;
            advance(s);
        }
    }
    kick_p256();
}

// ---- the steps that wait for something other than a PDU ----

static void advance(smp_link_t *s) {
    if (!s->used) {
        return;
    }
    if (s->phase == PH_LEGACY && s->user_done && !s->sent) {
        if (s->initiator || s->have_confirm) {
            memset(s->tk, 0, 16);
            if (s->method != M_JW) {
                s->tk[0] = (uint8_t)s->passkey;
                s->tk[1] = (uint8_t)(s->passkey >> 8);
                s->tk[2] = (uint8_t)(s->passkey >> 16);
            }
            if (!smp_random(s->nl, 16)) {
                fail(s, BH_SMP_ERR_UNSPECIFIED, true);
                return;
            }
            uint8_t c[16];
            legacy_confirm(s, s->nl, c);
            send16(s, BH_SMP_PAIRING_CONFIRM, c);
            s->sent = true;
            s->expect = s->initiator ? BH_SMP_PAIRING_CONFIRM : BH_SMP_PAIRING_RANDOM;
        }
        return;
    }
    if (s->phase == PH_PUBKEY) {
        if (smp.pk_state != P_READY) {
            return;
        }
        if (!s->pk_sent && (s->initiator || s->have_peer_pk)) {
            uint8_t pdu[65];
            pdu[0] = BH_SMP_PUBLIC_KEY;
            memcpy(pdu + 1, smp.pk, 64);
            send(s, pdu, sizeof(pdu));
            s->pk_sent = true;
            s->expect = s->initiator ? BH_SMP_PUBLIC_KEY : 0;
        }
        if (!s->pk_sent || !s->have_peer_pk) {
            return;
        }
        // A peer that reflects our own key back gets no pairing.
        if (memcmp(s->ppk, smp.pk, 64) == 0) {
            fail(s, BH_SMP_ERR_INVALID_PARAMS, true);
            return;
        }
        s->dh = P_WANTED;
        kick_p256();
        s->phase = PH_AUTH1;
        s->sent = false;
        s->round = 0;
        if (!is_passkey(s)) {
            s->expect = s->initiator ? BH_SMP_PAIRING_CONFIRM : 0;
            if (!s->initiator) {
                uint8_t c[16];
                if (!smp_random(s->nl, 16)) {
                    fail(s, BH_SMP_ERR_UNSPECIFIED, true);
                    return;
                }
                sc_confirm_local(s, c);
                send16(s, BH_SMP_PAIRING_CONFIRM, c);
                s->sent = true;
                s->expect = BH_SMP_PAIRING_RANDOM;
            }
            return;
        }
        s->expect = s->initiator ? 0 : BH_SMP_PAIRING_CONFIRM;
    }
    if (s->phase == PH_AUTH1 && is_passkey(s) && s->user_done && !s->sent
        && (s->initiator || s->have_confirm)) {
        memset(s->tk, 0, 16);
        s->tk[0] = (uint8_t)s->passkey;
        s->tk[1] = (uint8_t)(s->passkey >> 8);
        s->tk[2] = (uint8_t)(s->passkey >> 16);
        uint8_t c[16];
        if (!smp_random(s->nl, 16)) {
            fail(s, BH_SMP_ERR_UNSPECIFIED, true);
            return;
        }
        sc_confirm_local(s, c);
        send16(s, BH_SMP_PAIRING_CONFIRM, c);
        s->sent = true;
        s->expect = s->initiator ? BH_SMP_PAIRING_CONFIRM : BH_SMP_PAIRING_RANDOM;
        return;
    }
    if (s->phase == PH_AUTH2) {
        sc_auth2(s);
    }
}

// ---- key distribution ----

static void send_keys(smp_link_t *s) {
    s->keys_sent = true;
    if (s->local_dist & DIST_ENC) {
        bh_smp_ltk_t *k = &s->bond.ltk_p;
        uint8_t ediv[2];
        if (!smp_random(k->ltk, 16) || !smp_random(k->rand, 8) || !smp_random(ediv, 2)) {
            return;
        }
        mask_key(k->ltk, s->key_size);
        k->ediv = bh_get_u16(ediv);
        s->bond.flags |= BH_SMP_BOND_LTK_P;
        send16(s, BH_SMP_ENCRYPTION_INFO, k->ltk);
        uint8_t pdu[11];
        pdu[0] = BH_SMP_CENTRAL_IDENT;
        bh_put_u16(pdu + 1, k->ediv);
        memcpy(pdu + 3, k->rand, 8);
        send(s, pdu, sizeof(pdu));
    }
    if (s->local_dist & DIST_ID) {
        uint8_t irk[16], pdu[8];
        bh_addr_t id;
        if (bh_get_irk(irk) != 0 || bh_addr_identity(&id) != 0) {
            return;
        }
        // bh_get_irk gives it most significant octet first; SMP carries it
        // least significant first.
        uint8_t le[16];
        for (size_t i = 0; i < 16; i++) {
            le[i] = irk[15 - i];
        }
        send16(s, BH_SMP_IDENTITY_INFO, le);
        pdu[0] = BH_SMP_IDENTITY_ADDR_INFO;
        pdu[1] = id.type;
        memcpy(pdu + 2, id.val, 6);
        send(s, pdu, sizeof(pdu));
    }
}

// Pairing complete: store the bond (when both sides bond), then tell the
// application, once.
static void complete(smp_link_t *s) {
    bh_conn_t *c = bh_conn_find(s->handle);
    if (c == NULL) {
        clear(s);
        return;
    }
    bh_smp_bond_t *b = &s->bond;
    b->key_size = s->key_size;
    b->flags |= (c->sec.authenticated ? BH_SMP_BOND_AUTH : 0) | (s->sc ? BH_SMP_BOND_SC : 0);
    if (s->sc) {
        memset(&b->ltk_c, 0, sizeof(b->ltk_c));
        memcpy(b->ltk_c.ltk, s->ltk, 16);
        b->ltk_p = b->ltk_c;
        b->flags |= BH_SMP_BOND_LTK_C | BH_SMP_BOND_LTK_P;
    }
    if (!(b->flags & BH_SMP_BOND_IRK)) {
        b->id = c->peer;
    }
    s->failures = 0;
    c->sec.bonded = s->bonding && bh_smp_bond_save(b);
    if (c->sec.bonded) {
        // A new bond starts with the subscriptions the client has now; from
        // here on the peer is known by its identity (the disconnect event).
        c->sec.bond_id = b->id;
        c->id = b->id;
        bh_smp_cccd_save(c->handle, &b->id);
    }
    if (c->sec.bonded && !smp.id_stored) {
        // The identity we just gave the peer must stay ours.
        smp.id_stored = bh_smp_local_id_save();
    }
    bool have = c->sec.bonded;
    bh_smp_bond_t keep = *b;
    clear(s);
    s->have_bond = have;
    if (have) {
        s->bond = keep;
    }
    report(s, true, 0);
}

static void after_keys_maybe(smp_link_t *s) {
    if (s->peer_dist != 0) {
        s->expect = (s->peer_dist & DIST_ENC) ? (s->got_enc_info ? BH_SMP_CENTRAL_IDENT : BH_SMP_ENCRYPTION_INFO)
            : (s->got_id_info ? BH_SMP_IDENTITY_ADDR_INFO : BH_SMP_IDENTITY_INFO);
        return;
    }
    s->expect = 0;
    if (!s->keys_sent) {
        send_keys(s);
    }
    complete(s);
}

static void on_key_pdu(smp_link_t *s, const uint8_t *p, size_t len) {
    bh_smp_bond_t *b = &s->bond;
    switch (p[0]) {
        case BH_SMP_ENCRYPTION_INFO:
            if (len != 17) {
                goto bad;
            }
            memcpy(b->ltk_c.ltk, p + 1, 16);
            s->got_enc_info = true;
            break;
        case BH_SMP_CENTRAL_IDENT:
            if (len != 11) {
                goto bad;
            }
            b->ltk_c.ediv = bh_get_u16(p + 1);
            memcpy(b->ltk_c.rand, p + 3, 8);
            b->flags |= BH_SMP_BOND_LTK_C;
            s->peer_dist &= ~DIST_ENC;
            break;
        case BH_SMP_IDENTITY_INFO:
            if (len != 17) {
                goto bad;
            }
            for (size_t i = 0; i < 16; i++) {
                b->irk[i] = p[16 - i];
            }
            s->got_id_info = true;
            break;
        default: // BH_SMP_IDENTITY_ADDR_INFO
            if (len != 8 || p[1] > 1) {
                goto bad;
            }
            b->id.type = p[1];
            memcpy(b->id.val, p + 2, 6);
            b->flags |= BH_SMP_BOND_IRK;
            s->peer_dist &= ~DIST_ID;
            break;
    }
    after_keys_maybe(s);
    return;
bad:
    fail(s, BH_SMP_ERR_INVALID_PARAMS, true);
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

static void start_security_central(smp_link_t *s);
static void encryption_changed(smp_link_t *s, bh_conn_t *c, uint8_t status);

static bool smp_rx(uint16_t handle, uint16_t cid, const uint8_t *data, size_t len) {
    (void)cid;
    bh_conn_t *c = bh_conn_find(handle);
    smp_link_t *s = link_find(handle);
    if (len == 0 || c == NULL || s == NULL || s->dead) {
        return true;
    }
    uint8_t code = data[0];
    if (code == 0 || code > BH_SMP_KEYPRESS) {
        uint8_t pdu[2] = { BH_SMP_PAIRING_FAILED, BH_SMP_ERR_CMD_NOT_SUPPORTED };
        send(s, pdu, sizeof(pdu));
        return true;
    }
    if (len != pdu_len(code)) {
        if (s->phase != PH_IDLE) {
            fail(s, BH_SMP_ERR_INVALID_PARAMS, true);
        } else {
            uint8_t pdu[2] = { BH_SMP_PAIRING_FAILED, BH_SMP_ERR_INVALID_PARAMS };
            send(s, pdu, sizeof(pdu));
        }
        return true;
    }
    if (code == BH_SMP_PAIRING_FAILED) {
        if (s->phase != PH_IDLE) {
            fail(s, data[1], false);
        }
        return true;
    }
    if (code == BH_SMP_KEYPRESS) {
        return true; // progress shown on the peer: nothing to do
    }
    if (code == BH_SMP_PAIRING_REQUEST && c->role == BH_ROLE_PERIPHERAL
        && (s->phase == PH_IDLE || s->phase == PH_FEATURES)) {
        on_pairing_request(s, data, len);
        return true;
    }
    if (code == BH_SMP_SECURITY_REQUEST && c->role == BH_ROLE_CENTRAL) {
        if (too_soon(s)) {
            refuse(s, BH_SMP_ERR_REPEATED_ATTEMPTS);
        } else if (s->phase == PH_IDLE && s->enc == ENC_NONE) {
            start_security_central(s);
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
    if (s->phase == PH_IDLE || code != s->expect) {
        // Out of order: the pairing (if any) cannot go on.
        if (s->phase != PH_IDLE) {
            fail(s, BH_SMP_ERR_UNSPECIFIED, true);
        } else {
            uint8_t pdu[2] = { BH_SMP_PAIRING_FAILED, BH_SMP_ERR_UNSPECIFIED };
            send(s, pdu, sizeof(pdu));
        }
        return true;
    }
    s->started_ms = bh_port_ticks_ms();
    switch (code) {
        case BH_SMP_PAIRING_RESPONSE:
            on_pairing_response(s, data, len);
            break;
        case BH_SMP_PAIRING_CONFIRM:
            memcpy(s->peer_confirm, data + 1, 16);
            s->have_confirm = true;
            if (s->initiator) {
                // Answer with our nonce: the one our Confirm was made of,
                // or (SC Just Works / Numeric Comparison, where only the
                // responder commits) a fresh one.
                if (s->phase == PH_AUTH1 && !is_passkey(s) && !smp_random(s->nl, 16)) {
                    fail(s, BH_SMP_ERR_UNSPECIFIED, true);
                    break;
                }
                send16(s, BH_SMP_PAIRING_RANDOM, s->nl);
                s->expect = BH_SMP_PAIRING_RANDOM;
            } else {
                s->expect = 0;
                advance(s);
            }
            break;
        case BH_SMP_PAIRING_RANDOM:
            if (s->sc) {
                sc_random(s, data + 1);
            } else {
                legacy_random(s, data + 1);
            }
            break;
        case BH_SMP_PUBLIC_KEY:
            memcpy(s->ppk, data + 1, 64);
            s->have_peer_pk = true;
            s->expect = 0;
            advance(s);
            break;
        case BH_SMP_DHKEY_CHECK:
            memcpy(s->peer_check, data + 1, 16);
            s->have_check = true;
            s->expect = 0;
            advance(s);
            break;
        default:
            on_key_pdu(s, data, len);
            break;
    }
    return true;
}

// ---- encryption events (from bh_sec.c) ----

static void start_security_central(smp_link_t *s) {
    bh_conn_t *c = bh_conn_find(s->handle);
    if (c == NULL) {
        return;
    }
    bh_smp_bond_t b;
    if (cfg.bond && bh_smp_bond_find(&c->id, &b) && (b.flags & BH_SMP_BOND_LTK_C)) {
        clear(s);
        s->bond = b;
        s->have_bond = true;
        s->enc = ENC_BOND;
        start_encryption(s, b.ltk_c.rand, b.ltk_c.ediv, b.ltk_c.ltk);
        return;
    }
    start_pairing(s);
}

// Recorded here, acted on from the poll hook: the report may come from a
// command completion (the key size read after Encryption Change v1), where
// the store's upcalls are not allowed.
void bh_smp_encryption_changed(bh_conn_t *c, uint8_t status) {
    smp_link_t *s = link_find(c->handle);
    if (s != NULL) {
        s->enc_changed = true;
        s->enc_status = status;
    }
}

static void encryption_changed(smp_link_t *s, bh_conn_t *c, uint8_t status) {
    if (status == 0 && s->skip_next_enc) {
        s->skip_next_enc = false;
        return;
    }
    if (status != 0) {
        if (s->enc == ENC_BOND && s->initiator && status == 0x06) {
            // PIN or Key Missing: the peer lost our bond; pair afresh.
            s->enc = ENC_NONE;
            s->have_bond = false;
            start_pairing(s);
            return;
        }
        if (s->enc != ENC_NONE || s->phase != PH_IDLE) {
            fail(s, BH_SEC_FAIL_HCI | status, false);
        }
        return;
    }
    if (!c->sec.encrypted) {
        clear(s);
        report(s, true, 0);
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
        if (!s->initiator) {
            send_keys(s);
        }
        after_keys_maybe(s);
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
    report(s, true, 0);
}

bool bh_smp_ltk_request(bh_conn_t *c, const uint8_t rand[8], uint16_t ediv) {
    smp_link_t *s = link_find(c->handle);
    if (s == NULL || s->dead) {
        return false;
    }
    const uint8_t *key = NULL;
    if (s->phase == PH_ENCRYPT && !s->initiator) {
        key = s->ltk;
    } else if (s->phase == PH_IDLE) {
        bh_smp_bond_t b;
        if (bh_smp_bond_find(&c->id, &b) && (b.flags & BH_SMP_BOND_LTK_P)
            && b.ltk_p.ediv == ediv && memcmp(b.ltk_p.rand, rand, 8) == 0) {
            s->bond = b;
            s->have_bond = true;
            s->enc = ENC_BOND;
            key = s->bond.ltk_p.ltk;
        }
    }
    if (key == NULL) {
        return false;
    }
    uint8_t p[18];
    bh_put_u16(p, c->handle);
    memcpy(p + 2, key, 16);
    int err = bh_hci_cmd_async(BH_HCI_OP_LE_LTK_REPLY, p, sizeof(p), NULL, NULL);
    memset(p, 0, sizeof(p));
    return err == 0;
}

// ---- API ----

bool bh_smp_peer_irk(const bh_addr_t *id, uint8_t irk[16]) {
    bh_smp_bond_t b;
    if (!cfg.bond || bh_addr_is_rpa(id) || !bh_smp_bond_find(id, &b) || !(b.flags & BH_SMP_BOND_IRK)) {
        return false;
    }
    memcpy(irk, b.irk, 16);
    return true;
}

bool bh_smp_peer_identity(const bh_addr_t *rpa, bh_addr_t *id) {
    bh_smp_bond_t b;
    if (!cfg.bond || !bh_addr_is_rpa(rpa) || !bh_smp_bond_find(rpa, &b)) {
        return false;
    }
    *id = b.id;
    return true;
}

void bh_smp_identity_load(void) {
    if (bh_is_active() && !smp.id_stored) {
        smp.id_stored = bh_smp_local_id_load();
    }
}

// Pairing looks at the store only when bonding is on.
static void identity_for_pairing(void) {
    if (cfg.bond) {
        bh_smp_identity_load();
    }
}

void bh_smp_set_config(uint8_t io, bool mitm, bool sc_only, bool bond) {
    cfg.io = io <= BH_IO_KEYBOARD_DISPLAY ? io : BH_IO_NO_INPUT_OUTPUT;
    cfg.mitm = mitm;
    cfg.sc_only = sc_only;
    cfg.bond = bond;
}

int bh_smp_pair(uint16_t conn_handle) {
    bh_conn_t *c = bh_conn_find(conn_handle);
    smp_link_t *s = link_find(conn_handle);
    if (c == NULL || s == NULL) {
        return -BH_ENOTCONN;
    }
    if (s->phase != PH_IDLE || s->enc != ENC_NONE) {
        return -BH_EALREADY;
    }
    if (s->dead) {
        return -BH_ETIMEDOUT;
    }
    if (too_soon(s)) {
        return -BH_EAGAIN;
    }
    identity_for_pairing();
    if (c->role == BH_ROLE_CENTRAL) {
        start_security_central(s);
        return 0;
    }
    uint8_t pdu[2] = { BH_SMP_SECURITY_REQUEST, local_authreq() };
    return bh_l2cap_send(conn_handle, BH_L2CAP_CID_SMP, pdu, sizeof(pdu));
}

int bh_smp_passkey(uint16_t conn_handle, uint8_t action, uint32_t passkey) {
    smp_link_t *s = link_find(conn_handle);
    if (s == NULL || bh_conn_find(conn_handle) == NULL) {
        return -BH_ENOTCONN;
    }
    if (s->user == 0 || s->user != action) {
        return -BH_EPERM;
    }
    if (action == BH_PASSKEY_NUMCMP) {
        s->user = 0;
        if (!passkey) {
            fail(s, BH_SMP_ERR_NUMERIC_COMPARISON_FAILED, true);
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
    advance(s);
    return 0;
}

// ---- the layer ----

static void smp_reset(void) {
    memset(&smp, 0, sizeof(smp));
    smp.dh_owner = 0xffff;
    (void)bh_l2cap_set_rx_handler(BH_L2CAP_CID_SMP, smp_rx);
}

static void smp_connected(bh_conn_t *c) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        smp_link_t *s = &smp.links[i];
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
    smp_link_t *s = link_find(c->handle);
    if (s == NULL) {
        return;
    }
    if (smp.dh_busy && smp.dh_owner == s->handle) {
        smp.dh_owner = 0xffff;
    }
    if (s->phase != PH_IDLE || s->enc != ENC_NONE) {
        report(s, false, BH_SEC_FAIL_DISCONNECTED);
    }
    memset(s, 0, sizeof(*s));
}

static void smp_poll(uint32_t now_ms) {
    seed();
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        smp_link_t *s = &smp.links[i];
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
            fail(s, st, st < 0x100);
            continue;
        }
        if (s->phase != PH_IDLE && (uint32_t)(now_ms - s->started_ms) >= BH_SMP_TIMEOUT_MS) {
            // SMP timeout: no further SMP on this link (3.4).
            fail(s, BH_SEC_FAIL_TIMEOUT, false);
            s->dead = true;
        }
    }
    kick_p256();
}

const bh_layer_t bh_smp_layer = {
    .reset = smp_reset,
    .connected = smp_connected,
    .disconnected = smp_disconnected,
    .poll = smp_poll,
};
