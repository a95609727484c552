// Unit tests of the ATT bearer (bh_att.c) and the GATT server (bh_gatts.c)
// against a fake L2CAP layer: the database layout, every request's answers,
// the storage the embedding gives (sized by the plan, moved, released), the
// value pool when capacities change, prepare/execute writes on one queue
// shared by two links, CCCDs and indications with their timeout, and
// random/truncated PDUs (under ASan and UBSan nothing may read out of
// bounds, nor into a storage given back).
#include "bh_err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bh_att.h"
#include "bh_conn.h"
#include "bh_gatts.h"
#include "bh_smp_keys.h"
#include "blehost.h"

#define CONN (0x0040)
#define CONN2 (0x0041)

static int failures;
static int checks;

#define CHECK(cond) do { \
        checks++; \
        if (!(cond)) { \
            failures++; \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        } \
} while (0)

// ---- fakes of the layers below ----

static bh_conn_t the_conn = { .used = true, .handle = CONN };
static bh_conn_t the_conn2 = { .used = true, .handle = CONN2 };
static bool conn_up = true;
static bool conn2_up = false;
static bh_l2cap_rx_fn_t att_handler;
static uint8_t last_tx[600];
static size_t last_len;
static uint16_t last_conn;
static int n_tx;
static size_t tx_queued;
static uint32_t now_ms;

bh_conn_t *bh_conn_find(uint16_t handle) {
    if (conn2_up && handle == CONN2) {
        return &the_conn2;
    }
    return conn_up && handle == CONN ? &the_conn : NULL;
}

int bh_l2cap_set_rx_handler(uint16_t cid, bh_l2cap_rx_fn_t fn) {
    if (cid == BH_L2CAP_CID_ATT) {
        att_handler = fn;
    }
    return 0;
}

int bh_l2cap_send(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    if (bh_conn_find(conn_handle) == NULL) {
        return -BH_ENOTCONN;
    }
    if (cid != BH_L2CAP_CID_ATT || len > sizeof(last_tx)) {
        return -BH_EMSGSIZE;
    }
    memcpy(last_tx, data, len);
    last_len = len;
    last_conn = conn_handle;
    n_tx++;
    return 0;
}

size_t bh_acl_tx_queued(void) {
    return tx_queued;
}

// Bulk data (notifications, indications) never takes the room reserved for
// protocol PDUs, as bh_acl.c admits it: modelled here as a queue of
// FAKE_TXQ_LEN PDUs whatever their length.
#define FAKE_TXQ_LEN (12)

size_t bh_acl_tx_bulk_room(size_t len) {
    (void)len;
    size_t free_slots = FAKE_TXQ_LEN - tx_queued;
    return free_slots > BH_ACL_TX_RESERVED ? free_slots - BH_ACL_TX_RESERVED : 0;
}

static int n_bulk;

int bh_l2cap_send_bulk(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    if (bh_conn_find(conn_handle) != NULL && bh_acl_tx_bulk_room(len) == 0) {
        return -BH_ENOMEM;
    }
    int err = bh_l2cap_send(conn_handle, cid, data, len);
    n_bulk += err == 0;
    return err;
}

uint32_t bh_port_ticks_ms(void) {
    return now_ms;
}

// The GATT client's hooks (bh_att.c routes responses, notifications and
// indications to it): a fake that counts what reached it.
static int n_client_pdus;

void bh_gattc_on_pdu(uint16_t conn_handle, const uint8_t *pdu, size_t len) {
    (void)conn_handle;
    (void)pdu;
    (void)len;
    n_client_pdus++;
}

void bh_gattc_conn_closed(uint16_t conn_handle) {
    (void)conn_handle;
}

void bh_gattc_poll(uint32_t now) {
    (void)now;
}

void bh_gattc_reset(void) {
}

// The bond store's hook (bh_smp_keys.c): a bonded client's changed
// subscriptions are saved under its identity.
static int n_cccd_saves;
static bh_addr_t last_cccd_id;

void bh_smp_cccd_save(uint16_t conn_handle, const bh_addr_t *id) {
    (void)conn_handle;
    n_cccd_saves++;
    last_cccd_id = *id;
}

// ---- events ----

static int n_writes;
static uint16_t last_write;
static uint8_t read_reply;
static int n_read_requests;
// What a read request handler does besides answering (NULL: nothing).
static void (*on_read_request)(uint16_t handle);
static int n_ind_done;
static uint8_t last_outcome;
static int n_mtu;
static uint16_t last_mtu;

void bh_evt_gatts_write(uint16_t conn_handle, uint16_t handle) {
    (void)conn_handle;
    n_writes++;
    last_write = handle;
}

uint8_t bh_evt_gatts_read_request(uint16_t conn_handle, uint16_t handle) {
    (void)conn_handle;
    n_read_requests++;
    if (on_read_request != NULL) {
        on_read_request(handle);
    }
    return read_reply;
}

void bh_evt_gatts_indicate_done(uint16_t conn_handle, uint16_t handle, uint8_t outcome) {
    (void)conn_handle;
    (void)handle;
    n_ind_done++;
    last_outcome = outcome;
}

void bh_evt_mtu_exchanged(uint16_t conn_handle, uint16_t mtu) {
    (void)conn_handle;
    n_mtu++;
    last_mtu = mtu;
}

size_t bh_evt_gap_name(const uint8_t **name) {
    static const uint8_t n[] = "unit-test-device-name-longer-than-twenty-two";
    *name = n;
    return sizeof(n) - 1;
}

// ---- helpers ----

static void rx_on(uint16_t conn, const uint8_t *pdu, size_t len) {
    last_len = 0;
    att_handler(conn, BH_L2CAP_CID_ATT, pdu, len);
}

static void rx(const uint8_t *pdu, size_t len) {
    rx_on(CONN, pdu, len);
}

#define RX(...) do { \
        const uint8_t p_[] = { __VA_ARGS__ }; \
        rx(p_, sizeof(p_)); \
} while (0)

static bool got(const uint8_t *expect, size_t len) {
    if (last_len != len || memcmp(last_tx, expect, len) != 0) {
        printf("  got:");
        for (size_t i = 0; i < last_len; i++) {
            printf(" %02x", last_tx[i]);
        }
        printf("\n");
        return false;
    }
    return true;
}

#define GOT(...) ({ const uint8_t e_[] = { __VA_ARGS__ }; got(e_, sizeof(e_)); })

static bool is_error(uint8_t op, uint16_t handle, uint8_t code) {
    return GOT(0x01, op, handle & 0xff, handle >> 8, code);
}

static const uint8_t u180d[2] = { 0x0d, 0x18 };
static const uint8_t u2a37[2] = { 0x37, 0x2a };
static const uint8_t uart[16] = { 0x9e, 0xca, 0xdc, 0x24, 0x0e, 0xe5, 0xa9, 0xe0, 0x93, 0xf3, 0xa3, 0xb5, 0x01, 0x00, 0x40, 0x6e };
static const uint8_t uart_tx[16] = { 0x9e, 0xca, 0xdc, 0x24, 0x0e, 0xe5, 0xa9, 0xe0, 0x93, 0xf3, 0xa3, 0xb5, 0x03, 0x00, 0x40, 0x6e };
static const uint8_t uart_rx[16] = { 0x9e, 0xca, 0xdc, 0x24, 0x0e, 0xe5, 0xa9, 0xe0, 0x93, 0xf3, 0xa3, 0xb5, 0x02, 0x00, 0x40, 0x6e };

