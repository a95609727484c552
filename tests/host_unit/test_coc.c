// Unit tests of the L2CAP LE credit-based channels (bh_coc.c) against the
// fake port: signalling both ways, credits, SDU reassembly and
// segmentation, refusals, timeouts and a peer that breaks the rules.
#include "bh_err.h"
#include <stdlib.h>
#include <string.h>

#include "blehost.h"
#include "bh_coc.h"
#include "check.h"
#include "fake_port.h"

#define CONN (0x0040)
#define PSM (0x0080)
static const uint8_t PEER[6] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66 };

// ---- events ----

static struct {
    int accepts;
    int connects;
    int disconnects;
    int recvs;
    int send_ready;
    int recv_refusals; // how many RECV events to refuse (ring full)
    uint16_t verdict; // what the accept handler answers
    uint16_t cid;
    uint16_t psm;
    uint16_t our_mtu;
    uint16_t peer_mtu;
    uint16_t status;
} ev;

static void record_channel(uint16_t conn_handle, uint16_t cid, uint16_t psm, uint16_t our_mtu,
    uint16_t peer_mtu) {
    CHECK_EQ(conn_handle, CONN);
    ev.cid = cid;
    ev.psm = psm;
    ev.our_mtu = our_mtu;
    ev.peer_mtu = peer_mtu;
}

uint16_t bh_evt_l2cap_accept(uint16_t conn_handle, uint16_t cid, uint16_t psm,
    uint16_t our_mtu, uint16_t peer_mtu) {
    ev.accepts++;
    record_channel(conn_handle, cid, psm, our_mtu, peer_mtu);
    return ev.verdict;
}

void bh_evt_l2cap_connect(uint16_t conn_handle, uint16_t cid, uint16_t psm,
    uint16_t our_mtu, uint16_t peer_mtu) {
    ev.connects++;
    record_channel(conn_handle, cid, psm, our_mtu, peer_mtu);
}

void bh_evt_l2cap_disconnect(uint16_t conn_handle, uint16_t cid, uint16_t psm, uint16_t status) {
    CHECK_EQ(conn_handle, CONN);
    ev.disconnects++;
    ev.cid = cid;
    ev.psm = psm;
    ev.status = status;
}

bool bh_evt_l2cap_recv(uint16_t conn_handle, uint16_t cid) {
    CHECK_EQ(conn_handle, CONN);
    CHECK_EQ(cid, ev.cid);
    ev.recvs++;
    if (ev.recv_refusals > 0) {
        ev.recv_refusals--; // the embedding's ring is full
        return false;
    }
    return true;
}

void bh_evt_l2cap_send_ready(uint16_t conn_handle, uint16_t cid, uint16_t status) {
    CHECK_EQ(conn_handle, CONN);
    CHECK_EQ(cid, ev.cid);
    CHECK_EQ(status, 0);
    ev.send_ready++;
}

// ---- channel storage: malloc'd, so ASan sees any use after the host gave it back ----

#define MEM_MAX (8)
static uint8_t *held[MEM_MAX]; // storage the host holds
static int frees;              // storage given back
static int disconnects_at_free; // ev.disconnects when the last was given back

void bh_evt_l2cap_storage_free(uint8_t *mem) {
    for (size_t i = 0; i < MEM_MAX; i++) {
        if (held[i] == mem && mem != NULL) {
            held[i] = NULL;
            free(mem);
            frees++;
            disconnects_at_free = ev.disconnects;
            return;
        }
    }
    CHECK(!"storage given back that the host did not hold");
}

static int n_held(void) {
    int n = 0;
    for (size_t i = 0; i < MEM_MAX; i++) {
        n += held[i] != NULL;
    }
    return n;
}

// Hand fresh storage of cap bytes (0: what mtu needs) to listen or connect;
// kept as held when the call succeeds, freed here when it fails.
static int with_storage(int (*call)(uint16_t, uint16_t, uint16_t, uint8_t *, size_t),
    uint16_t conn_handle, uint16_t psm, uint16_t mtu, size_t cap, uint8_t **out) {
    if (cap == 0) {
        cap = BH_COC_STORAGE_SIZE(mtu < BH_COC_MTU_MIN ? BH_COC_MTU_MIN : mtu);
    }
    uint8_t *mem = malloc(cap);
    CHECK(mem != NULL);
    int err = call(conn_handle, psm, mtu, mem, cap);
    if (err != 0) {
        free(mem);
        mem = NULL;
    } else {
        size_t i = 0;
        while (held[i] != NULL) {
            i++;
            CHECK(i < MEM_MAX);
        }
        held[i] = mem;
    }
    if (out != NULL) {
        *out = mem;
    }
    return err;
}

