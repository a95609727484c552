// Unit tests of the host core after its rework (one event loop, receive
// queue, asynchronous commands, table-driven dispatch, framing recovery,
// link security, LE Rand) against the fake port. Each test reproduces a
// defect of the old core and asserts the fixed behaviour; its "Old core:"
// line says what the old core did. One line per test; exits non-zero on
// the first failure.
#include "bh_err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blehost.h"
#include "bh_conn.h"
#include "bh_gap.h"
#include "bh_hci.h"
#include "bh_sec.h"
#include "check.h"
#include "fake_port.h"

// ---- events the host reports upward, in arrival order ----

#define LOG_MAX (1024)

typedef struct {
    char kind;    // 'C' connected, 'D' disconnected, 'R' scan result, 'U' update
    uint16_t val; // handle, or the result's sequence number
} log_entry_t;

static struct {
    int connected;
    int disconnected;
    int results;
    int scan_done;
    int failed;
    int updates;
    int enc_updates;
    uint16_t handle;
    uint8_t reason;
    uint8_t status;
    size_t cmds_at_disconnect; // commands sent when the last link was reported down
    bool reply_before_update;  // a parameter request reply was sent before the update
    struct {
        uint16_t handle;
        bool encrypted;
        bool authenticated;
        bool bonded;
        uint8_t key_size;
    } enc;
    log_entry_t log[LOG_MAX];
    size_t n_log;
} ev;

static void log_event(char kind, uint16_t val) {
    CHECK(ev.n_log < LOG_MAX);
    ev.log[ev.n_log].kind = kind;
    ev.log[ev.n_log].val = val;
    ev.n_log++;
}

void bh_evt_connected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer) {
    (void)role;
    (void)peer;
    ev.connected++;
    ev.handle = conn_handle;
    log_event('C', conn_handle);
}

void bh_evt_disconnected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer, uint8_t reason) {
    (void)role;
    (void)peer;
    ev.disconnected++;
    ev.handle = conn_handle;
    ev.reason = reason;
    ev.cmds_at_disconnect = fake.n_cmds;
    log_event('D', conn_handle);
}

void bh_evt_scan_result(const bh_addr_t *addr, uint8_t adv_type, int8_t rssi,
    const uint8_t *data, size_t len) {
    (void)addr;
    (void)adv_type;
    (void)rssi;
    CHECK_EQ(len, 2);
    ev.results++;
    log_event('R', (uint16_t)(data[0] | (data[1] << 8)));
}

void bh_evt_scan_done(void) {
    ev.scan_done++;
}

void bh_evt_connect_failed(const bh_addr_t *peer, uint8_t status) {
    (void)peer;
    ev.failed++;
    ev.status = status;
}

void bh_evt_conn_update(uint16_t conn_handle, uint16_t interval, uint16_t latency,
    uint16_t timeout, uint8_t status) {
    (void)interval;
    (void)latency;
    (void)timeout;
    (void)status;
    ev.updates++;
    ev.reply_before_update = fake_find_cmd(BH_HCI_OP_LE_REMOTE_PARAM_REPLY) >= 0;
    log_event('U', conn_handle);
}

void bh_evt_encryption_update(uint16_t conn_handle, bool encrypted, bool authenticated,
    bool bonded, uint8_t key_size, uint16_t status) {
    ev.enc_updates++;
    ev.enc.handle = conn_handle;
    ev.enc.encrypted = encrypted;
    ev.enc.authenticated = authenticated;
    ev.enc.bonded = bonded;
    ev.enc.key_size = key_size;
    (void)status;
}

// ---- helpers ----

static const uint8_t PUBLIC_ADDR[6] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06 };

// Fresh fake and events, host inactive, default address configuration.
static void reset_all(void) {
    fake_reset();
    bh_deactivate(10);
    bh_addr_config_reset();
    fake_reset();
    memset(&ev, 0, sizeof(ev));
}

// Active host with a public address; the command log starts empty.
static void setup(void) {
    reset_all();
    memcpy(fake.public_addr, PUBLIC_ADDR, 6);
    CHECK_EQ(bh_activate(), 0);
    fake.n_cmds = 0;
}

static void le_meta(uint8_t sub, const uint8_t *p, size_t n) {
    uint8_t buf[256];
    buf[0] = sub;
    memcpy(buf + 1, p, n);
    fake_push_event(0x3e, buf, n + 1);
}

// LE Connection Complete (success) for handle in a role (0 central, 1
// peripheral).
static void push_conn_complete(uint16_t handle, uint8_t role) {
    uint8_t p[18] = { 0x00, (uint8_t)handle, (uint8_t)(handle >> 8), role, 0x00,
                      0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x18, 0x00, 0x00, 0x00, 0x90, 0x01, 0x00 };
    le_meta(0x01, p, sizeof(p));
}

static void push_disconnect(uint16_t handle, uint8_t reason) {
    uint8_t p[4] = { 0x00, (uint8_t)handle, (uint8_t)(handle >> 8), reason };
    fake_push_event(0x05, p, 4);
}

// One legacy advertising report whose two data bytes are seq.
static void push_adv_report(uint16_t seq) {
    uint8_t p[13] = { 1, 0x00, 0x00, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 2,
                      (uint8_t)seq, (uint8_t)(seq >> 8), (uint8_t)-50 };
    le_meta(0x02, p, sizeof(p));
}

static size_t count_cmds(uint16_t opcode) {
    size_t n = 0;
    for (size_t i = 0; i < fake.n_cmds; i++) {
        n += fake.cmds[i].opcode == opcode;
    }
    return n;
}

// Index of the first command with opcode at or after from, or -1.
static int find_from(uint16_t opcode, int from) {
    for (int i = from < 0 ? 0 : from; i < (int)fake.n_cmds; i++) {
        if (fake.cmds[i].opcode == opcode) {
            return i;
        }
    }
    return -1;
}

static uint16_t u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static bh_hci_stats_t hci_stats(void) {
    bh_hci_stats_t st;
    bh_hci_get_stats(&st);
    return st;
}

static bh_host_stats_t host_stats(void) {
    bh_host_stats_t st;
    bh_host_get_stats(&st);
    return st;
}

