// The receiving half of bh_port.h for ports whose transport is an H4 byte
// stream (BH_PORT_H4): parses incoming bytes into packets and tells the host
// when the stream has lost its framing. Outgoing packets are framed by the
// HCI layer itself (bh_hci.c), which builds them after a byte of room for
// the packet type and writes them with bh_port_hci_write, without a copy.
#include <string.h>

#include "bh_config.h"
#include "bh_port.h"

#if BH_PORT_H4

#include "bh_h4.h"

static struct {
    bh_h4_t h4;
    uint8_t rx[BH_HCI_RX_CHUNK];
    size_t rx_pos;
    size_t rx_len;
    uint32_t progress_ms; // last time a started packet received bytes
    bool lost;            // noise seen: report it at the next call
    // The caller's buffer a packet is being assembled in (bh_h4_filling):
    // the host passes the same one on every call.
    const uint8_t *dest;
} h4p;

void bh_h4_port_reset(void) {
    bh_h4_reset(&h4p.h4);
    h4p.rx_pos = h4p.rx_len = 0;
    h4p.lost = false;
}

int bh_port_hci_recv(uint8_t *type, uint8_t *buf, size_t max) {
    if (h4p.lost) {
        h4p.lost = false;
        return -BH_EPROTO;
    }
    if (bh_h4_filling(&h4p.h4) && buf != h4p.dest) {
        // The start of the packet is in another buffer: it is lost.
        bh_h4_reset(&h4p.h4);
        return -BH_EPROTO;
    }
    h4p.dest = buf;
    for (;;) {
        if (h4p.rx_pos >= h4p.rx_len) {
            size_t n = bh_port_hci_read(h4p.rx, sizeof(h4p.rx));
            h4p.rx_pos = 0;
            h4p.rx_len = n > sizeof(h4p.rx) ? sizeof(h4p.rx) : n;
            if (h4p.rx_len == 0) {
                break;
            }
            h4p.progress_ms = bh_port_ticks_ms();
        }
        uint32_t bad = h4p.h4.bad_type_bytes;
        h4p.rx_pos += bh_h4_feed(&h4p.h4, buf, max, h4p.rx + h4p.rx_pos, h4p.rx_len - h4p.rx_pos);
        // A byte where a packet type belongs: whatever came before was not
        // what its header said. The parser resynchronises; the host must
        // assume packets were lost (told after the packet that completed
        // meanwhile, if any).
        if (h4p.h4.bad_type_bytes != bad) {
            h4p.lost = true;
        }
        if (!h4p.h4.ready && h4p.lost) {
            h4p.lost = false;
            return -BH_EPROTO;
        }
        if (h4p.h4.ready) {
            h4p.h4.ready = false;
            *type = h4p.h4.type;
            return h4p.h4.fill;
        }
    }
    // A packet whose declared length runs past what the controller sent
    // waits forever for bytes that are not coming.
    if (bh_h4_in_packet(&h4p.h4) && (uint32_t)(bh_port_ticks_ms() - h4p.progress_ms) >= BH_H4_STALL_MS) {
        bh_h4_reset(&h4p.h4);
        return -BH_EPROTO;
    }
    return 0;
}

void bh_h4_port_counters(uint32_t *bad_type_bytes, uint32_t *skipped_packets) {
    *bad_type_bytes = h4p.h4.bad_type_bytes;
    *skipped_packets = h4p.h4.skipped_packets;
}

#endif // BH_PORT_H4