// The storage the embedding would give: on the heap, so ASan sees any use
// after it is given back (freed at the next storage_give).
static void *storage;

static void storage_give(size_t len, const bh_gatts_plan_t *plan) {
    void *old = storage;
    storage = len > 0 ? malloc(len) : NULL;
    CHECK(bh_gatts_reset_db(storage, len, plan) == 0);
    free(old);
}

// Roomy storage: 64 attributes, 8 long UUIDs, value bytes for test_value_pool.
static void storage_roomy(void) {
    const bh_gatts_plan_t plan = { .attrs = 64, .uuid128 = 8, .values = 2048, .cccds = 8 };
    size_t size;
    CHECK(bh_gatts_plan_size(&plan, &size) == 0);
    storage_give(size, &plan);
}

// Handles 1-5 are Generic Access, 6-9 Generic Attribute (Service Changed,
// its CCCD at 9); the embedding's services start at 10: heart rate 10-13
// (value 12, CCCD 13), UART 14-19 (tx value 16, CCCD 17, rx value 19).
static void setup_hr_uart(int *hr, int *tx, int *rxh) {
    conn_up = true;
    conn2_up = false;
    tx_queued = 0;
    on_read_request = NULL;
    bh_att_init();
    storage_roomy();
    CHECK(bh_gatts_add_service(u180d, 2) == BH_GATTS_FIRST_USER_HANDLE);
    *hr = bh_gatts_add_characteristic(u2a37, 2, BH_GATTS_F_READ | BH_GATTS_F_NOTIFY, false);
    CHECK(bh_gatts_add_service(uart, 16) == 14);
    *tx = bh_gatts_add_characteristic(uart_tx, 16, BH_GATTS_F_READ | BH_GATTS_F_NOTIFY, false);
    *rxh = bh_gatts_add_characteristic(uart_rx, 16, BH_GATTS_F_WRITE, false);
}

// ---- tests ----

static void test_layout_and_discovery(void) {
    int hr, tx, rxh;
    setup_hr_uart(&hr, &tx, &rxh);
    CHECK(hr == 12 && tx == 16 && rxh == 19);
    CHECK(bh_gatts_attr_count() == 19);
    // Read By Group Type over everything: 16-bit services (GAP, GATT, HR),
    // then the 128-bit one.
    RX(0x10, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28);
    CHECK(GOT(0x11, 6, 1, 0, 5, 0, 0x00, 0x18, 6, 0, 9, 0, 0x01, 0x18, 10, 0, 13, 0, 0x0d, 0x18));
    RX(0x10, 0x0e, 0x00, 0xff, 0xff, 0x00, 0x28);
    CHECK(last_len == 2 + 20 && last_tx[1] == 20 && last_tx[2] == 14 && last_tx[4] == 19
        && memcmp(last_tx + 6, uart, 16) == 0);
    RX(0x10, 0x14, 0x00, 0xff, 0xff, 0x00, 0x28);
    CHECK(is_error(0x10, 0x14, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND));
    // Characteristic declarations of the HR service and the CCCD.
    RX(0x08, 0x0a, 0x00, 0x0d, 0x00, 0x03, 0x28);
    CHECK(GOT(0x09, 7, 11, 0, 0x12, 12, 0, 0x37, 0x2a));
    RX(0x04, 0x0c, 0x00, 0x0d, 0x00);
    CHECK(GOT(0x05, 1, 12, 0, 0x37, 0x2a, 13, 0, 0x02, 0x29));
    // Service Changed: indicate only.
    RX(0x08, 0x06, 0x00, 0x09, 0x00, 0x03, 0x28);
    CHECK(GOT(0x09, 7, 7, 0, 0x20, 8, 0, 0x05, 0x2a));
    RX(0x04, 0x13, 0x00, 0x13, 0x00);
    CHECK(last_len == 2 + 18 && last_tx[1] == 2 && memcmp(last_tx + 4, uart_rx, 16) == 0);
}

static void test_reads_and_mtu(void) {
    int hr, tx, rxh;
    setup_hr_uart(&hr, &tx, &rxh);
    // Device name longer than MTU-1: first 22 bytes, then the rest by blob.
    RX(0x0a, 0x03, 0x00);
    CHECK(last_len == 23 && memcmp(last_tx + 1, "unit-test-device-name-", 22) == 0);
    RX(0x0c, 0x03, 0x00, 22, 0x00);
    CHECK(last_len == 23 && memcmp(last_tx + 1, "longer-than-twenty-two", 22) == 0);
    RX(0x0c, 0x03, 0x00, 44, 0x00);
    CHECK(GOT(0x0d));
    RX(0x0c, 0x03, 0x00, 45, 0x00);
    CHECK(is_error(0x0c, 3, BH_ATT_ERR_INVALID_OFFSET));
    // MTU exchange: min(local, peer), reported once.
    n_mtu = 0;
    CHECK(bh_att_set_local_mtu(22) == -BH_EINVAL && bh_att_set_local_mtu(518) == -BH_EINVAL);
    CHECK(bh_att_set_local_mtu(100) == 0);
    RX(0x02, 0xf7, 0x00);
    CHECK(GOT(0x03, 100, 0));
    CHECK(n_mtu == 1 && last_mtu == 100 && bh_att_get_mtu(CONN) == 100);
    RX(0x02, 0x10, 0x00); // below 23: 23 is used
    CHECK(n_mtu == 1 && bh_att_get_mtu(CONN) == 23);
    CHECK(bh_att_get_mtu(0x99) == 0);
    bh_att_set_local_mtu(23);
    // Read requests: the callback's answer becomes the error.
    uint8_t v[512];
    for (size_t i = 0; i < sizeof(v); i++) {
        v[i] = (uint8_t)(i * 3);
    }
    CHECK(bh_gatts_set_value((uint16_t)hr, v, sizeof(v)) == 0);
    read_reply = BH_ATT_ERR_INSUFFICIENT_AUTHORIZATION;
    n_read_requests = 0;
    RX(0x0a, (uint8_t)hr, 0x00);
    CHECK(is_error(0x0a, (uint16_t)hr, BH_ATT_ERR_INSUFFICIENT_AUTHORIZATION) && n_read_requests == 1);
    read_reply = 0;
    // A 512-byte value read completely by blobs.
    size_t off = 0;
    uint8_t back[512];
    for (int guard = 0; guard < 40 && off < sizeof(back); guard++) {
        RX(0x0c, (uint8_t)hr, 0x00, (uint8_t)off, (uint8_t)(off >> 8));
        CHECK(last_tx[0] == 0x0d);
        memcpy(back + off, last_tx + 1, last_len - 1);
        off += last_len - 1;
    }
    CHECK(off == 512 && memcmp(back, v, 512) == 0);
    // Read Multiple and its errors; write not permitted on hr (no write flag).
    RX(0x0e, 0x05, 0x00, (uint8_t)hr, 0x00);
    CHECK(last_tx[0] == 0x0f && last_len == 23 && last_tx[1] == 0 && last_tx[2] == 0 && last_tx[3] == v[0]);
    RX(0x0e, 0x05, 0x00);
    CHECK(is_error(0x0e, 0, BH_ATT_ERR_INVALID_PDU));
    RX(0x12, (uint8_t)hr, 0x00, 1);
    CHECK(is_error(0x12, (uint16_t)hr, BH_ATT_ERR_WRITE_NOT_PERMITTED));
    RX(0x0a, (uint8_t)rxh, 0x00);
    CHECK(is_error(0x0a, (uint16_t)rxh, BH_ATT_ERR_READ_NOT_PERMITTED));
}

