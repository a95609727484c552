// What the `bluetooth` module offers to a MicroPython port.
#ifndef MICROPY_INCLUDED_EXTMOD_BLUETOOTH_MPBT_PORT_H
#define MICROPY_INCLUDED_EXTMOD_BLUETOOTH_MPBT_PORT_H

// Service the HCI transport and the host: read pending controller bytes,
// run the host's state machines and timers, queue events for Python.
// Call it from VM context only (MICROPY_INTERNAL_EVENT_HOOK, a VM hook, or a
// scheduled callback), never from an interrupt handler. Cheap when Bluetooth
// is inactive or nothing is pending; safe against re-entry.
void mp_bluetooth_hci_poll(void);

// Ask for mp_bluetooth_hci_poll() to run soon from VM context. Safe to call
// from an interrupt handler (it only schedules).
void mp_bluetooth_hci_poll_soon(void);

// Called by the port on soft reset, before mp_deinit(): stops the controller
// (HCI_Reset when active) and frees all module state. Never blocks for long.
void mp_bluetooth_deinit(void);

#endif // MICROPY_INCLUDED_EXTMOD_BLUETOOTH_MPBT_PORT_H
