// Start-up and resets shared by the virtual boards.
#ifndef MICROPY_INCLUDED_PORTS_COMMON_BOARD_BOOT_H
#define MICROPY_INCLUDED_PORTS_COMMON_BOARD_BOOT_H

#include <stdbool.h>
#include <stdint.h>

// machine.reset_cause() values (as on esp32 and other ports).
#define BOARD_PWRON_RESET (1)
#define BOARD_HARD_RESET (2)
#define BOARD_WDT_RESET (3)
#define BOARD_DEEPSLEEP_RESET (4)
#define BOARD_SOFT_RESET (5)

#define BOARD_MACHINE_RESET_GLOBALS \
    { MP_ROM_QSTR(MP_QSTR_PWRON_RESET), MP_ROM_INT(BOARD_PWRON_RESET) }, \
    { MP_ROM_QSTR(MP_QSTR_HARD_RESET), MP_ROM_INT(BOARD_HARD_RESET) }, \
    { MP_ROM_QSTR(MP_QSTR_WDT_RESET), MP_ROM_INT(BOARD_WDT_RESET) }, \
    { MP_ROM_QSTR(MP_QSTR_DEEPSLEEP_RESET), MP_ROM_INT(BOARD_DEEPSLEEP_RESET) }, \
    { MP_ROM_QSTR(MP_QSTR_SOFT_RESET), MP_ROM_INT(BOARD_SOFT_RESET) },

// After mp_init(): /lib on sys.path, then _boot.py (mounts the flash),
// boot.py and, in the friendly REPL, main.py. Returns false when one of them
// ended with a reset request (sys.exit, machine.soft_reset/reset/deepsleep):
// the caller then goes straight to the soft reset.
bool board_boot_scripts(void);

#endif // MICROPY_INCLUDED_PORTS_COMMON_BOARD_BOOT_H
