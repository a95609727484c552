// GATT client: one procedure at a time per link, each a chain of ATT
// requests built from the link's state (so a request that finds the
// transmit queue full is simply rebuilt and retried from bh_gattc_poll()).
//
// Memory shared by the links instead of a value buffer per link: a read or
// a write with response holds one of BH_GATTC_VALUE_BUFS value buffers from
// its start to its end; one that finds none stays at the head of its link's
// queue (the procedures behind it wait too, so the order holds) and starts
// when a buffer comes back, links taking turns from the one after the link
// that gave it back. Every procedure ends (response, link closed, or the
// 30 s timeout), so every waiting one starts in the end. Values of writes
// that wait are kept in one data pool of BH_GATTC_QUEUE_DATA bytes, packed
// in the order they came (each queue entry knows its offset, moved down
// when an earlier value leaves).
//
// Procedures (Core Vol 3 Part G 4.4-4.9):
// - all primary services: Read By Group Type (0x2800) from handle 1, each
//   request starting after the last group end, until Attribute Not Found or
//   a group ending at 0xffff;
// - services by UUID: Find By Type Value (0x2800, the UUID as 2 or 16 bytes);
// - characteristics: Read By Type (0x2803) over the range; a characteristic
//   is reported once the next declaration (or the end of the range) gives
//   its end handle; the UUID filter is applied when reporting;
// - descriptors: Find Information over the range;
// - read: Read, then Read Blob while a response fills the MTU (ATT_MTU-1
//   bytes), up to BH_GATTC_VALUE_MAX; one result with the whole value;
// - write: Write Request, or Prepare Write in MTU-5 chunks, each response
//   checked against what was sent, then Execute Write; a refused or
//   mismatching prepare is cancelled (Execute Write flags 0); a server
//   that refuses queued writes outright (Request Not Supported on the first
//   prepare) gets a Write Request with the first MTU-3 bytes instead, ended
//   with BH_GATTC_STATUS_TRUNCATED so the loss is reported;
// - MTU exchange.
// Responses that break the protocol (bad lengths, handles outside the
// range or going backwards) end the procedure with
// BH_GATTC_STATUS_INVALID_RESPONSE; every loop advances its start handle, so
// no server can keep a procedure running forever except by answering
// forever with new handles (at most 0xffff of them).
#include "bh_err.h"
#include <string.h>

#include "bh_att.h"
#include "bh_config.h"
#include "bh_gattc.h"
#include "bh_port.h"
#include "bh_util.h"

#define UUID_PRIMARY_SERVICE (0x2800)
#define UUID_CHARACTERISTIC (0x2803)

#define EXEC_WRITE_CANCEL (0x00)
#define EXEC_WRITE_COMMIT (0x01)

typedef enum {
    PROC_NONE,
    PROC_DISC_SERVICES,
    PROC_DISC_SERVICES_UUID,
    PROC_DISC_CHARS,
    PROC_DISC_DSCS,
    PROC_READ,
    PROC_WRITE,
    PROC_WRITE_LONG,
    PROC_MTU,
} proc_t;

// Stages of a long write.
typedef enum {
    LONG_PREPARE,
    LONG_EXECUTE,
    LONG_CANCEL,
} long_stage_t;

// A procedure asked for: started at once, or queued behind the one running.
typedef struct _req_t {
    uint8_t proc;
    uint8_t uuid_len; // filter as given (0: none)
    uint16_t handle;  // read/write
    uint16_t start;
    uint16_t end;
    uint16_t data_len; // write: bytes of its value (in the data pool)
    uint16_t data_off; // write: where the value is in the data pool
    uint8_t uuid[16];
} req_t;

#define NO_VBUF (0xff)

typedef struct _client_t {
    bool in_use;
    bool dead;         // the bearer timed out: no more requests
    bool retry;        // the current request is still to be (re)sent
    bool cfm_pending;  // a Handle Value Confirmation waits for queue space
    bool mtu_requested;
    uint8_t proc;
    uint8_t req_opcode; // of the outstanding request
    uint8_t rsp_opcode; // the response it expects
    uint16_t conn_handle;
    uint32_t sent_ms;
    // discovery
    uint16_t start; // next start handle
    uint16_t end;   // end of the range
    uint8_t uuid_len; // filter as given (0: none)
    uint8_t uuid[16];
    uint8_t uuid128[16]; // the filter as 128 bits
    bool chr_pending; // a characteristic waiting for its end handle
    uint8_t chr_props;
    uint8_t chr_uuid_len;
    uint16_t chr_value;
    uint8_t chr_uuid[16];
    // read/write: the value buffer held (NO_VBUF when none; one is held
    // exactly while proc is PROC_READ, PROC_WRITE or PROC_WRITE_LONG)
    uint8_t vbuf;
    uint16_t handle;
    uint16_t len;    // bytes in the value buffer
    uint16_t offset; // long write: bytes prepared and confirmed
    uint16_t chunk;  // long write: bytes in the outstanding Prepare Write
    uint8_t stage;   // long write: long_stage_t
    uint16_t cancel_status;
    bool truncated;  // write: only the first MTU-3 bytes went (see above)
    // procedures waiting their turn (FIFO)
    uint8_t q_head;
    uint8_t q_count;
    req_t queue[BH_GATTC_QUEUE_LEN];
} client_t;

