// Our own device address (address modes, private address generation and
// rotation). The public part is in blehost.h.
#ifndef BLEHOST_BH_ADDR_H
#define BLEHOST_BH_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include "blehost.h"

// Forget the address state of the previous activation (keeps the requested
// mode).
void bh_addr_reset(void);

// Called during activation with the controller's public address (HCI
// order). Chooses and, for random modes, programs our address.
int bh_addr_start(const uint8_t public_addr[6]);

// Timer work, called from bh_poll(): rotates the private address (RPA/NRPA
// modes) when the RPA timeout has elapsed. When the controller refuses the
// change (advertising, scanning or initiating enabled) the old address stays
// and the change is retried every BH_ADDR_RETRY_MS.
void bh_addr_poll(void);

// A private address change is due (or overdue).
bool bh_addr_rotation_due(void);

// Program a due private address now. The GAP layer calls this where it has
// advertising, scanning and initiating disabled (e.g. in the middle of a
// restart), so a busy device still rotates. Returns 0 (also when nothing
// was due), -BH_EBUSY if the controller refused, or another negative errno.
int bh_addr_refresh(void);

// Our identity address (distributed in pairing): this activation's static
// random address in mode RANDOM or without a public address (made now if
// the mode did not need it yet), else the public address. 0 or a negative errno.
int bh_addr_identity(bh_addr_t *id);

// Adopt a stored identity (the Security Manager's local identity record):
// the IRK (most significant octet first) and, when id is a static random
// address, that address as our static address; the address in use follows.
void bh_addr_set_identity(const uint8_t irk[16], const bh_addr_t *id);

// A peer's address: a resolvable private address (random, top bits 01),
// and whether one was made with this IRK (most significant octet first).
bool bh_addr_is_rpa(const bh_addr_t *addr);
bool bh_addr_resolves(const uint8_t irk[16], const bh_addr_t *addr);

#endif // BLEHOST_BH_ADDR_H
