// Unit tests of the SMP crypto toolbox (bh_smp_crypto.c) on its own: AES-CMAC
// against RFC 4493's examples, the security functions against the Core spec's
// sample data (Vol 3 Part H 2.2.3, 2.2.4 and Appendix D).
//
//   test_smp_crypto                  run the tests
//   test_smp_crypto FUNC HEX...      print FUNC of the arguments, for the
//                                    oracle test against bumble
//                                    (test_smp_crypto_oracle.py):
//     cmac KEY MSG                   RFC 4493 order in and out (MSG may be "")
//     c1 K R PREQ PRES IA RA         every other value least significant
//     s1 K R1 R2                     octet first (as bumble.crypto takes
//     f4 U V X Z                     them); an address is 7 octets: the
//     f5 W N1 N2 A1 A2               6-octet address then its type;
//     f6 W N1 N2 R IOCAP A1 A2       f5 prints "MACKEY LTK", g2 the 32-bit
//     g2 U V X Y                     value as 8 hex digits
//     h6 W KEYID                     (KEYID most significant first)
//     h7 SALT W
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bh_smp_crypto.h"
#include "check.h"
#include "p256_negate.h"

// A value as the Core spec writes it (most significant octet first), stored
// least significant octet first as the API takes it.
static void spec(const char *s, uint8_t *out, size_t n) {
    from_hex(s, out, n);
    for (size_t i = 0; i < n / 2; i++) {
        uint8_t t = out[i];
        out[i] = out[n - 1 - i];
        out[n - 1 - i] = t;
    }
}

// An address as the spec writes A1/A2: type octet, then the address.
static bh_addr_t spec_addr(const char *s) {
    uint8_t a[7];
    from_hex(s, a, 7);
    bh_addr_t addr = { .type = a[0] };
    for (int i = 0; i < 6; i++) {
        addr.val[i] = a[6 - i];
    }
    return addr;
}

// ---- AES-CMAC ----

static const char rfc_key[] = "2b7e151628aed2a6abf7158809cf4f3c";
static const char rfc_msg[] =
    "6bc1bee22e409f96e93d7e117393172a"
    "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef"
    "f69f2445df4f9b17ad2b417be66c3710";

// CMAC of the first len octets of RFC 4493's message, read from a heap
// buffer of exactly len octets (ASan catches a read past the end).
static void cmac_prefix(size_t len, uint8_t mac[16]) {
    uint8_t key[16], msg[64];
    from_hex(rfc_key, key, 16);
    from_hex(rfc_msg, msg, 64);
    uint8_t *exact = NULL;
    if (len > 0) {
        exact = malloc(len);
        CHECK(exact != NULL);
        memcpy(exact, msg, len);
    }
    bh_aes_cmac(key, exact, len, mac);
    free(exact);
}

static void check_cmac_prefix(size_t len, const char *expected_hex) {
    uint8_t mac[16], expected[16];
    from_hex(expected_hex, expected, 16);
    cmac_prefix(len, mac);
    if (memcmp(mac, expected, 16) != 0) {
        fprintf(stderr, "CMAC of %zu octets differs\n", len);
    }
    CHECK_MEM(mac, expected, 16);
}

// RFC 4493 section 4, examples 1-4.
static void test_cmac_rfc4493(void) {
    check_cmac_prefix(0, "bb1d6929e95937287fa37d129b756746");
    check_cmac_prefix(16, "070a16b46b4d4144f79bdd9dd04a287c");
    check_cmac_prefix(40, "dfa66747de9ae63030ca32611497c827");
    check_cmac_prefix(64, "51f0bebf7e3b9d92fc49741779363cfe");
}

// The lengths around the block boundary: padding (1, 15, 17, 33) and
// complete last blocks (16, 32). Expected tags computed with an independent
// implementation (pyca/cryptography's CMAC, which bumble uses), same key and
// message prefix as RFC 4493.
static void test_cmac_edge_lengths(void) {
    check_cmac_prefix(1, "8e48c3c1d9f1c17c295c7aefd232bb14");
    check_cmac_prefix(15, "f212d4c2154c8766de60c18c98fa0c93");
    check_cmac_prefix(17, "bc72cc168ec5a1434dcdb20bc1a2c2a4");
    check_cmac_prefix(32, "ce0cbf1738f4df6428b1d93bf12081c9");
    check_cmac_prefix(33, "cb8006fd4b9a8313333943ad6eb92797");
}

