// The Security Manager's cryptographic toolbox: AES-CMAC (RFC 4493) and the
// security functions of the Core spec, Vol 3 Part H 2.2 (legacy pairing c1
// and s1, LE Secure Connections f4, f5, f6, g2, and the key conversion
// functions h6 and h7), all built on bh_aes128_encrypt().
//
// Byte order. The Core spec writes every value most significant octet first;
// SMP PDUs and HCI commands carry them least significant octet first. The
// functions below take and give every Bluetooth value in that transmitted
// order, least significant octet first (parameters named *_le), so values go
// between PDUs, HCI events and these functions without reordering: the public
// key X coordinates and the DHKey exactly as LE Read Local P-256 Public Key
// and LE Generate DHKey Complete report them, the nonces and confirm/check
// values as Pairing Random, Pairing Confirm and Pairing DHKey Check carry
// them, the LTK as LE Enable Encryption takes it. This is the order of
// bh_ah()'s prand_le and hash_le. (bh_ah()'s IRK, like bh_aes128_encrypt()'s
// key, is most significant octet first: reverse an IRK received in an
// Identity Information PDU before handing it to bh_ah().)
// Addresses are bh_addr_t (val in HCI order, see blehost.h); only bit 0 of
// the type is used (0 public, 1 random), as the functions define it.
//
// bh_aes_cmac() alone works on plain octet strings, in RFC 4493's order
// (key[0] and msg[0] first), like bh_aes128_encrypt().
//
// Every output may alias any input. Intermediate values live on the stack and
// are cleared before the functions return. Cost: one AES block per 16 octets
// of message (at least one) plus one for the subkeys: c1 2, s1 1, f4 6,
// f5 13, f6 6, g2 6, h6 2, h7 2 AES blocks.
#ifndef BLEHOST_BH_SMP_CRYPTO_H
#define BLEHOST_BH_SMP_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blehost.h"

// mac = AES-CMAC(key, msg[0..len)), RFC 4493, full 128-bit tag. msg may be
// NULL when len is 0.
void bh_aes_cmac(const uint8_t key[16], const uint8_t *msg, size_t len, uint8_t mac[16]);

// Legacy pairing confirm value (2.2.3): c1(k, r, preq, pres, iat, ia, rat, ra).
// k is the TK, r Mrand or Srand. preq and pres are the 7-octet Pairing
// Request and Pairing Response PDUs exactly as sent (command code first),
// which is their least-significant-first form. ia/ra: initiating and
// responding device addresses as used on the link.
void bh_smp_c1(const uint8_t k_le[16], const uint8_t r_le[16],
    const uint8_t preq[7], const uint8_t pres[7],
    const bh_addr_t *ia, const bh_addr_t *ra, uint8_t confirm_le[16]);

// Legacy pairing STK (2.2.4): s1(k, r1, r2) with r1 = Srand, r2 = Mrand.
void bh_smp_s1(const uint8_t k_le[16], const uint8_t r1_le[16], const uint8_t r2_le[16],
    uint8_t stk_le[16]);

// LE Secure Connections confirm value (2.2.6): f4(U, V, X, Z). U, V: public
// key X coordinates (32 octets), X: the nonce (key of the CMAC), Z: 0 for
// Just Works / Numeric Comparison / OOB, 0x80 | passkey bit otherwise.
void bh_smp_f4(const uint8_t u_le[32], const uint8_t v_le[32], const uint8_t x_le[16],
    uint8_t z, uint8_t confirm_le[16]);

// LE Secure Connections key generation (2.2.7): f5(W, N1, N2, A1, A2) gives
// MacKey (counter 0) and LTK (counter 1). W is the 32-octet DHKey, N1/N2
// the initiator's and responder's nonces, a1/a2 their addresses.
void bh_smp_f5(const uint8_t w_le[32], const uint8_t n1_le[16], const uint8_t n2_le[16],
    const bh_addr_t *a1, const bh_addr_t *a2, uint8_t mackey_le[16], uint8_t ltk_le[16]);

// LE Secure Connections check value (2.2.8): f6(W, N1, N2, R, IOcap, A1, A2).
// W is MacKey. iocap_le is the 3 octets IO Capability, OOB data flag,
// AuthReq as they follow the code in a Pairing Request/Response PDU (so
// &preq[1] or &pres[1]); the spec's IOcap = AuthReq || OOB || IO capability.
void bh_smp_f6(const uint8_t w_le[16], const uint8_t n1_le[16], const uint8_t n2_le[16],
    const uint8_t r_le[16], const uint8_t iocap_le[3],
    const bh_addr_t *a1, const bh_addr_t *a2, uint8_t check_le[16]);

// LE Secure Connections numeric comparison value (2.2.9): g2(U, V, X, Y),
// the low 32 bits of the CMAC. The six digits to display are g2 % 1000000.
uint32_t bh_smp_g2(const uint8_t u_le[32], const uint8_t v_le[32], const uint8_t x_le[16],
    const uint8_t y_le[16]);

// Link key conversion h6(W, keyID) (2.2.10). key_id as the spec writes it,
// e.g. 0x6c656272 for "lebr".
void bh_smp_h6(const uint8_t w_le[16], uint32_t key_id, uint8_t out_le[16]);

// Link key conversion h7(SALT, W) (2.2.11).
void bh_smp_h7(const uint8_t salt_le[16], const uint8_t w_le[16], uint8_t out_le[16]);

// ---- checks on received values, and key hygiene ----

// True when a and b (n octets) are equal; the time taken does not depend on
// where they differ (confirm and check values, which an attacker probes).
bool bh_smp_equal(const void *a, const void *b, size_t n);

// Clear memory that held key material with stores the compiler cannot
// remove as it may a memset() of a buffer about to go out of scope.
void bh_smp_wipe(void *buf, size_t len);

// A P-256 public key as SMP and HCI carry it (X then Y, 32 octets each,
// least significant octet first): true when it is a point of the curve,
// y^2 = x^3 - 3x + b (mod p) with both coordinates below p (the point at
// infinity has no such form). A peer's key off the curve is the
// invalid-curve attack (CVE-2018-5383) that pre-2018 controllers let
// through.
bool bh_p256_on_curve(const uint8_t pk_le[64]);

// True for the Core's debug public key (Vol 3 Part H 2.3.5.6.1), whose
// private key is published: a pairing with it is no secret.
bool bh_p256_is_debug_key(const uint8_t pk_le[64]);

#endif // BLEHOST_BH_SMP_CRYPTO_H
