// GATT client (bh_gattc.c): discovery, read (long values with Read Blob),
// write (long values with Prepare/Execute Write), MTU exchange, received
// notifications and indications. Used by the embedding (ble_gattc.c); its
// PDUs arrive through bh_gattc_on_pdu() (bh_att.h).
//
// One ATT request outstanding per link (Core Vol 3 Part F 3.3.2): a procedure
// started while another runs on the same link is queued (FIFO, up to
// BH_GATTC_QUEUE_LEN procedures per link, their write values in a pool of
// BH_GATTC_QUEUE_DATA bytes shared by all links; beyond that -BH_ENOMEM) and
// starts when the one before it ends. Reads and writes with response also
// need one of BH_GATTC_VALUE_BUFS value buffers shared by all links: one
// that finds none waits in its link's queue the same way (it is never
// lost) and starts when another link's read or write ends. Every procedure ends with exactly one DONE event (the MTU exchange with
// bh_evt_mtu_exchanged() from bh_att_mtu_exchanged()), also when the link
// closes (status BH_GATTC_STATUS_DISCONNECTED) or the server stays silent
// for 30 s (status BH_GATTC_STATUS_TIMEOUT). After a timeout the link's ATT
// bearer is dead (Core Vol 3 Part F 3.3.3): further requests on it are
// refused with -BH_ETIMEDOUT until the link is closed.
//
// Statuses in DONE events: 0 success, 1..0xff the ATT error code the server
// answered, or one of the BH_GATTC_STATUS_* values below (> 0xff).
#ifndef BLEHOST_BH_GATTC_H
#define BLEHOST_BH_GATTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bh_config.h"

#define BH_GATTC_STATUS_TIMEOUT (0x100)          // no response within 30 s
#define BH_GATTC_STATUS_DISCONNECTED (0x101)     // link closed during the procedure
#define BH_GATTC_STATUS_INVALID_RESPONSE (0x102) // malformed/inconsistent response
#define BH_GATTC_STATUS_NO_RESOURCES (0x103)     // transmit queue full mid-procedure
#define BH_GATTC_STATUS_TRUNCATED (0x104)        // long write refused: first MTU-3 bytes written

// Longest value read or written by one procedure (Core Vol 3 Part F 3.2.9).
#define BH_GATTC_VALUE_MAX (512)

// Procedures waiting behind the running one, per link.
#ifndef BH_GATTC_QUEUE_LEN
#define BH_GATTC_QUEUE_LEN (4)
#endif
// Bytes of the values of waiting writes, all links together (two
// BH_GATTC_VALUE_MAX values: with BH_GATTC_VALUE_BUFS 2, four links can each
// start a 512-byte write at once).
#ifndef BH_GATTC_QUEUE_DATA
#define BH_GATTC_QUEUE_DATA (1024)
#endif
// Value buffers (BH_GATTC_VALUE_MAX bytes each) shared by all links: a read
// or a write with response holds one while it runs (1..254; a link runs one
// procedure at a time, so more than BH_MAX_CONNECTIONS would never be used).
#ifndef BH_GATTC_VALUE_BUFS
#define BH_GATTC_VALUE_BUFS (BH_MAX_CONNECTIONS < 2 ? BH_MAX_CONNECTIONS : 2)
#endif
#if BH_GATTC_VALUE_BUFS < 1 || BH_GATTC_VALUE_BUFS > 254
#error "BH_GATTC_VALUE_BUFS must be 1..254"
#endif

// Procedures. uuid (little-endian, as on the air; 2, 4 or 16 bytes) may be
// NULL for no filter. Each returns 0 when the procedure started or waits its
// turn, or -BH_ENOTCONN (no such link), -BH_ENOMEM (the link's queue or the
// shared pool of write values is full, or the transmit queue is: retry),
// -BH_ETIMEDOUT (the link's ATT bearer timed out), -BH_EINVAL (bad range or UUID),
// -BH_EMSGSIZE (value too long) or -BH_EALREADY (MTU exchange already asked for).
int bh_gattc_discover_services(uint16_t conn_handle, const uint8_t *uuid, size_t uuid_len);
int bh_gattc_discover_characteristics(uint16_t conn_handle, uint16_t start_handle,
    uint16_t end_handle, const uint8_t *uuid, size_t uuid_len);
// Reports the attributes after start_handle (normally a characteristic's
// value handle) up to end_handle, as MicroPython's other implementations do.
int bh_gattc_discover_descriptors(uint16_t conn_handle, uint16_t start_handle,
    uint16_t end_handle);
int bh_gattc_read(uint16_t conn_handle, uint16_t value_handle);
// with_response false: Write Command, len <= MTU-3 (else -BH_EMSGSIZE), no event;
// allowed while a request is outstanding. true: Write Request, or
// Prepare/Execute Write for len > MTU-3 (len <= BH_GATTC_VALUE_MAX), then
// bh_evt_gattc_write_done().
int bh_gattc_write(uint16_t conn_handle, uint16_t value_handle, const uint8_t *data, size_t len,
    bool with_response);
// Exchange MTU Request with bh_att_get_local_mtu(); the response (or an error
// response, which leaves the MTU at 23) reports through bh_att_mtu_exchanged().
int bh_gattc_exchange_mtu(uint16_t conn_handle);

// ---- hooks called by bh_att.c ----
// Forget every client state (activation).
void bh_gattc_reset(void);
// A link closed: end its procedure with BH_GATTC_STATUS_DISCONNECTED.
void bh_gattc_conn_closed(uint16_t conn_handle);
// Timers: the 30 s transaction timeout, retrying a confirmation that found
// the transmit queue full.
void bh_gattc_poll(uint32_t now_ms);

// ---- events, implemented by the embedding (same rules as blehost.h:
// data valid only during the call, no calls back into the host) ----
void bh_evt_gattc_service(uint16_t conn_handle, uint16_t start_handle, uint16_t end_handle,
    const uint8_t *uuid, size_t uuid_len);
void bh_evt_gattc_service_done(uint16_t conn_handle, uint16_t status);
void bh_evt_gattc_characteristic(uint16_t conn_handle, uint16_t end_handle,
    uint16_t value_handle, uint8_t properties, const uint8_t *uuid, size_t uuid_len);
void bh_evt_gattc_characteristic_done(uint16_t conn_handle, uint16_t status);
void bh_evt_gattc_descriptor(uint16_t conn_handle, uint16_t handle, const uint8_t *uuid,
    size_t uuid_len);
void bh_evt_gattc_descriptor_done(uint16_t conn_handle, uint16_t status);
void bh_evt_gattc_read_result(uint16_t conn_handle, uint16_t value_handle, const uint8_t *data,
    size_t len);
void bh_evt_gattc_read_done(uint16_t conn_handle, uint16_t value_handle, uint16_t status);
void bh_evt_gattc_write_done(uint16_t conn_handle, uint16_t value_handle, uint16_t status);
// A Handle Value Notification (indication false) or Indication (true; the
// confirmation is sent after this returns).
void bh_evt_gattc_notify(uint16_t conn_handle, uint16_t value_handle, const uint8_t *data,
    size_t len, bool indication);

#endif // BLEHOST_BH_GATTC_H
