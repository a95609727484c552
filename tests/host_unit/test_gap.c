// Unit tests of the host's GAP (advertising, scanning, connecting, links,
// parameter updates) against the fake port. One line per test; exits
// non-zero on the first failure.
#include "bh_err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blehost.h"
#include "bh_conn.h"
#include "bh_gap.h"
#include "bh_hci.h"
#include "check.h"
#include "fake_port.h"

// ---- events ----

#define MAX_RESULTS (32)

static struct {
    int connected;
    int disconnected;
    int failed;
    int scan_done;
    int updates;
    int results;
    uint16_t handle;
    uint8_t role;
    uint8_t reason;
    uint8_t status;
    bh_addr_t peer;
    uint16_t upd[3];
    struct {
        bh_addr_t addr;
        uint8_t type;
        int8_t rssi;
        uint8_t len;
        uint8_t data[31];
    } result[MAX_RESULTS];
} ev;

void bh_evt_connected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer) {
    ev.connected++;
    ev.handle = conn_handle;
    ev.role = role;
    ev.peer = *peer;
}

void bh_evt_disconnected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer, uint8_t reason) {
    ev.disconnected++;
    ev.handle = conn_handle;
    ev.role = role;
    ev.peer = *peer;
    ev.reason = reason;
}

void bh_evt_connect_failed(const bh_addr_t *peer, uint8_t status) {
    ev.failed++;
    ev.peer = *peer;
    ev.status = status;
}

void bh_evt_scan_done(void) {
    ev.scan_done++;
}

void bh_evt_scan_result(const bh_addr_t *addr, uint8_t adv_type, int8_t rssi,
    const uint8_t *data, size_t len) {
    CHECK(len <= 31);
    if (ev.results < MAX_RESULTS) {
        ev.result[ev.results].addr = *addr;
        ev.result[ev.results].type = adv_type;
        ev.result[ev.results].rssi = rssi;
        ev.result[ev.results].len = (uint8_t)len;
        memcpy(ev.result[ev.results].data, data, len);
    }
    ev.results++;
}

void bh_evt_conn_update(uint16_t conn_handle, uint16_t interval, uint16_t latency,
    uint16_t timeout, uint8_t status) {
    ev.updates++;
    ev.handle = conn_handle;
    ev.upd[0] = interval;
    ev.upd[1] = latency;
    ev.upd[2] = timeout;
    ev.status = status;
}

// ---- helpers ----

static void setup(void) {
    fake_reset();
    bh_deactivate(10);
    fake_reset();
    memset(&ev, 0, sizeof(ev));
    const uint8_t addr[6] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06 };
    memcpy(fake.public_addr, addr, 6);
    CHECK_EQ(bh_activate(), 0);
    fake.n_cmds = 0;
}

static void le_meta(uint8_t sub, const uint8_t *p, size_t n) {
    uint8_t buf[256];
    buf[0] = sub;
    memcpy(buf + 1, p, n);
    fake_push_event(0x3e, buf, n + 1);
}

static void push_conn_complete(uint8_t status, uint16_t handle, uint8_t role, const uint8_t peer[6],
    uint16_t interval) {
    uint8_t p[18] = { status, (uint8_t)handle, (uint8_t)(handle >> 8), role, 0x00 };
    memcpy(p + 5, peer, 6);
    p[11] = (uint8_t)interval;
    p[12] = (uint8_t)(interval >> 8);
    p[15] = 0x90; // timeout 400
    p[16] = 0x01;
    le_meta(0x01, p, sizeof(p));
}

static const fake_cmd_t *last(uint16_t opcode) {
    int i = fake_find_cmd(opcode);
    CHECK(i >= 0);
    return &fake.cmds[i];
}

static uint16_t u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static const uint8_t PEER[6] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66 };

// ---- advertising ----

