// What an embedding (a MicroPython port) must provide to the host library.
//
// The host never blocks on its own: it asks the port for packets, and waits
// for the controller only through bh_port_hci_wait(). Everything here is
// called from the VM's own thread (never from an interrupt handler).
// Errors are the host's own numbers (bh_err.h), negated.
#ifndef BLEHOST_BH_PORT_H
#define BLEHOST_BH_PORT_H

#include <stddef.h>
#include <stdint.h>
#include "bh_config.h"
#include "bh_err.h"

// HCI packet types (the H4 indicator values, also used by packet ports).
#define BH_HCI_PKT_CMD (0x01)
#define BH_HCI_PKT_ACL (0x02)
#define BH_HCI_PKT_EVT (0x04)

// Open the HCI transport. Idempotent: returns 0 if it is already open;
// -BH_ENODEV when no transport is configured or it cannot be opened. The
// transport stays open across deactivation and soft reset; the host
// resynchronises with HCI_Reset.
int bh_port_hci_open(void);

// ---- packet level: what the host calls ----
// Send one whole packet of a type (command or ACL): its header and payload,
// without any transport framing. Blocks until handed over. 0 or -BH_E*.
// Only for ports without H4 framing (BH_PORT_H4 0): with it the host writes
// framed packets with bh_port_hci_write itself.
int bh_port_hci_send(uint8_t type, const uint8_t *pkt, size_t len);

// Take the next whole packet from the controller, if one has arrived: copy
// its header and payload into buf (at most max bytes; longer packets are
// dropped by the transport) and set *type. The host passes the same buffer
// on every call and leaves it alone in between (bh_h4_port.c assembles a
// packet in it as its bytes arrive). Returns its length, 0 when no
// whole packet is waiting, or -BH_EPROTO when the transport lost its
// framing (the host then resets the controller and recovers). Never blocks.
int bh_port_hci_recv(uint8_t *type, uint8_t *buf, size_t max);

// Sleep until HCI input may be available, or timeout_ms elapses. Must not run
// Python code. May return early (spurious wake-ups are fine).
void bh_port_hci_wait(uint32_t timeout_ms);

// Monotonic milliseconds (wraps at 2^32).
uint32_t bh_port_ticks_ms(void);

// Fill buf with random bytes from a cryptographic source. Returns 0, or
// -BH_ENOSYS when the port has none: the host then uses the controller's
// HCI_LE_Rand (keys, nonces, passkeys and addresses all come from here).
int bh_port_random(uint8_t *buf, size_t len);

// ---- byte level: for transports that carry H4 framing (UART, pty, TCP) ----
// With BH_PORT_H4 (the default), the host writes each packet, type byte
// first, with bh_port_hci_write, and lib/blehost/bh_h4_port.c implements
// bh_port_hci_recv over bh_port_hci_read; a port with a packet transport
// (USB, SPI, a vendor API) builds with -DBH_PORT_H4=0 and provides
// bh_port_hci_send/recv itself.
#if BH_PORT_H4
// Write all of buf (one H4 packet, type byte first). 0 or -BH_E*.
int bh_port_hci_write(const uint8_t *buf, size_t len);
// Non-blocking read of whatever bytes have arrived, up to max.
size_t bh_port_hci_read(uint8_t *buf, size_t max);
#endif

#endif // BLEHOST_BH_PORT_H
