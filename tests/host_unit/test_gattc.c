// Unit tests of the GATT client (bh_gattc.c) alone, against a fake ATT
// bearer: the requests it sends, the events it reports, and how it treats
// malformed, stray and missing responses.
#include "bh_err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bh_att.h"
#include "bh_gattc.h"
#include "check.h"

#define CONN (0x0040)
#define CONN2 (0x0041)
#define CONN3 (0x0042)
#define CONN4 (0x0043)

// ---- fake ATT bearer and port ----

#define SENT_MAX (256)

static struct {
    uint16_t mtu[4]; // of CONN .. CONN4 (0: no link)
    uint16_t local_mtu;
    int send_result;
    uint32_t now;
    int n_sent;
    uint16_t sent_conn[SENT_MAX];
    bool sent_bulk[SENT_MAX]; // through bh_att_send_bulk
    size_t sent_len[SENT_MAX];
    uint8_t sent[SENT_MAX][BH_ATT_MTU_MAX];
    int n_mtu_exchanged;
    uint16_t mtu_peer;
} att;

uint16_t bh_att_get_mtu(uint16_t conn_handle) {
    return conn_handle >= CONN && conn_handle <= CONN4 ? att.mtu[conn_handle - CONN] : 0;
}

uint16_t bh_att_get_local_mtu(void) {
    return att.local_mtu;
}

void bh_att_mtu_exchanged(uint16_t conn_handle, uint16_t peer_mtu) {
    CHECK_EQ(conn_handle, CONN);
    att.n_mtu_exchanged++;
    att.mtu_peer = peer_mtu;
    uint16_t mtu = peer_mtu < att.local_mtu ? peer_mtu : att.local_mtu;
    att.mtu[0] = mtu < 23 ? 23 : mtu;
}

int bh_att_send(uint16_t conn_handle, const uint8_t *pdu, size_t len) {
    if (bh_att_get_mtu(conn_handle) == 0) {
        return -BH_ENOTCONN;
    }
    if (att.send_result != 0) {
        return att.send_result;
    }
    CHECK(len <= bh_att_get_mtu(conn_handle));
    CHECK(att.n_sent < SENT_MAX);
    att.sent_conn[att.n_sent] = conn_handle;
    att.sent_len[att.n_sent] = len;
    memcpy(att.sent[att.n_sent], pdu, len);
    att.sent_bulk[att.n_sent] = false;
    att.n_sent++;
    return 0;
}

// Bulk data (writes without response): the same, marked.
int bh_att_send_bulk(uint16_t conn_handle, const uint8_t *pdu, size_t len) {
    int err = bh_att_send(conn_handle, pdu, len);
    if (err == 0) {
        att.sent_bulk[att.n_sent - 1] = true;
    }
    return err;
}

uint32_t bh_port_ticks_ms(void) {
    return att.now;
}

// ---- events ----

enum { EV_SVC, EV_SVC_DONE, EV_CHR, EV_CHR_DONE, EV_DSC, EV_DSC_DONE, EV_READ, EV_READ_DONE,
       EV_WRITE_DONE, EV_NOTIFY, EV_INDICATE };

#define EV_MAX (64)

typedef struct {
    int kind;
    uint16_t conn;
    uint16_t a, b, status;
    uint8_t props;
    size_t len;
    uint8_t data[BH_GATTC_VALUE_MAX];
} ev_t;

static ev_t evs[EV_MAX];
static int n_evs;

static ev_t *add(int kind, uint16_t conn) {
    CHECK(n_evs < EV_MAX);
    ev_t *e = &evs[n_evs++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->conn = conn;
    return e;
}

static void set_data(ev_t *e, const uint8_t *data, size_t len) {
    CHECK(len <= sizeof(e->data));
    memcpy(e->data, data, len);
    e->len = len;
}

void bh_evt_gattc_service(uint16_t conn_handle, uint16_t start_handle, uint16_t end_handle,
    const uint8_t *uuid, size_t uuid_len) {
    ev_t *e = add(EV_SVC, conn_handle);
    e->a = start_handle;
    e->b = end_handle;
    set_data(e, uuid, uuid_len);
}

void bh_evt_gattc_service_done(uint16_t conn_handle, uint16_t status) {
    add(EV_SVC_DONE, conn_handle)->status = status;
}

void bh_evt_gattc_characteristic(uint16_t conn_handle, uint16_t end_handle,
    uint16_t value_handle, uint8_t properties, const uint8_t *uuid, size_t uuid_len) {
    ev_t *e = add(EV_CHR, conn_handle);
    e->a = end_handle;
    e->b = value_handle;
    e->props = properties;
    set_data(e, uuid, uuid_len);
}

void bh_evt_gattc_characteristic_done(uint16_t conn_handle, uint16_t status) {
    add(EV_CHR_DONE, conn_handle)->status = status;
}

void bh_evt_gattc_descriptor(uint16_t conn_handle, uint16_t handle, const uint8_t *uuid,
    size_t uuid_len) {
    ev_t *e = add(EV_DSC, conn_handle);
    e->a = handle;
    set_data(e, uuid, uuid_len);
}

void bh_evt_gattc_descriptor_done(uint16_t conn_handle, uint16_t status) {
    add(EV_DSC_DONE, conn_handle)->status = status;
}

void bh_evt_gattc_read_result(uint16_t conn_handle, uint16_t value_handle, const uint8_t *data,
    size_t len) {
    ev_t *e = add(EV_READ, conn_handle);
    e->a = value_handle;
    set_data(e, data, len);
}

void bh_evt_gattc_read_done(uint16_t conn_handle, uint16_t value_handle, uint16_t status) {
    ev_t *e = add(EV_READ_DONE, conn_handle);
    e->a = value_handle;
    e->status = status;
}

void bh_evt_gattc_write_done(uint16_t conn_handle, uint16_t value_handle, uint16_t status) {
    ev_t *e = add(EV_WRITE_DONE, conn_handle);
    e->a = value_handle;
    e->status = status;
}

void bh_evt_gattc_notify(uint16_t conn_handle, uint16_t value_handle, const uint8_t *data,
    size_t len, bool indication) {
    ev_t *e = add(indication ? EV_INDICATE : EV_NOTIFY, conn_handle);
    e->a = value_handle;
    set_data(e, data, len);
    // The confirmation goes out only after the event is taken.
    if (indication) {
        e->status = (uint16_t)att.n_sent;
    }
}

// ---- helpers ----

static void setup(void) {
    memset(&att, 0, sizeof(att));
    for (int i = 0; i < 4; ++i) {
        att.mtu[i] = 23;
    }
    att.local_mtu = 23;
    att.now = 1000;
    n_evs = 0;
    bh_gattc_reset();
}

static void rx(uint16_t conn, const uint8_t *pdu, size_t len) {
    bh_gattc_on_pdu(conn, pdu, len);
}

#define RX(...) do { \
        static const uint8_t pdu_[] = { __VA_ARGS__ }; \
        rx(CONN, pdu_, sizeof(pdu_)); \
} while (0)

static const uint8_t *last_sent(void) {
    CHECK(att.n_sent > 0);
    return att.sent[att.n_sent - 1];
}

static size_t last_len(void) {
    return att.sent_len[att.n_sent - 1];
}

static uint16_t u16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void error_rsp(uint16_t conn, uint8_t req, uint16_t handle, uint8_t code) {
    uint8_t pdu[5] = { BH_ATT_ERROR_RSP, req, (uint8_t)handle, (uint8_t)(handle >> 8), code };
    rx(conn, pdu, sizeof(pdu));
}

// ---- tests ----

