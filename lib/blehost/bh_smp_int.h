// Internal to the Security Manager: the state and the few functions its
// three files share (bh_smp.c: links, received PDUs, encryption events, API,
// layer; bh_smp_pair.c: the pairing steps and P-256; bh_smp_dist.c: key
// distribution and the bond). Nothing outside them includes it; the rest of
// the host sees bh_smp.h.
#ifndef BLEHOST_BH_SMP_INT_H
#define BLEHOST_BH_SMP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bh_config.h"
#include "bh_smp_keys.h"

// Authentication requirements and key distribution bits (3.5.1).
#define AUTH_BOND (0x01)
#define AUTH_MITM (0x04)
#define AUTH_SC (0x08)
#define AUTH_KEYPRESS (0x10)
#define DIST_ENC (0x01)
#define DIST_ID (0x02)

// Pairing methods.
enum { M_JW, M_NC, M_PK_I_DISP, M_PK_R_DISP, M_PK_BOTH_INPUT };

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
    bool ended_by_us; // our Pairing Failed ended the last pairing: the peer's
                      // PDUs of it may still be on the air (no answer)
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
    bool enc_lost;         // the link's encryption went off during the pairing
    uint8_t enc_status;
    uint32_t passkey;
    uint32_t started_ms;
    bool have_prior;         // a bond with this identity was stored when
    uint8_t prior_flags;     // the pairing started: its BH_SMP_BOND_AUTH
    uint8_t prior_key_size;  // and _SC flags and key size (no downgrade)
    uint8_t preq[7];
    uint8_t pres[7];
    bh_addr_t ia;
    bh_addr_t ra;
    uint8_t tk[16];          // legacy TK; the passkey as r for f4/f6
    uint8_t nl[16];          // our nonce / Mrand or Srand
    uint8_t np[16];          // the peer's
    uint8_t peer_confirm[16];
    uint8_t our_confirm[16]; // the last Confirm we sent (a reflection fails)
    uint8_t peer_check[16];
    uint8_t ppk[64];         // the peer's public key
    uint8_t dhkey[32];
    uint8_t mackey[16];
    uint8_t ltk[16];         // STK (legacy) or LTK (SC) for this encryption
    bh_smp_bond_t bond;      // keys collected, or loaded for re-encryption
    bool have_bond;
} smp_link_t;


// The configuration (bh_smp_set_config): read by the pairing steps too.
typedef struct _bh_smp_cfg_t {
    uint8_t io;
    bool mitm;
    bool sc_only;
    bool bond;
    bool debug_keys;      // the Core's debug public key accepted from a peer
    bool no_controller_sc; // the controller lacks the P-256 commands
} bh_smp_cfg_t;
extern bh_smp_cfg_t bh_smp_cfg;

// Failed authentications of a peer (2.3.6), by the address it used and
// its identity, kept across its reconnections.
typedef struct _smp_backoff_t {
    bool used;
    uint8_t failures;
    uint32_t failed_ms;
    bh_addr_t addr;
    bh_addr_t id;
} smp_backoff_t;

// The module state, cleared by the layer's reset: the links, the back-off
// table, and the controller's P-256 key and DHKey work, which all links
// share.
typedef struct _bh_smp_state_t {
    smp_link_t links[BH_MAX_CONNECTIONS];
    smp_backoff_t backoff[BH_SMP_BACKOFF_MAX];
    uint8_t pk_state;     // P_*: our P-256 public key
    bool pk_stale;        // shown to a peer: read a new one when unused
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
} bh_smp_state_t;
extern bh_smp_state_t bh_smp;

// Small enough to be inline where they are used.
static inline uint8_t local_authreq(void) {
    return (bh_smp_cfg.bond ? AUTH_BOND : 0) | (bh_smp_cfg.mitm ? AUTH_MITM : 0)
           | (bh_smp_cfg.no_controller_sc ? 0 : AUTH_SC);
}

static inline void mask_key(uint8_t key[16], uint8_t size) {
    memset(key + size, 0, 16 - size);
}

static inline bool is_passkey(const smp_link_t *s) {
    return s->method >= M_PK_I_DISP;
}

// bh_smp.c: random numbers, the link table, sending, and how a pairing ends.
bool bh_smp_random(uint8_t *buf, size_t len);
smp_link_t *bh_smp_link_find(uint16_t handle);
void bh_smp_send(smp_link_t *s, const uint8_t *pdu, size_t len);
void bh_smp_send16(smp_link_t *s, uint8_t code, const uint8_t v[16]);
void bh_smp_report(smp_link_t *s, bool ok, uint16_t status);
void bh_smp_clear(smp_link_t *s);
void bh_smp_fail(smp_link_t *s, uint16_t status, bool tell_peer);
void bh_smp_attempt_over(smp_link_t *s);
bool bh_smp_too_soon(const smp_link_t *s);
void bh_smp_backoff_clear(const smp_link_t *s);
bool bh_smp_weaker_than_bond(uint8_t prior_flags, uint8_t prior_key_size, bool auth, bool sc,
    uint8_t key_size);
void bh_smp_refuse(smp_link_t *s, uint8_t reason);
void bh_smp_reject(smp_link_t *s, uint8_t reason);
void bh_smp_identity_for_pairing(void);

// bh_smp_pair.c: entered from the dispatcher, the encryption events, the
// API and the poll hook.
void bh_smp_start_pairing(smp_link_t *s);
void bh_smp_on_pairing_request(smp_link_t *s, const uint8_t *p, size_t len);
void bh_smp_on_pairing_response(smp_link_t *s, const uint8_t *p, size_t len);
void bh_smp_on_random(smp_link_t *s, const uint8_t *p);
void bh_smp_start_encryption(smp_link_t *s, const uint8_t rand[8], uint16_t ediv, const uint8_t ltk[16]);
void bh_smp_advance(smp_link_t *s);
void bh_smp_kick_p256(void);

// bh_smp_dist.c: entered from the dispatcher and the encryption events.
bool bh_smp_send_keys(smp_link_t *s);
void bh_smp_after_keys(smp_link_t *s);
void bh_smp_on_key_pdu(smp_link_t *s, const uint8_t *p, size_t len);

#endif // BLEHOST_BH_SMP_INT_H
