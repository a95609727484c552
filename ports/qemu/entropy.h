// Random numbers for the board (Bluetooth addresses and keys, `random`).
//
// The emulated MPS2 has no TRNG. Entropy comes from timing: without -icount
// QEMU's timers follow the host clock, so TIMER0 sampled at boot
// (host scheduling jitter while the guest spins) and at every UART receive
// interrupt (when the host delivers bytes) varies from run to run. Samples
// are hashed into the state of a xoshiro128** generator. Good enough for
// distinct addresses on a virtual radio; not a cryptographic source.
#ifndef MICROPY_INCLUDED_QEMU_ENTROPY_H
#define MICROPY_INCLUDED_QEMU_ENTROPY_H

#include <stddef.h>
#include <stdint.h>

// Collect boot-time samples; needs clock_init() done. Takes a few ms.
void entropy_init(void);

// Stir in a sample; safe from an interrupt handler.
void entropy_add_sample(uint32_t sample);

uint32_t entropy_u32(void);

void entropy_fill(uint8_t *buf, size_t len);

#endif // MICROPY_INCLUDED_QEMU_ENTROPY_H