static bh_sec_stats_t sec_stats(void) {
    bh_sec_stats_t st;
    bh_sec_get_stats(&st);
    return st;
}

// bh_poll() until the fake's input is read and nothing waits for dispatch.
static void poll_all(void) {
    for (int i = 0; i < 10000 && (fake.in_pos < fake.in_len || bh_poll_pending()); i++) {
        bh_poll();
    }
    CHECK_EQ(fake.in_pos, fake.in_len);
    CHECK(!bh_poll_pending());
}

// When each command reached the controller.
static uint32_t sent_at[FAKE_LOG_MAX];

static void answer_and_timestamp(const fake_cmd_t *cmd) {
    sent_at[fake.n_cmds - 1] = fake.now_ms;
    fake_answer(cmd);
}

// ---- a. Defect 1: a command wait dispatches nothing ----

static void connect_during_adv_enable(const fake_cmd_t *cmd) {
    if (cmd->opcode == BH_HCI_OP_LE_SET_ADV_ENABLE) {
        push_conn_complete(0x0040, 0); // arrives before the command's answer
    }
    fake_answer(cmd);
}

static void test_event_during_wait_waits_for_poll(void) {
    // Old core: bh_hci_cmd_sync() ran bh_hci_process(), so the connection was dispatched (and reported) inside bh_adv_start()'s wait.
    setup();
    fake.on_command = connect_during_adv_enable;
    CHECK_EQ(bh_adv_start(64, true), 0);
    fake.on_command = NULL;
    CHECK_EQ(fake.cmds[fake.n_cmds - 1].opcode, BH_HCI_OP_LE_SET_ADV_ENABLE);
    // Read (the wait had to read past it), not dispatched: no event, no
    // link in the host's table yet.
    CHECK_EQ(fake.in_pos, fake.in_len);
    CHECK_EQ(ev.connected, 0);
    CHECK(bh_conn_find(0x0040) == NULL);
    CHECK(bh_poll_pending());
    // Later events queue behind it; the poll dispatches all in order.
    push_disconnect(0x0040, 0x13);
    push_conn_complete(0x0041, 0);
    bh_poll();
    CHECK_EQ(ev.n_log, 3);
    CHECK(ev.log[0].kind == 'C' && ev.log[0].val == 0x0040);
    CHECK(ev.log[1].kind == 'D' && ev.log[1].val == 0x0040);
    CHECK(ev.log[2].kind == 'C' && ev.log[2].val == 0x0041);
    CHECK(bh_conn_find(0x0040) == NULL);
    CHECK(bh_conn_find(0x0041) != NULL);
    CHECK(!bh_poll_pending());
}

// ---- b. Defect 2: link security ----

static void push_enc_change(uint8_t status, uint16_t handle, uint8_t enabled) {
    uint8_t p[4] = { status, (uint8_t)handle, (uint8_t)(handle >> 8), enabled };
    fake_push_event(0x08, p, 4);
}

static void check_enc(uint16_t handle, bool encrypted, uint8_t key_size) {
    CHECK_EQ(ev.enc.handle, handle);
    CHECK_EQ(ev.enc.encrypted, encrypted);
    CHECK_EQ(ev.enc.authenticated, false);
    CHECK_EQ(ev.enc.bonded, false);
    CHECK_EQ(ev.enc.key_size, key_size);
}

static void test_security_events(void) {
    // Old core: the LE LTK Request went unanswered (the central's encryption hung until the link-layer timeout) and Encryption Change / Key Refresh were ignored: no encryption update.
    setup();
    push_conn_complete(0x0040, 1); // we are peripheral
    bh_poll();
    CHECK_EQ(ev.connected, 1);
    fake.n_cmds = 0;
    // LTK Request: handle, Rand (8), EDIV (2). Refused at once.
    const uint8_t ltk_req[12] = { 0x40, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x34, 0x12 };
    le_meta(0x05, ltk_req, sizeof(ltk_req));
    bh_poll();
    CHECK_EQ(count_cmds(0x201b), 1); // LE Long Term Key Request Negative Reply
    int i = fake_find_cmd(0x201b);
    CHECK_EQ(fake.cmds[i].len, 2);
    CHECK_EQ(u16(fake.cmds[i].params), 0x0040);
    CHECK_EQ(ev.enc_updates, 0);
    CHECK_EQ(sec_stats().ltk_refused, 1);
    // For a link we do not have: not ours to answer.
    uint8_t other[12];
    memcpy(other, ltk_req, 12);
    other[0] = 0x77;
    le_meta(0x05, other, sizeof(other));
    bh_poll();
    CHECK_EQ(count_cmds(BH_HCI_OP_LE_LTK_NEG_REPLY), 1);

    // Encryption Change v1: the key size is read first, then reported once.
    fake.silent_opcode = BH_HCI_OP_READ_ENC_KEY_SIZE;
    push_enc_change(0x00, 0x0040, 0x01);
    bh_poll();
    CHECK_EQ(count_cmds(0x1408), 1); // Read Encryption Key Size
    i = fake_find_cmd(0x1408);
    CHECK_EQ(fake.cmds[i].len, 2);
    CHECK_EQ(u16(fake.cmds[i].params), 0x0040);
    CHECK_EQ(ev.enc_updates, 0);
    fake_push_cmd_complete(1, BH_HCI_OP_READ_ENC_KEY_SIZE, (const uint8_t *)"\x00\x40\x00\x07", 4);
    bh_poll();
    CHECK_EQ(ev.enc_updates, 1);
    check_enc(0x0040, true, 7);
    bh_poll();
    CHECK_EQ(ev.enc_updates, 1);
    fake.silent_opcode = 0;
    // The same with the controller answering at once: one update.
    fake.enc_key_size = 16;
    push_enc_change(0x00, 0x0040, 0x01);
    bh_poll();
    bh_poll();
    CHECK_EQ(count_cmds(BH_HCI_OP_READ_ENC_KEY_SIZE), 2);
    CHECK_EQ(ev.enc_updates, 2);
    check_enc(0x0040, true, 16);

    // Encryption Change v2 carries the key size: no read.
    const uint8_t v2[5] = { 0x00, 0x40, 0x00, 0x01, 0x0a };
    fake_push_event(0x59, v2, sizeof(v2));
    bh_poll();
    CHECK_EQ(ev.enc_updates, 3);
    check_enc(0x0040, true, 10);
    CHECK_EQ(count_cmds(BH_HCI_OP_READ_ENC_KEY_SIZE), 2);

    // Key Refresh Complete: reported again (key size read again).
    fake.enc_key_size = 12;
    fake_push_event(0x30, (const uint8_t *)"\x00\x40\x00", 3);
    bh_poll();
    CHECK_EQ(ev.enc_updates, 4);
    check_enc(0x0040, true, 12);
    CHECK_EQ(count_cmds(BH_HCI_OP_READ_ENC_KEY_SIZE), 3);

    // Failures (PIN or Key Missing): no update, counted.
    push_enc_change(0x06, 0x0040, 0x00);
    fake_push_event(0x30, (const uint8_t *)"\x06\x40\x00", 3);
    bh_poll();
    CHECK_EQ(ev.enc_updates, 4);
    CHECK_EQ(sec_stats().enc_failed, 2);
    check_enc(0x0040, true, 12);

    // Encryption off: reported, key size forgotten.
    push_enc_change(0x00, 0x0040, 0x00);
    bh_poll();
    CHECK_EQ(ev.enc_updates, 5);
    check_enc(0x0040, false, 0);
    CHECK_EQ(count_cmds(BH_HCI_OP_READ_ENC_KEY_SIZE), 3);
}

