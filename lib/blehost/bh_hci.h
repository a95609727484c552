// HCI command/event layer: sends commands within the controller's command
// credits, matches Command Complete/Status to the pending command, checks
// every event's length and hands LE/connection events to the layers above.
#ifndef BLEHOST_BH_HCI_H
#define BLEHOST_BH_HCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bh_config.h"

#define BH_HCI_OP(ogf, ocf) ((uint16_t)(((ogf) << 10) | (ocf)))

#define BH_HCI_OP_DISCONNECT                BH_HCI_OP(0x01, 0x0006)
#define BH_HCI_OP_SET_EVENT_MASK            BH_HCI_OP(0x03, 0x0001)
#define BH_HCI_OP_RESET                     BH_HCI_OP(0x03, 0x0003)
#define BH_HCI_OP_READ_LOCAL_VERSION        BH_HCI_OP(0x04, 0x0001)
#define BH_HCI_OP_READ_LOCAL_COMMANDS       BH_HCI_OP(0x04, 0x0002)
#define BH_HCI_OP_READ_LOCAL_FEATURES       BH_HCI_OP(0x04, 0x0003)
#define BH_HCI_OP_READ_BUFFER_SIZE          BH_HCI_OP(0x04, 0x0005)
#define BH_HCI_OP_READ_BD_ADDR              BH_HCI_OP(0x04, 0x0009)
#define BH_HCI_OP_LE_SET_EVENT_MASK         BH_HCI_OP(0x08, 0x0001)
#define BH_HCI_OP_LE_READ_BUFFER_SIZE       BH_HCI_OP(0x08, 0x0002)
#define BH_HCI_OP_LE_READ_LOCAL_FEATURES    BH_HCI_OP(0x08, 0x0003)
#define BH_HCI_OP_LE_SET_RANDOM_ADDRESS     BH_HCI_OP(0x08, 0x0005)

#define BH_HCI_EVT_DISCONNECTION_COMPLETE   (0x05)
#define BH_HCI_EVT_COMMAND_COMPLETE         (0x0e)
#define BH_HCI_EVT_COMMAND_STATUS           (0x0f)
#define BH_HCI_EVT_HARDWARE_ERROR           (0x10)
#define BH_HCI_EVT_NUM_COMPLETED_PACKETS    (0x13)
#define BH_HCI_EVT_LE_META                  (0x3e)

// Status codes from the controller are positive (1..255); local failures
// are negative errno values; 0 is success.
#define BH_HCI_SUCCESS (0)

// Handlers for events the HCI layer does not consume itself. Each gets the
// event parameters (after the 2-byte event header), already bounded by the
// packet length; it must check its own field lengths. A handler may call up
// into the embedding; if that can re-enter the host (a synchronous Python
// callback), the handler must be done with `params` first, because the
// packet buffer is reused by the nested processing.
typedef struct _bh_hci_handlers_t {
    void (*disconnection_complete)(const uint8_t *params, size_t len);
    void (*num_completed_packets)(uint16_t conn_handle, uint16_t count);
    void (*le_meta)(uint8_t subevent, const uint8_t *params, size_t len);
    void (*acl)(uint16_t handle_flags, const uint8_t *data, size_t len);
} bh_hci_handlers_t;

// Forget all state (parser, credits, pending command) and install handlers
// (NULL for none).
void bh_hci_init(const bh_hci_handlers_t *handlers);

// Discard whatever the transport has buffered (stale bytes from before).
void bh_hci_drain(void);

// Read and process everything the transport has pending. Re-entrant: a
// nested call continues the same byte stream where the outer one stopped.
void bh_hci_process(void);

// Send a command and wait for its Command Complete (or Command Status) while
// processing other events; never runs anything but host code. On success
// the return parameters after the status byte are copied to ret (up to
// ret_max bytes; *ret_len, if given, receives the number copied).
// Returns 0, a controller status (>0), -ETIMEDOUT, -EMSGSIZE (parameters too
// long, or return parameters shorter than ret_min), -EBUSY (another command
// is pending), or a transport error.
int bh_hci_cmd_sync(uint16_t opcode, const uint8_t *params, size_t plen,
    uint8_t *ret, size_t ret_min, size_t ret_max, size_t *ret_len, uint32_t timeout_ms);

// Send a command whose completion nobody waits for (used from event
// handlers). Returns -EBUSY when no command credit is available now.
int bh_hci_cmd_post(uint16_t opcode, const uint8_t *params, size_t plen);

// Introspection for tests and diagnostics.
typedef struct _bh_hci_stats_t {
    uint8_t cmd_credits;
    uint16_t pending_opcode;    // 0 when none
    uint32_t unknown_events;    // events ignored because nobody handles them
    uint32_t malformed_events;  // events too short for their fields
    uint32_t stray_completions; // Command Complete/Status for no pending command
    uint32_t bad_type_bytes;    // H4 noise bytes
    uint32_t skipped_packets;   // H4 packets dropped (too long / SCO / ISO)
    uint8_t hardware_error;     // last Hardware Error code, 0 if none
} bh_hci_stats_t;

void bh_hci_get_stats(bh_hci_stats_t *stats);

#endif // BLEHOST_BH_HCI_H