// 12 services with 128-bit UUIDs: one per Read By Group Type response at
// MTU 23, each request starting after the last group's end.
static void test_services_many(void) {
    setup();
    CHECK_EQ(bh_gattc_discover_services(CONN, NULL, 0), 0);
    for (int i = 0; i < 12; ++i) {
        const uint8_t *req = last_sent();
        CHECK_EQ(att.n_sent, i + 1);
        CHECK_EQ(last_len(), 7);
        CHECK_EQ(req[0], BH_ATT_READ_BY_GROUP_TYPE_REQ);
        CHECK_EQ(u16(req + 1), 1 + i * 5);
        CHECK_EQ(u16(req + 3), 0xffff);
        CHECK_EQ(u16(req + 5), 0x2800);
        uint8_t rsp[22] = { BH_ATT_READ_BY_GROUP_TYPE_RSP, 20 };
        put16(rsp + 2, 1 + i * 5);
        put16(rsp + 4, 5 + i * 5);
        memset(rsp + 6, 0xa0 + i, 16);
        rx(CONN, rsp, sizeof(rsp));
    }
    CHECK_EQ(att.n_sent, 13);
    CHECK_EQ(u16(last_sent() + 1), 61);
    error_rsp(CONN, BH_ATT_READ_BY_GROUP_TYPE_REQ, 61, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND);
    CHECK_EQ(n_evs, 13);
    for (int i = 0; i < 12; ++i) {
        CHECK_EQ(evs[i].kind, EV_SVC);
        CHECK_EQ(evs[i].a, 1 + i * 5);
        CHECK_EQ(evs[i].b, 5 + i * 5);
        CHECK_EQ(evs[i].len, 16);
        CHECK_EQ(evs[i].data[15], 0xa0 + i);
    }
    CHECK_EQ(evs[12].kind, EV_SVC_DONE);
    CHECK_EQ(evs[12].status, 0);
    CHECK_EQ(att.n_sent, 13);
}

// Several 16-bit services in one response; a group ending at 0xffff ends
// the procedure without another request.
static void test_services_to_end(void) {
    setup();
    CHECK_EQ(bh_gattc_discover_services(CONN, NULL, 0), 0);
    RX(BH_ATT_READ_BY_GROUP_TYPE_RSP, 6, 0x01, 0x00, 0x07, 0x00, 0x00, 0x18,
        0x08, 0x00, 0x0b, 0x00, 0x01, 0x18, 0x0c, 0x00, 0x0f, 0x00, 0x0d, 0x18);
    CHECK_EQ(u16(last_sent() + 1), 0x10);
    RX(BH_ATT_READ_BY_GROUP_TYPE_RSP, 6, 0x10, 0x00, 0xff, 0xff, 0x0f, 0x18);
    CHECK_EQ(att.n_sent, 2);
    CHECK_EQ(n_evs, 5);
    CHECK_EQ(evs[2].a, 0x0c);
    CHECK_EQ(evs[2].b, 0x0f);
    CHECK_EQ(u16(evs[2].data), 0x180d);
    CHECK_EQ(evs[3].a, 0x10);
    CHECK_EQ(evs[3].b, 0xffff);
    CHECK_EQ(evs[4].kind, EV_SVC_DONE);
    CHECK_EQ(evs[4].status, 0);
}

// Malformed Read By Group Type responses end with an error status.
static void test_services_malformed(void) {
    static const uint8_t bad[][12] = {
        { 2, BH_ATT_READ_BY_GROUP_TYPE_RSP, 6 },                          // no data
        { 9, BH_ATT_READ_BY_GROUP_TYPE_RSP, 6, 1, 0, 5, 0, 0, 0x18, 9 },  // not a multiple
        { 8, BH_ATT_READ_BY_GROUP_TYPE_RSP, 5, 1, 0, 5, 0, 0, 0x18 },     // odd element length
        { 8, BH_ATT_READ_BY_GROUP_TYPE_RSP, 6, 5, 0, 1, 0, 0, 0x18 },     // end < start
        { 1, BH_ATT_READ_BY_GROUP_TYPE_RSP },                             // no length
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); ++k) {
        setup();
        CHECK_EQ(bh_gattc_discover_services(CONN, NULL, 0), 0);
        rx(CONN, bad[k] + 1, bad[k][0]);
        CHECK_EQ(n_evs, 1);
        CHECK_EQ(evs[0].kind, EV_SVC_DONE);
        CHECK_EQ(evs[0].status, BH_GATTC_STATUS_INVALID_RESPONSE);
        CHECK_EQ(att.n_sent, 1);
    }
    // Handles going backwards in a later response.
    setup();
    CHECK_EQ(bh_gattc_discover_services(CONN, NULL, 0), 0);
    RX(BH_ATT_READ_BY_GROUP_TYPE_RSP, 6, 0x01, 0x00, 0x09, 0x00, 0x00, 0x18);
    RX(BH_ATT_READ_BY_GROUP_TYPE_RSP, 6, 0x05, 0x00, 0x0c, 0x00, 0x01, 0x18);
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(evs[1].kind, EV_SVC_DONE);
    CHECK_EQ(evs[1].status, BH_GATTC_STATUS_INVALID_RESPONSE);
    // A server error other than Attribute Not Found is the status.
    setup();
    CHECK_EQ(bh_gattc_discover_services(CONN, NULL, 0), 0);
    error_rsp(CONN, BH_ATT_READ_BY_GROUP_TYPE_REQ, 1, BH_ATT_ERR_UNSUPPORTED_GROUP_TYPE);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].status, BH_ATT_ERR_UNSUPPORTED_GROUP_TYPE);
}

// Service by UUID: Find By Type Value with the UUID as 2 or 16 bytes.
static void test_services_by_uuid(void) {
    static const uint8_t u16_le[2] = { 0x0d, 0x18 };
    static const uint8_t u32_le[4] = { 0x78, 0x56, 0x34, 0x12 };
    setup();
    CHECK_EQ(bh_gattc_discover_services(CONN, u16_le, 2), 0);
    CHECK_EQ(last_len(), 9);
    CHECK_EQ(last_sent()[0], BH_ATT_FIND_BY_TYPE_VALUE_REQ);
    CHECK_EQ(u16(last_sent() + 1), 1);
    CHECK_EQ(u16(last_sent() + 5), 0x2800);
    CHECK_EQ(u16(last_sent() + 7), 0x180d);
    RX(BH_ATT_FIND_BY_TYPE_VALUE_RSP, 0x0c, 0x00, 0x0f, 0x00, 0x20, 0x00, 0x22, 0x00);
    CHECK_EQ(u16(last_sent() + 1), 0x23);
    error_rsp(CONN, BH_ATT_FIND_BY_TYPE_VALUE_REQ, 0x23, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND);
    CHECK_EQ(n_evs, 3);
    CHECK_EQ(evs[0].a, 0x0c);
    CHECK_EQ(evs[0].b, 0x0f);
    CHECK_EQ(evs[0].len, 2);
    CHECK_EQ(u16(evs[0].data), 0x180d);
    CHECK_EQ(evs[1].a, 0x20);
    CHECK_EQ(evs[2].kind, EV_SVC_DONE);
    CHECK_EQ(evs[2].status, 0);
    // A 32-bit UUID goes on the air as 128 bits.
    setup();
    CHECK_EQ(bh_gattc_discover_services(CONN, u32_le, 4), 0);
    CHECK_EQ(last_len(), 23);
    CHECK_EQ(last_sent()[7], 0xfb);
    CHECK_EQ(last_sent()[19], 0x78);
    CHECK_EQ(last_sent()[22], 0x12);
    // Bad UUID length.
    CHECK_EQ(bh_gattc_discover_services(CONN2, u32_le, 3), -BH_EINVAL);
}

