// GAP advertising (legacy advertising commands). See blehost.h.
#include "bh_err.h"
#include <string.h>

#include "bh_addr.h"
#include "bh_gap.h"
#include "bh_util.h"

// Legacy advertising PDU types (LE_Set_Advertising_Parameters).
#define ADV_TYPE_IND (0x00)
#define ADV_TYPE_SCAN_IND (0x02)
#define ADV_TYPE_NONCONN_IND (0x03)
// All three primary advertising channels.
#define ADV_CHANNEL_MAP_ALL (0x07)

static bh_adv_state_t adv;

void bh_adv_reset(void) {
    memset(&adv, 0, sizeof(adv));
}

void bh_adv_save(bh_adv_state_t *saved) {
    *saved = adv;
}

int bh_adv_resume(const bh_adv_state_t *saved) {
    adv = *saved;
    adv.enabled = false;
    return saved->enabled ? bh_adv_start(saved->interval, saved->connectable) : 0;
}

void bh_adv_on_connected(void) {
    adv.enabled = false;
}

bool bh_adv_is_enabled(void) {
    return adv.enabled;
}

static int store(uint8_t *dst, uint8_t *dst_len, const uint8_t *data, size_t len) {
    if (len > BH_ADV_DATA_MAX || (len > 0 && data == NULL)) {
        return -BH_EINVAL;
    }
    if (len > 0) {
        memcpy(dst, data, len);
    }
    *dst_len = (uint8_t)len;
    return 0;
}

int bh_adv_set_data(const uint8_t *data, size_t len) {
    return store(adv.data, &adv.data_len, data, len);
}

int bh_adv_set_scan_rsp(const uint8_t *data, size_t len) {
    int err = store(adv.rsp, &adv.rsp_len, data, len);
    if (err == 0) {
        adv.rsp_cleared = len == 0;
    }
    return err;
}

static int set_enable(bool on) {
    uint8_t p = on;
    return bh_gap_cmd(BH_HCI_OP_LE_SET_ADV_ENABLE, &p, 1);
}

// LE_Set_Advertising_Data and LE_Set_Scan_Response_Data share a layout:
// length, then 31 bytes (unused ones zero).
static int send_payload(uint16_t opcode, const uint8_t *data, uint8_t len) {
    uint8_t p[1 + BH_ADV_DATA_MAX] = { len };
    memcpy(p + 1, data, len);
    return bh_gap_cmd_errno(opcode, p, sizeof(p));
}

int bh_adv_stop(void) {
    if (!bh_is_active()) {
        return -BH_ENODEV;
    }
    int err = set_enable(false);
    // Older controllers refuse to disable what is not enabled: same result.
    if (err == BH_HCI_ERR_COMMAND_DISALLOWED && !adv.enabled) {
        err = 0;
    }
    if (err == 0) {
        adv.enabled = false;
    }
    return err > 0 ? -BH_EIO : err;
}

int bh_adv_start(uint16_t interval, bool connectable) {
    if (!bh_is_active()) {
        return -BH_ENODEV;
    }
    if (interval < BH_ADV_INTERVAL_MIN || interval > BH_ADV_INTERVAL_MAX) {
        return -BH_EINVAL;
    }
    // Parameters cannot change while advertising.
    if (adv.enabled) {
        int err = bh_adv_stop();
        if (err != 0) {
            return err;
        }
    }
    // A private address change that fell due is applied while advertising
    // is off (it fails harmlessly while scanning or initiating).
    (void)bh_addr_refresh();

    // Non-connectable advertising is scannable, as MicroPython's other
    // implementations make it, unless the scan response was cleared.
    uint8_t type = ADV_TYPE_IND;
    if (!connectable) {
        type = adv.rsp_cleared ? ADV_TYPE_NONCONN_IND : ADV_TYPE_SCAN_IND;
    }
    // interval min, max, type, own address type, peer address type, peer
    // address, channel map, filter policy.
    uint8_t p[15] = { 0 };
    bh_put_u16(p, interval);
    bh_put_u16(p + 2, interval);
    p[4] = type;
    p[5] = bh_own_addr_type();
    p[13] = ADV_CHANNEL_MAP_ALL;
    int err = bh_gap_cmd_errno(BH_HCI_OP_LE_SET_ADV_PARAMS, p, sizeof(p));
    if (err == 0) {
        err = send_payload(BH_HCI_OP_LE_SET_ADV_DATA, adv.data, adv.data_len);
    }
    if (err == 0) {
        err = send_payload(BH_HCI_OP_LE_SET_SCAN_RSP_DATA, adv.rsp, adv.rsp_len);
    }
    if (err == 0) {
        err = set_enable(true);
        err = err > 0 ? -BH_EIO : err;
    }
    adv.enabled = err == 0;
    adv.interval = interval;
    adv.connectable = connectable;
    return err;
}
