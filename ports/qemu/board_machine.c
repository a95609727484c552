// The qemu board's part of the `machine` module; included by
// extmod/modmachine.c through MICROPY_PY_MACHINE_INCLUDEFILE.
#include "board.h"
#include "clock.h"

static void mp_machine_idle(void) {
    mp_event_wait_indefinite();
}

NORETURN static void mp_machine_reset(void) {
    board_reset();
}

static mp_int_t mp_machine_reset_cause(void) {
    // QEMU's MPS2 model records no reset cause.
    return 0;
}

static mp_obj_t mp_machine_unique_id(void) {
    mp_raise_NotImplementedError(MP_ERROR_TEXT("no unique id on this board"));
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
    mp_raise_NotImplementedError(MP_ERROR_TEXT("no deep sleep on this board"));
}