static int listen_call(uint16_t conn_handle, uint16_t psm, uint16_t mtu, uint8_t *mem, size_t cap) {
    (void)conn_handle;
    return bh_coc_listen(psm, mtu, mem, cap);
}

static int coc_listen(uint16_t psm, uint16_t mtu) {
    return with_storage(listen_call, 0, psm, mtu, 0, NULL);
}

static int coc_connect(uint16_t conn_handle, uint16_t psm, uint16_t mtu) {
    return with_storage(bh_coc_connect, conn_handle, psm, mtu, 0, NULL);
}

// ---- helpers ----

static uint16_t u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

// Active host with one link (we are peripheral), big controller buffers so
// a K-frame goes out as one ACL packet.
static void setup(void) {
    fake_reset();
    bh_deactivate(10);
    // Deactivation gave back every storage the host held.
    CHECK_EQ(n_held(), 0);
    frees = 0;
    fake_reset();
    fake.le_acl_len = 251;
    fake.le_acl_num = 60;
    memset(&ev, 0, sizeof(ev));
    CHECK_EQ(bh_activate(), 0);
    uint8_t p[19] = { 0x01, 0x00, (uint8_t)CONN, 0x00, 0x01, 0x00 };
    memcpy(p + 6, PEER, 6);
    p[12] = 24;
    p[16] = 0x90;
    p[17] = 0x01;
    fake_push_event(0x3e, p, sizeof(p));
    bh_poll();
    fake.n_acl_out = 0;
}

// One L2CAP PDU from the peer on cid.
static void push_pdu(uint16_t cid, const uint8_t *data, size_t n) {
    uint8_t pkt[5 + 4 + 300] = { 0x02, (uint8_t)CONN, 0x20, 0, 0 };
    put16(pkt + 3, (uint16_t)(4 + n));
    put16(pkt + 5, (uint16_t)n);
    put16(pkt + 7, cid);
    memcpy(pkt + 9, data, n);
    fake_push(pkt, 9 + n);
    bh_poll();
}

// The same for a PDU of any length, in ACL fragments of up to 251 bytes.
static void push_long_pdu(uint16_t cid, const uint8_t *data, size_t n) {
    static uint8_t pdu[4 + 1100];
    CHECK(n <= sizeof(pdu) - 4);
    put16(pdu, (uint16_t)n);
    put16(pdu + 2, cid);
    memcpy(pdu + 4, data, n);
    for (size_t off = 0; off < 4 + n; off += 251) {
        size_t len = 4 + n - off < 251 ? 4 + n - off : 251;
        uint8_t pkt[5 + 251] = { 0x02, (uint8_t)CONN, off == 0 ? 0x20 : 0x10 };
        put16(pkt + 3, (uint16_t)len);
        memcpy(pkt + 5, pdu + off, len);
        fake_push(pkt, 5 + len);
    }
    bh_poll();
}

static void push_sig(uint8_t code, uint8_t id, const uint8_t *p, size_t n) {
    uint8_t cmd[64] = { code, id };
    put16(cmd + 2, (uint16_t)n);
    memcpy(cmd + 4, p, n);
    push_pdu(0x0005, cmd, 4 + n);
}

static void push_conn_request(uint8_t id, uint16_t psm, uint16_t scid, uint16_t mtu, uint16_t mps,
    uint16_t credits) {
    uint8_t p[10];
    put16(p, psm);
    put16(p + 2, scid);
    put16(p + 4, mtu);
    put16(p + 6, mps);
    put16(p + 8, credits);
    push_sig(0x14, id, p, sizeof(p));
}

// The i-th ACL packet the host sent, as (cid, payload, length).
static const uint8_t *sent(size_t i, uint16_t *cid, size_t *len) {
    CHECK(i < fake.n_acl_out);
    const fake_acl_t *a = &fake.acl_out[i];
    CHECK_EQ(u16(a->data), a->len - 4); // one complete PDU per packet here
    *cid = u16(a->data + 2);
    *len = a->len - 4u;
    return a->data + 4;
}

static const uint8_t *last_sig(size_t *len) {
    uint16_t cid;
    const uint8_t *p = sent(fake.n_acl_out - 1, &cid, len);
    CHECK_EQ(cid, 0x0005);
    return p;
}

