// The unix board: MicroPython as a Linux process that behaves like a board.
//
//   micropython [--hci SPEC] [--pty-link PATH] [--heap BYTES] [--fs PATH] [--fs-size BYTES]
//
// The REPL (friendly, raw, raw-paste, soft reset) runs on a pty that the
// process creates; its slave path is printed as one "repl: /dev/pts/N" line
// on stdout. SPEC (or $MICROPY_BLE_HCI) names the controller's H4 stream: a
// tty/pty path or tcp:HOST:PORT. PATH (--fs) is the board's flash image,
// mounted at / with littlefs; without it the board has no filesystem.
//
// Resets: a soft reset (Ctrl-D, machine.soft_reset()) starts a fresh VM;
// machine.reset() and machine.deepsleep() do the same as a hard reset (the
// REPL back in friendly mode, reset_cause() HARD_RESET/DEEPSLEEP_RESET, no
// "soft reboot" line) while the process, its pty and its flash stay: the
// REPL port is kept, as on a board whose REPL is on a UART.
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "py/gc.h"
#include "py/mphal.h"
#include "py/runtime.h"
#include "py/stackctrl.h"
#include "py/mphal.h"
#include "shared/readline/readline.h"
#include "shared/runtime/pyexec.h"
#include "mpbt_port.h"
#include "hci_posix.h"
#include "pty_repl.h"
#include "board_boot.h"
#include "board_hal.h"
#include "flash_file.h"

#define BOARD_DEFAULT_HEAP_BYTES (1024 * 1024)
#define BOARD_MIN_HEAP_BYTES (16 * 1024)
#define BOARD_DEFAULT_FS_BYTES (2 * 1024 * 1024)
#define BOARD_MIN_FS_BYTES (64 * 1024)
// Python recursion may use this much C stack; the rest of the thread's stack
// is left for C code below the deepest check (and sanitizer overhead).
#define BOARD_STACK_LIMIT_MAX (4 * 1024 * 1024)
#define BOARD_STACK_MARGIN (256 * 1024)

typedef struct _board_args_t {
    const char *hci_spec;
    const char *pty_link;
    size_t heap_bytes;
    const char *fs_path;
    size_t fs_bytes;
} board_args_t;

// Why the running VM started (machine.reset_cause()), what ends it, and for
// how long a deep sleep lasts before the reset.
static int board_reset_cause = BOARD_PWRON_RESET;
static int board_next_reset = BOARD_SOFT_RESET;
static uint32_t board_sleep_ms;
// What identifies this board across its lives (machine.unique_id()).
static const char *board_identity;

// The --pty-link symlink, removed by the signal handler on exit.
static char board_link_path[PATH_MAX];

static void board_usage(const char *prog) {
    fprintf(stderr, "usage: %s [--hci SPEC] [--pty-link PATH] [--heap BYTES]\n"
        "  --hci SPEC       HCI H4 transport: a tty/pty path or tcp:HOST:PORT\n"
        "                   (default: $MICROPY_BLE_HCI; none: bluetooth fails with ENODEV)\n"
        "  --pty-link PATH  also make PATH a symlink to the REPL pty\n"
        "  --heap BYTES     GC heap size, suffix k or m allowed (default 1m)\n"
        "  --fs PATH        flash image holding the filesystem (created when missing;\n"
        "                   default: no filesystem)\n"
        "  --fs-size BYTES  flash size (default 2m)\n", prog);
}

// Parses "4096", "512k", "2m". Returns 0 on error.
static size_t board_parse_size(const char *text) {
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 0);
    if (errno != 0 || end == text) {
        return 0;
    }
    if (*end == 'k' || *end == 'K') {
        value *= 1024;
        ++end;
    } else if (*end == 'm' || *end == 'M') {
        value *= 1024 * 1024;
        ++end;
    }
    if (*end != '\0' || value > SIZE_MAX / 2) {
        return 0;
    }
    return (size_t)value;
}

