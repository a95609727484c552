// The HCI transport of unix builds: an H4 byte stream on a tty/pty or a TCP
// connection, and getrandom() for bh_port_random. Shared by this repo's unix
// board (ports/unix) and the glue for MicroPython's stock unix port
// (mpbt_port_unix.c); each provides bh_port_ticks_ms and
// hci_transport_opened itself. Plain POSIX: no MicroPython headers.
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <stdlib.h>

#include "bh_port.h"
#include "hci_posix.h"

// A controller that stops reading for this long is treated as gone, so that
// a write (e.g. HCI_Reset on soft reset) can never hang the board.
#define HCI_WRITE_STALL_MS (2000)

static const char *hci_spec;
static int hci_fd = -1;
// Set when the peer went away (EOF, hang-up, I/O error). The fd is then no
// longer polled or used; the next bh_port_hci_open() reopens the transport.
static int hci_dead;
// Counts bh_port_hci_read() calls, so the wait loop can tell whether anyone
// is consuming controller bytes (see hci_transport_read_calls()).
static unsigned int hci_read_calls;

void hci_transport_configure(const char *spec) {
    hci_spec = (spec != NULL && spec[0] != '\0') ? spec : NULL;
}

int hci_transport_fd(void) {
    return hci_dead ? -1 : hci_fd;
}

unsigned int hci_transport_read_calls(void) {
    // Atomic: the stock glue's helper thread reads it.
    return __atomic_load_n(&hci_read_calls, __ATOMIC_RELAXED);
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
    if (hci_spec == NULL) {
        // Not configured: the environment may name the controller.
        hci_transport_configure(getenv(HCI_TRANSPORT_ENV));
    }
    if (hci_spec == NULL) {
        fprintf(stderr, "hci: no controller: set %s to a tty/pty path or tcp:HOST:PORT\n",
            HCI_TRANSPORT_ENV);
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
    hci_transport_opened(fd);
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
