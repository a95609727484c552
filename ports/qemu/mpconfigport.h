// MicroPython configuration for the qemu board (mps2-an385, Cortex-M3).
#include <stdint.h>

#include "cortex_m.h"

#define MICROPY_CONFIG_ROM_LEVEL            (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

// Code generation.
#define MICROPY_EMIT_THUMB                  (1)
#define MICROPY_EMIT_INLINE_THUMB           (1)
#define MICROPY_MAKE_POINTER_CALLABLE(p)    ((void *)((mp_uint_t)(p) | 1))

// Memory and the VM.
#define MICROPY_ENABLE_GC                   (1)
#define MICROPY_ENABLE_EMERGENCY_EXCEPTION_BUF (1)
#define MICROPY_EMERGENCY_EXCEPTION_BUF_SIZE (256)
#define MICROPY_STACK_CHECK                 (1)
#define MICROPY_LONGINT_IMPL                (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_FLOAT_IMPL                  (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_ENABLE_SCHEDULER            (1)
#define MICROPY_SCHEDULER_DEPTH             (8)
#define MICROPY_KBD_EXCEPTION               (1)
#define MICROPY_HELPER_REPL                 (1)
#define MICROPY_WARNINGS                    (1)
// MicroPython's own errno numbers, not newlib's (as rp2, nrf, renesas-ra
// upstream): any place that mixes the host's error numbers with errno
// values fails the suite on this board.
#define MICROPY_USE_INTERNAL_ERRNO          (1)

// The filesystem: littlefs v2 (MICROPY_VFS_LFS2, set by the Makefile) on
// the board's flash (an image file on the host, over semihosting), mounted
// at / by the frozen _boot.py.
#define MICROPY_VFS                         (1)
#define MICROPY_READER_VFS                  (1)

// Modules.
#define MICROPY_PY_SYS_PLATFORM             "qemu"
#define MICROPY_PY_SYS_STDFILES             (1)
#define MICROPY_PY_SYS_STDIO_BUFFER         (1)
#define MICROPY_PY_SELECT                   (1)
#define MICROPY_PY_OS                       (1)
#define MICROPY_PY_OS_UNAME                 (1)
#define MICROPY_PY_ASYNCIO                  (1)
#define MICROPY_PY_TIME                     (1)
#define MICROPY_PY_TIME_TIME_TIME_NS        (1)
#define MICROPY_PY_TIME_INCLUDEFILE         "board_time.c"
#define MICROPY_PY_RANDOM                   (1)
#define MICROPY_PY_RANDOM_SEED_INIT_FUNC    (entropy_u32())
#define MICROPY_PY_MACHINE                  (1)
#define MICROPY_PY_MACHINE_INCLUDEFILE      "board_machine.c"
#define MICROPY_PY_MACHINE_RESET            (1)
#define MICROPY_PY_MACHINE_BARE_METAL_FUNCS (1)
#define MICROPY_PY_MACHINE_DISABLE_IRQ_ENABLE_IRQ (1)
#define MICROPY_PY_MACHINE_PIN_BASE         (0)
#define MICROPY_PY_MACHINE_EXTRA_GLOBALS    BOARD_MACHINE_RESET_GLOBALS

// Interrupt handlers schedule work (Ctrl-C, HCI input): guard the queue.
#define MICROPY_BEGIN_ATOMIC_SECTION()      irq_save()
#define MICROPY_END_ATOMIC_SECTION(state)   irq_restore(state)

// Waiting: service HCI, run scheduled callbacks, then sleep until the next
// interrupt (SysTick bounds it to 1 ms).
#if QEMU_BOARD_BLUETOOTH
void mp_bluetooth_hci_poll(void);
#define MICROPY_INTERNAL_EVENT_HOOK         mp_bluetooth_hci_poll()
#endif
void qemu_wait_for_event(void);
#define MICROPY_INTERNAL_WFE(TIMEOUT_MS)    qemu_wait_for_event()

// Types.
// MicroPython from 1.27 on picks pointer-sized mp_int_t/mp_uint_t itself
// (py/mpconfig.h); older trees need the port to define them.
#if MICROPY_VERSION < MICROPY_MAKE_VERSION(1, 27, 0)
#define MP_SSIZE_MAX (0x7fffffff)
#define UINT_FMT "%lu"
#define INT_FMT "%ld"
typedef int32_t mp_int_t; // must be pointer size
typedef uint32_t mp_uint_t; // must be pointer size
#endif
typedef long mp_off_t;

#include <alloca.h>

// lib/libm provides no plain log2().
#define MP_NEED_LOG2 (1)

#define MP_STATE_PORT MP_STATE_VM

uint32_t entropy_u32(void);

#include "board_boot.h"
