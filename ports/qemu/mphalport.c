#include "py/mphal.h"
#include "py/runtime.h"
#include "py/stream.h"

#include "cortex_m.h"
#include "uart_repl.h"

void qemu_wait_for_event(void) {
    // Masked so that an interrupt landing after the check still ends the WFI.
    uint32_t state = irq_save();
    if (uart_repl_available() == 0 && MP_STATE_VM(sched_state) != MP_SCHED_PENDING) {
        cpu_wait_for_interrupt();
    }
    irq_restore(state);
}

uintptr_t mp_hal_stdio_poll(uintptr_t poll_flags) {
    uintptr_t ret = poll_flags & MP_STREAM_POLL_WR;
    if ((poll_flags & MP_STREAM_POLL_RD) && uart_repl_available() > 0) {
        ret |= MP_STREAM_POLL_RD;
    }
    return ret;
}

int mp_hal_stdin_rx_chr(void) {
    for (;;) {
        int c = uart_repl_read_byte();
        if (c >= 0) {
            return c;
        }
        mp_event_wait_indefinite();
    }
}

mp_uint_t mp_hal_stdout_tx_strn(const char *str, size_t len) {
    uart_repl_write(str, len);
    return len;
}

void mp_hal_delay_ms(mp_uint_t ms) {
    uint64_t deadline = clock_us() + (uint64_t)ms * 1000;
    mp_event_handle_nowait();
    while (clock_us() < deadline) {
        mp_event_wait_ms((deadline - clock_us()) / 1000);
    }
}

void mp_hal_delay_us(mp_uint_t us) {
    // Busy: callers use this for short, exact delays outside the VM loop.
    uint64_t deadline = clock_us() + us;
    while (clock_us() < deadline) {
    }
}
