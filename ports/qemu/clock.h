// The board's time base.
//
// Time is read from CMSDK TIMER0, free-running at the 25 MHz system clock and
// extended to 64 bits in software. QEMU computes its value from the host
// clock on each read, so time stays right even when the host runs QEMU late
// and SysTick interrupts merge (counting SysTick interrupts lost ~1% under
// load). SysTick still fires at 1 kHz: it bounds every WFI to 1 ms and keeps
// the 64-bit extension fresh (TIMER0 wraps every 171 s).
#ifndef MICROPY_INCLUDED_QEMU_CLOCK_H
#define MICROPY_INCLUDED_QEMU_CLOCK_H

#include <stdint.h>

#define CLOCK_CPU_HZ (25000000u)

void clock_init(void);

// System clock cycles since power-on.
uint64_t clock_cycles(void);

static inline uint64_t clock_us(void) {
    return clock_cycles() / (CLOCK_CPU_HZ / 1000000);
}

// Milliseconds since power-on (wraps at 2^32).
static inline uint32_t clock_ms(void) {
    return (uint32_t)(clock_cycles() / (CLOCK_CPU_HZ / 1000));
}

// A raw, fast-changing counter value for entropy.
uint32_t clock_raw(void);

#endif // MICROPY_INCLUDED_QEMU_CLOCK_H