// Listen, accept a request from peer CID 0x0070 (mtu 100, mps 40, 3
// credits); returns our CID.
static uint16_t open_incoming(uint16_t our_mtu) {
    CHECK_EQ(coc_listen(PSM, our_mtu), 0);
    push_conn_request(1, PSM, 0x0070, 100, 40, 3);
    CHECK_EQ(ev.connects, 1);
    return ev.cid;
}

// ---- tests ----

static void test_incoming_accepted(void) {
    setup();
    CHECK_EQ(coc_listen(0, 100), -BH_EINVAL);
    CHECK_EQ(coc_listen(0x100, 100), -BH_EINVAL);
    CHECK_EQ(coc_listen(PSM, 22), -BH_EINVAL);
    CHECK_EQ(coc_listen(PSM, BH_COC_MTU_MAX + 1), -BH_EINVAL);
    uint16_t cid = open_incoming(450);
    CHECK_EQ(ev.accepts, 1);
    CHECK_EQ(ev.psm, PSM);
    CHECK_EQ(ev.our_mtu, 450);
    CHECK_EQ(ev.peer_mtu, 100);
    CHECK(cid >= 0x40 && cid <= 0x7f);
    size_t n;
    const uint8_t *r = last_sig(&n);
    CHECK_EQ(n, 14);
    CHECK_EQ(r[0], 0x15);
    CHECK_EQ(r[1], 1);
    CHECK_EQ(u16(r + 4), cid);
    CHECK_EQ(u16(r + 6), 450);
    CHECK_EQ(u16(r + 8), 452); // MPS: one SDU of our MTU per K-frame
    CHECK_EQ(u16(r + 10), 1);
    CHECK_EQ(u16(r + 12), 0);
    // One channel at a time: a second request is refused, no resources.
    push_conn_request(2, PSM, 0x0071, 100, 40, 3);
    r = last_sig(&n);
    CHECK_EQ(u16(r + 12), 0x0004);
    CHECK_EQ(ev.accepts, 1);
    CHECK_EQ(coc_connect(CONN, PSM, 100), -BH_EALREADY);
    CHECK_EQ(coc_listen(PSM, 100), -BH_EALREADY);
}

static void test_incoming_refused(void) {
    setup();
    size_t n;
    const uint8_t *r;
    // Nobody listens.
    push_conn_request(1, PSM, 0x0070, 100, 40, 3);
    r = last_sig(&n);
    CHECK_EQ(u16(r + 12), 0x0002);
    CHECK_EQ(u16(r + 4), 0);
    CHECK_EQ(coc_listen(PSM, 100), 0);
    push_conn_request(2, PSM + 1, 0x0070, 100, 40, 3);
    CHECK_EQ(u16(last_sig(&n) + 12), 0x0002);
    push_conn_request(3, PSM, 0x0020, 100, 40, 3);
    CHECK_EQ(u16(last_sig(&n) + 12), 0x0009);
    push_conn_request(4, PSM, 0x0070, 22, 40, 3);
    CHECK_EQ(u16(last_sig(&n) + 12), 0x000b);
    push_conn_request(5, PSM, 0x0070, 100, 22, 3);
    CHECK_EQ(u16(last_sig(&n) + 12), 0x000b);
    CHECK_EQ(ev.accepts, 0);
    // The application refuses: its code, or 0x0004 for one out of range.
    ev.verdict = 0x0005;
    push_conn_request(6, PSM, 0x0070, 100, 40, 3);
    CHECK_EQ(u16(last_sig(&n) + 12), 0x0005);
    ev.verdict = 0x99;
    push_conn_request(7, PSM, 0x0070, 100, 40, 3);
    CHECK_EQ(u16(last_sig(&n) + 12), 0x0004);
    CHECK_EQ(ev.accepts, 2);
    CHECK_EQ(ev.connects, 0);
    CHECK_EQ(ev.disconnects, 0);
    // Malformed: not understood (Command Reject from the ACL layer).
    uint8_t short_req[4] = { 0x80, 0, 0x70, 0 };
    push_sig(0x14, 8, short_req, sizeof(short_req));
    r = last_sig(&n);
    CHECK_EQ(r[0], 0x01);
}

