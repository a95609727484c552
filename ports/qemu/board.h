// Board-wide services from startup.c.
#ifndef MICROPY_INCLUDED_QEMU_BOARD_H
#define MICROPY_INCLUDED_QEMU_BOARD_H

// Print msg on the REPL UART and end QEMU (needs -semihosting).
__attribute__((noreturn)) void board_fatal(const char *msg);

// Reset the whole board through SYSRESETREQ (QEMU reloads the firmware).
__attribute__((noreturn)) void board_reset(void);

#endif // MICROPY_INCLUDED_QEMU_BOARD_H
