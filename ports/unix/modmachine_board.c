// Included by extmod/modmachine.c: the unix board's machine functions.
//
// machine.reset() resets the board: a fresh VM that runs boot.py and
// main.py with the REPL in friendly mode and reset_cause() HARD_RESET;
// Bluetooth is stopped first, so a peer sees its links drop. The process,
// its pty (the REPL port) and its flash stay, as with a board whose REPL is
// on a UART. machine.deepsleep(ms) stops Bluetooth, sleeps ms and resets
// with DEEPSLEEP_RESET. A power cycle is the launcher's business (kill the
// process, start it again with the same --fs).
#include <string.h>

#include "bh_port.h"
#include "board_hal.h"

static void mp_machine_idle(void) {
    // Wait for the next event (REPL input, HCI bytes) or 1 ms, servicing
    // Bluetooth and scheduled callbacks meanwhile.
    mp_event_wait_ms(1);
}

NORETURN static void mp_machine_reset(void) {
    board_request_reset(BOARD_HARD_RESET, 0);
}

static mp_int_t mp_machine_reset_cause(void) {
    return board_get_reset_cause();
}

static mp_obj_t mp_machine_unique_id(void) {
    // From the flash image path when there is one (stable across power
    // cycles, distinct per board), else random per process.
    static uint8_t id[8];
    static bool have_id;
    if (!have_id) {
        const char *identity = board_get_identity();
        if (identity != NULL) {
            // FNV-1a, 64 bit.
            uint64_t hash = 0xcbf29ce484222325u;
            for (const char *c = identity; *c != '\0'; ++c) {
                hash = (hash ^ (uint8_t)*c) * 0x100000001b3u;
            }
            for (size_t i = 0; i < sizeof(id); ++i) {
                id[i] = (uint8_t)(hash >> (8 * i));
            }
        } else {
            bh_port_random(id, sizeof(id));
        }
        have_id = true;
    }
    return mp_obj_new_bytes(id, sizeof(id));
}

static mp_obj_t mp_machine_get_freq(void) {
    // No meaningful clock; report a nominal 1 GHz so code that scales by it works.
    return MP_OBJ_NEW_SMALL_INT(1000000000);
}

static void mp_machine_set_freq(size_t n_args, const mp_obj_t *args) {
    mp_raise_NotImplementedError(MP_ERROR_TEXT("freq can't be changed"));
}

static void mp_machine_lightsleep(size_t n_args, const mp_obj_t *args) {
    if (n_args == 0) {
        for (;;) {
            mp_event_wait_indefinite();
        }
    }
    mp_hal_delay_ms(mp_obj_get_int(args[0]));
}

NORETURN static void mp_machine_deepsleep(size_t n_args, const mp_obj_t *args) {
    mp_int_t ms = n_args > 0 ? mp_obj_get_int(args[0]) : 0;
    if (ms < 0) {
        mp_raise_ValueError(NULL);
    }
    // Without a time the board would sleep until a wake-up pin: there is
    // none, so it resets at once.
    board_request_reset(BOARD_DEEPSLEEP_RESET, (uint32_t)ms);
}
