#include "cortex_m.h"
#include "uart_rx.h"

#define COMPILER_BARRIER() __asm volatile ("" : : : "memory")

void uart_rx_start(uart_rx_t *rx) {
    rx->head = 0;
    rx->tail = 0;
    rx->stalled = false;
    cmsdk_uart_enable(rx->uart);
    nvic_enable_irq(rx->irq);
}

size_t uart_rx_isr(uart_rx_t *rx) {
    cmsdk_uart_t *uart = rx->uart;
    // Acknowledge first: a byte landing while we drain raises it again.
    uart->INTSTATUS = CMSDK_UART_INT_RX;
    size_t queued = 0;
    uint32_t head = rx->head;
    while (uart->STATE & CMSDK_UART_STATE_RXFULL) {
        if (head - rx->tail >= rx->size) {
            // Full: leave the byte in the UART; the reader resumes us.
            uart->CTRL &= ~CMSDK_UART_CTRL_RX_INTEN;
            rx->stalled = true;
            break;
        }
        uint8_t c = uart->DATA;
        if (rx->filter != NULL && !rx->filter(c)) {
            continue;
        }
        rx->buf[head & (rx->size - 1)] = c;
        ++head;
        ++queued;
    }
    COMPILER_BARRIER(); // the bytes are stored before head publishes them
    rx->head = head;
    return queued;
}

size_t uart_rx_available(const uart_rx_t *rx) {
    return rx->head - rx->tail;
}

static void uart_rx_resume_if_stalled(uart_rx_t *rx) {
    if (!rx->stalled) {
        return;
    }
    uint32_t state = irq_save();
    rx->stalled = false;
    rx->uart->CTRL |= CMSDK_UART_CTRL_RX_INTEN;
    // Enabling the interrupt does not raise it for the byte already held.
    nvic_set_pending(rx->irq);
    irq_restore(state);
}

size_t uart_rx_read(uart_rx_t *rx, uint8_t *buf, size_t max) {
    uint32_t tail = rx->tail;
    size_t avail = rx->head - tail;
    COMPILER_BARRIER(); // read head before the bytes it covers
    size_t n = avail < max ? avail : max;
    for (size_t i = 0; i < n; ++i) {
        buf[i] = rx->buf[(tail + i) & (rx->size - 1)];
    }
    COMPILER_BARRIER(); // the bytes are copied before tail frees them
    rx->tail = tail + n;
    if (n > 0) {
        uart_rx_resume_if_stalled(rx);
    }
    return n;
}

int uart_rx_read_byte(uart_rx_t *rx) {
    uint8_t c;
    return uart_rx_read(rx, &c, 1) == 1 ? c : -1;
}