static client_t clients[BH_MAX_CONNECTIONS];
static uint8_t tx[BH_ATT_MTU_MAX];
// Value buffers and who holds them, and the values of waiting writes.
static uint8_t vbufs[BH_GATTC_VALUE_BUFS][BH_GATTC_VALUE_MAX];
static bool vbuf_used[BH_GATTC_VALUE_BUFS];
static uint8_t q_data[BH_GATTC_QUEUE_DATA];
static uint16_t q_data_used;

static uint8_t *buf_of(client_t *c) {
    return vbufs[c->vbuf];
}

static bool needs_vbuf(uint8_t proc) {
    return proc == PROC_READ || proc == PROC_WRITE;
}

static bool vbuf_free(void) {
    for (size_t i = 0; i < BH_GATTC_VALUE_BUFS; ++i) {
        if (!vbuf_used[i]) {
            return true;
        }
    }
    return false;
}

// Take a free value buffer for c (the caller checked there is one).
static void vbuf_take(client_t *c) {
    for (uint8_t i = 0; i < BH_GATTC_VALUE_BUFS; ++i) {
        if (!vbuf_used[i]) {
            vbuf_used[i] = true;
            c->vbuf = i;
            return;
        }
    }
}

static void vbuf_give_back(client_t *c) {
    if (c->vbuf != NO_VBUF) {
        vbuf_used[c->vbuf] = false;
        c->vbuf = NO_VBUF;
    }
}

// Forget the value a waiting write kept in the data pool: the values after
// it move down, and so do the offsets of their queue entries.
static void data_release(uint16_t off, uint16_t len) {
    if (len == 0) {
        return;
    }
    memmove(q_data + off, q_data + off + len, q_data_used - off - len);
    q_data_used -= len;
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; ++i) {
        client_t *c = &clients[i];
        for (uint8_t k = 0; k < c->q_count; ++k) {
            req_t *r = &c->queue[(c->q_head + k) % BH_GATTC_QUEUE_LEN];
            if (r->data_len > 0 && r->data_off > off) {
                r->data_off -= len;
            }
        }
    }
}

static void end_queued(client_t *c, uint16_t status);

static client_t *find_client(uint16_t conn_handle) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; ++i) {
        if (clients[i].in_use && clients[i].conn_handle == conn_handle) {
            return &clients[i];
        }
    }
    return NULL;
}

static client_t *get_client(uint16_t conn_handle) {
    client_t *c = find_client(conn_handle);
    if (c != NULL) {
        return c;
    }
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; ++i) {
        c = &clients[i];
        // A free slot, or one whose link is gone (its close was missed).
        if (!c->in_use || (c->proc == PROC_NONE && bh_att_get_mtu(c->conn_handle) == 0)) {
            if (c->in_use) {
                end_queued(c, BH_GATTC_STATUS_DISCONNECTED);
            }
            memset(c, 0, sizeof(*c));
            c->in_use = true;
            c->vbuf = NO_VBUF;
            c->conn_handle = conn_handle;
            return c;
        }
    }
    return NULL;
}

static uint16_t mtu_of(const client_t *c) {
    uint16_t mtu = bh_att_get_mtu(c->conn_handle);
    return mtu < BH_ATT_MTU_DEFAULT ? BH_ATT_MTU_DEFAULT : mtu;
}