// Accepts "--opt VALUE" and "--opt=VALUE". Returns the value or NULL.
static const char *board_option_value(const char *name, int argc, char **argv, int *i) {
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0) {
        return NULL;
    }
    if (argv[*i][len] == '=') {
        return argv[*i] + len + 1;
    }
    if (argv[*i][len] == '\0' && *i + 1 < argc) {
        return argv[++*i];
    }
    return NULL;
}

static int board_parse_args(int argc, char **argv, board_args_t *args) {
    args->hci_spec = getenv("MICROPY_BLE_HCI");
    args->pty_link = NULL;
    args->heap_bytes = BOARD_DEFAULT_HEAP_BYTES;
    args->fs_path = NULL;
    args->fs_bytes = BOARD_DEFAULT_FS_BYTES;
    for (int i = 1; i < argc; ++i) {
        const char *value;
        if ((value = board_option_value("--hci", argc, argv, &i)) != NULL) {
            args->hci_spec = value;
        } else if ((value = board_option_value("--pty-link", argc, argv, &i)) != NULL) {
            args->pty_link = value;
        } else if ((value = board_option_value("--heap", argc, argv, &i)) != NULL) {
            args->heap_bytes = board_parse_size(value);
            if (args->heap_bytes < BOARD_MIN_HEAP_BYTES) {
                fprintf(stderr, "%s: bad --heap %s (at least %d bytes)\n", argv[0], value, BOARD_MIN_HEAP_BYTES);
                return -1;
            }
        } else if ((value = board_option_value("--fs-size", argc, argv, &i)) != NULL) {
            args->fs_bytes = board_parse_size(value);
            if (args->fs_bytes < BOARD_MIN_FS_BYTES || args->fs_bytes > UINT32_MAX / 2) {
                fprintf(stderr, "%s: bad --fs-size %s\n", argv[0], value);
                return -1;
            }
        } else if ((value = board_option_value("--fs", argc, argv, &i)) != NULL) {
            args->fs_path = value;
        } else {
            fprintf(stderr, "%s: unknown or incomplete option %s\n", argv[0], argv[i]);
            board_usage(argv[0]);
            return -1;
        }
    }
    return 0;
}

static void board_on_exit_signal(int sig) {
    // Only async-signal-safe calls here.
    if (board_link_path[0] != '\0') {
        unlink(board_link_path);
    }
    _exit(0);
}

static void board_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = board_on_exit_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    // A controller that hangs up must give EPIPE, not kill the board.
    signal(SIGPIPE, SIG_IGN);
}

// Point link_path at the pty, replacing a stale symlink but nothing else.
static int board_make_link(const char *link_path, const char *target) {
    if (strlen(link_path) >= sizeof(board_link_path)) {
        return -ENAMETOOLONG;
    }
    struct stat st;
    if (lstat(link_path, &st) == 0) {
        if (!S_ISLNK(st.st_mode)) {
            return -EEXIST;
        }
        unlink(link_path);
    }
    if (symlink(target, link_path) != 0) {
        return -errno;
    }
    strcpy(board_link_path, link_path);
    return 0;
}

static void board_set_stack_limit(void) {
    mp_stack_ctrl_init();
    size_t limit = BOARD_STACK_LIMIT_MAX;
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < limit) {
        limit = rl.rlim_cur;
    }
    mp_stack_set_limit(limit > 2 * BOARD_STACK_MARGIN ? limit - BOARD_STACK_MARGIN : limit / 2);
}

static void board_bluetooth_deinit(void) {
    // Must not let an exception escape past the end of this VM's life.
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_bluetooth_deinit();
        nlr_pop();
    } else {
        mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
}

int board_get_reset_cause(void) {
    return board_reset_cause;
}

