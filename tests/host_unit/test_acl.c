// Unit tests of the ACL data path (bh_acl.c with bh_conn.c and the HCI
// layer) against the fake port: fragmentation, controller buffer credits,
// Number Of Completed Packets validation, reassembly, CID dispatch and the
// signalling channel's Command Reject.
#include "bh_err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blehost.h"
#include "bh_acl.h"
#include "bh_conn.h"
#include "bh_hci.h"
#include "check.h"
#include "fake_port.h"

#define H1 (0x0040)
#define H2 (0x0041)

static const bh_hci_handlers_t handlers = {
    .num_completed_packets = bh_acl_on_completed,
    .acl = bh_acl_on_data,
};

// ---- what the RX handlers saw ----

#define SEEN_MAX (16)

static struct {
    int n;
    uint16_t handle[SEEN_MAX];
    uint16_t cid[SEEN_MAX];
    size_t len[SEEN_MAX];
    uint8_t data[SEEN_MAX][600];
    bool sig_answer;
} seen;

static bool record(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    CHECK(seen.n < SEEN_MAX);
    CHECK(len <= sizeof(seen.data[0]));
    seen.handle[seen.n] = conn_handle;
    seen.cid[seen.n] = cid;
    seen.len[seen.n] = len;
    memcpy(seen.data[seen.n], data, len);
    seen.n++;
    return cid == BH_L2CAP_CID_LE_SIGNALING ? seen.sig_answer : true;
}

static bh_acl_stats_t stats(void) {
    bh_acl_stats_t s;
    bh_acl_get_stats(&s);
    return s;
}

static void setup(uint16_t acl_len, uint16_t acl_num) {
    fake_reset();
    memset(&seen, 0, sizeof(seen));
    bh_hci_init(&handlers);
    bh_conn_reset();
    bh_conn_set_acl_buffers(acl_len, acl_num);
    bh_addr_t peer = { .type = 0, .val = { 1, 2, 3, 4, 5, 6 } };
    CHECK(bh_conn_add(H1, BH_ROLE_CENTRAL, &peer) != NULL);
    CHECK(bh_conn_add(H2, BH_ROLE_PERIPHERAL, &peer) != NULL);
    for (uint16_t cid = BH_L2CAP_CID_ATT; cid <= BH_L2CAP_CID_SMP; cid++) {
        CHECK_EQ(bh_l2cap_set_rx_handler(cid, record), 0);
    }
}

static void pattern(uint8_t *buf, size_t len, uint8_t seed) {
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + i * 7);
    }
}

// Controller -> host: one ACL packet.
static void push_acl(uint16_t handle, uint8_t pb, const uint8_t *data, size_t len) {
    uint8_t hdr[5] = { 0x02, (uint8_t)handle, (uint8_t)((handle >> 8) | (pb << 4)),
                       (uint8_t)len, (uint8_t)(len >> 8) };
    fake_push(hdr, 5);
    fake_push(data, len);
}

// The HCI layer bounds its reads per call: feed it everything pending.
static void process_all(void) {
    for (int i = 0; i < 1000 && fake.in_pos < fake.in_len; i++) {
        bh_hci_process();
    }
    CHECK_EQ(fake.in_pos, fake.in_len);
}

static void push_nocp(uint16_t handle, uint16_t count) {
    uint8_t p[5] = { 1, (uint8_t)handle, (uint8_t)(handle >> 8), (uint8_t)count, (uint8_t)(count >> 8) };
    fake_push_event(0x13, p, 5);
}

// Reassemble what the host sent for one handle, from packet `from` on;
// returns the number of PDUs found, and checks PB flags and header lengths.
static size_t collect_pdu(size_t from, uint16_t handle, uint8_t *out, size_t *out_len) {
    size_t fill = 0;
    bool started = false;
    for (size_t i = from; i < fake.n_acl_out; i++) {
        const fake_acl_t *a = &fake.acl_out[i];
        if ((a->handle_flags & 0x0fff) != handle) {
            continue;
        }
        uint8_t pb = (a->handle_flags >> 12) & 3;
        CHECK_EQ((a->handle_flags >> 14) & 3, 0); // broadcast flags
        if (!started) {
            CHECK_EQ(pb, 0); // first non-flushable
            started = true;
        } else {
            CHECK_EQ(pb, 1);
        }
        memcpy(out + fill, a->data, a->len);
        fill += a->len;
        if (fill >= 4 && fill == 4u + (out[0] | (out[1] << 8))) {
            *out_len = fill;
            return i + 1;
        }
    }
    *out_len = fill;
    return 0;
}

// ---- transmit ----

