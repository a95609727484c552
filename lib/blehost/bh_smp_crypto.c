// AES-CMAC and the Security Manager's security functions. See bh_smp_crypto.h.
//
// Internally everything is in the Core spec's notation, most significant
// octet first, which is also the octet order AES and CMAC work in: each
// function turns its (least-significant-first) arguments round into a
// message buffer on the stack, runs CMAC or AES, and turns the result back.
#include <string.h>

#include "bh_aes.h"
#include "bh_smp_crypto.h"

// Clear a buffer that held key material; the volatile writes are not
// optimised away as a memset() before return may be.
void bh_smp_wipe(void *buf, size_t len) {
    volatile uint8_t *p = buf;
    while (len--) {
        *p++ = 0;
    }
}

#define wipe bh_smp_wipe

bool bh_smp_equal(const void *a, const void *b, size_t n) {
    const volatile uint8_t *x = a, *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++) {
        diff |= x[i] ^ y[i];
    }
    return diff == 0;
}

static void xor16(uint8_t *dst, const uint8_t *src) {
    for (int i = 0; i < 16; i++) {
        dst[i] ^= src[i];
    }
}

// Copy n octets in reverse order; returns the end of what was written.
static uint8_t *put_rev(uint8_t *dst, const uint8_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[n - 1 - i];
    }
    return dst + n;
}

// A1/A2 of f5 and f6: the address type octet, then the 48-bit address, most
// significant octet first (7 octets).
static uint8_t *put_addr(uint8_t *dst, const bh_addr_t *addr) {
    dst[0] = addr->type & 1;
    return put_rev(dst + 1, addr->val, 6);
}

// Multiply by x in GF(2^128) (RFC 4493 2.3): shift the 128-bit value left by
// one bit and fold the bit shifted out back in with R_128 = 0x87.
static void gf128_double(uint8_t b[16]) {
    uint8_t carry = b[0] >> 7;
    for (int i = 0; i < 15; i++) {
        b[i] = (uint8_t)((b[i] << 1) | (b[i + 1] >> 7));
    }
    b[15] = (uint8_t)((b[15] << 1) ^ (carry ? 0x87 : 0x00));
}

void bh_aes_cmac(const uint8_t key[16], const uint8_t *msg, size_t len, uint8_t mac[16]) {
    uint8_t subkey[16] = { 0 };
    uint8_t x[16] = { 0 };
    // K1 = double(AES(K, 0)).
    bh_aes128_encrypt(key, subkey, subkey);
    gf128_double(subkey);
    // Every block but the last goes through the CBC chain as it is.
    while (len > 16) {
        xor16(x, msg);
        bh_aes128_encrypt(key, x, x);
        msg += 16;
        len -= 16;
    }
    // The last block: complete (16 octets) is masked with K1; incomplete
    // (0-15 octets, the empty message included) is padded with 10..0 and
    // masked with K2 = double(K1).
    if (len == 16) {
        xor16(x, msg);
    } else {
        gf128_double(subkey);
        for (size_t i = 0; i < len; i++) {
            x[i] ^= msg[i];
        }
        x[len] ^= 0x80;
    }
    xor16(x, subkey);
    bh_aes128_encrypt(key, x, mac);
    wipe(subkey, sizeof(subkey));
    wipe(x, sizeof(x));
}

// out_le = e(k, in) with key, input and output least significant octet first.
static void e_le(const uint8_t k_le[16], const uint8_t in_le[16], uint8_t out_le[16]) {
    uint8_t key[16];
    uint8_t block[16];
    put_rev(key, k_le, 16);
    put_rev(block, in_le, 16);
    bh_aes128_encrypt(key, block, block);
    put_rev(out_le, block, 16);
    wipe(key, sizeof(key));
    wipe(block, sizeof(block));
}

// out_le = AES-CMAC(key, msg) with the key and the tag least significant
// octet first and msg already in the spec's order.
static void cmac_le(const uint8_t key_le[16], const uint8_t *msg, size_t len, uint8_t out_le[16]) {
    uint8_t key[16];
    uint8_t mac[16];
    put_rev(key, key_le, 16);
    bh_aes_cmac(key, msg, len, mac);
    put_rev(out_le, mac, 16);
    wipe(key, sizeof(key));
    wipe(mac, sizeof(mac));
}

void bh_smp_c1(const uint8_t k_le[16], const uint8_t r_le[16],
    const uint8_t preq[7], const uint8_t pres[7],
    const bh_addr_t *ia, const bh_addr_t *ra, uint8_t confirm_le[16]) {
    // p1 = pres || preq || rat' || iat', so least significant first: iat',
    // rat', then the two PDUs as sent.
    uint8_t p[16];
    p[0] = ia->type & 1;
    p[1] = ra->type & 1;
    memcpy(p + 2, preq, 7);
    memcpy(p + 9, pres, 7);
    xor16(p, r_le);
    e_le(k_le, p, p);
    // p2 = padding (32 zero bits) || ia || ra: least significant first ra,
    // ia, then the padding.
    uint8_t p2[16] = { 0 };
    memcpy(p2, ra->val, 6);
    memcpy(p2 + 6, ia->val, 6);
    xor16(p, p2);
    e_le(k_le, p, confirm_le);
    wipe(p, sizeof(p));
}

