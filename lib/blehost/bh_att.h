// ATT bearer on the fixed channel 4: opcodes, error codes, the per-link MTU,
// and the routing of received PDUs to the GATT server (requests, commands,
// confirmations) and the GATT client (responses, notifications,
// indications). Owned by bh_att.c; the server is bh_gatts.c, the client
// bh_gattc.c.
#ifndef BLEHOST_BH_ATT_H
#define BLEHOST_BH_ATT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// ---- opcodes (Core Vol 3 Part F 3.4.8) ----
#define BH_ATT_ERROR_RSP (0x01)
#define BH_ATT_EXCHANGE_MTU_REQ (0x02)
#define BH_ATT_EXCHANGE_MTU_RSP (0x03)
#define BH_ATT_FIND_INFORMATION_REQ (0x04)
#define BH_ATT_FIND_INFORMATION_RSP (0x05)
#define BH_ATT_FIND_BY_TYPE_VALUE_REQ (0x06)
#define BH_ATT_FIND_BY_TYPE_VALUE_RSP (0x07)
#define BH_ATT_READ_BY_TYPE_REQ (0x08)
#define BH_ATT_READ_BY_TYPE_RSP (0x09)
#define BH_ATT_READ_REQ (0x0a)
#define BH_ATT_READ_RSP (0x0b)
#define BH_ATT_READ_BLOB_REQ (0x0c)
#define BH_ATT_READ_BLOB_RSP (0x0d)
#define BH_ATT_READ_MULTIPLE_REQ (0x0e)
#define BH_ATT_READ_MULTIPLE_RSP (0x0f)
#define BH_ATT_READ_BY_GROUP_TYPE_REQ (0x10)
#define BH_ATT_READ_BY_GROUP_TYPE_RSP (0x11)
#define BH_ATT_WRITE_REQ (0x12)
#define BH_ATT_WRITE_RSP (0x13)
#define BH_ATT_PREPARE_WRITE_REQ (0x16)
#define BH_ATT_PREPARE_WRITE_RSP (0x17)
#define BH_ATT_EXECUTE_WRITE_REQ (0x18)
#define BH_ATT_EXECUTE_WRITE_RSP (0x19)
#define BH_ATT_HANDLE_VALUE_NTF (0x1b)
#define BH_ATT_HANDLE_VALUE_IND (0x1d)
#define BH_ATT_HANDLE_VALUE_CFM (0x1e)
#define BH_ATT_WRITE_CMD (0x52)
#define BH_ATT_SIGNED_WRITE_CMD (0xd2)

// Bit 6 of an opcode: a command (no response, never an Error Response).
#define BH_ATT_OP_COMMAND_FLAG (0x40)

// ---- error codes (Core Vol 3 Part F 3.4.1.1) ----
#define BH_ATT_ERR_INVALID_HANDLE (0x01)
#define BH_ATT_ERR_READ_NOT_PERMITTED (0x02)
#define BH_ATT_ERR_WRITE_NOT_PERMITTED (0x03)
#define BH_ATT_ERR_INVALID_PDU (0x04)
#define BH_ATT_ERR_INSUFFICIENT_AUTHENTICATION (0x05)
#define BH_ATT_ERR_REQUEST_NOT_SUPPORTED (0x06)
#define BH_ATT_ERR_INVALID_OFFSET (0x07)
#define BH_ATT_ERR_INSUFFICIENT_AUTHORIZATION (0x08)
#define BH_ATT_ERR_INSUFFICIENT_ENC_KEY_SIZE (0x0c)
#define BH_ATT_ERR_PREPARE_QUEUE_FULL (0x09)
#define BH_ATT_ERR_ATTRIBUTE_NOT_FOUND (0x0a)
#define BH_ATT_ERR_ATTRIBUTE_NOT_LONG (0x0b)
#define BH_ATT_ERR_ENCRYPTION_KEY_SIZE (0x0c)
#define BH_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH (0x0d)
#define BH_ATT_ERR_UNLIKELY (0x0e)
#define BH_ATT_ERR_INSUFFICIENT_ENCRYPTION (0x0f)
#define BH_ATT_ERR_UNSUPPORTED_GROUP_TYPE (0x10)
#define BH_ATT_ERR_INSUFFICIENT_RESOURCES (0x11)