static void test_adv_commands_and_types(void) {
    setup();
    CHECK_EQ(bh_adv_set_data((const uint8_t *)"\x02\x01\x06", 3), 0);
    CHECK_EQ(bh_adv_set_scan_rsp((const uint8_t *)"\x03\x09hi", 4), 0);
    CHECK_EQ(bh_adv_start(160, true), 0);
    CHECK(bh_adv_is_enabled());
    const fake_cmd_t *c = last(BH_HCI_OP_LE_SET_ADV_PARAMS);
    CHECK_EQ(c->len, 15);
    CHECK_EQ(u16(c->params), 160);
    CHECK_EQ(u16(c->params + 2), 160);
    CHECK_EQ(c->params[4], 0x00); // ADV_IND
    CHECK_EQ(c->params[5], BH_ADDR_TYPE_PUBLIC);
    CHECK_EQ(c->params[13], 0x07);
    c = last(BH_HCI_OP_LE_SET_ADV_DATA);
    CHECK_EQ(c->len, 32);
    CHECK_EQ(c->params[0], 3);
    CHECK(memcmp(c->params + 1, "\x02\x01\x06\x00", 4) == 0);
    c = last(BH_HCI_OP_LE_SET_SCAN_RSP_DATA);
    CHECK_EQ(c->params[0], 4);
    CHECK(memcmp(c->params + 1, "\x03\x09hi", 4) == 0);
    CHECK_EQ(last(BH_HCI_OP_LE_SET_ADV_ENABLE)->params[0], 1);

    // Restart while advertising: disable first, then parameters.
    fake.n_cmds = 0;
    CHECK_EQ(bh_adv_start(32, false), 0);
    CHECK_EQ(fake.cmds[0].opcode, BH_HCI_OP_LE_SET_ADV_ENABLE);
    CHECK_EQ(fake.cmds[0].params[0], 0);
    CHECK_EQ(last(BH_HCI_OP_LE_SET_ADV_PARAMS)->params[4], 0x02); // ADV_SCAN_IND
    // Payloads are kept until changed; b'' clears.
    CHECK_EQ(last(BH_HCI_OP_LE_SET_ADV_DATA)->params[0], 3);
    CHECK_EQ(bh_adv_set_scan_rsp(NULL, 0), 0);
    CHECK_EQ(bh_adv_start(32, false), 0);
    CHECK_EQ(last(BH_HCI_OP_LE_SET_ADV_PARAMS)->params[4], 0x03); // ADV_NONCONN_IND
    CHECK_EQ(last(BH_HCI_OP_LE_SET_SCAN_RSP_DATA)->params[0], 0);
    // A scan response never set (fresh activation) leaves it scannable.
    bh_adv_reset();
    CHECK_EQ(bh_adv_start(32, false), 0);
    CHECK_EQ(last(BH_HCI_OP_LE_SET_ADV_PARAMS)->params[4], 0x02); // ADV_SCAN_IND

    // Ranges and lengths.
    uint8_t big[32] = { 0 };
    CHECK_EQ(bh_adv_set_data(big, 32), -BH_EINVAL);
    CHECK_EQ(bh_adv_set_data(big, 31), 0);
    CHECK_EQ(bh_adv_start(31, true), -BH_EINVAL);
    CHECK_EQ(bh_adv_start(0x4001, true), -BH_EINVAL);
    CHECK(bh_adv_is_enabled());

    // A controller failure leaves advertising off and is an error.
    fake.fail_opcode = BH_HCI_OP_LE_SET_ADV_PARAMS;
    fake.fail_status = 0x12;
    CHECK_EQ(bh_adv_start(64, true), -BH_EIO);
    CHECK(!bh_adv_is_enabled());
    fake.fail_opcode = 0;

    // A central connecting stops advertising.
    CHECK_EQ(bh_adv_start(64, true), 0);
    push_conn_complete(0, 0x0001, 1, PEER, 24);
    bh_poll();
    CHECK_EQ(ev.connected, 1);
    CHECK_EQ(ev.role, BH_ROLE_PERIPHERAL);
    CHECK(!bh_adv_is_enabled());
    CHECK_EQ(bh_adv_stop(), 0);
    bh_deactivate(10);
    CHECK_EQ(bh_adv_start(64, true), -BH_ENODEV);
}

// ---- scanning ----

