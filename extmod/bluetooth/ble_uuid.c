// bluetooth.UUID: 16-, 32- or 128-bit, stored little-endian as on the air.
//
// Equality is by width and value: UUID(0x180d) and its 128-bit Bluetooth
// base form are different UUIDs (the wire format differs too), and hash()
// follows the same rule.
#include <string.h>

#include "py/runtime.h"
#include "modbluetooth.h"

void ble_uuid_set(ble_uuid_obj_t *uuid, const uint8_t *data, size_t len) {
    if (len != 2 && len != 4 && len != 16) {
        len = 0; // never reached from checked callers; keep the object sane
    }
    uuid->len = (uint8_t)len;
    memset(uuid->data, 0, sizeof(uuid->data));
    memcpy(uuid->data, data, len);
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

// UUID text: 32 hex digits, most significant first, in any case; hyphens
// may stand anywhere and are skipped (as the reference binding reads them).
static bool parse_uuid128(const char *s, size_t len, uint8_t out[16]) {
    size_t digit = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '-') {
            continue;
        }
        int v = hex_value(s[i]);
        if (v < 0 || digit == 32) {
            return false;
        }
        // Text is most-significant first; storage is little-endian.
        size_t byte = 15 - digit / 2;
        if (digit % 2 == 0) {
            out[byte] = (uint8_t)(v << 4);
        } else {
            out[byte] |= (uint8_t)v;
        }
        digit++;
    }
    return digit == 32;
}

// UUID(int 0..0xffff) is 16-bit. Any other argument is a buffer (a str is
// one too, a UUID as well): 2, 4 or 16 octets are the UUID's own
// little-endian bytes, whatever they hold (so UUID("AB12") is 32-bit, as
// in the reference binding); any other length is read as UUID text.
static mp_obj_t uuid_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, 1, false);
    ble_uuid_obj_t *self = mp_obj_malloc(ble_uuid_obj_t, type);
    mp_obj_t value = args[0];
    if (mp_obj_is_int(value)) {
        mp_int_t v = mp_obj_get_int(value);
        if (v < 0 || v > 0xffff) {
            mp_raise_ValueError(MP_ERROR_TEXT("16-bit UUID must be 0..0xffff"));
        }
        uint8_t le[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
        ble_uuid_set(self, le, 2);
        return MP_OBJ_FROM_PTR(self);
    }
    mp_buffer_info_t buf;
    if (!mp_get_buffer(value, &buf, MP_BUFFER_READ)) {
        mp_raise_TypeError(MP_ERROR_TEXT("UUID needs int, str, buffer or UUID"));
    }
    if (buf.len == 2 || buf.len == 4 || buf.len == 16) {
        ble_uuid_set(self, buf.buf, buf.len);
    } else {
        uint8_t le[16];
        if (!parse_uuid128(buf.buf, buf.len, le)) {
            mp_raise_ValueError(MP_ERROR_TEXT("invalid UUID string"));
        }
        ble_uuid_set(self, le, 16);
    }
    return MP_OBJ_FROM_PTR(self);
}

static void uuid_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    (void)kind;
    const ble_uuid_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->len == 2) {
        mp_printf(print, "UUID(0x%04x)", self->data[0] | (self->data[1] << 8));
    } else if (self->len == 4) {
        // As the reference binding prints it (UUID() does not read it back).
        mp_printf(print, "UUID(0x%02x%02x%02x%02x)",
            self->data[3], self->data[2], self->data[1], self->data[0]);
    } else {
        mp_print_str(print, "UUID('");
        for (int i = 15; i >= 0; i--) {
            mp_printf(print, "%02x", self->data[i]);
            if (i == 12 || i == 10 || i == 8 || i == 6) {
                mp_print_str(print, "-");
            }
        }
        mp_print_str(print, "')");
    }
}

static mp_obj_t uuid_unary_op(mp_unary_op_t op, mp_obj_t self_in) {
    const ble_uuid_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (op != MP_UNARY_OP_HASH) {
        return MP_OBJ_NULL;
    }
    // FNV-1a over width and value, folded to a small int.
    uint32_t h = 2166136261u ^ self->len;
    for (size_t i = 0; i < self->len; i++) {
        h = (h ^ self->data[i]) * 16777619u;
    }
    return MP_OBJ_NEW_SMALL_INT(h & 0x3fffffff);
}

// ==, <, <=, >, >=: a narrower UUID sorts first; UUIDs of one width compare
// by their stored (little-endian) octets, as in the reference binding.
static mp_obj_t uuid_binary_op(mp_binary_op_t op, mp_obj_t lhs_in, mp_obj_t rhs_in) {
    if (!mp_obj_is_type(rhs_in, &ble_type_uuid)) {
        return MP_OBJ_NULL;
    }
    const ble_uuid_obj_t *lhs = MP_OBJ_TO_PTR(lhs_in);
    const ble_uuid_obj_t *rhs = MP_OBJ_TO_PTR(rhs_in);
    int cmp = (int)lhs->len - (int)rhs->len;
    if (cmp == 0) {
        cmp = memcmp(lhs->data, rhs->data, lhs->len);
    }
    switch (op) {
        case MP_BINARY_OP_EQUAL:
            return mp_obj_new_bool(cmp == 0);
        case MP_BINARY_OP_LESS:
            return mp_obj_new_bool(cmp < 0);
        case MP_BINARY_OP_LESS_EQUAL:
            return mp_obj_new_bool(cmp <= 0);
        case MP_BINARY_OP_MORE:
            return mp_obj_new_bool(cmp > 0);
        case MP_BINARY_OP_MORE_EQUAL:
            return mp_obj_new_bool(cmp >= 0);
        default:
            return MP_OBJ_NULL;
    }
}

static mp_int_t uuid_get_buffer(mp_obj_t self_in, mp_buffer_info_t *bufinfo, mp_uint_t flags) {
    ble_uuid_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (flags & MP_BUFFER_WRITE) {
        return 1; // read-only
    }
    bufinfo->buf = self->data;
    bufinfo->len = self->len;
    bufinfo->typecode = 'B';
    return 0;
}

MP_DEFINE_CONST_OBJ_TYPE(
    ble_type_uuid,
    MP_QSTR_UUID,
    MP_TYPE_FLAG_NONE,
    make_new, uuid_make_new,
    print, uuid_print,
    unary_op, uuid_unary_op,
    binary_op, uuid_binary_op,
    buffer, uuid_get_buffer
    );
