// Shared declarations of the `bluetooth` module's C files.
#ifndef MICROPY_INCLUDED_EXTMOD_BLUETOOTH_MODBLUETOOTH_H
#define MICROPY_INCLUDED_EXTMOD_BLUETOOTH_MODBLUETOOTH_H

#include "py/obj.h"
#include "py/objarray.h"
#include "py/objtuple.h"

#define BLE_GAP_NAME_MAX (248) // Device Name characteristic limit (Core spec)
#define BLE_GAP_NAME_DEFAULT "MPY BLEHOST"
#define BLE_RXBUF_DEFAULT (1024)
#define BLE_RXBUF_MIN (64)
#define BLE_RXBUF_MAX (65535)
#define BLE_MTU_DEFAULT (256) // offered in exchanges (as NimBLE does)
#define BLE_MTU_MIN (23)
#define BLE_MTU_MAX (517)

// Most fields in any event tuple, and most byte/UUID fields in one event.
#define BLE_EVENT_MAX_FIELDS (5)
#define BLE_EVENT_MAX_BYTES_FIELDS (2)

// ---- UUID ----

typedef struct _ble_uuid_obj_t {
    mp_obj_base_t base;
    uint8_t len;       // 2, 4 or 16
    uint8_t data[16];  // little-endian, as on the air
} ble_uuid_obj_t;

extern const mp_obj_type_t ble_type_uuid;

// Set a UUID from its little-endian bytes (len 2, 4 or 16).
void ble_uuid_set(ble_uuid_obj_t *uuid, const uint8_t *data, size_t len);

// ---- events ----

// Objects reused for every event delivered in one context (scheduled or
// synchronous), so delivering an event allocates nothing.
typedef struct _ble_event_ctx_t {
    mp_obj_tuple_t *tuple; // BLE_EVENT_MAX_FIELDS slots, len set per event
    mp_obj_array_t *views[BLE_EVENT_MAX_BYTES_FIELDS];
    ble_uuid_obj_t *uuid;
} ble_event_ctx_t;

// One field of an event payload.
typedef enum {
    BLE_FIELD_INT,
    BLE_FIELD_BYTES, // becomes a read-only memoryview
    BLE_FIELD_UUID,  // becomes a UUID (data is little-endian, len 2/4/16)
    BLE_FIELD_HIDDEN, // kept in the record, not shown in the tuple (last field)
} ble_field_kind_t;

typedef struct _ble_field_t {
    ble_field_kind_t kind;
    int32_t value;
    const uint8_t *data;
    size_t len;
} ble_field_t;

#define BLE_INT(v) { .kind = BLE_FIELD_INT, .value = (v) }
#define BLE_BYTES(p, n) { .kind = BLE_FIELD_BYTES, .data = (p), .len = (n) }
#define BLE_UUID(p, n) { .kind = BLE_FIELD_UUID, .data = (p), .len = (n) }
#define BLE_HIDDEN(p, n) { .kind = BLE_FIELD_HIDDEN, .data = (p), .len = (n) }

// ---- the BLE singleton ----

#define BLE_SYNC_DEPTH_MAX (2)

typedef struct _mp_obj_bluetooth_ble_t {
    mp_obj_base_t base;
    mp_obj_t irq_handler;

    // Event ring: whole records, each contiguous (see ble_event.c).
    uint8_t *ring;
    size_t ring_size;
    size_t ring_head;
    size_t ring_tail;
    size_t ring_used;
    uint32_t ring_generation; // bumped when the ring is replaced
    uint32_t events_dropped;
    bool dispatching;
    // While an _IRQ_GATTS_WRITE record is being handled: the value that
    // write stored (a view into its record), for gatts_read().
    bool snap_valid;
    uint16_t snap_handle;
    uint16_t snap_len;
    const uint8_t *snap_data;
    ble_event_ctx_t sched_ctx;
    // Synchronous upcalls: one context per nesting level (a handler of one
    // may call an API that makes another, e.g. gap_pair in a read request
    // asking the store), so an inner call never rewrites the outer data.
    ble_event_ctx_t sync_ctx[BLE_SYNC_DEPTH_MAX];
    uint8_t sync_depth;
    uint8_t store_depth; // inside an _IRQ_GET_SECRET / _IRQ_SET_SECRET handler

    // Configuration.
    uint16_t mtu;
    uint8_t io;
    bool bond;
    bool mitm;
    bool le_secure;
    bool le_2m; // config le_2m: links may move to the LE 2M PHY (bh_rate.h)
    uint8_t gap_name_len;
    uint8_t gap_name[BLE_GAP_NAME_MAX];
} mp_obj_bluetooth_ble_t;

// The singleton, or NULL when no BLE() was created since the last reset.
mp_obj_bluetooth_ble_t *ble_get(void);