// ---- c. Defect 4: replies made from event handlers ----

static void test_refusal_waits_for_credit(void) {
    // Old core: bh_hci_cmd_post() refused (-EBUSY) without a free credit and the Disconnect was dropped: the extra link stayed up at the controller.
    setup();
    for (uint16_t h = 1; h <= BH_MAX_CONNECTIONS; h++) {
        push_conn_complete(h, 0);
    }
    bh_poll();
    CHECK_EQ(ev.connected, BH_MAX_CONNECTIONS);
    // The controller takes its last credit back (a stray Command Complete),
    // then one more link comes up.
    fake_push_cmd_complete(0, 0x0000, NULL, 0);
    push_conn_complete(0x0100, 0);
    bh_poll();
    CHECK_EQ(ev.connected, BH_MAX_CONNECTIONS);
    CHECK_EQ(hci_stats().cmd_credits, 0);
    CHECK_EQ(fake_find_cmd(BH_HCI_OP_DISCONNECT), -1);
    bh_poll();
    CHECK_EQ(fake_find_cmd(BH_HCI_OP_DISCONNECT), -1);
    // A credit comes back: the refusal goes out.
    fake_push_cmd_complete(1, 0x0000, NULL, 0);
    bh_poll();
    CHECK_EQ(count_cmds(BH_HCI_OP_DISCONNECT), 1);
    int i = fake_find_cmd(BH_HCI_OP_DISCONNECT);
    CHECK_EQ(fake.cmds[i].len, 3);
    CHECK_EQ(u16(fake.cmds[i].params), 0x0100);
    CHECK_EQ(fake.cmds[i].params[2], 0x14);
    bh_gap_stats_t gs;
    bh_gap_get_stats(&gs);
    CHECK_EQ(gs.refusals_lost, 0);
}

static void test_param_request_replied_from_dispatch(void) {
    // Old core: the request only set a flag (param_req) that bh_gap_poll() replied to after every event of the poll had been dispatched.
    setup();
    push_conn_complete(0x0040, 1);
    bh_poll();
    fake.n_cmds = 0;
    // handle, interval min, max, latency, timeout; then the controller's
    // next event (the update it completes).
    const uint8_t req[10] = { 0x40, 0x00, 0x18, 0x00, 0x28, 0x00, 0x00, 0x00, 0x90, 0x01 };
    const uint8_t upd[9] = { 0x00, 0x40, 0x00, 0x28, 0x00, 0x00, 0x00, 0x90, 0x01 };
    le_meta(0x06, req, sizeof(req));
    le_meta(0x03, upd, sizeof(upd));
    bh_poll();
    CHECK_EQ(ev.updates, 1);
    CHECK(ev.reply_before_update);
    int i = fake_find_cmd(BH_HCI_OP_LE_REMOTE_PARAM_REPLY);
    CHECK(i >= 0);
    CHECK_EQ(fake.cmds[i].len, 14);
    CHECK_EQ(u16(fake.cmds[i].params), 0x0040);
    CHECK_EQ(u16(fake.cmds[i].params + 2), 0x18);
    CHECK_EQ(u16(fake.cmds[i].params + 4), 0x28);
    CHECK_EQ(u16(fake.cmds[i].params + 8), 400);
    // Without a credit the negative reply waits in the command queue (not
    // for a poll flag) and goes out when a credit returns.
    uint8_t bad[10];
    memcpy(bad, req, 10);
    bad[8] = 0x0a; // timeout 100 ms: too short for the interval
    bad[9] = 0x00;
    fake_push_cmd_complete(0, 0x0000, NULL, 0);
    le_meta(0x06, bad, sizeof(bad));
    bh_poll();
    CHECK_EQ(fake_find_cmd(BH_HCI_OP_LE_REMOTE_PARAM_NEG_REPLY), -1);
    fake_push_cmd_complete(1, 0x0000, NULL, 0);
    bh_poll();
    i = fake_find_cmd(BH_HCI_OP_LE_REMOTE_PARAM_NEG_REPLY);
    CHECK(i >= 0);
    CHECK_EQ(fake.cmds[i].len, 3);
    CHECK_EQ(u16(fake.cmds[i].params), 0x0040);
    CHECK_EQ(fake.cmds[i].params[2], 0x3b);
    bh_gap_stats_t gs;
    bh_gap_get_stats(&gs);
    CHECK_EQ(gs.refusals_lost, 0);
}

// ---- d. Defect 8: no ACL buffers ----