static void push_reports(void) {
    // Three reports in one event: ADV_IND with 3 bytes, SCAN_RSP with 0
    // bytes, ADV_NONCONN_IND with 31 bytes from a random address.
    uint8_t p[3 * 10 + 3 + 31 + 1];
    size_t n = 0;
    p[n++] = 3;
    p[n++] = 0x00;
    p[n++] = 0x00;
    memcpy(p + n, PEER, 6);
    n += 6;
    p[n++] = 3;
    memcpy(p + n, "\x02\x01\x06", 3);
    n += 3;
    p[n++] = (uint8_t)-40;
    p[n++] = 0x04;
    p[n++] = 0x00;
    memcpy(p + n, PEER, 6);
    n += 6;
    p[n++] = 0;
    p[n++] = (uint8_t)-41;
    p[n++] = 0x03;
    p[n++] = 0x03; // random identity: reported as random
    memcpy(p + n, PEER, 6);
    n += 6;
    p[n++] = 31;
    for (int i = 0; i < 31; i++) {
        p[n++] = (uint8_t)i;
    }
    p[n++] = 0x7f;
    CHECK_EQ(n, sizeof(p));
    le_meta(0x02, p, n);
}

static void test_scan_reports(void) {
    setup();
    CHECK_EQ(bh_scan_start(0, 2048, 18, true), 0);
    CHECK(bh_scan_is_active());
    const fake_cmd_t *c = last(BH_HCI_OP_LE_SET_SCAN_PARAMS);
    CHECK_EQ(c->len, 7);
    CHECK_EQ(c->params[0], 1);
    CHECK_EQ(u16(c->params + 1), 2048);
    CHECK_EQ(u16(c->params + 3), 18);
    CHECK_EQ(c->params[5], BH_ADDR_TYPE_PUBLIC);
    c = last(BH_HCI_OP_LE_SET_SCAN_ENABLE);
    CHECK_EQ(c->params[0], 1);
    CHECK_EQ(c->params[1], 0); // no duplicate filtering

    push_reports();
    bh_poll();
    CHECK_EQ(ev.results, 3);
    CHECK_EQ(ev.result[0].type, 0);
    CHECK_EQ(ev.result[0].addr.type, 0);
    CHECK(memcmp(ev.result[0].addr.val, PEER, 6) == 0);
    CHECK_EQ(ev.result[0].len, 3);
    CHECK_EQ(ev.result[0].rssi, -40);
    CHECK_EQ(ev.result[1].type, 4);
    CHECK_EQ(ev.result[1].len, 0);
    CHECK_EQ(ev.result[1].rssi, -41);
    CHECK_EQ(ev.result[2].type, 3);
    CHECK_EQ(ev.result[2].addr.type, 1);
    CHECK_EQ(ev.result[2].len, 31);
    CHECK_EQ(ev.result[2].data[30], 30);
    CHECK_EQ(ev.result[2].rssi, 127);

    // Malformed events deliver nothing: truncated in the fixed part, data
    // running past the end, data length over 31, zero reports, unknown type.
    uint8_t good[11] = { 1, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0, 0xc0 };
    le_meta(0x02, good, 10);
    uint8_t runs_over[12] = { 1, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 2, 0xaa, 0xc0 };
    le_meta(0x02, runs_over, sizeof(runs_over));
    uint8_t over31[1 + 10 + 32] = { 1, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 32 };
    le_meta(0x02, over31, sizeof(over31));
    le_meta(0x02, (const uint8_t *)"\x00", 1);
    uint8_t bad_type[11] = { 1, 0x05, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0, 0xc0 };
    le_meta(0x02, bad_type, sizeof(bad_type));
    // Two reports announced, one present: the whole event is dropped.
    uint8_t two[11];
    memcpy(two, good, 11);
    two[0] = 2;
    le_meta(0x02, two, sizeof(two));
    bh_poll();
    CHECK_EQ(ev.results, 3);
    le_meta(0x02, good, sizeof(good));
    bh_poll();
    CHECK_EQ(ev.results, 4);
    CHECK_EQ(ev.result[3].rssi, -64);

    // Stop: one done, later reports are not results.
    CHECK_EQ(bh_scan_stop(), 0);
    CHECK_EQ(last(BH_HCI_OP_LE_SET_SCAN_ENABLE)->params[0], 0);
    CHECK_EQ(ev.scan_done, 1);
    CHECK(!bh_scan_is_active());
    push_reports();
    bh_poll();
    CHECK_EQ(ev.results, 4);
    CHECK_EQ(bh_scan_stop(), 0);
    CHECK_EQ(ev.scan_done, 1);
}

