// Host lifecycle: activation sequence, deactivation, polling. Implements the
// lifecycle part of blehost.h.
#include "bh_err.h"
#include <stdbool.h>
#include <string.h>

#include "blehost.h"
#include "bh_acl.h"
#include "bh_addr.h"
#include "bh_coc.h"
#include "bh_conn.h"
#include "bh_gap.h"
#include "bh_hci.h"
#include "bh_att.h"
#include "bh_port.h"
#include "bh_rate.h"
#include "bh_sec.h"
#include "bh_smp.h"
#include "bh_util.h"

// Set_Event_Mask: Disconnection Complete (4), Encryption Change (7), Read
// Remote Version Complete (11), Hardware Error (15), Data Buffer Overflow
// (25), Encryption Key Refresh Complete (47), LE Meta (61).
static const uint8_t event_mask[8] = { 0x90, 0x88, 0x00, 0x02, 0x00, 0x80, 0x00, 0x20 };

// LE_Set_Event_Mask: Connection Complete (0), Advertising Report (1),
// Connection Update Complete (2), Read Remote Features Complete (3), Long
// Term Key Request (4), Remote Connection Parameter Request (5), Data Length
// Change (6), Read Local P-256 Public Key Complete (7), Generate DHKey
// Complete (8), PHY Update Complete (11).
static const uint8_t le_event_mask[8] = { 0xff, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };

// Events the host handles, with the least parameter length each needs.
static const bh_hci_evt_row_t hci_events[] = {
    { BH_HCI_EVT_DISCONNECTION_COMPLETE, BH_GAP_DISCONNECTION_MIN_LEN, bh_gap_on_disconnection_complete },
    { BH_HCI_EVT_ENCRYPTION_CHANGE, BH_SEC_ENC_CHANGE_MIN_LEN, bh_sec_on_encryption_change },
    { BH_HCI_EVT_ENCRYPTION_CHANGE_V2, BH_SEC_ENC_CHANGE_V2_MIN_LEN, bh_sec_on_encryption_change_v2 },
    { BH_HCI_EVT_KEY_REFRESH_COMPLETE, BH_SEC_KEY_REFRESH_MIN_LEN, bh_sec_on_key_refresh },
};

static const bh_hci_evt_row_t le_events[] = {
    { BH_LE_SUBEVT_CONNECTION_COMPLETE, BH_GAP_CONN_COMPLETE_MIN_LEN, bh_gap_on_connection_complete },
    { BH_LE_SUBEVT_ENH_CONNECTION_COMPLETE, BH_GAP_ENH_CONN_COMPLETE_MIN_LEN, bh_gap_on_enh_connection_complete },
    { BH_LE_SUBEVT_ADVERTISING_REPORT, 1, bh_scan_on_adv_report },
    { BH_LE_SUBEVT_CONN_UPDATE_COMPLETE, BH_GAP_CONN_UPDATE_MIN_LEN, bh_gap_on_conn_update_complete },
    { BH_LE_SUBEVT_REMOTE_PARAM_REQUEST, BH_GAP_PARAM_REQUEST_MIN_LEN, bh_gap_on_remote_param_request },
    { BH_LE_SUBEVT_LTK_REQUEST, BH_SEC_LTK_REQUEST_MIN_LEN, bh_sec_on_ltk_request },
    { BH_LE_SUBEVT_P256_COMPLETE, BH_SMP_P256_MIN_LEN, bh_smp_on_p256_complete },
    { BH_LE_SUBEVT_DHKEY_COMPLETE, BH_SMP_DHKEY_MIN_LEN, bh_smp_on_dhkey_complete },
    { BH_LE_SUBEVT_DATA_LENGTH_CHANGE, BH_RATE_DL_CHANGE_MIN_LEN, bh_rate_on_data_length_change },
    { BH_LE_SUBEVT_PHY_UPDATE_COMPLETE, BH_RATE_PHY_UPDATE_MIN_LEN, bh_rate_on_phy_update },
};

static void framing_lost(void);

static const bh_hci_handlers_t host_handlers = {
    .events = hci_events,
    .n_events = sizeof(hci_events) / sizeof(hci_events[0]),
    .le_events = le_events,
    .n_le_events = sizeof(le_events) / sizeof(le_events[0]),
    .num_completed_packets = bh_acl_on_completed,
    .acl = bh_acl_on_data,
    .framing_lost = framing_lost,
};

