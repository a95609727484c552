// The `bluetooth` module's port glue for MicroPython's stock unix port
// (ports/unix of an unmodified MicroPython tree built with
// USER_C_MODULES=<this repo>/extmod and MICROPY_PY_BLUETOOTH off):
//
// - lib/blehost/bh_port.h: an H4 HCI transport on the tty/pty path or
//   tcp:HOST:PORT named by $MICROPY_BLE_HCI, opened when Bluetooth is first
//   activated; monotonic milliseconds; getrandom() bytes.
// - The poll hook: the stock port calls none of ours, so a helper thread
//   watches the HCI fd and asks for mp_bluetooth_hci_poll() through the
//   scheduler (mp_bluetooth_hci_poll_soon()) when controller bytes arrive,
//   and every few ms for the host's timers. Scheduled callbacks run between
//   bytecodes and while the VM sleeps or waits, as on a board.
//   When controller bytes wait and the VM takes none for a few ms (it is
//   blocked in a system call, e.g. reading stdin), the thread interrupts
//   that call with a signal: the port retries it after running scheduled
//   callbacks (MP_HAL_RETRY_SYSCALL), so the host still answers its peer.
// - The soft-reset hook: the stock port ends its process instead of soft
//   resetting, so at exit the controller gets an HCI_Reset (the links end,
//   peers see them drop) straight on the transport; no VM code runs then.
//
// The transport is hci_posix.c, shared with this repo's own unix board.
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "py/mpconfig.h"
#include "py/mpstate.h"
#include "py/mphal.h"
#include "py/runtime.h"
#include "bh_port.h"
#include "hci_posix.h"
#include "mpbt_port.h"

// The host's timers advance when it is polled: poll at least this often.
#define MPBT_UNIX_TICK_MS (10)

static void mpbt_unix_started(int fd);

void hci_transport_opened(int fd) {
    mpbt_unix_started(fd);
}

uint32_t bh_port_ticks_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

// -- poll and exit hooks ------------------------------------------------------

static pthread_t mpbt_unix_thread;
static pthread_t mpbt_unix_vm_thread;
static int mpbt_unix_thread_started;

// Interrupts a blocked system call of the VM's thread (no SA_RESTART).
#define MPBT_UNIX_WAKE_SIGNAL (SIGRTMIN + 6)
// Controller bytes left unread this long mean the VM is blocked.
#define MPBT_UNIX_STALL_MS (5)

static void mpbt_unix_wake_handler(int signo) {
    (void)signo;
}

static void mpbt_unix_poll_soon(void) {
    // The scheduler queue is guarded by the port's atomic section (a mutex
    // on the threaded unix port), so this is safe off the VM's thread.
    mp_uint_t state = MICROPY_BEGIN_ATOMIC_SECTION();
    mp_bluetooth_hci_poll_soon();
    MICROPY_END_ATOMIC_SECTION(state);
}

static void *mpbt_unix_watch(void *arg) {
    (void)arg;
    unsigned int reads_seen = 0;
    uint32_t stalled_since = 0;
    for (;;) {
        int fd = hci_transport_fd();
        bool readable = false;
        if (fd < 0) {
            struct timespec ts = { 0, MPBT_UNIX_TICK_MS * 1000000L };
            nanosleep(&ts, NULL);
        } else {
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            if (poll(&pfd, 1, MPBT_UNIX_TICK_MS) > 0) {
                readable = true;
                // At once, so that each packet is handled (and its event
                // raised) before the next arrives; then leave the VM a
                // moment to take the bytes before looking again.
                mpbt_unix_poll_soon();
                struct timespec ts = { 0, 200000L };
                nanosleep(&ts, NULL);
            }
        }
        mpbt_unix_poll_soon();
        unsigned int reads = hci_transport_read_calls();
        if (!readable || reads != reads_seen || MP_STATE_VM(bluetooth_ble) == NULL) {
            reads_seen = reads;
            stalled_since = bh_port_ticks_ms();
        } else if (bh_port_ticks_ms() - stalled_since >= MPBT_UNIX_STALL_MS) {
            pthread_kill(mpbt_unix_vm_thread, MPBT_UNIX_WAKE_SIGNAL);
            stalled_since = bh_port_ticks_ms();
        }
    }
    return NULL;
}

static void mpbt_unix_at_exit(void) {
    // HCI_Reset: the controller ends every link, as a board's reset does.
    static const uint8_t hci_reset[] = { 0x01, 0x03, 0x0c, 0x00 };
    if (hci_transport_fd() >= 0) {
        bh_port_hci_write(hci_reset, sizeof(hci_reset));
    }
}

static void mpbt_unix_started(int fd) {
    (void)fd;
    if (!mpbt_unix_thread_started) {
        mpbt_unix_thread_started = 1;
        atexit(mpbt_unix_at_exit);
        // Opened from VM context: this is the thread to wake.
        mpbt_unix_vm_thread = pthread_self();
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = mpbt_unix_wake_handler;
        sigemptyset(&sa.sa_mask);
        sigaction(MPBT_UNIX_WAKE_SIGNAL, &sa, NULL);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        // The thread inherits this mask: signals (Ctrl-C's SIGINT, the GC's
        // signals) stay with the VM's threads.
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        if (pthread_create(&mpbt_unix_thread, &attr, mpbt_unix_watch, NULL) != 0) {
            fprintf(stderr, "hci: cannot start the poll thread\n");
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
    }
}
