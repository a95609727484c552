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
// The transport is the same as ports/unix/hci_transport.c of this repo's
// own unix board (kept apart so that each builds without the other).
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "py/mpconfig.h"
#include "py/mpstate.h"
#include "py/mphal.h"
#include "py/runtime.h"
#include "bh_port.h"
#include "mpbt_port.h"

#define MPBT_UNIX_HCI_ENV "MICROPY_BLE_HCI"
// The host's timers advance when it is polled: poll at least this often.
#define MPBT_UNIX_TICK_MS (10)

static void mpbt_unix_started(int fd);

// Counts bh_port_hci_read() calls: the helper thread tells from it whether
// the VM is taking controller bytes or is blocked (e.g. in a read of stdin).
static unsigned int hci_read_calls;

// A controller that stops reading for this long is treated as gone, so that
// a write (e.g. HCI_Reset on soft reset) can never hang the board.
#define HCI_WRITE_STALL_MS (2000)

static const char *hci_spec;
static int hci_spec_read;
static int hci_fd = -1;
// Set when the peer went away (EOF, hang-up, I/O error). The fd is then no
// longer polled or used; the next bh_port_hci_open() reopens the transport.
static int hci_dead;

static int hci_transport_fd(void) {
    return hci_dead ? -1 : hci_fd;
}

static void hci_mark_dead(const char *why, int err) {
    if (!hci_dead) {
        hci_dead = 1;
        fprintf(stderr, "hci: transport %s: %s\n", why, err ? strerror(err) : "closed by peer");
    }
}

static int hci_open_tty(const char *path) {
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct termios tio;
    if (tcgetattr(fd, &tio) == 0) {
        // Raw 8N1, no flow control: H4 bytes must pass untouched.
        cfmakeraw(&tio);
        tio.c_cflag &= ~(CSIZE | PARENB | CSTOPB | CRTSCTS);
        tio.c_cflag |= CS8 | CLOCAL | CREAD;
        // VMIN 1 (as cfmakeraw sets it): with O_NONBLOCK an empty read then
        // fails with EAGAIN, so a 0 return really means the peer hung up.
        tio.c_cc[VMIN] = 1;
        tio.c_cc[VTIME] = 0;
        cfsetispeed(&tio, B115200);
        cfsetospeed(&tio, B115200);
        if (tcsetattr(fd, TCSANOW, &tio) != 0) {
            int err = errno;
            close(fd);
            return -err;
        }
    } else if (errno != ENOTTY) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

// spec is "HOST:PORT"; HOST may be "[v6-address]".
static int hci_open_tcp(const char *spec) {
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec || colon[1] == '\0') {
        return -EINVAL;
    }
    char host[256];
    size_t host_len = (size_t)(colon - spec);
    if (host_len >= 2 && spec[0] == '[' && spec[host_len - 1] == ']') {
        spec += 1;
        host_len -= 2;
    }
    if (host_len >= sizeof(host)) {
        return -EINVAL;
    }
    memcpy(host, spec, host_len);
    host[host_len] = '\0';

    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *found;
    if (getaddrinfo(host, colon + 1, &hints, &found) != 0) {
        return -EHOSTUNREACH;
    }
    int err = -ECONNREFUSED;
    int fd = -1;
    for (struct addrinfo *ai = found; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        err = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    if (fd < 0) {
        return err;
    }
    // HCI packets are small and latency-bound: send each one at once.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int bh_port_hci_open(void) {
    if (hci_fd >= 0 && !hci_dead) {
        return 0;
    }
    if (hci_fd >= 0) {
        // The controller went away (e.g. the radio was restarted): try again
        // from scratch rather than stay broken until the board restarts.
        close(hci_fd);
        hci_fd = -1;
        hci_dead = 0;
    }
    if (!hci_spec_read) {
        const char *spec = getenv(MPBT_UNIX_HCI_ENV);
        hci_spec = (spec != NULL && spec[0] != '\0') ? spec : NULL;
        hci_spec_read = 1;
    }
    if (hci_spec == NULL) {
        fprintf(stderr, "hci: no controller: set %s to a tty/pty path or tcp:HOST:PORT\n",
            MPBT_UNIX_HCI_ENV);
        return -BH_ENODEV;
    }
    int fd;
    if (strncmp(hci_spec, "tcp:", 4) == 0) {
        fd = hci_open_tcp(hci_spec + 4);
    } else {
        fd = hci_open_tty(hci_spec);
    }
    if (fd < 0) {
        fprintf(stderr, "hci: cannot open %s: %s\n", hci_spec, strerror(-fd));
        return -BH_ENODEV;
    }
    hci_fd = fd;
    mpbt_unix_started(fd);
    return 0;
}

int bh_port_hci_write(const uint8_t *buf, size_t len) {
    if (hci_fd < 0 || hci_dead) {
        return hci_fd < 0 ? -BH_ENODEV : -BH_EIO;
    }
    uint32_t stall_start = bh_port_ticks_ms();
    while (len > 0) {
        ssize_t n = write(hci_fd, buf, len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            stall_start = bh_port_ticks_ms();
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            uint32_t waited = bh_port_ticks_ms() - stall_start;
            if (waited >= HCI_WRITE_STALL_MS) {
                hci_mark_dead("write", ETIMEDOUT);
                return -BH_ETIMEDOUT;
            }
            struct pollfd pfd = { .fd = hci_fd, .events = POLLOUT };
            poll(&pfd, 1, (int)(HCI_WRITE_STALL_MS - waited));
            continue;
        }
        int err = n < 0 ? errno : EPIPE;
        hci_mark_dead("write", err);
        return -BH_EIO;
    }
    return 0;
}

size_t bh_port_hci_read(uint8_t *buf, size_t max) {
    __atomic_add_fetch(&hci_read_calls, 1, __ATOMIC_RELAXED);
    if (hci_fd < 0 || hci_dead || max == 0) {
        return 0;
    }
    for (;;) {
        ssize_t n = read(hci_fd, buf, max);
        if (n > 0) {
            return (size_t)n;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        // EOF or an error such as EIO (the pty's other side closed).
        hci_mark_dead("read", n < 0 ? errno : 0);
        return 0;
    }
}

void bh_port_hci_wait(uint32_t timeout_ms) {
    int fd = hci_transport_fd();
    if (fd < 0) {
        // Nothing can arrive; still honour the timeout so callers don't spin.
        struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        return;
    }
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int timeout = timeout_ms > (uint32_t)0x7fffffff ? -1 : (int)timeout_ms;
    if (poll(&pfd, 1, timeout) > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
        && !(pfd.revents & POLLIN)) {
        hci_mark_dead("poll", 0);
    }
}

uint32_t bh_port_ticks_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

int bh_port_random(uint8_t *buf, size_t len) {
    // The kernel's CSPRNG; no weaker fallback (keys and passkeys come from here).
    while (len > 0) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -BH_EIO;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
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
        unsigned int reads = __atomic_load_n(&hci_read_calls, __ATOMIC_RELAXED);
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
    if (hci_fd >= 0 && !hci_dead) {
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