static void test_value_pool(void) {
    int hr, tx, rxh;
    setup_hr_uart(&hr, &tx, &rxh);
    CHECK(bh_gatts_set_value((uint16_t)hr, (const uint8_t *)"hr", 2) == 0);
    CHECK(bh_gatts_set_value((uint16_t)tx, (const uint8_t *)"tx", 2) == 0);
    CHECK(bh_gatts_set_value((uint16_t)rxh, (const uint8_t *)"rx", 2) == 0);
    // Growing and shrinking the first value moves the others intact.
    CHECK(bh_gatts_set_buffer((uint16_t)hr, 300, false) == 0);
    CHECK(bh_gatts_set_buffer((uint16_t)tx, 1, false) == 0);
    CHECK(bh_gatts_set_buffer((uint16_t)hr, 0, false) == 0);
    const uint8_t *d;
    size_t n;
    CHECK(bh_gatts_get_value((uint16_t)hr, &d, &n) == 0 && n == 0);
    CHECK(bh_gatts_get_value((uint16_t)tx, &d, &n) == 0 && n == 1 && d[0] == 't');
    CHECK(bh_gatts_get_value((uint16_t)rxh, &d, &n) == 0 && n == 2 && memcmp(d, "rx", 2) == 0);
    CHECK(bh_gatts_get_value(13, &d, &n) == -BH_EINVAL); // automatic CCCD
    CHECK(bh_gatts_get_value(1, &d, &n) == -BH_EINVAL);
    CHECK(bh_gatts_set_buffer((uint16_t)rxh, 513, false) == -BH_EMSGSIZE);
    // The pool runs out: ENOMEM, nothing damaged.
    int err = 0;
    for (int i = 0; i < 100 && err == 0; i++) {
        uint8_t u[2] = { (uint8_t)i, 0x30 };
        err = bh_gatts_add_characteristic(u, 2, BH_GATTS_F_READ, false);
        if (err > 0) {
            err = bh_gatts_set_buffer((uint16_t)err, 512, false);
        }
    }
    CHECK(err == -BH_ENOMEM);
    CHECK(bh_gatts_get_value((uint16_t)rxh, &d, &n) == 0 && n == 2 && memcmp(d, "rx", 2) == 0);
    // Remote writes: truncated to capacity; append mode accumulates.
    storage_roomy();
    CHECK(bh_gatts_add_service(u180d, 2) > 0);
    int w = bh_gatts_add_characteristic(u2a37, 2, BH_GATTS_F_WRITE | BH_GATTS_F_READ, false);
    n_writes = 0;
    CHECK(bh_gatts_set_buffer((uint16_t)w, 12, false) == 0);
    RX(0x12, (uint8_t)w, 0, '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j');
    CHECK(GOT(0x13) && n_writes == 1 && last_write == w);
    CHECK(bh_gatts_get_value((uint16_t)w, &d, &n) == 0 && n == 12 && d[11] == 'b');
    // Longer than the MTU: not a valid PDU.
    RX(0x12, (uint8_t)w, 0, '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k');
    CHECK(is_error(0x12, 0, BH_ATT_ERR_INVALID_PDU) && n_writes == 1);
    CHECK(bh_gatts_set_buffer((uint16_t)w, 6, true) == 0);
    bh_gatts_consume((uint16_t)w);
    RX(0x52, (uint8_t)w, 0, 'a', 'b', 'c');
    RX(0x52, (uint8_t)w, 0, 'd', 'e', 'f', 'g');
    CHECK(n_writes == 3);
    CHECK(bh_gatts_get_value((uint16_t)w, &d, &n) == 0 && n == 6 && memcmp(d, "abcdef", 6) == 0);
    bh_gatts_consume((uint16_t)w);
    CHECK(bh_gatts_get_value((uint16_t)w, &d, &n) == 0 && n == 0);
}

static void test_prepare_execute(void) {
    int hr, tx, plain;
    setup_hr_uart(&hr, &tx, &plain);
    n_writes = 0;
    // Queued writes only where _FLAG_AUX_WRITE allows them: not on a plain
    // writable characteristic, nor on an automatic CCCD.
    RX(0x16, (uint8_t)plain, 0, 0, 0, 'x');
    CHECK(is_error(0x16, (uint16_t)plain, BH_ATT_ERR_REQUEST_NOT_SUPPORTED));
    RX(0x16, 13, 0, 0, 0, 1, 0);
    CHECK(is_error(0x16, 13, BH_ATT_ERR_REQUEST_NOT_SUPPORTED));
    RX(0x18, 0x01);
    CHECK(GOT(0x19) && n_writes == 0); // nothing was queued
    int rxh = bh_gatts_add_characteristic(u2a37, 2, BH_GATTS_F_WRITE | BH_GATTS_F_AUX_WRITE, false);
    CHECK(rxh == 21);
    CHECK(bh_gatts_set_buffer((uint16_t)rxh, 100, false) == 0);
    n_writes = 0;
    for (uint8_t i = 0; i < 5; i++) {
        uint8_t p[5 + 18];
        p[0] = 0x16;
        p[1] = (uint8_t)rxh;
        p[2] = 0;
        p[3] = (uint8_t)(i * 18);
        p[4] = 0;
        memset(p + 5, 'A' + i, 18);
        rx(p, sizeof(p));
        p[0] = 0x17;
        CHECK(got(p, sizeof(p)));
    }
    CHECK(n_writes == 0);
    RX(0x18, 0x01);
    CHECK(GOT(0x19) && n_writes == 1 && last_write == rxh);
    const uint8_t *d;
    size_t n;
    CHECK(bh_gatts_get_value((uint16_t)rxh, &d, &n) == 0 && n == 90 && d[0] == 'A' && d[89] == 'E');
    // Invalid offset found at execute; nothing applied.
    RX(0x16, (uint8_t)rxh, 0, 0, 0, 'x');
    RX(0x16, (uint8_t)rxh, 0, 200, 0, 'y');
    RX(0x18, 0x01);
    CHECK(is_error(0x18, (uint16_t)rxh, BH_ATT_ERR_INVALID_OFFSET));
    CHECK(bh_gatts_get_value((uint16_t)rxh, &d, &n) == 0 && n == 90);
    // Cancel.
    RX(0x16, (uint8_t)rxh, 0, 0, 0, 'z');
    RX(0x18, 0x00);
    CHECK(GOT(0x19) && bh_gatts_get_value((uint16_t)rxh, &d, &n) == 0 && n == 90 && d[0] == 'A');
    // Not writable: refused at prepare.
    RX(0x16, (uint8_t)hr, 0, 0, 0, 'z');
    CHECK(is_error(0x16, (uint16_t)hr, BH_ATT_ERR_WRITE_NOT_PERMITTED));
    // Queue full.
    int guard = 0;
    do {
        uint8_t p[5 + 18] = { 0x16, (uint8_t)rxh, 0, 0, 0 };
        rx(p, sizeof(p));
    } while (last_tx[0] == 0x17 && ++guard < 100);
    CHECK(is_error(0x16, (uint16_t)rxh, BH_ATT_ERR_PREPARE_QUEUE_FULL));
    RX(0x18, 0x00);
}