// Characteristics: each one's end handle is the next declaration - 1, the
// last one's the end of the range; the UUID filter applies to reports.
static void test_characteristics(void) {
    setup();
    CHECK_EQ(bh_gattc_discover_characteristics(CONN, 0x10, 0x30, NULL, 0), 0);
    CHECK_EQ(last_sent()[0], BH_ATT_READ_BY_TYPE_REQ);
    CHECK_EQ(u16(last_sent() + 1), 0x10);
    CHECK_EQ(u16(last_sent() + 3), 0x30);
    CHECK_EQ(u16(last_sent() + 5), 0x2803);
    RX(BH_ATT_READ_BY_TYPE_RSP, 7, 0x11, 0x00, 0x12, 0x12, 0x00, 0x37, 0x2a,
        0x14, 0x00, 0x02, 0x15, 0x00, 0x38, 0x2a);
    CHECK_EQ(n_evs, 1); // the second waits for its end
    CHECK_EQ(evs[0].kind, EV_CHR);
    CHECK_EQ(evs[0].a, 0x13);
    CHECK_EQ(evs[0].b, 0x12);
    CHECK_EQ(evs[0].props, 0x12);
    CHECK_EQ(u16(evs[0].data), 0x2a37);
    CHECK_EQ(u16(last_sent() + 1), 0x15);
    uint8_t rsp[23] = { BH_ATT_READ_BY_TYPE_RSP, 21, 0x20, 0x00, 0x08, 0x21, 0x00 };
    memset(rsp + 7, 0x6e, 16);
    rx(CONN, rsp, sizeof(rsp));
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(evs[1].a, 0x1f);
    CHECK_EQ(evs[1].b, 0x15);
    error_rsp(CONN, BH_ATT_READ_BY_TYPE_REQ, 0x21, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND);
    CHECK_EQ(n_evs, 4);
    CHECK_EQ(evs[2].kind, EV_CHR);
    CHECK_EQ(evs[2].a, 0x30);
    CHECK_EQ(evs[2].b, 0x21);
    CHECK_EQ(evs[2].len, 16);
    CHECK_EQ(evs[3].kind, EV_CHR_DONE);
    CHECK_EQ(evs[3].status, 0);

    // Filter: only 0x2A38 reported, with the end given by the next one.
    static const uint8_t want[2] = { 0x38, 0x2a };
    setup();
    CHECK_EQ(bh_gattc_discover_characteristics(CONN, 1, 0xffff, want, 2), 0);
    RX(BH_ATT_READ_BY_TYPE_RSP, 7, 0x11, 0x00, 0x12, 0x12, 0x00, 0x37, 0x2a,
        0x14, 0x00, 0x02, 0x15, 0x00, 0x38, 0x2a, 0x16, 0x00, 0x02, 0x17, 0x00, 0x39, 0x2a);
    error_rsp(CONN, BH_ATT_READ_BY_TYPE_REQ, 0x17, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND);
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(evs[0].kind, EV_CHR);
    CHECK_EQ(evs[0].a, 0x15);
    CHECK_EQ(evs[0].b, 0x15);
    CHECK_EQ(evs[1].kind, EV_CHR_DONE);

    // A declaration at the end of the range ends without another request.
    setup();
    CHECK_EQ(bh_gattc_discover_characteristics(CONN, 1, 0x12, NULL, 0), 0);
    RX(BH_ATT_READ_BY_TYPE_RSP, 7, 0x11, 0x00, 0x02, 0x12, 0x00, 0x37, 0x2a);
    CHECK_EQ(att.n_sent, 2); // next from 0x12
    RX(BH_ATT_READ_BY_TYPE_RSP, 7, 0x12, 0x00, 0x02, 0x13, 0x00, 0x38, 0x2a);
    CHECK_EQ(att.n_sent, 2);
    CHECK_EQ(n_evs, 3);
    CHECK_EQ(evs[0].a, 0x11);
    CHECK_EQ(evs[1].a, 0x12);
    CHECK_EQ(evs[2].kind, EV_CHR_DONE);

    // Inconsistent lengths, value handle not after the declaration,
    // declarations going backwards: error status, no loop.
    setup();
    CHECK_EQ(bh_gattc_discover_characteristics(CONN, 1, 0xffff, NULL, 0), 0);
    RX(BH_ATT_READ_BY_TYPE_RSP, 7, 0x11, 0x00, 0x02, 0x12, 0x00, 0x37, 0x2a, 0x14);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].status, BH_GATTC_STATUS_INVALID_RESPONSE);
    setup();
    CHECK_EQ(bh_gattc_discover_characteristics(CONN, 1, 0xffff, NULL, 0), 0);
    RX(BH_ATT_READ_BY_TYPE_RSP, 7, 0x11, 0x00, 0x02, 0x11, 0x00, 0x37, 0x2a);
    CHECK_EQ(evs[0].status, BH_GATTC_STATUS_INVALID_RESPONSE);
    setup();
    CHECK_EQ(bh_gattc_discover_characteristics(CONN, 1, 0xffff, NULL, 0), 0);
    RX(BH_ATT_READ_BY_TYPE_RSP, 7, 0x11, 0x00, 0x02, 0x12, 0x00, 0x37, 0x2a);
    RX(BH_ATT_READ_BY_TYPE_RSP, 7, 0x10, 0x00, 0x02, 0x11, 0x00, 0x37, 0x2a);
    CHECK_EQ(n_evs, 1); // the pending one is not reported on an error
    CHECK_EQ(evs[0].kind, EV_CHR_DONE);
    CHECK_EQ(evs[0].status, BH_GATTC_STATUS_INVALID_RESPONSE);
    CHECK_EQ(bh_gattc_discover_characteristics(CONN, 0, 5, NULL, 0), -BH_EINVAL);
    CHECK_EQ(bh_gattc_discover_characteristics(CONN, 6, 5, NULL, 0), -BH_EINVAL);
}

