// Included by extmod/modos.c: os.urandom from the host's random source.
// MicroPython from 1.27 on defines os.urandom itself over the port's
// mp_hal_get_random() (board_hal.c).
#include "bh_port.h"

#if MICROPY_VERSION < MICROPY_MAKE_VERSION(1, 27, 0)

static mp_obj_t mp_os_urandom(mp_obj_t num) {
    mp_int_t n = mp_obj_get_int(num);
    if (n < 0) {
        mp_raise_ValueError(NULL);
    }
    vstr_t vstr;
    vstr_init_len(&vstr, n);
    bh_port_random((uint8_t *)vstr.buf, n);
    return mp_obj_new_bytes_from_vstr(&vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_1(mp_os_urandom_obj, mp_os_urandom);
#endif