static void test_tx_fragmentation_and_credits(void) {
    setup(27, 3);
    uint8_t payload[100], pdu[600];
    pattern(payload, sizeof(payload), 3);
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, payload, sizeof(payload)), 0);
    // 104 bytes: 27 + 27 + 27 + 23, but only three buffers.
    CHECK_EQ(fake.n_acl_out, 3);
    for (size_t i = 0; i < 3; i++) {
        CHECK_EQ(fake.acl_out[i].len, 27);
    }
    CHECK_EQ(bh_conn_acl_free(), 0);
    CHECK_EQ(bh_acl_tx_queued(), 1);
    // Two completed: the last fragment goes, one buffer stays free.
    push_nocp(H1, 2);
    process_all();
    CHECK_EQ(fake.n_acl_out, 4);
    CHECK_EQ(fake.acl_out[3].len, 23);
    CHECK_EQ(bh_conn_acl_free(), 1);
    CHECK_EQ(bh_acl_tx_queued(), 0);
    size_t len;
    CHECK_EQ(collect_pdu(0, H1, pdu, &len), 4);
    CHECK_EQ(len, 104);
    CHECK_EQ(pdu[0] | (pdu[1] << 8), 100);
    CHECK_EQ(pdu[2] | (pdu[3] << 8), BH_L2CAP_CID_ATT);
    CHECK(memcmp(pdu + 4, payload, 100) == 0);
    CHECK_EQ(stats().tx_pdus, 1);
    CHECK_EQ(stats().tx_packets, 4);
    push_nocp(H1, 2);
    process_all();
    CHECK_EQ(bh_conn_acl_free(), 3);
    CHECK_EQ(stats().nocp_invalid, 0);
}

static void test_tx_fragment_sizes(void) {
    // The controller's length, capped at BH_ACL_TX_MAX_DATA.
    static const uint16_t lens[] = { 1, 27, 64, 251, 1021 };
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        setup(lens[k], 200);
        uint8_t payload[BH_L2CAP_TX_MAX_PAYLOAD], pdu[600];
        pattern(payload, sizeof(payload), (uint8_t)k);
        size_t sizes[] = { 0, 1, 22, 23, 247, 251, BH_L2CAP_TX_MAX_PAYLOAD };
        for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
            size_t frag = lens[k] > BH_ACL_TX_MAX_DATA ? BH_ACL_TX_MAX_DATA : lens[k];
            size_t total = sizes[j] + 4;
            if ((total + frag - 1) / frag > FAKE_ACL_LOG_MAX) {
                continue; // more packets than the fake logs
            }
            fake.n_acl_out = 0;
            CHECK_EQ(bh_l2cap_send(H2, BH_L2CAP_CID_SMP, payload, sizes[j]), 0);
            CHECK_EQ(fake.n_acl_out, (total + frag - 1) / frag);
            for (size_t i = 0; i < fake.n_acl_out; i++) {
                CHECK(fake.acl_out[i].len <= frag);
                CHECK(fake.acl_out[i].len == frag || i == fake.n_acl_out - 1);
            }
            size_t len;
            CHECK_EQ(collect_pdu(0, H2, pdu, &len), fake.n_acl_out);
            CHECK_EQ(len, total);
            CHECK(memcmp(pdu + 4, payload, sizes[j]) == 0);
            push_nocp(H2, (uint16_t)fake.n_acl_out);
            process_all();
            CHECK_EQ(bh_conn_acl_free(), 200);
        }
    }
}

static void test_tx_queue_full_and_resume(void) {
    setup(27, 1);
    uint8_t payload[30];
    pattern(payload, sizeof(payload), 9);
    // One buffer: the first PDU takes it; the queue holds the rest, 38
    // bytes each (4 of bookkeeping, 4 of basic header, 30).
    size_t fit = BH_ACL_TX_QUEUE_BYTES / 38;
    CHECK(fit > 3 && fit < 256);
    for (size_t i = 0; i < fit; i++) {
        payload[0] = (uint8_t)i;
        CHECK_EQ(bh_l2cap_send(i % 2 ? H2 : H1, BH_L2CAP_CID_ATT, payload, sizeof(payload)), 0);
    }
    CHECK_EQ(fake.n_acl_out, 1);
    CHECK_EQ(bh_acl_tx_queued(), fit);
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, payload, sizeof(payload)), -BH_ENOMEM);
    CHECK_EQ(stats().tx_refused, 1);
    // Drain by completing one packet at a time; order kept.
    size_t rounds = 0;
    while (bh_acl_tx_queued() > 0 && rounds++ < 1000) {
        const fake_acl_t *last = &fake.acl_out[fake.n_acl_out - 1];
        push_nocp(last->handle_flags & 0x0fff, 1);
        process_all();
    }
    CHECK_EQ(bh_acl_tx_queued(), 0);
    CHECK_EQ(stats().tx_packets, fit * 2); // 34 bytes: 27 + 7
    CHECK_EQ(stats().tx_pdus, fit);
    // The fake port keeps the last FAKE_ACL_LOG_MAX packets.
    size_t kept = fake.n_acl_out / 2;
    for (size_t k = 0; k < kept; k++) {
        size_t i = fit - kept + k;
        const fake_acl_t *first = &fake.acl_out[fake.n_acl_out - 2 * (kept - k)];
        CHECK_EQ(first->handle_flags & 0x0fff, i % 2 ? H2 : H1);
        CHECK_EQ((first->handle_flags >> 12) & 3, 0);
        CHECK_EQ(first->data[4], (uint8_t)i);
    }
    // Room again.
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, payload, sizeof(payload)), 0);
}

