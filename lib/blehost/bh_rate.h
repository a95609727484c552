// Link rate: the host asks for the largest LL data length and for the LE 2M
// PHY on every connection, when the local controller supports them, and
// follows what the two controllers settle (Core Vol 6 Part B 5.1.9, 5.1.10;
// Vol 4 Part E 7.8.33-35, 7.8.48-49, 7.7.65.7, 7.7.65.12). A peer's
// controller without them answers the procedures with LL_UNKNOWN_RSP and
// the link stays at 27 octets on LE 1M.
#ifndef BLEHOST_BH_RATE_H
#define BLEHOST_BH_RATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bh_conn.h"
#include "bh_hci.h"

#define BH_HCI_OP_LE_SET_DATA_LENGTH        BH_HCI_OP(0x08, 0x0022)
#define BH_HCI_OP_LE_WRITE_SUGGESTED_DL     BH_HCI_OP(0x08, 0x0024)
#define BH_HCI_OP_LE_SET_DEFAULT_PHY        BH_HCI_OP(0x08, 0x0031)
#define BH_HCI_OP_LE_SET_PHY                BH_HCI_OP(0x08, 0x0032)

#define BH_LE_SUBEVT_DATA_LENGTH_CHANGE (0x07)
#define BH_LE_SUBEVT_PHY_UPDATE_COMPLETE (0x0c)
#define BH_RATE_DL_CHANGE_MIN_LEN (10)
#define BH_RATE_PHY_UPDATE_MIN_LEN (5)

// LE features (Core Vol 6 Part B 4.6), octet and bit.
#define BH_LE_FEATURE_DLE_OCTET (0)
#define BH_LE_FEATURE_DLE_BIT (5)
#define BH_LE_FEATURE_2M_OCTET (1)
#define BH_LE_FEATURE_2M_BIT (0)

// The largest LL payload and its time on LE 1M with a MIC (4.5.10).
#define BH_RATE_MAX_OCTETS (251)
#define BH_RATE_MAX_TIME_US (2120)

// At activation, after LE_Read_Local_Supported_Features: suggest the
// largest data length for every new connection and set our PHY preference.
// Commands the controller refuses leave the link rate alone (never fatal).
void bh_rate_start(const uint8_t le_features[8]);

// Use the LE 2M PHY when both controllers can (default true). Applies to
// connections made from now on, and to PHY updates the peer starts.
// 0, or -BH_E* / a controller status if the new default could not be set.
int bh_rate_set_2m(bool on);
bool bh_rate_get_2m(void);

// LE Meta events: Data Length Change, PHY Update Complete.
void bh_rate_on_data_length_change(const uint8_t *p, size_t len);
void bh_rate_on_phy_update(const uint8_t *p, size_t len);

extern const bh_layer_t bh_rate_layer;

#endif // BLEHOST_BH_RATE_H