// Build the current request of c's procedure into tx; returns its length
// and sets the opcodes.
static size_t build_request(client_t *c) {
    size_t n = 0;
    switch (c->proc) {
        case PROC_DISC_SERVICES:
            tx[n++] = BH_ATT_READ_BY_GROUP_TYPE_REQ;
            bh_put_u16(tx + n, c->start);
            bh_put_u16(tx + n + 2, 0xffff);
            bh_put_u16(tx + n + 4, UUID_PRIMARY_SERVICE);
            n += 6;
            c->rsp_opcode = BH_ATT_READ_BY_GROUP_TYPE_RSP;
            break;
        case PROC_DISC_SERVICES_UUID:
            tx[n++] = BH_ATT_FIND_BY_TYPE_VALUE_REQ;
            bh_put_u16(tx + n, c->start);
            bh_put_u16(tx + n + 2, 0xffff);
            bh_put_u16(tx + n + 4, UUID_PRIMARY_SERVICE);
            n += 6;
            if (c->uuid_len == 2) {
                memcpy(tx + n, c->uuid, 2);
                n += 2;
            } else {
                memcpy(tx + n, c->uuid128, 16);
                n += 16;
            }
            c->rsp_opcode = BH_ATT_FIND_BY_TYPE_VALUE_RSP;
            break;
        case PROC_DISC_CHARS:
            tx[n++] = BH_ATT_READ_BY_TYPE_REQ;
            bh_put_u16(tx + n, c->start);
            bh_put_u16(tx + n + 2, c->end);
            bh_put_u16(tx + n + 4, UUID_CHARACTERISTIC);
            n += 6;
            c->rsp_opcode = BH_ATT_READ_BY_TYPE_RSP;
            break;
        case PROC_DISC_DSCS:
            tx[n++] = BH_ATT_FIND_INFORMATION_REQ;
            bh_put_u16(tx + n, c->start);
            bh_put_u16(tx + n + 2, c->end);
            n += 4;
            c->rsp_opcode = BH_ATT_FIND_INFORMATION_RSP;
            break;
        case PROC_READ:
            if (c->len == 0) {
                tx[n++] = BH_ATT_READ_REQ;
                bh_put_u16(tx + n, c->handle);
                n += 2;
                c->rsp_opcode = BH_ATT_READ_RSP;
            } else {
                tx[n++] = BH_ATT_READ_BLOB_REQ;
                bh_put_u16(tx + n, c->handle);
                bh_put_u16(tx + n + 2, c->len);
                n += 4;
                c->rsp_opcode = BH_ATT_READ_BLOB_RSP;
            }
            break;
        case PROC_WRITE:
            tx[n++] = BH_ATT_WRITE_REQ;
            bh_put_u16(tx + n, c->handle);
            n += 2;
            memcpy(tx + n, buf_of(c), c->len);
            n += c->len;
            c->rsp_opcode = BH_ATT_WRITE_RSP;
            break;
        case PROC_WRITE_LONG:
            if (c->stage == LONG_PREPARE) {
                uint16_t room = mtu_of(c) - 5;
                uint16_t left = c->len - c->offset;
                c->chunk = left < room ? left : room;
                tx[n++] = BH_ATT_PREPARE_WRITE_REQ;
                bh_put_u16(tx + n, c->handle);
                bh_put_u16(tx + n + 2, c->offset);
                n += 4;
                memcpy(tx + n, buf_of(c) + c->offset, c->chunk);
                n += c->chunk;
                c->rsp_opcode = BH_ATT_PREPARE_WRITE_RSP;
            } else {
                tx[n++] = BH_ATT_EXECUTE_WRITE_REQ;
                tx[n++] = c->stage == LONG_EXECUTE ? EXEC_WRITE_COMMIT : EXEC_WRITE_CANCEL;
                c->rsp_opcode = BH_ATT_EXECUTE_WRITE_RSP;
            }
            break;
        case PROC_MTU:
            tx[n++] = BH_ATT_EXCHANGE_MTU_REQ;
            bh_put_u16(tx + n, bh_att_get_local_mtu());
            n += 2;
            c->rsp_opcode = BH_ATT_EXCHANGE_MTU_RSP;
            break;
        default:
            return 0;
    }
    c->req_opcode = tx[0];
    return n;
}

// Send the current request. 0, or bh_att_send()'s error; -BH_ENOMEM leaves it
// marked for a retry.
static int issue(client_t *c) {
    size_t n = build_request(c);
    if (!c->retry) {
        c->sent_ms = bh_port_ticks_ms(); // a retry's timeout runs from its first attempt
    }
    int err = bh_att_send(c->conn_handle, tx, n);
    c->retry = err == -BH_ENOMEM;
    return err;
}

static bool chr_matches(const client_t *c) {
    uint8_t full[16];
    return c->uuid_len == 0
           || (bh_uuid_to_128(full, c->chr_uuid, c->chr_uuid_len) && memcmp(full, c->uuid128, 16) == 0);
}

// Report the DONE event of a procedure (none for an MTU exchange: that is
// reported through bh_att_mtu_exchanged()).
static void report_done(uint16_t conn_handle, uint8_t proc, uint16_t handle, uint16_t status) {
    switch (proc) {
        case PROC_DISC_SERVICES:
        case PROC_DISC_SERVICES_UUID:
            bh_evt_gattc_service_done(conn_handle, status);
            break;
        case PROC_DISC_CHARS:
            bh_evt_gattc_characteristic_done(conn_handle, status);
            break;
        case PROC_DISC_DSCS:
            bh_evt_gattc_descriptor_done(conn_handle, status);
            break;
        case PROC_READ:
            bh_evt_gattc_read_done(conn_handle, handle, status);
            break;
        case PROC_WRITE:
        case PROC_WRITE_LONG:
            bh_evt_gattc_write_done(conn_handle, handle, status);
            break;
        default:
            break;
    }
}