static void test_descriptors(void) {
    // The attributes after start_handle (the characteristic's value handle).
    setup();
    CHECK_EQ(bh_gattc_discover_descriptors(CONN, 0x11, 0x20), 0);
    CHECK_EQ(last_sent()[0], BH_ATT_FIND_INFORMATION_REQ);
    CHECK_EQ(u16(last_sent() + 1), 0x12);
    CHECK_EQ(u16(last_sent() + 3), 0x20);
    RX(BH_ATT_FIND_INFORMATION_RSP, 1, 0x12, 0x00, 0x37, 0x2a, 0x13, 0x00, 0x02, 0x29);
    CHECK_EQ(u16(last_sent() + 1), 0x14);
    uint8_t rsp[20] = { BH_ATT_FIND_INFORMATION_RSP, 2, 0x14, 0x00 };
    memset(rsp + 4, 0x55, 16);
    rx(CONN, rsp, sizeof(rsp));
    error_rsp(CONN, BH_ATT_FIND_INFORMATION_REQ, 0x15, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND);
    CHECK_EQ(n_evs, 4);
    CHECK_EQ(evs[0].a, 0x12);
    CHECK_EQ(evs[1].a, 0x13);
    CHECK_EQ(u16(evs[1].data), 0x2902);
    CHECK_EQ(evs[2].a, 0x14);
    CHECK_EQ(evs[2].len, 16);
    CHECK_EQ(evs[3].kind, EV_DSC_DONE);
    CHECK_EQ(evs[3].status, 0);
    // Reaching the end of the range ends without another request.
    setup();
    CHECK_EQ(bh_gattc_discover_descriptors(CONN, 0x11, 0x13), 0);
    RX(BH_ATT_FIND_INFORMATION_RSP, 1, 0x12, 0x00, 0x37, 0x2a, 0x13, 0x00, 0x02, 0x29);
    CHECK_EQ(att.n_sent, 1);
    CHECK_EQ(evs[2].kind, EV_DSC_DONE);
    // An empty range (a characteristic without descriptors): done at once.
    setup();
    CHECK_EQ(bh_gattc_discover_descriptors(CONN, 0x20, 0x20), 0);
    CHECK_EQ(bh_gattc_discover_descriptors(CONN, 0xffff, 0xffff), 0);
    CHECK_EQ(att.n_sent, 0);
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(evs[1].kind, EV_DSC_DONE);
    CHECK_EQ(evs[1].status, 0);
    // Truncated formats, unknown format, handle outside the range.
    static const uint8_t bad[][8] = {
        { 5, BH_ATT_FIND_INFORMATION_RSP, 1, 0x12, 0x00, 0x37 },
        { 6, BH_ATT_FIND_INFORMATION_RSP, 2, 0x12, 0x00, 0x37, 0x2a },
        { 6, BH_ATT_FIND_INFORMATION_RSP, 3, 0x12, 0x00, 0x37, 0x2a },
        { 6, BH_ATT_FIND_INFORMATION_RSP, 1, 0x30, 0x00, 0x37, 0x2a },
        { 6, BH_ATT_FIND_INFORMATION_RSP, 1, 0x11, 0x00, 0x37, 0x2a },
        { 2, BH_ATT_FIND_INFORMATION_RSP, 1 },
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); ++k) {
        setup();
        CHECK_EQ(bh_gattc_discover_descriptors(CONN, 0x11, 0x20), 0);
        rx(CONN, bad[k] + 1, bad[k][0]);
        CHECK_EQ(n_evs, 1);
        CHECK_EQ(evs[0].kind, EV_DSC_DONE);
        CHECK_EQ(evs[0].status, BH_GATTC_STATUS_INVALID_RESPONSE);
    }
}

// A long value: Read, then Read Blob while responses fill MTU-1 bytes.
static void read_value(size_t total, uint16_t mtu) {
    setup();
    att.mtu[0] = mtu;
    CHECK_EQ(bh_gattc_read(CONN, 0x21), 0);
    size_t off = 0;
    uint8_t rsp[BH_ATT_MTU_MAX];
    for (;;) {
        const uint8_t *req = last_sent();
        if (off == 0) {
            CHECK_EQ(req[0], BH_ATT_READ_REQ);
            CHECK_EQ(last_len(), 3);
        } else {
            CHECK_EQ(req[0], BH_ATT_READ_BLOB_REQ);
            CHECK_EQ(u16(req + 3), off);
        }
        CHECK_EQ(u16(req + 1), 0x21);
        size_t n = total - off < (size_t)(mtu - 1) ? total - off : (size_t)(mtu - 1);
        rsp[0] = off == 0 ? BH_ATT_READ_RSP : BH_ATT_READ_BLOB_RSP;
        for (size_t i = 0; i < n; ++i) {
            rsp[1 + i] = (uint8_t)(off + i);
        }
        int before = att.n_sent;
        rx(CONN, rsp, 1 + n);
        off += n;
        if (att.n_sent == before) {
            break;
        }
    }
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(evs[0].kind, EV_READ);
    CHECK_EQ(evs[0].a, 0x21);
    CHECK_EQ(evs[0].len, total);
    for (size_t i = 0; i < total; ++i) {
        CHECK_EQ(evs[0].data[i], (uint8_t)i);
    }
    CHECK_EQ(evs[1].kind, EV_READ_DONE);
    CHECK_EQ(evs[1].status, 0);
}

static void test_read(void) {
    read_value(0, 23);
    read_value(5, 23);
    read_value(50, 23);
    CHECK_EQ(att.n_sent, 3);
    read_value(512, 23);
    read_value(512, 517);
    CHECK_EQ(att.n_sent, 1);
    read_value(300, 185);

    // A value exactly MTU-1 long: the blob read answered Attribute Not Long.
    setup();
    CHECK_EQ(bh_gattc_read(CONN, 0x21), 0);
    uint8_t rsp[23] = { BH_ATT_READ_RSP };
    memset(rsp + 1, 7, 22);
    rx(CONN, rsp, sizeof(rsp));
    CHECK_EQ(last_sent()[0], BH_ATT_READ_BLOB_REQ);
    error_rsp(CONN, BH_ATT_READ_BLOB_REQ, 0x21, BH_ATT_ERR_ATTRIBUTE_NOT_LONG);
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(evs[0].len, 22);
    CHECK_EQ(evs[1].status, 0);

    // Refused: no result, the ATT error as status.
    setup();
    CHECK_EQ(bh_gattc_read(CONN, 0x21), 0);
    error_rsp(CONN, BH_ATT_READ_REQ, 0x21, BH_ATT_ERR_READ_NOT_PERMITTED);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].kind, EV_READ_DONE);
    CHECK_EQ(evs[0].a, 0x21);
    CHECK_EQ(evs[0].status, BH_ATT_ERR_READ_NOT_PERMITTED);

    // An error response about another request is not ours; a response
    // longer than the MTU allows is invalid.
    setup();
    CHECK_EQ(bh_gattc_read(CONN, 0x21), 0);
    error_rsp(CONN, BH_ATT_WRITE_REQ, 0x21, BH_ATT_ERR_WRITE_NOT_PERMITTED);
    RX(BH_ATT_WRITE_RSP);
    CHECK_EQ(n_evs, 0);
    uint8_t big[24] = { BH_ATT_READ_RSP };
    rx(CONN, big, sizeof(big));
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].status, BH_GATTC_STATUS_INVALID_RESPONSE);
    CHECK_EQ(bh_gattc_read(CONN, 0), -BH_EINVAL);
}

static void test_write_short(void) {
    static const uint8_t data[20] = "0123456789abcdefghij";
    setup();
    CHECK_EQ(bh_gattc_write(CONN, 0x30, data, 20, true), 0);
    CHECK_EQ(last_len(), 23);
    CHECK_EQ(last_sent()[0], BH_ATT_WRITE_REQ);
    CHECK(!att.sent_bulk[att.n_sent - 1]); // a request may use the reserved slots
    CHECK_EQ(u16(last_sent() + 1), 0x30);
    CHECK(memcmp(last_sent() + 3, data, 20) == 0);
    RX(BH_ATT_WRITE_RSP);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].kind, EV_WRITE_DONE);
    CHECK_EQ(evs[0].a, 0x30);
    CHECK_EQ(evs[0].status, 0);
    CHECK_EQ(bh_gattc_write(CONN, 0x30, data, 3, true), 0);
    error_rsp(CONN, BH_ATT_WRITE_REQ, 0x30, BH_ATT_ERR_WRITE_NOT_PERMITTED);
    CHECK_EQ(evs[1].status, BH_ATT_ERR_WRITE_NOT_PERMITTED);

    // Write Command: no event, no transaction, at most MTU-3 bytes; bulk
    // data (never in the slots reserved for protocol PDUs).
    CHECK_EQ(bh_gattc_write(CONN, 0x30, data, 20, false), 0);
    CHECK_EQ(last_sent()[0], BH_ATT_WRITE_CMD);
    CHECK(att.sent_bulk[att.n_sent - 1]);
    CHECK_EQ(last_len(), 23);
    static const uint8_t more[21] = { 0 };
    CHECK_EQ(bh_gattc_write(CONN, 0x30, more, 21, false), -BH_EMSGSIZE);
    att.mtu[0] = 100;
    CHECK_EQ(bh_gattc_write(CONN, 0x30, more, 21, false), 0);
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(bh_gattc_write(0x0999, 0x30, data, 1, false), -BH_ENOTCONN);
    CHECK_EQ(bh_gattc_write(CONN, 0x30, more, BH_GATTC_VALUE_MAX + 1, true), -BH_EMSGSIZE);
}