static void test_receive_and_credits(void) {
    setup();
    uint16_t cid = open_incoming(60); // MPS 62, 1 credit
    uint8_t buf[64];
    CHECK_EQ(bh_coc_recv(CONN, cid, NULL, 0), 0);
    CHECK_EQ(bh_coc_recv(CONN, cid + 1, NULL, 0), -BH_EINVAL);
    // An SDU of 5 bytes in one K-frame.
    uint8_t k[64] = { 5, 0, 'h', 'e', 'l', 'l', 'o' };
    fake.n_acl_out = 0;
    push_pdu(cid, k, 7);
    CHECK_EQ(ev.recvs, 1);
    CHECK_EQ(bh_coc_recv(CONN, cid, NULL, 0), 5);
    // No credit left for the peer until it is read.
    CHECK_EQ(fake.n_acl_out, 0);
    CHECK_EQ(bh_coc_recv(CONN, cid, buf, 3), 3);
    CHECK(memcmp(buf, "hel", 3) == 0);
    CHECK_EQ(fake.n_acl_out, 0);
    CHECK_EQ(bh_coc_recv(CONN, cid, buf, sizeof(buf)), 2);
    CHECK(memcmp(buf, "lo", 2) == 0);
    // Read: one credit granted back (Flow Control Credit Ind on our CID).
    size_t n;
    const uint8_t *r = last_sig(&n);
    CHECK_EQ(n, 8);
    CHECK_EQ(r[0], 0x16);
    CHECK_EQ(u16(r + 4), cid);
    CHECK_EQ(u16(r + 6), 1);
    CHECK_EQ(bh_coc_recv(CONN, cid, buf, sizeof(buf)), 0);
    // An SDU of 60 bytes (our MTU) in one full K-frame of MPS 62.
    k[0] = 60;
    for (int i = 0; i < 60; i++) {
        k[2 + i] = (uint8_t)i;
    }
    push_pdu(cid, k, 62);
    CHECK_EQ(ev.recvs, 2);
    CHECK_EQ(bh_coc_recv(CONN, cid, buf, sizeof(buf)), 60);
    CHECK(memcmp(buf, k + 2, 60) == 0);
    // A RECV the embedding could not queue is raised again from the poll
    // until it goes, and not once everything has been read.
    ev.recv_refusals = 2;
    push_pdu(cid, k, 62); // refused once here, once at the first poll
    CHECK_EQ(ev.recvs, 4);
    bh_poll();
    CHECK_EQ(ev.recvs, 5);
    bh_poll();
    CHECK_EQ(ev.recvs, 5);
    ev.recv_refusals = 1;
    CHECK_EQ(bh_coc_recv(CONN, cid, buf, sizeof(buf)), 60);
    push_pdu(cid, k, 62);
    CHECK_EQ(ev.recvs, 7);
    CHECK_EQ(bh_coc_recv(CONN, cid, buf, sizeof(buf)), 60);
    bh_poll();
    CHECK_EQ(ev.recvs, 7);
    CHECK_EQ(ev.disconnects, 0);
}

static void test_reassembly_across_frames(void) {
    setup();
    // MTU 1000 with the receive limit of 517: MPS 517, 2 credits.
    uint16_t cid = open_incoming(1000);
    size_t n;
    const uint8_t *r = last_sig(&n);
    CHECK_EQ(u16(r + 8), 517);
    CHECK_EQ(u16(r + 10), 2);
    // A 10-byte SDU split 4 + 6 over two frames: readable only when whole.
    uint8_t a[6] = { 10, 0, 'a', 'b', 'c', 'd' };
    uint8_t b[6] = { 'e', 'f', 'g', 'h', 'i', 'j' };
    push_pdu(cid, a, sizeof(a));
    CHECK_EQ(ev.recvs, 0);
    CHECK_EQ(bh_coc_recv(CONN, cid, NULL, 0), 0);
    push_pdu(cid, b, sizeof(b));
    CHECK_EQ(ev.recvs, 1);
    uint8_t buf[16];
    fake.n_acl_out = 0;
    CHECK_EQ(bh_coc_recv(CONN, cid, buf, sizeof(buf)), 10);
    CHECK(memcmp(buf, "abcdefghij", 10) == 0);
    r = last_sig(&n);
    CHECK_EQ(u16(r + 6), 2);
    // A small SDU, then the start of another; reading the first tops the
    // peer up although the second is incomplete (else it could never end).
    uint8_t c[3] = { 1, 0, 'x' };
    uint8_t d[4] = { 5, 0, '1', '2' };
    push_pdu(cid, c, sizeof(c));
    push_pdu(cid, d, sizeof(d));
    CHECK_EQ(ev.recvs, 2);
    fake.n_acl_out = 0;
    CHECK_EQ(bh_coc_recv(CONN, cid, buf, sizeof(buf)), 1);
    CHECK_EQ(buf[0], 'x');
    r = last_sig(&n);
    CHECK_EQ(u16(r + 6), 2);
    uint8_t e[3] = { '3', '4', '5' };
    push_pdu(cid, e, sizeof(e));
    CHECK_EQ(ev.recvs, 3);
    CHECK_EQ(bh_coc_recv(CONN, cid, buf, sizeof(buf)), 5);
    CHECK(memcmp(buf, "12345", 5) == 0);
    CHECK_EQ(ev.disconnects, 0);
}