// Raise OSError(EPERM) unless the controller is active, OSError(EBUSY)
// inside a store upcall (ble_check_not_in_store).
void ble_check_active(void);
// Raise OSError(EBUSY) inside an _IRQ_GET_SECRET / _IRQ_SET_SECRET handler:
// the host is in the middle of a step that asked the store, and must not
// be re-entered (README, "Pairing and bonding").
void ble_check_not_in_store(void);

// A negative errno from the host as MicroPython's errno number.
int ble_errno_to_mp(int err);
// Raise OSError for a negative errno from the host.
NORETURN void ble_raise_errno(int err);

// Allocate the ring and the per-event objects of a new BLE object.
void ble_event_init(mp_obj_bluetooth_ble_t *ble, size_t rxbuf);
// Replace the ring with one of a new size (events queued are dropped and
// counted). Allocates; call only from Python context.
void ble_event_resize(mp_obj_bluetooth_ble_t *ble, size_t rxbuf);
// Forget queued events (e.g. on (de)activation).
void ble_event_clear(mp_obj_bluetooth_ble_t *ble);
// Queue one event and schedule its delivery; never allocates. Returns false
// (and counts a drop) when the ring has no room for the whole event.
bool ble_event_push(uint8_t event, const ble_field_t *fields, size_t n);
// Deliver one event to the handler now and return its result (None when no
// handler or when it raised). For events whose answer matters.
mp_obj_t ble_event_call_sync(uint8_t event, const ble_field_t *fields, size_t n);
// The same, but MP_OBJ_NULL when the handler raised (for events whose
// answer on failure differs from None's).
mp_obj_t ble_event_call_sync_raw(uint8_t event, const ble_field_t *fields, size_t n);
// A store upcall (_IRQ_GET_SECRET / _IRQ_SET_SECRET): queued events stay
// queued (their handlers run later, not in the middle of the host's step),
// and API calls that act on the host raise OSError(EBUSY) meanwhile.
mp_obj_t ble_event_call_store(uint8_t event, const ble_field_t *fields, size_t n);
// Deliver every queued event now, unless a handler is running already
// (then false): for an event that must be delivered synchronously, in order.
bool ble_event_flush(void);
// Inside the handler of an _IRQ_GATTS_WRITE for handle: the value that write
// stored (true), else false. _drop forgets it (the application wrote the
// attribute itself).
bool ble_event_write_snapshot(uint16_t handle, const uint8_t **data, size_t *len);
void ble_event_write_snapshot_drop(uint16_t handle);
// Deliver queued events now (what the scheduled callback does).
void ble_event_dispatch(void);
// After a host poll: retry scheduling when the scheduler queue was full.
void ble_event_poll_done(void);
// Forget the module-level scheduling state (soft reset).
void ble_event_reset_schedule(void);

MP_DECLARE_CONST_FUN_OBJ_KW(ble_config_obj);

// Pairing and bonding (ble_sec.c); apply_config gives the host the io,
// mitm, le_secure and bond settings.
void ble_sec_apply_config(mp_obj_bluetooth_ble_t *ble);
// Ask the store for our identity when bonding is on (see ble_sec.c).
void ble_sec_identity_hint(mp_obj_bluetooth_ble_t *ble);
MP_DECLARE_CONST_FUN_OBJ_2(ble_gap_pair_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gap_passkey_obj);

// GAP methods (ble_gap.c).
MP_DECLARE_CONST_FUN_OBJ_KW(ble_gap_advertise_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gap_scan_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gap_connect_obj);
MP_DECLARE_CONST_FUN_OBJ_2(ble_gap_disconnect_obj);

// GATT server methods (ble_gatts.c); ble_gatts_init() forgets the services
// and the MTU setting of a previous BLE object (soft reset).
void ble_gatts_init(void);
// Free the database's storage (deactivation, soft reset).
void ble_gatts_deinit(void);
MP_DECLARE_CONST_FUN_OBJ_2(ble_gatts_register_services_obj);
MP_DECLARE_CONST_FUN_OBJ_2(ble_gatts_read_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gatts_write_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gatts_notify_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gatts_indicate_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_gatts_set_buffer_obj);

// L2CAP connection-oriented channel methods (ble_l2cap.c).
MP_DECLARE_CONST_FUN_OBJ_3(ble_l2cap_listen_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_l2cap_connect_obj);
MP_DECLARE_CONST_FUN_OBJ_3(ble_l2cap_disconnect_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_l2cap_send_obj);
MP_DECLARE_CONST_FUN_OBJ_VAR_BETWEEN(ble_l2cap_recvinto_obj);

#endif // MICROPY_INCLUDED_EXTMOD_BLUETOOTH_MODBLUETOOTH_H
