// The event ring buffer and its scheduled delivery to the Python handler.
//
// Host callbacks write one record per event; a scheduled callback reads them
// back and calls the handler. A record is [u16 total length][u8 event]
// [fields...] and is always contiguous, so its byte fields can be shown to
// Python as memoryviews straight into the ring. When a record does not fit
// before the end of the ring, the rest of the ring is padding (a zero length
// word, or fewer than two bytes) and the record starts at offset 0.
// Fields: 'i' + int32 LE | 'b' + u16 LE length + bytes | 'u' + u8 length +
// bytes.
#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "modbluetooth.h"

#define REC_HDR (3)

static bool dispatch_pending; // a dispatch callback sits in the scheduler queue

static uint16_t get_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void put_u16(uint8_t *p, size_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void ctx_init(ble_event_ctx_t *ctx) {
    ctx->tuple = MP_OBJ_TO_PTR(mp_obj_new_tuple(BLE_EVENT_MAX_FIELDS, NULL));
    for (size_t i = 0; i < BLE_EVENT_MAX_BYTES_FIELDS; i++) {
        ctx->views[i] = MP_OBJ_TO_PTR(mp_obj_new_memoryview('B', 0, NULL));
    }
    ctx->uuid = mp_obj_malloc(ble_uuid_obj_t, &ble_type_uuid);
    ble_uuid_set(ctx->uuid, (const uint8_t *)"\0\0", 2);
}

void ble_event_init(mp_obj_bluetooth_ble_t *ble, size_t rxbuf) {
    ctx_init(&ble->sched_ctx);
    for (size_t i = 0; i < BLE_SYNC_DEPTH_MAX; i++) {
        ctx_init(&ble->sync_ctx[i]);
    }
    ble->sync_depth = 0;
    ble->store_depth = 0;
    ble->ring = m_new(uint8_t, rxbuf);
    ble->ring_size = rxbuf;
    ble_event_clear(ble);
}

void ble_event_clear(mp_obj_bluetooth_ble_t *ble) {
    ble->ring_head = 0;
    ble->ring_tail = 0;
    ble->ring_used = 0;
    ble->ring_generation++;
}

// Length of the oldest queued record (0 when none), after skipping the
// padding that ends the ring when a record did not fit there.
static size_t next_record(mp_obj_bluetooth_ble_t *ble) {
    if (ble->ring_used > 0) {
        size_t tail = ble->ring_tail;
        if (ble->ring_size - tail < 2 || get_u16(ble->ring + tail) == 0) {
            ble->ring_used -= ble->ring_size - tail;
            ble->ring_tail = 0;
        }
    }
    return ble->ring_used > 0 ? get_u16(ble->ring + ble->ring_tail) : 0;
}

void ble_event_resize(mp_obj_bluetooth_ble_t *ble, size_t rxbuf) {
    // Allocate first: on MemoryError the old ring stays in use.
    uint8_t *ring = m_new(uint8_t, rxbuf);
    // Count the records that are thrown away with the old ring.
    size_t len;
    while ((len = next_record(ble)) > 0) {
        ble->ring_tail += len;
        ble->ring_used -= len;
        ble->events_dropped++;
    }
    ble->ring = ring; // the old one is left to the GC (views may still point at it)
    ble->ring_size = rxbuf;
    ble_event_clear(ble);
}

static size_t field_size(const ble_field_t *f) {
    switch (f->kind) {
        case BLE_FIELD_INT:
            return 1 + 4;
        case BLE_FIELD_BYTES:
        case BLE_FIELD_HIDDEN:
            return 1 + 2 + f->len;
        default:
            return 1 + 1 + f->len;
    }
}

// Find room for n contiguous bytes; returns the offset or SIZE_MAX.
static size_t ring_reserve(mp_obj_bluetooth_ble_t *ble, size_t n) {
    size_t size = ble->ring_size;
    if (ble->ring_used == 0) {
        ble->ring_head = ble->ring_tail = 0;
    }
    size_t head = ble->ring_head;
    size_t tail = ble->ring_tail;
    if (ble->ring_used < size && head >= tail) {
        // Free space: [head, size) and [0, tail).
        if (size - head >= n) {
            return head;
        }
        if (tail >= n) {
            size_t pad = size - head;
            if (pad >= 2) {
                put_u16(ble->ring + head, 0);
            }
            ble->ring_used += pad;
            ble->ring_head = 0;
            return 0;
        }
        return SIZE_MAX;
    }
    if (head < tail && tail - head >= n) {
        return head;
    }
    return SIZE_MAX;
}

static void schedule_dispatch(void);

bool ble_event_push(uint8_t event, const ble_field_t *fields, size_t n) {
    mp_obj_bluetooth_ble_t *ble = ble_get();
    if (ble == NULL) {
        return false;
    }
    size_t total = REC_HDR;
    size_t n_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        total += field_size(&fields[i]);
        if (fields[i].kind == BLE_FIELD_BYTES) {
            n_bytes++;
        }
    }
    // Events are defined by us; a shape the dispatcher cannot show is a bug,
    // but it must never corrupt the ring.
    if (n > BLE_EVENT_MAX_FIELDS || n_bytes > BLE_EVENT_MAX_BYTES_FIELDS || total > 0xffff) {
        ble->events_dropped++;
        return false;
    }
    size_t at = ring_reserve(ble, total);
    if (at == SIZE_MAX) {
        ble->events_dropped++;
        return false;
    }
    uint8_t *p = ble->ring + at;
    put_u16(p, total);
    p[2] = event;
    p += REC_HDR;
    for (size_t i = 0; i < n; i++) {
        const ble_field_t *f = &fields[i];
        switch (f->kind) {
            case BLE_FIELD_INT:
                *p++ = 'i';
                p[0] = (uint8_t)f->value;
                p[1] = (uint8_t)(f->value >> 8);
                p[2] = (uint8_t)(f->value >> 16);
                p[3] = (uint8_t)((uint32_t)f->value >> 24);
                p += 4;
                break;
            case BLE_FIELD_HIDDEN:
            case BLE_FIELD_BYTES:
                *p++ = f->kind == BLE_FIELD_HIDDEN ? 'h' : 'b';
                put_u16(p, f->len);
                p += 2;
                if (f->len > 0) {
                    memcpy(p, f->data, f->len);
                }
                p += f->len;
                break;
            default:
                *p++ = 'u';
                *p++ = (uint8_t)f->len;
                memcpy(p, f->data, f->len);
                p += f->len;
                break;
        }
    }
    ble->ring_head = at + total;
    ble->ring_used += total;
    schedule_dispatch();
    return true;
}

