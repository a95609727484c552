// What an embedding (a MicroPython port) must provide to the host library.
//
// The host never blocks on its own: it asks the port for bytes, and waits for
// the controller only through bh_port_hci_wait(). Everything here is called
// from the VM's own thread (never from an interrupt handler).
#ifndef BLEHOST_BH_PORT_H
#define BLEHOST_BH_PORT_H

#include <stddef.h>
#include <stdint.h>

// Open the HCI transport (H4 byte stream). Idempotent: returns 0 if it is
// already open. Returns a negative errno value on failure (e.g. -ENODEV when
// no transport is configured). The transport stays open across
// deactivation and soft reset; the host resynchronises with HCI_Reset.
int bh_port_hci_open(void);

// Write a whole H4 packet (packet-type byte first). Blocks until all bytes
// are written. Returns 0 or a negative errno value.
int bh_port_hci_write(const uint8_t *buf, size_t len);

// Non-blocking read of whatever bytes have arrived, up to max. Returns the
// number of bytes copied (0 when none are pending).
size_t bh_port_hci_read(uint8_t *buf, size_t max);

// Sleep until HCI bytes may be readable, or timeout_ms elapses. Must not run
// Python code. May return early (spurious wake-ups are fine).
void bh_port_hci_wait(uint32_t timeout_ms);

// Monotonic milliseconds (wraps at 2^32).
uint32_t bh_port_ticks_ms(void);

// Fill buf with random bytes (for addresses and keys; best source available).
void bh_port_random(uint8_t *buf, size_t len);

#endif // BLEHOST_BH_PORT_H
