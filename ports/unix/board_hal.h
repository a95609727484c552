// Time, waiting and the VM hook of the unix board.
#ifndef MICROPY_INCLUDED_UNIX_BOARD_BOARD_HAL_H
#define MICROPY_INCLUDED_UNIX_BOARD_BOARD_HAL_H

#include <stdint.h>

// Monotonic milliseconds (wraps at 2^32).
uint32_t board_ticks_ms(void);

// Resets (main.c). The cause of the running VM's start (BOARD_*_RESET).
int board_get_reset_cause(void);
// End the VM with a reset of the given cause (BOARD_SOFT_RESET,
// BOARD_HARD_RESET, BOARD_DEEPSLEEP_RESET after sleep_ms): raises SystemExit.
void board_request_reset(int cause, uint32_t sleep_ms) __attribute__((noreturn));
// The flash image path that identifies the board, or NULL.
const char *board_get_identity(void);

#endif // MICROPY_INCLUDED_UNIX_BOARD_BOARD_HAL_H
