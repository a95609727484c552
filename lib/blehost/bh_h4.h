// H4 (UART) framing: turns a byte stream into whole HCI packets.
//
// The parser assembles one packet at a time in a buffer its caller owns. A
// packet whose declared length does not fit is skipped byte for byte (never
// stored), and a byte that is not a known packet type is dropped so the
// stream resynchronises on the next valid type byte.
#ifndef BLEHOST_BH_H4_H
#define BLEHOST_BH_H4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bh_config.h"

#define BH_H4_CMD (0x01)
#define BH_H4_ACL (0x02)
#define BH_H4_SCO (0x03)
#define BH_H4_EVT (0x04)
#define BH_H4_ISO (0x05)

#define BH_H4_EVT_HDR (2)
#define BH_H4_ACL_HDR (4)
#define BH_H4_EVT_MAX (BH_H4_EVT_HDR + 255)
#define BH_H4_ACL_MAX (BH_H4_ACL_HDR + BH_ACL_RX_MAX_DATA)
// The largest packet the host takes.
#define BH_H4_BUF_SIZE (BH_H4_EVT_MAX > BH_H4_ACL_MAX ? BH_H4_EVT_MAX : BH_H4_ACL_MAX)

typedef struct _bh_h4_t {
    uint8_t state;
    uint8_t type;       // packet type of the packet being assembled
    uint8_t hdr_len;    // header bytes expected for that type
    bool ready;         // the caller's buffer holds a whole packet (header + payload)
    uint8_t hdr[4];     // the header as it arrives
    uint16_t fill;      // bytes of the packet so far
    uint16_t need;      // total bytes (header + payload) of the current packet
    uint32_t skip;      // payload bytes still to discard for a skipped packet
    uint32_t bad_type_bytes; // bytes dropped while looking for a type byte
    uint32_t skipped_packets; // packets dropped: too long or unsupported type
} bh_h4_t;

void bh_h4_reset(bh_h4_t *h4);

// Consume bytes until one packet completes or the input runs out. Returns the
// number of bytes consumed. The packet (without its type byte) is assembled
// in buf, which holds cap bytes (longer packets are skipped): the same
// buffer, left untouched, on every call while bh_h4_filling() says a packet
// is partly in it. When a packet completed, h4->ready is true and the packet
// is buf[0 .. h4->fill).
size_t bh_h4_feed(bh_h4_t *h4, uint8_t *buf, size_t cap, const uint8_t *data, size_t len);

// True while part of a packet's bytes are in the caller's buffer.
bool bh_h4_filling(const bh_h4_t *h4);

// True while a packet is started (header, payload or bytes to skip).
bool bh_h4_in_packet(const bh_h4_t *h4);

// bh_h4_port.c (BH_PORT_H4): the noise bytes and skipped packets of the
// port's H4 stream so far.
void bh_h4_port_counters(uint32_t *bad_type_bytes, uint32_t *skipped_packets);
// Forget a partly received packet and buffered bytes (after a drain).
void bh_h4_port_reset(void);

#endif // BLEHOST_BH_H4_H
