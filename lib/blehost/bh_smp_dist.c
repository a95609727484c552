// Security Manager, after the pairing's encryption: the key distribution
// (our LTK with EDIV and Rand, our IRK and identity address; the peer's
// likewise) and the completion, which stores the bond through bh_smp_keys.c
// when both sides asked for bonding and reports the new security once.
#include <string.h>

#include "bh_addr.h"
#include "bh_conn.h"
#include "bh_smp.h"
#include "bh_smp_crypto.h"
#include "bh_smp_int.h"
#include "bh_smp_keys.h"
#include "bh_util.h"

// ---- key distribution ----

// Send the keys promised in the features; false when one cannot be made
// (no random numbers, no identity): the pairing must then fail, as the
// peer waits for them.
bool bh_smp_send_keys(smp_link_t *s) {
    s->keys_sent = true;
    if (s->local_dist & DIST_ENC) {
        bh_smp_ltk_t *k = &s->bond.ltk_p;
        uint8_t ediv[2];
        if (!bh_smp_random(k->ltk, 16) || !bh_smp_random(k->rand, 8) || !bh_smp_random(ediv, 2)) {
            return false;
        }
        mask_key(k->ltk, s->key_size);
        k->ediv = bh_get_u16(ediv);
        s->bond.flags |= BH_SMP_BOND_LTK_P;
        bh_smp_send16(s, BH_SMP_ENCRYPTION_INFO, k->ltk);
        uint8_t pdu[11];
        pdu[0] = BH_SMP_CENTRAL_IDENT;
        bh_put_u16(pdu + 1, k->ediv);
        memcpy(pdu + 3, k->rand, 8);
        bh_smp_send(s, pdu, sizeof(pdu));
    }
    if (s->local_dist & DIST_ID) {
        uint8_t irk[16], pdu[8];
        bh_addr_t id;
        if (bh_get_irk(irk) != 0 || bh_addr_identity(&id) != 0) {
            return false;
        }
        // bh_get_irk gives it most significant octet first; SMP carries it
        // least significant first.
        uint8_t le[16];
        for (size_t i = 0; i < 16; i++) {
            le[i] = irk[15 - i];
        }
        bh_smp_send16(s, BH_SMP_IDENTITY_INFO, le);
        bh_smp_wipe(irk, sizeof(irk));
        bh_smp_wipe(le, sizeof(le));
        pdu[0] = BH_SMP_IDENTITY_ADDR_INFO;
        pdu[1] = id.type;
        memcpy(pdu + 2, id.val, 6);
        bh_smp_send(s, pdu, sizeof(pdu));
    }
    return true;
}

// The identity a peer gave names a bond of ours that this pairing would
// weaken (a device claiming a bonded peer's identity with less): looked
// up again now the identity is known, as it may differ from the address.
// Asked whenever the pairing bonds, even if the application has turned
// bonding off since the feature exchange (it is stored all the same).
static bool weakens_stored_bond(const smp_link_t *s, bool auth) {
    bh_smp_bond_t old;
    bool weaker = bh_smp_bond_find(&s->bond.id, &old)
        && bh_smp_weaker_than_bond(old.flags, old.key_size, auth, s->sc, s->key_size);
    bh_smp_wipe(&old, sizeof(old));
    return weaker;
}

// An identity address must name a device for good: a public address
// other than zero, or a static random one (two top bits 1, the other 46
// bits neither all 0 nor all 1). A private address is not an identity.
static bool valid_identity(uint8_t type, const uint8_t val[6]) {
    static const uint8_t zero[6];
    if (type == 0) {
        return memcmp(val, zero, 6) != 0;
    }
    if ((val[5] & 0xc0) != 0xc0) {
        return false;
    }
    bool all0 = (val[5] & 0x3f) == 0, all1 = (val[5] & 0x3f) == 0x3f;
    for (size_t i = 0; i < 5; i++) {
        all0 = all0 && val[i] == 0;
        all1 = all1 && val[i] == 0xff;
    }
    return !all0 && !all1;
}

// Pairing complete: store the bond (when both sides bond), then tell the
// application, once.
static void complete(smp_link_t *s) {
    bh_conn_t *c = bh_conn_find(s->handle);
    if (c == NULL) {
        bh_smp_clear(s);
        return;
    }
    bh_smp_bond_t *b = &s->bond;
    b->key_size = s->key_size;
    // The pairing started from no keys (bh_smp_pair.c): these flags and the
    // keys collected describe this pairing alone.
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
    if (s->bonding && weakens_stored_bond(s, c->sec.authenticated)) {
        bh_smp_fail(s, BH_SMP_ERR_AUTH_REQUIREMENTS, true);
        return;
    }
    // Only an authenticated pairing proves the peer knew what it failed
    // before: a Just Works success between guesses must not reset the wait.
    if (c->sec.authenticated) {
        bh_smp_backoff_clear(s);
    }
    bh_smp_attempt_over(s);
    // Without an identity from the peer, its address must be one: a
    // private address (or the all-zero one) names nobody on the next
    // connection, so no bond under it.
    bool identified = (b->flags & BH_SMP_BOND_IRK) || valid_identity(c->peer.type, c->peer.val);
    c->sec.bonded = s->bonding && identified && bh_smp_bond_save(b);
    if (c->sec.bonded) {
        // A new bond starts with the subscriptions the client has now; from
        // here on the peer is known by its identity (the disconnect event).
        c->sec.bond_id = b->id;
        c->id = b->id;
        bh_smp_cccd_save(c->handle, &b->id);
    }
    if (c->sec.bonded && !bh_smp.id_stored) {
        // The identity we just gave the peer must stay ours.
        bh_smp.id_stored = bh_smp_local_id_save();
    }
    bool have = c->sec.bonded;
    bh_smp_bond_t keep = *b;
    bh_smp_clear(s);
    s->have_bond = have;
    if (have) {
        s->bond = keep;
    }
    bh_smp_wipe(&keep, sizeof(keep));
    bh_smp_report(s, true, 0);
    bh_smp_kick_p256();
}

void bh_smp_after_keys(smp_link_t *s) {
    if (s->peer_dist != 0) {
        s->expect = (s->peer_dist & DIST_ENC) ? (s->got_enc_info ? BH_SMP_CENTRAL_IDENT : BH_SMP_ENCRYPTION_INFO)
            : (s->got_id_info ? BH_SMP_IDENTITY_ADDR_INFO : BH_SMP_IDENTITY_INFO);
        return;
    }
    s->expect = 0;
    if (!s->keys_sent && !bh_smp_send_keys(s)) {
        bh_smp_fail(s, BH_SMP_ERR_UNSPECIFIED, true);
        return;
    }
    if (s->fail_pending != 0) {
        return; // a key PDU was not sent: the poll fails the pairing
    }
    complete(s);
}

void bh_smp_on_key_pdu(smp_link_t *s, const uint8_t *p, size_t len) {
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
            if (len != 8 || p[1] > 1 || !valid_identity(p[1], p + 2)) {
                goto bad;
            }
            b->id.type = p[1];
            memcpy(b->id.val, p + 2, 6);
            b->flags |= BH_SMP_BOND_IRK;
            s->peer_dist &= ~DIST_ID;
            break;
    }
    bh_smp_after_keys(s);
    return;
bad:
    bh_smp_fail(s, BH_SMP_ERR_INVALID_PARAMS, true);
}
