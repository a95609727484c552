// Bond records in the embedding's store. See bh_smp_keys.h for the layout.
#include <string.h>

#include "bh_addr.h"
#include "bh_aes.h"
#include "bh_smp_keys.h"
#include "bh_util.h"

#define BOND_VERSION (1)

static void put_addr(uint8_t *p, const bh_addr_t *a) {
    p[0] = a->type & 1;
    for (size_t i = 0; i < 6; i++) {
        p[1 + i] = a->val[5 - i];
    }
}

static void get_addr(bh_addr_t *a, const uint8_t *p) {
    a->type = p[0] & 1;
    for (size_t i = 0; i < 6; i++) {
        a->val[i] = p[6 - i];
    }
}

static void put_ltk(uint8_t *p, const bh_smp_ltk_t *k) {
    bh_put_u16(p, k->ediv);
    memcpy(p + 2, k->rand, 8);
    memcpy(p + 10, k->ltk, 16);
}

static void get_ltk(bh_smp_ltk_t *k, const uint8_t *p) {
    k->ediv = bh_get_u16(p);
    memcpy(k->rand, p + 2, 8);
    memcpy(k->ltk, p + 10, 16);
}

static bool decode(bh_smp_bond_t *b, const uint8_t *v, int len) {
    if (len != BH_SMP_BOND_LEN || v[0] != BOND_VERSION || v[2] < 7 || v[2] > 16) {
        return false;
    }
    b->flags = v[1];
    b->key_size = v[2];
    get_addr(&b->id, v + 3);
    memcpy(b->irk, v + 10, 16);
    get_ltk(&b->ltk_c, v + 26);
    get_ltk(&b->ltk_p, v + 52);
    return true;
}

static bool resolves(const uint8_t irk[16], const bh_addr_t *addr) {
    // A resolvable private address: random, top two bits 01; hash in the
    // low 24 bits, prand in the high 24 (HCI order: val[0..2] hash).
    if (addr->type != BH_ADDR_TYPE_RANDOM || (addr->val[5] & 0xc0) != 0x40) {
        return false;
    }
    uint8_t hash[3];
    bh_ah(irk, addr->val + 3, hash);
    return memcmp(hash, addr->val, 3) == 0;
}

bool bh_smp_bond_find(const bh_addr_t *addr, bh_smp_bond_t *out) {
    uint8_t key[BH_SMP_BOND_KEY_LEN];
    uint8_t v[BH_SMP_BOND_LEN];
    put_addr(key, addr);
    int len = bh_evt_get_secret(BH_SEC_TYPE_PEER_BOND, 0, key, sizeof(key), v, sizeof(v));
    if (len > 0 && decode(out, v, len)) {
        return true;
    }
    if (addr->type != BH_ADDR_TYPE_RANDOM || (addr->val[5] & 0xc0) != 0x40) {
        return false;
    }
    for (uint16_t i = 0; i < BH_SMP_BOND_SCAN_MAX; i++) {
        len = bh_evt_get_secret(BH_SEC_TYPE_PEER_BOND, i, NULL, 0, v, sizeof(v));
        if (len < 0) {
            break;
        }
        if (decode(out, v, len) && (out->flags & BH_SMP_BOND_IRK) && resolves(out->irk, addr)) {
            return true;
        }
    }
    return false;
}

bool bh_smp_bond_save(const bh_smp_bond_t *b) {
    uint8_t key[BH_SMP_BOND_KEY_LEN];
    uint8_t v[BH_SMP_BOND_LEN];
    put_addr(key, &b->id);
    v[0] = BOND_VERSION;
    v[1] = b->flags;
    v[2] = b->key_size;
    put_addr(v + 3, &b->id);
    memcpy(v + 10, b->irk, 16);
    put_ltk(v + 26, &b->ltk_c);
    put_ltk(v + 52, &b->ltk_p);
    return bh_evt_set_secret(BH_SEC_TYPE_PEER_BOND, key, sizeof(key), v, sizeof(v));
}

static const uint8_t local_id_key[1] = { 0x00 };

bool bh_smp_local_id_load(void) {
    uint8_t v[BH_SMP_LOCAL_ID_LEN];
    int len = bh_evt_get_secret(BH_SEC_TYPE_LOCAL_ID, 0, local_id_key, sizeof(local_id_key), v, sizeof(v));
    if (len != BH_SMP_LOCAL_ID_LEN || v[0] != BOND_VERSION) {
        return false;
    }
    bh_addr_t id;
    get_addr(&id, v + 17);
    bh_addr_set_identity(v + 1, &id);
    return true;
}

bool bh_smp_local_id_save(void) {
    uint8_t v[BH_SMP_LOCAL_ID_LEN];
    bh_addr_t id;
    if (bh_get_irk(v + 1) != 0 || bh_addr_identity(&id) != 0) {
        return false;
    }
    v[0] = BOND_VERSION;
    put_addr(v + 17, &id);
    return bh_evt_set_secret(BH_SEC_TYPE_LOCAL_ID, local_id_key, sizeof(local_id_key), v, sizeof(v));
}
