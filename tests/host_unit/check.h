// Assertions shared by the host unit tests: each counts one check and stops
// the test program at the first failure, naming the place.
#ifndef HOST_UNIT_CHECK_H
#define HOST_UNIT_CHECK_H

#include <stdio.h>
#include <stdlib.h>

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