// The empty message with a pointer equals it with NULL; a message and the
// same message padded by hand (15 octets || 0x80) have different tags (K1 vs
// K2); a change of one bit in any octet of a 17-octet message changes the
// tag; the tag may be written over the message.
static void test_cmac_properties(void) {
    uint8_t key[16], msg[64], a[16], b[16];
    from_hex(rfc_key, key, 16);
    from_hex(rfc_msg, msg, 64);
    bh_aes_cmac(key, NULL, 0, a);
    bh_aes_cmac(key, msg, 0, b);
    CHECK_MEM(a, b, 16);

    uint8_t padded[16];
    memcpy(padded, msg, 15);
    padded[15] = 0x80;
    bh_aes_cmac(key, msg, 15, a);
    bh_aes_cmac(key, padded, 16, b);
    CHECK(memcmp(a, b, 16) != 0);

    uint8_t ref[16];
    bh_aes_cmac(key, msg, 17, ref);
    for (int i = 0; i < 17; i++) {
        msg[i] ^= 0x01;
        bh_aes_cmac(key, msg, 17, a);
        CHECK(memcmp(a, ref, 16) != 0);
        msg[i] ^= 0x01;
    }
    // A different key gives a different tag.
    key[15] ^= 0x80;
    bh_aes_cmac(key, msg, 17, a);
    CHECK(memcmp(a, ref, 16) != 0);
    key[15] ^= 0x80;

    uint8_t in_place[17];
    memcpy(in_place, msg, 17);
    bh_aes_cmac(key, in_place, 17, in_place);
    CHECK_MEM(in_place, ref, 16);
}

// ---- legacy pairing: c1 and s1 (2.2.3, 2.2.4 examples) ----

static void c1_sample_inputs(uint8_t k[16], uint8_t r[16], uint8_t preq[7], uint8_t pres[7],
    bh_addr_t *ia, bh_addr_t *ra) {
    memset(k, 0, 16);
    spec("5783d52156ad6f0e6388274ec6702ee0", r, 16);
    // preq = 0x07071000000101 and pres = 0x05000800000302 in the spec's
    // notation: least significant octet first they are the PDUs as sent,
    // code (0x01 / 0x02) first.
    spec("07071000000101", preq, 7);
    spec("05000800000302", pres, 7);
    *ia = spec_addr("01a1a2a3a4a5a6");
    *ra = spec_addr("00b1b2b3b4b5b6");
}

static void test_c1_sample(void) {
    uint8_t k[16], r[16], preq[7], pres[7], out[16], expected[16];
    bh_addr_t ia, ra;
    c1_sample_inputs(k, r, preq, pres, &ia, &ra);
    CHECK_EQ(preq[0], 0x01);
    CHECK_EQ(pres[0], 0x02);
    bh_smp_c1(k, r, preq, pres, &ia, &ra, out);
    spec("1e1e3fef878988ead2a74dc5bef13b86", expected, 16);
    CHECK_MEM(out, expected, 16);

    // Every input counts: the address types (bit 0 only), each address, r.
    ia.type = 0;
    bh_smp_c1(k, r, preq, pres, &ia, &ra, out);
    CHECK(memcmp(out, expected, 16) != 0);
    ia.type = 3;
    bh_smp_c1(k, r, preq, pres, &ia, &ra, out);
    CHECK_MEM(out, expected, 16);
    ia.type = 1;
    ra.val[5] ^= 1;
    bh_smp_c1(k, r, preq, pres, &ia, &ra, out);
    CHECK(memcmp(out, expected, 16) != 0);
    ra.val[5] ^= 1;
    ia.val[0] ^= 1;
    bh_smp_c1(k, r, preq, pres, &ia, &ra, out);
    CHECK(memcmp(out, expected, 16) != 0);
    ia.val[0] ^= 1;
    pres[6] ^= 1;
    bh_smp_c1(k, r, preq, pres, &ia, &ra, out);
    CHECK(memcmp(out, expected, 16) != 0);
    pres[6] ^= 1;

    // The confirm value may be written over r (or k).
    bh_smp_c1(k, r, preq, pres, &ia, &ra, r);
    CHECK_MEM(r, expected, 16);
    c1_sample_inputs(k, r, preq, pres, &ia, &ra);
    bh_smp_c1(k, r, preq, pres, &ia, &ra, k);
    CHECK_MEM(k, expected, 16);
}