// Fill ctx's tuple from a record's fields (rec points after the header,
// len is the fields' length). Byte fields become views into `base`; a
// hidden field (the last) becomes the write snapshot of the second field's
// handle.
static void fill_tuple(mp_obj_bluetooth_ble_t *ble, ble_event_ctx_t *ctx, uint8_t *base, const uint8_t *rec, size_t len) {
    mp_obj_tuple_t *t = ctx->tuple;
    size_t n = 0;
    size_t views = 0;
    const uint8_t *end = rec + len;
    while (rec < end && n < BLE_EVENT_MAX_FIELDS) {
        uint8_t kind = *rec++;
        if (kind == 'i') {
            int32_t v = (int32_t)((uint32_t)rec[0] | ((uint32_t)rec[1] << 8)
                | ((uint32_t)rec[2] << 16) | ((uint32_t)rec[3] << 24));
            t->items[n++] = mp_obj_new_int(v); // small ints: no allocation
            rec += 4;
        } else if (kind == 'h') {
            ble->snap_valid = n >= 2;
            ble->snap_handle = n >= 2 ? (uint16_t)MP_OBJ_SMALL_INT_VALUE(t->items[1]) : 0;
            ble->snap_len = get_u16(rec);
            ble->snap_data = rec + 2;
            rec += 2 + ble->snap_len;
        } else if (kind == 'b') {
            size_t blen = get_u16(rec);
            rec += 2;
            mp_obj_array_t *view = ctx->views[views++];
            mp_obj_memoryview_init(view, 'B', rec - base, blen, base);
            t->items[n++] = MP_OBJ_FROM_PTR(view);
            rec += blen;
        } else {
            size_t ulen = *rec++;
            ble_uuid_set(ctx->uuid, rec, ulen);
            t->items[n++] = MP_OBJ_FROM_PTR(ctx->uuid);
            rec += ulen;
        }
    }
    t->len = n;
}

static mp_obj_t call_handler(mp_obj_t handler, uint8_t event, ble_event_ctx_t *ctx) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t ret = mp_call_function_2(handler, MP_OBJ_NEW_SMALL_INT(event), MP_OBJ_FROM_PTR(ctx->tuple));
        nlr_pop();
        return ret;
    }
    // A failing handler must not stop later events.
    mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
    return MP_OBJ_NULL;
}

void ble_event_dispatch(void) {
    mp_obj_bluetooth_ble_t *ble = ble_get();
    if (ble == NULL || ble->dispatching) {
        return;
    }
    ble->dispatching = true;
    size_t len;
    while ((len = next_record(ble)) > 0) {
        size_t tail = ble->ring_tail;
        uint32_t generation = ble->ring_generation;
        mp_obj_t handler = ble->irq_handler;
        if (handler != mp_const_none) {
            fill_tuple(ble, &ble->sched_ctx, ble->ring, ble->ring + tail + REC_HDR, len - REC_HDR);
            call_handler(handler, ble->ring[tail + 2], &ble->sched_ctx);
            ble->snap_valid = false;
        }
        // The record stays reserved until the handler returns, so events
        // queued meanwhile cannot overwrite what its views show. If the
        // handler replaced the ring (config(rxbuf=...)), its state is fresh.
        if (ble->ring_generation == generation) {
            ble->ring_tail = tail + len;
            ble->ring_used -= len;
        }
    }
    ble->dispatching = false;
}

