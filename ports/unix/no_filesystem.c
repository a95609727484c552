// The unix board has no filesystem: code comes over the REPL. This is the
// hooks the core (pyexec, io) still links against.
#include "py/lexer.h"
#include "py/mperrno.h"
#include "py/runtime.h"

mp_lexer_t *mp_lexer_new_from_file(qstr filename) {
    mp_raise_OSError(MP_ENOENT);
}

// open() exists (io needs it) but there are no files to open.
static mp_obj_t board_open(size_t n_args, const mp_obj_t *args, mp_map_t *kwargs) {
    mp_raise_OSError(MP_ENOENT);
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_builtin_open_obj, 1, board_open);
