// The peer model: a Security Manager on the other end of each link that
// answers ours correctly, so the script reaches every phase. It sees each
// PDU we send, queues the answer a conforming peer would give, and builds
// it when the script delivers it (then the script may mutate it). Confirm,
// random and check values are real (the crypto toolbox); only P-256 is
// stubbed: the fake controller's DHKey is a function of the peer's public
// key (fuzz_dhkey), which both ends can compute.
#include <string.h>

#include "bh_aes.h"
#include "bh_sec.h"
#include "bh_smp.h"
#include "bh_smp_crypto.h"
#include "bh_smp_keys.h"
#include "bh_util.h"
#include "fuzz_smp.h"

#define AUTH_BOND (0x01)
#define AUTH_SC (0x08)
#define DIST_ENC (0x01)
#define DIST_ID (0x02)

// What the peer does next.
enum {
    A_PREQ = 1, A_PRSP, A_SECREQ, A_CONFIRM, A_RANDOM, A_PUBKEY, A_CHECK,
    A_ENC_INFO, A_CENTRAL_ID, A_ID_INFO, A_ID_ADDR, A_LTK_REQ, A_LTK_REQ_BOND,
};

#define QUEUE_MAX (8)

typedef struct {
    // From the script's header: the peer's features and identity.
    uint8_t io, auth, oob, key_size, dist;
    bh_addr_t addr;     // on air
    bh_addr_t id;       // its identity (Identity Address Information)
    uint8_t irk[16];    // most significant octet first
    uint8_t pk[64];     // its public key as it sends it
    uint8_t reflect;    // 4: it sends our key back, 5: our X, the other Y
    uint32_t own_passkey;
    // The pairing going on.
    bool initiator;     // the peer is central
    bool sc;
    bool passkey_method;
    uint32_t passkey;
    uint8_t round;
    uint8_t preq[7], pres[7];
    uint8_t nonce[16], dut_nonce[16];
    bool nonce_sent;
    uint8_t dut_pk[64];
    uint8_t key[16];    // STK or LTK, once the nonces are known
    bool have_key;
    // Keys kept from earlier pairings: ours (to encrypt with as central)
    // and the ones it gave us.
    bool have_dut_ltk;
    uint8_t dut_ltk[16];
    uint16_t dut_ediv;
    uint8_t dut_rand[8];
    bool have_given_ltk;
    uint8_t given_ltk[16];
    // Our last Confirm, Random, Check and Public Key (for reflections).
    uint8_t ours_confirm[16], ours_random[16], ours_check[16], ours_pk[64];
    uint8_t ours_have;  // bit per code
    uint8_t q[QUEUE_MAX];
    size_t nq;
} peer_t;

static peer_t peers[FUZZ_LINKS];
static uint8_t nonce_ctr;