static void test_s1_sample(void) {
    uint8_t k[16] = { 0 }, r1[16], r2[16], out[16], expected[16];
    spec("000f0e0d0c0b0a091122334455667788", r1, 16);
    spec("010203040506070899aabbccddeeff00", r2, 16);
    spec("9a1fe1f0e8b0f49b5b4216ae796da062", expected, 16);
    bh_smp_s1(k, r1, r2, out);
    CHECK_MEM(out, expected, 16);
    // Only the low 64 bits of r1 and r2 count, and their order does.
    r1[15] ^= 0xff;
    r2[8] ^= 0xff;
    bh_smp_s1(k, r1, r2, out);
    CHECK_MEM(out, expected, 16);
    bh_smp_s1(k, r2, r1, out);
    CHECK(memcmp(out, expected, 16) != 0);
    bh_smp_s1(k, r1, r2, r1);
    CHECK_MEM(r1, expected, 16);
}

// ---- LE Secure Connections (Appendix D.2-D.7) ----

static const char sample_u[] = "20b003d2f297be2c5e2c83a7e9f9a5b9eff49111acf4fddbcc0301480e359de6";
static const char sample_v[] = "55188b3d32f6bb9a900afcfbeed4e72a59cb9ac2f19d7cfb6b4fdd49f47fc5fd";
static const char sample_w[] = "ec0234a357c8ad05341010a60a397d9b99796b13b4f866f1868d34f373bfa698";
static const char sample_n1[] = "d5cb8454d177733effffb2ec712baeab";
static const char sample_n2[] = "a6e8e7cc25a75f6e216583f7ff3dc4cf";
static const char sample_a1[] = "0056123737bfce";
static const char sample_a2[] = "00a713702dcfc1";
static const char sample_mackey[] = "2965f176a1084a02fd3f6a20ce636e20";
static const char sample_ltk[] = "6986791169d7cd23980522b594750a38";

static void test_f4_sample(void) {
    uint8_t u[32], v[32], x[16], out[16], expected[16];
    spec(sample_u, u, 32);
    spec(sample_v, v, 32);
    spec(sample_n1, x, 16);
    spec("f2c916f107a9bd1cf1eda1bea974872d", expected, 16);
    bh_smp_f4(u, v, x, 0, out);
    CHECK_MEM(out, expected, 16);
    // Z counts (passkey entry uses 0x80 and 0x81).
    bh_smp_f4(u, v, x, 0x81, out);
    CHECK(memcmp(out, expected, 16) != 0);
    // U and V are not interchangeable.
    bh_smp_f4(v, u, x, 0, out);
    CHECK(memcmp(out, expected, 16) != 0);
    // Output over the key.
    bh_smp_f4(u, v, x, 0, x);
    CHECK_MEM(x, expected, 16);
}

static void test_f5_sample(void) {
    uint8_t w[32], n1[16], n2[16], mackey[16], ltk[16], exp_mackey[16], exp_ltk[16];
    spec(sample_w, w, 32);
    spec(sample_n1, n1, 16);
    spec(sample_n2, n2, 16);
    bh_addr_t a1 = spec_addr(sample_a1);
    bh_addr_t a2 = spec_addr(sample_a2);
    spec(sample_mackey, exp_mackey, 16);
    spec(sample_ltk, exp_ltk, 16);
    bh_smp_f5(w, n1, n2, &a1, &a2, mackey, ltk);
    CHECK_MEM(mackey, exp_mackey, 16);
    CHECK_MEM(ltk, exp_ltk, 16);

    // The address type counts.
    a2.type = BH_ADDR_TYPE_RANDOM;
    bh_smp_f5(w, n1, n2, &a1, &a2, mackey, ltk);
    CHECK(memcmp(mackey, exp_mackey, 16) != 0);
    CHECK(memcmp(ltk, exp_ltk, 16) != 0);
    a2.type = BH_ADDR_TYPE_PUBLIC;

    // Outputs over the inputs: MacKey over N1, LTK over N2.
    bh_smp_f5(w, n1, n2, &a1, &a2, n1, n2);
    CHECK_MEM(n1, exp_mackey, 16);
    CHECK_MEM(n2, exp_ltk, 16);
}

static void test_f6_sample(void) {
    uint8_t w[16], n1[16], n2[16], r[16], iocap[3], out[16], expected[16];
    spec(sample_mackey, w, 16);
    spec(sample_n1, n1, 16);
    spec(sample_n2, n2, 16);
    spec("12a3343bb453bb5408da42d20c2d0fc8", r, 16);
    // IOcap = AuthReq || OOB || IO capability = 0x010102: least significant
    // first, the three octets as they follow the code in a Pairing Request.
    spec("010102", iocap, 3);
    CHECK_EQ(iocap[0], 0x02);
    bh_addr_t a1 = spec_addr(sample_a1);
    bh_addr_t a2 = spec_addr(sample_a2);
    spec("e3c473989cd0e8c5d26c0b09da958f61", expected, 16);
    bh_smp_f6(w, n1, n2, r, iocap, &a1, &a2, out);
    CHECK_MEM(out, expected, 16);
    // The two addresses are not interchangeable.
    bh_smp_f6(w, n1, n2, r, iocap, &a2, &a1, out);
    CHECK(memcmp(out, expected, 16) != 0);
    bh_smp_f6(w, n1, n2, r, iocap, &a1, &a2, w);
    CHECK_MEM(w, expected, 16);
}