static void test_cccd_notify_indicate(void) {
    int hr, tx, rxh;
    setup_hr_uart(&hr, &tx, &rxh);
    n_writes = 0;
    CHECK(bh_gatts_set_value((uint16_t)hr, (const uint8_t *)"v", 1) == 0);
    n_tx = 0;
    CHECK(bh_gatts_send_update((uint16_t)hr) == 0 && n_tx == 0);
    RX(0x12, 13, 0, 0x01, 0x00);
    CHECK(GOT(0x13) && n_writes == 0); // automatic CCCD: no event
    RX(0x0a, 13, 0);
    CHECK(GOT(0x0b, 0x01, 0x00));
    RX(0x12, 13, 0, 0x01);
    CHECK(is_error(0x12, 13, BH_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH));
    CHECK(bh_gatts_send_update((uint16_t)hr) == 0 && GOT(0x1b, (uint8_t)hr, 0, 'v'));
    // Notifications are bulk data: they keep the transmit slots reserved
    // for responses free.
    tx_queued = FAKE_TXQ_LEN - BH_ACL_TX_RESERVED;
    n_tx = 0;
    CHECK(bh_gatts_notify(CONN, (uint16_t)hr, (const uint8_t *)"x", 1) == -BH_ENOMEM);
    CHECK(bh_gatts_send_update((uint16_t)hr) == -BH_ENOMEM && n_tx == 0);
    tx_queued = FAKE_TXQ_LEN - BH_ACL_TX_RESERVED - 1;
    n_bulk = 0;
    CHECK(bh_gatts_send_update((uint16_t)hr) == 0 && n_tx == 1 && n_bulk == 1);
    tx_queued = 0;
    CHECK(bh_gatts_notify(0x99, (uint16_t)hr, (const uint8_t *)"x", 1) == -BH_ENOTCONN);
    CHECK(bh_gatts_notify(CONN, 0, (const uint8_t *)"x", 1) == -BH_EINVAL);
    // Any other handle with explicit data: the embedding vouches for it.
    CHECK(bh_gatts_notify(CONN, 3, (const uint8_t *)"x", 1) == 0 && GOT(0x1b, 3, 0, 'x'));
    // Indications: one at a time, confirmed, timed out, ended by disconnect.
    n_ind_done = 0;
    now_ms = 1000;
    CHECK(bh_gatts_indicate(CONN, (uint16_t)tx, (const uint8_t *)"i", 1) == 0);
    CHECK(GOT(0x1d, (uint8_t)tx, 0, 'i'));
    CHECK(bh_gatts_indicate(CONN, (uint16_t)tx, (const uint8_t *)"j", 1) == -BH_EBUSY);
    RX(0x1e);
    CHECK(n_ind_done == 1 && last_outcome == BH_GATTS_IND_OK && last_len == 0);
    RX(0x1e); // unexpected: ignored
    CHECK(n_ind_done == 1);
    CHECK(bh_gatts_indicate(CONN, (uint16_t)tx, (const uint8_t *)"k", 1) == 0);
    now_ms += BH_ATT_TIMEOUT_MS - 1;
    bh_att_poll(now_ms);
    CHECK(n_ind_done == 1);
    now_ms += 1;
    bh_att_poll(now_ms);
    CHECK(n_ind_done == 2 && last_outcome == BH_GATTS_IND_TIMEOUT);
    CHECK(bh_gatts_indicate(CONN, (uint16_t)tx, (const uint8_t *)"l", 1) == 0);
    bh_att_conn_closed(CONN);
    CHECK(n_ind_done == 3 && last_outcome == BH_GATTS_IND_DISCONNECTED);
    // A new link starts unsubscribed.
    n_tx = 0;
    CHECK(bh_gatts_send_update((uint16_t)hr) == 0 && n_tx == 0);
}

static void test_cccd_of_bonded_clients(void) {
    int hr, tx, rxh;
    setup_hr_uart(&hr, &tx, &rxh);
    uint16_t h[4], v[4];
    CHECK(bh_gatts_cccd_list(CONN, h, v, 4) == 0);
    // Not bonded: subscribing saves nothing.
    n_cccd_saves = 0;
    RX(0x12, 13, 0, 0x01, 0x00);
    CHECK(GOT(0x13) && n_cccd_saves == 0);
    // Bonded: a change is saved under the bond's identity; the same value
    // again is no change.
    the_conn.sec.bonded = true;
    the_conn.sec.bond_id = (bh_addr_t){ .type = 1, .val = { 1, 2, 3, 4, 5, 0xc6 } };
    RX(0x12, 17, 0, 0x03, 0x00);
    CHECK(GOT(0x13) && n_cccd_saves == 1 && last_cccd_id.val[5] == 0xc6);
    RX(0x12, 17, 0, 0x03, 0x00);
    CHECK(n_cccd_saves == 1);
    // Listed in handle order, reserved bits dropped.
    CHECK(bh_gatts_cccd_list(CONN, h, v, 4) == 2 && h[0] == 13 && v[0] == 1 && h[1] == 17 && v[1] == 3);
    CHECK(bh_gatts_cccd_list(CONN, h, v, 1) == 1 && h[0] == 13);
    RX(0x12, 13, 0, 0x00, 0x00);
    CHECK(n_cccd_saves == 2 && bh_gatts_cccd_list(CONN, h, v, 4) == 1 && h[0] == 17);
    // Restoring: only CCCDs (a changed database drops the others), masked.
    CHECK(bh_gatts_cccd_restore(CONN, 13, 0xff01));
    CHECK(!bh_gatts_cccd_restore(CONN, 12, 1));
    CHECK(!bh_gatts_cccd_restore(CONN, 0x7fff, 1));
    CHECK(bh_gatts_cccd_restore(CONN, 9, 2)); // Service Changed's own
    CHECK(bh_gatts_cccd_list(CONN, h, v, 4) == 3 && h[0] == 9 && v[0] == 2 && h[1] == 13 && v[1] == 1);
    n_tx = 0;
    CHECK(bh_gatts_send_update((uint16_t)hr) == 0 && n_tx == 1);
    CHECK(!bh_gatts_cccd_restore(0x99, 13, 1)); // no such link
    the_conn.sec.bonded = false;
    bh_att_conn_closed(CONN);
    CHECK(bh_gatts_cccd_list(CONN, h, v, 4) == 0);
}