// End the running procedure with its last result and DONE event.
static void end_current(client_t *c, uint16_t status) {
    uint8_t proc = c->proc;
    c->proc = PROC_NONE;
    c->retry = false;
    c->rsp_opcode = 0;
    c->req_opcode = 0;
    if (proc == PROC_DISC_CHARS && c->chr_pending && status == 0 && chr_matches(c)) {
        bh_evt_gattc_characteristic(c->conn_handle, c->end, c->chr_value, c->chr_props,
            c->chr_uuid, c->chr_uuid_len);
    }
    c->chr_pending = false;
    if (proc == PROC_READ && status == 0) {
        bh_evt_gattc_read_result(c->conn_handle, c->handle, buf_of(c), c->len);
    }
    vbuf_give_back(c);
    report_done(c->conn_handle, proc, c->handle, status);
}

// End every queued procedure with status (link closed, bearer dead).
static void end_queued(client_t *c, uint16_t status) {
    while (c->q_count > 0) {
        const req_t *r = &c->queue[c->q_head];
        uint8_t proc = r->proc;
        uint16_t handle = r->handle;
        uint16_t off = r->data_off;
        uint16_t len = r->data_len;
        c->q_head = (uint8_t)((c->q_head + 1) % BH_GATTC_QUEUE_LEN);
        c->q_count--;
        data_release(off, len);
        report_done(c->conn_handle, proc, handle, status);
    }
}

// Make r the running procedure, with a value buffer if it needs one (the
// caller checked one is free; write values copied into it). A write is
// long or not according to the MTU when it starts.
static void load(client_t *c, const req_t *r, const uint8_t *data) {
    if (needs_vbuf(r->proc)) {
        vbuf_take(c);
    }
    c->proc = r->proc;
    c->handle = r->handle;
    c->start = r->start;
    c->end = r->end;
    c->uuid_len = r->uuid_len;
    memcpy(c->uuid, r->uuid, sizeof(c->uuid));
    if (r->uuid_len != 0) {
        bh_uuid_to_128(c->uuid128, r->uuid, r->uuid_len);
    }
    c->chr_pending = false;
    c->truncated = false;
    c->len = 0;
    if (r->proc == PROC_WRITE) {
        c->len = r->data_len;
        memcpy(buf_of(c), data, r->data_len);
        if (r->data_len > mtu_of(c) - 3) {
            c->proc = PROC_WRITE_LONG;
            c->offset = 0;
            c->stage = LONG_PREPARE;
            c->cancel_status = 0;
        }
    }
}

// Send the first request of the loaded procedure: 0 (also when the queue
// was full: retried from bh_gattc_poll()) or bh_att_send()'s error.
static int kick(client_t *c) {
    if (c->proc == PROC_DISC_DSCS && (c->start == 0 || c->start > c->end)) {
        end_current(c, 0); // an empty range: nothing to ask
        return 0;
    }
    int err = issue(c);
    return err == -BH_ENOMEM ? 0 : err;
}

static uint16_t send_error_status(int err) {
    return err == -BH_ENOTCONN ? BH_GATTC_STATUS_DISCONNECTED : BH_GATTC_STATUS_NO_RESOURCES;
}

// Start c's queued procedures until one is running, none is left, or the
// next needs a value buffer and none is free.
static void run_queue(client_t *c) {
    while (c->proc == PROC_NONE && c->q_count > 0) {
        if (needs_vbuf(c->queue[c->q_head].proc) && !vbuf_free()) {
            return; // waits for a value buffer
        }
        req_t r = c->queue[c->q_head];
        c->q_head = (uint8_t)((c->q_head + 1) % BH_GATTC_QUEUE_LEN);
        c->q_count--;
        load(c, &r, q_data + r.data_off);
        data_release(r.data_off, r.data_len);
        int err = kick(c);
        if (err != 0) {
            end_current(c, send_error_status(err));
        }
    }
}

