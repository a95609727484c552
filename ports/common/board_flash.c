// `_board.Flash`: the board's flash as a block device with the extended
// interface (readblocks/writeblocks with offset, ioctl), for vfs.VfsLfs2.
#include "py/mperrno.h"
#include "py/runtime.h"
#include "extmod/vfs.h"

#include "board_flash.h"

typedef struct _board_flash_obj_t {
    mp_obj_base_t base;
} board_flash_obj_t;

static const mp_obj_type_t board_flash_type;
static const board_flash_obj_t board_flash_obj = { { &board_flash_type } };

static mp_obj_t board_flash_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    if (board_flash_size() == 0) {
        mp_raise_OSError(MP_ENODEV);
    }
    return MP_OBJ_FROM_PTR(&board_flash_obj);
}

// Checks block/offset/len against the storage; returns the byte offset.
static uint32_t board_flash_offset(size_t n_args, const mp_obj_t *args, size_t len) {
    mp_int_t block = mp_obj_get_int(args[1]);
    mp_int_t off = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    uint32_t size = board_flash_size();
    if (block < 0 || off < 0 || (uint64_t)block * BOARD_FLASH_BLOCK_SIZE + (uint64_t)off + len > size) {
        mp_raise_ValueError(MP_ERROR_TEXT("outside the flash"));
    }
    return (uint32_t)block * BOARD_FLASH_BLOCK_SIZE + (uint32_t)off;
}

static mp_obj_t board_flash_readblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(args[2], &bufinfo, MP_BUFFER_WRITE);
    uint32_t offset = board_flash_offset(n_args, args, bufinfo.len);
    int err = board_flash_read(offset, bufinfo.buf, bufinfo.len);
    if (err != 0) {
        mp_raise_OSError(-err);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(board_flash_readblocks_obj, 3, 4, board_flash_readblocks);

static mp_obj_t board_flash_writeblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(args[2], &bufinfo, MP_BUFFER_READ);
    uint32_t offset = board_flash_offset(n_args, args, bufinfo.len);
    int err = board_flash_write(offset, bufinfo.buf, bufinfo.len);
    if (err != 0) {
        mp_raise_OSError(-err);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(board_flash_writeblocks_obj, 3, 4, board_flash_writeblocks);

static mp_obj_t board_flash_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    switch (mp_obj_get_int(op_in)) {
        case MP_BLOCKDEV_IOCTL_INIT:
        case MP_BLOCKDEV_IOCTL_DEINIT:
        case MP_BLOCKDEV_IOCTL_BLOCK_ERASE:
            // Nothing to prepare; erasing is implicit in writing.
            return MP_OBJ_NEW_SMALL_INT(0);
        case MP_BLOCKDEV_IOCTL_SYNC:
            return MP_OBJ_NEW_SMALL_INT(board_flash_sync());
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return MP_OBJ_NEW_SMALL_INT(board_flash_size() / BOARD_FLASH_BLOCK_SIZE);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(BOARD_FLASH_BLOCK_SIZE);
        default:
            return mp_const_none;
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(board_flash_ioctl_obj, board_flash_ioctl);

static const mp_rom_map_elem_t board_flash_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&board_flash_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&board_flash_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&board_flash_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(board_flash_locals_dict, board_flash_locals_dict_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    board_flash_type,
    MP_QSTR_Flash,
    MP_TYPE_FLAG_NONE,
    make_new, board_flash_make_new,
    locals_dict, &board_flash_locals_dict
    );

static const mp_rom_map_elem_t board_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__board) },
    { MP_ROM_QSTR(MP_QSTR_Flash), MP_ROM_PTR(&board_flash_type) },
};
static MP_DEFINE_CONST_DICT(board_module_globals, board_module_globals_table);

const mp_obj_module_t board_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&board_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR__board, board_module);
