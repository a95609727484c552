// Link security state: Encryption Change (v1 and v2), Encryption Key
// Refresh Complete and the LE Long Term Key Request, kept on the connection
// (bh_conn_t.sec) and reported to the embedding when it changes. Until a
// Security Manager provides keys, every LTK request is refused with a
// Negative Reply, so a peer that believes it is bonded gets a clean
// failure (PIN or Key Missing) instead of a link-layer timeout.
#ifndef BLEHOST_BH_SEC_H
#define BLEHOST_BH_SEC_H

#include <stddef.h>
#include <stdint.h>

#define BH_LE_SUBEVT_LTK_REQUEST (0x05)

// HCI event handlers (bh_host.c's dispatch tables give the least lengths).
#define BH_SEC_ENC_CHANGE_MIN_LEN (4)    // status, handle, enabled
#define BH_SEC_ENC_CHANGE_V2_MIN_LEN (5) // ... key size
#define BH_SEC_KEY_REFRESH_MIN_LEN (3)   // status, handle
#define BH_SEC_LTK_REQUEST_MIN_LEN (12)  // handle, rand, ediv
void bh_sec_on_encryption_change(const uint8_t *p, size_t len);
void bh_sec_on_encryption_change_v2(const uint8_t *p, size_t len);
void bh_sec_on_key_refresh(const uint8_t *p, size_t len);
void bh_sec_on_ltk_request(const uint8_t *p, size_t len);

// Counters for tests and diagnostics.
typedef struct _bh_sec_stats_t {
    uint32_t ltk_refused;  // LTK requests answered with a Negative Reply
    uint32_t enc_failed;   // Encryption Change / Key Refresh with an error
} bh_sec_stats_t;
void bh_sec_get_stats(bh_sec_stats_t *stats);
void bh_sec_reset(void);

struct _bh_layer_t;
extern const struct _bh_layer_t bh_sec_layer;

#endif // BLEHOST_BH_SEC_H