// Start what waits on every link, from the one after first_after (a link
// that just gave a value buffer back goes last), until a whole round starts
// nothing more.
static void run_all(size_t first_after) {
    bool again = true;
    while (again) {
        again = false;
        for (size_t k = 1; k <= BH_MAX_CONNECTIONS; ++k) {
            client_t *c = &clients[(first_after + k) % BH_MAX_CONNECTIONS];
            if (c->in_use && c->proc == PROC_NONE && c->q_count > 0) {
                uint8_t before = c->q_count;
                run_queue(c);
                // Something started and may have ended at once (giving a
                // buffer back): look at every link again.
                again = again || c->q_count != before;
            }
        }
    }
}

// End c's procedure with its DONE event, then start what waits.
static void finish(client_t *c, uint16_t status) {
    end_current(c, status);
    run_all((size_t)(c - clients));
}

// Send the next request of a procedure in progress, or end it.
static void advance(client_t *c) {
    int err = issue(c);
    if (err != 0 && err != -BH_ENOMEM) {
        finish(c, send_error_status(err));
    }
}

// Start r now if the link is idle, else queue it.
static int submit(uint16_t conn_handle, const req_t *r, const uint8_t *data) {
    if (bh_att_get_mtu(conn_handle) == 0) {
        return -BH_ENOTCONN;
    }
    client_t *c = get_client(conn_handle);
    if (c == NULL) {
        return -BH_ENOMEM;
    }
    if (c->dead) {
        return -BH_ETIMEDOUT;
    }
    if (r->proc == PROC_MTU && c->mtu_requested) {
        return -BH_EALREADY;
    }
    if (c->proc == PROC_NONE && c->q_count == 0 && (!needs_vbuf(r->proc) || vbuf_free())) {
        load(c, r, data);
        int err = kick(c);
        if (err != 0) {
            c->proc = PROC_NONE;
            c->retry = false;
            vbuf_give_back(c);
            return err;
        }
    } else {
        // Waits (behind the link's running procedure, or for a value
        // buffer). Full queue or data pool: -BH_ENOMEM, as NimBLE answers
        // when its procedures or buffers run out.
        if (c->q_count == BH_GATTC_QUEUE_LEN
            || q_data_used + r->data_len > BH_GATTC_QUEUE_DATA) {
            return -BH_ENOMEM;
        }
        req_t *q = &c->queue[(c->q_head + c->q_count) % BH_GATTC_QUEUE_LEN];
        *q = *r;
        q->data_off = q_data_used;
        c->q_count++;
        if (r->data_len > 0) {
            memcpy(q_data + q_data_used, data, r->data_len);
            q_data_used += r->data_len;
        }
    }
    if (r->proc == PROC_MTU) {
        c->mtu_requested = true;
    }
    return 0;
}

// ---- procedures ----

static int set_filter(req_t *r, const uint8_t *uuid, size_t uuid_len) {
    uint8_t full[16];
    if (uuid == NULL) {
        return 0;
    }
    if (!bh_uuid_to_128(full, uuid, uuid_len)) {
        return -BH_EINVAL;
    }
    r->uuid_len = (uint8_t)uuid_len;
    memcpy(r->uuid, uuid, uuid_len);
    return 0;
}

int bh_gattc_discover_services(uint16_t conn_handle, const uint8_t *uuid, size_t uuid_len) {
    req_t r = { .proc = PROC_DISC_SERVICES, .start = 0x0001, .end = 0xffff };
    if (set_filter(&r, uuid, uuid_len) != 0) {
        return -BH_EINVAL;
    }
    if (uuid != NULL) {
        r.proc = PROC_DISC_SERVICES_UUID;
    }
    return submit(conn_handle, &r, NULL);
}

int bh_gattc_discover_characteristics(uint16_t conn_handle, uint16_t start_handle,
    uint16_t end_handle, const uint8_t *uuid, size_t uuid_len) {
    req_t r = { .proc = PROC_DISC_CHARS, .start = start_handle, .end = end_handle };
    if (start_handle == 0 || start_handle > end_handle || set_filter(&r, uuid, uuid_len) != 0) {
        return -BH_EINVAL;
    }
    return submit(conn_handle, &r, NULL);
}

int bh_gattc_discover_descriptors(uint16_t conn_handle, uint16_t start_handle,
    uint16_t end_handle) {
    if (start_handle == 0 || start_handle > end_handle) {
        return -BH_EINVAL;
    }
    // The attributes after start_handle (normally the characteristic's
    // value handle), as MicroPython's other implementations do. start 0
    // (after 0xffff) or above end: an empty range, done at once.
    req_t r = { .proc = PROC_DISC_DSCS, .start = start_handle + 1, .end = end_handle };
    return submit(conn_handle, &r, NULL);
}

int bh_gattc_read(uint16_t conn_handle, uint16_t value_handle) {
    if (value_handle == 0) {
        return -BH_EINVAL;
    }
    req_t r = { .proc = PROC_READ, .handle = value_handle };
    return submit(conn_handle, &r, NULL);
}