static void test_activate_without_acl_buffers(void) {
    // Old core: activation succeeded with zero ACL buffers, and every L2CAP PDU then waited forever for a buffer.
    const struct {
        uint16_t le_len;
        uint8_t le_num;
        uint16_t len;
        uint16_t num;
        int result;
    } cases[] = {
        { 0, 0, 0, 0, -BH_EIO },      // neither LE nor shared buffers
        { 27, 0, 251, 0, -BH_EIO },   // LE length but no count; shared none
        { 0, 0, 251, 0, -BH_EIO },    // shared length but no count
        { 0, 0, 0, 5, -BH_EIO },      // shared count but no length
        { 0, 0, 251, 5, 0 },          // shared buffers: fine
        { 27, 3, 0, 0, 0 },           // LE buffers: fine
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        reset_all();
        fake.le_acl_len = cases[k].le_len;
        fake.le_acl_num = cases[k].le_num;
        fake.acl_len = cases[k].len;
        fake.acl_num = cases[k].num;
        CHECK_EQ(bh_activate(), cases[k].result);
        CHECK_EQ(bh_is_active(), cases[k].result == 0);
        CHECK_EQ(fake_find_cmd(BH_HCI_OP_READ_BUFFER_SIZE) >= 0, cases[k].le_num == 0);
        if (cases[k].result != 0) {
            // Inactive: nothing runs, the API says so.
            CHECK_EQ(bh_adv_start(64, true), -BH_ENODEV);
            push_conn_complete(0x0040, 1);
            bh_poll();
            CHECK_EQ(ev.connected, 0);
        }
    }
}

// ---- e. Defect 9: framing loss ----

// A link (central, so advertising stays on), advertising with a payload,
// a scan and a connection attempt: what a recovery must end or restore.
// Returns the recoveries so far (the count survives activations).
static uint32_t busy_host(void) {
    setup();
    push_conn_complete(0x0040, 0);
    bh_poll();
    CHECK_EQ(ev.connected, 1);
    CHECK_EQ(bh_adv_set_data((const uint8_t *)"\x02\x01\x06", 3), 0);
    CHECK_EQ(bh_adv_start(0x0100, true), 0);
    CHECK_EQ(bh_scan_start(0, 16, 16, false), 0);
    const bh_addr_t peer = { .type = 0, .val = { 1, 2, 3, 4, 5, 6 } };
    CHECK_EQ(bh_connect(&peer, 0, 24, 40), 0);
    CHECK(bh_adv_is_enabled());
    fake.n_cmds = 0;
    return host_stats().recoveries;
}

// After one recovery: the controller reset, everything that ran reported
// ended, activated again, advertising restarted as it was.
static void check_recovered(uint32_t recoveries_before) {
    CHECK_EQ(host_stats().recoveries, recoveries_before + 1);
    CHECK(!host_stats().adv_lost);
    CHECK(bh_is_active());
    CHECK_EQ(fake.cmds[0].opcode, BH_HCI_OP_RESET);
    // The link is reported down with Connection Terminated By Local Host,
    // after the controller was reset and before it is set up again.
    CHECK_EQ(ev.disconnected, 1);
    CHECK_EQ(ev.handle, 0x0040);
    CHECK_EQ(ev.reason, 0x16);
    CHECK_EQ(ev.cmds_at_disconnect, 1);
    CHECK(bh_conn_find(0x0040) == NULL);
    CHECK_EQ(bh_conn_count(), 0);
    CHECK_EQ(ev.scan_done, 1);
    CHECK(!bh_scan_is_active());
    CHECK_EQ(ev.failed, 1);
    CHECK_EQ(ev.status, 0x16);
    CHECK(!bh_connect_is_pending());
    // The activation sequence again, in order.
    static const uint16_t sequence[] = {
        BH_HCI_OP_RESET, BH_HCI_OP_READ_LOCAL_VERSION, BH_HCI_OP_READ_BD_ADDR,
        BH_HCI_OP_LE_READ_BUFFER_SIZE, BH_HCI_OP_LE_READ_LOCAL_FEATURES,
        BH_HCI_OP_SET_EVENT_MASK, BH_HCI_OP_LE_SET_EVENT_MASK,
        BH_HCI_OP_LE_SET_ADV_PARAMS, BH_HCI_OP_LE_SET_ADV_DATA, BH_HCI_OP_LE_SET_ADV_ENABLE,
    };
    int at = 1;
    for (size_t k = 0; k < sizeof(sequence) / sizeof(sequence[0]); k++) {
        int i = find_from(sequence[k], at);
        CHECK(i >= at);
        at = i + 1;
    }
    // Advertising as it was: the same interval and payload, enabled.
    int p = find_from(BH_HCI_OP_LE_SET_ADV_PARAMS, 0);
    CHECK_EQ(u16(fake.cmds[p].params), 0x0100);
    int d = find_from(BH_HCI_OP_LE_SET_ADV_DATA, 0);
    CHECK_EQ(fake.cmds[d].params[0], 3);
    CHECK_MEM(fake.cmds[d].params + 1, "\x02\x01\x06", 3);
    const fake_cmd_t *last = &fake.cmds[fake.n_cmds - 1];
    CHECK_EQ(last->opcode, BH_HCI_OP_LE_SET_ADV_ENABLE);
    CHECK_EQ(last->params[0], 1);
    CHECK(bh_adv_is_enabled());
    // Afterwards commands and events work normally.
    CHECK_EQ(bh_hci_cmd_sync(BH_HCI_OP_READ_BD_ADDR, NULL, 0, NULL, 0, 0, NULL, 2000), 0);
    CHECK_EQ(bh_adv_stop(), 0);
    CHECK(!bh_adv_is_enabled());
    push_conn_complete(0x0041, 1);
    bh_poll();
    CHECK(bh_conn_find(0x0041) != NULL);
    CHECK_EQ(host_stats().recoveries, recoveries_before + 1);
}

static void test_noise_byte_recovers(void) {
    // Old core: the H4 parser dropped the noise byte and carried on, so packets lost around it went unnoticed and the host stayed out of step with the controller.
    const uint8_t noise[] = { 0x00, 0xff };
    for (size_t k = 0; k < sizeof(noise); k++) {
        uint32_t before = busy_host();
        fake_push(&noise[k], 1);
        bh_poll();
        check_recovered(before);
    }
}

