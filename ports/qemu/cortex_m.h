// The few Cortex-M3 core registers and instructions this board uses.
#ifndef MICROPY_INCLUDED_QEMU_CORTEX_M_H
#define MICROPY_INCLUDED_QEMU_CORTEX_M_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(addr))

// SysTick.
#define SYST_CSR REG32(0xe000e010)
#define SYST_RVR REG32(0xe000e014)
#define SYST_CVR REG32(0xe000e018)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE_CPU (1u << 2)

// System control block.
#define SCB_AIRCR REG32(0xe000ed0c)
#define SCB_AIRCR_VECTKEY (0x05fau << 16)
#define SCB_AIRCR_SYSRESETREQ (1u << 2)

// NVIC: one bit per external interrupt (the AN385 has 32).
#define NVIC_ISER REG32(0xe000e100)
#define NVIC_ISPR REG32(0xe000e200)

static inline void nvic_enable_irq(unsigned irq) {
    NVIC_ISER = 1u << irq;
}

static inline void nvic_set_pending(unsigned irq) {
    NVIC_ISPR = 1u << irq;
}

static inline uint32_t irq_save(void) {
    uint32_t primask;
    __asm volatile ("mrs %0, primask\n cpsid i" : "=r" (primask) : : "memory");
    return primask;
}

static inline void irq_restore(uint32_t primask) {
    __asm volatile ("msr primask, %0" : : "r" (primask) : "memory");
}

static inline void cpu_wait_for_interrupt(void) {
    __asm volatile ("wfi" : : : "memory");
}

static inline void cpu_dsb(void) {
    __asm volatile ("dsb" : : : "memory");
}

#endif // MICROPY_INCLUDED_QEMU_CORTEX_M_H
