// L2CAP LE credit-based connection-oriented channels (Core Vol 3 Part A
// 3.4, 4.22-4.24, 10.1), as the API offers them: one channel at a time
// (connecting while listening or while a channel exists is refused), our MTU
// chosen per call, the peer's learnt from its request or response.
//
// Receiving: the peer gets credits for as many K-frames as carry one SDU of
// our MTU into an empty receive buffer; more are granted only once the
// embedding has read everything (bh_coc_recv), so our MTU bounds what the
// peer may have outstanding. Data is readable once its SDU is complete.
// Sending: one SDU at a time, cut into K-frames of the peer's MPS, each
// spending one of the peer's credits; what cannot go now (no credits, ACL
// queue full) goes from bh_coc_poll(), and bh_evt_l2cap_send_ready() says
// when the SDU has gone and the next may be sent.
// A peer that breaks the credit rules (frame without a credit, frame over
// our MPS, SDU over our MTU) has the channel disconnected (Core 3.4.3).
#ifndef BLEHOST_BH_COC_H
#define BLEHOST_BH_COC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bh_config.h"

// Largest MTU (SDU) a channel may use on our side. The host keeps no channel
// buffers of its own: each channel's storage comes from the embedding.
#ifndef BH_COC_MTU_MAX
#define BH_COC_MTU_MAX (1024)
#endif
#define BH_COC_MTU_MIN (23)

// Storage of one channel with our MTU mtu, given by the embedding to
// bh_coc_listen() or bh_coc_connect(): the receive buffer (the complete SDUs
// not read yet and the start of the next: twice our MTU, its 2-byte length
// field and one K-frame of the MPS we announce), then the send buffer (one
// SDU of up to twice our MTU behind room for its length field, so the first
// K-frame is sent from it in place). 4617 bytes for an MTU of 1024.
#define BH_COC_MPS(mtu) ((mtu) + 2 < BH_L2CAP_RX_MAX_PAYLOAD ? (mtu) + 2 : BH_L2CAP_RX_MAX_PAYLOAD)
#define BH_COC_RX_CAP(mtu) (2 * (size_t)(mtu) + 2 + (size_t)BH_COC_MPS(mtu))
#define BH_COC_TX_CAP(mtu) (2 + 2 * (size_t)(mtu))
#define BH_COC_STORAGE_SIZE(mtu) (BH_COC_RX_CAP(mtu) + BH_COC_TX_CAP(mtu))

// Statuses of bh_evt_l2cap_disconnect() for a connection attempt that
// failed: the peer's result code (0x0002-0x000b), or one of these.
#define BH_COC_STATUS_TIMEOUT (0x100)      // no response within 30 s
#define BH_COC_STATUS_DISCONNECTED (0x101) // link closed while connecting

// Storage: mem (cap bytes, at least BH_COC_STORAGE_SIZE(mtu)) is the
// embedding's. A call that returns 0 hands it to the host, which uses it
// until it gives it back with bh_evt_l2cap_storage_free(mem) and never
// touches it afterwards; a call that fails leaves it with the caller.

// Listen on psm (LE PSM 0x0001-0x00ff) with our MTU (BH_COC_MTU_MIN ..
// BH_COC_MTU_MAX); every channel accepted on it uses mem, one at a time.
// Listening lasts until the host is reset (mem is given back then); a new
// call replaces psm, mtu and mem (the old mem is given back, unless it is
// the same). 0, -BH_EINVAL (bad psm/mtu, mem NULL or cap too small),
// -BH_EALREADY (a channel is open or connecting).
int bh_coc_listen(uint16_t psm, uint16_t mtu, uint8_t *mem, size_t cap);

// Ask the peer on conn_handle for a channel on psm, with mem as its
// storage (given back after the channel closes or the attempt fails,
// right after bh_evt_l2cap_disconnect()). 0 (the result comes as
// bh_evt_l2cap_connect() or bh_evt_l2cap_disconnect() with a non-zero
// status), -BH_EINVAL, -BH_ENOTCONN (no such link), -BH_EALREADY (listening, or a
// channel open or connecting), -BH_ENOMEM (transmit queue full: retry).
int bh_coc_connect(uint16_t conn_handle, uint16_t psm, uint16_t mtu, uint8_t *mem, size_t cap);

// Close the channel (conn_handle, cid: our CID). 0 (bh_evt_l2cap_disconnect
// follows with status 0), -BH_EINVAL (no such channel), -BH_EALREADY (already
// closing).
int bh_coc_disconnect(uint16_t conn_handle, uint16_t cid);

// Send one SDU. 1: it has gone to the controller's queue, the next may be
// sent now; 0: part of it waits for credits (the channel is stalled until
// bh_evt_l2cap_send_ready()); -BH_EINVAL (no such channel), -BH_EMSGSIZE (len over
// the peer's MTU or over twice our MTU), -BH_EAGAIN (the previous SDU has not
// gone yet).
int bh_coc_send(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len);

// Copy up to len received bytes into buf (buf NULL: just count them).
// Returns the bytes copied (or available), or -BH_EINVAL (no such channel).
// Reading the last byte grants the peer its credits again.
int bh_coc_recv(uint16_t conn_handle, uint16_t cid, uint8_t *buf, size_t len);

// Host internals: reset with the GAP layer, the LE signalling commands of
// this feature, K-frames on dynamic CIDs, closed links, retries and timers.
void bh_coc_reset(void);
bool bh_coc_on_signal(uint16_t conn_handle, const uint8_t *cmd, size_t len);
void bh_coc_on_pdu(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len);
void bh_coc_conn_closed(uint16_t conn_handle);
void bh_coc_poll(uint32_t now_ms);
// The channels as a connection layer (bh_conn.h).
struct _bh_layer_t;
extern const struct _bh_layer_t bh_coc_layer;

// Events, implemented by the embedding (same rules as blehost.h's).
// A request on the PSM we listen on: return 0 to accept, or an L2CAP result
// code (0x0002-0x000b; anything else is sent as 0x0004, no resources) to
// refuse. Called synchronously.
uint16_t bh_evt_l2cap_accept(uint16_t conn_handle, uint16_t cid, uint16_t psm,
    uint16_t our_mtu, uint16_t peer_mtu);
void bh_evt_l2cap_connect(uint16_t conn_handle, uint16_t cid, uint16_t psm,
    uint16_t our_mtu, uint16_t peer_mtu);
// status 0: an open channel closed (either side, or its link went);
// non-zero: our connection attempt failed (see above).
void bh_evt_l2cap_disconnect(uint16_t conn_handle, uint16_t cid, uint16_t psm, uint16_t status);
// An SDU has been received (bh_coc_recv() can read it). Return false if the
// event could not be queued: the host raises it again from bh_coc_poll()
// until it is, so a reader that waits for it is never left waiting (the
// peer gets no credits until everything is read).
bool bh_evt_l2cap_recv(uint16_t conn_handle, uint16_t cid);
// The SDU that bh_coc_send() left waiting has gone (status 0).
void bh_evt_l2cap_send_ready(uint16_t conn_handle, uint16_t cid, uint16_t status);
// The host no longer uses mem (given to bh_coc_listen/bh_coc_connect) and
// never will: the embedding may free it. Called once per mem handed over.
void bh_evt_l2cap_storage_free(uint8_t *mem);

#endif // BLEHOST_BH_COC_H