// A peer that breaks the rules has the channel disconnected.
static void check_violation_disconnects(uint16_t cid) {
    size_t n;
    const uint8_t *r = last_sig(&n);
    CHECK_EQ(r[0], 0x06);
    CHECK_EQ(u16(r + 4), 0x0070);
    CHECK_EQ(u16(r + 6), cid);
    uint8_t rsp[4];
    put16(rsp, 0x0070);
    put16(rsp + 2, cid);
    push_sig(0x07, r[1], rsp, sizeof(rsp));
    CHECK_EQ(ev.disconnects, 1);
    CHECK_EQ(ev.status, 0);
}

static void test_peer_violations(void) {
    uint8_t k[300] = { 5, 0, 'h', 'e', 'l', 'l', 'o' };
    // A K-frame without a credit.
    setup();
    uint16_t cid = open_incoming(60);
    push_pdu(cid, k, 7);
    push_pdu(cid, k, 7);
    check_violation_disconnects(cid);
    CHECK_EQ(bh_coc_recv(CONN, cid, NULL, 0), -BH_EINVAL);
    // An SDU longer than our MTU.
    setup();
    cid = open_incoming(60);
    k[0] = 61;
    push_pdu(cid, k, 7);
    check_violation_disconnects(cid);
    // A K-frame longer than our MPS.
    setup();
    cid = open_incoming(60);
    k[0] = 60;
    push_pdu(cid, k, 63);
    check_violation_disconnects(cid);
    // More bytes than the SDU announced.
    setup();
    cid = open_incoming(1000);
    k[0] = 3;
    push_pdu(cid, k, 7);
    check_violation_disconnects(cid);
    // Credits over 65535.
    setup();
    cid = open_incoming(60);
    uint8_t cr[4];
    put16(cr, 0x0070);
    put16(cr + 2, 0xffff);
    push_sig(0x16, 9, cr, sizeof(cr));
    check_violation_disconnects(cid);
}

static void test_send_segments_and_stalls(void) {
    setup();
    uint16_t cid = open_incoming(100); // the peer: mtu 100, mps 40, 3 credits
    static uint8_t data[200];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 3);
    }
    CHECK_EQ(bh_coc_send(CONN, cid, data, 101), -BH_EMSGSIZE); // over the peer's MTU
    CHECK_EQ(bh_coc_send(CONN, cid + 1, data, 1), -BH_EINVAL);
    fake.n_acl_out = 0;
    // 100 bytes: frames of 38 (+2 length), 40, 22: all three credits.
    CHECK_EQ(bh_coc_send(CONN, cid, data, 100), 1);
    CHECK_EQ(fake.n_acl_out, 3);
    uint16_t c;
    size_t n;
    const uint8_t *f = sent(0, &c, &n);
    CHECK_EQ(c, 0x0070);
    CHECK_EQ(n, 40);
    CHECK_EQ(u16(f), 100);
    CHECK(memcmp(f + 2, data, 38) == 0);
    f = sent(1, &c, &n);
    CHECK_EQ(n, 40);
    CHECK(memcmp(f, data + 38, 40) == 0);
    f = sent(2, &c, &n);
    CHECK_EQ(n, 22);
    CHECK(memcmp(f, data + 78, 22) == 0);
    // No credits: the next SDU waits, send says stalled, then -BH_EAGAIN.
    CHECK_EQ(bh_coc_send(CONN, cid, data, 50), 0);
    CHECK_EQ(fake.n_acl_out, 3);
    CHECK_EQ(bh_coc_send(CONN, cid, data, 1), -BH_EAGAIN);
    uint8_t cr[4];
    put16(cr, 0x0070);
    put16(cr + 2, 1);
    push_sig(0x16, 9, cr, sizeof(cr));
    CHECK_EQ(fake.n_acl_out, 4);
    CHECK_EQ(ev.send_ready, 0);
    put16(cr + 2, 5);
    push_sig(0x16, 10, cr, sizeof(cr));
    CHECK_EQ(fake.n_acl_out, 5);
    CHECK_EQ(ev.send_ready, 1);
    f = sent(4, &c, &n);
    CHECK_EQ(n, 12);
    CHECK(memcmp(f, data + 38, 12) == 0);
    // Credits for another channel's CID change nothing.
    put16(cr, 0x0071);
    push_sig(0x16, 11, cr, sizeof(cr));
    // An empty SDU is one frame with its length.
    CHECK_EQ(bh_coc_send(CONN, cid, data, 0), 1);
    f = sent(5, &c, &n);
    CHECK_EQ(n, 2);
    CHECK_EQ(u16(f), 0);
}