static void test_errors_and_fuzz(void) {
    int hr, tx, rxh;
    setup_hr_uart(&hr, &tx, &rxh);
    RX(0x20, 1, 0);
    CHECK(is_error(0x20, 0, BH_ATT_ERR_REQUEST_NOT_SUPPORTED));
    RX(0x7f, 1, 0);
    CHECK(last_len == 0);
    // A response is the client's: routed there, never answered by the server.
    n_client_pdus = 0;
    RX(0x0b, 1, 2);
    CHECK(n_client_pdus == 1 && last_len == 0);
    RX(0xd2, 15, 0, 1, 2, 3);
    CHECK(last_len == 0);
    RX(0x0a, 0, 0);
    CHECK(is_error(0x0a, 0, BH_ATT_ERR_INVALID_HANDLE));
    RX(0x04, 5, 0, 4, 0);
    CHECK(is_error(0x04, 5, BH_ATT_ERR_INVALID_HANDLE));
    RX(0x10, 1, 0, 0xff, 0xff, 0x03, 0x28);
    CHECK(is_error(0x10, 1, BH_ATT_ERR_UNSUPPORTED_GROUP_TYPE));
    RX(0x10, 1, 0, 0xff, 0xff, 0x01, 0x28);
    CHECK(is_error(0x10, 1, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND));
    RX(0x06, 1, 0, 0xff, 0xff, 0x00, 0x28, 0x0d, 0x18);
    CHECK(GOT(0x07, 10, 0, 13, 0));
    // Every request opcode truncated at every length: Invalid PDU below the
    // opcode's least valid length, a normal answer from it on (an empty
    // value is valid for Find By Type Value, Write and Prepare Write), never
    // a read past the PDU.
    static const struct {
        uint8_t len; // the whole request
        uint8_t min; // least valid length
        uint8_t pdu[9];
    } full[] = {
        { 3, 3, { 0x02, 0x17, 0x00 } },
        { 5, 5, { 0x04, 0x01, 0x00, 0xff, 0xff } },
        { 9, 7, { 0x06, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28, 0x0d, 0x18 } },
        { 7, 7, { 0x08, 0x01, 0x00, 0xff, 0xff, 0x03, 0x28 } },
        { 3, 3, { 0x0a, 0x0c, 0x00 } },
        { 5, 5, { 0x0c, 0x0c, 0x00, 0x00, 0x00 } },
        { 5, 5, { 0x0e, 0x0c, 0x00, 0x10, 0x00 } },
        { 7, 7, { 0x10, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28 } },
        { 4, 3, { 0x12, 0x13, 0x00, 0x41 } },
        { 6, 5, { 0x16, 0x13, 0x00, 0x00, 0x00, 0x41 } },
        { 2, 2, { 0x18, 0x01 } },
    };
    int truncated = 0;
    for (size_t i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
        uint8_t op = full[i].pdu[0];
        for (size_t len = 1; len <= full[i].len; len++) {
            // Exactly len bytes on the heap: ASan catches any read past them.
            uint8_t *p = malloc(len);
            memcpy(p, full[i].pdu, len);
            rx(p, len);
            free(p);
            if (len < full[i].min) {
                truncated++;
                CHECK(is_error(op, 0, BH_ATT_ERR_INVALID_PDU));
            } else {
                bool invalid_pdu = last_len == 5 && last_tx[0] == BH_ATT_ERROR_RSP
                    && last_tx[4] == BH_ATT_ERR_INVALID_PDU;
                CHECK(last_len > 0 && !invalid_pdu);
            }
        }
    }
    // 2 + 4 + 6 + 6 + 2 + 4 + 4 + 6 + 2 + 4 + 1 truncated requests.
    CHECK(truncated == 41);
    RX(0x18, 0x00);
    // Random PDUs: anything may come back, nothing may break.
    srand(1234);
    for (int i = 0; i < 20000; i++) {
        size_t len = 1 + (size_t)(rand() % 30);
        uint8_t *p = malloc(len);
        for (size_t k = 0; k < len; k++) {
            p[k] = (uint8_t)rand();
        }
        static const uint8_t ops[] = { 0x02, 0x04, 0x06, 0x08, 0x0a, 0x0c, 0x0e, 0x10, 0x12, 0x16, 0x18, 0x1e, 0x52 };
        p[0] = ops[rand() % (int)sizeof(ops)];
        if (len > 2 && (rand() & 1)) {
            p[2] = 0; // handles in range more often
        }
        rx(p, len);
        free(p);
        CHECK(last_len <= 23);
    }
    RX(0x18, 0x00);
    // The embedding's handles still hold (no corruption).
    const uint8_t *d;
    size_t n;
    CHECK(bh_gatts_get_value((uint16_t)hr, &d, &n) == 0);
    CHECK(bh_gatts_attr_count() == 19);
}

// The permission matrix (Core Vol 3 Part C 10.3.1, Part F 4): every link
// state the radio can produce against each security flag and the
// combinations whose precedence matters; the expected codes are written out.
static void test_permission_matrix(void) {
    enum { R_ENC = BH_GATTS_F_READ_ENCRYPTED, R_AUTHN = BH_GATTS_F_READ_AUTHENTICATED,
           R_AUTHZ = BH_GATTS_F_READ_AUTHORIZED, W_ENC = BH_GATTS_F_WRITE_ENCRYPTED,
           W_AUTHN = BH_GATTS_F_WRITE_AUTHENTICATED, W_AUTHZ = BH_GATTS_F_WRITE_AUTHORIZED };
    static const bh_conn_sec_t states[] = {
        { .encrypted = false, .authenticated = false, .bonded = false, .key_size = 0 },  // fresh link
        { .encrypted = false, .authenticated = false, .bonded = true, .key_size = 0 },   // bonded, not yet encrypted
        { .encrypted = true, .authenticated = false, .bonded = false, .key_size = 16 },  // Just Works
        { .encrypted = true, .authenticated = true, .bonded = true, .key_size = 16 },    // MITM, bonded
        { .encrypted = true, .authenticated = false, .bonded = true, .key_size = 7 },    // short key
        { .encrypted = true, .authenticated = true, .bonded = false, .key_size = 15 },   // short key, MITM
    };
    static const struct {
        uint16_t flags;
        bool write;
        uint8_t expect[6]; // per state above
    } rows[] = {
        { 0, false, { 0, 0, 0, 0, 0, 0 } },
        { R_ENC, false, { 0x05, 0x0f, 0, 0, 0x0c, 0x0c } },
        { R_AUTHN, false, { 0x05, 0x0f, 0x05, 0, 0x0c, 0x0c } },
        { R_AUTHZ, false, { 0, 0, 0, 0, 0, 0 } }, // the read request handler decides
        { R_ENC | R_AUTHN, false, { 0x05, 0x0f, 0x05, 0, 0x0c, 0x0c } },
        { R_ENC | R_AUTHZ, false, { 0x05, 0x0f, 0, 0, 0x0c, 0x0c } },
        { 0, true, { 0, 0, 0, 0, 0, 0 } },
        { W_ENC, true, { 0x05, 0x0f, 0, 0, 0x0c, 0x0c } },
        { W_AUTHN, true, { 0x05, 0x0f, 0x05, 0, 0x0c, 0x0c } },
        { W_AUTHZ, true, { 0x08, 0x08, 0x08, 0x08, 0x08, 0x08 } },
        { W_ENC | W_AUTHZ, true, { 0x05, 0x0f, 0x08, 0x08, 0x0c, 0x0c } },
        { W_AUTHN | W_AUTHZ, true, { 0x05, 0x0f, 0x05, 0x08, 0x0c, 0x0c } },
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
            uint8_t got = bh_gatts_check_perm(rows[r].flags, rows[r].write, &states[k]);
            if (got != rows[r].expect[k]) {
                printf("perm row %u state %u: 0x%02x, expected 0x%02x\n", (unsigned)r, (unsigned)k,
                    got, rows[r].expect[k]);
            }
            CHECK(got == rows[r].expect[k]);
        }
    }
    // Every combination of the six flags: a read depends on the read flags
    // only, a write on the write flags only.
    const uint16_t read_mask = R_ENC | R_AUTHN | R_AUTHZ;
    const uint16_t write_mask = W_ENC | W_AUTHN | W_AUTHZ;
    for (unsigned bits = 0; bits < 64; bits++) {
        uint16_t flags = (uint16_t)(((bits & 7) << 9) | ((bits >> 3) << 12));
        for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
            CHECK(bh_gatts_check_perm(flags, false, &states[k])
                == bh_gatts_check_perm(flags & read_mask, false, &states[k]));
            CHECK(bh_gatts_check_perm(flags, true, &states[k])
                == bh_gatts_check_perm(flags & write_mask, true, &states[k]));
        }
    }
}