// ---- the transmit ring ----

// What the host must send, in order, and a check of what it sent: PDUs go
// out whole and in queue order (the oldest PDU's fragments before the next).
#define EXPECT_MAX (512)

static struct {
    uint16_t handle[EXPECT_MAX];
    uint16_t len[EXPECT_MAX];
    uint8_t seed[EXPECT_MAX];
    size_t head;
    size_t count;
    uint8_t pdu[BH_L2CAP_HDR + BH_L2CAP_TX_MAX_PAYLOAD];
    size_t fill;
    uint16_t last_handle; // of the last packet written
    size_t bytes;         // ring bytes of every PDU queued so far
} tx;

static void tx_expect_reset(void) {
    memset(&tx, 0, sizeof(tx));
}

static int tx_send(uint16_t handle, size_t len, uint8_t seed, bool bulk) {
    uint8_t payload[BH_L2CAP_TX_MAX_PAYLOAD];
    pattern(payload, len, seed);
    int err = bulk ? bh_l2cap_send_bulk(handle, BH_L2CAP_CID_ATT, payload, len)
        : bh_l2cap_send(handle, BH_L2CAP_CID_ATT, payload, len);
    if (err == 0) {
        CHECK(tx.count < EXPECT_MAX);
        size_t i = (tx.head + tx.count++) % EXPECT_MAX;
        tx.handle[i] = handle;
        tx.len[i] = (uint16_t)len;
        tx.seed[i] = seed;
        tx.bytes += 8 + len;
    }
    return err;
}

// Check the packets written since the last call against the expected PDUs.
static void tx_check_out(void) {
    for (size_t k = 0; k < fake.n_acl_out; k++) {
        const fake_acl_t *a = &fake.acl_out[k];
        CHECK(tx.count > 0);
        uint16_t handle = a->handle_flags & 0x0fff;
        CHECK_EQ(handle, tx.handle[tx.head]);
        CHECK_EQ((a->handle_flags >> 12) & 3, tx.fill == 0 ? 0 : 1);
        CHECK(tx.fill + a->len <= sizeof(tx.pdu));
        memcpy(tx.pdu + tx.fill, a->data, a->len);
        tx.fill += a->len;
        tx.last_handle = handle;
        size_t len = tx.len[tx.head];
        CHECK(tx.fill <= BH_L2CAP_HDR + len);
        if (tx.fill == BH_L2CAP_HDR + len) {
            uint8_t want[BH_L2CAP_TX_MAX_PAYLOAD];
            pattern(want, len, tx.seed[tx.head]);
            CHECK_EQ(tx.pdu[0] | (tx.pdu[1] << 8), len);
            CHECK_EQ(tx.pdu[2] | (tx.pdu[3] << 8), BH_L2CAP_CID_ATT);
            CHECK(memcmp(tx.pdu + BH_L2CAP_HDR, want, len) == 0);
            tx.fill = 0;
            tx.head = (tx.head + 1) % EXPECT_MAX;
            tx.count--;
        }
    }
    fake.n_acl_out = 0;
}

// The controller completes the packet it holds (one buffer).
static void tx_complete_one(void) {
    push_nocp(tx.last_handle, 1);
    process_all();
    tx_check_out();
}

static void tx_drain(void) {
    tx_check_out();
    for (int i = 0; i < 2000 && tx.count > 0; i++) {
        tx_complete_one();
    }
    CHECK_EQ(tx.count, 0);
    CHECK_EQ(bh_acl_tx_queued(), 0);
}

static void test_tx_ring_wraps_mixed_sizes(void) {
    // Before: fixed slots of the largest size, one per PDU.
    static const size_t sizes[] = { 517, 1, 30, 200, 0, 251, 77, 400, 5, 247, 3, 516, 60 };
    const size_t n_sizes = sizeof(sizes) / sizeof(sizes[0]);
    setup(251, 1);
    tx_expect_reset();
    size_t refused = 0, sent = 0;
    for (size_t k = 0; sent < 400; k++) {
        size_t len = sizes[k % n_sizes];
        uint16_t handle = k % 3 ? H1 : H2;
        int err = tx_send(handle, len, (uint8_t)k, k % 4 == 0);
        if (err == 0) {
            sent++;
            tx_check_out();
            continue;
        }
        CHECK_EQ(err, -BH_ENOMEM);
        refused++;
        // Make room: the controller completes packets until it fits.
        for (int i = 0; i < 10 && err != 0; i++) {
            tx_complete_one();
            err = tx_send(handle, len, (uint8_t)k, k % 4 == 0);
        }
        CHECK_EQ(err, 0);
        sent++;
        tx_check_out();
    }
    CHECK(refused > 20);
    // The ring went round many times.
    CHECK(tx.bytes > 10 * BH_ACL_TX_QUEUE_BYTES);
    tx_drain();
    CHECK_EQ(stats().tx_pdus, sent);
    CHECK_EQ(stats().tx_dropped, 0);
}