// ---- MTU ----
#define BH_ATT_MTU_DEFAULT (23)
#define BH_ATT_MTU_MAX (517)
#define BH_ATT_VALUE_MAX (512) // longest attribute value (Core Vol 3 Part F 3.2.9)

// ATT transaction timeout (Core Vol 3 Part F 3.3.3).
#define BH_ATT_TIMEOUT_MS (30000)

// The MTU we offer in an exchange (config('mtu'), default
// BH_ATT_LOCAL_MTU_DEFAULT); kept across activations.
// -BH_EINVAL outside BH_ATT_MTU_DEFAULT..BH_ATT_MTU_MAX.
int bh_att_set_local_mtu(uint16_t mtu);
uint16_t bh_att_get_local_mtu(void);

// The MTU in use on a link (BH_ATT_MTU_DEFAULT until an exchange completes);
// 0 when the link does not exist.
uint16_t bh_att_get_mtu(uint16_t conn_handle);

// An exchange finished (either side initiated): record min(local, peer mtu),
// at least BH_ATT_MTU_DEFAULT, and report bh_evt_mtu_exchanged() once per
// link. Used by the server (request received) and the client (response).
void bh_att_mtu_exchanged(uint16_t conn_handle, uint16_t peer_mtu);

// Send one ATT PDU on a link; returns bh_l2cap_send()'s result.
// Requests, responses, confirmations: any free transmit slot. Bulk
// (notifications, indications, writes without response): only slots not
// reserved for the others (blehost.h, bh_l2cap_send_bulk).
int bh_att_send_bulk(uint16_t conn_handle, const uint8_t *pdu, size_t len);
int bh_att_send(uint16_t conn_handle, const uint8_t *pdu, size_t len);

// A link closed, called by the data path: forget the link's ATT state
// (MTU, server and client transactions; the state is created on first use).
// A client transaction pending on a closed link ends with its DONE event.
void bh_att_conn_closed(uint16_t conn_handle);

// Activation: register the channel 4 handler, reset all ATT state.
void bh_att_init(void);

// Timers (ATT transaction timeouts, indication timeouts), from bh_poll().
void bh_att_poll(uint32_t now_ms);

// The ATT bearer (with the GATT server and client) as a connection layer.
struct _bh_layer_t;
extern const struct _bh_layer_t bh_att_layer;

// ---- routing: bh_att.c calls these for each received PDU ----
// Requests, commands and Handle Value Confirmation go to the server:
void bh_gatts_on_pdu(uint16_t conn_handle, const uint8_t *pdu, size_t len);
// Responses, Error Responses, notifications and indications go to the client:
void bh_gattc_on_pdu(uint16_t conn_handle, const uint8_t *pdu, size_t len);

// Server and client hooks called by bh_att.c: a link closed
// (procedures pending on it end with their DONE events), the timers, and
// a full reset at activation/deactivation.
void bh_gatts_conn_closed(uint16_t conn_handle);
void bh_gatts_poll(uint32_t now_ms);
void bh_gatts_reset_links(void);
void bh_gattc_conn_closed(uint16_t conn_handle);
void bh_gattc_poll(uint32_t now_ms);
void bh_gattc_reset(void);

// Upward event (implemented by the embedding): the MTU of a link changed
// after an exchange, whichever side initiated it.
void bh_evt_mtu_exchanged(uint16_t conn_handle, uint16_t mtu);
// bh_att.c also drives the client's life cycle (declared in bh_gattc.h):
// bh_gattc_reset() from bh_att_init(), bh_gattc_conn_closed() from
// bh_att_conn_closed(), bh_gattc_poll(now_ms) from bh_att_poll(). The client
// sends Exchange MTU Requests itself and reports the response (or an error
// response, as peer MTU 23) with bh_att_mtu_exchanged().

#endif // BLEHOST_BH_ATT_H