static void test_scan_duration_and_restart(void) {
    setup();
    CHECK_EQ(bh_scan_start(100, 16, 16, false), 0);
    fake.now_ms += 60;
    bh_poll();
    CHECK_EQ(ev.scan_done, 0);
    // Restart: disable, new parameters, enable; the scan goes on, with the
    // new duration counted from now.
    fake.n_cmds = 0;
    CHECK_EQ(bh_scan_start(100, 32, 16, true), 0);
    CHECK_EQ(fake.cmds[0].opcode, BH_HCI_OP_LE_SET_SCAN_ENABLE);
    CHECK_EQ(fake.cmds[0].params[0], 0);
    CHECK_EQ(last(BH_HCI_OP_LE_SET_SCAN_PARAMS)->params[0], 1);
    CHECK_EQ(ev.scan_done, 0);
    fake.now_ms += 60;
    bh_poll();
    CHECK_EQ(ev.scan_done, 0);
    CHECK(bh_scan_is_active());
    fake.now_ms += 40;
    bh_poll();
    CHECK_EQ(ev.scan_done, 1);
    CHECK(!bh_scan_is_active());
    CHECK_EQ(last(BH_HCI_OP_LE_SET_SCAN_ENABLE)->params[0], 0);
    fake.now_ms += 1000;
    bh_poll();
    CHECK_EQ(ev.scan_done, 1);

    // Range checks.
    CHECK_EQ(bh_scan_start(0, 3, 3, false), -BH_EINVAL);
    CHECK_EQ(bh_scan_start(0, 16, 17, false), -BH_EINVAL);
    CHECK_EQ(bh_scan_start(0, 0x4001, 16, false), -BH_EINVAL);

    // Forever until deactivation, which reports the end.
    CHECK_EQ(bh_scan_start(0, 16, 16, false), 0);
    fake.now_ms += 100000;
    bh_poll();
    CHECK_EQ(ev.scan_done, 1);
    bh_deactivate(10);
    CHECK_EQ(ev.scan_done, 2);
    CHECK_EQ(bh_scan_start(0, 16, 16, false), -BH_ENODEV);
}

// ---- connecting ----

static void cancel_answers_with_complete(const fake_cmd_t *cmd) {
    fake_answer(cmd);
    if (cmd->opcode == BH_HCI_OP_LE_CREATE_CONN_CANCEL) {
        push_conn_complete(0x02, 0, 0, PEER, 0);
    }
}