// Leave one PDU queued at `offset` of the ring and nothing else: the ring
// then wraps at different points.
static void tx_shift(size_t offset) {
    // One buffer: a first PDU goes to the controller at once (the ring is
    // empty again and starts over at 0), the next ones wait and take
    // `offset` bytes, then leave as the controller completes packets.
    CHECK_EQ(tx_send(H1, 1, 1, false), 0);
    CHECK(offset >= 8);
    for (size_t left = offset; left > 0;) {
        size_t piece = left;
        if (piece > 8 + BH_L2CAP_TX_MAX_PAYLOAD) {
            piece = left - (8 + BH_L2CAP_TX_MAX_PAYLOAD) >= 8 ? 8 + BH_L2CAP_TX_MAX_PAYLOAD : left - 8;
        }
        CHECK_EQ(tx_send(H1, piece - 8, (uint8_t)left, false), 0);
        left -= piece;
    }
    CHECK_EQ(tx_send(H2, 2, 3, false), 0);
    tx_check_out();
    while (tx.count > 1) {
        tx_complete_one();
    }
    CHECK_EQ(bh_acl_tx_queued(), 1);
}

static void test_tx_reserve_holds_under_a_bulk_flood(void) {
    // Before: BH_ACL_TX_RESERVED slots of the largest size; in bytes the
    // reserve must hold as many of the largest PDUs in one piece each,
    // wherever the ring wraps.
    static const size_t offsets[] = { 8, 40, 300, 525, 1000, 1600, 2100, BH_ACL_TX_QUEUE_BYTES - 400,
                                      BH_ACL_TX_QUEUE_BYTES - 100, BH_ACL_TX_QUEUE_BYTES - 10 };
    for (size_t o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
        for (size_t bulk_len = 1; bulk_len <= BH_L2CAP_TX_MAX_PAYLOAD; bulk_len += 246) {
            setup(251, 1);
            tx_expect_reset();
            tx_shift(offsets[o]);
            // A flood of notifications: bulk_room says how many go.
            size_t room = bh_acl_tx_bulk_room(bulk_len);
            size_t queued = 0;
            while (tx_send(H1, bulk_len, (uint8_t)queued, true) == 0) {
                queued++;
                CHECK(queued < 1000);
            }
            CHECK_EQ(queued, room);
            CHECK_EQ(bh_acl_tx_bulk_room(bulk_len), 0);
            CHECK_EQ(stats().tx_refused, 0);
            // The largest responses still go, one per link.
            for (size_t r = 0; r < BH_ACL_TX_RESERVED; r++) {
                CHECK_EQ(tx_send(r % 2 ? H2 : H1, BH_L2CAP_TX_MAX_PAYLOAD, (uint8_t)(0x80 + r), false), 0);
            }
            // Beyond the reserve a protocol PDU can be refused: counted.
            while (tx_send(H2, BH_L2CAP_TX_MAX_PAYLOAD, 0x55, false) == 0) {
            }
            CHECK_EQ(stats().tx_refused, 1);
            tx_drain();
        }
    }
}

static void test_tx_errors(void) {
    setup(27, 4);
    uint8_t big[BH_L2CAP_TX_MAX_PAYLOAD + 1] = { 0 };
    CHECK_EQ(bh_l2cap_send(0x0123, BH_L2CAP_CID_ATT, big, 1), -BH_ENOTCONN);
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, big, sizeof(big)), -BH_EMSGSIZE);
    CHECK_EQ(fake.n_acl_out, 0);
    // A transport write error drops that PDU and keeps the buffer.
    fake.write_result = -BH_EIO;
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, big, 40), 0);
    CHECK_EQ(bh_acl_tx_queued(), 0);
    CHECK_EQ(stats().tx_dropped, 1);
    CHECK_EQ(bh_conn_acl_free(), 4);
    fake.write_result = 0;
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, big, 40), 0);
    CHECK_EQ(fake.n_acl_out, 2);
    // No controller buffers reported at all: nothing is written.
    setup(0, 0);
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, big, 4), 0);
    CHECK_EQ(fake.n_acl_out, 0);
}

static void test_nocp_validation(void) {
    setup(27, 4);
    uint8_t payload[60] = { 0 };
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, payload, sizeof(payload)), 0); // 3 packets
    CHECK_EQ(bh_conn_acl_free(), 1);
    // Unknown handle: ignored, counted.
    push_nocp(0x0077, 3);
    process_all();
    CHECK_EQ(bh_conn_acl_free(), 1);
    CHECK_EQ(stats().nocp_invalid, 1);
    // More than in flight for that link: only what was sent is credited.
    push_nocp(H2, 1);
    process_all();
    CHECK_EQ(bh_conn_acl_free(), 1);
    push_nocp(H1, 10);
    process_all();
    CHECK_EQ(bh_conn_acl_free(), 4);
    CHECK_EQ(stats().nocp_invalid, 3);
    // Truncated event: ignored as a whole.
    uint8_t bad[5] = { 2, (uint8_t)H1, 0, 1, 0 };
    fake_push_event(0x13, bad, 5);
    process_all();
    CHECK_EQ(bh_conn_acl_free(), 4);
    bh_hci_stats_t hs;
    bh_hci_get_stats(&hs);
    CHECK_EQ(hs.malformed_events, 1);
}

