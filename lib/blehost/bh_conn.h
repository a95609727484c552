// Connection table and ACL transmit-buffer accounting.
#ifndef BLEHOST_BH_CONN_H
#define BLEHOST_BH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bh_config.h"
#include "blehost.h"

typedef struct _bh_conn_t {
    bool used;
    uint8_t role;
    uint16_t handle;
    uint16_t acl_in_flight; // packets given to the controller, not yet completed
    bh_addr_t peer;
    // GAP (bh_gap.c): link parameters in controller units, HCI_Disconnect
    // sent, and a peer's parameter request waiting for our reply.
    uint16_t interval;
    uint16_t latency;
    uint16_t timeout;
    bool disconnecting;
    bool param_req;
    uint16_t req[4]; // interval min, max, latency, timeout
    // An accepted L2CAP Connection Parameter Update Request (we are
    // central): LE_Connection_Update with these still to be sent.
    bool upd_pending;
    uint16_t upd[4]; // interval min, max, latency, timeout
} bh_conn_t;

void bh_conn_reset(void);

// Returns NULL when the table is full.
bh_conn_t *bh_conn_add(uint16_t handle, uint8_t role, const bh_addr_t *peer);
bh_conn_t *bh_conn_find(uint16_t handle);
void bh_conn_remove(bh_conn_t *conn);
// Slot i (0..BH_MAX_CONNECTIONS-1) if in use, else NULL: for iterating.
bh_conn_t *bh_conn_at(size_t i);
size_t bh_conn_count(void);

// Controller's LE ACL buffers, from LE_Read_Buffer_Size/Read_Buffer_Size.
void bh_conn_set_acl_buffers(uint16_t data_len, uint16_t count);
uint16_t bh_conn_acl_data_len(void);
uint16_t bh_conn_acl_free(void);
// Reserve one controller buffer for a packet on conn; false if none free.
bool bh_conn_acl_take(bh_conn_t *conn);
// Number Of Completed Packets for one handle.
void bh_conn_acl_completed(uint16_t handle, uint16_t count);

#endif // BLEHOST_BH_CONN_H
