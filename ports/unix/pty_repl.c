// REPL I/O of the unix board over a pty pair it creates itself.
//
// The process keeps its own fd on the slave side, in raw mode, for its whole
// life: clients (mpremote, pyserial, a terminal) may open and close the slave
// as they like without the master ever seeing EIO/HUP, and output written
// while no client is attached is not echoed back to us as input.
// posix_openpt, grantpt, unlockpt and ptsname_r.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "py/mphal.h"
#include "py/runtime.h"
#include "py/stream.h"
#include "board_hal.h"
#include "pty_repl.h"

// Input waiting for the VM. A power of two so indices can run freely.
#define PTY_REPL_RX_SIZE (4096)
// How long output may wait for a client to read before the oldest unread
// output is dropped, as a UART with nobody listening would lose it.
#define PTY_REPL_TX_STALL_MS (1000)

static int pty_master_fd = -1;
static int pty_slave_fd = -1;
static char pty_slave_path[64];

static uint8_t pty_rx_buf[PTY_REPL_RX_SIZE];
static unsigned int pty_rx_head; // next byte to take
static unsigned int pty_rx_tail; // next free slot
// While the board resets, the old VM's last words go nowhere.
static bool pty_tx_muted;

void pty_repl_reset(bool muted) {
    pty_tx_muted = muted;
    if (muted) {
        // A reset loses what the UART had received.
        pty_rx_head = pty_rx_tail;
    }
}

static unsigned int pty_rx_used(void) {
    return pty_rx_tail - pty_rx_head;
}

int pty_repl_open(void) {
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0) {
        return -errno;
    }
    if (grantpt(master) != 0 || unlockpt(master) != 0
        || ptsname_r(master, pty_slave_path, sizeof(pty_slave_path)) != 0) {
        int err = errno;
        close(master);
        return -err;
    }
    int slave = open(pty_slave_path, O_RDWR | O_NOCTTY);
    if (slave < 0) {
        int err = errno;
        close(master);
        return -err;
    }
    struct termios tio;
    if (tcgetattr(slave, &tio) != 0) {
        int err = errno;
        close(slave);
        close(master);
        return -err;
    }
    cfmakeraw(&tio);
    tcsetattr(slave, TCSANOW, &tio);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    fcntl(master, F_SETFD, FD_CLOEXEC);
    fcntl(slave, F_SETFD, FD_CLOEXEC);
    pty_master_fd = master;
    pty_slave_fd = slave;
    return 0;
}

const char *pty_repl_slave_path(void) {
    return pty_slave_path;
}

int pty_repl_wait_fd(void) {
    return pty_rx_used() < PTY_REPL_RX_SIZE ? pty_master_fd : -1;
}

void pty_repl_pump(void) {
    uint8_t chunk[256];
    for (;;) {
        unsigned int space = PTY_REPL_RX_SIZE - pty_rx_used();
        if (space == 0) {
            // Leave the rest in the kernel until the VM catches up.
            return;
        }
        ssize_t n = read(pty_master_fd, chunk, space < sizeof(chunk) ? space : sizeof(chunk));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return;
        }
        for (ssize_t i = 0; i < n; ++i) {
            if (chunk[i] == mp_interrupt_char) {
                // Like a UART IRQ: the interrupt char is consumed, not queued.
                mp_sched_keyboard_interrupt();
                continue;
            }
            pty_rx_buf[pty_rx_tail++ % PTY_REPL_RX_SIZE] = chunk[i];
        }
    }
}

int mp_hal_stdin_rx_chr(void) {
    for (;;) {
        pty_repl_pump();
        if (pty_rx_used() > 0) {
            return pty_rx_buf[pty_rx_head++ % PTY_REPL_RX_SIZE];
        }
        // Services HCI, runs scheduled callbacks, raises a pending Ctrl-C.
        mp_event_wait_indefinite();
    }
}

uintptr_t mp_hal_stdio_poll(uintptr_t poll_flags) {
    uintptr_t ready = 0;
    pty_repl_pump();
    if ((poll_flags & MP_STREAM_POLL_RD) && pty_rx_used() > 0) {
        ready |= MP_STREAM_POLL_RD;
    }
    if (poll_flags & MP_STREAM_POLL_WR) {
        ready |= MP_STREAM_POLL_WR;
    }
    return ready;
}

// Wait until the master can take more output. Input keeps being pumped so
// Ctrl-C still works while output is stuck.
static void pty_wait_writable(void) {
    uint32_t start = board_ticks_ms();
    for (;;) {
        struct pollfd pfd = { .fd = pty_master_fd, .events = POLLOUT };
        if (poll(&pfd, 1, 10) > 0 && (pfd.revents & POLLOUT)) {
            return;
        }
        pty_repl_pump();
        if (board_ticks_ms() - start >= PTY_REPL_TX_STALL_MS) {
            // Nobody is reading: discard the stale output queued on the
            // slave side to make room for new output.
            tcflush(pty_slave_fd, TCIFLUSH);
            return;
        }
    }
}

mp_uint_t mp_hal_stdout_tx_strn(const char *str, size_t len) {
    if (pty_tx_muted) {
        return len;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(pty_master_fd, str + done, len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pty_wait_writable();
        } else {
            break;
        }
    }
    return done;
}
