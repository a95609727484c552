// Our own device address (address modes, private address generation and
// rotation). The public part is in blehost.h.
#ifndef BLEHOST_BH_ADDR_H
#define BLEHOST_BH_ADDR_H

#include <stdint.h>
#include "blehost.h"

// Forget the address state of the previous activation (keeps the requested
// mode).
void bh_addr_reset(void);

// Called during activation with the controller's public address (HCI
// order). Chooses and, for random modes, programs our address.
int bh_addr_start(const uint8_t public_addr[6]);

#endif // BLEHOST_BH_ADDR_H
