// The whole surface of the BLE host library as seen by its embedding (the
// MicroPython `bluetooth` module). Everything runs on the caller's thread.
//
// Addresses: bh_addr_t.val is in HCI (little-endian) byte order, exactly as
// it travels over HCI. Presenting it most-significant byte first is the
// embedding's business.
#ifndef BLEHOST_BLEHOST_H
#define BLEHOST_BLEHOST_H

#include <stdbool.h>
#include <stdint.h>

#define BH_ADDR_TYPE_PUBLIC (0)
#define BH_ADDR_TYPE_RANDOM (1)

#define BH_ADDR_MODE_PUBLIC (0)
#define BH_ADDR_MODE_RANDOM (1)
#define BH_ADDR_MODE_RPA (2)
#define BH_ADDR_MODE_NRPA (3)

// Our role in a connection.
#define BH_ROLE_CENTRAL (0)
#define BH_ROLE_PERIPHERAL (1)

typedef struct _bh_addr_t {
    uint8_t type;
    uint8_t val[6];
} bh_addr_t;

// Bring the controller up (reset, read its capabilities, set masks and our
// address). Returns 0 or a negative errno: -ENODEV (no transport),
// -ETIMEDOUT (controller silent), -EIO (controller refused a command).
// Idempotent.
int bh_activate(void);

// Stop: HCI_Reset with the given timeout (best effort), then forget all
// connections and state. Safe when inactive.
void bh_deactivate(uint32_t reset_timeout_ms);

bool bh_is_active(void);

// Process pending controller input and timers. Does nothing when inactive
// or when already inside the host (re-entry guard).
void bh_poll(void);

// Address mode (BH_ADDR_MODE_*). While inactive the mode is stored and used
// at activation; while active it takes effect now. Returns 0, -EINVAL (bad
// mode, or PUBLIC without a public address), -EOPNOTSUPP (RPA/NRPA, not yet
// implemented) or a controller error as -EIO.
int bh_set_addr_mode(uint8_t mode);

// Effective mode while active; the requested (or default PUBLIC) otherwise.
uint8_t bh_get_addr_mode(void);

// Our current address. Returns -ENODEV when inactive.
int bh_get_addr(bh_addr_t *addr);

// Own_Address_Type for advertising, scanning and connection parameters:
// BH_ADDR_TYPE_PUBLIC in mode PUBLIC, BH_ADDR_TYPE_RANDOM in the others (the
// host generates private addresses itself and programs them with
// LE_Set_Random_Address; controller-based privacy is not used).
uint8_t bh_own_addr_type(void);

// Events, implemented by the embedding. Called from inside bh_poll() or a
// synchronous host call; they must not block and must not call back into
// the host.
void bh_evt_connected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer);
void bh_evt_disconnected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer, uint8_t reason);

#endif // BLEHOST_BLEHOST_H
