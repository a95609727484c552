// HAL of the unix board. REPL I/O is in pty_repl.c, time and waiting in
// board_hal.c, the HCI transport in hci_transport.c.
#ifndef MICROPY_INCLUDED_UNIX_BOARD_MPHALPORT_H
#define MICROPY_INCLUDED_UNIX_BOARD_MPHALPORT_H

#include "shared/runtime/interrupt_char.h"

// Event processing that must not block: pump REPL input, service HCI.
void board_event_hook(void);
// Sleep until REPL input or HCI bytes may be readable, or timeout_ms.
void board_wait_for_event(mp_uint_t timeout_ms);

#define MICROPY_INTERNAL_EVENT_HOOK board_event_hook()
#define MICROPY_INTERNAL_WFE(TIMEOUT_MS) board_wait_for_event(TIMEOUT_MS)

#endif // MICROPY_INCLUDED_UNIX_BOARD_MPHALPORT_H