// The storage the embedding gives: the plan says exactly how much the
// services take, bounds are bh_config.h's, values may outgrow the old fixed
// 8 KB pool, a move keeps everything, and a storage given back is never
// touched again (ASan: each is freed as soon as the next is given).
static void test_storage(void) {
    conn_up = true;
    conn2_up = false;
    tx_queued = 0;
    on_read_request = NULL;
    bh_att_init();
    // The plan of HR + UART, as the binding makes it.
    bh_gatts_plan_t plan = { 0 };
    bh_gatts_plan_service(&plan, u180d, 2);
    bh_gatts_plan_characteristic(&plan, u2a37, 2, BH_GATTS_F_READ | BH_GATTS_F_NOTIFY, false);
    bh_gatts_plan_service(&plan, uart, 16);
    bh_gatts_plan_characteristic(&plan, uart_tx, 16, BH_GATTS_F_READ | BH_GATTS_F_NOTIFY, false);
    bh_gatts_plan_characteristic(&plan, uart_rx, 16, BH_GATTS_F_WRITE, false);
    CHECK(plan.attrs == 10 && plan.uuid128 == 3 && plan.values == 3 * BH_GATTS_DEFAULT_CAP && plan.cccds == 2);
    size_t size;
    CHECK(bh_gatts_plan_size(&plan, &size) == 0);
    // Each part costs what it says: a long UUID 16 bytes, a value its default capacity.
    bh_gatts_plan_t more = plan;
    more.uuid128++;
    size_t size2;
    CHECK(bh_gatts_plan_size(&more, &size2) == 0 && size2 == size + 16);
    more = plan;
    bh_gatts_plan_descriptor(&more, u2a37, 2);
    CHECK(bh_gatts_plan_size(&more, &size2) == 0 && size2 > size + BH_GATTS_DEFAULT_CAP && more.cccds == 2);
    bh_gatts_plan_characteristic(&more, u2a37, 2, BH_GATTS_F_AUX_WRITE | BH_GATTS_F_INDICATE, false);
    CHECK(more.attrs == plan.attrs + 1 + 4 && more.cccds == 3);
    // Beyond the bounds: ENOMEM, nothing changed.
    int hr, tx, rxh;
    setup_hr_uart(&hr, &tx, &rxh);
    CHECK(bh_gatts_set_value((uint16_t)hr, (const uint8_t *)"keep", 4) == 0);
    const bh_gatts_plan_t too_many[] = {
        { .attrs = BH_GATTS_MAX_ATTRS - 9 + 1 }, { .uuid128 = BH_GATTS_MAX_UUID128 + 1 },
        { .values = BH_GATTS_MAX_VALUE_BYTES + 1 }, { .cccds = BH_GATTS_MAX_CCCD },
    };
    for (size_t i = 0; i < sizeof(too_many) / sizeof(too_many[0]); i++) {
        CHECK(bh_gatts_plan_size(&too_many[i], &size2) == -BH_ENOMEM);
        CHECK(bh_gatts_reset_db(storage, 1 << 20, &too_many[i]) == -BH_ENOMEM);
    }
    const bh_gatts_plan_t at_bounds = { .attrs = BH_GATTS_MAX_ATTRS - 9, .uuid128 = BH_GATTS_MAX_UUID128,
                                        .values = BH_GATTS_MAX_VALUE_BYTES, .cccds = BH_GATTS_MAX_CCCD - 1 };
    CHECK(bh_gatts_plan_size(&at_bounds, &size2) == 0);
    // Too short, misaligned: EINVAL, nothing changed.
    uint16_t small[64];
    CHECK(bh_gatts_reset_db(small, size - 1, &plan) == -BH_EINVAL);
    CHECK(bh_gatts_reset_db((uint8_t *)small + 1, size, &plan) == -BH_EINVAL);
    CHECK(bh_gatts_reset_db(NULL, size, &plan) == -BH_EINVAL);
    const uint8_t *d;
    size_t n;
    CHECK(bh_gatts_get_value((uint16_t)hr, &d, &n) == 0 && n == 4 && memcmp(d, "keep", 4) == 0);

    // Exactly the plan's size: everything fits, one attribute more does not.
    storage_give(size, &plan);
    CHECK(bh_gatts_add_service(u180d, 2) == 10);
    CHECK(bh_gatts_add_characteristic(u2a37, 2, BH_GATTS_F_READ | BH_GATTS_F_NOTIFY, false) == 12);
    CHECK(bh_gatts_add_service(uart, 16) == 14);
    CHECK(bh_gatts_add_characteristic(uart_tx, 16, BH_GATTS_F_READ | BH_GATTS_F_NOTIFY, false) == 16);
    CHECK(bh_gatts_add_characteristic(uart_rx, 16, BH_GATTS_F_WRITE | BH_GATTS_F_READ, false) == 19);
    CHECK(bh_gatts_add_descriptor(u2a37, 2, BH_GATTS_F_READ) == -BH_ENOMEM);
    CHECK(bh_gatts_attr_count() == 19);
    RX(0x10, 0x0e, 0x00, 0xff, 0xff, 0x00, 0x28);
    CHECK(last_len == 2 + 20 && memcmp(last_tx + 6, uart, 16) == 0);
    RX(0x04, 0x13, 0x00, 0x13, 0x00);
    CHECK(last_len == 2 + 18 && memcmp(last_tx + 4, uart_rx, 16) == 0);
    // The default capacities are there; a larger value needs a larger storage.
    uint8_t v[512];
    for (size_t i = 0; i < sizeof(v); i++) {
        v[i] = (uint8_t)(i * 7 + 1);
    }
    CHECK(bh_gatts_set_value(12, v, 20) == 0 && bh_gatts_set_value(16, v + 1, 20) == 0);
    CHECK(bh_gatts_set_value(19, v + 2, 20) == 0);
    CHECK(bh_gatts_storage_len() == size);
    CHECK(bh_gatts_storage_for(12, 20) == size && bh_gatts_storage_for(12, 5) == size);
    CHECK(bh_gatts_set_value(12, v, 21) == -BH_ENOMEM);
    CHECK(bh_gatts_storage_for(12, 512) == size + 512 - 20);
    CHECK(bh_gatts_storage_for(12, 513) == size); // never fits: set_value says why
    CHECK(bh_gatts_storage_for(13, 30) == size);  // no value of the embedding's
    // Moved into a larger storage (the old one freed at once): values,
    // lengths and handles stay; then the value grows.
    RX(0x12, 17, 0, 0x01, 0x00); // subscribed: CCCD values live in the storage
    CHECK(GOT(0x13));
    size_t big = bh_gatts_storage_for(12, 512);
    void *moved = malloc(big);
    CHECK(bh_gatts_move_db((uint8_t *)moved + 1, big - 1) == -BH_EINVAL);
    CHECK(bh_gatts_move_db(moved, big) == 0);
    free(storage);
    storage = moved;
    CHECK(bh_gatts_storage_len() == big);
    CHECK(bh_gatts_set_value(12, v, 512) == 0);
    CHECK(bh_gatts_get_value(16, &d, &n) == 0 && n == 20 && memcmp(d, v + 1, 20) == 0);
    CHECK(bh_gatts_get_value(19, &d, &n) == 0 && n == 20 && memcmp(d, v + 2, 20) == 0);
    RX(0x0a, 19, 0);
    CHECK(last_len == 21 && memcmp(last_tx + 1, v + 2, 20) == 0);
    RX(0x0c, 12, 0, 0xf0, 0x01);
    CHECK(last_len == 17 && memcmp(last_tx + 1, v + 0x1f0, 16) == 0);
    RX(0x04, 0x13, 0x00, 0x13, 0x00);
    CHECK(last_len == 2 + 18 && memcmp(last_tx + 4, uart_rx, 16) == 0);
    RX(0x0a, 17, 0);
    CHECK(GOT(0x0b, 0x01, 0x00));
    RX(0x0a, 13, 0);
    CHECK(GOT(0x0b, 0x00, 0x00));
    n_tx = 0;
    CHECK(bh_gatts_send_update(16) == 0 && n_tx == 1 && GOT(0x1b, 16, 0, v[1], v[2], v[3], v[4], v[5], v[6], v[7],
        v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17], v[18], v[19], v[20]));
    // Smaller than what is used: refused.
    CHECK(bh_gatts_move_db(small, sizeof(small)) == -BH_EINVAL);

    // Values well beyond the old fixed 8 KB pool: 40 values of 512 bytes.
    bh_gatts_plan_t wide = { 0 };
    bh_gatts_plan_service(&wide, u180d, 2);
    for (int i = 0; i < 40; i++) {
        bh_gatts_plan_characteristic(&wide, u2a37, 2, BH_GATTS_F_READ, false);
    }
    CHECK(bh_gatts_plan_size(&wide, &size) == 0);
    size += 40 * (512 - BH_GATTS_DEFAULT_CAP);
    storage_give(size, &wide);
    CHECK(bh_gatts_add_service(u180d, 2) == 10);
    for (int i = 0; i < 40; i++) {
        int h = bh_gatts_add_characteristic(u2a37, 2, BH_GATTS_F_READ, false);
        CHECK(h == 12 + 2 * i);
        v[0] = (uint8_t)i;
        CHECK(bh_gatts_set_value((uint16_t)h, v, 512) == 0);
    }
    uint8_t one = 0;
    CHECK(bh_gatts_set_value(12, &one, 1) == 0);
    CHECK(bh_gatts_set_buffer(12, 513, false) == -BH_EMSGSIZE);
    CHECK(bh_gatts_set_buffer(12, 512, false) == 0);
    CHECK(bh_gatts_set_value(12, v, 512) == 0);
    for (int i = 0; i < 40; i++) {
        CHECK(bh_gatts_get_value((uint16_t)(12 + 2 * i), &d, &n) == 0 && n == 512 && d[0] == (i == 0 ? v[0] : i)
            && memcmp(d + 1, v + 1, 511) == 0);
    }
    RX(0x0c, 12 + 2 * 39, 0, 0xfe, 0x01);
    CHECK(last_len == 3 && last_tx[1] == v[510] && last_tx[2] == v[511]);

    // Given back: the host forgets it (ASan: freed right away), the fixed
    // services remain, the old handles are unknown.
    storage_give(0, NULL);
    CHECK(bh_gatts_storage_len() == 0 && bh_gatts_attr_count() == 9);
    CHECK(bh_gatts_get_value(12, &d, &n) == -BH_EINVAL);
    CHECK(bh_gatts_storage_for(12, 100) == 0);
    RX(0x0a, 12, 0);
    CHECK(is_error(0x0a, 12, BH_ATT_ERR_INVALID_HANDLE));
    RX(0x10, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28);
    CHECK(GOT(0x11, 6, 1, 0, 5, 0, 0x00, 0x18, 6, 0, 9, 0, 0x01, 0x18));
    RX(0x0a, 3, 0);
    CHECK(last_tx[0] == 0x0b);
    CHECK(bh_gatts_add_service(u180d, 2) == -BH_ENOMEM);
}

