// GAP scanning (legacy scan commands, legacy advertising reports): the
// application's scan, and the host's own (bh_gap.c looking for a bonded peer
// that advertises with private addresses). The controller scans while
// either wants it. See blehost.h and bh_gap.h.
#include "bh_err.h"
#include <string.h>

#include "bh_addr.h"
#include "bh_gap.h"
#include "bh_port.h"
#include "bh_util.h"

// One report of an LE Advertising Report event: event type, address type,
// address, data length, data, RSSI.
#define REPORT_FIXED (1 + 1 + 6 + 1 + 1)
// Legacy report event types 0..4 (SCAN_RSP is the last).
#define REPORT_TYPE_MAX (0x04)
// The host's own scan: passive, continuous, 30 ms.
#define OWN_SCAN_INTERVAL (0x0030)

static struct {
    bool active;          // the application's scan
    bool own;             // the host's scan
    uint32_t start_ms;
    uint32_t duration_ms; // 0: until stopped
    uint32_t malformed;   // advertising report events dropped
} scan;

void bh_scan_reset(void) {
    memset(&scan, 0, sizeof(scan));
}

bool bh_scan_is_active(void) {
    return scan.active;
}

static int set_enable(bool on) {
    // enable, filter duplicates (off: every PDU is a result)
    uint8_t p[2] = { on, 0 };
    return bh_gap_cmd(BH_HCI_OP_LE_SET_SCAN_ENABLE, p, sizeof(p));
}

// The scan is over for the user: one event, whatever the controller says.
static void finish(void) {
    if (scan.active) {
        scan.active = false;
        bh_evt_scan_done();
    }
}

int bh_scan_stop(void) {
    if (!bh_is_active()) {
        return -BH_ENODEV;
    }
    if (!scan.active) {
        return 0;
    }
    // The host's own scan goes on with the application's parameters.
    int err = scan.own ? 0 : set_enable(false);
    finish();
    return err > 0 ? -BH_EIO : err;
}

static int set_params_and_enable(bool active, uint16_t interval, uint16_t window) {
    (void)bh_addr_refresh();
    // type, interval, window, own address type, filter policy (accept all)
    uint8_t p[7] = { active };
    bh_put_u16(p + 1, interval);
    bh_put_u16(p + 3, window);
    p[5] = bh_own_addr_type();
    int err = bh_gap_cmd_errno(BH_HCI_OP_LE_SET_SCAN_PARAMS, p, sizeof(p));
    if (err == 0) {
        err = set_enable(true);
        err = err > 0 ? -BH_EIO : err;
    }
    return err;
}

int bh_scan_own(bool on) {
    if (on == scan.own) {
        return 0;
    }
    scan.own = on;
    if (scan.active) {
        return 0; // the application's scan carries on, reports shared
    }
    int err = on ? set_params_and_enable(false, OWN_SCAN_INTERVAL, OWN_SCAN_INTERVAL) : set_enable(false);
    if (err != 0 && on) {
        scan.own = false;
    }
    return err > 0 ? -BH_EIO : err;
}

int bh_scan_start(uint32_t duration_ms, uint16_t interval, uint16_t window, bool active) {
    if (!bh_is_active()) {
        return -BH_ENODEV;
    }
    if (interval < BH_SCAN_INTERVAL_MIN || interval > BH_SCAN_INTERVAL_MAX
        || window < BH_SCAN_INTERVAL_MIN || window > interval) {
        return -BH_EINVAL;
    }
    // Parameters cannot change while scanning.
    if (scan.active || scan.own) {
        int err = set_enable(false);
        if (err < 0) {
            finish();
            return err;
        }
    }
    int err = set_params_and_enable(active, interval, window);
    if (err != 0) {
        // A replaced scan that cannot restart has ended.
        finish();
        return err;
    }
    scan.active = true;
    scan.start_ms = bh_port_ticks_ms();
    scan.duration_ms = duration_ms;
    return 0;
}

void bh_scan_poll(void) {
    if (scan.active && scan.duration_ms != 0
        && (uint32_t)(bh_port_ticks_ms() - scan.start_ms) >= scan.duration_ms) {
        if (!scan.own) {
            (void)set_enable(false);
        }
        finish();
    }
}

void bh_scan_shutdown(void) {
    finish();
    bh_scan_reset();
}

// Walk the reports of one event: with deliver false only check that every
// report is whole and sane; with deliver true hand them to the scans that
// run.
static bool walk_reports(const uint8_t *p, size_t len, bool deliver) {
    uint8_t n = p[0];
    size_t pos = 1;
    for (uint8_t i = 0; i < n; i++) {
        if (len - pos < REPORT_FIXED) {
            return false;
        }
        const uint8_t *r = p + pos;
        uint8_t data_len = r[8];
        if (data_len > BH_ADV_DATA_MAX || len - pos - REPORT_FIXED < data_len
            || r[0] > REPORT_TYPE_MAX) {
            return false;
        }
        if (deliver) {
            // Identity address types 2/3 (resolved RPA) report as 0/1.
            bh_addr_t addr = { .type = r[1] & 1 };
            memcpy(addr.val, r + 2, 6);
            if (scan.own) {
                bh_gap_on_adv_seen(&addr, r[0]);
            }
            if (scan.active) {
                bh_evt_scan_result(&addr, r[0], (int8_t)r[9 + data_len], r + 9, data_len);
            }
        }
        pos += REPORT_FIXED + data_len;
    }
    return true;
}

void bh_scan_on_adv_report(const uint8_t *p, size_t len) {
    // Num_Reports (1..25), then the reports one after the other. The whole
    // event is checked before anything is delivered: one bad length makes
    // every offset after it meaningless.
    if (len < 1 || p[0] == 0 || !walk_reports(p, len, false)) {
        scan.malformed++;
        return;
    }
    // Reports still in flight after a stop are not results of any scan.
    if (scan.active || scan.own) {
        walk_reports(p, len, true);
    }
}
