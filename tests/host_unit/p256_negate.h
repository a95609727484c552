// (X, p - Y) of a P-256 public key (X then Y, little-endian, as SMP
// carries it): the same X, so f4 and g2 cannot tell it from the key itself.
// Shared by the Security Manager's unit tests.
#ifndef P256_NEGATE_H
#define P256_NEGATE_H

#include <stddef.h>
#include <stdint.h>

static inline void negate_y(uint8_t pk[64]) {
    static const uint8_t p_le[32] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
                                      0xff, 0xff, 0xff, 0xff };
    unsigned borrow = 0;
    for (size_t i = 0; i < 32; i++) {
        int d = p_le[i] - pk[32 + i] - (int)borrow;
        pk[32 + i] = (uint8_t)d;
        borrow = d < 0;
    }
}

#endif