int bh_gattc_write(uint16_t conn_handle, uint16_t value_handle, const uint8_t *data, size_t len,
    bool with_response) {
    if (value_handle == 0) {
        return -BH_EINVAL;
    }
    uint16_t mtu = bh_att_get_mtu(conn_handle);
    if (mtu == 0) {
        return -BH_ENOTCONN;
    }
    if (!with_response) {
        if (len > (size_t)(mtu - 3)) {
            return -BH_EMSGSIZE;
        }
        client_t *c = find_client(conn_handle);
        if (c != NULL && c->dead) {
            return -BH_ETIMEDOUT;
        }
        tx[0] = BH_ATT_WRITE_CMD;
        bh_put_u16(tx + 1, value_handle);
        memcpy(tx + 3, data, len);
        return bh_att_send_bulk(conn_handle, tx, 3 + len);
    }
    if (len > BH_GATTC_VALUE_MAX) {
        return -BH_EMSGSIZE;
    }
    req_t r = { .proc = PROC_WRITE, .handle = value_handle, .data_len = (uint16_t)len };
    return submit(conn_handle, &r, data);
}

int bh_gattc_exchange_mtu(uint16_t conn_handle) {
    req_t r = { .proc = PROC_MTU };
    return submit(conn_handle, &r, NULL);
}

// ---- responses ----

static void on_error(client_t *c, uint8_t code) {
    switch (c->proc) {
        case PROC_DISC_SERVICES:
        case PROC_DISC_SERVICES_UUID:
        case PROC_DISC_CHARS:
        case PROC_DISC_DSCS:
            finish(c, code == BH_ATT_ERR_ATTRIBUTE_NOT_FOUND ? 0 : code);
            break;
        case PROC_READ:
            // A value exactly filling the last response ends here.
            if (c->len > 0 && (code == BH_ATT_ERR_ATTRIBUTE_NOT_LONG
                               || code == BH_ATT_ERR_INVALID_OFFSET)) {
                finish(c, 0);
            } else {
                finish(c, code);
            }
            break;
        case PROC_WRITE_LONG:
            if (c->stage == LONG_PREPARE && c->offset == 0
                && code == BH_ATT_ERR_REQUEST_NOT_SUPPORTED) {
                // Nothing was queued: write what one request carries.
                uint16_t room = (uint16_t)(mtu_of(c) - 3);
                c->proc = PROC_WRITE;
                c->truncated = c->len > room;
                if (c->truncated) {
                    c->len = room;
                }
                advance(c);
            } else if (c->stage == LONG_PREPARE) {
                c->stage = LONG_CANCEL;
                c->cancel_status = code;
                advance(c);
            } else {
                finish(c, c->stage == LONG_CANCEL ? c->cancel_status : code);
            }
            break;
        case PROC_MTU:
            // No exchange: the MTU stays at the default, reported as such.
            bh_att_mtu_exchanged(c->conn_handle, BH_ATT_MTU_DEFAULT);
            finish(c, code);
            break;
        default:
            finish(c, code);
            break;
    }
}

static void invalid(client_t *c) {
    if (c->proc == PROC_WRITE_LONG && c->stage == LONG_PREPARE) {
        c->stage = LONG_CANCEL;
        c->cancel_status = BH_GATTC_STATUS_INVALID_RESPONSE;
        advance(c);
    } else if (c->proc == PROC_MTU) {
        bh_att_mtu_exchanged(c->conn_handle, BH_ATT_MTU_DEFAULT);
        finish(c, BH_GATTC_STATUS_INVALID_RESPONSE);
    } else {
        finish(c, BH_GATTC_STATUS_INVALID_RESPONSE);
    }
}

// Read By Group Type response: (start, end, uuid) groups.
static void on_services(client_t *c, const uint8_t *pdu, size_t len) {
    if (len < 2) {
        invalid(c);
        return;
    }
    size_t elen = pdu[1];
    size_t n = len - 2;
    if ((elen != 6 && elen != 20) || n == 0 || n % elen != 0) {
        invalid(c);
        return;
    }
    for (const uint8_t *p = pdu + 2; p < pdu + len; p += elen) {
        uint16_t s = bh_get_u16(p);
        uint16_t e = bh_get_u16(p + 2);
        if (c->start == 0 || s < c->start || e < s) {
            invalid(c);
            return;
        }
        bh_evt_gattc_service(c->conn_handle, s, e, p + 4, elen - 4);
        c->start = e == 0xffff ? 0 : e + 1; // 0: the end was reached
    }
    if (c->start == 0) {
        finish(c, 0);
    } else {
        advance(c);
    }
}

