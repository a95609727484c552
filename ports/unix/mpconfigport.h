// MicroPython configuration of the unix board: a Linux process that behaves
// like a small board (REPL on a pty, Bluetooth controller over HCI).
#include <stdint.h>
#include <alloca.h>

#define MICROPY_CONFIG_ROM_LEVEL            (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

// Board identity (banner, os.uname()).
#define MICROPY_HW_BOARD_NAME               "unix-board"
#define MICROPY_HW_MCU_NAME                 "linux"
#define MICROPY_PY_SYS_PLATFORM             "linux"

// Core features.
#define MICROPY_ENABLE_GC                   (1)
#define MICROPY_ENABLE_FINALISER            (1)
#define MICROPY_ENABLE_SCHEDULER            (1)
#define MICROPY_SCHEDULER_DEPTH             (16)
#define MICROPY_KBD_EXCEPTION               (1)
#define MICROPY_HELPER_REPL                 (1)
#define MICROPY_REPL_AUTO_INDENT            (1)
#define MICROPY_ENABLE_EMERGENCY_EXCEPTION_BUF (1)
#define MICROPY_LONGINT_IMPL                (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_FLOAT_IMPL                  (MICROPY_FLOAT_IMPL_DOUBLE)
#define MICROPY_STACK_CHECK                 (1)
#define MICROPY_WARNINGS                    (1)
// C printf stays libc's (stdout/stderr of the process), not the REPL's.
#define MICROPY_USE_INTERNAL_PRINTF         (0)

// No native code emitters: they would need executable memory.
#define MICROPY_EMIT_X64                    (0)
#define MICROPY_EMIT_X86                    (0)

// The filesystem: littlefs v2 on the board's flash (an image file named by
// --fs), mounted at / by the frozen _boot.py; imports from it and from /lib.
#define MICROPY_VFS                         (1)
#define MICROPY_READER_VFS                  (1)
#define MICROPY_ENABLE_EXTERNAL_IMPORT      (1)

// asyncio (frozen from MicroPython's extmod/asyncio) with its C core.
#define MICROPY_PY_ASYNCIO                  (1)

// sys, with stdin/stdout/stderr on the REPL pty.
#define MICROPY_PY_SYS_STDFILES             (1)
#define MICROPY_PY_SYS_STDIO_BUFFER         (1)
#define MICROPY_PY_SYS_EXIT                 (1)

// time: sleep*/ticks* from extmod/modtime.c, time()/time_ns() from here.
#define MICROPY_PY_TIME                     (1)
#define MICROPY_PY_TIME_TIME_TIME_NS        (1)
#define MICROPY_PY_TIME_GMTIME_LOCALTIME_MKTIME (0)
#define MICROPY_PY_TIME_INCLUDEFILE         "modtime_board.c"

// machine: idle, reset (a soft reset, see modmachine_board.c), unique_id...
#define MICROPY_PY_MACHINE                  (1)
#define MICROPY_PY_MACHINE_INCLUDEFILE      "modmachine_board.c"
#define MICROPY_PY_MACHINE_RESET            (1)
#define MICROPY_PY_MACHINE_BARE_METAL_FUNCS (1)
#define MICROPY_PY_MACHINE_MEMX             (0)
#define MICROPY_PY_MACHINE_PIN_BASE         (0)
#define MICROPY_PY_MACHINE_EXTRA_GLOBALS    BOARD_MACHINE_RESET_GLOBALS

// select.poll works on sys.stdin through its stream ioctl.
#define MICROPY_PY_SELECT                   (1)
#define MICROPY_PY_SELECT_POSIX_OPTIMISATIONS (0)

// os: the filesystem functions (VFS), uname, urandom.
#define MICROPY_PY_OS                       (1)
#define MICROPY_PY_OS_UNAME                 (1)
#define MICROPY_PY_OS_URANDOM               (1)
#define MICROPY_PY_OS_INCLUDEFILE           "modos_board.c"

// random seeded from the OS at each VM start.
#define MICROPY_PY_RANDOM_SEED_INIT_FUNC    (board_random_seed())

// Our own `bluetooth` module is a user C module; MicroPython's is never used.
#define MICROPY_PY_BLUETOOTH                (0)

// While bytecode runs, look at the REPL and HCI fds every so many branches
// and returns (board_hal.c). The counter makes the common case one decrement.
#define MICROPY_VM_HOOK_LOOP                board_vm_hook_tick();
#define MICROPY_VM_HOOK_RETURN              board_vm_hook_tick();

// Type definitions for LP64 Linux.
// MicroPython from 1.27 on picks pointer-sized mp_int_t/mp_uint_t itself.
#if MICROPY_VERSION < MICROPY_MAKE_VERSION(1, 27, 0)
typedef long mp_int_t;
typedef unsigned long mp_uint_t;
#endif
typedef long mp_off_t;

#include "board_boot.h"

#define MP_STATE_PORT MP_STATE_VM

// Board hooks used by the macros above (defined in board_hal.c).
extern unsigned int board_vm_hook_countdown;
void board_vm_hook(void);
static inline void board_vm_hook_tick(void) {
    if (--board_vm_hook_countdown == 0) {
        board_vm_hook();
    }
}
unsigned long board_random_seed(void);