void bh_smp_s1(const uint8_t k_le[16], const uint8_t r1_le[16], const uint8_t r2_le[16],
    uint8_t stk_le[16]) {
    // r' = r1' || r2', the least significant 64 bits of each: r2's low half
    // is the low half of r'.
    uint8_t r[16];
    memcpy(r, r2_le, 8);
    memcpy(r + 8, r1_le, 8);
    e_le(k_le, r, stk_le);
    wipe(r, sizeof(r));
}

void bh_smp_f4(const uint8_t u_le[32], const uint8_t v_le[32], const uint8_t x_le[16],
    uint8_t z, uint8_t confirm_le[16]) {
    uint8_t m[32 + 32 + 1];
    uint8_t *p = put_rev(m, u_le, 32);
    p = put_rev(p, v_le, 32);
    *p = z;
    cmac_le(x_le, m, sizeof(m), confirm_le);
    wipe(m, sizeof(m));
}

void bh_smp_f5(const uint8_t w_le[32], const uint8_t n1_le[16], const uint8_t n2_le[16],
    const bh_addr_t *a1, const bh_addr_t *a2, uint8_t mackey_le[16], uint8_t ltk_le[16]) {
    static const uint8_t salt[16] = {
        0x6c, 0x88, 0x83, 0x91, 0xaa, 0xf5, 0xa5, 0x38,
        0x60, 0x37, 0x0b, 0xdb, 0x5a, 0x60, 0x83, 0xbe,
    };
    // Counter (1) || keyID "btle" (4) || N1 (16) || N2 (16) || A1 (7) ||
    // A2 (7) || Length = 256 (2).
    uint8_t m[1 + 4 + 16 + 16 + 7 + 7 + 2];
    uint8_t t[16];
    uint8_t mackey[16];
    uint8_t ltk[16];
    // T = AES-CMAC(SALT, W); m holds W meanwhile.
    put_rev(m, w_le, 32);
    bh_aes_cmac(salt, m, 32, t);
    m[0] = 0;
    m[1] = 0x62;
    m[2] = 0x74;
    m[3] = 0x6c;
    m[4] = 0x65;
    uint8_t *p = put_rev(m + 5, n1_le, 16);
    p = put_rev(p, n2_le, 16);
    p = put_addr(p, a1);
    p = put_addr(p, a2);
    p[0] = 0x01;
    p[1] = 0x00;
    bh_aes_cmac(t, m, sizeof(m), mackey);
    m[0] = 1;
    bh_aes_cmac(t, m, sizeof(m), ltk);
    // Outputs last: they may alias the inputs.
    put_rev(mackey_le, mackey, 16);
    put_rev(ltk_le, ltk, 16);
    wipe(m, sizeof(m));
    wipe(t, sizeof(t));
    wipe(mackey, sizeof(mackey));
    wipe(ltk, sizeof(ltk));
}

void bh_smp_f6(const uint8_t w_le[16], const uint8_t n1_le[16], const uint8_t n2_le[16],
    const uint8_t r_le[16], const uint8_t iocap_le[3],
    const bh_addr_t *a1, const bh_addr_t *a2, uint8_t check_le[16]) {
    // N1 || N2 || R || IOcap || A1 || A2.
    uint8_t m[16 + 16 + 16 + 3 + 7 + 7];
    uint8_t *p = put_rev(m, n1_le, 16);
    p = put_rev(p, n2_le, 16);
    p = put_rev(p, r_le, 16);
    p = put_rev(p, iocap_le, 3);
    p = put_addr(p, a1);
    put_addr(p, a2);
    cmac_le(w_le, m, sizeof(m), check_le);
    wipe(m, sizeof(m));
}

uint32_t bh_smp_g2(const uint8_t u_le[32], const uint8_t v_le[32], const uint8_t x_le[16],
    const uint8_t y_le[16]) {
    uint8_t m[32 + 32 + 16];
    uint8_t out_le[16];
    uint8_t *p = put_rev(m, u_le, 32);
    p = put_rev(p, v_le, 32);
    put_rev(p, y_le, 16);
    cmac_le(x_le, m, sizeof(m), out_le);
    uint32_t g = (uint32_t)out_le[0] | ((uint32_t)out_le[1] << 8)
        | ((uint32_t)out_le[2] << 16) | ((uint32_t)out_le[3] << 24);
    wipe(m, sizeof(m));
    wipe(out_le, sizeof(out_le));
    return g;
}

void bh_smp_h6(const uint8_t w_le[16], uint32_t key_id, uint8_t out_le[16]) {
    uint8_t m[4] = {
        (uint8_t)(key_id >> 24), (uint8_t)(key_id >> 16), (uint8_t)(key_id >> 8), (uint8_t)key_id,
    };
    cmac_le(w_le, m, sizeof(m), out_le);
}

void bh_smp_h7(const uint8_t salt_le[16], const uint8_t w_le[16], uint8_t out_le[16]) {
    uint8_t m[16];
    put_rev(m, w_le, 16);
    cmac_le(salt_le, m, sizeof(m), out_le);
    wipe(m, sizeof(m));
}