// Long write: Prepare Write in MTU-5 chunks, each echoed, then Execute.
static void test_write_long(void) {
    static uint8_t data[BH_GATTC_VALUE_MAX];
    for (size_t i = 0; i < sizeof(data); ++i) {
        data[i] = (uint8_t)(i * 7);
    }
    setup();
    CHECK_EQ(bh_gattc_write(CONN, 0x30, data, 512, true), 0);
    size_t off = 0;
    while (last_sent()[0] == BH_ATT_PREPARE_WRITE_REQ) {
        const uint8_t *req = last_sent();
        size_t n = last_len() - 5;
        CHECK_EQ(u16(req + 1), 0x30);
        CHECK_EQ(u16(req + 3), off);
        CHECK_EQ(n, 512 - off < 18 ? 512 - off : 18);
        CHECK(memcmp(req + 5, data + off, n) == 0);
        uint8_t rsp[BH_ATT_MTU_MAX];
        memcpy(rsp, req, last_len());
        rsp[0] = BH_ATT_PREPARE_WRITE_RSP;
        off += n;
        rx(CONN, rsp, 5 + n);
    }
    CHECK_EQ(off, 512);
    CHECK_EQ(att.n_sent, 30); // 29 prepares (28 * 18 + 8) and the execute
    CHECK_EQ(last_sent()[0], BH_ATT_EXECUTE_WRITE_REQ);
    CHECK_EQ(last_sent()[1], 1);
    CHECK_EQ(n_evs, 0);
    RX(BH_ATT_EXECUTE_WRITE_RSP);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].kind, EV_WRITE_DONE);
    CHECK_EQ(evs[0].status, 0);

    // An echo that differs: cancel (flags 0), then an error status.
    setup();
    CHECK_EQ(bh_gattc_write(CONN, 0x30, data, 40, true), 0);
    uint8_t rsp[BH_ATT_MTU_MAX];
    memcpy(rsp, last_sent(), last_len());
    rsp[0] = BH_ATT_PREPARE_WRITE_RSP;
    rsp[9] ^= 1;
    rx(CONN, rsp, last_len());
    CHECK_EQ(last_sent()[0], BH_ATT_EXECUTE_WRITE_REQ);
    CHECK_EQ(last_sent()[1], 0);
    CHECK_EQ(n_evs, 0);
    RX(BH_ATT_EXECUTE_WRITE_RSP);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].status, BH_GATTC_STATUS_INVALID_RESPONSE);
    // Echo with a wrong offset, too.
    setup();
    CHECK_EQ(bh_gattc_write(CONN, 0x30, data, 40, true), 0);
    memcpy(rsp, last_sent(), last_len());
    rsp[0] = BH_ATT_PREPARE_WRITE_RSP;
    rsp[3] = 1;
    rx(CONN, rsp, last_len());
    CHECK_EQ(last_sent()[1], 0);

    // A refused prepare: cancel, then the server's error as status.
    setup();
    CHECK_EQ(bh_gattc_write(CONN, 0x30, data, 40, true), 0);
    error_rsp(CONN, BH_ATT_PREPARE_WRITE_REQ, 0x30, BH_ATT_ERR_WRITE_NOT_PERMITTED);
    CHECK_EQ(last_sent()[0], BH_ATT_EXECUTE_WRITE_REQ);
    CHECK_EQ(last_sent()[1], 0);
    RX(BH_ATT_EXECUTE_WRITE_RSP);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].status, BH_ATT_ERR_WRITE_NOT_PERMITTED);

    // Queued writes not supported for the attribute (refused at offset 0):
    // one Write Request with the first MTU-3 bytes; status says truncated.
    setup();
    CHECK_EQ(bh_gattc_write(CONN, 0x30, data, 40, true), 0);
    error_rsp(CONN, BH_ATT_PREPARE_WRITE_REQ, 0x30, BH_ATT_ERR_REQUEST_NOT_SUPPORTED);
    CHECK_EQ(last_sent()[0], BH_ATT_WRITE_REQ);
    CHECK_EQ(last_len(), 3 + 20);
    CHECK_EQ(u16(last_sent() + 1), 0x30);
    CHECK(memcmp(last_sent() + 3, data, 20) == 0);
    CHECK_EQ(n_evs, 0);
    RX(BH_ATT_WRITE_RSP);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].kind, EV_WRITE_DONE);
    CHECK_EQ(evs[0].status, BH_GATTC_STATUS_TRUNCATED);
    // ... and if that write is refused too, its error is the status.
    setup();
    CHECK_EQ(bh_gattc_write(CONN, 0x30, data, 40, true), 0);
    error_rsp(CONN, BH_ATT_PREPARE_WRITE_REQ, 0x30, BH_ATT_ERR_REQUEST_NOT_SUPPORTED);
    error_rsp(CONN, BH_ATT_WRITE_REQ, 0x30, BH_ATT_ERR_WRITE_NOT_PERMITTED);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].status, BH_ATT_ERR_WRITE_NOT_PERMITTED);
    // Request Not Supported after some prepares were accepted: cancelled.
    setup();
    CHECK_EQ(bh_gattc_write(CONN, 0x30, data, 40, true), 0);
    memcpy(rsp, last_sent(), last_len());
    rsp[0] = BH_ATT_PREPARE_WRITE_RSP;
    rx(CONN, rsp, last_len());
    error_rsp(CONN, BH_ATT_PREPARE_WRITE_REQ, 0x30, BH_ATT_ERR_REQUEST_NOT_SUPPORTED);
    CHECK_EQ(last_sent()[0], BH_ATT_EXECUTE_WRITE_REQ);
    CHECK_EQ(last_sent()[1], 0);
    RX(BH_ATT_EXECUTE_WRITE_RSP);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].status, BH_ATT_ERR_REQUEST_NOT_SUPPORTED);

    // A refused execute: its error is the status.
    setup();
    att.mtu[0] = 30;
    CHECK_EQ(bh_gattc_write(CONN, 0x30, data, 40, true), 0);
    memcpy(rsp, last_sent(), last_len());
    rsp[0] = BH_ATT_PREPARE_WRITE_RSP;
    rx(CONN, rsp, last_len());
    CHECK_EQ(u16(last_sent() + 3), 25);
    memcpy(rsp, last_sent(), last_len());
    rsp[0] = BH_ATT_PREPARE_WRITE_RSP;
    rx(CONN, rsp, last_len());
    CHECK_EQ(last_sent()[0], BH_ATT_EXECUTE_WRITE_REQ);
    error_rsp(CONN, BH_ATT_EXECUTE_WRITE_REQ, 0, BH_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].status, BH_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH);
}

