// UART0: the REPL. Receive is interrupt-driven; transmit polls.
#ifndef MICROPY_INCLUDED_QEMU_UART_REPL_H
#define MICROPY_INCLUDED_QEMU_UART_REPL_H

#include <stddef.h>

void uart_repl_init(void);
size_t uart_repl_available(void);
int uart_repl_read_byte(void); // -1 when nothing is queued
void uart_repl_write(const char *str, size_t len);

#endif // MICROPY_INCLUDED_QEMU_UART_REPL_H