static void test_outgoing(void) {
    setup();
    CHECK_EQ(coc_connect(CONN + 1, PSM, 100), -BH_ENOTCONN);
    CHECK_EQ(coc_connect(CONN, 0, 100), -BH_EINVAL);
    CHECK_EQ(coc_connect(CONN, PSM, 22), -BH_EINVAL);
    CHECK_EQ(coc_connect(CONN, PSM, 300), 0);
    size_t n;
    const uint8_t *r = last_sig(&n);
    CHECK_EQ(n, 14);
    CHECK_EQ(r[0], 0x14);
    uint8_t id = r[1];
    uint16_t cid = u16(r + 6);
    CHECK_EQ(u16(r + 4), PSM);
    CHECK(cid >= 0x40 && cid <= 0x7f);
    CHECK_EQ(u16(r + 8), 300);
    CHECK_EQ(u16(r + 10), 302);
    CHECK_EQ(u16(r + 12), 1);
    CHECK_EQ(coc_connect(CONN, PSM, 300), -BH_EALREADY);
    // A response with another identifier is not ours.
    uint8_t rsp[10];
    put16(rsp, 0x0075);
    put16(rsp + 2, 120);
    put16(rsp + 4, 50);
    put16(rsp + 6, 4);
    put16(rsp + 8, 0);
    push_sig(0x15, (uint8_t)(id + 1), rsp, sizeof(rsp));
    CHECK_EQ(ev.connects, 0);
    push_sig(0x15, id, rsp, sizeof(rsp));
    CHECK_EQ(ev.connects, 1);
    CHECK_EQ(ev.cid, cid);
    CHECK_EQ(ev.our_mtu, 300);
    CHECK_EQ(ev.peer_mtu, 120);
    fake.n_acl_out = 0;
    CHECK_EQ(bh_coc_send(CONN, cid, (const uint8_t *)"ping", 4), 1);
    uint16_t c;
    const uint8_t *f = sent(0, &c, &n);
    CHECK_EQ(c, 0x0075);
    CHECK(n == 6 && memcmp(f + 2, "ping", 4) == 0);
    // We close: Disconnection Request, the event once answered.
    CHECK_EQ(bh_coc_disconnect(CONN, cid), 0);
    CHECK_EQ(bh_coc_disconnect(CONN, cid), -BH_EALREADY);
    CHECK_EQ(bh_coc_send(CONN, cid, (const uint8_t *)"x", 1), -BH_EINVAL);
    r = last_sig(&n);
    CHECK_EQ(r[0], 0x06);
    CHECK_EQ(u16(r + 4), 0x0075);
    CHECK_EQ(u16(r + 6), cid);
    CHECK_EQ(ev.disconnects, 0);
    uint8_t d[4];
    put16(d, 0x0075);
    put16(d + 2, cid);
    push_sig(0x07, r[1], d, sizeof(d));
    CHECK_EQ(ev.disconnects, 1);
    CHECK_EQ(ev.status, 0);
    CHECK_EQ(ev.psm, PSM);
    CHECK_EQ(bh_coc_disconnect(CONN, cid), -BH_EINVAL);
}

