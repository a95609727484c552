// Bonds: the keys of a bonded peer as one record in the embedding's store
// (bh_evt_get_secret / bh_evt_set_secret in blehost.h), in a byte layout of
// our own that does not depend on the compiler:
//
// sec_type BH_SEC_TYPE_PEER_BOND (2), key 7 octets: the peer's identity
// address type (0 public, 1 random) then its 6 octets most significant first.
// value BH_SMP_BOND_LEN (78) octets:
//   0      format version (1)
//   1      flags: bit 0 authenticated (MITM), bit 1 LE Secure Connections,
//          bit 2 peer IRK present, bit 3 central LTK present, bit 4
//          peripheral LTK present
//   2      key size (7..16)
//   3..9   identity address again (type, 6 octets most significant first)
//   10..25 the peer's IRK, most significant octet first (zeros if none)
//   26..51 central LTK (the key we encrypt with as central): EDIV (2,
//          little-endian), Rand (8) and LTK (16) as HCI carries them
//   52..77 peripheral LTK (the key we give in LTK replies as peripheral),
//          same layout. With Secure Connections both are the one LTK, EDIV
//          and Rand zero.
//
// sec_type BH_SEC_TYPE_PEER_CCCD (3), key as the bond's (7 octets): the
// subscriptions of a bonded client (Core Vol 3 Part G 3.3.3.3: they persist
// across connections). value 1 + 4n octets: format version (1), then for
// each Client Characteristic Configuration descriptor with a non-zero value
// its attribute handle and value (2 octets each, little-endian). No record
// when there are none.
//
// sec_type BH_SEC_TYPE_LOCAL_ID (1), key the one octet 0x00: our own
// identity, so it stays the same across resets. value BH_SMP_LOCAL_ID_LEN
// (24) octets: format version (1), our IRK (16, most significant octet
// first, as config('irk') shows it), identity address type and address (7,
// most significant octet first).
#ifndef BLEHOST_BH_SMP_KEYS_H
#define BLEHOST_BH_SMP_KEYS_H

#include <stdbool.h>
#include <stdint.h>
#include "blehost.h"

#define BH_SMP_BOND_LEN (78)
#define BH_SMP_BOND_KEY_LEN (7)

#define BH_SMP_BOND_AUTH (0x01)
#define BH_SMP_BOND_SC (0x02)
#define BH_SMP_BOND_IRK (0x04)
#define BH_SMP_BOND_LTK_C (0x08)
#define BH_SMP_BOND_LTK_P (0x10)

typedef struct _bh_smp_ltk_t {
    uint16_t ediv;
    uint8_t rand[8];
    uint8_t ltk[16];
} bh_smp_ltk_t;

typedef struct _bh_smp_bond_t {
    bh_addr_t id;     // identity address (val in HCI order)
    uint8_t flags;
    uint8_t key_size;
    uint8_t irk[16];  // most significant octet first (as bh_ah() takes it)
    bh_smp_ltk_t ltk_c;
    bh_smp_ltk_t ltk_p;
} bh_smp_bond_t;

// The bond of the peer at addr: by its address as identity, else (a
// resolvable private address) by resolving it with each stored IRK. Runs
// synchronous upcalls: only from bh_poll() or an API call.
bool bh_smp_bond_find(const bh_addr_t *addr, bh_smp_bond_t *out);

// Store (replace) a bond; true when the store took it.
bool bh_smp_bond_save(const bh_smp_bond_t *bond);

// Our identity: adopt the stored one (true), or store the one in use
// (true when the store took it).
#define BH_SMP_LOCAL_ID_LEN (24)
bool bh_smp_local_id_load(void);
bool bh_smp_local_id_save(void);

// A bonded client's subscriptions (sec_type 3). save: store the link's
// current values under the bond's identity (delete the record when there
// are none); after a new bond and whenever the client changes one.
// restore: give the link the stored values (when it is encrypted with the
// bond), then store the result if it differs.
void bh_smp_cccd_save(uint16_t conn_handle, const bh_addr_t *id);
void bh_smp_cccd_restore(uint16_t conn_handle, const bh_addr_t *id);

// Most records looked at when resolving a private address.
#define BH_SMP_BOND_SCAN_MAX (32)

#endif // BLEHOST_BH_SMP_KEYS_H
