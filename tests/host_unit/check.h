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

#endif // HOST_UNIT_CHECK_H
