// The whole surface of the BLE host library as seen by its embedding (the
// MicroPython `bluetooth` module). Everything runs on the caller's thread.
//
// Addresses: bh_addr_t.val is in HCI (little-endian) byte order, exactly as
// it travels over HCI. Presenting it most-significant byte first is the
// embedding's business.
#ifndef BLEHOST_BLEHOST_H
#define BLEHOST_BLEHOST_H

#include <stdbool.h>
#include <stddef.h>
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
// address). Returns 0 or a negative errno: -BH_ENODEV (no transport),
// -BH_ETIMEDOUT (controller silent), -BH_EIO (controller refused a command).
// Idempotent.
int bh_activate(void);

// Stop: HCI_Reset with the given timeout (best effort), then forget all
// connections and state. Safe when inactive.
void bh_deactivate(uint32_t reset_timeout_ms);

bool bh_is_active(void);

// The host's one event loop: process pending controller input and timers.
// Does nothing when inactive or when already inside the host (re-entry
// guard). Synchronous upcalls (bh_evt_gatts_read_request,
// bh_evt_l2cap_accept) run only from here.
void bh_poll(void);

// Read what the controller sent, taking only command completions and ACL
// buffer credits (everything else waits for bh_poll()): lets a caller that
// waits for transmit room from inside an upcall make progress. Safe anywhere.
void bh_transport_service(void);

// True when received packets still wait for bh_poll() (it dispatches a
// bounded number per call): call it again soon.
bool bh_poll_pending(void);

typedef struct _bh_host_stats_t {
    uint32_t recoveries; // controller resets after the transport lost framing
    bool adv_lost;       // advertising could not be restarted after the last one
} bh_host_stats_t;
void bh_host_get_stats(bh_host_stats_t *stats);

// Address mode (BH_ADDR_MODE_*). While inactive the mode is stored and used
// at activation; while active it takes effect now: PUBLIC needs the
// controller's public address; RANDOM uses a static random address made once
// per activation; RPA and NRPA make a fresh private address each time they
// are set and rotate it every RPA timeout. Returns 0, -BH_EINVAL (bad mode, or
// PUBLIC without a public address), -BH_EBUSY (the controller refused a new
// random address because advertising/scanning/initiating is enabled) or a
// controller error as -BH_EIO. A mode change applies to advertising, scanning
// and connecting started after it.
int bh_set_addr_mode(uint8_t mode);

// Back to the default address configuration (mode chosen at activation,
// RPA timeout BH_RPA_TIMEOUT_S), e.g. on soft reset. The mode in effect
// while active stays until deactivation.
void bh_addr_config_reset(void);

// Effective mode while active; the requested (or default PUBLIC) otherwise.
uint8_t bh_get_addr_mode(void);

// Our current address. Returns -BH_ENODEV when inactive.
int bh_get_addr(bh_addr_t *addr);

// Own_Address_Type for advertising, scanning and connection parameters:
// BH_ADDR_TYPE_PUBLIC in mode PUBLIC, BH_ADDR_TYPE_RANDOM in the others (the
// host generates private addresses itself and programs them with
// LE_Set_Random_Address; controller-based privacy is not used).
uint8_t bh_own_addr_type(void);

// Range of the private address lifetime: the HCI range of the RPA timeout.
#define BH_RPA_TIMEOUT_MIN_S (1)
#define BH_RPA_TIMEOUT_MAX_S (0xa1b8)

// Private address lifetime in seconds (BH_RPA_TIMEOUT_MIN_S..MAX_S, default
// BH_RPA_TIMEOUT_S); kept across activations. -BH_EINVAL when out of range. A
// new value applies to the address in use (measured from when it was set).
int bh_set_rpa_timeout(uint32_t seconds);
uint32_t bh_get_rpa_timeout(void);

// The local IRK of this activation, most significant octet first (the
// Core spec's notation for ah()). -BH_ENODEV when inactive.
int bh_get_irk(uint8_t irk[16]);

// ---- GAP: advertising, scanning, connecting (bh_adv.c, bh_scan.c, bh_gap.c) ----
// Intervals are in controller units: 0.625 ms for advertising and scanning,
// 1.25 ms for connections. Every call below returns -BH_ENODEV while inactive,
// -BH_EINVAL for arguments out of range, -BH_ETIMEDOUT when the controller does not
// answer and -BH_EIO when it refuses.
#define BH_ADV_DATA_MAX (31)
#define BH_ADV_INTERVAL_MIN (0x0020)  // 20 ms
#define BH_ADV_INTERVAL_MAX (0x4000)  // 10.24 s
#define BH_SCAN_INTERVAL_MIN (0x0004) // 2.5 ms (also the shortest window)
#define BH_SCAN_INTERVAL_MAX (0x4000) // 10.24 s
#define BH_CONN_INTERVAL_MIN (0x0006) // 7.5 ms
#define BH_CONN_INTERVAL_MAX (0x0c80) // 4 s
#define BH_CONN_HANDLE_MAX (0x0eff)
// Connection interval used when the caller gives none (30..50 ms).
#define BH_CONN_INTERVAL_DEFAULT_MIN (24)
#define BH_CONN_INTERVAL_DEFAULT_MAX (40)