static void test_g2_sample(void) {
    uint8_t u[32], v[32], x[16], y[16];
    spec(sample_u, u, 32);
    spec(sample_v, v, 32);
    spec(sample_n1, x, 16);
    spec(sample_n2, y, 16);
    uint32_t g = bh_smp_g2(u, v, x, y);
    CHECK_EQ(g, 0x2f9ed5ba);
    CHECK_EQ(g % 1000000, 938554);
    CHECK(bh_smp_g2(u, v, y, x) != g);
}

static void test_h6_sample(void) {
    uint8_t w[16], out[16], expected[16];
    spec("ec0234a357c8ad05341010a60a397d9b", w, 16);
    spec("2d9ae102e76dc91ce8d3a9e280b16399", expected, 16);
    bh_smp_h6(w, 0x6c656272, out);
    CHECK_MEM(out, expected, 16);
    bh_smp_h6(w, 0x6c656273, out);
    CHECK(memcmp(out, expected, 16) != 0);
}

static void test_h7_sample(void) {
    uint8_t salt[16], w[16], out[16], expected[16];
    spec("000000000000000000000000746d7031", salt, 16);
    spec("ec0234a357c8ad05341010a60a397d9b", w, 16);
    spec("fb173597c6a3c0ecd2998c2a75a57011", expected, 16);
    bh_smp_h7(salt, w, out);
    CHECK_MEM(out, expected, 16);
    bh_smp_h7(salt, w, w);
    CHECK_MEM(w, expected, 16);
}

// ---- command line for the oracle test ----

static uint8_t *arg_hex(const char *s, size_t n) {
    static uint8_t bufs[8][64];
    static int next;
    if (n > sizeof(bufs[0])) {
        fprintf(stderr, "argument too long\n");
        exit(2);
    }
    uint8_t *b = bufs[next++ & 7];
    if (hex_to_bytes(s, b, n) != 0) {
        fprintf(stderr, "want %zu hex octets: %s\n", n, s);
        exit(2);
    }
    return b;
}

static bh_addr_t arg_addr(const char *s) {
    uint8_t *a = arg_hex(s, 7);
    bh_addr_t addr = { .type = a[6] };
    memcpy(addr.val, a, 6);
    return addr;
}

static void print_hex(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        printf("%02x", b[i]);
    }
}

static int oracle(int argc, char **argv) {
    const char *f = argv[1];
    char **a = argv + 2;
    int n = argc - 2;
    uint8_t out[16], out2[16];
    if (strcmp(f, "cmac") == 0 && n == 2) {
        size_t len = strlen(a[1]) / 2;
        uint8_t *msg = malloc(len ? len : 1);
        if (msg == NULL || hex_to_bytes(a[1], msg, len) != 0) {
            return 2;
        }
        bh_aes_cmac(arg_hex(a[0], 16), msg, len, out);
        free(msg);
    } else if (strcmp(f, "c1") == 0 && n == 6) {
        bh_addr_t ia = arg_addr(a[4]), ra = arg_addr(a[5]);
        bh_smp_c1(arg_hex(a[0], 16), arg_hex(a[1], 16), arg_hex(a[2], 7), arg_hex(a[3], 7),
            &ia, &ra, out);
    } else if (strcmp(f, "s1") == 0 && n == 3) {
        bh_smp_s1(arg_hex(a[0], 16), arg_hex(a[1], 16), arg_hex(a[2], 16), out);
    } else if (strcmp(f, "f4") == 0 && n == 4) {
        bh_smp_f4(arg_hex(a[0], 32), arg_hex(a[1], 32), arg_hex(a[2], 16), *arg_hex(a[3], 1), out);
    } else if (strcmp(f, "f5") == 0 && n == 5) {
        bh_addr_t a1 = arg_addr(a[3]), a2 = arg_addr(a[4]);
        bh_smp_f5(arg_hex(a[0], 32), arg_hex(a[1], 16), arg_hex(a[2], 16), &a1, &a2, out, out2);
        print_hex(out, 16);
        printf(" ");
        print_hex(out2, 16);
        printf("\n");
        return 0;
    } else if (strcmp(f, "f6") == 0 && n == 7) {
        bh_addr_t a1 = arg_addr(a[5]), a2 = arg_addr(a[6]);
        bh_smp_f6(arg_hex(a[0], 16), arg_hex(a[1], 16), arg_hex(a[2], 16), arg_hex(a[3], 16),
            arg_hex(a[4], 3), &a1, &a2, out);
    } else if (strcmp(f, "g2") == 0 && n == 4) {
        printf("%08x\n", (unsigned)bh_smp_g2(arg_hex(a[0], 32), arg_hex(a[1], 32),
            arg_hex(a[2], 16), arg_hex(a[3], 16)));
        return 0;
    } else if (strcmp(f, "h6") == 0 && n == 2) {
        const uint8_t *id = arg_hex(a[1], 4);
        uint32_t key_id = ((uint32_t)id[0] << 24) | ((uint32_t)id[1] << 16)
            | ((uint32_t)id[2] << 8) | id[3];
        bh_smp_h6(arg_hex(a[0], 16), key_id, out);
    } else if (strcmp(f, "h7") == 0 && n == 2) {
        bh_smp_h7(arg_hex(a[0], 16), arg_hex(a[1], 16), out);
    } else {
        fprintf(stderr, "unknown function or wrong argument count: %s\n", f);
        return 2;
    }
    print_hex(out, 16);
    printf("\n");
    return 0;
}