static void test_connect_params_and_timeout(void) {
    setup();
    bh_addr_t peer = { .type = BH_ADDR_TYPE_RANDOM };
    memcpy(peer.val, PEER, 6);
    CHECK_EQ(bh_connect(&peer, 500, 5, 40), -BH_EINVAL);
    CHECK_EQ(bh_connect(&peer, 500, 40, 24), -BH_EINVAL);
    CHECK_EQ(bh_connect(&peer, 500, 24, 3201), -BH_EINVAL);
    CHECK_EQ(bh_connect(&peer, 500, 24, 40), 0);
    CHECK(bh_connect_is_pending());
    const fake_cmd_t *c = last(BH_HCI_OP_LE_CREATE_CONN);
    CHECK_EQ(c->len, 25);
    CHECK(u16(c->params + 2) <= u16(c->params)); // window <= interval
    CHECK_EQ(c->params[4], 0);                    // no accept list
    CHECK_EQ(c->params[5], BH_ADDR_TYPE_RANDOM);
    CHECK(memcmp(c->params + 6, PEER, 6) == 0);
    CHECK_EQ(c->params[12], BH_ADDR_TYPE_PUBLIC);
    CHECK_EQ(u16(c->params + 13), 24);
    CHECK_EQ(u16(c->params + 15), 40);
    CHECK_EQ(u16(c->params + 17), 0);
    uint16_t timeout = u16(c->params + 19);
    CHECK(timeout * 4u > 40u && timeout <= 3200);
    CHECK_EQ(bh_connect(&peer, 500, 24, 40), -BH_EALREADY);

    // The scan duration elapses: cancel, then the controller's completion
    // (Unknown Connection Identifier) ends the attempt.
    fake.on_command = cancel_answers_with_complete;
    fake.now_ms += 499;
    bh_poll();
    CHECK_EQ(fake_find_cmd(BH_HCI_OP_LE_CREATE_CONN_CANCEL), -1);
    fake.now_ms += 1;
    bh_poll();
    CHECK(fake_find_cmd(BH_HCI_OP_LE_CREATE_CONN_CANCEL) >= 0);
    bh_poll();
    CHECK_EQ(ev.failed, 1);
    CHECK_EQ(ev.status, 0x02);
    CHECK_EQ(ev.peer.type, BH_ADDR_TYPE_RANDOM);
    CHECK(memcmp(ev.peer.val, PEER, 6) == 0);
    CHECK(!bh_connect_is_pending());
    CHECK_EQ(ev.connected, 0);
    // Nothing more later; cancelling with nothing pending is a no-op.
    fake.now_ms += 5000;
    bh_poll();
    CHECK_EQ(ev.failed, 1);
    size_t sent = fake.n_cmds;
    CHECK_EQ(bh_connect_cancel(), 0);
    CHECK_EQ(fake.n_cmds, sent);
    fake.on_command = NULL;

    // User cancel of an attempt without timeout.
    fake.on_command = cancel_answers_with_complete;
    CHECK_EQ(bh_connect(&peer, 0, 6, 6), 0);
    fake.now_ms += 100000;
    bh_poll();
    CHECK(bh_connect_is_pending());
    CHECK_EQ(bh_connect_cancel(), 0);
    bh_poll();
    CHECK_EQ(ev.failed, 2);
    fake.on_command = NULL;
}

static void test_connect_success_and_races(void) {
    setup();
    bh_addr_t peer = { .type = BH_ADDR_TYPE_PUBLIC };
    memcpy(peer.val, PEER, 6);
    CHECK_EQ(bh_connect(&peer, 2000, 24, 40), 0);
    push_conn_complete(0, 0x0040, 0, PEER, 24);
    bh_poll();
    CHECK_EQ(ev.connected, 1);
    CHECK_EQ(ev.handle, 0x40);
    CHECK_EQ(ev.role, BH_ROLE_CENTRAL);
    CHECK(!bh_connect_is_pending());
    CHECK_EQ(bh_conn_find(0x40)->interval, 24);
    fake.now_ms += 5000;
    bh_poll();
    CHECK_EQ(ev.failed, 0);
    CHECK_EQ(fake_find_cmd(BH_HCI_OP_LE_CREATE_CONN_CANCEL), -1);

    // A cancel that the controller refuses (it just connected): the
    // success that follows wins.
    fake.fail_opcode = BH_HCI_OP_LE_CREATE_CONN_CANCEL;
    fake.fail_status = 0x0c;
    CHECK_EQ(bh_connect(&peer, 0, 24, 40), 0);
    CHECK_EQ(bh_connect_cancel(), 0);
    push_conn_complete(0, 0x0041, 0, PEER, 24);
    bh_poll();
    CHECK_EQ(ev.connected, 2);
    CHECK_EQ(ev.failed, 0);
    // A controller that never reports the end: the host does, after a grace.
    CHECK_EQ(bh_connect(&peer, 0, 24, 40), 0);
    CHECK_EQ(bh_connect_cancel(), 0);
    fake.now_ms += 999;
    bh_poll();
    CHECK_EQ(ev.failed, 0);
    fake.now_ms += 1;
    bh_poll();
    CHECK_EQ(ev.failed, 1);
    CHECK(!bh_connect_is_pending());
    fake.fail_opcode = 0;

    // The controller refuses the attempt itself.
    fake.fail_opcode = BH_HCI_OP_LE_CREATE_CONN;
    fake.fail_status = 0x0c;
    CHECK_EQ(bh_connect(&peer, 0, 24, 40), -BH_EIO);
    CHECK(!bh_connect_is_pending());
    fake.fail_opcode = 0;

    // Table full: refused up front.
    for (uint16_t h = 1; bh_conn_count() < BH_MAX_CONNECTIONS; h++) {
        push_conn_complete(0, h, 1, PEER, 24);
        bh_poll();
    }
    CHECK_EQ(bh_connect(&peer, 0, 24, 40), -BH_ENOMEM);

    // Deactivation reports every link closed.
    int before = ev.disconnected;
    bh_deactivate(10);
    CHECK_EQ(ev.disconnected - before, BH_MAX_CONNECTIONS);
    CHECK_EQ(ev.reason, 0x16);
    CHECK_EQ(bh_conn_count(), 0);
}

