// Security Manager channel (L2CAP CID 6) of a host that does not pair yet.
// A peer's Pairing Request (we are peripheral) or Security Request (we are
// central) is answered at once with Pairing Failed, reason Pairing Not
// Supported (Core Vol 3 Part H 3.5.5, 3.6.7), so the peer ends its procedure
// now instead of after the 30 s SMP timeout. Anything else on the channel
// belongs to a pairing we never started and is ignored.
#include "bh_conn.h"
#include "bh_smp.h"

#define SMP_PAIRING_REQUEST (0x01)
#define SMP_PAIRING_FAILED (0x05)
#define SMP_SECURITY_REQUEST (0x0b)
#define SMP_REASON_PAIRING_NOT_SUPPORTED (0x05)

static bool smp_rx(uint16_t handle, uint16_t cid, const uint8_t *data, size_t len) {
    (void)cid;
    bh_conn_t *c = bh_conn_find(handle);
    if (len == 0 || c == NULL) {
        return true;
    }
    uint8_t expected = c->role == BH_ROLE_CENTRAL ? SMP_SECURITY_REQUEST : SMP_PAIRING_REQUEST;
    if (data[0] == expected) {
        static const uint8_t rsp[2] = { SMP_PAIRING_FAILED, SMP_REASON_PAIRING_NOT_SUPPORTED };
        (void)bh_l2cap_send(handle, BH_L2CAP_CID_SMP, rsp, sizeof(rsp));
    }
    return true;
}

const bh_layer_t bh_smp_layer = {
    .reset = bh_smp_init,
};

void bh_smp_init(void) {
    (void)bh_l2cap_set_rx_handler(BH_L2CAP_CID_SMP, smp_rx);
}
