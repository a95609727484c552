// Assertions shared by the host unit tests: each counts one check and stops
// the test program at the first failure, naming the place.
#ifndef HOST_UNIT_CHECK_H
#define HOST_UNIT_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checks;

#define CHECK(cond) do { \
        checks++; \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, __func__, #cond); \
            exit(1); \
        } \
} while (0)

#define CHECK_EQ(a, b) do { \
        long long a_ = (long long)(a), b_ = (long long)(b); \
        checks++; \
        if (a_ != b_) { \
            fprintf(stderr, "%s:%d: %s: %s == %lld, expected %s == %lld\n", \
                __FILE__, __LINE__, __func__, #a, a_, #b, b_); \
            exit(1); \
        } \
} while (0)

// Hex, first octet first, into exactly n octets: 0, or -1 if malformed.
static inline int hex_to_bytes(const char *s, uint8_t *out, size_t n) {
    if (strlen(s) != 2 * n) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

// Test data written as hex: malformed hex ends the program (a broken test,
// not a failed check).
static inline void from_hex(const char *s, uint8_t *out, size_t n) {
    if (hex_to_bytes(s, out, n) != 0) {
        fprintf(stderr, "bad hex in test: %s\n", s);
        exit(1);
    }
}

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

typedef struct {
    const char *name;
    void (*fn)(void);
} unit_test_t;

// An entry of a test table: the function and its name.
#define T(fn) { #fn, fn }

// Run every test (a failing check exits), one line each, then a summary.
static inline int run_tests(const char *suite, const unit_test_t *tests, size_t n) {
    for (size_t i = 0; i < n; i++) {
        tests[i].fn();
        printf("ok %s\n", tests[i].name);
    }
    printf("%s%sall %zu tests passed (%d checks)\n", suite ? suite : "", suite ? ": " : "", n, checks);
    return 0;
}

#endif // HOST_UNIT_CHECK_H
