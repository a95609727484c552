// Little-endian field access used by every layer.
#ifndef BLEHOST_BH_UTIL_H
#define BLEHOST_BH_UTIL_H

#include <stdint.h>

static inline uint16_t bh_get_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline void bh_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

#endif // BLEHOST_BH_UTIL_H