// One request at a time per link: later procedures wait in a FIFO queue
// (full: -BH_ENOMEM); Write Commands need no turn; another link is independent.
static void test_queue(void) {
    static const uint8_t data[3] = { 1, 2, 3 };
    setup();
    CHECK_EQ(bh_gattc_read(CONN, 0x21), 0);
    CHECK_EQ(bh_gattc_read(CONN, 0x22), 0);
    CHECK_EQ(bh_gattc_write(CONN, 0x23, data, 3, true), 0);
    CHECK_EQ(bh_gattc_discover_services(CONN, NULL, 0), 0);
    CHECK_EQ(bh_gattc_discover_descriptors(CONN, 0x30, 0x30), 0); // empty, in turn
    CHECK_EQ(bh_gattc_read(CONN, 0x24), -BH_ENOMEM);
    CHECK_EQ(bh_gattc_exchange_mtu(CONN), -BH_ENOMEM);
    CHECK_EQ(att.n_sent, 1);
    CHECK_EQ(bh_gattc_write(CONN, 0x22, data, 3, false), 0);
    CHECK_EQ(last_sent()[0], BH_ATT_WRITE_CMD);
    CHECK_EQ(bh_gattc_read(CONN2, 0x22), 0);
    CHECK_EQ(att.sent_conn[att.n_sent - 1], CONN2);
    CHECK_EQ(bh_gattc_read(0x0999, 0x22), -BH_ENOTCONN);
    int sent = att.n_sent;
    RX(BH_ATT_READ_RSP, 9);
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(evs[1].kind, EV_READ_DONE);
    CHECK_EQ(evs[1].a, 0x21);
    CHECK_EQ(att.n_sent, sent + 1);
    CHECK_EQ(last_sent()[0], BH_ATT_READ_REQ);
    CHECK_EQ(u16(last_sent() + 1), 0x22);
    RX(BH_ATT_READ_RSP, 8);
    CHECK_EQ(evs[3].a, 0x22);
    CHECK_EQ(last_sent()[0], BH_ATT_WRITE_REQ);
    CHECK_EQ(last_len(), 6);
    CHECK(memcmp(last_sent() + 3, data, 3) == 0);
    RX(BH_ATT_WRITE_RSP);
    CHECK_EQ(evs[4].kind, EV_WRITE_DONE);
    CHECK_EQ(evs[4].a, 0x23);
    CHECK_EQ(last_sent()[0], BH_ATT_READ_BY_GROUP_TYPE_REQ);
    error_rsp(CONN, BH_ATT_READ_BY_GROUP_TYPE_REQ, 1, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND);
    CHECK_EQ(n_evs, 7);
    CHECK_EQ(evs[5].kind, EV_SVC_DONE);
    CHECK_EQ(evs[6].kind, EV_DSC_DONE);
    // A response on a link with nothing outstanding is dropped.
    static const uint8_t stray[2] = { BH_ATT_READ_RSP, 1 };
    rx(CONN, stray, 2);
    CHECK_EQ(n_evs, 7);
    rx(CONN2, stray, 2); // CONN2's read
    rx(CONN2, stray, 2);
    CHECK_EQ(n_evs, 9);
    rx(0x0999, stray, 2);
    CHECK_EQ(n_evs, 9);

    // Queued write values share a bounded pool.
    static uint8_t big[BH_GATTC_VALUE_MAX];
    setup();
    CHECK_EQ(bh_gattc_read(CONN, 0x21), 0);
    CHECK_EQ(bh_gattc_write(CONN, 0x30, big, 512, true), 0);
    CHECK_EQ(bh_gattc_write(CONN, 0x31, big, BH_GATTC_QUEUE_DATA - 512, true), 0);
    CHECK_EQ(bh_gattc_write(CONN, 0x32, big, 1, true), -BH_ENOMEM);
    CHECK_EQ(bh_gattc_write(CONN2, 0x32, big, 1, true), 0); // another link, a free buffer
    CHECK_EQ(bh_gattc_read(CONN, 0x33), 0);
    RX(BH_ATT_READ_RSP, 1);
    CHECK_EQ(last_sent()[0], BH_ATT_PREPARE_WRITE_REQ);
    CHECK_EQ(bh_gattc_write(CONN, 0x32, big, 300, true), 0); // its space is free again
    // The link closes: every procedure ends, in order.
    n_evs = 0;
    att.mtu[0] = 0;
    bh_gattc_conn_closed(CONN);
    CHECK_EQ(n_evs, 4);
    CHECK_EQ(evs[0].kind, EV_WRITE_DONE);
    CHECK_EQ(evs[0].a, 0x30);
    CHECK_EQ(evs[1].a, 0x31);
    CHECK_EQ(evs[2].kind, EV_READ_DONE);
    CHECK_EQ(evs[2].a, 0x33);
    CHECK_EQ(evs[3].a, 0x32);
    for (int i = 0; i < 4; ++i) {
        CHECK_EQ(evs[i].status, BH_GATTC_STATUS_DISCONNECTED);
    }

    // A queued write is long or not by the MTU when it starts.
    setup();
    att.local_mtu = 300;
    CHECK_EQ(bh_gattc_exchange_mtu(CONN), 0);
    CHECK_EQ(bh_gattc_exchange_mtu(CONN), -BH_EALREADY);
    CHECK_EQ(bh_gattc_write(CONN, 0x30, big, 100, true), 0);
    RX(BH_ATT_EXCHANGE_MTU_RSP, 0x00, 0x01);
    CHECK_EQ(att.mtu[0], 256);
    CHECK_EQ(last_sent()[0], BH_ATT_WRITE_REQ);
    CHECK_EQ(last_len(), 103);
}

// 30 s without a response: DONE with the timeout status, and the bearer
// refuses further requests until the link closes.
static void test_timeout(void) {
    setup();
    CHECK_EQ(bh_gattc_discover_characteristics(CONN, 1, 0xffff, NULL, 0), 0);
    CHECK_EQ(bh_gattc_read(CONN, 0x40), 0);
    att.now += 1000;
    RX(BH_ATT_READ_BY_TYPE_RSP, 7, 0x11, 0x00, 0x02, 0x12, 0x00, 0x37, 0x2a);
    att.now += BH_ATT_TIMEOUT_MS - 1;
    bh_gattc_poll(att.now);
    CHECK_EQ(n_evs, 0);
    att.now += 1;
    bh_gattc_poll(att.now);
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(evs[0].kind, EV_CHR_DONE);
    CHECK_EQ(evs[0].status, BH_GATTC_STATUS_TIMEOUT);
    CHECK_EQ(evs[1].kind, EV_READ_DONE); // queued behind it: ends too
    CHECK_EQ(evs[1].status, BH_GATTC_STATUS_TIMEOUT);
    evs[1] = evs[0];
    n_evs = 1;
    CHECK_EQ(bh_gattc_read(CONN, 0x21), -BH_ETIMEDOUT);
    CHECK_EQ(bh_gattc_write(CONN, 0x21, (const uint8_t *)"x", 1, false), -BH_ETIMEDOUT);
    // A late response changes nothing.
    RX(BH_ATT_READ_BY_TYPE_RSP, 7, 0x13, 0x00, 0x02, 0x14, 0x00, 0x37, 0x2a);
    CHECK_EQ(n_evs, 1);
    // Other links are unaffected; a new link with the same handle starts afresh.
    CHECK_EQ(bh_gattc_read(CONN2, 0x21), 0);
    bh_gattc_conn_closed(CONN);
    CHECK_EQ(bh_gattc_read(CONN, 0x21), 0);
    // Timer wrap-around.
    setup();
    att.now = 0xffffff00u;
    CHECK_EQ(bh_gattc_read(CONN, 0x21), 0);
    att.now = 0x100;
    bh_gattc_poll(att.now);
    CHECK_EQ(n_evs, 0);
    att.now += BH_ATT_TIMEOUT_MS;
    bh_gattc_poll(att.now);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].status, BH_GATTC_STATUS_TIMEOUT);
}

