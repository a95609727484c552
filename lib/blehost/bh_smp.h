// Security Manager (Core Vol 3 Part H): pairing on L2CAP CID 6 in both
// roles, legacy (Just Works, Passkey Entry) and LE Secure Connections (Just
// Works, Numeric Comparison, Passkey Entry), key distribution (LTK with
// EDIV/Rand, IRK with identity address), bonding through the embedding's
// store (bh_smp_keys.c) and re-encryption with a stored key. The public
// half (configuration, bh_smp_pair, bh_smp_passkey, events) is in blehost.h.
#ifndef BLEHOST_BH_SMP_H
#define BLEHOST_BH_SMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "blehost.h"

struct _bh_conn_t;

// SMP command codes (3.3).
#define BH_SMP_PAIRING_REQUEST (0x01)
#define BH_SMP_PAIRING_RESPONSE (0x02)
#define BH_SMP_PAIRING_CONFIRM (0x03)
#define BH_SMP_PAIRING_RANDOM (0x04)
#define BH_SMP_PAIRING_FAILED (0x05)
#define BH_SMP_ENCRYPTION_INFO (0x06)
#define BH_SMP_CENTRAL_IDENT (0x07)
#define BH_SMP_IDENTITY_INFO (0x08)
#define BH_SMP_IDENTITY_ADDR_INFO (0x09)
#define BH_SMP_SIGNING_INFO (0x0a)
#define BH_SMP_SECURITY_REQUEST (0x0b)
#define BH_SMP_PUBLIC_KEY (0x0c)
#define BH_SMP_DHKEY_CHECK (0x0d)
#define BH_SMP_KEYPRESS (0x0e)

// Pairing Failed reasons (3.5.5).
#define BH_SMP_ERR_PASSKEY_ENTRY_FAILED (0x01)
#define BH_SMP_ERR_AUTH_REQUIREMENTS (0x03)
#define BH_SMP_ERR_CONFIRM_VALUE_FAILED (0x04)
#define BH_SMP_ERR_PAIRING_NOT_SUPPORTED (0x05)
#define BH_SMP_ERR_ENC_KEY_SIZE (0x06)
#define BH_SMP_ERR_CMD_NOT_SUPPORTED (0x07)
#define BH_SMP_ERR_UNSPECIFIED (0x08)
#define BH_SMP_ERR_REPEATED_ATTEMPTS (0x09)
#define BH_SMP_ERR_INVALID_PARAMS (0x0a)
#define BH_SMP_ERR_DHKEY_CHECK_FAILED (0x0b)
#define BH_SMP_ERR_NUMERIC_COMPARISON_FAILED (0x0c)

// HCI events of the P-256 commands (LE Meta subevents) and their least
// lengths: status + public key (64), status + DHKey (32).
#define BH_LE_SUBEVT_P256_COMPLETE (0x08)
#define BH_LE_SUBEVT_DHKEY_COMPLETE (0x09)
#define BH_SMP_P256_MIN_LEN (65)
#define BH_SMP_DHKEY_MIN_LEN (33)
void bh_smp_on_p256_complete(const uint8_t *p, size_t len);
void bh_smp_on_dhkey_complete(const uint8_t *p, size_t len);

// bh_sec.c's report of an Encryption Change / Key Refresh on a link (status
// 0: encryption is on, with c->sec.key_size known; else the HCI error), and
// of an LTK Request (peripheral): SMP replies with the key and returns true,
// or returns false (no key: the caller sends the Negative Reply).
void bh_smp_encryption_changed(struct _bh_conn_t *c, uint8_t status);
bool bh_smp_ltk_request(struct _bh_conn_t *c, const uint8_t rand[8], uint16_t ediv);

// Whether the controller has the P-256 commands LE Secure Connections
// needs (bh_host.c reads it at activation; true until then): without them
// SC is not offered, and with Secure Connections Only bh_smp_pair fails
// with -BH_EOPNOTSUPP.
void bh_smp_set_controller_sc(bool supported);

// Bonded peers for GAP (with bonding on; synchronous store upcalls: from
// bh_poll() or an API call). peer_irk: the IRK of the bond stored under
// this identity address (never a private address), if it has one.
// peer_identity: the identity of the bond a resolvable private address
// resolves to.
bool bh_smp_peer_irk(const bh_addr_t *id, uint8_t irk[16]);
bool bh_smp_peer_identity(const bh_addr_t *rpa, bh_addr_t *id);

// Pairing timeout (3.4).
#define BH_SMP_TIMEOUT_MS (30000)
// Repeated attempts (2.3.6): after a failed authentication (wrong passkey,
// rejected comparison, bad check value) a new pairing with the same peer
// (the address it used, or its identity) is refused with Repeated Attempts
// (gap_pair: EAGAIN) for BH_SMP_RETRY_MS, doubled per further failure up
// to BH_SMP_RETRY_MAX_MS; reconnecting does not reset it, a successful
// pairing does.
#define BH_SMP_RETRY_MS (2000u)
#define BH_SMP_RETRY_MAX_FAILURES (7)
#define BH_SMP_RETRY_MAX_MS (BH_SMP_RETRY_MS << (BH_SMP_RETRY_MAX_FAILURES - 1)) // 128 s

struct _bh_layer_t;
extern const struct _bh_layer_t bh_smp_layer;

#endif // BLEHOST_BH_SMP_H
