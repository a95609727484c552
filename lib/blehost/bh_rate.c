// Link rate: data length and PHY of each connection. See bh_rate.h.
#include "bh_rate.h"
#include "bh_hci.h"
#include "bh_util.h"

// PHY bits of LE_Set_Default_PHY / LE_Set_PHY.
#define PHY_1M_BIT (0x01)
#define PHY_2M_BIT (0x02)
#define PHY_1M (1)

static struct {
    bool dle;       // the local controller has Data Length Extension
    bool le_2m;     // the local controller has the LE 2M PHY
    bool prefer_2m; // the application lets us use it
} rate = { .prefer_2m = true };

static bool has_feature(const uint8_t f[8], unsigned octet, unsigned bit) {
    return (f[octet] >> bit) & 1;
}

static uint8_t phy_bits(void) {
    return (rate.le_2m && rate.prefer_2m) ? (PHY_1M_BIT | PHY_2M_BIT) : PHY_1M_BIT;
}

static int set_default_phy(void) {
    // All_PHYs 0: we state both preferences.
    uint8_t p[3] = { 0, phy_bits(), phy_bits() };
    return bh_hci_cmd_sync(BH_HCI_OP_LE_SET_DEFAULT_PHY, p, sizeof(p), NULL, 0, 0, NULL,
        BH_HCI_CMD_TIMEOUT_MS);
}

void bh_rate_start(const uint8_t le_features[8]) {
    rate.dle = has_feature(le_features, BH_LE_FEATURE_DLE_OCTET, BH_LE_FEATURE_DLE_BIT);
    rate.le_2m = has_feature(le_features, BH_LE_FEATURE_2M_OCTET, BH_LE_FEATURE_2M_BIT);
    if (rate.dle) {
        // The controller then starts the data length update itself on each
        // new link (5.1.9); connected() asks once more for controllers that
        // wait for the host.
        uint8_t p[4];
        bh_put_u16(p, BH_RATE_MAX_OCTETS);
        bh_put_u16(p + 2, BH_RATE_MAX_TIME_US);
        if (bh_hci_cmd_sync(BH_HCI_OP_LE_WRITE_SUGGESTED_DL, p, sizeof(p), NULL, 0, 0, NULL,
            BH_HCI_CMD_TIMEOUT_MS) != 0) {
            rate.dle = false;
        }
    }
    if (rate.le_2m && set_default_phy() != 0) {
        rate.le_2m = false;
    }
}

int bh_rate_set_2m(bool on) {
    rate.prefer_2m = on;
    return rate.le_2m ? set_default_phy() : 0;
}

bool bh_rate_get_2m(void) {
    return rate.prefer_2m;
}

static void rate_reset(void) {
    // Activation learns the controller anew (bh_rate_start); the
    // application's preference stays.
    rate.dle = false;
    rate.le_2m = false;
}

static void rate_connected(bh_conn_t *conn) {
    conn->tx_octets = conn->rx_octets = 27;
    conn->tx_phy = conn->rx_phy = PHY_1M;
    uint8_t p[7];
    bh_put_u16(p, conn->handle);
    if (rate.dle) {
        bh_put_u16(p + 2, BH_RATE_MAX_OCTETS);
        bh_put_u16(p + 4, BH_RATE_MAX_TIME_US);
        // Best effort: a full command queue leaves the link as it is.
        (void)bh_hci_cmd_async(BH_HCI_OP_LE_SET_DATA_LENGTH, p, 6, NULL, NULL);
    }
    if (rate.le_2m && rate.prefer_2m) {
        p[2] = 0;
        p[3] = PHY_1M_BIT | PHY_2M_BIT;
        p[4] = PHY_1M_BIT | PHY_2M_BIT;
        bh_put_u16(p + 5, 0); // no Coded PHY options
        (void)bh_hci_cmd_async(BH_HCI_OP_LE_SET_PHY, p, 7, NULL, NULL);
    }
}

void bh_rate_on_data_length_change(const uint8_t *p, size_t len) {
    // handle, max tx octets, tx time, max rx octets, rx time
    (void)len;
    bh_conn_t *c = bh_conn_find(bh_get_u16(p) & 0x0fff);
    if (c == NULL) {
        return;
    }
    uint16_t tx = bh_get_u16(p + 2);
    uint16_t rx = bh_get_u16(p + 6);
    // Kept for introspection only; out-of-range values from the air are
    // clamped, never trusted for sizing.
    c->tx_octets = (uint8_t)(tx > BH_RATE_MAX_OCTETS ? BH_RATE_MAX_OCTETS : tx);
    c->rx_octets = (uint8_t)(rx > BH_RATE_MAX_OCTETS ? BH_RATE_MAX_OCTETS : rx);
}

void bh_rate_on_phy_update(const uint8_t *p, size_t len) {
    // status, handle, tx PHY, rx PHY
    (void)len;
    bh_conn_t *c = bh_conn_find(bh_get_u16(p + 1) & 0x0fff);
    if (c == NULL || p[0] != BH_HCI_SUCCESS) {
        return;
    }
    c->tx_phy = p[3];
    c->rx_phy = p[4];
}

const bh_layer_t bh_rate_layer = {
    .reset = rate_reset,
    .connected = rate_connected,
};
