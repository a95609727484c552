// Interrupt-driven UART receive into a bounded ring buffer.
//
// One producer (the UART's RX interrupt) and one consumer (VM context).
// Nothing is ever dropped: when the ring is full the interrupt handler
// leaves the byte in the UART and masks the RX interrupt. QEMU then holds
// back further input (its UART model accepts a byte only when RXFULL is
// clear), and the reader unmasks the interrupt once it has made room.
#ifndef MICROPY_INCLUDED_QEMU_UART_RX_H
#define MICROPY_INCLUDED_QEMU_UART_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmsdk_uart.h"

// Return false to consume a byte without queueing it (e.g. Ctrl-C).
typedef bool (*uart_rx_filter_t)(uint8_t c);

typedef struct _uart_rx_t {
    cmsdk_uart_t *uart;
    uint8_t *buf;
    uint32_t size; // a power of two
    uint8_t irq;
    uart_rx_filter_t filter; // may be NULL
    volatile uint32_t head; // advanced by the interrupt handler only
    volatile uint32_t tail; // advanced by the reader only
    volatile bool stalled; // RX interrupt masked because the ring was full
} uart_rx_t;

// Enable the UART (TX and RX, RX interrupt) and its NVIC line.
void uart_rx_start(uart_rx_t *rx);

// Move received bytes into the ring; call from the RX interrupt handler.
// Returns how many bytes were queued.
size_t uart_rx_isr(uart_rx_t *rx);

size_t uart_rx_available(const uart_rx_t *rx);

// Non-blocking: copy up to max queued bytes.
size_t uart_rx_read(uart_rx_t *rx, uint8_t *buf, size_t max);

// Non-blocking: one byte, or -1 when none is queued.
int uart_rx_read_byte(uart_rx_t *rx);

#endif // MICROPY_INCLUDED_QEMU_UART_RX_H
