// HCI command/event layer: the host's one event loop below the protocol
// layers.
//
// Receive: packets from the port go into a bounded receive queue; they are
// dispatched to the layers above only by bh_hci_process(), which only the
// host's top-level poll calls. Command Complete/Status (command credits) and
// Number Of Completed Packets (ACL credits) are consumed as soon as they are
// read, so a command can be waited for without running any protocol code.
// When the queue is full the host stops reading the transport
// (backpressure); nothing is dropped.
//
// Send: synchronous commands (for the API calls, which report the result)
// and asynchronous ones (a bounded queue with a completion callback each,
// for replies event handlers must make), both sent as the controller's
// command credits allow.
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
#define BH_HCI_OP_SET_C2H_FLOW_CONTROL      BH_HCI_OP(0x03, 0x0031)
#define BH_HCI_OP_HOST_BUFFER_SIZE          BH_HCI_OP(0x03, 0x0033)
#define BH_HCI_OP_READ_BUFFER_SIZE          BH_HCI_OP(0x04, 0x0005)
#define BH_HCI_OP_READ_BD_ADDR              BH_HCI_OP(0x04, 0x0009)
#define BH_HCI_OP_READ_ENC_KEY_SIZE         BH_HCI_OP(0x05, 0x0008)
#define BH_HCI_OP_LE_SET_EVENT_MASK         BH_HCI_OP(0x08, 0x0001)
#define BH_HCI_OP_LE_READ_BUFFER_SIZE       BH_HCI_OP(0x08, 0x0002)
#define BH_HCI_OP_LE_READ_LOCAL_FEATURES    BH_HCI_OP(0x08, 0x0003)
#define BH_HCI_OP_LE_SET_RANDOM_ADDRESS     BH_HCI_OP(0x08, 0x0005)
#define BH_HCI_OP_LE_RAND                   BH_HCI_OP(0x08, 0x0018)
#define BH_HCI_OP_LE_ENABLE_ENCRYPTION      BH_HCI_OP(0x08, 0x0019)
#define BH_HCI_OP_LE_LTK_REPLY              BH_HCI_OP(0x08, 0x001a)
#define BH_HCI_OP_LE_LTK_NEG_REPLY          BH_HCI_OP(0x08, 0x001b)

#define BH_HCI_EVT_DISCONNECTION_COMPLETE   (0x05)
#define BH_HCI_EVT_ENCRYPTION_CHANGE        (0x08)
#define BH_HCI_EVT_COMMAND_COMPLETE         (0x0e)
#define BH_HCI_EVT_COMMAND_STATUS           (0x0f)
#define BH_HCI_EVT_HARDWARE_ERROR           (0x10)
#define BH_HCI_EVT_NUM_COMPLETED_PACKETS    (0x13)
#define BH_HCI_EVT_KEY_REFRESH_COMPLETE     (0x30)
#define BH_HCI_EVT_LE_META                  (0x3e)
#define BH_HCI_EVT_ENCRYPTION_CHANGE_V2     (0x59)

// Status codes from the controller are positive (1..255); local failures
// are negative BH_E* values; 0 is success.
#define BH_HCI_SUCCESS (0)

// One row of an event dispatch table: the handler of an event code (or LE
// Meta subevent code) and the least parameter length it needs. Shorter
// events are counted as malformed and never reach the handler. params
// points after the event header (after the subevent code for LE Meta).
typedef struct _bh_hci_evt_row_t {
    uint8_t code;
    uint8_t min_len;
    void (*fn)(const uint8_t *params, size_t len);
} bh_hci_evt_row_t;

typedef struct _bh_hci_handlers_t {
    const bh_hci_evt_row_t *events;
    size_t n_events;
    const bh_hci_evt_row_t *le_events;
    size_t n_le_events;
    // Consumed as soon as read (also during command waits): it must not
    // call up into the embedding.
    void (*num_completed_packets)(uint16_t conn_handle, uint16_t count);
    void (*acl)(uint16_t handle_flags, const uint8_t *data, size_t len);
    // The transport lost its framing (from bh_hci_process()).
    void (*framing_lost)(void);
} bh_hci_handlers_t;