static void test_outgoing_failures(void) {
    uint8_t rsp[10] = { 0 };
    size_t n;
    // Refused by the peer: its result is the status.
    setup();
    CHECK_EQ(coc_connect(CONN, PSM, 100), 0);
    put16(rsp + 8, 0x0002);
    push_sig(0x15, last_sig(&n)[1], rsp, sizeof(rsp));
    CHECK_EQ(ev.disconnects, 1);
    CHECK_EQ(ev.status, 0x0002);
    CHECK_EQ(ev.connects, 0);
    // A peer without LE channels: Command Reject.
    CHECK_EQ(coc_connect(CONN, PSM, 100), 0);
    uint8_t rej[2] = { 0, 0 };
    push_sig(0x01, last_sig(&n)[1], rej, sizeof(rej));
    CHECK_EQ(ev.disconnects, 2);
    CHECK_EQ(ev.status, 0x0002);
    // No answer within 30 s.
    CHECK_EQ(coc_connect(CONN, PSM, 100), 0);
    fake.now_ms += 29999;
    bh_poll();
    CHECK_EQ(ev.disconnects, 2);
    fake.now_ms += 1;
    bh_poll();
    CHECK_EQ(ev.disconnects, 3);
    CHECK_EQ(ev.status, BH_COC_STATUS_TIMEOUT);
    // The link closes while connecting.
    CHECK_EQ(coc_connect(CONN, PSM, 100), 0);
    uint8_t dc[4] = { 0x00, (uint8_t)CONN, 0x00, 0x13 };
    fake_push_event(0x05, dc, sizeof(dc));
    bh_poll();
    CHECK_EQ(ev.disconnects, 4);
    CHECK_EQ(ev.status, BH_COC_STATUS_DISCONNECTED);
    // Listening forbids connecting (the API: one channel, no connect while
    // listening).
    setup();
    CHECK_EQ(coc_listen(PSM, 100), 0);
    CHECK_EQ(coc_connect(CONN, PSM, 100), -BH_EALREADY);
}

static void test_peer_closes_and_link_loss(void) {
    setup();
    uint16_t cid = open_incoming(100);
    // A request for a CID that is not ours: rejected, channel kept.
    uint8_t d[4];
    put16(d, (uint16_t)(cid + 1));
    put16(d + 2, 0x0070);
    push_sig(0x06, 5, d, sizeof(d));
    size_t n;
    CHECK_EQ(last_sig(&n)[0], 0x01);
    CHECK_EQ(ev.disconnects, 0);
    put16(d, cid);
    push_sig(0x06, 6, d, sizeof(d));
    const uint8_t *r = last_sig(&n);
    CHECK_EQ(r[0], 0x07);
    CHECK_EQ(r[1], 6);
    CHECK_EQ(u16(r + 4), cid);
    CHECK_EQ(u16(r + 6), 0x0070);
    CHECK_EQ(ev.disconnects, 1);
    CHECK_EQ(ev.status, 0);
    // Still listening: a new channel, then the link goes.
    push_conn_request(7, PSM, 0x0071, 100, 40, 3);
    CHECK_EQ(ev.connects, 2);
    uint8_t dc[4] = { 0x00, (uint8_t)CONN, 0x00, 0x13 };
    fake_push_event(0x05, dc, sizeof(dc));
    bh_poll();
    CHECK_EQ(ev.disconnects, 2);
    CHECK_EQ(ev.status, 0);
    // Deactivation forgets listening.
    bh_deactivate(10);
    CHECK_EQ(bh_activate(), 0);
    CHECK_EQ(coc_connect(CONN, PSM, 100), -BH_ENOTCONN);
}

