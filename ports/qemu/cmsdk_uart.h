// CMSDK APB UART as modelled by QEMU for the MPS2 boards.
#ifndef MICROPY_INCLUDED_QEMU_CMSDK_UART_H
#define MICROPY_INCLUDED_QEMU_CMSDK_UART_H

#include <stddef.h>
#include <stdint.h>

typedef struct _cmsdk_uart_t {
    volatile uint32_t DATA;
    volatile uint32_t STATE;
    volatile uint32_t CTRL;
    volatile uint32_t INTSTATUS;
    volatile uint32_t BAUDDIV;
} cmsdk_uart_t;

#define CMSDK_UART0 ((cmsdk_uart_t *)0x40004000)
#define CMSDK_UART1 ((cmsdk_uart_t *)0x40005000)

// External interrupt numbers on the AN385 (checked against QEMU's mps2.c).
#define CMSDK_UART0_RX_IRQ (0)
#define CMSDK_UART1_RX_IRQ (2)

#define CMSDK_UART_STATE_TXFULL (1u << 0)
#define CMSDK_UART_STATE_RXFULL (1u << 1)
#define CMSDK_UART_CTRL_TX_EN (1u << 0)
#define CMSDK_UART_CTRL_RX_EN (1u << 1)
#define CMSDK_UART_CTRL_RX_INTEN (1u << 3)
#define CMSDK_UART_INT_RX (1u << 1)

// QEMU ignores the UART until BAUDDIV >= 16; the rate itself does not matter.
#define CMSDK_UART_BAUDDIV (16)

static inline void cmsdk_uart_enable(cmsdk_uart_t *uart) {
    uart->BAUDDIV = CMSDK_UART_BAUDDIV;
    uart->CTRL = CMSDK_UART_CTRL_TX_EN | CMSDK_UART_CTRL_RX_EN | CMSDK_UART_CTRL_RX_INTEN;
}

// Polled transmit: QEMU holds TXFULL while its character backend is busy.
static inline void cmsdk_uart_write(cmsdk_uart_t *uart, const uint8_t *buf, size_t len) {
    for (size_t i = 0; i < len; ++i) {
        while (uart->STATE & CMSDK_UART_STATE_TXFULL) {
        }
        uart->DATA = buf[i];
    }
}

#endif // MICROPY_INCLUDED_QEMU_CMSDK_UART_H