static void test_stalled_packet_recovers(void) {
    // Old core: the parser waited forever for the 16 missing bytes, then took the next packets' bytes as them.
    uint32_t before = busy_host();
    // An LE event declaring 20 parameter bytes; only 4 come.
    fake_push((const uint8_t *)"\x04\x3e\x14\x01\x02\x03\x04", 7);
    bh_poll();
    CHECK_EQ(fake.in_pos, fake.in_len);
    fake.now_ms += BH_H4_STALL_MS - 1;
    bh_poll();
    CHECK_EQ(host_stats().recoveries, before);
    CHECK_EQ(fake.n_cmds, 0);
    CHECK(bh_conn_find(0x0040) != NULL);
    fake.now_ms += 1;
    bh_poll();
    check_recovered(before);
}

// ---- f. Defect 10: command credits ----

static void late_answer(const fake_cmd_t *cmd) {
    sent_at[fake.n_cmds - 1] = fake.now_ms;
    // The answer comes 1.5 s after the command.
    fake_at(fake.now_ms + 1500);
    fake_answer(cmd);
    fake_at_end();
}

static void test_credit_wait_not_counted_as_timeout(void) {
    // Old core: the wait for a credit counted against the command's own 2 s timeout, so it failed with -ETIMEDOUT before the credit came.
    reset_all();
    bh_hci_init(NULL);
    fake.on_command = answer_and_timestamp;
    // A stray Command Complete (an opcode nobody sent) taking every credit;
    // a NOP Command Complete gives one back 3 s later.
    fake_push_cmd_complete(0, 0x0c77, (const uint8_t *)"\x00", 1);
    uint32_t t0 = fake.now_ms;
    uint8_t nop[6] = { 0x04, 0x0e, 0x03, 0x01, 0x00, 0x00 };
    fake_push_at(t0 + 3000, nop, sizeof(nop));
    uint8_t addr[6];
    CHECK_EQ(bh_hci_cmd_sync(BH_HCI_OP_READ_BD_ADDR, NULL, 0, addr, 6, 6, NULL, 2000), 0);
    CHECK_EQ(fake.n_cmds, 1);
    CHECK_EQ(sent_at[0] - t0, 3000);
    CHECK_EQ(hci_stats().stray_completions, 1);
    CHECK_EQ(hci_stats().credit_timeouts, 0);

    // The timeout runs from when the command is sent: a NOP taking the
    // credit, 3 s without one, then an answer 1.5 s after sending (4.5 s
    // after the call).
    fake_push_cmd_complete(0, 0x0000, NULL, 0);
    t0 = fake.now_ms;
    fake_push_at(t0 + 3000, nop, sizeof(nop));
    fake.on_command = late_answer;
    CHECK_EQ(bh_hci_cmd_sync(BH_HCI_OP_READ_LOCAL_VERSION, NULL, 0, NULL, 0, 0, NULL, 2000), 0);
    CHECK_EQ(fake.n_cmds, 2);
    CHECK_EQ(sent_at[1] - t0, 3000);
    CHECK_EQ(fake.now_ms - t0, 4500);
    CHECK_EQ(hci_stats().credit_timeouts, 0);

    // Credits never come back and the controller has lost track: after
    // BH_HCI_CREDIT_WAIT_MS the host assumes a credit and sends; the
    // command then times out on its own 2 s.
    fake.on_command = answer_and_timestamp;
    fake_push_cmd_complete(0, 0x0000, NULL, 0);
    fake.silent = true;
    t0 = fake.now_ms;
    CHECK_EQ(bh_hci_cmd_sync(BH_HCI_OP_READ_BD_ADDR, NULL, 0, NULL, 0, 0, NULL, 2000), -BH_ETIMEDOUT);
    CHECK_EQ(fake.n_cmds, 3);
    CHECK(sent_at[2] - t0 >= BH_HCI_CREDIT_WAIT_MS && sent_at[2] - t0 < BH_HCI_CREDIT_WAIT_MS + 20);
    CHECK(fake.now_ms - t0 >= BH_HCI_CREDIT_WAIT_MS + 2000);
    CHECK(fake.now_ms - t0 < BH_HCI_CREDIT_WAIT_MS + 2000 + 20);
    CHECK_EQ(hci_stats().credit_timeouts, 1);
    // The next command goes out at once and works.
    fake.silent = false;
    t0 = fake.now_ms;
    CHECK_EQ(bh_hci_cmd_sync(BH_HCI_OP_READ_BD_ADDR, NULL, 0, addr, 6, 6, NULL, 2000), 0);
    CHECK_EQ(fake.n_cmds, 4);
    CHECK_EQ(sent_at[3], t0);
}

// ---- g. receive queue backpressure ----

static void test_rx_backpressure_keeps_everything(void) {
    // Old core: no receive queue; every packet read was dispatched there and then, also inside command waits (protocol code nested in the wait).
    setup();
    CHECK_EQ(bh_scan_start(0, 16, 16, false), 0);
    fake.max_read = 5;
    // 500 reports (far more than the queue holds), with links coming and
    // going in between, and completions and credits that are consumed
    // where they are read.
    static log_entry_t expect[LOG_MAX];
    size_t n_expect = 0;
    for (uint16_t seq = 0; seq < 500; seq++) {
        push_adv_report(seq);
        expect[n_expect++] = (log_entry_t) { 'R', seq };
        if (seq % 100 == 50) {
            uint16_t h = (uint16_t)(0x10 + seq / 100);
            push_conn_complete(h, 0);
            fake_push_cmd_complete(1, 0x0000, NULL, 0);
            push_disconnect(h, 0x13);
            expect[n_expect++] = (log_entry_t) { 'C', h };
            expect[n_expect++] = (log_entry_t) { 'D', h };
        }
    }
    CHECK(fake.in_len - fake.in_pos > 2 * BH_HCI_RX_QUEUE);
    uint32_t stalls = 0;
    int polls = 0;
    while ((fake.in_pos < fake.in_len || bh_poll_pending()) && polls < 1000) {
        bh_poll();
        polls++;
        bh_hci_stats_t st = hci_stats();
        stalls = st.rx_stalls;
        CHECK(st.rx_queue_peak <= BH_HCI_RX_QUEUE);
    }
    CHECK(polls > 1);
    CHECK(stalls > 0);
    CHECK_EQ(ev.results, 500);
    CHECK_EQ(ev.n_log, n_expect);
    for (size_t k = 0; k < n_expect; k++) {
        CHECK(ev.log[k].kind == expect[k].kind && ev.log[k].val == expect[k].val);
    }
    CHECK_EQ(bh_conn_count(), 0);
}

