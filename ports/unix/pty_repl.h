// The unix board's REPL "UART": a pty pair made by the process itself.
// Output goes to the master; input is pumped from the master into a bounded
// ring buffer, and Ctrl-C seen there interrupts running code.
#ifndef MICROPY_INCLUDED_UNIX_BOARD_PTY_REPL_H
#define MICROPY_INCLUDED_UNIX_BOARD_PTY_REPL_H

#include <stdbool.h>

// Create the pty pair, hold the slave open in raw mode. Returns 0 or -errno.
int pty_repl_open(void);

// Path of the slave side, e.g. "/dev/pts/3" (valid after pty_repl_open).
const char *pty_repl_slave_path(void);

// The master fd for poll(), or -1 when the ring buffer is full (then there
// is no point in waking for input).
int pty_repl_wait_fd(void);

// Move whatever input has arrived into the ring buffer. Never blocks.
void pty_repl_pump(void);

// A reset of the board begins (muted true: output is dropped and queued
// input discarded, as a UART loses them in a reset) or ends (false).
void pty_repl_reset(bool muted);

#endif // MICROPY_INCLUDED_UNIX_BOARD_PTY_REPL_H
