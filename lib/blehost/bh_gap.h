// GAP: our own address and connection establishment/teardown events.
#ifndef BLEHOST_BH_GAP_H
#define BLEHOST_BH_GAP_H

#include <stddef.h>
#include <stdint.h>
#include "blehost.h"

#define BH_LE_SUBEVT_CONNECTION_COMPLETE (0x01)
#define BH_LE_SUBEVT_ENH_CONNECTION_COMPLETE (0x0a)

// Forget the address state of the previous activation (keeps the requested
// mode).
void bh_gap_reset(void);

// Called during activation with the controller's public address (HCI
// order). Chooses and, for random mode, programs our address.
int bh_gap_start(const uint8_t public_addr[6]);

// The address type we use as "own address type" in HCI commands.
uint8_t bh_gap_own_addr_type(void);

// HCI event handlers.
void bh_gap_on_le_meta(uint8_t subevent, const uint8_t *params, size_t len);
void bh_gap_on_disconnection_complete(const uint8_t *params, size_t len);

#endif // BLEHOST_BH_GAP_H