void board_request_reset(int cause, uint32_t sleep_ms) {
    board_next_reset = cause;
    board_sleep_ms = sleep_ms;
    // Nothing the old VM prints on its way out (e.g. the raw REPL's end of
    // output) may reach the REPL port: a real board stops dead.
    pty_repl_reset(true);
    mp_raise_type(&mp_type_SystemExit);
}

const char *board_get_identity(void) {
    return board_identity;
}

// A deep sleep: nothing runs, REPL input waits in the pty until the reset.
static void board_deep_sleep(uint32_t ms) {
    uint32_t start = board_ticks_ms();
    uint32_t elapsed;
    while ((elapsed = board_ticks_ms() - start) < ms) {
        uint32_t left = ms - elapsed;
        struct timespec ts = { left / 1000, (long)(left % 1000) * 1000000 };
        nanosleep(&ts, NULL);
    }
}

// One VM lifetime: from start to soft reset (or a reset of the board).
static void board_run_vm(char *heap, size_t heap_bytes) {
    gc_init(heap, heap + heap_bytes);
    mp_init();
    readline_init0();
    if (board_boot_scripts()) {
        for (;;) {
            int ret;
            if (pyexec_mode_kind == PYEXEC_MODE_RAW_REPL) {
                ret = pyexec_raw_repl();
            } else {
                ret = pyexec_friendly_repl();
            }
            if (ret != 0) {
                break;
            }
        }
    }
    int next = board_next_reset;
    if (next == BOARD_SOFT_RESET) {
        mp_hal_stdout_tx_str("MPY: soft reboot\r\n");
    }
    // Ends every link (the peer sees it drop) before the VM goes.
    board_bluetooth_deinit();
    gc_sweep_all();
    mp_deinit();
    board_reset_cause = next;
    board_next_reset = BOARD_SOFT_RESET;
    if (next != BOARD_SOFT_RESET) {
        // A reset of the board: it comes back as after power-up.
        if (next == BOARD_DEEPSLEEP_RESET) {
            board_deep_sleep(board_sleep_ms);
        }
        pyexec_mode_kind = PYEXEC_MODE_FRIENDLY_REPL;
        pty_repl_reset(false);
    }
}

int main(int argc, char **argv) {
    board_args_t args;
    if (board_parse_args(argc, argv, &args) != 0) {
        return 2;
    }
    board_install_signals();
    hci_transport_configure(args.hci_spec);
    if (args.fs_path != NULL) {
        int fs_err = flash_file_open(args.fs_path, (uint32_t)args.fs_bytes);
        if (fs_err != 0) {
            fprintf(stderr, "%s: cannot open the flash image %s: %s\n", argv[0], args.fs_path, strerror(-fs_err));
            return 1;
        }
        board_identity = args.fs_path;
    }

    int err = pty_repl_open();
    if (err != 0) {
        fprintf(stderr, "%s: cannot create the REPL pty: %s\n", argv[0], strerror(-err));
        return 1;
    }
    if (args.pty_link != NULL) {
        err = board_make_link(args.pty_link, pty_repl_slave_path());
        if (err != 0) {
            fprintf(stderr, "%s: cannot link %s: %s\n", argv[0], args.pty_link, strerror(-err));
            return 1;
        }
    }

    // The fixed GC heap for the whole process, reused by every VM.
    char *heap = malloc(args.heap_bytes);
    if (heap == NULL) {
        fprintf(stderr, "%s: cannot allocate a %zu byte heap\n", argv[0], args.heap_bytes);
        return 1;
    }

    // The launcher waits for exactly this line.
    printf("repl: %s\n", pty_repl_slave_path());
    fflush(stdout);

    board_set_stack_limit();
    for (;;) {
        board_run_vm(heap, args.heap_bytes);
    }
}

void nlr_jump_fail(void *val) {
    fprintf(stderr, "FATAL: uncaught NLR %p\n", val);
    if (board_link_path[0] != '\0') {
        unlink(board_link_path);
    }
    exit(1);
}