// The read request handler of test_storage_moved_in_callback: the
// embedding grows a value (by 100 bytes each time), so the database moves
// (the old storage freed at once).
static size_t grow_to;

static void grow_in_callback(uint16_t handle) {
    grow_to += 100;
    size_t need = bh_gatts_storage_for(handle, grow_to);
    CHECK(need > bh_gatts_storage_len());
    void *moved = malloc(need);
    CHECK(bh_gatts_move_db(moved, need) == 0);
    free(storage);
    storage = moved;
    uint8_t v[512];
    memset(v, 0x5a, sizeof(v));
    CHECK(bh_gatts_set_value(handle, v, grow_to) == 0);
    // Re-registering is refused while the request is served.
    CHECK(bh_gatts_reset_db(NULL, 0, NULL) == -BH_EBUSY);
}

static void test_storage_moved_in_callback(void) {
    int hr, tx, rxh;
    setup_hr_uart(&hr, &tx, &rxh);
    bh_gatts_plan_t plan = { 0 };
    bh_gatts_plan_service(&plan, u180d, 2);
    bh_gatts_plan_characteristic(&plan, u2a37, 2, BH_GATTS_F_READ, false);
    bh_gatts_plan_characteristic(&plan, u2a37, 2, BH_GATTS_F_READ, false);
    size_t size;
    CHECK(bh_gatts_plan_size(&plan, &size) == 0);
    storage_give(size, &plan);
    CHECK(bh_gatts_add_service(u180d, 2) == 10);
    CHECK(bh_gatts_add_characteristic(u2a37, 2, BH_GATTS_F_READ, false) == 12);
    CHECK(bh_gatts_add_characteristic(u2a37, 2, BH_GATTS_F_READ, false) == 14);
    CHECK(bh_gatts_set_value(14, (const uint8_t *)"second", 6) == 0);
    read_reply = 0;
    grow_to = 0;
    on_read_request = grow_in_callback;
    RX(0x0a, 12, 0);
    CHECK(last_len == 23 && last_tx[0] == 0x0b && last_tx[1] == 0x5a && last_tx[22] == 0x5a);
    on_read_request = NULL;
    RX(0x0a, 14, 0);
    CHECK(GOT(0x0b, 's', 'e', 'c', 'o', 'n', 'd'));
    // Read By Type across both: the callback of the first moves it again.
    on_read_request = grow_in_callback;
    RX(0x08, 12, 0, 14, 0, 0x37, 0x2a);
    CHECK(last_tx[0] == 0x09 && last_tx[1] == 2 + 19 && last_tx[2] == 12 && last_tx[4] == 0x5a);
    on_read_request = NULL;
    storage_give(0, NULL);
}

// Prepare an 18-byte write of byte c at offset off on conn; true when queued.
static bool prepare18(uint16_t conn, uint16_t handle, uint16_t off, uint8_t c) {
    uint8_t p[5 + 18] = { 0x16, (uint8_t)handle, (uint8_t)(handle >> 8), (uint8_t)off, (uint8_t)(off >> 8) };
    memset(p + 5, c, 18);
    rx_on(conn, p, sizeof(p));
    CHECK(last_conn == conn);
    if (last_tx[0] == 0x17) {
        p[0] = 0x17;
        CHECK(got(p, sizeof(p)));
        return true;
    }
    return false;
}