static void test_deactivate_ends_attempt(void) {
    setup();
    bh_addr_t peer = { .type = BH_ADDR_TYPE_PUBLIC };
    memcpy(peer.val, PEER, 6);
    CHECK_EQ(bh_connect(&peer, 0, 24, 40), 0);
    bh_deactivate(10);
    CHECK_EQ(ev.failed, 1);
    CHECK(!bh_connect_is_pending());
    CHECK_EQ(bh_connect(&peer, 0, 24, 40), -BH_ENODEV);
    CHECK_EQ(bh_connect_cancel(), -BH_ENODEV);
}

// ---- links ----

static void test_disconnect(void) {
    setup();
    CHECK_EQ(bh_disconnect(0x40), -BH_ENOTCONN);
    push_conn_complete(0, 0x0040, 1, PEER, 24);
    bh_poll();
    CHECK_EQ(bh_disconnect(0x40), 0);
    const fake_cmd_t *c = last(BH_HCI_OP_DISCONNECT);
    CHECK_EQ(u16(c->params), 0x40);
    CHECK_EQ(c->params[2], 0x13);
    // Again before it completes: still connected, not sent twice.
    size_t sent = fake.n_cmds;
    CHECK_EQ(bh_disconnect(0x40), 0);
    CHECK_EQ(fake.n_cmds, sent);
    uint8_t p[4] = { 0x00, 0x40, 0x00, 0x16 };
    fake_push_event(0x05, p, 4);
    bh_poll();
    CHECK_EQ(ev.disconnected, 1);
    CHECK_EQ(ev.role, BH_ROLE_PERIPHERAL);
    CHECK_EQ(ev.reason, 0x16);
    CHECK_EQ(bh_disconnect(0x40), -BH_ENOTCONN);

    // Controller refuses: the link stays, the error is reported.
    push_conn_complete(0, 0x0041, 0, PEER, 24);
    bh_poll();
    fake.fail_opcode = BH_HCI_OP_DISCONNECT;
    fake.fail_status = 0x0c;
    CHECK_EQ(bh_disconnect(0x41), -BH_EIO);
    CHECK(bh_conn_find(0x41) != NULL);
    CHECK(!bh_conn_find(0x41)->disconnecting);
    fake.fail_opcode = 0;
}

