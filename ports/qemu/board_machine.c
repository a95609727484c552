// The qemu board's part of the `machine` module; included by
// extmod/modmachine.c through MICROPY_PY_MACHINE_INCLUDEFILE.
//
// machine.reset() stops Bluetooth (the controller ends its links, so a peer
// sees them drop) and resets the whole board; machine.deepsleep(ms) does the
// same after ms of sleep, with reset_cause() DEEPSLEEP_RESET. The REPL UART
// stays connected across both, as on a board with its REPL on a UART.
#include "board.h"
#include "clock.h"
#include "cortex_m.h"

#if QEMU_BOARD_BLUETOOTH
#include "mpbt_port.h"
#endif

static void board_machine_stop_bluetooth(void) {
    #if QEMU_BOARD_BLUETOOTH
    mp_bluetooth_deinit();
    #endif
}

static void mp_machine_idle(void) {
    mp_event_wait_indefinite();
}

NORETURN static void mp_machine_reset(void) {
    board_machine_stop_bluetooth();
    board_reset(BOARD_HARD_RESET);
}

static mp_int_t mp_machine_reset_cause(void) {
    return board_reset_cause();
}

static mp_obj_t mp_machine_unique_id(void) {
    return mp_obj_new_bytes(board_unique_id(), 8);
}

static mp_obj_t mp_machine_get_freq(void) {
    return mp_obj_new_int_from_uint(CLOCK_CPU_HZ);
}

static void mp_machine_set_freq(size_t n_args, const mp_obj_t *args) {
    mp_raise_NotImplementedError(MP_ERROR_TEXT("fixed frequency"));
}

static void mp_machine_lightsleep(size_t n_args, const mp_obj_t *args) {
    if (n_args == 0) {
        mp_machine_idle();
    } else {
        mp_hal_delay_ms(mp_obj_get_int(args[0]));
    }
}

NORETURN static void mp_machine_deepsleep(size_t n_args, const mp_obj_t *args) {
    mp_int_t ms = n_args > 0 ? mp_obj_get_int(args[0]) : 0;
    if (ms < 0) {
        mp_raise_ValueError(NULL);
    }
    board_machine_stop_bluetooth();
    // Nothing runs while asleep: only interrupts end each WFI (SysTick
    // every ms), and no Python code or Bluetooth servicing happens.
    uint64_t deadline = clock_us() + (uint64_t)ms * 1000;
    while (clock_us() < deadline) {
        cpu_wait_for_interrupt();
    }
    board_reset(BOARD_DEEPSLEEP_RESET);
}
