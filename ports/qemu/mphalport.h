#include "shared/runtime/interrupt_char.h"
#include "clock.h"

static inline mp_uint_t mp_hal_ticks_ms(void) {
    return clock_ms();
}

static inline mp_uint_t mp_hal_ticks_us(void) {
    return (mp_uint_t)clock_us();
}

static inline mp_uint_t mp_hal_ticks_cpu(void) {
    return (mp_uint_t)clock_cycles();
}

static inline uint64_t mp_hal_time_ns(void) {
    // No real-time clock: time counts from power-on.
    return clock_cycles() * (1000000000 / CLOCK_CPU_HZ);
}