static void test_disconnect_frees_credits_and_queue(void) {
    setup(27, 3);
    uint8_t payload[200];
    pattern(payload, sizeof(payload), 1);
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, payload, sizeof(payload)), 0); // 8 fragments
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, payload, 10), 0);
    CHECK_EQ(bh_l2cap_send(H2, BH_L2CAP_CID_ATT, payload, 10), 0);
    CHECK_EQ(fake.n_acl_out, 3);
    CHECK_EQ(bh_acl_tx_queued(), 3);
    // H1 goes away: its buffers come back, its PDUs are dropped, H2's goes.
    bh_conn_remove(bh_conn_find(H1));
    CHECK_EQ(fake.n_acl_out, 4);
    CHECK_EQ(fake.acl_out[3].handle_flags & 0x0fff, H2);
    CHECK_EQ(bh_acl_tx_queued(), 0);
    CHECK_EQ(stats().tx_dropped, 2);
    CHECK_EQ(bh_conn_acl_free(), 2);
    // Late completions for the closed link are not credited twice.
    push_nocp(H1, 3);
    process_all();
    CHECK_EQ(bh_conn_acl_free(), 2);
    push_nocp(H2, 1);
    process_all();
    CHECK_EQ(bh_conn_acl_free(), 3);
    // A new link reusing the handle starts clean.
    bh_addr_t peer = { 0 };
    CHECK(bh_conn_add(H1, BH_ROLE_CENTRAL, &peer) != NULL);
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, payload, 10), 0);
    CHECK_EQ(fake.n_acl_out, 5);
    CHECK_EQ((fake.acl_out[4].handle_flags >> 12) & 3, 0);
    // Reset forgets everything queued.
    CHECK_EQ(bh_l2cap_send(H1, BH_L2CAP_CID_ATT, payload, sizeof(payload)), 0);
    CHECK(bh_acl_tx_queued() > 0);
    bh_conn_reset();
    CHECK_EQ(bh_acl_tx_queued(), 0);
}

// ---- receive ----

static void make_pdu(uint8_t *pdu, uint16_t cid, const uint8_t *payload, size_t len) {
    pdu[0] = (uint8_t)len;
    pdu[1] = (uint8_t)(len >> 8);
    pdu[2] = (uint8_t)cid;
    pdu[3] = (uint8_t)(cid >> 8);
    memcpy(pdu + 4, payload, len);
}

static void test_rx_reassembly(void) {
    setup(27, 4);
    uint8_t payload[517], pdu[521];
    pattern(payload, sizeof(payload), 5);
    // One fragment.
    make_pdu(pdu, BH_L2CAP_CID_ATT, payload, 20);
    push_acl(H1, 2, pdu, 24);
    process_all();
    CHECK_EQ(seen.n, 1);
    CHECK_EQ(seen.handle[0], H1);
    CHECK_EQ(seen.cid[0], BH_L2CAP_CID_ATT);
    CHECK_EQ(seen.len[0], 20);
    CHECK(memcmp(seen.data[0], payload, 20) == 0);
    // The largest PDU, in 27-byte fragments, fed in odd-sized reads.
    fake.max_read = 13;
    make_pdu(pdu, BH_L2CAP_CID_SMP, payload, 517);
    for (size_t off = 0; off < 521; off += 27) {
        size_t n = 521 - off < 27 ? 521 - off : 27;
        push_acl(H2, off == 0 ? 2 : 1, pdu + off, n);
    }
    process_all();
    CHECK_EQ(seen.n, 2);
    CHECK_EQ(seen.handle[1], H2);
    CHECK_EQ(seen.cid[1], BH_L2CAP_CID_SMP);
    CHECK_EQ(seen.len[1], 517);
    CHECK(memcmp(seen.data[1], payload, 517) == 0);
    // The basic header itself split (1 + 2 + rest), and an empty PDU.
    fake.max_read = 0;
    make_pdu(pdu, BH_L2CAP_CID_ATT, payload, 10);
    push_acl(H1, 2, pdu, 1);
    push_acl(H1, 1, pdu + 1, 2);
    push_acl(H1, 1, pdu + 3, 0);
    push_acl(H1, 1, pdu + 3, 11);
    make_pdu(pdu, BH_L2CAP_CID_ATT, payload, 0);
    push_acl(H1, 2, pdu, 4);
    process_all();
    CHECK_EQ(seen.n, 4);
    CHECK_EQ(seen.len[2], 10);
    CHECK(memcmp(seen.data[2], payload, 10) == 0);
    CHECK_EQ(seen.len[3], 0);
    // Two links interleaved.
    uint8_t pdu2[64];
    make_pdu(pdu, BH_L2CAP_CID_ATT, payload, 40);
    make_pdu(pdu2, BH_L2CAP_CID_ATT, payload + 100, 40);
    push_acl(H1, 2, pdu, 27);
    push_acl(H2, 2, pdu2, 27);
    push_acl(H2, 1, pdu2 + 27, 17);
    push_acl(H1, 1, pdu + 27, 17);
    process_all();
    CHECK_EQ(seen.n, 6);
    CHECK_EQ(seen.handle[4], H2);
    CHECK(memcmp(seen.data[4], payload + 100, 40) == 0);
    CHECK_EQ(seen.handle[5], H1);
    CHECK(memcmp(seen.data[5], payload, 40) == 0);
    CHECK_EQ(stats().rx_pdus, 6);
    CHECK_EQ(stats().rx_dropped, 0);
}

