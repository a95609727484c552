// Included by extmod/modmachine.c: the unix board's machine functions.
//
// machine.reset() does a soft reset (the same as machine.soft_reset(): the
// REPL prints "MPY: soft reboot" and a fresh VM starts; the process, its pty
// and its HCI transport stay). A board that is really restarted is the
// launcher's business (kill the process, start a new one).
#include "bh_port.h"

static void mp_machine_idle(void) {
    // Wait for the next event (REPL input, HCI bytes) or 1 ms, servicing
    // Bluetooth and scheduled callbacks meanwhile.
    mp_event_wait_ms(1);
}

NORETURN static void mp_machine_reset(void) {
    mp_raise_type(&mp_type_SystemExit);
}

static mp_int_t mp_machine_reset_cause(void) {
    // There is no hardware: the VM only ever starts fresh or after a soft reset.
    return 0;
}

static mp_obj_t mp_machine_unique_id(void) {
    // Random per process, stable across soft resets.
    static uint8_t id[6];
    static bool have_id;
    if (!have_id) {
        bh_port_random(id, sizeof(id));
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
    mp_raise_NotImplementedError(MP_ERROR_TEXT("deepsleep not supported"));
}