// P-256 points as SMP carries them (X then Y, least significant first):
// two keys made by another implementation (Python's cryptography, private
// keys 1000 and 1001) and the Core's debug key.
#define PK_A "02b76d40bd4f60af09407e916c3d2addf1ffcc24851fff88b700d9cb4a1afab8" \
    "37ae7ccc721f862ea94cb23347b34fcb067f1f48274584667283fc142dc35c9a"
#define PK_B "c67c3a5dca2252701899cd3caa053112b8281eab3d9208c0ea16cae57ba8f7cc" \
    "b26c9d5efe6f5bff63362de378e536b6e86b952e6ac95202f90853e5a82e27bb"
#define PK_DEBUG "e69d350e480103ccdbfdf4ac1191f4efb9a5f9e9a7832c5e2cbe97f2d203b020" \
    "8bd28915d08e1c742430ed8fc24563765c15525abf9a32636deb2a65499c80dc"

static void test_p256_on_curve(void) {
    uint8_t pk[64];
    const char *keys[] = { PK_A, PK_B, PK_DEBUG };
    for (size_t k = 0; k < 3; k++) {
        from_hex(keys[k], pk, 64);
        CHECK(bh_p256_on_curve(pk));
        CHECK_EQ(bh_p256_is_debug_key(pk), k == 2);
        // Any one bit changed in X or Y leaves the curve.
        for (size_t bit = 0; bit < 512; bit += 7) {
            pk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            CHECK(!bh_p256_on_curve(pk));
            pk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        // (X, p - Y) is the same key negated: on the curve too.
        negate_y(pk);
        CHECK(bh_p256_on_curve(pk));
        CHECK(!bh_p256_is_debug_key(pk));
    }
    // The point at infinity has no affine form; (0, 0) is not on the curve.
    memset(pk, 0, 64);
    CHECK(!bh_p256_on_curve(pk));
    // Coordinates at or above p are refused even where their value mod p
    // would fit: X = p + x for a small x.
    from_hex(PK_A, pk, 64);
    memset(pk, 0xff, 32);
    CHECK(!bh_p256_on_curve(pk));
}

static void test_equal_and_wipe(void) {
    uint8_t a[16], b[16];
    for (size_t i = 0; i < 16; i++) {
        a[i] = b[i] = (uint8_t)i;
    }
    CHECK(bh_smp_equal(a, b, 16));
    for (size_t i = 0; i < 16; i++) {
        b[i] ^= 0x80;
        CHECK(!bh_smp_equal(a, b, 16));
        b[i] ^= 0x80;
    }
    bh_smp_wipe(a, 16);
    for (size_t i = 0; i < 16; i++) {
        CHECK_EQ(a[i], 0);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) {
        return oracle(argc, argv);
    }
    static const unit_test_t tests[] = {
        T(test_cmac_rfc4493),
        T(test_cmac_edge_lengths),
        T(test_cmac_properties),
        T(test_c1_sample),
        T(test_s1_sample),
        T(test_f4_sample),
        T(test_f5_sample),
        T(test_f6_sample),
        T(test_g2_sample),
        T(test_h6_sample),
        T(test_h7_sample),
        T(test_p256_on_curve),
        T(test_equal_and_wipe),
    };
    return run_tests("smp_crypto", tests, sizeof(tests) / sizeof(tests[0]));
}
