// GATT server: the attribute database and the ATT server that serves it.
// Handles are 1-based; handles 1..5 are the Generic Access service (Device
// Name, Appearance) and 6..9 Generic Attribute (Service Changed), always
// present and constant; the embedding's services follow.
//
// The embedding's services live in storage the embedding gives (its heap,
// sized by what it registers; bh_gatts_plan_* say how much): the attribute
// table, the 128-bit UUIDs and the values, packed. Each characteristic
// value and descriptor has a capacity (default BH_GATTS_DEFAULT_CAP);
// remote writes are truncated to it, local writes raise it within the
// storage's room (the embedding moves the database to a larger storage
// first, bh_gatts_storage_for / bh_gatts_move_db). Remote writes never need
// more storage. bh_config.h bounds the sizes (BH_GATTS_MAX_*).
#ifndef BLEHOST_BH_GATTS_H
#define BLEHOST_BH_GATTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bh_conn.h"

// Characteristic/descriptor flags, as in the `bluetooth` module's table.
#define BH_GATTS_F_BROADCAST (0x0001)
#define BH_GATTS_F_READ (0x0002)
#define BH_GATTS_F_WRITE_NO_RESPONSE (0x0004)
#define BH_GATTS_F_WRITE (0x0008)
#define BH_GATTS_F_NOTIFY (0x0010)
#define BH_GATTS_F_INDICATE (0x0020)
#define BH_GATTS_F_AUTHENTICATED_SIGNED_WRITE (0x0040)
#define BH_GATTS_F_AUX_WRITE (0x0100)
#define BH_GATTS_F_READ_ENCRYPTED (0x0200)
#define BH_GATTS_F_READ_AUTHENTICATED (0x0400)
#define BH_GATTS_F_READ_AUTHORIZED (0x0800)
#define BH_GATTS_F_WRITE_ENCRYPTED (0x1000)
#define BH_GATTS_F_WRITE_AUTHENTICATED (0x2000)
#define BH_GATTS_F_WRITE_AUTHORIZED (0x4000)
#define BH_GATTS_F_ALL (0x7f7f)

// Least encryption key size (octets) for attributes that need encryption.
#ifndef BH_GATTS_MIN_KEY_SIZE
#define BH_GATTS_MIN_KEY_SIZE (16)
#endif

#define BH_GATTS_DEFAULT_CAP (20)

#define BH_GATTS_UUID_CCCD (0x2902)

// Generic Access (handles 1-5) and Generic Attribute with Service Changed
// (6-9) come first; the embedding's services start here.
#define BH_GATTS_FIRST_USER_HANDLE (10)

// Indication outcomes (bh_evt_gatts_indicate_done).
#define BH_GATTS_IND_OK (0)
#define BH_GATTS_IND_TIMEOUT (1)
#define BH_GATTS_IND_DISCONNECTED (2)

// ---- building the database ----
// Whether a client may read (write false) or write an attribute with these
// flags over a link with this security: 0 or the ATT error, by the Core's
// rules (Vol 3 Part C 10.3.1): encryption, key size and authentication
// each checked; read authorization is left to the read request callback.
uint8_t bh_gatts_check_perm(uint16_t flags, bool write, const bh_conn_sec_t *sec);

// What a set of services needs: call the plan functions with what the
// add functions will get, in any order, on a zeroed plan.
typedef struct _bh_gatts_plan_t {
    uint32_t attrs;   // the embedding's attributes
    uint32_t uuid128; // of them, with a 32- or 128-bit UUID
    uint32_t values;  // value bytes at the default capacity
    uint32_t cccds;   // Client Characteristic Configuration descriptors
} bh_gatts_plan_t;
void bh_gatts_plan_service(bh_gatts_plan_t *p, const uint8_t *uuid, size_t uuid_len);
void bh_gatts_plan_characteristic(bh_gatts_plan_t *p, const uint8_t *uuid, size_t uuid_len, uint16_t flags, bool has_user_cccd);
void bh_gatts_plan_descriptor(bh_gatts_plan_t *p, const uint8_t *uuid, size_t uuid_len);
// The storage bytes the planned services need: 0, or -BH_ENOMEM beyond
// the bounds of bh_config.h (attributes, 128-bit UUIDs, value bytes, CCCDs).
int bh_gatts_plan_size(const bh_gatts_plan_t *p, size_t *size);