static void test_rx_malformed(void) {
    setup(27, 4);
    uint8_t payload[600], pdu[700];
    pattern(payload, sizeof(payload), 11);
    make_pdu(pdu, BH_L2CAP_CID_ATT, payload, 40);
    uint32_t dropped = 0;
    // Continuation with nothing started.
    push_acl(H1, 1, pdu, 10);
    process_all();
    CHECK_EQ(stats().rx_dropped, ++dropped);
    // A new start before the previous PDU completed: the old one is lost,
    // the new one arrives.
    push_acl(H1, 2, pdu, 27);
    push_acl(H1, 2, pdu, 27);
    push_acl(H1, 1, pdu + 27, 17);
    process_all();
    CHECK_EQ(stats().rx_dropped, ++dropped);
    CHECK_EQ(seen.n, 1);
    CHECK_EQ(seen.len[0], 40);
    // A fragment running past the announced length: dropped, and its
    // continuation too.
    push_acl(H1, 2, pdu, 27);
    push_acl(H1, 1, pdu + 27, 20);
    push_acl(H1, 1, pdu + 27, 5);
    process_all();
    dropped += 2;
    CHECK_EQ(stats().rx_dropped, dropped);
    CHECK_EQ(seen.n, 1);
    // Reserved / host-only PB flags.
    push_acl(H1, 0, pdu, 24);
    push_acl(H1, 3, pdu, 24);
    process_all();
    dropped += 2;
    CHECK_EQ(stats().rx_dropped, dropped);
    // Unknown link.
    push_acl(0x0099, 2, pdu, 24);
    process_all();
    CHECK_EQ(stats().rx_dropped, ++dropped);
    // Empty start fragment.
    push_acl(H1, 2, pdu, 0);
    process_all();
    CHECK_EQ(stats().rx_dropped, ++dropped);
    CHECK_EQ(seen.n, 1);
    // A PDU longer than we accept is skipped to its end; the next one is
    // fine.
    make_pdu(pdu, BH_L2CAP_CID_ATT, payload, BH_L2CAP_RX_MAX_PAYLOAD + 50);
    size_t total = 4 + BH_L2CAP_RX_MAX_PAYLOAD + 50;
    for (size_t off = 0; off < total; off += 200) {
        size_t n = total - off < 200 ? total - off : 200;
        push_acl(H1, off == 0 ? 2 : 1, pdu + off, n);
    }
    make_pdu(pdu, BH_L2CAP_CID_ATT, payload, 5);
    push_acl(H1, 2, pdu, 9);
    process_all();
    CHECK_EQ(stats().rx_dropped, ++dropped);
    CHECK_EQ(seen.n, 2);
    CHECK_EQ(seen.len[1], 5);
    // Unknown CID, and a handler removed: counted, not delivered.
    make_pdu(pdu, 0x0040, payload, 5);
    push_acl(H1, 2, pdu, 9);
    CHECK_EQ(bh_l2cap_set_rx_handler(BH_L2CAP_CID_SMP, NULL), 0);
    make_pdu(pdu, BH_L2CAP_CID_SMP, payload, 5);
    push_acl(H1, 2, pdu, 9);
    process_all();
    CHECK_EQ(stats().rx_unknown_cid, 2);
    CHECK_EQ(seen.n, 2);
    CHECK_EQ(bh_l2cap_set_rx_handler(0x0040, record), -BH_EINVAL);
    CHECK_EQ(bh_l2cap_set_rx_handler(3, record), -BH_EINVAL);
    CHECK_EQ(bh_l2cap_set_rx_handler(BH_L2CAP_CID_SMP, record), 0);
    // A link closing mid-PDU: its partial PDU is forgotten.
    make_pdu(pdu, BH_L2CAP_CID_ATT, payload, 40);
    push_acl(H2, 2, pdu, 27);
    process_all();
    bh_conn_remove(bh_conn_find(H2));
    bh_addr_t peer = { 0 };
    CHECK(bh_conn_add(H2, BH_ROLE_CENTRAL, &peer) != NULL);
    push_acl(H2, 1, pdu + 27, 17);
    process_all();
    CHECK_EQ(stats().rx_dropped, ++dropped);
    CHECK_EQ(seen.n, 2);
}