// One prepare queue for every link: two clients' long writes interleave,
// each Execute Write applies only its own link's, a full queue answers
// Prepare Queue Full to the client whose write does not fit, and a link's
// entries go at its disconnection.
static void test_shared_prepare_queue(void) {
    int hr, tx, plain;
    setup_hr_uart(&hr, &tx, &plain);
    conn2_up = true;
    int a = bh_gatts_add_characteristic(u2a37, 2, BH_GATTS_F_WRITE | BH_GATTS_F_AUX_WRITE | BH_GATTS_F_READ, false);
    int b = bh_gatts_add_characteristic(u2a37, 2, BH_GATTS_F_WRITE | BH_GATTS_F_AUX_WRITE | BH_GATTS_F_READ, false);
    CHECK(a == 21 && b == 24);
    CHECK(bh_gatts_set_buffer((uint16_t)a, 512, false) == 0);
    CHECK(bh_gatts_set_buffer((uint16_t)b, 512, false) == 0);
    // Both links write the same attribute and another at once, interleaved.
    for (uint16_t i = 0; i < 5; i++) {
        CHECK(prepare18(CONN, (uint16_t)a, (uint16_t)(18 * i), (uint8_t)('a' + i)));
        CHECK(prepare18(CONN2, (uint16_t)a, (uint16_t)(18 * i), (uint8_t)('A' + i)));
        CHECK(prepare18(CONN2, (uint16_t)b, (uint16_t)(18 * i), (uint8_t)('0' + i)));
    }
    n_writes = 0;
    rx_on(CONN2, (const uint8_t[]){ 0x18, 0x01 }, 2);
    CHECK(GOT(0x19) && last_conn == CONN2 && n_writes == 2);
    const uint8_t *d;
    size_t n;
    CHECK(bh_gatts_get_value((uint16_t)a, &d, &n) == 0 && n == 90 && d[0] == 'A' && d[89] == 'E');
    CHECK(bh_gatts_get_value((uint16_t)b, &d, &n) == 0 && n == 90 && d[0] == '0' && d[89] == '4');
    // CONN's writes are still queued, untouched by CONN2's execute.
    rx_on(CONN, (const uint8_t[]){ 0x18, 0x01 }, 2);
    CHECK(GOT(0x19) && last_conn == CONN && n_writes == 3 && last_write == a);
    CHECK(bh_gatts_get_value((uint16_t)a, &d, &n) == 0 && n == 90 && d[0] == 'a' && d[18] == 'b' && d[89] == 'e');
    CHECK(bh_gatts_get_value((uint16_t)b, &d, &n) == 0 && n == 90 && d[0] == '0');
    // Executing again applies nothing: the queue of that link is empty.
    rx_on(CONN, (const uint8_t[]){ 0x18, 0x01 }, 2);
    CHECK(GOT(0x19) && n_writes == 3);
    // Fill the queue from both links: entries of 7 + 18 bytes.
    int queued1 = 0, queued2 = 0;
    for (int i = 0; i < 100; i++) {
        if (!prepare18(CONN, (uint16_t)a, (uint16_t)(18 * queued1), 'x')) {
            CHECK(is_error(0x16, (uint16_t)a, BH_ATT_ERR_PREPARE_QUEUE_FULL));
            break;
        }
        queued1++;
        if (!prepare18(CONN2, (uint16_t)b, (uint16_t)(18 * queued2), 'y')) {
            CHECK(is_error(0x16, (uint16_t)b, BH_ATT_ERR_PREPARE_QUEUE_FULL));
            break;
        }
        queued2++;
    }
    CHECK(queued1 + queued2 == BH_GATTS_PREPARE_QUEUE / (7 + 18));
    // Full for everyone, and a small write too.
    CHECK(!prepare18(CONN2, (uint16_t)b, 0, 'z'));
    CHECK(is_error(0x16, (uint16_t)b, BH_ATT_ERR_PREPARE_QUEUE_FULL) && last_conn == CONN2);
    // A link that goes gives its room back; the other's writes stay.
    bh_att_conn_closed(CONN);
    CHECK(prepare18(CONN2, (uint16_t)b, (uint16_t)(18 * queued2), 'y'));
    queued2++;
    n_writes = 0;
    rx_on(CONN2, (const uint8_t[]){ 0x18, 0x01 }, 2);
    CHECK(GOT(0x19) && n_writes == 1 && last_write == b);
    CHECK(bh_gatts_get_value((uint16_t)b, &d, &n) == 0 && n == (size_t)(18 * queued2) && d[0] == 'y'
        && d[n - 1] == 'y');
    CHECK(bh_gatts_get_value((uint16_t)a, &d, &n) == 0 && n == 90 && d[0] == 'a');
    // A rejected Execute Write (bad offset) drops only that link's writes.
    CHECK(prepare18(CONN, (uint16_t)a, 0, 'p'));
    CHECK(prepare18(CONN2, (uint16_t)b, 400, 'q'));
    rx_on(CONN2, (const uint8_t[]){ 0x18, 0x01 }, 2);
    CHECK(is_error(0x18, (uint16_t)b, BH_ATT_ERR_INVALID_OFFSET));
    rx_on(CONN, (const uint8_t[]){ 0x18, 0x01 }, 2);
    CHECK(GOT(0x19));
    CHECK(bh_gatts_get_value((uint16_t)a, &d, &n) == 0 && n == 18 && d[0] == 'p');
    // Cancel on one link keeps the other's.
    CHECK(prepare18(CONN, (uint16_t)a, 0, 'r'));
    CHECK(prepare18(CONN2, (uint16_t)b, 0, 's'));
    rx_on(CONN, (const uint8_t[]){ 0x18, 0x00 }, 2);
    CHECK(GOT(0x19));
    rx_on(CONN2, (const uint8_t[]){ 0x18, 0x01 }, 2);
    CHECK(GOT(0x19));
    CHECK(bh_gatts_get_value((uint16_t)a, &d, &n) == 0 && d[0] == 'p');
    CHECK(bh_gatts_get_value((uint16_t)b, &d, &n) == 0 && d[0] == 's');
    // Re-registering drops every link's queued writes.
    CHECK(prepare18(CONN2, (uint16_t)b, 0, 't'));
    storage_roomy();
    CHECK(bh_gatts_add_service(u180d, 2) == 10);
    CHECK(bh_gatts_add_characteristic(u2a37, 2, BH_GATTS_F_WRITE | BH_GATTS_F_AUX_WRITE, false) == 12);
    n_writes = 0;
    rx_on(CONN2, (const uint8_t[]){ 0x18, 0x01 }, 2);
    CHECK(GOT(0x19) && n_writes == 0);
    bh_att_conn_closed(CONN2);
    conn2_up = false;
}

int main(void) {
    test_layout_and_discovery();
    test_reads_and_mtu();
    test_value_pool();
    test_prepare_execute();
    test_cccd_notify_indicate();
    test_cccd_of_bonded_clients();
    test_errors_and_fuzz();
    test_permission_matrix();
    test_storage();
    test_storage_moved_in_callback();
    test_shared_prepare_queue();
    storage_give(0, NULL);
    if (failures) {
        printf("gatts: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("gatts: all tests passed (%d checks)\n", checks);
    return 0;
}
