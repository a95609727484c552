// H4 framing. See bh_h4.h.
#include <string.h>

#include "bh_h4.h"
#include "bh_util.h"

enum {
    H4_WAIT_TYPE,
    H4_HEADER,
    H4_PAYLOAD,
    H4_SKIP_PAYLOAD,
};

void bh_h4_reset(bh_h4_t *h4) {
    h4->state = H4_WAIT_TYPE;
    h4->ready = false;
    h4->fill = 0;
    h4->need = 0;
    h4->skip = 0;
}

// Header length of a packet type, 0 for a byte that is no packet type.
// Commands never come from a controller, so 0x01 is treated as noise.
static uint8_t header_len(uint8_t type) {
    switch (type) {
        case BH_H4_EVT:
            return BH_H4_EVT_HDR;
        case BH_H4_ACL:
            return BH_H4_ACL_HDR;
        case BH_H4_SCO:
            return 3;
        case BH_H4_ISO:
            return 4;
        default:
            return 0;
    }
}

// Payload length declared by a complete header.
static uint32_t payload_len(uint8_t type, const uint8_t *hdr) {
    switch (type) {
        case BH_H4_EVT:
            return hdr[1];
        case BH_H4_ACL:
            return bh_get_u16(hdr + 2);
        case BH_H4_SCO:
            return hdr[2];
        default: // ISO: 14-bit length
            return bh_get_u16(hdr + 2) & 0x3fff;
    }
}

bool bh_h4_filling(const bh_h4_t *h4) {
    return h4->state == H4_PAYLOAD;
}

bool bh_h4_in_packet(const bh_h4_t *h4) {
    return h4->state != H4_WAIT_TYPE;
}

// Header complete: either keep the packet (its header goes to buf first) or
// decide to skip its payload.
static void header_done(bh_h4_t *h4, uint8_t *buf, size_t cap) {
    uint32_t plen = payload_len(h4->type, h4->hdr);
    bool wanted = h4->type == BH_H4_EVT || h4->type == BH_H4_ACL;
    if (!wanted || h4->hdr_len + plen > cap) {
        h4->skipped_packets++;
        h4->skip = plen;
        h4->state = H4_SKIP_PAYLOAD;
    } else {
        memcpy(buf, h4->hdr, h4->hdr_len);
        h4->need = (uint16_t)(h4->hdr_len + plen);
        h4->state = H4_PAYLOAD;
    }
}

size_t bh_h4_feed(bh_h4_t *h4, uint8_t *buf, size_t cap, const uint8_t *data, size_t len) {
    size_t i = 0;
    h4->ready = false;
    while (i < len) {
        switch (h4->state) {
            case H4_WAIT_TYPE: {
                uint8_t type = data[i++];
                h4->hdr_len = header_len(type);
                if (h4->hdr_len == 0) {
                    h4->bad_type_bytes++;
                    break;
                }
                h4->type = type;
                h4->fill = 0;
                h4->state = H4_HEADER;
                break;
            }
            case H4_HEADER:
                h4->hdr[h4->fill++] = data[i++];
                if (h4->fill == h4->hdr_len) {
                    header_done(h4, buf, cap);
                }
                break;
            case H4_PAYLOAD: {
                size_t n = h4->need - h4->fill;
                if (n > len - i) {
                    n = len - i;
                }
                memcpy(buf + h4->fill, data + i, n);
                h4->fill += (uint16_t)n;
                i += n;
                break;
            }
            default: { // H4_SKIP_PAYLOAD
                size_t n = h4->skip;
                if (n > len - i) {
                    n = len - i;
                }
                h4->skip -= (uint32_t)n;
                i += n;
                if (h4->skip == 0) {
                    h4->state = H4_WAIT_TYPE;
                }
                break;
            }
        }
        if (h4->state == H4_PAYLOAD && h4->fill == h4->need) {
            h4->state = H4_WAIT_TYPE;
            h4->ready = true;
            return i;
        }
    }
    return i;
}
