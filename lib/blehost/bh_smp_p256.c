// P-256 checks on a peer's public key (see bh_smp_crypto.h): the curve
// equation evaluated in the host, so an invalid-curve key is refused even
// when the controller does not check it. Field elements are eight 32-bit
// limbs, least significant first; multiplication is double-and-add with
// a modular addition per step: slow (about 1000 additions per product) but
// short and obviously correct, and it runs once per pairing.
#include <string.h>

#include "bh_smp_crypto.h"

#define LIMBS (8)

typedef uint32_t fe_t[LIMBS];

// p = 2^256 - 2^224 + 2^192 + 2^96 - 1 and the curve's b.
static const fe_t P = { 0xffffffff, 0xffffffff, 0xffffffff, 0x00000000,
                        0x00000000, 0x00000000, 0x00000001, 0xffffffff };
static const fe_t B = { 0x27d2604b, 0x3bce3c3e, 0xcc53b0f6, 0x651d06b0,
                        0x769886bc, 0xb3ebbd55, 0xaa3a93e7, 0x5ac635d8 };

// The Core's debug public key (Vol 3 Part H 2.3.5.6.1), X then Y, as SMP
// carries it (least significant octet first).
static const uint8_t debug_key[64] = {
    0xe6, 0x9d, 0x35, 0x0e, 0x48, 0x01, 0x03, 0xcc, 0xdb, 0xfd, 0xf4, 0xac, 0x11, 0x91, 0xf4, 0xef,
    0xb9, 0xa5, 0xf9, 0xe9, 0xa7, 0x83, 0x2c, 0x5e, 0x2c, 0xbe, 0x97, 0xf2, 0xd2, 0x03, 0xb0, 0x20,
    0x8b, 0xd2, 0x89, 0x15, 0xd0, 0x8e, 0x1c, 0x74, 0x24, 0x30, 0xed, 0x8f, 0xc2, 0x45, 0x63, 0x76,
    0x5c, 0x15, 0x52, 0x5a, 0xbf, 0x9a, 0x32, 0x63, 0x6d, 0xeb, 0x2a, 0x65, 0x49, 0x9c, 0x80, 0xdc,
};

static void fe_from_le(fe_t r, const uint8_t *b) {
    for (int i = 0; i < LIMBS; i++) {
        r[i] = (uint32_t)b[4 * i] | ((uint32_t)b[4 * i + 1] << 8) | ((uint32_t)b[4 * i + 2] << 16)
            | ((uint32_t)b[4 * i + 3] << 24);
    }
}

// a < P
static bool fe_below_p(const fe_t a) {
    for (int i = LIMBS - 1; i >= 0; i--) {
        if (a[i] != P[i]) {
            return a[i] < P[i];
        }
    }
    return false;
}

// r = a + b mod p, for a, b < p (r may alias either).
static void fe_add(fe_t r, const fe_t a, const fe_t b) {
    uint64_t carry = 0;
    for (int i = 0; i < LIMBS; i++) {
        carry += (uint64_t)a[i] + b[i];
        r[i] = (uint32_t)carry;
        carry >>= 32;
    }
    if (carry || !fe_below_p(r)) {
        uint32_t borrow = 0;
        for (int i = 0; i < LIMBS; i++) {
            uint64_t d = (uint64_t)r[i] - P[i] - borrow;
            r[i] = (uint32_t)d;
            borrow = (uint32_t)(d >> 32) & 1;
        }
    }
}

// r = a * b mod p, for a, b < p (r may alias either).
static void fe_mul(fe_t r, const fe_t a, const fe_t b) {
    fe_t acc = { 0 }, x, y;
    memcpy(x, a, sizeof(x));
    memcpy(y, b, sizeof(y));
    for (int bit = 255; bit >= 0; bit--) {
        fe_add(acc, acc, acc);
        if ((y[bit / 32] >> (bit % 32)) & 1) {
            fe_add(acc, acc, x);
        }
    }
    memcpy(r, acc, sizeof(acc));
}

bool bh_p256_on_curve(const uint8_t pk_le[64]) {
    fe_t x, y;
    fe_from_le(x, pk_le);
    fe_from_le(y, pk_le + 32);
    if (!fe_below_p(x) || !fe_below_p(y)) {
        return false;
    }
    // y^2 + 3x == x^3 + b, which is the curve's equation without a
    // subtraction.
    fe_t lhs, rhs, t;
    fe_mul(lhs, y, y);
    fe_add(t, x, x);
    fe_add(t, t, x);
    fe_add(lhs, lhs, t);
    fe_mul(rhs, x, x);
    fe_mul(rhs, rhs, x);
    fe_add(rhs, rhs, B);
    return memcmp(lhs, rhs, sizeof(lhs)) == 0;
}

bool bh_p256_is_debug_key(const uint8_t pk_le[64]) {
    return memcmp(pk_le, debug_key, sizeof(debug_key)) == 0;
}