static void test_signalling(void) {
    setup(27, 4);
    uint8_t pdu[64];
    // Connection Parameter Update Request (0x12), id 7: understood by the
    // handler -> no reject.
    const uint8_t upd[12] = { 0x12, 7, 8, 0, 6, 0, 12, 0, 0, 0, 200, 0 };
    seen.sig_answer = true;
    make_pdu(pdu, BH_L2CAP_CID_LE_SIGNALING, upd, sizeof(upd));
    push_acl(H1, 2, pdu, 4 + sizeof(upd));
    process_all();
    CHECK_EQ(seen.n, 1);
    CHECK_EQ(seen.cid[0], BH_L2CAP_CID_LE_SIGNALING);
    CHECK_EQ(seen.len[0], sizeof(upd));
    CHECK_EQ(fake.n_acl_out, 0);
    // Not understood -> Command Reject, same identifier, reason 0.
    seen.sig_answer = false;
    const uint8_t unknown[6] = { 0x7f, 9, 2, 0, 0xaa, 0xbb };
    make_pdu(pdu, BH_L2CAP_CID_LE_SIGNALING, unknown, sizeof(unknown));
    push_acl(H1, 2, pdu, 4 + sizeof(unknown));
    process_all();
    CHECK_EQ(seen.n, 2); // the handler saw it and said no
    CHECK_EQ(fake.n_acl_out, 1);
    const fake_acl_t *a = &fake.acl_out[0];
    CHECK_EQ(a->handle_flags & 0x0fff, H1);
    const uint8_t want[10] = { 6, 0, 5, 0, 0x01, 9, 2, 0, 0, 0 };
    CHECK_EQ(a->len, sizeof(want));
    CHECK(memcmp(a->data, want, sizeof(want)) == 0);
    CHECK_EQ(stats().sig_rejected, 1);
    // No handler at all: rejected too.
    CHECK_EQ(bh_l2cap_set_rx_handler(BH_L2CAP_CID_LE_SIGNALING, NULL), 0);
    make_pdu(pdu, BH_L2CAP_CID_LE_SIGNALING, upd, sizeof(upd));
    push_acl(H2, 2, pdu, 4 + sizeof(upd));
    process_all();
    CHECK_EQ(fake.n_acl_out, 2);
    CHECK_EQ(fake.acl_out[1].handle_flags & 0x0fff, H2);
    CHECK_EQ(fake.acl_out[1].data[4], 0x01);
    CHECK_EQ(fake.acl_out[1].data[5], 7);
    // A command whose length field disagrees: rejected, handler not called.
    CHECK_EQ(bh_l2cap_set_rx_handler(BH_L2CAP_CID_LE_SIGNALING, record), 0);
    seen.sig_answer = true;
    const uint8_t bad_len[6] = { 0x12, 3, 9, 0, 1, 2 };
    make_pdu(pdu, BH_L2CAP_CID_LE_SIGNALING, bad_len, sizeof(bad_len));
    push_acl(H1, 2, pdu, 4 + sizeof(bad_len));
    process_all();
    CHECK_EQ(seen.n, 2);
    CHECK_EQ(fake.n_acl_out, 3);
    CHECK_EQ(fake.acl_out[2].data[5], 3);
    // A Command Reject is never answered; identifier 0 and runt commands
    // are dropped.
    const uint8_t rej[6] = { 0x01, 4, 2, 0, 0, 0 };
    const uint8_t id0[4] = { 0x7f, 0, 0, 0 };
    const uint8_t runt[3] = { 0x7f, 5, 0 };
    seen.sig_answer = false;
    make_pdu(pdu, BH_L2CAP_CID_LE_SIGNALING, rej, sizeof(rej));
    push_acl(H1, 2, pdu, 4 + sizeof(rej));
    make_pdu(pdu, BH_L2CAP_CID_LE_SIGNALING, id0, sizeof(id0));
    push_acl(H1, 2, pdu, 4 + sizeof(id0));
    make_pdu(pdu, BH_L2CAP_CID_LE_SIGNALING, runt, sizeof(runt));
    push_acl(H1, 2, pdu, 4 + sizeof(runt));
    process_all();
    CHECK_EQ(fake.n_acl_out, 3);
    CHECK_EQ(stats().sig_rejected, 3);
}

// ---- layer hooks and the dynamic-CID handler ----

// What the layers' hooks saw, in call order: layer id and hook letter
// (r reset, c connected, d disconnected, s security changed, p poll).
static struct {
    char calls[32][3];
    int n;
    bool found_in_disconnect; // the link was still in the table
    uint32_t poll_now;
} hooks;