// Valid P-256 points (X, Y least significant octet first), made with a
// P-256 implementation from private keys 0x789abcde, 0x79be0245 and
// 0x7ae147ac; our controller's first key from 0x77777777.
static const uint8_t valid_pk[3][64] = {
    { 0xb8, 0xce, 0xfb, 0xe7, 0xcb, 0x6f, 0xa2, 0xba, 0x06, 0x5f, 0x4a, 0xf7, 0xfa, 0x77, 0xc3, 0x19,
      0x28, 0x29, 0x20, 0xc6, 0xd8, 0x93, 0xfa, 0x2b, 0x7a, 0xb3, 0xb9, 0x15, 0xf3, 0xe1, 0x1d, 0xe7,
      0x18, 0x76, 0x1c, 0x31, 0xe2, 0x66, 0xf0, 0x94, 0x38, 0x88, 0x5d, 0x7d, 0x4c, 0xb3, 0x4f, 0x30,
      0x35, 0x46, 0xf7, 0x17, 0x20, 0x10, 0x56, 0x3d, 0x2a, 0x94, 0x5a, 0x02, 0x66, 0x31, 0xfe, 0x9b },
    { 0x5f, 0xd2, 0x10, 0xe1, 0x76, 0x1d, 0xdf, 0x8f, 0x7d, 0x74, 0xc0, 0x46, 0x03, 0x0a, 0xba, 0x77,
      0xb8, 0xd3, 0x58, 0xc9, 0xe8, 0x35, 0xa2, 0x5a, 0xe4, 0xa0, 0x61, 0xe7, 0x5e, 0xb4, 0xa5, 0x73,
      0xf7, 0xf8, 0x63, 0xb2, 0x12, 0x4c, 0xa0, 0x29, 0x61, 0x6c, 0x2a, 0xb2, 0xfd, 0x50, 0x67, 0x82,
      0xb0, 0x4e, 0x2a, 0x1b, 0x26, 0x0e, 0xc3, 0xc7, 0x54, 0xba, 0x67, 0x46, 0xa2, 0x32, 0x41, 0xe7 },
    { 0x7a, 0xc2, 0x80, 0xf3, 0x9a, 0x48, 0x68, 0xa5, 0x9a, 0x11, 0x67, 0x55, 0x69, 0xb3, 0x7a, 0x2a,
      0x2e, 0x37, 0xc7, 0xdf, 0x52, 0x19, 0x57, 0xaf, 0x28, 0xae, 0x50, 0x99, 0x2c, 0xeb, 0x12, 0x25,
      0x90, 0xe7, 0xe3, 0x95, 0x43, 0x32, 0xc3, 0xf7, 0x3e, 0xc7, 0xf2, 0x1e, 0xb7, 0x3f, 0x02, 0x84,
      0xf9, 0x38, 0x3c, 0xf3, 0xe1, 0x43, 0x71, 0x02, 0x1a, 0x00, 0xc4, 0xd3, 0xf6, 0x7d, 0xdc, 0x51 },
};

static const uint8_t own_pk[64] = {
    0x47, 0xb6, 0x7b, 0xb3, 0x4e, 0xe0, 0x81, 0x29, 0xef, 0x59, 0xeb, 0xc0, 0xf7, 0xd8, 0xb0, 0x32,
    0xde, 0x3d, 0x1e, 0xb4, 0x4d, 0xba, 0x51, 0x07, 0xde, 0x46, 0xbf, 0xfe, 0x10, 0xce, 0xd8, 0x4f,
    0x53, 0xe0, 0x26, 0xd3, 0xf0, 0x07, 0x3a, 0xa7, 0x9c, 0xb2, 0x5b, 0x58, 0xab, 0x78, 0x46, 0xcd,
    0xda, 0x61, 0x89, 0xb8, 0xa9, 0xd1, 0x8e, 0xac, 0xab, 0xc8, 0xc0, 0xed, 0x54, 0xb5, 0xca, 0x44,
};

// P-256's p, least significant octet first.
static const uint8_t p256_p[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
};