static void test_connection_updates(void) {
    setup();
    push_conn_complete(0, 0x0040, 0, PEER, 24);
    bh_poll();
    // status, handle, interval, latency, timeout
    uint8_t upd[9] = { 0x00, 0x40, 0x00, 0x50, 0x00, 0x02, 0x00, 0x2c, 0x01 };
    le_meta(0x03, upd, 8); // truncated
    le_meta(0x03, upd, 9);
    bh_poll();
    CHECK_EQ(ev.updates, 1);
    CHECK_EQ(ev.handle, 0x40);
    CHECK_EQ(ev.upd[0], 0x50);
    CHECK_EQ(ev.upd[1], 2);
    CHECK_EQ(ev.upd[2], 300);
    CHECK_EQ(ev.status, 0);
    CHECK_EQ(bh_conn_find(0x40)->interval, 0x50);
    upd[0] = 0x3b;
    upd[3] = 0x99;
    le_meta(0x03, upd, 9);
    upd[0] = 0;
    upd[1] = 0x77; // unknown handle
    le_meta(0x03, upd, 9);
    bh_poll();
    CHECK_EQ(ev.updates, 2);
    CHECK_EQ(ev.status, 0x3b);
    CHECK_EQ(bh_conn_find(0x40)->interval, 0x50);

    // Remote Connection Parameter Request: replied from the event's dispatch
    // (an asynchronous command), accepted or refused.
    // handle, min, max, latency, timeout
    uint8_t req[10] = { 0x40, 0x00, 0x18, 0x00, 0x28, 0x00, 0x00, 0x00, 0x90, 0x01 };
    le_meta(0x06, req, 9); // truncated: ignored
    le_meta(0x06, req, 10);
    bh_poll();
    const fake_cmd_t *c = last(BH_HCI_OP_LE_REMOTE_PARAM_REPLY);
    CHECK_EQ(c->len, 14);
    CHECK_EQ(u16(c->params), 0x40);
    CHECK_EQ(u16(c->params + 2), 0x18);
    CHECK_EQ(u16(c->params + 4), 0x28);
    CHECK_EQ(u16(c->params + 8), 400);
    CHECK_EQ(fake_find_cmd(BH_HCI_OP_LE_REMOTE_PARAM_NEG_REPLY), -1);
    // Unacceptable (timeout too short for the interval): negative reply.
    req[8] = 0x0a;
    req[9] = 0x00;
    le_meta(0x06, req, 10);
    bh_poll();
    c = last(BH_HCI_OP_LE_REMOTE_PARAM_NEG_REPLY);
    CHECK_EQ(c->len, 3);
    CHECK_EQ(u16(c->params), 0x40);
    CHECK_EQ(c->params[2], 0x3b);
}

// ---- L2CAP Connection Parameter Update Request (LE signalling) ----

static void push_l2cap(uint16_t handle, uint8_t cid, const uint8_t *pdu, size_t n) {
    uint8_t pkt[5 + 4 + 32] = { 0x02, (uint8_t)handle, (uint8_t)(0x20 | (handle >> 8)),
                                (uint8_t)(4 + n), 0, (uint8_t)n, 0, cid, 0x00 };
    memcpy(pkt + 9, pdu, n);
    fake_push(pkt, 9 + n);
}

static void push_sig(uint16_t handle, const uint8_t *cmd, size_t n) {
    push_l2cap(handle, 0x05, cmd, n);
}

static void test_l2cap_param_update(void) {
    setup();
    push_conn_complete(0, 0x0040, 0, PEER, 24); // we are central
    push_conn_complete(0, 0x0041, 1, PEER, 24); // we are peripheral
    bh_poll();
    // Request: id 7, interval 16..32, latency 0, timeout 200.
    const uint8_t req[12] = { 0x12, 0x07, 0x08, 0x00, 0x10, 0x00, 0x20, 0x00, 0x00, 0x00,
                              0xc8, 0x00 };
    fake.n_cmds = 0;
    push_sig(0x40, req, sizeof(req));
    bh_poll();
    // Response on CID 5: code 0x13, same identifier, result 0 (accepted).
    CHECK_EQ(fake.n_acl_out, 1);
    CHECK_EQ(fake.acl_out[0].len, 4 + 4 + 2);
    CHECK(memcmp(fake.acl_out[0].data, "\x06\x00\x05\x00\x13\x07\x02\x00\x00\x00", 10) == 0);
    const fake_cmd_t *c = last(BH_HCI_OP_LE_CONN_UPDATE);
    CHECK_EQ(c->len, 14);
    CHECK_EQ(u16(c->params), 0x40);
    CHECK_EQ(u16(c->params + 2), 0x10);
    CHECK_EQ(u16(c->params + 4), 0x20);
    CHECK_EQ(u16(c->params + 6), 0);
    CHECK_EQ(u16(c->params + 8), 200);
    // The update completes: the event reports the new parameters.
    uint8_t upd[9] = { 0x00, 0x40, 0x00, 0x20, 0x00, 0x00, 0x00, 0xc8, 0x00 };
    le_meta(0x03, upd, 9);
    bh_poll();
    CHECK_EQ(ev.updates, 1);
    CHECK_EQ(ev.upd[0], 0x20);
    CHECK_EQ(bh_conn_find(0x40)->timeout, 200);

    // Unacceptable parameters: rejected, no update; as peripheral, or
    // malformed: not ours to accept (Command Reject by the ACL layer).
    uint8_t bad[12];
    memcpy(bad, req, 12);
    bad[10] = 0x05; // timeout 50 ms < 2 * 40 ms
    fake.n_cmds = 0;
    push_sig(0x40, bad, sizeof(bad));
    push_sig(0x41, req, sizeof(req));
    bh_poll();
    CHECK_EQ(fake_find_cmd(BH_HCI_OP_LE_CONN_UPDATE), -1);
    CHECK_EQ(fake.n_acl_out, 3);
    CHECK_EQ(fake.acl_out[1].data[4], 0x13); // rejected
    CHECK_EQ(fake.acl_out[1].data[8], 0x01);
    CHECK_EQ(fake.acl_out[2].data[4], 0x01); // Command Reject
    CHECK_EQ(ev.updates, 1);
}

