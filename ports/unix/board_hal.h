// Time, waiting and the VM hook of the unix board.
#ifndef MICROPY_INCLUDED_UNIX_BOARD_BOARD_HAL_H
#define MICROPY_INCLUDED_UNIX_BOARD_BOARD_HAL_H

#include <stdint.h>

// Monotonic milliseconds (wraps at 2^32).
uint32_t board_ticks_ms(void);

#endif // MICROPY_INCLUDED_UNIX_BOARD_BOARD_HAL_H
