// GAP: connection establishment/teardown events.
#ifndef BLEHOST_BH_GAP_H
#define BLEHOST_BH_GAP_H

#include <stddef.h>
#include <stdint.h>
#include "blehost.h"

#define BH_LE_SUBEVT_CONNECTION_COMPLETE (0x01)
#define BH_LE_SUBEVT_ENH_CONNECTION_COMPLETE (0x0a)

// HCI event handlers.
void bh_gap_on_le_meta(uint8_t subevent, const uint8_t *params, size_t len);
void bh_gap_on_disconnection_complete(const uint8_t *params, size_t len);

#endif // BLEHOST_BH_GAP_H