// Forget the embedding's services and take mem (len bytes, at least
// bh_gatts_plan_size's; 2-byte aligned) as the storage of the services of
// plan p, added next with bh_gatts_add_*; bytes beyond the plan's are room
// for values. mem NULL, len 0, p NULL: no storage, the fixed services only.
// From then on the host keeps no pointer into the previous storage; the
// queued writes of every link are dropped. -BH_EBUSY while a request is
// being served (from inside a read-request callback), -BH_ENOMEM (plan
// beyond the bounds), -BH_EINVAL (len too short, mem misaligned).
int bh_gatts_reset_db(void *mem, size_t len, const bh_gatts_plan_t *p);
// The storage's length (0: none).
size_t bh_gatts_storage_len(void);
// The storage length with which the value at handle could have capacity
// cap: bh_gatts_storage_len() when it fits already (or can never fit: the
// setter then tells why).
size_t bh_gatts_storage_for(uint16_t handle, size_t cap);
// Copy the database into mem (len bytes, 2-byte aligned, at least what it
// uses) and use that from now on; the values, lengths and handles stay.
// The old storage is no longer touched. Allowed from inside callbacks.
// -BH_EINVAL (too short, misaligned).
int bh_gatts_move_db(void *mem, size_t len);
// Add a primary service / a characteristic / a descriptor of the last
// characteristic. uuid is little-endian, 2, 4 or 16 bytes (32-bit UUIDs
// are stored as 128-bit). A characteristic with NOTIFY or INDICATE gets a
// CCCD right after its value unless has_user_cccd (the embedding adds its
// own 0x2902 descriptor, which then acts as the CCCD); AUX_WRITE adds a
// Characteristic Extended Properties descriptor. Return the handle of the
// service / value / descriptor, or -BH_ENOMEM (beyond the storage's plan),
// -BH_EINVAL
// (descriptor without characteristic, bad UUID length), -BH_EBUSY.
int bh_gatts_add_service(const uint8_t *uuid, size_t uuid_len);
int bh_gatts_add_characteristic(const uint8_t *uuid, size_t uuid_len, uint16_t flags, bool has_user_cccd);
int bh_gatts_add_descriptor(const uint8_t *uuid, size_t uuid_len, uint16_t flags);
// Number of attributes (the last handle).
uint16_t bh_gatts_attr_count(void);

// ---- subscriptions of bonded clients (bh_smp_keys.c keeps them) ----
// A link's CCCDs with a non-zero value, in handle order, as attribute
// handle and value: how many (at most max).
size_t bh_gatts_cccd_list(uint16_t conn_handle, uint16_t *handles, uint16_t *values, size_t max);
// Give a link a stored CCCD value; false when handle is no CCCD (the
// database changed) or the link is unknown.
bool bh_gatts_cccd_restore(uint16_t conn_handle, uint16_t handle, uint16_t value);

// ---- local access to values (characteristic values and descriptors) ----
// -BH_EINVAL for a handle that is not a value or descriptor of the embedding.
// *data points into the storage: valid until the next change of the
// database (a write, a move, a reset).
int bh_gatts_get_value(uint16_t handle, const uint8_t **data, size_t *len);
// In append mode, forget the value (after the embedding has read it).
void bh_gatts_consume(uint16_t handle);
// Replace the value, raising the capacity to len if needed. -BH_ENOMEM when
// the storage has no room, -BH_EMSGSIZE above 512 bytes.
int bh_gatts_set_value(uint16_t handle, const uint8_t *data, size_t len);
// Set the capacity (the value is truncated) and the append mode.
// Whether the attribute accumulates writes (set_buffer with append).
bool bh_gatts_is_append(uint16_t handle);
// The embedding rebuilt its services while links may be up: indicate
// Service Changed (handles 10-0xffff) to every client subscribed to it.
void bh_gatts_db_changed(void);
int bh_gatts_set_buffer(uint16_t handle, size_t cap, bool append);

// ---- server-initiated PDUs ----
// Notification / indication of data (truncated to MTU-3) on one link,
// regardless of subscription. -BH_ENOTCONN (no link), -BH_EINVAL (handle),
// -BH_ENOMEM (transmit queue full: retry), -BH_EBUSY (indication: one is still
// awaiting its confirmation on that link).
int bh_gatts_notify(uint16_t conn_handle, uint16_t handle, const uint8_t *data, size_t len);
int bh_gatts_indicate(uint16_t conn_handle, uint16_t handle, const uint8_t *data, size_t len);
// Send the current value to every subscribed link: a notification where
// notifications are enabled, else an indication where indications are
// (skipped on a link with an indication outstanding). Returns 0 or the
// first error; -BH_ENOMEM (nothing sent) when the transmit queue lacks room.
int bh_gatts_send_update(uint16_t handle);

// ---- upward events (implemented by the embedding) ----
// A client wrote a value or descriptor (not the automatic CCCDs).
void bh_evt_gatts_write(uint16_t conn_handle, uint16_t handle);
// A client reads a value or descriptor that allows reading: 0 to serve
// it, else the ATT error code to answer with. May run Python code.
uint8_t bh_evt_gatts_read_request(uint16_t conn_handle, uint16_t handle);
// The outstanding indication on a link finished (BH_GATTS_IND_*).
void bh_evt_gatts_indicate_done(uint16_t conn_handle, uint16_t handle, uint8_t outcome);
// The GAP device name served at the Device Name characteristic.
size_t bh_evt_gap_name(const uint8_t **name);

#endif // BLEHOST_BH_GATTS_H