static void test_disconnect(void) {
    setup();
    CHECK_EQ(bh_gattc_write(CONN, 0x30, (const uint8_t *)"hello", 5, true), 0);
    CHECK_EQ(bh_gattc_discover_services(CONN2, NULL, 0), 0);
    att.mtu[0] = 0;
    bh_gattc_conn_closed(CONN);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].kind, EV_WRITE_DONE);
    CHECK_EQ(evs[0].a, 0x30);
    CHECK_EQ(evs[0].status, BH_GATTC_STATUS_DISCONNECTED);
    bh_gattc_conn_closed(CONN);
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(bh_gattc_read(CONN, 0x21), -BH_ENOTCONN);
    // Link lost while a follow-up request is sent.
    RX(BH_ATT_WRITE_RSP);
    CHECK_EQ(n_evs, 1);
    att.mtu[1] = 0;
    static const uint8_t rsp[] = { BH_ATT_READ_BY_GROUP_TYPE_RSP, 6, 1, 0, 5, 0, 0, 0x18 };
    rx(CONN2, rsp, sizeof(rsp));
    CHECK_EQ(n_evs, 3);
    CHECK_EQ(evs[2].kind, EV_SVC_DONE);
    CHECK_EQ(evs[2].status, BH_GATTC_STATUS_DISCONNECTED);
}

static void test_notify_indicate(void) {
    setup();
    RX(BH_ATT_HANDLE_VALUE_NTF, 0x12, 0x00, 'h', 'i');
    CHECK_EQ(n_evs, 1);
    CHECK_EQ(evs[0].kind, EV_NOTIFY);
    CHECK_EQ(evs[0].a, 0x12);
    CHECK_EQ(evs[0].len, 2);
    CHECK_EQ(att.n_sent, 0);
    RX(BH_ATT_HANDLE_VALUE_IND, 0x14, 0x00);
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(evs[1].kind, EV_INDICATE);
    CHECK_EQ(evs[1].len, 0);
    CHECK_EQ(evs[1].status, 0); // nothing sent before the event
    CHECK_EQ(att.n_sent, 1);
    CHECK_EQ(last_len(), 1);
    CHECK_EQ(last_sent()[0], BH_ATT_HANDLE_VALUE_CFM);
    // Too short to carry a handle: ignored.
    RX(BH_ATT_HANDLE_VALUE_IND, 0x14);
    RX(BH_ATT_HANDLE_VALUE_NTF);
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(att.n_sent, 1);
    // Queue full: the confirmation is retried from the poll.
    att.send_result = -BH_ENOMEM;
    RX(BH_ATT_HANDLE_VALUE_IND, 0x14, 0x00, 1);
    CHECK_EQ(att.n_sent, 1);
    bh_gattc_poll(att.now);
    CHECK_EQ(att.n_sent, 1);
    att.send_result = 0;
    bh_gattc_poll(att.now);
    CHECK_EQ(att.n_sent, 2);
    CHECK_EQ(last_sent()[0], BH_ATT_HANDLE_VALUE_CFM);
    bh_gattc_poll(att.now);
    CHECK_EQ(att.n_sent, 2);
    // Notifications during a procedure do not disturb it.
    CHECK_EQ(bh_gattc_read(CONN, 0x21), 0);
    RX(BH_ATT_HANDLE_VALUE_NTF, 0x12, 0x00, 1);
    RX(BH_ATT_READ_RSP, 5);
    CHECK_EQ(evs[n_evs - 1].kind, EV_READ_DONE);
    CHECK_EQ(evs[n_evs - 2].data[0], 5);
}

static void test_mtu(void) {
    setup();
    att.local_mtu = 300;
    CHECK_EQ(bh_gattc_exchange_mtu(CONN), 0);
    CHECK_EQ(last_len(), 3);
    CHECK_EQ(last_sent()[0], BH_ATT_EXCHANGE_MTU_REQ);
    CHECK_EQ(u16(last_sent() + 1), 300);
    RX(BH_ATT_EXCHANGE_MTU_RSP, 0x00, 0x01);
    CHECK_EQ(att.n_mtu_exchanged, 1);
    CHECK_EQ(att.mtu_peer, 256);
    CHECK_EQ(bh_gattc_exchange_mtu(CONN), -BH_EALREADY);
    CHECK_EQ(n_evs, 0);
    // Refused: reported as the default MTU.
    setup();
    CHECK_EQ(bh_gattc_exchange_mtu(CONN), 0);
    error_rsp(CONN, BH_ATT_EXCHANGE_MTU_REQ, 0, BH_ATT_ERR_REQUEST_NOT_SUPPORTED);
    CHECK_EQ(att.n_mtu_exchanged, 1);
    CHECK_EQ(att.mtu_peer, 23);
    CHECK_EQ(bh_gattc_read(CONN, 3), 0);
}

// Queue full when a procedure starts or continues: retried from the poll.
static void test_queue_full(void) {
    setup();
    att.send_result = -BH_ENOMEM;
    CHECK_EQ(bh_gattc_read(CONN, 0x21), 0);
    CHECK_EQ(att.n_sent, 0);
    RX(BH_ATT_READ_RSP, 1); // nothing was asked yet: stray
    CHECK_EQ(n_evs, 0);
    CHECK_EQ(bh_gattc_read(CONN, 0x22), 0); // waits its turn
    bh_gattc_poll(att.now);
    CHECK_EQ(att.n_sent, 0);
    att.send_result = 0;
    bh_gattc_poll(att.now);
    CHECK_EQ(att.n_sent, 1);
    CHECK_EQ(last_sent()[0], BH_ATT_READ_REQ);
    uint8_t rsp[23] = { BH_ATT_READ_RSP };
    att.send_result = -BH_ENOMEM;
    rx(CONN, rsp, sizeof(rsp));
    CHECK_EQ(att.n_sent, 1);
    att.send_result = 0;
    bh_gattc_poll(att.now);
    CHECK_EQ(last_sent()[0], BH_ATT_READ_BLOB_REQ);
    RX(BH_ATT_READ_BLOB_RSP, 1);
    CHECK_EQ(n_evs, 2);
    CHECK_EQ(evs[0].len, 23);
    CHECK_EQ(last_sent()[0], BH_ATT_READ_REQ); // the queued read
    CHECK_EQ(u16(last_sent() + 1), 0x22);
    RX(BH_ATT_READ_RSP, 2);
    CHECK_EQ(n_evs, 4);
    n_evs = 2;
    // Still full after 30 s: the timeout ends it.
    att.send_result = -BH_ENOMEM;
    CHECK_EQ(bh_gattc_read(CONN2, 0x21), 0);
    att.now += 20000;
    bh_gattc_poll(att.now);
    att.now += 10000;
    bh_gattc_poll(att.now);
    CHECK_EQ(n_evs, 3);
    CHECK_EQ(evs[2].status, BH_GATTC_STATUS_TIMEOUT);
    // Another error at the start is returned.
    att.send_result = -BH_EMSGSIZE;
    CHECK_EQ(bh_gattc_read(CONN, 0x21), -BH_EMSGSIZE);
    att.send_result = 0;
    CHECK_EQ(bh_gattc_read(CONN, 0x21), 0);
}

// The last PDU sent on conn (NULL if none), its length in *len.
static const uint8_t *last_on(uint16_t conn, size_t *len) {
    for (int i = att.n_sent - 1; i >= 0; --i) {
        if (att.sent_conn[i] == conn) {
            *len = att.sent_len[i];
            return att.sent[i];
        }
    }
    return NULL;
}

static uint8_t pattern(uint16_t conn, size_t i) {
    return (uint8_t)(conn * 31 + i * 7);
}

// Answer conn's Read/Read Blob requests with a value of len bytes
// (pattern), until its read ends.
static void serve_read(uint16_t conn, uint16_t handle, size_t len) {
    for (size_t off = 0;;) {
        size_t n;
        const uint8_t *req = last_on(conn, &n);
        CHECK(req != NULL);
        CHECK_EQ(u16(req + 1), handle);
        CHECK_EQ(req[0], off == 0 ? BH_ATT_READ_REQ : BH_ATT_READ_BLOB_REQ);
        if (off > 0) {
            CHECK_EQ(u16(req + 3), off);
        }
        uint8_t rsp[23] = { off == 0 ? BH_ATT_READ_RSP : BH_ATT_READ_BLOB_RSP };
        size_t chunk = len - off < 22 ? len - off : 22;
        for (size_t i = 0; i < chunk; ++i) {
            rsp[1 + i] = pattern(conn, off + i);
        }
        off += chunk;
        rx(conn, rsp, 1 + chunk);
        if (chunk < 22) {
            return;
        }
    }
}