static void test_full_queue_wait_completes(void) {
    // Old core: no receive queue; the wait dispatched every report itself (and every other event with it).
    setup();
    CHECK_EQ(bh_scan_start(0, 16, 16, false), 0);
    for (uint16_t seq = 0; seq < 400; seq++) {
        push_adv_report(seq);
    }
    // The command's answer comes after all 400 reports: the wait must hand
    // reports on from the head of the full queue to reach it.
    uint8_t addr[6];
    CHECK_EQ(bh_hci_cmd_sync(BH_HCI_OP_READ_BD_ADDR, NULL, 0, addr, 6, 6, NULL, 2000), 0);
    CHECK_MEM(addr, PUBLIC_ADDR, 6);
    CHECK_EQ(fake.in_pos, fake.in_len);
    CHECK(ev.results > 0 && ev.results < 400);
    CHECK(bh_poll_pending());
    poll_all();
    CHECK_EQ(ev.results, 400);
    for (uint16_t k = 0; k < 400; k++) {
        CHECK(ev.log[k].kind == 'R' && ev.log[k].val == k);
    }
}

// ---- h. random bytes from the controller ----

static void test_random_from_le_rand(void) {
    // Old core: bh_port_random() returned nothing (void), so a port without a cryptographic source had no fallback.
    // A public address: only the IRK (16 bytes, two LE_Rand).
    reset_all();
    memcpy(fake.public_addr, PUBLIC_ADDR, 6);
    fake.random_result = -BH_ENOSYS;
    CHECK_EQ(bh_activate(), 0);
    CHECK_EQ(fake.le_rand_cmds, 2);
    CHECK_EQ(count_cmds(BH_HCI_OP_LE_RAND), 2);
    // A non-resolvable private address: six more bytes, one LE_Rand.
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_NRPA), 0);
    CHECK_EQ(fake.le_rand_cmds, 3);
    bh_addr_t a;
    CHECK_EQ(bh_get_addr(&a), 0);
    static const uint8_t third[6] = { 16, 17, 18, 19, 20, 21 & 0x3f };
    CHECK_MEM(a.val, third, 6);

    // No public address: IRK and a static random address (three LE_Rand),
    // the address made of the third answer's bytes.
    reset_all();
    fake.random_result = -BH_ENOSYS;
    CHECK_EQ(bh_activate(), 0);
    CHECK_EQ(fake.le_rand_cmds, 3);
    CHECK_EQ(bh_get_addr(&a), 0);
    CHECK_EQ(a.type, BH_ADDR_TYPE_RANDOM);
    static const uint8_t stat[6] = { 16, 17, 18, 19, 20, 21 | 0xc0 };
    CHECK_MEM(a.val, stat, 6);
    int i = fake_find_cmd(BH_HCI_OP_LE_SET_RANDOM_ADDRESS);
    CHECK(i > fake_find_cmd(BH_HCI_OP_LE_RAND));
    CHECK_MEM(fake.cmds[i].params, stat, 6);

    // The controller refuses LE_Rand: activation fails.
    reset_all();
    fake.random_result = -BH_ENOSYS;
    fake.fail_opcode = BH_HCI_OP_LE_RAND;
    fake.fail_status = 0x01;
    CHECK_EQ(bh_activate(), -BH_EIO);
    CHECK(!bh_is_active());

    // The port's source fails: activation fails, no LE_Rand tried.
    reset_all();
    memcpy(fake.public_addr, PUBLIC_ADDR, 6);
    fake.random_result = -BH_EIO;
    CHECK_EQ(bh_activate(), -BH_EIO);
    CHECK(!bh_is_active());
    CHECK_EQ(fake.le_rand_cmds, 0);
    CHECK_EQ(fake_find_cmd(BH_HCI_OP_LE_RAND), -1);
}

// ---- i. asynchronous commands ----

#define DONE_MAX (16)

static struct {
    int n;
    int which[DONE_MAX];
    int status[DONE_MAX];
    size_t ret_len[DONE_MAX];
    uint8_t ret[DONE_MAX][8];
} done;

static int ctx_ids[DONE_MAX];

static void record_done(void *ctx, int status, const uint8_t *ret, size_t ret_len) {
    CHECK(done.n < DONE_MAX);
    int k = done.n++;
    done.which[k] = *(const int *)ctx;
    done.status[k] = status;
    done.ret_len[k] = ret_len;
    CHECK(ret_len <= sizeof(done.ret[0]));
    if (ret_len > 0) {
        memcpy(done.ret[k], ret, ret_len);
    }
}

