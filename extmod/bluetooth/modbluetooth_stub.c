// Temporary skeleton so ports build before the real module lands.
// (Replaced by the real module; delete this file then.)
#include "py/runtime.h"
#include "mpbt_port.h"

void mp_bluetooth_hci_poll(void) {
}

void mp_bluetooth_hci_poll_soon(void) {
}

void mp_bluetooth_deinit(void) {
}

static const mp_rom_map_elem_t bluetooth_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_bluetooth) },
};
static MP_DEFINE_CONST_DICT(bluetooth_module_globals, bluetooth_module_globals_table);

const mp_obj_module_t mp_module_bluetooth = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&bluetooth_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_bluetooth, mp_module_bluetooth);
