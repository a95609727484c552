// The HCI transport of unix builds (hci_posix.c): an H4 byte stream on a
// tty/pty or a TCP connection. It implements the transport and random parts
// of lib/blehost/bh_port.h; this header is what the rest of a build needs.
#ifndef MICROPY_INCLUDED_BLUETOOTH_HCI_POSIX_H
#define MICROPY_INCLUDED_BLUETOOTH_HCI_POSIX_H

// Where the controller is when hci_transport_configure() named none.
#define HCI_TRANSPORT_ENV "MICROPY_BLE_HCI"

// Remember where the controller is: a tty/pty path or "tcp:HOST:PORT".
// NULL means none (bh_port_hci_open() then reads $MICROPY_BLE_HCI, and fails
// with -BH_ENODEV without it). Nothing is opened until the host asks.
void hci_transport_configure(const char *spec);

// The open transport's fd for poll(), or -1 when closed or dead.
int hci_transport_fd(void);

// How many times the host has asked for HCI bytes. While it does not ask
// (Bluetooth inactive), readable HCI bytes must not keep waking the board.
unsigned int hci_transport_read_calls(void);

// Called once the transport is open (provided by the build using it).
void hci_transport_opened(int fd);

#endif // MICROPY_INCLUDED_BLUETOOTH_HCI_POSIX_H