bool ble_event_flush(void) {
    mp_obj_bluetooth_ble_t *ble = ble_get();
    if (ble == NULL || ble->dispatching) {
        return false;
    }
    ble_event_dispatch();
    return !ble->dispatching;
}

bool ble_event_write_snapshot(uint16_t handle, const uint8_t **data, size_t *len) {
    mp_obj_bluetooth_ble_t *ble = ble_get();
    if (ble == NULL || !ble->snap_valid || ble->snap_handle != handle) {
        return false;
    }
    *data = ble->snap_data;
    *len = ble->snap_len;
    return true;
}

void ble_event_write_snapshot_drop(uint16_t handle) {
    mp_obj_bluetooth_ble_t *ble = ble_get();
    if (ble != NULL && ble->snap_handle == handle) {
        ble->snap_valid = false;
    }
}

static mp_obj_t dispatch_callback(mp_obj_t unused) {
    (void)unused;
    dispatch_pending = false;
    ble_event_dispatch();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(dispatch_callback_obj, dispatch_callback);

static void schedule_dispatch(void) {
    if (!dispatch_pending) {
        // A full scheduler queue is retried at the next event or poll.
        dispatch_pending = mp_sched_schedule(MP_OBJ_FROM_PTR(&dispatch_callback_obj), mp_const_none);
    }
}

void ble_event_reset_schedule(void) {
    dispatch_pending = false;
}

void ble_event_poll_done(void) {
    mp_obj_bluetooth_ble_t *ble = ble_get();
    if (ble != NULL && ble->ring_used > 0) {
        schedule_dispatch();
    }
}

mp_obj_t ble_event_call_sync(uint8_t event, const ble_field_t *fields, size_t n) {
    mp_obj_t ret = ble_event_call_sync_raw(event, fields, n);
    return ret == MP_OBJ_NULL ? mp_const_none : ret;
}

static mp_obj_t call_sync(mp_obj_bluetooth_ble_t *ble, uint8_t event, const ble_field_t *fields, size_t n);

mp_obj_t ble_event_call_sync_raw(uint8_t event, const ble_field_t *fields, size_t n) {
    mp_obj_bluetooth_ble_t *ble = ble_get();
    if (ble == NULL || ble->irq_handler == mp_const_none || n > BLE_EVENT_MAX_FIELDS) {
        return mp_const_none;
    }
    // Events queued before this one are delivered first, so the handler
    // sees them in the order they happened (e.g. a pairing's
    // _IRQ_ENCRYPTION_UPDATE before the read request it made possible).
    ble_event_dispatch();
    return call_sync(ble, event, fields, n);
}

mp_obj_t ble_event_call_store(uint8_t event, const ble_field_t *fields, size_t n) {
    mp_obj_bluetooth_ble_t *ble = ble_get();
    if (ble == NULL || ble->irq_handler == mp_const_none || n > BLE_EVENT_MAX_FIELDS) {
        return mp_const_none;
    }
    // No dispatch first: a queued handler calling gap_pair() or active()
    // here would re-enter the Security Manager in the middle of its step.
    ble->store_depth++;
    mp_obj_t ret = call_sync(ble, event, fields, n);
    ble->store_depth--;
    return ret == MP_OBJ_NULL ? mp_const_none : ret;
}

static mp_obj_t call_sync(mp_obj_bluetooth_ble_t *ble, uint8_t event, const ble_field_t *fields, size_t n) {
    if (ble->sync_depth >= BLE_SYNC_DEPTH_MAX) {
        return MP_OBJ_NULL; // deeper than any API path goes: no answer
    }
    ble_event_ctx_t *ctx = &ble->sync_ctx[ble->sync_depth];
    mp_obj_tuple_t *t = ctx->tuple;
    size_t views = 0;
    for (size_t i = 0; i < n; i++) {
        const ble_field_t *f = &fields[i];
        if (f->kind == BLE_FIELD_INT) {
            t->items[i] = mp_obj_new_int(f->value);
        } else if (f->kind == BLE_FIELD_BYTES && f->data == NULL) {
            t->items[i] = mp_const_none; // an absent key or value
        } else if (f->kind == BLE_FIELD_BYTES && views < BLE_EVENT_MAX_BYTES_FIELDS) {
            mp_obj_array_t *view = ctx->views[views++];
            mp_obj_memoryview_init(view, 'B', 0, f->len, (void *)f->data);
            t->items[i] = MP_OBJ_FROM_PTR(view);
        } else if (f->kind == BLE_FIELD_UUID) {
            ble_uuid_set(ctx->uuid, f->data, f->len);
            t->items[i] = MP_OBJ_FROM_PTR(ctx->uuid);
        } else {
            t->items[i] = mp_const_none;
        }
    }
    t->len = n;
    ble->sync_depth++;
    mp_obj_t ret = call_handler(ble->irq_handler, event, ctx);
    ble->sync_depth--;
    // The views pointed at host memory that is gone after this call.
    for (size_t i = 0; i < views; i++) {
        mp_obj_memoryview_init(ctx->views[i], 'B', 0, 0, NULL);
    }
    return ret;
}