static void hook(char layer, char what) {
    CHECK(hooks.n < 32);
    hooks.calls[hooks.n][0] = layer;
    hooks.calls[hooks.n][1] = what;
    hooks.calls[hooks.n][2] = 0;
    hooks.n++;
}

static void a_reset(void) {
    hook('a', 'r');
}

static void a_connected(bh_conn_t *conn) {
    CHECK_EQ(conn->handle, H1);
    hook('a', 'c');
}

static void a_disconnected(bh_conn_t *conn) {
    hooks.found_in_disconnect = bh_conn_find(H1) == conn && conn->handle == H1;
    hook('a', 'd');
}

static void a_security(bh_conn_t *conn) {
    CHECK_EQ(conn->handle, H1);
    hook('a', 's');
}

static void a_poll(uint32_t now_ms) {
    hooks.poll_now = now_ms;
    hook('a', 'p');
}

static void b_reset(void) {
    hook('b', 'r');
}

static void b_disconnected(bh_conn_t *conn) {
    (void)conn;
    hook('b', 'd');
}

static const bh_layer_t layer_a = {
    .reset = a_reset, .connected = a_connected, .disconnected = a_disconnected,
    .security_changed = a_security, .poll = a_poll,
};
static const bh_layer_t layer_b = { .reset = b_reset, .disconnected = b_disconnected };

static struct {
    int n;
    uint16_t handle;
    uint16_t cid;
    size_t len;
} dyn;

static void dyn_rx(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    CHECK(len == 0 || data[0] == 0x77);
    dyn.n++;
    dyn.handle = conn_handle;
    dyn.cid = cid;
    dyn.len = len;
}

static bool hooks_are(const char *expect) {
    char got[64] = "";
    for (int i = 0; i < hooks.n; i++) {
        strcat(got, hooks.calls[i]);
    }
    if (strcmp(got, expect) != 0) {
        fprintf(stderr, "hooks: %s, expected %s\n", got, expect);
        return false;
    }
    return true;
}

static void test_layers_and_dynamic_cids(void) {
    setup(27, 4);
    static const bh_layer_t *const layers[] = { &layer_a, &layer_b };
    memset(&hooks, 0, sizeof(hooks));
    bh_conn_set_layers(layers, 2);
    // Reset: every layer, in order; connections forgotten without hooks.
    bh_conn_reset();
    CHECK(hooks_are("arbr"));
    CHECK_EQ(bh_conn_count(), 0);
    bh_addr_t peer = { 0 };
    bh_conn_t *c = bh_conn_add(H1, BH_ROLE_PERIPHERAL, &peer);
    CHECK(c != NULL);
    CHECK(hooks_are("arbrac"));
    bh_conn_security_changed(c);
    bh_conn_poll(1234);
    CHECK(hooks_are("arbracasap"));
    CHECK_EQ(hooks.poll_now, 1234);
    // Disconnected hooks run while the link is still in the table.
    bh_conn_remove(c);
    CHECK(hooks_are("arbracasapadbd"));
    CHECK(hooks.found_in_disconnect);
    CHECK(bh_conn_find(H1) == NULL);
    // Dynamic CIDs go to the one dynamic handler; without it they are
    // counted as unknown.
    CHECK(bh_conn_add(H1, BH_ROLE_PERIPHERAL, &peer) != NULL);
    uint8_t payload[8] = { 0x77, 1, 2, 3, 4, 5, 6, 7 }, pdu[12];
    make_pdu(pdu, 0x0041, payload, 8);
    bh_l2cap_set_dynamic_handler(dyn_rx);
    memset(&dyn, 0, sizeof(dyn));
    uint32_t unknown = stats().rx_unknown_cid;
    push_acl(H1, 2, pdu, 12);
    process_all();
    CHECK_EQ(dyn.n, 1);
    CHECK_EQ(dyn.handle, H1);
    CHECK_EQ(dyn.cid, 0x0041);
    CHECK_EQ(dyn.len, 8);
    CHECK_EQ(stats().rx_unknown_cid, unknown);
    CHECK_EQ(seen.n, 0);
    bh_l2cap_set_dynamic_handler(NULL);
    push_acl(H1, 2, pdu, 12);
    process_all();
    CHECK_EQ(dyn.n, 1);
    CHECK_EQ(stats().rx_unknown_cid, unknown + 1);
    bh_conn_set_layers(NULL, 0);
}

int main(void) {
    static const unit_test_t tests[] = {
        T(test_tx_fragmentation_and_credits),
        T(test_tx_fragment_sizes),
        T(test_tx_queue_full_and_resume),
        T(test_tx_ring_wraps_mixed_sizes),
        T(test_tx_reserve_holds_under_a_bulk_flood),
        T(test_tx_errors),
        T(test_nocp_validation),
        T(test_disconnect_frees_credits_and_queue),
        T(test_rx_reassembly),
        T(test_rx_malformed),
        T(test_signalling),
        T(test_layers_and_dynamic_cids),
    };
    return run_tests(NULL, tests, sizeof(tests) / sizeof(tests[0]));
}