// ---- SMP: no pairing yet, so a peer asking for it is told at once ----

static void test_smp_feature_exchange(void) {
    setup();
    bh_smp_set_config(BH_IO_NO_INPUT_OUTPUT, false, false, false);
    push_conn_complete(0, 0x0040, 0, PEER, 24); // we are central
    push_conn_complete(0, 0x0041, 1, PEER, 24); // we are peripheral
    bh_poll();
    static const uint8_t pairing_req[7] = { 0x01, 0x03, 0x00, 0x01, 0x10, 0x07, 0x07 };
    static const uint8_t security_req[2] = { 0x0b, 0x01 };
    // Peripheral: a Pairing Response (no bonding: no keys; SC offered);
    // central: a Security Request starts pairing with a Pairing Request.
    static const uint8_t rsp[11] = { 0x07, 0x00, 0x06, 0x00, 0x02, 0x03, 0x00, 0x08, 0x10, 0x00, 0x00 };
    static const uint8_t req[11] = { 0x07, 0x00, 0x06, 0x00, 0x01, 0x03, 0x00, 0x08, 0x10, 0x00, 0x00 };
    fake.n_acl_out = 0;
    push_l2cap(0x41, 0x06, pairing_req, sizeof(pairing_req));
    push_l2cap(0x40, 0x06, security_req, sizeof(security_req));
    bh_poll();
    CHECK_EQ(fake.n_acl_out, 2);
    CHECK_EQ(fake.acl_out[0].len, 4 + 7);
    CHECK(memcmp(fake.acl_out[0].data, rsp, 11) == 0);
    CHECK_EQ(fake.acl_out[1].len, 4 + 7);
    CHECK(memcmp(fake.acl_out[1].data, req, 11) == 0);
    // An empty PDU is ignored; a PDU out of order fails the pairing with
    // Unspecified Reason; a malformed one with Invalid Parameters.
    static const uint8_t failed_unspec[6] = { 0x02, 0x00, 0x06, 0x00, 0x05, 0x08 };
    static const uint8_t failed_inval[6] = { 0x02, 0x00, 0x06, 0x00, 0x05, 0x0a };
    push_l2cap(0x41, 0x06, pairing_req, 0);
    bh_poll();
    CHECK_EQ(fake.n_acl_out, 2);
    push_l2cap(0x41, 0x06, security_req, sizeof(security_req));
    push_l2cap(0x40, 0x06, pairing_req, 3);
    bh_poll();
    CHECK_EQ(fake.n_acl_out, 4);
    CHECK(memcmp(fake.acl_out[2].data, failed_unspec, 6) == 0);
    CHECK(memcmp(fake.acl_out[3].data, failed_inval, 6) == 0);
}

int main(void) {
    static const unit_test_t tests[] = {
        T(test_adv_commands_and_types),
        T(test_scan_reports),
        T(test_scan_duration_and_restart),
        T(test_connect_params_and_timeout),
        T(test_connect_success_and_races),
        T(test_deactivate_ends_attempt),
        T(test_disconnect),
        T(test_connection_updates),
        T(test_l2cap_param_update),
        T(test_smp_feature_exchange),
    };
    return run_tests("gap", tests, sizeof(tests) / sizeof(tests[0]));
}