// Echo conn's Prepare Writes and answer its Execute Write; the value the
// server received is compared with pattern(conn) over len bytes.
static void serve_write(uint16_t conn, size_t len) {
    size_t got = 0;
    for (;;) {
        size_t n;
        const uint8_t *req = last_on(conn, &n);
        CHECK(req != NULL);
        if (req[0] == BH_ATT_EXECUTE_WRITE_REQ) {
            CHECK_EQ(req[1], 1);
            static const uint8_t rsp[1] = { BH_ATT_EXECUTE_WRITE_RSP };
            rx(conn, rsp, 1);
            break;
        }
        CHECK_EQ(req[0], BH_ATT_PREPARE_WRITE_REQ);
        CHECK_EQ(u16(req + 3), got);
        for (size_t i = 5; i < n; ++i) {
            CHECK_EQ(req[i], pattern(conn, got + i - 5));
        }
        got += n - 5;
        uint8_t rsp[23];
        memcpy(rsp, req, n);
        rsp[0] = BH_ATT_PREPARE_WRITE_RSP;
        rx(conn, rsp, n);
    }
    CHECK_EQ(got, len);
}

static const ev_t *find_ev(int kind, uint16_t conn, uint16_t handle) {
    for (int i = 0; i < n_evs; ++i) {
        if (evs[i].kind == kind && evs[i].conn == conn && evs[i].a == handle) {
            return &evs[i];
        }
    }
    return NULL;
}

// Four links share BH_GATTC_VALUE_BUFS (2) value buffers and one pool of
// write values: reads and writes that find no buffer wait (none is lost),
// each link's order holds, and a buffer given back goes to the links that
// waited before the one that gave it back.
static void test_shared_buffers(void) {
    static const uint16_t conns[4] = { CONN, CONN2, CONN3, CONN4 };
    CHECK_EQ(BH_GATTC_VALUE_BUFS, 2);
    setup();
    // Four long reads (50 bytes: Read + 2 Read Blobs) at once: two start.
    for (int i = 0; i < 4; ++i) {
        CHECK_EQ(bh_gattc_read(conns[i], (uint16_t)(0x10 + i)), 0);
    }
    CHECK_EQ(bh_gattc_read(CONN, 0x20), 0); // behind CONN's first
    CHECK_EQ(att.n_sent, 2);
    CHECK_EQ(att.sent_conn[0], CONN);
    CHECK_EQ(att.sent_conn[1], CONN2);
    // CONN's read ends: its buffer goes to CONN3, not to CONN's next read.
    serve_read(CONN, 0x10, 50);
    CHECK_EQ(att.sent_conn[att.n_sent - 1], CONN3);
    serve_read(CONN2, 0x11, 50);
    CHECK_EQ(att.sent_conn[att.n_sent - 1], CONN4);
    serve_read(CONN3, 0x12, 50);
    CHECK_EQ(att.sent_conn[att.n_sent - 1], CONN); // CONN's second read
    serve_read(CONN4, 0x13, 50);
    serve_read(CONN, 0x20, 30);
    for (int i = 0; i < 4; ++i) {
        const ev_t *e = find_ev(EV_READ, conns[i], (uint16_t)(0x10 + i));
        CHECK(e != NULL);
        CHECK_EQ(e->len, 50);
        for (size_t k = 0; k < 50; ++k) {
            CHECK_EQ(e->data[k], pattern(conns[i], k));
        }
        e = find_ev(EV_READ_DONE, conns[i], (uint16_t)(0x10 + i));
        CHECK(e != NULL && e->status == 0);
    }
    CHECK_EQ(find_ev(EV_READ, CONN, 0x20)->len, 30);
    CHECK_EQ(n_evs, 10);

    // Four 512-byte long writes at once: two run, two keep their values in
    // the pool (then full: a further queued write gets -BH_ENOMEM, a
    // discovery, which holds no value, still queues).
    setup();
    static uint8_t values[4][BH_GATTC_VALUE_MAX];
    for (int i = 0; i < 4; ++i) {
        for (size_t k = 0; k < BH_GATTC_VALUE_MAX; ++k) {
            values[i][k] = pattern(conns[i], k);
        }
        CHECK_EQ(bh_gattc_write(conns[i], 0x30, values[i], BH_GATTC_VALUE_MAX, true), 0);
    }
    CHECK_EQ(att.n_sent, 2);
    CHECK_EQ(bh_gattc_write(CONN, 0x31, values[0], 1, true), -BH_ENOMEM);
    CHECK_EQ(bh_gattc_write(CONN4, 0x31, values[0], 1, true), -BH_ENOMEM);
    CHECK_EQ(bh_gattc_write(CONN4, 0x31, values[0], 1, false), 0); // a command needs none
    CHECK_EQ(bh_gattc_discover_services(CONN3, NULL, 0), 0);
    // CONN2 goes mid-write: its buffer goes to CONN3, whose value left the
    // pool; CONN4's value moved down in it and is still whole.
    att.mtu[1] = 0;
    bh_gattc_conn_closed(CONN2);
    CHECK_EQ(att.sent_conn[att.n_sent - 1], CONN3);
    CHECK_EQ(find_ev(EV_WRITE_DONE, CONN2, 0x30)->status, BH_GATTC_STATUS_DISCONNECTED);
    CHECK_EQ(bh_gattc_write(CONN, 0x31, values[0], 200, true), 0); // room again
    serve_write(CONN3, BH_GATTC_VALUE_MAX);
    CHECK_EQ(att.sent_conn[att.n_sent - 1], CONN3); // its discovery needs no buffer
    CHECK_EQ(last_sent()[0], BH_ATT_READ_BY_GROUP_TYPE_REQ);
    CHECK_EQ(att.sent_conn[att.n_sent - 2], CONN4); // started first
    serve_write(CONN4, BH_GATTC_VALUE_MAX);
    serve_write(CONN, BH_GATTC_VALUE_MAX);
    CHECK_EQ(last_sent()[0], BH_ATT_PREPARE_WRITE_REQ); // CONN's queued 200 bytes
    serve_write(CONN, 200);
    CHECK_EQ(find_ev(EV_WRITE_DONE, CONN, 0x30)->status, 0);
    CHECK_EQ(find_ev(EV_WRITE_DONE, CONN3, 0x30)->status, 0);
    CHECK_EQ(find_ev(EV_WRITE_DONE, CONN4, 0x30)->status, 0);
    CHECK_EQ(find_ev(EV_WRITE_DONE, CONN, 0x31)->status, 0);
}

int main(void) {
    static const unit_test_t tests[] = {
        { "services_many", test_services_many },
        { "services_to_end", test_services_to_end },
        { "services_malformed", test_services_malformed },
        { "services_by_uuid", test_services_by_uuid },
        { "characteristics", test_characteristics },
        { "descriptors", test_descriptors },
        { "read", test_read },
        { "write_short", test_write_short },
        { "write_long", test_write_long },
        { "queue", test_queue },
        { "timeout", test_timeout },
        { "disconnect", test_disconnect },
        { "notify_indicate", test_notify_indicate },
        { "mtu", test_mtu },
        { "queue_full", test_queue_full },
        { "shared_buffers", test_shared_buffers },
    };
    return run_tests(NULL, tests, sizeof(tests) / sizeof(tests[0]));
}
