// The qemu board's part of the `time` module; included by extmod/modtime.c
// through MICROPY_PY_TIME_INCLUDEFILE. There is no real-time clock, so
// time() counts seconds from power-on.
#include "clock.h"

static mp_obj_t mp_time_time_get(void) {
    return mp_obj_new_int_from_ull(clock_us() / 1000000);
}