// The host uses the embedding's storage and gives each one back exactly
// once, when it is done with it (storage is malloc'd here: ASan would stop
// at any use after it went back).
static void test_storage_lifetime(void) {
    setup();
    uint8_t *a;
    uint8_t *b;
    // Missing or too small: refused, not taken.
    CHECK_EQ(bh_coc_listen(PSM, 100, NULL, BH_COC_STORAGE_SIZE(100)), -BH_EINVAL);
    CHECK_EQ(with_storage(listen_call, 0, PSM, 100, BH_COC_STORAGE_SIZE(100) - 1, NULL), -BH_EINVAL);
    CHECK_EQ(with_storage(bh_coc_connect, CONN, PSM, 100, BH_COC_STORAGE_SIZE(100) - 1, NULL),
        -BH_EINVAL);
    CHECK_EQ(n_held(), 0);
    CHECK_EQ(BH_COC_STORAGE_SIZE(1024), 4617);
    CHECK_EQ(BH_COC_STORAGE_SIZE(23), 23 * 4 + 4 + 25);
    // A new listen gives the old storage back at once; giving the same
    // storage again keeps it.
    CHECK_EQ(with_storage(listen_call, 0, PSM, 60, 0, &a), 0);
    CHECK_EQ(bh_coc_listen(PSM, 60, a, BH_COC_STORAGE_SIZE(60)), 0);
    CHECK_EQ(frees, 0);
    CHECK_EQ(with_storage(listen_call, 0, PSM, 60, 0, &b), 0);
    CHECK_EQ(frees, 1);
    CHECK_EQ(n_held(), 1);
    // The channel accepted on the new listen receives and sends through it.
    push_conn_request(1, PSM, 0x0070, 100, 40, 3);
    CHECK_EQ(ev.connects, 1);
    uint16_t cid = ev.cid;
    uint8_t k[7] = { 5, 0, 'h', 'e', 'l', 'l', 'o' };
    push_pdu(cid, k, sizeof(k));
    uint8_t buf[8];
    CHECK_EQ(bh_coc_recv(CONN, cid, buf, sizeof(buf)), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK(memcmp(b, "hello", 5) == 0); // the receive buffer starts the storage
    fake.n_acl_out = 0;
    CHECK_EQ(bh_coc_send(CONN, cid, (const uint8_t *)"abc", 3), 1);
    uint16_t c;
    size_t n;
    const uint8_t *f = sent(0, &c, &n);
    CHECK(n == 5 && memcmp(f + 2, "abc", 3) == 0);
    // The channel closes: the listen keeps its storage.
    uint8_t d[4];
    put16(d, cid);
    put16(d + 2, 0x0070);
    push_sig(0x06, 2, d, sizeof(d));
    CHECK_EQ(ev.disconnects, 1);
    CHECK_EQ(frees, 1);
    // Deactivation gives it back.
    bh_deactivate(10);
    CHECK_EQ(frees, 2);
    CHECK_EQ(n_held(), 0);

    // A channel we ask for: its storage goes back right after its
    // DISCONNECT event, whether refused, closed or lost with its link.
    setup();
    CHECK_EQ(coc_connect(CONN, PSM, 100), 0);
    uint8_t rsp[10] = { 0 };
    put16(rsp + 8, 0x0004);
    push_sig(0x15, last_sig(&n)[1], rsp, sizeof(rsp));
    CHECK_EQ(ev.disconnects, 1);
    CHECK_EQ(frees, 1);
    CHECK_EQ(disconnects_at_free, 1);
    CHECK_EQ(coc_connect(CONN, PSM, 1024), 0);
    uint8_t id = last_sig(&n)[1];
    put16(rsp, 0x0075);
    put16(rsp + 2, 100);
    put16(rsp + 4, 50);
    put16(rsp + 6, 4);
    put16(rsp + 8, 0);
    push_sig(0x15, id, rsp, sizeof(rsp));
    CHECK_EQ(ev.connects, 1);
    CHECK_EQ(frees, 1);
    // Receive SDUs of our MTU (1024) in frames of our MPS (517, 2 credits).
    static uint8_t sdu[2 + 1024];
    put16(sdu, 1024);
    for (size_t i = 0; i < 1024; i++) {
        sdu[2 + i] = (uint8_t)(i * 13);
    }
    static uint8_t got[1024];
    push_long_pdu(ev.cid, sdu, 517);
    push_long_pdu(ev.cid, sdu + 517, sizeof(sdu) - 517);
    CHECK_EQ(bh_coc_recv(CONN, ev.cid, got, sizeof(got)), 1024);
    CHECK(memcmp(got, sdu + 2, 1024) == 0);
    push_long_pdu(ev.cid, sdu, 517);
    push_long_pdu(ev.cid, sdu + 517, sizeof(sdu) - 517);
    CHECK_EQ(ev.disconnects, 1); // the refused attempt's only
    CHECK_EQ(bh_coc_recv(CONN, ev.cid, got, sizeof(got)), 1024);
    CHECK(memcmp(got, sdu + 2, 1024) == 0);
    uint8_t dc[4] = { 0x00, (uint8_t)CONN, 0x00, 0x13 };
    fake_push_event(0x05, dc, sizeof(dc));
    bh_poll();
    CHECK_EQ(ev.disconnects, 2);
    CHECK_EQ(frees, 2);
    CHECK_EQ(disconnects_at_free, 2);
    CHECK_EQ(n_held(), 0);
}

int main(void) {
    static const unit_test_t tests[] = {
        T(test_incoming_accepted),
        T(test_incoming_refused),
        T(test_receive_and_credits),
        T(test_reassembly_across_frames),
        T(test_peer_violations),
        T(test_send_segments_and_stalls),
        T(test_outgoing),
        T(test_outgoing_failures),
        T(test_peer_closes_and_link_loss),
        T(test_storage_lifetime),
    };
    return run_tests("coc", tests, sizeof(tests) / sizeof(tests[0]));
}
