// Start-up scripts of the virtual boards, as on MicroPython's own ports.
#include "py/runtime.h"
#include "shared/runtime/pyexec.h"

#include "board_boot.h"

bool board_boot_scripts(void) {
    mp_obj_list_append(mp_sys_path, MP_OBJ_NEW_QSTR(MP_QSTR__slash_lib));
    pyexec_frozen_module("_boot.py", false);
    int ret = pyexec_file_if_exists("boot.py");
    if (ret & PYEXEC_FORCED_EXIT) {
        return false;
    }
    if (pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL) {
        ret = pyexec_file_if_exists("main.py");
        if (ret & PYEXEC_FORCED_EXIT) {
            return false;
        }
    }
    return true;
}
