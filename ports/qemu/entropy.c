#include "cortex_m.h"
#include "entropy.h"
#include "clock.h"

#define BOOT_SAMPLE_MS (8)

static uint32_t entropy_state[4] = { 0x9e3779b9, 0x243f6a88, 0xb7e15162, 0x6a09e667 };
static uint32_t entropy_next_word;

static inline uint32_t rotl32(uint32_t x, unsigned k) {
    return (x << k) | (x >> (32 - k));
}

// A 32-bit finaliser: spreads every input bit over the whole word.
static uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352d;
    x ^= x >> 15;
    x *= 0x846ca68b;
    x ^= x >> 16;
    return x;
}

// xoshiro128**; call with interrupts masked.
static uint32_t xoshiro_next(void) {
    uint32_t *s = entropy_state;
    uint32_t result = rotl32(s[1] * 5, 7) * 9;
    uint32_t t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl32(s[3], 11);
    return result;
}

void entropy_add_sample(uint32_t sample) {
    uint32_t state = irq_save();
    uint32_t word = entropy_next_word++ & 3;
    entropy_state[word] ^= mix32(sample + entropy_next_word * 0x9e3779b9);
    if ((entropy_state[0] | entropy_state[1] | entropy_state[2] | entropy_state[3]) == 0) {
        entropy_state[0] = 1; // the all-zero state would stick
    }
    xoshiro_next();
    irq_restore(state);
}

void entropy_init(void) {
    // Count busy-loop iterations per millisecond tick and sample the counter
    // at uneven points: both depend on how the host schedules QEMU.
    for (uint32_t i = 0; i < BOOT_SAMPLE_MS; ++i) {
        uint32_t start = clock_ms();
        uint32_t spins = 0;
        while (clock_ms() == start) {
            if ((++spins & 0x3f) == 0) {
                entropy_add_sample(clock_raw() ^ spins);
            }
        }
        entropy_add_sample(spins);
    }
}

uint32_t entropy_u32(void) {
    uint32_t state = irq_save();
    uint32_t value = xoshiro_next();
    irq_restore(state);
    return value;
}

void entropy_fill(uint8_t *buf, size_t len) {
    while (len > 0) {
        uint32_t value = entropy_u32();
        for (int i = 0; i < 4 && len > 0; ++i, --len) {
            *buf++ = value;
            value >>= 8;
        }
    }
}