static void test_async_queue(void) {
    // Old core: no asynchronous commands; bh_hci_cmd_post() sent only when a credit was free, with no queue, no completion and no timeout.
    reset_all();
    memcpy(fake.public_addr, PUBLIC_ADDR, 6);
    memset(&done, 0, sizeof(done));
    bh_hci_init(NULL);
    for (int k = 0; k < DONE_MAX; k++) {
        ctx_ids[k] = k;
    }
    // A controller that holds its answers: the first command takes the
    // credit, the queue takes BH_HCI_CMD_QUEUE_LEN more, then it is full.
    fake.silent = true;
    int k = 0;
    CHECK_EQ(bh_hci_cmd_async(BH_HCI_OP_READ_BD_ADDR, NULL, 0, record_done, &ctx_ids[k++]), 0);
    for (int q = 0; q < BH_HCI_CMD_QUEUE_LEN; q++, k++) {
        uint16_t op = k % 2 ? BH_HCI_OP_READ_LOCAL_VERSION : BH_HCI_OP_READ_BD_ADDR;
        CHECK_EQ(bh_hci_cmd_async(op, NULL, 0, record_done, &ctx_ids[k]), 0);
    }
    CHECK_EQ(bh_hci_cmd_async(BH_HCI_OP_READ_BD_ADDR, NULL, 0, record_done, &ctx_ids[k]), -BH_ENOMEM);
    static uint8_t big[BH_HCI_ASYNC_PARAMS_MAX + 1];
    CHECK_EQ(bh_hci_cmd_async(BH_HCI_OP_RESET, big, sizeof(big), NULL, NULL), -BH_EMSGSIZE);
    CHECK_EQ(fake.n_cmds, 1);
    CHECK_EQ(done.n, 0);
    // The controller answers (the version read with an error): each
    // completion frees the credit for the next, in order; each callback
    // gets its status and return parameters.
    fake.silent = false;
    fake.fail_opcode = BH_HCI_OP_READ_LOCAL_VERSION;
    fake.fail_status = 0x0c;
    fake_push_cmd_complete(1, BH_HCI_OP_READ_BD_ADDR, (const uint8_t *)"\x00\x01\x02\x03\x04\x05\x06", 7);
    for (int r = 0; r < 50 && done.n < k; r++) {
        bh_hci_process();
    }
    CHECK_EQ(done.n, k);
    CHECK_EQ(fake.n_cmds, (size_t)k);
    for (int q = 0; q < k; q++) {
        uint16_t op = q % 2 ? BH_HCI_OP_READ_LOCAL_VERSION : BH_HCI_OP_READ_BD_ADDR;
        CHECK_EQ(fake.cmds[q].opcode, op);
        CHECK_EQ(done.which[q], q);
        if (op == BH_HCI_OP_READ_BD_ADDR) {
            CHECK_EQ(done.status[q], 0);
            CHECK_EQ(done.ret_len[q], 6);
            CHECK_MEM(done.ret[q], PUBLIC_ADDR, 6);
        } else {
            CHECK_EQ(done.status[q], 0x0c);
            CHECK_EQ(done.ret_len[q], 0);
        }
    }
    fake.fail_opcode = 0;
    // Room again.
    CHECK_EQ(bh_hci_cmd_async(BH_HCI_OP_READ_BD_ADDR, NULL, 0, NULL, NULL), 0);
    bh_hci_process();
    CHECK_EQ(hci_stats().pending_opcode, 0);
}

static void test_async_timeout(void) {
    // Old core: a posted command that never completed was forgotten; nothing expired it.
    setup();
    memset(&done, 0, sizeof(done));
    const uint16_t vendor = BH_HCI_OP(0x3f, 0x0001);
    fake.silent_opcode = vendor;
    uint32_t t0 = fake.now_ms;
    CHECK_EQ(bh_hci_cmd_async(vendor, (const uint8_t *)"\x01", 1, record_done, &ctx_ids[3]), 0);
    CHECK_EQ(fake.cmds[fake.n_cmds - 1].opcode, vendor);
    CHECK_EQ(hci_stats().pending_opcode, vendor);
    fake.now_ms = t0 + BH_HCI_CMD_TIMEOUT_MS - 1;
    bh_poll();
    CHECK_EQ(done.n, 0);
    fake.now_ms = t0 + BH_HCI_CMD_TIMEOUT_MS;
    bh_poll();
    CHECK_EQ(done.n, 1);
    CHECK_EQ(done.which[0], 3);
    CHECK_EQ(done.status[0], -BH_ETIMEDOUT);
    CHECK_EQ(done.ret_len[0], 0);
    CHECK_EQ(hci_stats().async_timeouts, 1);
    CHECK_EQ(hci_stats().pending_opcode, 0);
    bh_poll();
    CHECK_EQ(done.n, 1);
    // Commands afterwards work, synchronous and asynchronous.
    CHECK_EQ(bh_hci_cmd_sync(BH_HCI_OP_READ_BD_ADDR, NULL, 0, NULL, 0, 0, NULL, 2000), 0);
    CHECK_EQ(bh_hci_cmd_async(BH_HCI_OP_READ_BD_ADDR, NULL, 0, record_done, &ctx_ids[4]), 0);
    bh_poll();
    CHECK_EQ(done.n, 2);
    CHECK_EQ(done.which[1], 4);
    CHECK_EQ(done.status[1], 0);
    // A late answer to the expired command is a stray, nothing more.
    fake_push_cmd_complete(1, vendor, (const uint8_t *)"\x00", 1);
    bh_poll();
    CHECK_EQ(done.n, 2);
    CHECK_EQ(hci_stats().stray_completions, 1);
}

// ---- j. events shorter than their table's least length ----

static int n_evt_30;
static int n_le_42;
static size_t last_len;

static void on_evt_30(const uint8_t *p, size_t len) {
    CHECK(len >= 3);
    CHECK_EQ(p[0], 0xa0);
    n_evt_30++;
    last_len = len;
}

static void on_le_42(const uint8_t *p, size_t len) {
    CHECK(len >= 4);
    CHECK_EQ(p[0], 0xb0);
    n_le_42++;
    last_len = len;
}

static void test_short_events_never_reach_handlers(void) {
    // Old core: events reached their handlers whatever their length; each handler had to check its own (not all did), and nothing was counted.
    reset_all();
    static const bh_hci_evt_row_t rows[] = { { 0x30, 3, on_evt_30 } };
    static const bh_hci_evt_row_t le_rows[] = { { 0x42, 4, on_le_42 } };
    static const bh_hci_handlers_t handlers = {
        .events = rows, .n_events = 1, .le_events = le_rows, .n_le_events = 1,
    };
    bh_hci_init(&handlers);
    const uint8_t p[6] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5 };
    const uint8_t lp[6] = { 0x42, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4 };
    for (size_t n = 0; n <= 4; n++) {
        fake_push_event(0x30, p, n);
        fake_push_event(0x3e, lp, 1 + n);
    }
    for (int r = 0; r < 4; r++) {
        bh_hci_process();
    }
    // Lengths 3 and 4 of event 0x30, length 4 of subevent 0x42, reached
    // their handlers; the others (3 + 4) were counted.
    CHECK_EQ(n_evt_30, 2);
    CHECK_EQ(n_le_42, 1);
    CHECK_EQ(last_len, 4);
    CHECK_EQ(hci_stats().malformed_events, 7);
    CHECK_EQ(hci_stats().unknown_events, 0);

    // The host's own tables: a short LTK Request, Connection Complete and
    // Encryption Change do nothing but count.
    setup();
    push_conn_complete(0x0040, 1);
    bh_poll();
    uint32_t before = hci_stats().malformed_events;
    const uint8_t ltk_req[12] = { 0x40, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x34, 0x12 };
    le_meta(0x05, ltk_req, BH_SEC_LTK_REQUEST_MIN_LEN - 1);
    uint8_t cc[18] = { 0x00, 0x41, 0x00, 0x01 };
    le_meta(0x01, cc, BH_GAP_CONN_COMPLETE_MIN_LEN - 1);
    fake_push_event(0x08, (const uint8_t *)"\x00\x40\x00", BH_SEC_ENC_CHANGE_MIN_LEN - 1);
    bh_poll();
    CHECK_EQ(hci_stats().malformed_events, before + 3);
    CHECK_EQ(fake_find_cmd(BH_HCI_OP_LE_LTK_NEG_REPLY), -1);
    CHECK(bh_conn_find(0x0041) == NULL);
    CHECK_EQ(ev.connected, 1);
    CHECK_EQ(ev.enc_updates, 0);
    CHECK_EQ(fake_find_cmd(BH_HCI_OP_READ_ENC_KEY_SIZE), -1);
}