// Find By Type Value response: (found handle, group end) pairs.
static void on_services_by_uuid(client_t *c, const uint8_t *pdu, size_t len) {
    size_t n = len - 1;
    if (n == 0 || n % 4 != 0) {
        invalid(c);
        return;
    }
    for (const uint8_t *p = pdu + 1; p < pdu + len; p += 4) {
        uint16_t s = bh_get_u16(p);
        uint16_t e = bh_get_u16(p + 2);
        if (c->start == 0 || s < c->start || e < s) {
            invalid(c);
            return;
        }
        bh_evt_gattc_service(c->conn_handle, s, e, c->uuid, c->uuid_len);
        c->start = e == 0xffff ? 0 : e + 1;
    }
    if (c->start == 0) {
        finish(c, 0);
    } else {
        advance(c);
    }
}

// Read By Type response for 0x2803: (declaration handle, properties, value
// handle, uuid).
static void on_characteristics(client_t *c, const uint8_t *pdu, size_t len) {
    if (len < 2) {
        invalid(c);
        return;
    }
    size_t elen = pdu[1];
    size_t n = len - 2;
    if ((elen != 7 && elen != 21) || n == 0 || n % elen != 0) {
        invalid(c);
        return;
    }
    for (const uint8_t *p = pdu + 2; p < pdu + len; p += elen) {
        uint16_t decl = bh_get_u16(p);
        uint16_t value = bh_get_u16(p + 3);
        if (c->start == 0 || decl < c->start || decl > c->end || value <= decl) {
            invalid(c);
            return;
        }
        if (c->chr_pending) {
            c->chr_pending = false;
            if (chr_matches(c)) {
                bh_evt_gattc_characteristic(c->conn_handle, decl - 1, c->chr_value, c->chr_props,
                    c->chr_uuid, c->chr_uuid_len);
            }
        }
        c->chr_pending = true;
        c->chr_props = p[2];
        c->chr_value = value;
        c->chr_uuid_len = (uint8_t)(elen - 5);
        memcpy(c->chr_uuid, p + 5, elen - 5);
        c->start = decl + 1; // decl < value, so no wrap
    }
    if (c->start > c->end) {
        finish(c, 0);
    } else {
        advance(c);
    }
}

// Find Information response: format 1 (handle, uuid16) or 2 (handle, uuid128).
static void on_descriptors(client_t *c, const uint8_t *pdu, size_t len) {
    if (len < 2) {
        invalid(c);
        return;
    }
    size_t elen = pdu[1] == 1 ? 4 : pdu[1] == 2 ? 18 : 0;
    size_t n = len - 2;
    if (elen == 0 || n == 0 || n % elen != 0) {
        invalid(c);
        return;
    }
    for (const uint8_t *p = pdu + 2; p < pdu + len; p += elen) {
        uint16_t h = bh_get_u16(p);
        if (c->start == 0 || h < c->start || h > c->end) {
            invalid(c);
            return;
        }
        bh_evt_gattc_descriptor(c->conn_handle, h, p + 2, elen - 2);
        c->start = h == 0xffff ? 0 : h + 1;
    }
    if (c->start == 0 || c->start > c->end) {
        finish(c, 0);
    } else {
        advance(c);
    }
}

// Read / Read Blob response: a part of the value.
static void on_read(client_t *c, const uint8_t *pdu, size_t len) {
    size_t n = len - 1;
    size_t full = (size_t)mtu_of(c) - 1;
    if (n > full) {
        invalid(c);
        return;
    }
    size_t room = BH_GATTC_VALUE_MAX - c->len;
    size_t take = n < room ? n : room;
    memcpy(buf_of(c) + c->len, pdu + 1, take);
    c->len += (uint16_t)take;
    if (n == full && c->len < BH_GATTC_VALUE_MAX) {
        advance(c); // Read Blob from the new offset
    } else {
        finish(c, 0);
    }
}

// Prepare Write response: must echo handle, offset and value.
static void on_prepare(client_t *c, const uint8_t *pdu, size_t len) {
    if (c->stage != LONG_PREPARE) {
        invalid(c);
        return;
    }
    if (len != 5 + (size_t)c->chunk || bh_get_u16(pdu + 1) != c->handle
        || bh_get_u16(pdu + 3) != c->offset
        || memcmp(pdu + 5, buf_of(c) + c->offset, c->chunk) != 0) {
        invalid(c);
        return;
    }
    c->offset += c->chunk;
    if (c->offset >= c->len) {
        c->stage = LONG_EXECUTE;
    }
    advance(c);
}

