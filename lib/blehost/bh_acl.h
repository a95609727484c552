// ACL data path: L2CAP PDUs to and from the controller. Transmit: a bounded
// FIFO byte ring of PDUs (BH_ACL_TX_QUEUE_BYTES) fragmented into controller-sized ACL packets, sent only
// while the controller has free buffers (credits), credits returned by
// Number Of Completed Packets. Receive: reassembly of ACL fragments into
// L2CAP PDUs per connection and dispatch by channel ID. The public half
// (bh_l2cap_send, RX handlers) is in blehost.h.
#ifndef BLEHOST_BH_ACL_H
#define BLEHOST_BH_ACL_H

#include <stddef.h>
#include <stdint.h>
#include "blehost.h"

// L2CAP basic header: length (2), channel ID (2).
#define BH_L2CAP_HDR (4)

// LE signalling command codes the data path itself uses.
#define BH_L2CAP_SIG_COMMAND_REJECT (0x01)
#define BH_L2CAP_REJECT_NOT_UNDERSTOOD (0x0000)

// PDUs on dynamic CIDs (0x0040 and up) go to one handler (the LE
// credit-based channels); without one they are counted as unknown.
typedef void (*bh_l2cap_dyn_rx_fn_t)(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len);
void bh_l2cap_set_dynamic_handler(bh_l2cap_dyn_rx_fn_t fn);

// Forget queued PDUs and partial reassemblies (activation, deactivation).
// Registered RX handlers are kept.
void bh_acl_reset(void);

// HCI handlers: an ACL packet from the controller (handle and flags word,
// payload), and one Number Of Completed Packets entry.
void bh_acl_on_data(uint16_t handle_flags, const uint8_t *data, size_t len);
void bh_acl_on_completed(uint16_t conn_handle, uint16_t count);

// A link closed: drop its queued PDUs and partial reassembly, and let other
// links use the buffers it held. Called by bh_conn_remove().
void bh_acl_conn_closed(uint16_t conn_handle);

// Counters for tests and diagnostics.
typedef struct _bh_acl_stats_t {
    uint32_t tx_pdus;          // PDUs completely handed to the controller
    uint32_t tx_packets;       // ACL packets written
    uint32_t tx_dropped;       // queued PDUs dropped (link closed, write error)
    uint32_t rx_pdus;          // PDUs reassembled and dispatched
    uint32_t rx_dropped;       // fragments/PDUs dropped (bad flags, order, size, unknown link)
    uint32_t rx_unknown_cid;   // complete PDUs for a channel nobody handles
    uint32_t nocp_invalid;     // completions for unknown links or more than in flight
    uint32_t sig_rejected;     // Command Rejects we sent
    uint32_t tx_refused;       // protocol PDUs that found no room (reserve exhausted)
} bh_acl_stats_t;

void bh_acl_get_stats(bh_acl_stats_t *stats);

// PDUs waiting (or partly sent) in the transmit queue.
size_t bh_acl_tx_queued(void);
// How many more PDUs of `len` payload bytes bulk data may queue
// (bh_l2cap_send_bulk) as the queue stands.
size_t bh_acl_tx_bulk_room(size_t len);

#endif // BLEHOST_BH_ACL_H