// The protocol layers, hooked to every connection's life (bh_conn.h).
static const bh_layer_t *const host_layers[] = {
    &bh_att_layer,
    &bh_coc_layer,
    &bh_smp_layer,
    &bh_sec_layer,
    &bh_rate_layer,
};

static struct {
    bool active;
    uint8_t busy; // nesting depth of host entry points that process HCI
    uint8_t hci_version;
    uint8_t le_features[8];
    uint32_t recoveries;
    bool adv_lost; // advertising could not be restarted after a recovery
} host;

// Controller error status -> errno, local errors pass through.
static int to_errno(int err) {
    return err > 0 ? -BH_EIO : err;
}

static int cmd(uint16_t opcode, const uint8_t *params, size_t plen, uint8_t *ret, size_t ret_len) {
    return to_errno(bh_hci_cmd_sync(opcode, params, plen, ret, ret_len, ret_len, NULL,
        BH_HCI_CMD_TIMEOUT_MS));
}

static int read_buffer_sizes(void) {
    uint8_t ret[7];
    // LE_Read_Buffer_Size: LE ACL data length (2), total LE ACL packets (1).
    int err = cmd(BH_HCI_OP_LE_READ_BUFFER_SIZE, NULL, 0, ret, 3);
    if (err != 0) {
        return err;
    }
    uint16_t len = bh_get_u16(ret);
    uint16_t count = ret[2];
    if (len == 0 || count == 0) {
        // The LE buffers are shared with BR/EDR: Read_Buffer_Size gives ACL
        // length (2), SCO length (1), ACL count (2), SCO count (2).
        err = cmd(BH_HCI_OP_READ_BUFFER_SIZE, NULL, 0, ret, 7);
        if (err != 0) {
            return err;
        }
        len = bh_get_u16(ret);
        count = bh_get_u16(ret + 3);
    }
    if (len == 0 || count == 0) {
        // No buffer to send ACL data through: no link could carry anything.
        return -BH_EIO;
    }
    bh_conn_set_acl_buffers(len, count);
    return 0;
}

// LE Secure Connections needs the controller's P-256 commands (Read Local
// Supported Commands octet 34, bits 1 and 2: LE Read Local P-256 Public Key,
// LE Generate DHKey), which 4.0 and 4.1 controllers lack. A controller
// that cannot say is taken to lack them.
static void read_p256_support(void) {
    uint8_t ret[64];
    size_t n = 0;
    int err = bh_hci_cmd_sync(BH_HCI_OP_READ_LOCAL_COMMANDS, NULL, 0, ret, 0, sizeof(ret), &n,
        BH_HCI_CMD_TIMEOUT_MS);
    bh_smp_set_controller_sc(err == 0 && n > 34 && (ret[34] & 0x06) == 0x06);
}

// Controller-to-host flow control, sized so ACL data never takes more than
// its share of the receive queue (bh_config.h): a flood then cannot keep a
// command's completion out of it. A controller that refuses it (it is
// optional for LE) is used without.
static void start_host_flow_control(void) {
    #if BH_HCI_HOST_ACL_PACKETS > 0
    uint8_t p[7];
    bh_put_u16(p, BH_ACL_RX_MAX_DATA);
    p[2] = 0; // no synchronous data
    bh_put_u16(p + 3, BH_HCI_HOST_ACL_PACKETS);
    bh_put_u16(p + 5, 0);
    if (cmd(BH_HCI_OP_HOST_BUFFER_SIZE, p, sizeof(p), NULL, 0) != 0) {
        return;
    }
    uint8_t acl_on = 0x01;
    if (cmd(BH_HCI_OP_SET_C2H_FLOW_CONTROL, &acl_on, 1, NULL, 0) == 0) {
        bh_hci_host_flow_on(BH_HCI_HOST_ACL_PACKETS);
    }
    #endif
}