// Completion of an asynchronous command: status as bh_hci_cmd_sync()
// returns it, and the return parameters after the status byte. Runs
// wherever the completion is read (possibly inside another command's
// wait): it may update host state and queue commands, never call up.
typedef void (*bh_hci_done_fn_t)(void *ctx, int status, const uint8_t *ret, size_t ret_len);

// Forget all state (queues, credits, pending commands; their callbacks are
// not run) and install handlers (NULL for none).
void bh_hci_init(const bh_hci_handlers_t *handlers);

// Discard whatever the transport has buffered and the receive queue holds.
void bh_hci_drain(void);

// The controller was just reset: a framing loss seen before that is moot.
void bh_hci_framing_ok(void);

// Read what the transport has, then dispatch queued packets (a bounded
// number per call). Only the host's top-level poll may call this.
void bh_hci_process(void);

// Read the transport into the receive queue, consuming completions and
// credits only (what a command wait does). Safe from anywhere.
void bh_hci_service(void);

// True while received packets wait to be dispatched.
bool bh_hci_rx_pending(void);

// Expire asynchronous commands whose completion never came, and send
// queued ones as credits allow. From the top-level poll.
void bh_hci_poll(uint32_t now_ms);

// Send a command and wait for its Command Complete (or Command Status). While
// waiting only command completions and ACL credits are consumed; nothing
// above the HCI layer runs. On success the return parameters after the
// status byte are copied to ret (up to ret_max bytes; *ret_len, if given,
// receives the number copied). timeout_ms runs from when the command is
// sent (waiting for a command credit has its own, longer bound).
// Returns 0, a controller status (>0), -BH_ETIMEDOUT, -BH_EMSGSIZE (parameters too
// long, or return parameters shorter than ret_min), -BH_EBUSY (a synchronous command
// is already waiting), or a transport error.
int bh_hci_cmd_sync(uint16_t opcode, const uint8_t *params, size_t plen,
    uint8_t *ret, size_t ret_min, size_t ret_max, size_t *ret_len, uint32_t timeout_ms);

// Hand one ACL packet (handle and flags word, data of at most
// BH_ACL_TX_MAX_DATA bytes) to the transport. 0 or bh_port_hci_send()'s
// error (-BH_EMSGSIZE for too much data).
int bh_hci_send_acl(uint16_t handle_flags, const uint8_t *data, size_t len);

// Queue a command; done (may be NULL) is called once with its result.
// Returns 0, -BH_EMSGSIZE (parameters over BH_HCI_ASYNC_PARAMS_MAX) or
// -BH_ENOMEM (the command queue is full).
int bh_hci_cmd_async(uint16_t opcode, const uint8_t *params, size_t plen,
    bh_hci_done_fn_t done, void *ctx);

// Random bytes from the port's cryptographic source, or the controller's
// LE Rand when the port has none (a synchronous command: not from event
// handlers). 0 or -BH_E*.
int bh_random(uint8_t *buf, size_t len);

// Introspection for tests and diagnostics.
typedef struct _bh_hci_stats_t {
    uint8_t cmd_credits;
    uint16_t pending_opcode;    // oldest command in flight, 0 when none
    uint32_t unknown_events;    // events ignored because nobody handles them
    uint32_t malformed_events;  // events too short for their fields
    uint32_t stray_completions; // Command Complete/Status for no pending command
    uint32_t bad_type_bytes;    // H4 noise bytes (H4 transports)
    uint32_t skipped_packets;   // H4 packets dropped (too long / SCO / ISO)
    uint8_t hardware_error;     // last Hardware Error code, 0 if none
    uint32_t rx_stalls;         // times reading stopped on a full receive queue
    uint16_t rx_queue_peak;     // most bytes the receive queue held
    uint32_t framing_errors;    // transport framing losses reported (since boot)
    uint32_t async_timeouts;    // asynchronous commands never completed
    uint32_t credit_timeouts;   // credits assumed back after a long silence
} bh_hci_stats_t;

void bh_hci_get_stats(bh_hci_stats_t *stats);

// The controller now limits the ACL packets it gives the host to
// `acl_packets` (Host_Buffer_Size and Set_Controller_To_Host_Flow_Control
// succeeded): report each one taken off the receive queue (Host Number Of
// Completed Packets). bh_hci_init() turns it off again.
void bh_hci_host_flow_on(uint16_t acl_packets);

#endif // BLEHOST_BH_HCI_H