// Advertising payload and scan response (AD structures, at most
// BH_ADV_DATA_MAX bytes each). The host keeps them until they are changed
// (they are forgotten at activation) and gives them to the controller at the
// next bh_adv_start(). -BH_EINVAL when too long.
int bh_adv_set_data(const uint8_t *data, size_t len);
int bh_adv_set_scan_rsp(const uint8_t *data, size_t len);
// (Re)start legacy undirected advertising with the stored payloads: ADV_IND
// when connectable, else ADV_SCAN_IND, or ADV_NONCONN_IND once the scan
// response was explicitly set empty (bh_adv_set_scan_rsp with len 0). While advertising, the new parameters and payloads replace
// the old ones (disable, set, enable). The controller stops advertising when
// a central connects; bh_adv_is_enabled() follows it.
int bh_adv_start(uint16_t interval, bool connectable);
// Stop advertising; 0 also when not advertising.
int bh_adv_stop(void);
bool bh_adv_is_enabled(void);

// Scan with legacy commands and duplicate filtering off (every advertising
// PDU heard is reported). duration_ms 0 scans until bh_scan_stop(). Starting
// while a scan runs replaces it (new parameters, new duration) without ending
// it: bh_evt_scan_done() comes once, when the last duration elapses, at
// bh_scan_stop() or at deactivation.
int bh_scan_start(uint32_t duration_ms, uint16_t interval, uint16_t window, bool active);
// Stop scanning and report bh_evt_scan_done(); 0 and no event when idle.
int bh_scan_stop(void);
bool bh_scan_is_active(void);

// Connect as central to peer (type PUBLIC or RANDOM). The attempt ends with
// bh_evt_connected() or bh_evt_connect_failed(): after timeout_ms (0: no
// timeout), at bh_connect_cancel(), at deactivation, or when the controller
// fails it. -BH_EALREADY while another attempt is pending, -BH_ENOMEM when the
// connection table is full.
int bh_connect(const bh_addr_t *peer, uint32_t timeout_ms, uint16_t interval_min,
    uint16_t interval_max);
// Cancel the pending attempt (its bh_evt_connect_failed() follows); 0 and no
// event when none is pending.
int bh_connect_cancel(void);
bool bh_connect_is_pending(void);

// Disconnect (reason: Remote User Terminated Connection). 0 when the link
// exists (bh_evt_disconnected() follows), -BH_ENOTCONN when it does not.
int bh_disconnect(uint16_t conn_handle);

// ---- L2CAP fixed channels over the ACL data path (bh_acl.c) ----

#define BH_L2CAP_CID_ATT (0x0004)
#define BH_L2CAP_CID_LE_SIGNALING (0x0005)
#define BH_L2CAP_CID_SMP (0x0006)
#define BH_L2CAP_CID_DYNAMIC_FIRST (0x0040) // LE connection-oriented channels (bh_coc.h)

// Receives one complete L2CAP PDU's information payload on a fixed channel
// (reassembled, length checked against the basic header). For the LE
// signalling channel, data is one command (code, identifier, length, data;
// length already checked): return false if the command is not understood
// and the host answers with an L2CAP Command Reject (not for a Command
// Reject). The return value is ignored on other channels. data is valid only
// during the call, and only until the handler calls anything that may
// process HCI input (a synchronous command, a Python callback).
typedef bool (*bh_l2cap_rx_fn_t)(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len);

// Install (fn) or remove (NULL) the handler of fixed channel 4, 5 or 6; kept
// across activations. Returns 0, or -BH_EINVAL for another CID. PDUs on a
// channel without handler are dropped (signalling commands rejected).
int bh_l2cap_set_rx_handler(uint16_t cid, bh_l2cap_rx_fn_t fn);

// Queue one L2CAP PDU (the basic header is added here); it goes out in
// controller-sized ACL fragments as the controller frees buffers. Returns 0,
// -BH_ENOTCONN (no such link), -BH_EMSGSIZE (len > BH_L2CAP_TX_MAX_PAYLOAD) or
// -BH_ENOMEM (transmit queue full: retry after the controller completes
// packets).
int bh_l2cap_send(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len);
// The same for bulk data (notifications, writes without response, channel
// SDUs): -BH_ENOMEM already when queuing it would cut into the room kept
// for protocol PDUs (BH_ACL_TX_RESERVED of the largest), so responses never
// lack room.
int bh_l2cap_send_bulk(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len);

// Events, implemented by the embedding. Called from inside bh_poll() or a
// synchronous host call; they must not block and must not call back into
// the host.
void bh_evt_connected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer);
void bh_evt_disconnected(uint16_t conn_handle, uint8_t role, const bh_addr_t *peer, uint8_t reason);

// GAP events. adv_type is the legacy report type (0 ADV_IND, 1
// ADV_DIRECT_IND, 2 ADV_SCAN_IND, 3 ADV_NONCONN_IND, 4 SCAN_RSP); data is
// valid only during the call.
void bh_evt_scan_result(const bh_addr_t *addr, uint8_t adv_type, int8_t rssi,
    const uint8_t *data, size_t len);
