// Time, waiting and the VM hook of the unix board: the loop that keeps REPL
// input and the Bluetooth host serviced while the VM sleeps, waits for input
// or runs long computations.
#include <errno.h>
#include <poll.h>
#include <time.h>

#include "py/mphal.h"
#include "py/runtime.h"
#include "bh_port.h"
#include "mpbt_port.h"
#include "board_hal.h"
#include "hci_posix.h"
#include "pty_repl.h"

// Longest single sleep. The host's timers only advance when
// mp_bluetooth_hci_poll() runs, so an idle board still wakes this often.
#define BOARD_MAX_WAIT_MS (20)
// Bytecode branches/returns between looks at the fds (see board_vm_hook).
// Measured on this machine: a look (zero-timeout poll()) costs about 0.5 us
// and a tight `while i < n: i += 1` loop does about 35M branches/s, so 512
// cost ~3.6% and 2048 costs under 1%, while still reacting within ~0.1 ms.
#ifndef BOARD_VM_HOOK_PERIOD
#define BOARD_VM_HOOK_PERIOD (2048)
#endif
// Longest time bytecode may run without the host getting a chance to run
// its timers.
#define BOARD_VM_HCI_PERIOD_MS (20)

unsigned int board_vm_hook_countdown = BOARD_VM_HOOK_PERIOD;

// When the host last got to run (board_event_hook).
static uint32_t board_last_service_ms;
// HCI readability that nobody consumed must not keep waking the board.
static bool board_hci_woke;
static unsigned int board_hci_reads_at_wake;

static uint64_t board_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint32_t board_ticks_ms(void) {
    return (uint32_t)(board_monotonic_ns() / 1000000u);
}

mp_uint_t mp_hal_ticks_ms(void) {
    return (mp_uint_t)(board_monotonic_ns() / 1000000u);
}

mp_uint_t mp_hal_ticks_us(void) {
    return (mp_uint_t)(board_monotonic_ns() / 1000u);
}

mp_uint_t mp_hal_ticks_cpu(void) {
    return (mp_uint_t)board_monotonic_ns();
}

uint64_t mp_hal_time_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void board_event_hook(void) {
    board_last_service_ms = board_ticks_ms();
    pty_repl_pump();
    mp_bluetooth_hci_poll();
}

// Fills fds with the REPL fd then the HCI fd, skipping negative ones; the HCI
// fd, when present, is always the last entry.
static nfds_t board_pollfds(struct pollfd fds[2], int repl_fd, int hci_fd) {
    nfds_t nfds = 0;
    if (repl_fd >= 0) {
        fds[nfds++] = (struct pollfd) { .fd = repl_fd, .events = POLLIN };
    }
    if (hci_fd >= 0) {
        fds[nfds++] = (struct pollfd) { .fd = hci_fd, .events = POLLIN };
    }
    return nfds;
}

void board_wait_for_event(mp_uint_t timeout_ms) {
    int timeout = timeout_ms > BOARD_MAX_WAIT_MS ? BOARD_MAX_WAIT_MS : (int)timeout_ms;
    struct pollfd fds[2];
    int hci_fd = hci_transport_fd();
    // Leave HCI out if it woke the last wait and nothing has read it since (no busy loop).
    bool poll_hci = !(board_hci_woke && hci_transport_read_calls() == board_hci_reads_at_wake);
    nfds_t nfds = board_pollfds(fds, pty_repl_wait_fd(), poll_hci ? hci_fd : -1);
    board_hci_woke = false;
    if (poll(fds, nfds, timeout) > 0 && hci_fd >= 0 && fds[nfds - 1].fd == hci_fd
        && fds[nfds - 1].revents != 0) {
        board_hci_woke = true;
        board_hci_reads_at_wake = hci_transport_read_calls();
    }
}

// Runs every BOARD_VM_HOOK_PERIOD branches/returns of bytecode. It must stay
// cheap and must not run Python code: it only takes in REPL input (so Ctrl-C
// works in tight loops) and asks for an HCI poll from VM context.
void board_vm_hook(void) {
    board_vm_hook_countdown = BOARD_VM_HOOK_PERIOD;
    struct pollfd fds[2];
    int repl_fd = pty_repl_wait_fd();
    int hci_fd = hci_transport_fd();
    nfds_t nfds = board_pollfds(fds, repl_fd, hci_fd);
    if (nfds == 0 || poll(fds, nfds, 0) <= 0) {
        if (hci_fd >= 0 && board_ticks_ms() - board_last_service_ms >= BOARD_VM_HCI_PERIOD_MS) {
            board_last_service_ms = board_ticks_ms();
            mp_bluetooth_hci_poll_soon();
        }
        return;
    }
    if (repl_fd >= 0 && fds[0].revents != 0) {
        pty_repl_pump();
    }
    if (hci_fd >= 0 && fds[nfds - 1].revents != 0) {
        board_last_service_ms = board_ticks_ms();
        mp_bluetooth_hci_poll_soon();
    }
}

void mp_hal_delay_ms(mp_uint_t ms) {
    if (ms == 0) {
        mp_event_handle_nowait();
        return;
    }
    uint32_t start = board_ticks_ms();
    for (;;) {
        uint32_t elapsed = board_ticks_ms() - start;
        if (elapsed >= ms) {
            return;
        }
        mp_event_wait_ms(ms - elapsed);
    }
}

void mp_hal_delay_us(mp_uint_t us) {
    if (us >= 1000) {
        mp_hal_delay_ms(us / 1000);
        us %= 1000;
    }
    struct timespec ts = { 0, (long)us * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

unsigned long board_random_seed(void) {
    unsigned long seed;
    bh_port_random((uint8_t *)&seed, sizeof(seed));
    return seed;
}

// For MicroPython's own os.urandom (from 1.27 on).
void mp_hal_get_random(size_t n, void *buf) {
    bh_port_random(buf, n);
}

// bh_port.h and hci_posix.h: the board's clock, and nothing to do when the
// transport opens (the board's wait loop polls its fd).
uint32_t bh_port_ticks_ms(void) {
    return board_ticks_ms();
}

void hci_transport_opened(int fd) {
    (void)fd;
}
