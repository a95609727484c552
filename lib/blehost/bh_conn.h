// Connection table and ACL transmit-buffer accounting.
#ifndef BLEHOST_BH_CONN_H
#define BLEHOST_BH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bh_config.h"
#include "blehost.h"

// A link's security (bh_sec.c; the Security Manager adds authenticated and
// bonded).
typedef struct _bh_conn_sec_t {
    bool encrypted;
    bool authenticated;
    bool bonded;
    uint8_t key_size; // octets; 0 while unencrypted or unknown
    bh_addr_t bond_id; // bonded: the identity the bond is stored under
} bh_conn_sec_t;

typedef struct _bh_conn_t {
    bool used;
    uint8_t role;
    uint16_t handle;
    uint16_t acl_in_flight; // packets given to the controller, not yet completed
    bh_addr_t peer; // as on air (what SMP's confirm values take)
    bh_addr_t id;   // as the application hears of it: a bonded peer's
                    // identity (its private address resolved, or bonded
                    // on this link), else the same as peer
    // GAP (bh_gap.c): link parameters in controller units, HCI_Disconnect
    // sent, and a peer's parameter request waiting for our reply.
    uint16_t interval;
    uint16_t latency;
    uint16_t timeout;
    bool disconnecting;
    // Link rate (bh_rate.c): LL payload octets in force each way and the
    // PHY of each direction (1 LE 1M, 2 LE 2M), as the controller reported.
    uint8_t tx_octets;
    uint8_t rx_octets;
    uint8_t tx_phy;
    uint8_t rx_phy;
    bh_conn_sec_t sec;
} bh_conn_t;

// A protocol layer's hooks into the connection's life (any may be NULL).
// The connection is the hub: each layer creates its per-link state in
// connected() and destroys it in disconnected(), which runs before the slot
// is freed; reset() forgets everything (activation, deactivation).
typedef struct _bh_layer_t {
    void (*reset)(void);
    void (*connected)(bh_conn_t *conn);
    void (*disconnected)(bh_conn_t *conn);
    void (*security_changed)(bh_conn_t *conn);
    void (*poll)(uint32_t now_ms);
} bh_layer_t;

// The layers, in call order (bh_host.c installs the host's; unit tests
// their own). Kept across resets.
void bh_conn_set_layers(const bh_layer_t *const *layers, size_t n);
void bh_conn_poll(uint32_t now_ms);
void bh_conn_security_changed(bh_conn_t *conn);

// Forget every link (no disconnected hooks) and reset every layer.
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
