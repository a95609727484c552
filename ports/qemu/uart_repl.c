#include "py/runtime.h"
#include "shared/runtime/interrupt_char.h"

#include "entropy.h"
#include "clock.h"
#include "uart_repl.h"
#include "uart_rx.h"

// Larger than the raw-paste window (MICROPY_REPL_STDIN_BUFFER_MAX).
#define UART_REPL_RX_SIZE (1024)

static uint8_t uart_repl_rx_buf[UART_REPL_RX_SIZE];

// The interrupt character never reaches the ring: it raises
// KeyboardInterrupt at once, even while the VM runs a tight loop.
static bool uart_repl_filter(uint8_t c) {
    if (c == mp_interrupt_char) {
        mp_sched_keyboard_interrupt();
        return false;
    }
    return true;
}

static uart_rx_t uart_repl_rx = {
    .uart = CMSDK_UART0,
    .buf = uart_repl_rx_buf,
    .size = UART_REPL_RX_SIZE,
    .irq = CMSDK_UART0_RX_IRQ,
    .filter = uart_repl_filter,
};

void UART0_RX_IRQHandler(void) {
    entropy_add_sample(clock_raw());
    uart_rx_isr(&uart_repl_rx);
}

void uart_repl_init(void) {
    uart_rx_start(&uart_repl_rx);
}

size_t uart_repl_available(void) {
    return uart_rx_available(&uart_repl_rx);
}

int uart_repl_read_byte(void) {
    return uart_rx_read_byte(&uart_repl_rx);
}

void uart_repl_write(const char *str, size_t len) {
    cmsdk_uart_write(CMSDK_UART0, (const uint8_t *)str, len);
}
