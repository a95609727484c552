// The unix board's HCI transport: an H4 byte stream on a tty/pty or a TCP
// connection. It implements lib/blehost/bh_port.h; this header is what the
// rest of the board needs from it.
#ifndef MICROPY_INCLUDED_UNIX_BOARD_HCI_TRANSPORT_H
#define MICROPY_INCLUDED_UNIX_BOARD_HCI_TRANSPORT_H

// Remember where the controller is: a tty/pty path or "tcp:HOST:PORT".
// NULL means none (bh_port_hci_open() then fails with -ENODEV). Nothing is
// opened until the host asks.
void hci_transport_configure(const char *spec);

// The open transport's fd for poll(), or -1 when closed or dead.
int hci_transport_fd(void);

// How many times the host has asked for HCI bytes. While it does not ask
// (Bluetooth inactive), readable HCI bytes must not keep waking the board.
unsigned int hci_transport_read_calls(void);

#endif // MICROPY_INCLUDED_UNIX_BOARD_HCI_TRANSPORT_H
