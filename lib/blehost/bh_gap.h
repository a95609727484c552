// GAP inside the host: advertising (bh_adv.c), scanning (bh_scan.c),
// connection establishment, teardown and parameter updates (bh_gap.c).
// The public half of each is in blehost.h; this header is what bh_host.c
// and the GAP files use among themselves.
#ifndef BLEHOST_BH_GAP_H
#define BLEHOST_BH_GAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "blehost.h"
#include "bh_hci.h"

#define BH_HCI_OP_LE_SET_ADV_PARAMS         BH_HCI_OP(0x08, 0x0006)
#define BH_HCI_OP_LE_SET_ADV_DATA           BH_HCI_OP(0x08, 0x0008)
#define BH_HCI_OP_LE_SET_SCAN_RSP_DATA      BH_HCI_OP(0x08, 0x0009)
#define BH_HCI_OP_LE_SET_ADV_ENABLE         BH_HCI_OP(0x08, 0x000a)
#define BH_HCI_OP_LE_SET_SCAN_PARAMS        BH_HCI_OP(0x08, 0x000b)
#define BH_HCI_OP_LE_SET_SCAN_ENABLE        BH_HCI_OP(0x08, 0x000c)
#define BH_HCI_OP_LE_CREATE_CONN            BH_HCI_OP(0x08, 0x000d)
#define BH_HCI_OP_LE_CREATE_CONN_CANCEL     BH_HCI_OP(0x08, 0x000e)
#define BH_HCI_OP_LE_CONN_UPDATE            BH_HCI_OP(0x08, 0x0013)
#define BH_HCI_OP_LE_REMOTE_PARAM_REPLY     BH_HCI_OP(0x08, 0x0020)
#define BH_HCI_OP_LE_REMOTE_PARAM_NEG_REPLY BH_HCI_OP(0x08, 0x0021)

#define BH_LE_SUBEVT_CONNECTION_COMPLETE (0x01)
#define BH_LE_SUBEVT_ADVERTISING_REPORT (0x02)
#define BH_LE_SUBEVT_CONN_UPDATE_COMPLETE (0x03)
#define BH_LE_SUBEVT_REMOTE_PARAM_REQUEST (0x06)
#define BH_LE_SUBEVT_ENH_CONNECTION_COMPLETE (0x0a)

// HCI status codes the GAP layer acts on.
#define BH_HCI_ERR_UNKNOWN_CONN_ID (0x02)
#define BH_HCI_ERR_COMMAND_DISALLOWED (0x0c)
#define BH_HCI_ERR_LOCAL_HOST_TERMINATED (0x16)
#define BH_HCI_ERR_UNSPECIFIED (0x1f)
#define BH_HCI_ERR_UNACCEPTABLE_CONN_PARAMS (0x3b)

// Send one command and wait for it: 0, a controller status (>0) or -errno.
int bh_gap_cmd(uint16_t opcode, const uint8_t *params, size_t plen);
// The same, folded into 0 / -errno (controller refusals become -BH_EIO).
int bh_gap_cmd_errno(uint16_t opcode, const uint8_t *params, size_t plen);

// Lifecycle, called by bh_host.c. reset: forget everything (activation and
// after deactivation). shutdown: the controller was reset while active;
// report the end of what was running (scan done, attempt failed, links
// closed) to the embedding, then forget it.
void bh_gap_reset(void);
void bh_gap_shutdown(void);
// Timers and deferred work, from bh_poll() (never nested in a command wait).
void bh_gap_poll(void);

// HCI event handlers, with the least parameter lengths they need.
#define BH_GAP_CONN_COMPLETE_MIN_LEN (18)
#define BH_GAP_ENH_CONN_COMPLETE_MIN_LEN (30)
#define BH_GAP_CONN_UPDATE_MIN_LEN (9)
#define BH_GAP_PARAM_REQUEST_MIN_LEN (10)
#define BH_GAP_DISCONNECTION_MIN_LEN (4)
void bh_gap_on_connection_complete(const uint8_t *params, size_t len);
void bh_gap_on_enh_connection_complete(const uint8_t *params, size_t len);
void bh_gap_on_conn_update_complete(const uint8_t *params, size_t len);
void bh_gap_on_remote_param_request(const uint8_t *params, size_t len);
void bh_gap_on_disconnection_complete(const uint8_t *params, size_t len);

// Ask the controller for new parameters on a link we are central of
// (interval min, max, latency, supervision timeout): queued, its LE
// Connection Update Complete reports the outcome.
int bh_gap_update_params(uint16_t conn_handle, const uint16_t params[4]);

typedef struct _bh_gap_stats_t {
    uint32_t refusals_lost; // replies that found the command queue full
} bh_gap_stats_t;
void bh_gap_get_stats(bh_gap_stats_t *stats);

// Peer-requested parameters (interval min, max, latency, supervision
// timeout in controller units) that are valid and that we accept.
bool bh_gap_params_acceptable(const uint16_t req[4]);

// bh_l2cap_sig.c: install the LE signalling channel handler.
void bh_l2cap_sig_init(void);

// bh_adv.c
typedef struct _bh_adv_state_t {
    bool enabled;
    bool connectable;
    bool rsp_cleared; // scan response explicitly set empty: not scannable
    uint16_t interval;
    uint8_t data_len;
    uint8_t rsp_len;
    uint8_t data[BH_ADV_DATA_MAX];
    uint8_t rsp[BH_ADV_DATA_MAX];
} bh_adv_state_t;
void bh_adv_reset(void);
// Recovery after a controller reset: what advertising was, and restart it
// (0 when it was off or restarted).
void bh_adv_save(bh_adv_state_t *saved);
int bh_adv_resume(const bh_adv_state_t *saved);
// The controller stopped advertising because a central connected.
void bh_adv_on_connected(void);

// bh_scan.c
void bh_scan_reset(void);
void bh_scan_shutdown(void);
void bh_scan_poll(void);
void bh_scan_on_adv_report(const uint8_t *params, size_t len);
// The host's own scan (reports to bh_gap_on_adv_seen, none to the
// application; it shares an application's scan that runs meanwhile).
// From API calls and bh_gap_poll() only (synchronous commands).
int bh_scan_own(bool on);
// An advertiser the host's own scan heard (legacy report type).
void bh_gap_on_adv_seen(const bh_addr_t *addr, uint8_t adv_type);

#endif // BLEHOST_BH_GAP_H
