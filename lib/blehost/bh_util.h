// Little-endian field access and UUID widening used by every layer.
#ifndef BLEHOST_BH_UTIL_H
#define BLEHOST_BH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// Milliseconds from then to now on the wrapping tick counter, 0 when then
// is after now: a poll that read the clock before a timestamp was taken
// (by work it ran) must not see almost 2^32 ms gone.
static inline uint32_t bh_elapsed_ms(uint32_t now, uint32_t then) {
    int32_t d = (int32_t)(now - then);
    return d > 0 ? (uint32_t)d : 0;
}

static inline uint16_t bh_get_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline void bh_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

// A 2/4/16-byte little-endian UUID as 128 bits: a 16/32-bit UUID sits at
// bytes 12..15 of the Bluetooth Base UUID. false for another length.
static inline bool bh_uuid_to_128(uint8_t out[16], const uint8_t *uuid, size_t len) {
    static const uint8_t base_uuid[16] = {
        0xfb, 0x34, 0x9b, 0x5f, 0x80, 0x00, 0x00, 0x80, 0x00, 0x10, 0x00, 0x00, 0, 0, 0, 0,
    };
    if (len == 16) {
        memcpy(out, uuid, 16);
        return true;
    }
    if (len != 2 && len != 4) {
        return false;
    }
    memcpy(out, base_uuid, 16);
    memcpy(out + 12, uuid, len);
    return true;
}

#endif // BLEHOST_BH_UTIL_H
