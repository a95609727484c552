// Bond records in the embedding's store. See bh_smp_keys.h for the layout.
#include <string.h>

#include "bh_addr.h"
#include "bh_aes.h"
#include "bh_gatts.h"
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

bool bh_smp_bond_find(const bh_addr_t *addr, bh_smp_bond_t *out) {
    uint8_t key[BH_SMP_BOND_KEY_LEN];
    uint8_t v[BH_SMP_BOND_LEN];
    put_addr(key, addr);
    int len = bh_evt_get_secret(BH_SEC_TYPE_PEER_BOND, 0, key, sizeof(key), v, sizeof(v));
    if (len > 0 && decode(out, v, len)) {
        return true;
    }
    if (!bh_addr_is_rpa(addr)) {
        return false;
    }
    for (uint16_t i = 0; i < BH_SMP_BOND_SCAN_MAX; i++) {
        len = bh_evt_get_secret(BH_SEC_TYPE_PEER_BOND, i, NULL, 0, v, sizeof(v));
        if (len < 0) {
            break;
        }
        if (decode(out, v, len) && (out->flags & BH_SMP_BOND_IRK) && bh_addr_resolves(out->irk, addr)) {
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

#define CCCD_VERSION (1)
#define CCCD_RECORD_MAX (1 + 4 * BH_GATTS_MAX_CCCD)

static size_t cccd_encode(uint16_t conn_handle, uint8_t *v) {
    uint16_t handles[BH_GATTS_MAX_CCCD];
    uint16_t values[BH_GATTS_MAX_CCCD];
    size_t n = bh_gatts_cccd_list(conn_handle, handles, values, BH_GATTS_MAX_CCCD);
    v[0] = CCCD_VERSION;
    for (size_t i = 0; i < n; i++) {
        bh_put_u16(v + 1 + 4 * i, handles[i]);
        bh_put_u16(v + 3 + 4 * i, values[i]);
    }
    return 1 + 4 * n;
}

static void cccd_store(const uint8_t *key, const uint8_t *v, size_t len) {
    // Only the version octet: nothing subscribed, no record.
    (void)bh_evt_set_secret(BH_SEC_TYPE_PEER_CCCD, key, BH_SMP_BOND_KEY_LEN, len > 1 ? v : NULL,
        len > 1 ? len : 0);
}

void bh_smp_cccd_save(uint16_t conn_handle, const bh_addr_t *id) {
    uint8_t key[BH_SMP_BOND_KEY_LEN];
    uint8_t v[CCCD_RECORD_MAX];
    put_addr(key, id);
    cccd_store(key, v, cccd_encode(conn_handle, v));
}

void bh_smp_cccd_restore(uint16_t conn_handle, const bh_addr_t *id) {
    uint8_t key[BH_SMP_BOND_KEY_LEN];
    uint8_t stored[CCCD_RECORD_MAX];
    put_addr(key, id);
    int len = bh_evt_get_secret(BH_SEC_TYPE_PEER_CCCD, 0, key, sizeof(key), stored, sizeof(stored));
    // A record of another layout (or none) restores nothing.
    if (len > 0 && (size_t)len <= sizeof(stored) && stored[0] == CCCD_VERSION && (len - 1) % 4 == 0) {
        for (int i = 1; i < len; i += 4) {
            (void)bh_gatts_cccd_restore(conn_handle, bh_get_u16(stored + i), bh_get_u16(stored + i + 2));
        }
    }
    uint8_t now[CCCD_RECORD_MAX];
    size_t n = cccd_encode(conn_handle, now);
    bool had = len > 1;
    if ((n > 1 || had) && ((size_t)len != n || memcmp(stored, now, n) != 0)) {
        cccd_store(key, now, n);
    }
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