// out = p - y: (X, p - Y) is the other point with the same X.
static void neg_y(const uint8_t y[32], uint8_t out[32]) {
    int borrow = 0;
    for (size_t i = 0; i < 32; i++) {
        int d = p256_p[i] - y[i] - borrow;
        borrow = d < 0;
        out[i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
}

// The Core's debug public key (Vol 3 Part H 2.3.5.6.1).
static const uint8_t debug_pk[64] = {
    0xe6, 0x9d, 0x35, 0x0e, 0x48, 0x01, 0x03, 0xcc, 0xdb, 0xfd, 0xf4, 0xac, 0x11, 0x91, 0xf4, 0xef,
    0xb9, 0xa5, 0xf9, 0xe9, 0xa7, 0x83, 0x2c, 0x5e, 0x2c, 0xbe, 0x97, 0xf2, 0xd2, 0x03, 0xb0, 0x20,
    0x8b, 0xd2, 0x89, 0x15, 0xd0, 0x8e, 0x1c, 0x74, 0x24, 0x30, 0xed, 0x8f, 0xc2, 0x45, 0x63, 0x76,
    0x5c, 0x15, 0x52, 0x5a, 0xbf, 0x9a, 0x32, 0x63, 0x6d, 0xeb, 0x2a, 0x65, 0x49, 0x9c, 0x80, 0xdc,
};

void fuzz_dhkey(const uint8_t peer_pk[64], uint8_t out[32]) {
    static const uint8_t k1[16] = { 0xd1 }, k2[16] = { 0xd2 };
    bh_aes_cmac(k1, peer_pk, 64, out);
    bh_aes_cmac(k2, peer_pk, 64, out + 16);
}

static void make_pk(peer_t *p, uint8_t choice) {
    switch (choice & 7) {
        case 0:
        case 1:
        case 2:
            memcpy(p->pk, valid_pk[choice & 7], 64);
            break;
        case 3:
            memcpy(p->pk, debug_pk, 64);
            break;
        case 4: // our own key, reflected (chosen when it is sent)
        case 5: // our X with the other Y
            p->reflect = choice & 7;
            break;
        case 6: // off the curve
            memcpy(p->pk, valid_pk[0], 64);
            p->pk[32] ^= 1;
            break;
        default: // X not below p, and the point at infinity's zeros in Y
            memset(p->pk, 0xff, 32);
            memset(p->pk + 32, 0, 32);
            break;
    }
}

void fuzz_peer_setup(int link, uint8_t tmpl, uint8_t size_dist, uint8_t addr_key) {
    static const uint32_t passkeys[8] = { 123456, 0, 999999, 1, 654321, 111111, 500000, 42 };
    peer_t *p = &peers[link];
    memset(p, 0, sizeof(*p));
    p->initiator = link == 0;
    p->io = tmpl & 7;
    p->auth = (uint8_t)(((tmpl & 0x08) ? 0x04 : 0) | ((tmpl & 0x10) ? AUTH_SC : 0)
        | ((tmpl & 0x20) ? AUTH_BOND : 0) | ((tmpl & 0x40) ? 0x10 : 0));
    p->oob = tmpl >> 7;
    p->key_size = size_dist & 0x1f;
    p->dist = size_dist >> 5;
    for (size_t i = 0; i < 16; i++) {
        p->irk[i] = (uint8_t)(0xa0 + i + link);
    }
    // Identity: public, static random, or the all-zero address.
    bh_addr_t pub = { 0, { 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, (uint8_t)(0xa6 + link) } };
    bh_addr_t stat = { 1, { 0x51, 0x52, 0x53, 0x54, 0x55, (uint8_t)(0xd6 + link) } };
    switch (addr_key & 3) {
        case 0:
            p->addr = p->id = pub;
            break;
        case 1:
            p->addr = p->id = stat;
            break;
        case 2: {
            // A resolvable private address from its IRK, its identity static.
            p->id = stat;
            p->addr.type = 1;
            p->addr.val[3] = 0x2a;
            p->addr.val[4] = (uint8_t)(0x3b + link);
            p->addr.val[5] = 0x4c; // top bits 01: resolvable
            bh_ah(p->irk, p->addr.val + 3, p->addr.val);
            break;
        }
        default:
            memset(&p->addr, 0, sizeof(p->addr));
            p->id = p->addr;
            break;
    }
    make_pk(p, (uint8_t)(addr_key >> 2));
    p->own_passkey = passkeys[addr_key >> 5];
}

const bh_addr_t *fuzz_peer_addr(int link) {
    return &peers[link].addr;
}

void fuzz_peer_bonded(int link, uint8_t flags, uint8_t key_size, bool peer_knows) {
    peer_t *p = &peers[link];
    bool rpa = p->addr.type == 1 && (p->addr.val[5] >> 6) == 1;
    (void)fuzz_store_bond(&p->id, rpa ? p->irk : NULL, flags, key_size);
    if (peer_knows) {
        // The one key serves both directions in the stored record.
        memcpy(p->given_ltk, fuzz_stored_ltk.ltk, 16);
        memset(p->given_ltk + key_size, 0, 16 - key_size);
        p->have_given_ltk = true;
        memcpy(p->dut_ltk, p->given_ltk, 16);
        p->dut_ediv = fuzz_stored_ltk.ediv;
        memcpy(p->dut_rand, fuzz_stored_ltk.rand, 8);
        p->have_dut_ltk = true;
    }
}

void fuzz_peer_reset_pairing(int link) {
    peer_t *p = &peers[link];
    p->nq = 0;
    p->sc = false;
    p->passkey_method = false;
    p->passkey = p->own_passkey;
    p->round = 0;
    p->have_key = false;
    p->nonce_sent = false;
}

void fuzz_peer_connected(int link) {
    fuzz_peer_reset_pairing(link);
}

static void push(peer_t *p, uint8_t a) {
    if (p->nq < QUEUE_MAX) {
        p->q[p->nq++] = a;
    }
}

void fuzz_peer_swap(int link) {
    peer_t *p = &peers[link];
    if (p->nq >= 2) {
        uint8_t a = p->q[0];
        p->q[0] = p->q[1];
        p->q[1] = a;
    }
}

void fuzz_peer_restart(int link, bool reencrypt) {
    peer_t *p = &peers[link];
    fuzz_peer_reset_pairing(link);
    if (reencrypt && p->initiator && p->have_dut_ltk) {
        push(p, A_LTK_REQ_BOND); // a central encrypts with the bond's key
    } else {
        push(p, p->initiator ? A_PREQ : A_SECREQ);
    }
}

uint32_t fuzz_peer_passkey(int link) {
    return peers[link].passkey;
}

// Our passkey event: the method uses a passkey (the one we show, or the
// peer's, which the application types).
void fuzz_peer_set_passkey(int link, uint32_t passkey) {
    peers[link].passkey_method = true;
    peers[link].passkey = passkey;
}

void fuzz_peer_user(int link, uint8_t action, uint32_t passkey) {
    if (action == BH_PASSKEY_DISPLAY) {
        fuzz_peer_set_passkey(link, passkey);
    } else if (action == BH_PASSKEY_INPUT) {
        fuzz_peer_set_passkey(link, peers[link].own_passkey);
    }
}

const uint8_t *fuzz_peer_ours(int link, uint8_t code) {
    peer_t *p = &peers[link];
    switch (code) {
        case BH_SMP_PAIRING_CONFIRM:
            return (p->ours_have & 1) ? p->ours_confirm : NULL;
        case BH_SMP_PAIRING_RANDOM:
            return (p->ours_have & 2) ? p->ours_random : NULL;
        case BH_SMP_DHKEY_CHECK:
            return (p->ours_have & 4) ? p->ours_check : NULL;
        case BH_SMP_PUBLIC_KEY:
            return (p->ours_have & 8) ? p->ours_pk : NULL;
        default:
            return NULL;
    }
}

uint8_t fuzz_peer_key_size(int link) {
    const peer_t *p = &peers[link];
    uint8_t a = p->preq[4], b = p->pres[4];
    uint8_t s = a < b ? a : b;
    return s >= 7 && s <= 16 ? s : 16;
}

// Our controller's key of its n'th LE Read Local P-256 Public Key: the
// first a real point, later ones only distinct (the host never checks its
// own key, and the DHKey stub does not use it).
const uint8_t *fuzz_ctrl_own_pk(uint16_t n) {
    static uint8_t pk[64];
    memcpy(pk, own_pk, 64);
    pk[0] ^= (uint8_t)n;
    pk[1] ^= (uint8_t)(n >> 8);
    pk[32] ^= (uint8_t)n;
    return pk;
}

bool fuzz_peer_refusable_key(const uint8_t pk[64], const uint8_t ours[64], bool debug_ok) {
    uint8_t off_curve[64], big_x[64];
    memcpy(off_curve, valid_pk[0], 64);
    off_curve[32] ^= 1;
    memset(big_x, 0xff, 32);
    memset(big_x + 32, 0, 32);
    return memcmp(pk, ours, 32) == 0 || (!debug_ok && memcmp(pk, debug_pk, 64) == 0)
           || memcmp(pk, off_curve, 64) == 0 || memcmp(pk, big_x, 32) == 0;
}

// ---- the values of the pairing ----

static const bh_addr_t *ia(const peer_t *p) {
    return p->initiator ? &p->addr : &fuzz_own_addr;
}

static const bh_addr_t *ra(const peer_t *p) {
    return p->initiator ? &fuzz_own_addr : &p->addr;
}

static void tk(const peer_t *p, uint8_t out[16]) {
    uint32_t v = p->passkey_method ? p->passkey : 0;
    memset(out, 0, 16);
    out[0] = (uint8_t)v;
    out[1] = (uint8_t)(v >> 8);
    out[2] = (uint8_t)(v >> 16);
}

static void fresh_nonce(peer_t *p) {
    for (size_t i = 0; i < 16; i++) {
        p->nonce[i] = (uint8_t)(nonce_ctr * 31 + i);
    }
    nonce_ctr++;
    p->nonce_sent = true;
}

static void legacy_key(peer_t *p) {
    uint8_t k[16];
    tk(p, k);
    // STK = s1(TK, Srand, Mrand).
    if (p->initiator) {
        bh_smp_s1(k, p->dut_nonce, p->nonce, p->key);
    } else {
        bh_smp_s1(k, p->nonce, p->dut_nonce, p->key);
    }
    uint8_t size = fuzz_peer_key_size((int)(p - peers));
    memset(p->key + size, 0, 16 - size);
    p->have_key = true;
}

// MacKey and LTK (f5), and the check value the peer sends (f6).
static void sc_values(peer_t *p, uint8_t check[16]) {
    uint8_t dh[32], mackey[16], r[16];
    fuzz_dhkey(p->pk, dh);
    const uint8_t *na = p->initiator ? p->nonce : p->dut_nonce;
    const uint8_t *nb = p->initiator ? p->dut_nonce : p->nonce;
    bh_smp_f5(dh, na, nb, ia(p), ra(p), mackey, p->key);
    uint8_t size = fuzz_peer_key_size((int)(p - peers));
    memset(p->key + size, 0, 16 - size);
    p->have_key = true;
    tk(p, r);
    if (p->initiator) {
        bh_smp_f6(mackey, na, nb, r, &p->preq[1], ia(p), ra(p), check);
    } else {
        bh_smp_f6(mackey, nb, na, r, &p->pres[1], ra(p), ia(p), check);
    }
}

static void confirm(peer_t *p, uint8_t out[16]) {
    fresh_nonce(p);
    if (!p->sc) {
        uint8_t k[16];
        tk(p, k);
        bh_smp_c1(k, p->nonce, p->preq, p->pres, ia(p), ra(p), out);
        return;
    }
    uint8_t z = p->passkey_method ? (uint8_t)(0x80 | ((p->passkey >> p->round) & 1)) : 0;
    bh_smp_f4(p->pk, p->dut_pk, p->nonce, z, out);
}

// ---- what we sent ----

void fuzz_peer_saw(int link, const uint8_t *pdu, size_t len) {
    peer_t *p = &peers[link];
    switch (pdu[0]) {
        case BH_SMP_PAIRING_REQUEST:
            fuzz_peer_reset_pairing(link);
            memcpy(p->preq, pdu, 7);
            push(p, A_PRSP);
            break;
        case BH_SMP_PAIRING_RESPONSE:
            memcpy(p->pres, pdu, 7);
            p->sc = (p->preq[3] & AUTH_SC) && (pdu[3] & AUTH_SC);
            push(p, p->sc ? A_PUBKEY : A_CONFIRM);
            break;
        case BH_SMP_SECURITY_REQUEST:
            push(p, A_PREQ);
            break;
        case BH_SMP_PUBLIC_KEY:
            memcpy(p->dut_pk, pdu + 1, 64);
            memcpy(p->ours_pk, pdu + 1, 64);
            p->ours_have |= 8;
            if (!p->initiator) {
                push(p, A_PUBKEY);
                if (!p->passkey_method) {
                    push(p, A_CONFIRM);
                }
            } else if (p->passkey_method) {
                push(p, A_CONFIRM);
            }
            break;
        case BH_SMP_PAIRING_CONFIRM:
            memcpy(p->ours_confirm, pdu + 1, 16);
            p->ours_have |= 1;
            if (p->initiator) {
                push(p, A_RANDOM);
            } else if (!p->sc || p->passkey_method) {
                push(p, A_CONFIRM);
            }
            break;
        case BH_SMP_PAIRING_RANDOM:
            memcpy(p->dut_nonce, pdu + 1, 16);
            memcpy(p->ours_random, pdu + 1, 16);
            p->ours_have |= 2;
            if (!p->initiator) {
                push(p, A_RANDOM);
            } else if (!p->sc) {
                legacy_key(p);
                push(p, A_LTK_REQ);
            } else if (p->passkey_method && ++p->round < 20) {
                push(p, A_CONFIRM);
            } else {
                push(p, A_CHECK);
            }
            break;
        case BH_SMP_DHKEY_CHECK:
            memcpy(p->ours_check, pdu + 1, 16);
            p->ours_have |= 4;
            if (!p->initiator) {
                push(p, A_CHECK);
            } else {
                push(p, A_LTK_REQ);
            }
            break;
        case BH_SMP_PAIRING_FAILED:
            fuzz_peer_reset_pairing(link);
            break;
        case BH_SMP_ENCRYPTION_INFO:
            memcpy(p->dut_ltk, pdu + 1, 16);
            break;
        case BH_SMP_CENTRAL_IDENT:
            p->dut_ediv = bh_get_u16(pdu + 1);
            memcpy(p->dut_rand, pdu + 3, 8);
            p->have_dut_ltk = true;
            break;
        default:
            break;
    }
    (void)len;
}

// The link is encrypted: the keys it promised follow.
void fuzz_peer_encrypted(int link, bool ok) {
    peer_t *p = &peers[link];
    if (!ok || !p->have_key) {
        return;
    }
    uint8_t dist = p->initiator ? p->pres[5] : p->pres[6];
    if (p->sc) {
        dist &= (uint8_t) ~DIST_ENC;
        memcpy(p->dut_ltk, p->key, 16);
        p->dut_ediv = 0;
        memset(p->dut_rand, 0, 8);
        p->have_dut_ltk = true;
        memcpy(p->given_ltk, p->key, 16);
        p->have_given_ltk = true;
    }
    if (dist & DIST_ENC) {
        push(p, A_ENC_INFO);
        push(p, A_CENTRAL_ID);
    }
    if (dist & DIST_ID) {
        push(p, A_ID_INFO);
        push(p, A_ID_ADDR);
    }
    p->have_key = false;
}

// The key the peer's controller encrypts with: the pairing's, else the
// bond's. false when it has none.
bool fuzz_peer_expected_key(int link, bool dut_central, uint8_t out[16]) {
    peer_t *p = &peers[link];
    if (p->have_key) {
        memcpy(out, p->key, 16);
        return true;
    }
    if (dut_central && p->have_given_ltk) {
        memcpy(out, p->given_ltk, 16);
        return true;
    }
    if (!dut_central && p->have_dut_ltk) {
        memcpy(out, p->dut_ltk, 16);
        return true;
    }
    return false;
}

// ---- the peer's next action ----

static void ltk_request(peer_t *p, int link, bool bond) {
    uint8_t ev[12] = { 0 };
    bh_put_u16(ev, fuzz_handle[link]);
    if (bond && p->have_dut_ltk) {
        memcpy(ev + 2, p->dut_rand, 8);
        bh_put_u16(ev + 10, p->dut_ediv);
    }
    bh_sec_on_ltk_request(ev, sizeof(ev));
}

size_t fuzz_peer_next(int link, uint8_t pdu[80], bool drop) {
    peer_t *p = &peers[link];
    if (p->nq == 0) {
        return 0; // it waits for us
    }
    uint8_t a = p->q[0];
    memmove(p->q, p->q + 1, --p->nq);
    if (drop) {
        return 0;
    }
    switch (a) {
        case A_PREQ:
            fuzz_peer_reset_pairing(link);
            pdu[0] = BH_SMP_PAIRING_REQUEST;
            pdu[1] = p->io;
            pdu[2] = p->oob;
            pdu[3] = p->auth;
            pdu[4] = p->key_size;
            pdu[5] = p->dist;
            pdu[6] = p->dist;
            memcpy(p->preq, pdu, 7);
            return 7;
        case A_PRSP:
            pdu[0] = BH_SMP_PAIRING_RESPONSE;
            pdu[1] = p->io;
            pdu[2] = p->oob;
            pdu[3] = p->auth;
            pdu[4] = p->key_size;
            pdu[5] = p->dist & p->preq[5];
            pdu[6] = p->dist & p->preq[6];
            memcpy(p->pres, pdu, 7);
            p->sc = (p->preq[3] & AUTH_SC) && (p->auth & AUTH_SC);
            return 7;
        case A_SECREQ:
            pdu[0] = BH_SMP_SECURITY_REQUEST;
            pdu[1] = p->auth;
            return 2;
        case A_CONFIRM:
            pdu[0] = BH_SMP_PAIRING_CONFIRM;
            confirm(p, pdu + 1);
            return 17;
        case A_RANDOM:
            if (!p->nonce_sent) {
                fresh_nonce(p); // Secure Connections Just Works: no commitment first
            }
            p->nonce_sent = false;
            pdu[0] = BH_SMP_PAIRING_RANDOM;
            memcpy(pdu + 1, p->nonce, 16);
            if (!p->initiator) {
                if (!p->sc) {
                    legacy_key(p);
                } else if (p->passkey_method) {
                    p->round++;
                }
            }
            return 17;
        case A_PUBKEY:
            if (p->reflect) {
                // Ours from this pairing, or one learnt before (the
                // controller's first as a guess).
                const uint8_t *ours = (p->ours_have & 8) ? p->ours_pk : fuzz_ctrl_own_pk(0);
                memcpy(p->pk, ours, 32);
                if (p->reflect == 4) {
                    memcpy(p->pk + 32, ours + 32, 32);
                } else {
                    neg_y(ours + 32, p->pk + 32);
                }
            }
            pdu[0] = BH_SMP_PUBLIC_KEY;
            memcpy(pdu + 1, p->pk, 64);
            return 65;
        case A_CHECK:
            pdu[0] = BH_SMP_DHKEY_CHECK;
            sc_values(p, pdu + 1);
            return 17;
        case A_ENC_INFO:
            pdu[0] = BH_SMP_ENCRYPTION_INFO;
            for (size_t i = 0; i < 16; i++) {
                p->given_ltk[i] = (uint8_t)(0x70 + i + link);
            }
            memset(p->given_ltk + fuzz_peer_key_size(link), 0, 16 - fuzz_peer_key_size(link));
            memcpy(pdu + 1, p->given_ltk, 16);
            p->have_given_ltk = true;
            return 17;
        case A_CENTRAL_ID:
            pdu[0] = BH_SMP_CENTRAL_IDENT;
            bh_put_u16(pdu + 1, (uint16_t)(0x4321 + link));
            memset(pdu + 3, 0x60 + link, 8);
            return 11;
        case A_ID_INFO:
            pdu[0] = BH_SMP_IDENTITY_INFO;
            for (size_t i = 0; i < 16; i++) {
                pdu[1 + i] = p->irk[15 - i];
            }
            return 17;
        case A_ID_ADDR:
            pdu[0] = BH_SMP_IDENTITY_ADDR_INFO;
            pdu[1] = p->id.type;
            memcpy(pdu + 2, p->id.val, 6);
            return 8;
        case A_LTK_REQ:
        case A_LTK_REQ_BOND:
            ltk_request(p, link, a == A_LTK_REQ_BOND);
            return 0;
        default:
            return 0;
    }
}
