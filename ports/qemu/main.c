// The qemu board's main loop: REPL on UART0, soft reset on Ctrl-D.
#include "py/compile.h"
#include "py/gc.h"
#include "py/runtime.h"
#include "py/stackctrl.h"
#include "shared/readline/readline.h"
#include "shared/runtime/gchelper.h"
#include "shared/runtime/pyexec.h"

#include "board.h"
#include "board_boot.h"

#if QEMU_BOARD_BLUETOOTH
#include "mpbt_port.h"
#endif

// Set by the linker script.
extern uint8_t _heap_start, _heap_end, _sstack, _estack;

// Headroom below the stack limit for the code that raises the overflow error.
#define STACK_MARGIN (2048)

static void repl_until_soft_reset(void) {
    for (;;) {
        if (pyexec_mode_kind == PYEXEC_MODE_RAW_REPL) {
            if (pyexec_raw_repl() != 0) {
                return;
            }
        } else {
            if (pyexec_friendly_repl() != 0) {
                return;
            }
        }
    }
}

int main(void) {
    for (;;) {
        mp_stack_set_top(&_estack);
        mp_stack_set_limit(&_estack - &_sstack - STACK_MARGIN);
        gc_init(&_heap_start, &_heap_end);
        mp_init();
        readline_init0();

        if (board_boot_scripts()) {
            repl_until_soft_reset();
        }

        mp_printf(&mp_plat_print, "MPY: soft reboot\n");
        #if QEMU_BOARD_BLUETOOTH
        mp_bluetooth_deinit();
        #endif
        gc_sweep_all();
        mp_deinit();
        board_set_reset_cause(BOARD_SOFT_RESET);
    }
}

void gc_collect(void) {
    gc_collect_start();
    gc_helper_collect_regs_and_stack();
    gc_collect_end();
}

void nlr_jump_fail(void *val) {
    (void)val;
    board_fatal("uncaught NLR");
}