void bh_evt_scan_done(void);
// A bh_connect() attempt ended without a connection (status: HCI error, e.g.
// 0x02 after a cancel or timeout).
void bh_evt_connect_failed(const bh_addr_t *peer, uint8_t status);
// LE Connection Update Complete: interval (1.25 ms), latency (events),
// supervision timeout (10 ms), HCI status.
void bh_evt_conn_update(uint16_t conn_handle, uint16_t interval, uint16_t latency,
    uint16_t timeout, uint8_t status);
// A link's security changed: once per completed pairing (after key
// distribution, bonded already true when the store took the keys), once per
// encryption with a stored key, and once with encrypted false when a pairing
// or an encryption we started fails. key_size is in octets, 0 when unknown.
// status is 0, or why it failed: BH_SEC_FAIL_* below.
void bh_evt_encryption_update(uint16_t conn_handle, bool encrypted, bool authenticated,
    bool bonded, uint8_t key_size, uint16_t status);

// Failure statuses: 0x01-0x0f the SMP Pairing Failed reason (ours or the
// peer's, Core Vol 3 Part H 3.5.5), 0x100 + HCI status when the controller
// failed the encryption (e.g. 0x106 PIN or Key Missing), and:
#define BH_SEC_FAIL_HCI (0x100)
#define BH_SEC_FAIL_TIMEOUT (0x200)      // the 30 s SMP timeout
#define BH_SEC_FAIL_DISCONNECTED (0x201) // the link closed during pairing

// ---- Security Manager (bh_smp.c) ----

// I/O capabilities (Core Vol 3 Part H 3.5.1), as config('io') numbers them.
#define BH_IO_DISPLAY_ONLY (0)
#define BH_IO_DISPLAY_YESNO (1)
#define BH_IO_KEYBOARD_ONLY (2)
#define BH_IO_NO_INPUT_OUTPUT (3)
#define BH_IO_KEYBOARD_DISPLAY (4)

// Passkey actions (bh_evt_passkey_action, bh_smp_passkey).
#define BH_PASSKEY_INPUT (2)
#define BH_PASSKEY_DISPLAY (3)
#define BH_PASSKEY_NUMCMP (4)

// Settings for the next pairing (either role): I/O capability, MITM
// wanted, LE Secure Connections required (legacy refused with
// Authentication Requirements), bonding. Kept across activations.
void bh_smp_set_config(uint8_t io, bool mitm, bool sc_only, bool bond);

// Accept a peer's use of the Core's debug public key (Vol 3 Part H
// 2.3.5.6.1), for tests with sniffers only: its private key is published,
// so such a pairing is no secret. Off by default (refused with
// Authentication Requirements). Kept across activations.
void bh_smp_set_debug_keys(bool allow);

// Start security on a link: as central encrypt with the stored key of a
// bonded peer (pairing afresh if the peer lost it), else send a Pairing
// Request; as peripheral send a Security Request. 0, -BH_ENOTCONN,
// -BH_EALREADY (pairing already running), -BH_ENOMEM (queues full).
int bh_smp_pair(uint16_t conn_handle);

// Adopt our identity (IRK, static address) from the store if it holds one
// (BH_SEC_TYPE_LOCAL_ID), so it is the same across resets; the address in
// use follows. The embedding calls it when a store may have become
// reachable (activation, a new IRQ handler); pairing calls it too. The
// identity is stored the first time a bond is stored.
void bh_smp_identity_load(void);

// Answer a bh_evt_passkey_action: INPUT and DISPLAY take the passkey
// (0..999999), NUMCMP takes 1 (accept) or 0 (reject). -BH_ENOTCONN (no
// link), -BH_EPERM (no such action pending), -BH_EINVAL (passkey out of
// range).
int bh_smp_passkey(uint16_t conn_handle, uint8_t action, uint32_t passkey);

// Pairing needs the user: INPUT (type the passkey the peer shows; passkey
// 0), DISPLAY (show a passkey: passkey is a random proposal the
// application may answer with), NUMCMP (passkey is the 6-digit value to
// compare).
void bh_evt_passkey_action(uint16_t conn_handle, uint8_t action, uint32_t passkey);

// The bonding store, kept by the embedding (synchronous upcalls, made only
// from bh_poll() or an API call). get: the value stored for (sec_type, key),
// or with key NULL the index'th record of sec_type; copies up to value_max
// octets and returns the value's length, or -1 when there is none. set:
// store or, value NULL, delete; true when the store took it. Record layouts: bh_smp_keys.h.
#define BH_SEC_TYPE_LOCAL_ID (1)
#define BH_SEC_TYPE_PEER_BOND (2)
#define BH_SEC_TYPE_PEER_CCCD (3)
int bh_evt_get_secret(uint8_t sec_type, uint16_t index, const uint8_t *key, size_t key_len,
    uint8_t *value, size_t value_max);
bool bh_evt_set_secret(uint8_t sec_type, const uint8_t *key, size_t key_len,
    const uint8_t *value, size_t value_len);

#endif // BLEHOST_BLEHOST_H
