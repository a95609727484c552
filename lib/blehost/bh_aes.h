// AES-128 encryption (FIPS-197) and the Bluetooth security functions built
// on it. Encryption only: the Bluetooth functions never decrypt.
#ifndef BLEHOST_BH_AES_H
#define BLEHOST_BH_AES_H

#include <stdint.h>

// out = AES-128(key, in). Byte order as in FIPS-197 (key[0] and in[0] are
// the first bytes of the key and block), which is also the Core spec's
// most-significant-octet-first notation for e(). out may alias in.
void bh_aes128_encrypt(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]);

// Random address hash ah(k, r) (Core spec Vol 3 Part H 2.2.2). k is the IRK,
// most significant octet first; r and the result are 24-bit values in HCI
// (least significant first) byte order, as they sit in an address.
void bh_ah(const uint8_t irk[16], const uint8_t prand_le[3], uint8_t hash_le[3]);

#endif // BLEHOST_BH_AES_H
