// UART1: the H4 HCI transport to the controller, as bh_port.h asks.
#include <errno.h>

#include "bh_port.h"
#include "mpbt_port.h"

#include "cortex_m.h"
#include "entropy.h"
#include "clock.h"
#include "uart_rx.h"

// Room for several full-size ACL packets; see uart_rx.h for what a full
// ring does (input is held back in QEMU, never dropped).
#define HCI_UART_RX_SIZE (4096)

static uint8_t hci_uart_rx_buf[HCI_UART_RX_SIZE];

static uart_rx_t hci_uart_rx = {
    .uart = CMSDK_UART1,
    .buf = hci_uart_rx_buf,
    .size = HCI_UART_RX_SIZE,
    .irq = CMSDK_UART1_RX_IRQ,
};

// Survives soft reset: the transport stays open, the host resyncs itself.
static bool hci_uart_is_open;

void UART1_RX_IRQHandler(void) {
    entropy_add_sample(clock_raw());
    if (uart_rx_isr(&hci_uart_rx) > 0) {
        mp_bluetooth_hci_poll_soon();
    }
}

int bh_port_hci_open(void) {
    if (!hci_uart_is_open) {
        uart_rx_start(&hci_uart_rx);
        hci_uart_is_open = true;
    }
    return 0;
}

int bh_port_hci_write(const uint8_t *buf, size_t len) {
    if (!hci_uart_is_open) {
        return -BH_ENODEV;
    }
    cmsdk_uart_write(CMSDK_UART1, buf, len);
    return 0;
}

size_t bh_port_hci_read(uint8_t *buf, size_t max) {
    if (!hci_uart_is_open) {
        return 0;
    }
    return uart_rx_read(&hci_uart_rx, buf, max);
}

void bh_port_hci_wait(uint32_t timeout_ms) {
    uint32_t start = clock_ms();
    while (clock_ms() - start < timeout_ms) {
        // Masked check-then-WFI: a byte arriving in between still wakes us.
        uint32_t state = irq_save();
        bool idle = uart_rx_available(&hci_uart_rx) == 0;
        if (idle) {
            cpu_wait_for_interrupt();
        }
        irq_restore(state);
        if (!idle) {
            return;
        }
    }
}

uint32_t bh_port_ticks_ms(void) {
    return clock_ms();
}

// The emulated board has no cryptographic source (entropy.h): the host
// takes its random numbers from the controller's LE Rand instead.
int bh_port_random(uint8_t *buf, size_t len) {
    (void)buf;
    (void)len;
    return -BH_ENOSYS;
}