static void on_response(client_t *c, const uint8_t *pdu, size_t len) {
    uint8_t opcode = pdu[0];
    if (opcode == BH_ATT_ERROR_RSP) {
        if (len != 5 || pdu[1] != c->req_opcode) {
            return; // not about our request
        }
        uint8_t code = pdu[4];
        on_error(c, code == 0 ? BH_ATT_ERR_UNLIKELY : code);
        return;
    }
    if (opcode != c->rsp_opcode) {
        return; // unexpected response: ignored
    }
    switch (c->proc) {
        case PROC_DISC_SERVICES:
            on_services(c, pdu, len);
            break;
        case PROC_DISC_SERVICES_UUID:
            on_services_by_uuid(c, pdu, len);
            break;
        case PROC_DISC_CHARS:
            on_characteristics(c, pdu, len);
            break;
        case PROC_DISC_DSCS:
            on_descriptors(c, pdu, len);
            break;
        case PROC_READ:
            on_read(c, pdu, len);
            break;
        case PROC_WRITE:
            if (len != 1) {
                invalid(c);
            } else {
                finish(c, c->truncated ? BH_GATTC_STATUS_TRUNCATED : 0);
            }
            break;
        case PROC_WRITE_LONG:
            if (opcode == BH_ATT_PREPARE_WRITE_RSP) {
                on_prepare(c, pdu, len);
            } else if (len != 1) {
                finish(c, BH_GATTC_STATUS_INVALID_RESPONSE);
            } else {
                finish(c, c->stage == LONG_CANCEL ? c->cancel_status : 0);
            }
            break;
        case PROC_MTU:
            if (len != 3) {
                invalid(c);
            } else {
                // The new MTU applies before the next queued procedure starts.
                bh_att_mtu_exchanged(c->conn_handle, bh_get_u16(pdu + 1));
                finish(c, 0);
            }
            break;
        default:
            break;
    }
}

static void confirm(client_t *c) {
    static const uint8_t cfm[1] = { BH_ATT_HANDLE_VALUE_CFM };
    c->cfm_pending = bh_att_send(c->conn_handle, cfm, sizeof(cfm)) == -BH_ENOMEM;
}

void bh_gattc_on_pdu(uint16_t conn_handle, const uint8_t *pdu, size_t len) {
    if (len == 0) {
        return;
    }
    uint8_t opcode = pdu[0];
    if (opcode == BH_ATT_HANDLE_VALUE_NTF || opcode == BH_ATT_HANDLE_VALUE_IND) {
        if (len < 3) {
            return; // no handle: nothing to report, nothing to confirm
        }
        bool indication = opcode == BH_ATT_HANDLE_VALUE_IND;
        bh_evt_gattc_notify(conn_handle, bh_get_u16(pdu + 1), pdu + 3, len - 3, indication);
        if (indication) {
            client_t *c = get_client(conn_handle);
            if (c != NULL) {
                confirm(c);
            } else {
                // No state to retry with: confirm once, best effort.
                static const uint8_t cfm[1] = { BH_ATT_HANDLE_VALUE_CFM };
                (void)bh_att_send(conn_handle, cfm, sizeof(cfm));
            }
        }
        return;
    }
    client_t *c = find_client(conn_handle);
    if (c == NULL || c->proc == PROC_NONE || c->retry) {
        return; // no request outstanding: a stray response
    }
    on_response(c, pdu, len);
}

// ---- life cycle ----

void bh_gattc_reset(void) {
    memset(clients, 0, sizeof(clients));
    memset(vbuf_used, 0, sizeof(vbuf_used));
    q_data_used = 0;
}

void bh_gattc_conn_closed(uint16_t conn_handle) {
    client_t *c = find_client(conn_handle);
    if (c == NULL) {
        return;
    }
    if (c->proc != PROC_NONE) {
        end_current(c, BH_GATTC_STATUS_DISCONNECTED);
    }
    end_queued(c, BH_GATTC_STATUS_DISCONNECTED);
    memset(c, 0, sizeof(*c));
    c->vbuf = NO_VBUF;
    run_all((size_t)(c - clients)); // a value buffer may have come back
}

void bh_gattc_poll(uint32_t now_ms) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; ++i) {
        client_t *c = &clients[i];
        if (!c->in_use) {
            continue;
        }
        if (c->cfm_pending) {
            confirm(c);
        }
        if (c->proc == PROC_NONE) {
            continue;
        }
        if (bh_elapsed_ms(now_ms, c->sent_ms) >= BH_ATT_TIMEOUT_MS) {
            // Core Vol 3 Part F 3.3.3: the transaction failed and the bearer
            // must not carry further requests.
            c->dead = true;
            end_current(c, BH_GATTC_STATUS_TIMEOUT);
            end_queued(c, BH_GATTC_STATUS_TIMEOUT);
            run_all(i);
        } else if (c->retry) {
            advance(c);
        }
    }
}
