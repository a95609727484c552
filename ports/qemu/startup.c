// Vector table, reset and fault handling for the mps2-an385.
#include <stdint.h>

#include "py/mphal.h"
#include "shared/runtime/semihosting_arm.h"

#include "board.h"
#include "cmsdk_uart.h"
#include "cortex_m.h"
#include "entropy.h"
#include "clock.h"
#include "board_boot.h"
#include "flash_semihost.h"
#include "uart_repl.h"

#define NUM_EXTERNAL_IRQS (32)

extern uint32_t _estack, _sbss, _ebss;

int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);
void UART0_RX_IRQHandler(void);
void UART1_RX_IRQHandler(void);

__attribute__((noreturn)) static void fatal_fault(const char *what, uint32_t pc) {
    static const char hex[] = "0123456789abcdef";
    char msg[] = "\r\nFATAL: at 0x00000000\r\n";
    for (int i = 0; i < 8; ++i) {
        msg[sizeof(msg) - 4 - i] = hex[(pc >> (4 * i)) & 0xf];
    }
    uart_repl_write("\r\n", 2);
    uart_repl_write(what, __builtin_strlen(what));
    uart_repl_write(msg, sizeof(msg) - 1);
    // End QEMU (with -semihosting) so a launcher sees the board die.
    mp_semihosting_exit(1);
    for (;;) {
    }
}

// The stacked PC of the faulting code, whichever stack it was on.
__attribute__((naked)) static void HardFault_Handler(void) {
    __asm volatile (
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "ldr r1, [r0, #24]\n"
        "b hard_fault_report\n"
        );
}

__attribute__((used)) void hard_fault_report(uint32_t *frame, uint32_t pc) {
    (void)frame;
    fatal_fault("HardFault", pc);
}

static void Unexpected_Handler(void) {
    fatal_fault("unexpected interrupt", 0);
}

#define DEFAULT_HANDLER ((uint32_t)&Unexpected_Handler)

__attribute__((section(".isr_vector"), used))
const uint32_t isr_vector[16 + NUM_EXTERNAL_IRQS] = {
    [0] = (uint32_t)&_estack,
    [1] = (uint32_t)&Reset_Handler,
    [2 ... 15] = DEFAULT_HANDLER,
    [3] = (uint32_t)&HardFault_Handler,
    [7 ... 10] = 0,
    [13] = 0,
    [15] = (uint32_t)&SysTick_Handler,
    [16 ... 16 + NUM_EXTERNAL_IRQS - 1] = DEFAULT_HANDLER,
    [16 + CMSDK_UART0_RX_IRQ] = (uint32_t)&UART0_RX_IRQHandler,
    #if QEMU_BOARD_BLUETOOTH
    [16 + CMSDK_UART1_RX_IRQ] = (uint32_t)&UART1_RX_IRQHandler,
    #endif
};

// What survives a reset (RAM is zero at power-up only).
#define RESET_STATE_MAGIC (0x6d706274u)
typedef struct _reset_state_t {
    uint32_t magic;
    uint32_t next_cause; // the cause of the reset under way
    uint8_t unique_id[8];
} reset_state_t;
extern reset_state_t _reset_state; // placed by the linker script
#define reset_state _reset_state
static int reset_cause;

static void reset_state_init(void) {
    if (reset_state.magic == RESET_STATE_MAGIC) {
        reset_cause = reset_state.next_cause;
        return;
    }
    reset_cause = BOARD_PWRON_RESET;
    const char *path = flash_semihost_path();
    if (path != NULL) {
        // FNV-1a, 64 bit, of the image path: stable across power cycles.
        uint64_t hash = 0xcbf29ce484222325u;
        for (const char *c = path; *c != '\0'; ++c) {
            hash = (hash ^ (uint8_t)*c) * 0x100000001b3u;
        }
        for (unsigned i = 0; i < sizeof(reset_state.unique_id); ++i) {
            reset_state.unique_id[i] = (uint8_t)(hash >> (8 * i));
        }
    } else {
        entropy_fill(reset_state.unique_id, sizeof(reset_state.unique_id));
    }
    reset_state.magic = RESET_STATE_MAGIC;
}

int board_reset_cause(void) {
    return reset_cause;
}

void board_set_reset_cause(int cause) {
    reset_cause = cause;
}

const uint8_t *board_unique_id(void) {
    return reset_state.unique_id;
}

void Reset_Handler(void) {
    // QEMU reloads the ELF on reset, but .bss is not part of it.
    for (uint32_t *p = &_sbss; p < &_ebss; ++p) {
        *p = 0;
    }
    mp_semihosting_init();
    clock_init();
    entropy_init();
    flash_semihost_init();
    reset_state_init();
    uart_repl_init();
    main();
    for (;;) {
    }
}

void board_fatal(const char *msg) {
    fatal_fault(msg, 0);
}

void board_reset(int cause) {
    reset_state.next_cause = (uint32_t)cause;
    cpu_dsb();
    SCB_AIRCR = SCB_AIRCR_VECTKEY | SCB_AIRCR_SYSRESETREQ;
    cpu_dsb();
    for (;;) {
    }
}

// Needed by the toolchain's libgcc and by MicroPython's asserts.
void abort(void) {
    fatal_fault("abort", 0);
}

#ifndef NDEBUG
void __assert_func(const char *file, int line, const char *func, const char *expr) {
    (void)file;
    (void)line;
    (void)func;
    fatal_fault(expr, 0);
}
#endif