// ---- i. controller-to-host flow control ----

#define OP_SET_C2H_FLOW (0x0c31)
#define OP_HOST_BUFFER_SIZE (0x0c33)
#define OP_HOST_NUM_COMPLETED (0x0c35)

// One ACL packet from the controller (a whole L2CAP PDU on an unused CID).
static void push_acl(uint16_t handle) {
    uint8_t p[1 + 4 + 6] = { 0x02, (uint8_t)handle, (uint8_t)(0x20 | (handle >> 8)), 6, 0,
                             2, 0, 0x7f, 0x00, 0xaa, 0xbb };
    fake_push(p, sizeof(p));
}

// Packets given back for `handle` in every Host Number Of Completed Packets sent.
static unsigned completed_for(uint16_t handle) {
    unsigned total = 0;
    for (size_t i = 0; i < fake.n_cmds; i++) {
        const fake_cmd_t *c = &fake.cmds[i];
        if (c->opcode != OP_HOST_NUM_COMPLETED) {
            continue;
        }
        CHECK(c->len >= 1 && c->len == 1 + 4 * c->params[0]);
        for (size_t k = 0; k < c->params[0]; k++) {
            const uint8_t *e = c->params + 1 + 4 * k;
            if ((e[0] | (e[1] << 8)) == handle) {
                total += (unsigned)(e[2] | (e[3] << 8));
            }
        }
    }
    return total;
}

static void test_host_flow_control(void) {
    // Before: the host never turned flow control on; a flood filled its queue.
    reset_all();
    memcpy(fake.public_addr, PUBLIC_ADDR, 6);
    CHECK_EQ(bh_activate(), 0);
    int size_at = fake_find_cmd(OP_HOST_BUFFER_SIZE);
    int flow_at = fake_find_cmd(OP_SET_C2H_FLOW);
    CHECK(size_at >= 0 && flow_at > size_at);
    const fake_cmd_t *size = &fake.cmds[size_at];
    CHECK_EQ(size->len, 7);
    CHECK_EQ(size->params[0] | (size->params[1] << 8), BH_ACL_RX_MAX_DATA);
    CHECK_EQ(size->params[3] | (size->params[4] << 8), BH_HCI_HOST_ACL_PACKETS);
    // ACL records leave room for two of the largest events (records are
    // contiguous: 2 x 260 - 1 free bytes keep 260 in one piece).
    CHECK(BH_HCI_HOST_ACL_PACKETS >= 4);
    CHECK(BH_HCI_HOST_ACL_PACKETS * (3 + 4 + BH_ACL_RX_MAX_DATA) + 2 * (3 + 2 + 255) <= BH_HCI_RX_QUEUE);
    CHECK_EQ(fake.cmds[flow_at].len, 1);
    CHECK_EQ(fake.cmds[flow_at].params[0], 0x01);
    fake.n_cmds = 0;

    push_conn_complete(0x0040, 0);
    poll_all();
    for (int i = 0; i < 5; i++) {
        push_acl(0x0040);
    }
    poll_all();
    // Every packet taken off the queue is given back, none twice, one
    // report each.
    CHECK_EQ(completed_for(0x0040), 5);
    CHECK_EQ(count_cmds(OP_HOST_NUM_COMPLETED), 5);
    // Not before it is taken: a packet that waits in the queue (a command
    // wait dispatches no ACL data) keeps its buffer.
    push_acl(0x0040);
    uint8_t addr[6];
    CHECK_EQ(bh_hci_cmd_sync(BH_HCI_OP_READ_BD_ADDR, NULL, 0, addr, 6, 6, NULL, 2000), 0);
    CHECK_EQ(completed_for(0x0040), 5);
    poll_all();
    CHECK_EQ(completed_for(0x0040), 6);

    // A controller that refuses Host Buffer Size is used without flow control.
    reset_all();
    memcpy(fake.public_addr, PUBLIC_ADDR, 6);
    fake.fail_opcode = OP_HOST_BUFFER_SIZE;
    fake.fail_status = 0x01;
    CHECK_EQ(bh_activate(), 0);
    CHECK_EQ(fake_find_cmd(OP_SET_C2H_FLOW), -1);
    push_conn_complete(0x0041, 0);
    push_acl(0x0041);
    poll_all();
    CHECK_EQ(completed_for(0x0041), 0);
}

int main(void) {
    static const unit_test_t tests[] = {
        T(test_event_during_wait_waits_for_poll),
        T(test_security_events),
        T(test_refusal_waits_for_credit),
        T(test_param_request_replied_from_dispatch),
        T(test_activate_without_acl_buffers),
        T(test_noise_byte_recovers),
        T(test_stalled_packet_recovers),
        T(test_credit_wait_not_counted_as_timeout),
        T(test_rx_backpressure_keeps_everything),
        T(test_full_queue_wait_completes),
        T(test_random_from_le_rand),
        T(test_async_queue),
        T(test_async_timeout),
        T(test_short_events_never_reach_handlers),
        T(test_host_flow_control),
    };
    return run_tests("core", tests, sizeof(tests) / sizeof(tests[0]));
}
