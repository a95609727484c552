// Board-wide services from startup.c.
#ifndef MICROPY_INCLUDED_QEMU_BOARD_H
#define MICROPY_INCLUDED_QEMU_BOARD_H

#include <stdint.h>

// Print msg on the REPL UART and end QEMU (needs -semihosting).
__attribute__((noreturn)) void board_fatal(const char *msg);

// Reset the whole board through SYSRESETREQ (QEMU reloads the firmware).
// cause is what machine.reset_cause() says after it (BOARD_*_RESET).
__attribute__((noreturn)) void board_reset(int cause);

// Why the board last started (BOARD_*_RESET from board_boot.h); a soft reset
// sets it to BOARD_SOFT_RESET.
int board_reset_cause(void);
void board_set_reset_cause(int cause);

// Eight bytes that identify this board: from its flash image path, else
// random at power-up; kept across resets.
const uint8_t *board_unique_id(void);

#endif // MICROPY_INCLUDED_QEMU_BOARD_H
