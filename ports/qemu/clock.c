#include "clock.h"
#include "cortex_m.h"

// CMSDK APB TIMER0: a 32-bit down-counter clocked at 25 MHz.
#define TIMER0_CTRL REG32(0x40000000)
#define TIMER0_VALUE REG32(0x40000004)
#define TIMER0_RELOAD REG32(0x40000008)
#define TIMER_CTRL_EN (1u << 0)

static uint64_t clock_total_cycles;
static uint32_t clock_last_value;

void SysTick_Handler(void) {
    clock_cycles();
}

void clock_init(void) {
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xffffffff; // also loads VALUE
    clock_last_value = TIMER0_VALUE;
    clock_total_cycles = 0;
    TIMER0_CTRL = TIMER_CTRL_EN;

    SYST_RVR = CLOCK_CPU_HZ / 1000 - 1;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE_CPU | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
}

uint64_t clock_cycles(void) {
    uint32_t state = irq_save();
    uint32_t value = TIMER0_VALUE;
    clock_total_cycles += clock_last_value - value; // down-counter, mod 2^32
    clock_last_value = value;
    uint64_t total = clock_total_cycles;
    irq_restore(state);
    return total;
}

uint32_t clock_raw(void) {
    return TIMER0_VALUE;
}