static int activate_sequence(void) {
    int err = bh_port_hci_open();
    if (err != 0) {
        return err < 0 ? err : -BH_ENODEV;
    }
    bh_hci_init(&host_handlers);
    bh_conn_set_layers(host_layers, sizeof(host_layers) / sizeof(host_layers[0]));
    bh_conn_reset();
    bh_gap_reset();
    bh_addr_reset();
    bh_hci_drain();

    err = cmd(BH_HCI_OP_RESET, NULL, 0, NULL, 0);
    if (err != 0) {
        return err;
    }
    bh_hci_framing_ok();
    // Read_Local_Version_Information: HCI version is the first byte.
    uint8_t version[8];
    err = cmd(BH_HCI_OP_READ_LOCAL_VERSION, NULL, 0, version, sizeof(version));
    if (err != 0) {
        return err;
    }
    host.hci_version = version[0];
    read_p256_support();

    uint8_t bd_addr[6];
    err = cmd(BH_HCI_OP_READ_BD_ADDR, NULL, 0, bd_addr, sizeof(bd_addr));
    if (err != 0) {
        return err;
    }
    err = read_buffer_sizes();
    if (err != 0) {
        return err;
    }
    start_host_flow_control();
    err = cmd(BH_HCI_OP_LE_READ_LOCAL_FEATURES, NULL, 0, host.le_features, sizeof(host.le_features));
    if (err != 0) {
        return err;
    }
    err = cmd(BH_HCI_OP_SET_EVENT_MASK, event_mask, sizeof(event_mask), NULL, 0);
    if (err != 0) {
        return err;
    }
    err = cmd(BH_HCI_OP_LE_SET_EVENT_MASK, le_event_mask, sizeof(le_event_mask), NULL, 0);
    if (err != 0) {
        return err;
    }
    bh_rate_start(host.le_features);
    return to_errno(bh_addr_start(bd_addr));
}

int bh_activate(void) {
    if (host.active) {
        return 0;
    }
    host.busy++;
    int err = activate_sequence();
    host.busy--;
    if (err != 0) {
        bh_conn_reset();
        bh_gap_reset();
        bh_addr_reset();
        return err;
    }
    host.active = true;
    return 0;
}

void bh_deactivate(uint32_t reset_timeout_ms) {
    if (!host.active) {
        return;
    }
    host.busy++;
    // Best effort: a dead controller must not prevent deactivation.
    (void)bh_hci_cmd_sync(BH_HCI_OP_RESET, NULL, 0, NULL, 0, 0, NULL, reset_timeout_ms);
    host.busy--;
    bh_hci_init(NULL);
    // Report what the reset ended (scan, connect attempt, links), then forget.
    bh_gap_shutdown();
    bh_conn_reset();
    bh_addr_reset();
    host.active = false;
}

bool bh_is_active(void) {
    return host.active;
}

// The transport lost its framing: packets were lost, so the host's view of
// the controller can no longer be trusted. Reset the controller, end every
// link and what was running (each with its event, as at deactivation),
// then bring the controller up again and restart advertising.
static void framing_lost(void) {
    host.recoveries++;
    bh_adv_state_t adv;
    bh_adv_save(&adv);
    (void)bh_hci_cmd_sync(BH_HCI_OP_RESET, NULL, 0, NULL, 0, 0, NULL, BH_HCI_RESET_SHORT_TIMEOUT_MS);
    bh_hci_init(NULL);
    bh_gap_shutdown();
    bh_conn_reset();
    int err = activate_sequence();
    if (err == 0) {
        err = bh_adv_resume(&adv);
        host.adv_lost = err != 0;
        return;
    }
    // The controller did not come back: inactive, as after active(False).
    bh_conn_reset();
    bh_gap_reset();
    bh_addr_reset();
    host.active = false;
}

void bh_host_get_stats(bh_host_stats_t *stats) {
    stats->recoveries = host.recoveries;
    stats->adv_lost = host.adv_lost;
}

void bh_poll(void) {
    if (!host.active || host.busy) {
        return;
    }
    host.busy++;
    uint32_t now_ms = bh_port_ticks_ms();
    bh_hci_poll(now_ms);
    bh_hci_process();
    if (host.active) {
        bh_gap_poll();
        bh_addr_poll();
        bh_conn_poll(bh_port_ticks_ms());
    }
    host.busy--;
}

void bh_transport_service(void) {
    if (host.active) {
        bh_hci_service();
    }
}

bool bh_poll_pending(void) {
    return host.active && bh_hci_rx_pending();
}
