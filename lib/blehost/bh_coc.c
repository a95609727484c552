// L2CAP LE credit-based connection-oriented channels. See bh_coc.h.
//
// One channel at a time (the API's rule), so the state is one struct. Its
// buffers are the embedding's storage (bh_coc.h): the listen's, or the one
// given to bh_coc_connect(). The receive buffer holds complete SDUs waiting
// to be read plus at most one SDU being reassembled; the peer is topped up
// to full_credits whenever everything readable has been read, which always
// leaves room for what those credits may carry: the partial SDU (under our
// MTU) plus full_credits frames of our MPS (under MTU + 2 + MPS bytes),
// within BH_COC_RX_CAP(mtu).
#include "bh_err.h"
#include <string.h>

#include "bh_acl.h"
#include "bh_coc.h"
#include "bh_config.h"
#include "bh_conn.h"
#include "bh_port.h"
#include "bh_util.h"

#define SIG_COMMAND_REJECT (0x01)
#define SIG_DISCONNECTION_REQ (0x06)
#define SIG_DISCONNECTION_RSP (0x07)
#define SIG_LE_CONN_REQ (0x14)
#define SIG_LE_CONN_RSP (0x15)
#define SIG_FLOW_CONTROL_CREDIT (0x16)

#define RESULT_SUCCESS (0x0000)
#define RESULT_SPSM_NOT_SUPPORTED (0x0002)
#define RESULT_NO_RESOURCES (0x0004)
#define RESULT_INVALID_SOURCE_CID (0x0009)
#define RESULT_SOURCE_CID_ALLOCATED (0x000a)
#define RESULT_UNACCEPTABLE_PARAMETERS (0x000b)

#define CID_DYNAMIC_FIRST (0x0040)
#define CID_DYNAMIC_LAST (0x007f)
#define PSM_MAX (0x00ff)
#define MPS_MIN (23)
#define MPS_MAX (65533)
#define CREDITS_MAX (65535)
#define SDU_LEN_FIELD (2)
#define SIG_TIMEOUT_MS (30000)

typedef enum {
    CH_IDLE,
    CH_CONNECTING, // our request sent, waiting for the response
    CH_OPEN,
    CH_CLOSING,    // our disconnection request sent
} ch_state_t;

typedef struct _channel_t {
    uint8_t state;
    uint8_t sig_id;  // identifier of our outstanding request
    uint32_t sig_ms; // when it went
    uint16_t conn_handle;
    uint16_t psm;
    uint16_t local_cid;
    uint16_t remote_cid;
    uint16_t our_mtu;
    uint16_t our_mps;
    uint16_t peer_mtu;
    uint16_t peer_mps;
    uint16_t full_credits; // what the peer is topped up to
    uint16_t peer_credits; // frames the peer may still send us
    uint32_t tx_credits;   // frames we may still send (peer's grants)
    // receive: bytes [rx_read, rx_ready) are readable, [rx_ready, rx_len)
    // belong to the SDU being reassembled (sdu_left bytes still to come; 0:
    // the next K-frame starts an SDU)
    bool grant_pending;
    bool recv_pending; // bh_evt_l2cap_recv() could not be delivered yet
    uint16_t rx_len;
    uint16_t rx_ready;
    uint16_t rx_read;
    uint16_t sdu_left;
    // send: one SDU; tx_first while its first K-frame has not gone
    bool tx_active;
    bool tx_first;
    bool tx_stalled; // bh_coc_send() returned 0 for it
    uint16_t tx_len;
    uint16_t tx_sent;
    // storage (set up by use_storage()): rx_cap bytes at rx; at tx the SDU
    // length field, then the SDU (up to twice our MTU)
    uint16_t rx_cap;
    uint8_t *rx;
    uint8_t *tx;
} channel_t;

static struct {
    bool listening;
    uint16_t listen_psm;
    uint16_t listen_mtu;
    uint8_t next_id;
    uint16_t next_cid;
    // A signalling PDU that found the transmit queue full, retried from
    // bh_coc_poll() (credits are recomputed instead: grant_pending).
    uint16_t sig_pending_conn;
    uint8_t sig_pending_len;
    uint8_t sig_pending[16];
    // Storage held: the listen's (kept for every channel accepted on it)
    // and the one of the channel bh_coc_connect() opens (given back when
    // that channel ends).
    uint8_t *listen_mem;
    uint8_t *connect_mem;
    channel_t ch;
} coc;

static void give_back(uint8_t **mem) {
    uint8_t *m = *mem;
    if (m != NULL) {
        *mem = NULL;
        bh_evt_l2cap_storage_free(m);
    }
}

static bool storage_ok(uint16_t mtu, const uint8_t *mem, size_t cap) {
    return mem != NULL && cap >= BH_COC_STORAGE_SIZE(mtu);
}

void bh_coc_reset(void) {
    // Whatever storage is still held goes back to the embedding.
    give_back(&coc.connect_mem);
    give_back(&coc.listen_mem);
    memset(&coc, 0, sizeof(coc));
    coc.next_cid = CID_DYNAMIC_FIRST;
    bh_l2cap_set_dynamic_handler(bh_coc_on_pdu);
}

static void coc_disconnected(bh_conn_t *conn) {
    bh_coc_conn_closed(conn->handle);
}

static void coc_poll(uint32_t now_ms) {
    bh_coc_poll(now_ms);
}

const bh_layer_t bh_coc_layer = {
    .reset = bh_coc_reset,
    .disconnected = coc_disconnected,
    .poll = coc_poll,
};

static uint8_t next_identifier(void) {
    coc.next_id = (uint8_t)(coc.next_id + 1);
    if (coc.next_id == 0) {
        coc.next_id = 1;
    }
    return coc.next_id;
}

static uint16_t allocate_cid(void) {
    uint16_t cid = coc.next_cid;
    coc.next_cid = cid == CID_DYNAMIC_LAST ? CID_DYNAMIC_FIRST : (uint16_t)(cid + 1);
    return cid;
}

static int sig_send(uint16_t conn_handle, const uint8_t *cmd, size_t len) {
    return bh_l2cap_send(conn_handle, BH_L2CAP_CID_LE_SIGNALING, cmd, len);
}

// Send, or keep for a retry if the queue is full (one slot: a second
// failure in a row is dropped, which only a peer ignoring our credits
// while flooding requests could cause).
static void sig_send_or_keep(uint16_t conn_handle, const uint8_t *cmd, size_t len) {
    if (coc.sig_pending_len == 0 && sig_send(conn_handle, cmd, len) == -BH_ENOMEM
        && len <= sizeof(coc.sig_pending)) {
        coc.sig_pending_conn = conn_handle;
        memcpy(coc.sig_pending, cmd, len);
        coc.sig_pending_len = (uint8_t)len;
    }
}

static void put_cmd_header(uint8_t *p, uint8_t code, uint8_t identifier, uint16_t len) {
    p[0] = code;
    p[1] = identifier;
    bh_put_u16(p + 2, len);
}

static uint16_t credits_for(uint16_t mtu, uint16_t mps) {
    return (uint16_t)((mtu + SDU_LEN_FIELD + mps - 1) / mps);
}

// A fresh channel of our MTU our_mtu over mem (BH_COC_STORAGE_SIZE bytes).
static void open_channel(channel_t *ch, uint16_t our_mtu, uint8_t *mem) {
    memset(ch, 0, sizeof(*ch));
    ch->our_mtu = our_mtu;
    ch->our_mps = (uint16_t)BH_COC_MPS(our_mtu);
    ch->full_credits = credits_for(our_mtu, ch->our_mps);
    ch->peer_credits = ch->full_credits;
    ch->rx_cap = (uint16_t)BH_COC_RX_CAP(our_mtu);
    ch->rx = mem;
    ch->tx = mem + ch->rx_cap;
}

// End the channel: forget it, tell the embedding, then give back the
// storage of a channel we asked for.
static void close_channel(uint16_t status) {
    channel_t *ch = &coc.ch;
    uint16_t conn_handle = ch->conn_handle;
    uint16_t cid = ch->local_cid;
    uint16_t psm = ch->psm;
    ch->state = CH_IDLE;
    ch->tx_active = false;
    ch->rx = NULL;
    ch->tx = NULL;
    bh_evt_l2cap_disconnect(conn_handle, cid, psm, status);
    give_back(&coc.connect_mem);
}

static channel_t *find(uint16_t conn_handle, uint16_t cid) {
    channel_t *ch = &coc.ch;
    if (ch->state == CH_IDLE || ch->conn_handle != conn_handle || ch->local_cid != cid) {
        return NULL;
    }
    return ch;
}

// Ask the peer to close (our side, or a peer that broke the rules).
static void request_disconnect(channel_t *ch) {
    uint8_t cmd[8];
    ch->sig_id = next_identifier();
    put_cmd_header(cmd, SIG_DISCONNECTION_REQ, ch->sig_id, 4);
    bh_put_u16(cmd + 4, ch->remote_cid);
    bh_put_u16(cmd + 6, ch->local_cid);
    sig_send_or_keep(ch->conn_handle, cmd, sizeof(cmd));
    ch->state = CH_CLOSING;
    ch->sig_ms = bh_port_ticks_ms();
    ch->tx_active = false;
}

// ---- sending ----

// Hand K-frames of the SDU to the ACL queue while credits and room last.
static void tx_pump(channel_t *ch) {
    uint16_t max = ch->peer_mps < BH_L2CAP_TX_MAX_PAYLOAD ? ch->peer_mps : BH_L2CAP_TX_MAX_PAYLOAD;
    while (ch->tx_active && ch->tx_credits > 0) {
        const uint8_t *p;
        size_t n;
        size_t chunk;
        uint16_t left = (uint16_t)(ch->tx_len - ch->tx_sent);
        if (ch->tx_first) {
            // The length field sits in front of the SDU in the send buffer.
            chunk = left < max - SDU_LEN_FIELD ? left : (size_t)(max - SDU_LEN_FIELD);
            bh_put_u16(ch->tx, ch->tx_len);
            p = ch->tx;
            n = chunk + SDU_LEN_FIELD;
        } else {
            chunk = left < max ? left : max;
            p = ch->tx + SDU_LEN_FIELD + ch->tx_sent;
            n = chunk;
        }
        if (bh_l2cap_send_bulk(ch->conn_handle, ch->remote_cid, p, n) != 0) {
            return; // queue full (retried from bh_coc_poll) or link gone
        }
        ch->tx_credits--;
        ch->tx_first = false;
        ch->tx_sent = (uint16_t)(ch->tx_sent + chunk);
        if (ch->tx_sent == ch->tx_len) {
            ch->tx_active = false;
            if (ch->tx_stalled) {
                ch->tx_stalled = false;
                bh_evt_l2cap_send_ready(ch->conn_handle, ch->local_cid, 0);
            }
        }
    }
}

int bh_coc_send(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    channel_t *ch = find(conn_handle, cid);
    if (ch == NULL || ch->state != CH_OPEN) {
        return -BH_EINVAL;
    }
    // The send buffer holds twice our MTU (BH_COC_TX_CAP).
    if (len > ch->peer_mtu || len > 2 * (size_t)ch->our_mtu) {
        return -BH_EMSGSIZE;
    }
    if (ch->tx_active) {
        return -BH_EAGAIN;
    }
    memcpy(ch->tx + SDU_LEN_FIELD, data, len);
    ch->tx_len = (uint16_t)len;
    ch->tx_sent = 0;
    ch->tx_first = true;
    ch->tx_active = true;
    ch->tx_stalled = false;
    tx_pump(ch);
    if (ch->tx_active) {
        ch->tx_stalled = true;
        return 0;
    }
    return 1;
}

// ---- receiving ----

// Top the peer up to full_credits (called once everything readable is read).
static void grant_credits(channel_t *ch) {
    ch->grant_pending = false;
    if (ch->state != CH_OPEN || ch->peer_credits >= ch->full_credits) {
        return;
    }
    uint16_t grant = (uint16_t)(ch->full_credits - ch->peer_credits);
    uint8_t cmd[8];
    put_cmd_header(cmd, SIG_FLOW_CONTROL_CREDIT, next_identifier(), 4);
    bh_put_u16(cmd + 4, ch->local_cid);
    bh_put_u16(cmd + 6, grant);
    if (sig_send(ch->conn_handle, cmd, sizeof(cmd)) == 0) {
        ch->peer_credits = ch->full_credits;
    } else {
        ch->grant_pending = true; // retried from bh_coc_poll()
    }
}

int bh_coc_recv(uint16_t conn_handle, uint16_t cid, uint8_t *buf, size_t len) {
    channel_t *ch = find(conn_handle, cid);
    if (ch == NULL) {
        return -BH_EINVAL;
    }
    size_t avail = (size_t)(ch->rx_ready - ch->rx_read);
    if (buf == NULL) {
        return (int)avail;
    }
    size_t n = len < avail ? len : avail;
    memcpy(buf, ch->rx + ch->rx_read, n);
    ch->rx_read = (uint16_t)(ch->rx_read + n);
    if (n > 0 && ch->rx_read == ch->rx_ready) {
        // All read: keep only the SDU being reassembled, then top up.
        uint16_t partial = (uint16_t)(ch->rx_len - ch->rx_ready);
        memmove(ch->rx, ch->rx + ch->rx_ready, partial);
        ch->rx_len = partial;
        ch->rx_ready = 0;
        ch->rx_read = 0;
        grant_credits(ch);
    }
    return (int)n;
}

// One K-frame on our channel. Returns false if the peer broke the rules.
static bool rx_frame(channel_t *ch, const uint8_t *data, size_t len) {
    if (ch->peer_credits == 0 || len > ch->our_mps) {
        return false;
    }
    ch->peer_credits--;
    if (ch->sdu_left == 0) {
        if (len < SDU_LEN_FIELD) {
            return false;
        }
        uint16_t sdu_len = bh_get_u16(data);
        if (sdu_len > ch->our_mtu) {
            return false;
        }
        data += SDU_LEN_FIELD;
        len -= SDU_LEN_FIELD;
        ch->sdu_left = sdu_len;
    }
    if (len > ch->sdu_left || ch->rx_len + len > ch->rx_cap) {
        return false;
    }
    memcpy(ch->rx + ch->rx_len, data, len);
    ch->rx_len = (uint16_t)(ch->rx_len + len);
    ch->sdu_left = (uint16_t)(ch->sdu_left - len);
    if (ch->sdu_left == 0) {
        if (ch->rx_ready != ch->rx_len) { // an empty SDU brings nothing to read
            ch->rx_ready = ch->rx_len;
            ch->recv_pending = !bh_evt_l2cap_recv(ch->conn_handle, ch->local_cid);
        }
    }
    return true;
}

void bh_coc_on_pdu(uint16_t conn_handle, uint16_t cid, const uint8_t *data, size_t len) {
    channel_t *ch = find(conn_handle, cid);
    if (ch == NULL || ch->state != CH_OPEN) {
        return; // not an open channel of ours (or closing): dropped
    }
    if (!rx_frame(ch, data, len)) {
        request_disconnect(ch);
    }
}

// ---- channel set-up and teardown ----

int bh_coc_listen(uint16_t psm, uint16_t mtu, uint8_t *mem, size_t cap) {
    if (psm == 0 || psm > PSM_MAX || mtu < BH_COC_MTU_MIN || mtu > BH_COC_MTU_MAX
        || !storage_ok(mtu, mem, cap)) {
        return -BH_EINVAL;
    }
    if (coc.ch.state != CH_IDLE) {
        return -BH_EALREADY;
    }
    coc.listening = true;
    coc.listen_psm = psm;
    coc.listen_mtu = mtu;
    if (coc.listen_mem != mem) {
        give_back(&coc.listen_mem); // no channel uses it: the state is idle
        coc.listen_mem = mem;
    }
    return 0;
}

int bh_coc_connect(uint16_t conn_handle, uint16_t psm, uint16_t mtu, uint8_t *mem, size_t cap) {
    if (psm == 0 || psm > PSM_MAX || mtu < BH_COC_MTU_MIN || mtu > BH_COC_MTU_MAX
        || !storage_ok(mtu, mem, cap)) {
        return -BH_EINVAL;
    }
    if (bh_conn_find(conn_handle) == NULL) {
        return -BH_ENOTCONN;
    }
    if (coc.listening || coc.ch.state != CH_IDLE) {
        return -BH_EALREADY;
    }
    channel_t *ch = &coc.ch;
    open_channel(ch, mtu, mem);
    ch->conn_handle = conn_handle;
    ch->psm = psm;
    ch->local_cid = allocate_cid();
    uint8_t cmd[14];
    ch->sig_id = next_identifier();
    put_cmd_header(cmd, SIG_LE_CONN_REQ, ch->sig_id, 10);
    bh_put_u16(cmd + 4, psm);
    bh_put_u16(cmd + 6, ch->local_cid);
    bh_put_u16(cmd + 8, ch->our_mtu);
    bh_put_u16(cmd + 10, ch->our_mps);
    bh_put_u16(cmd + 12, ch->full_credits);
    int err = sig_send(conn_handle, cmd, sizeof(cmd));
    if (err != 0) {
        ch->rx = NULL; // not taken: mem stays the caller's
        ch->tx = NULL;
        return err;
    }
    coc.connect_mem = mem;
    ch->state = CH_CONNECTING;
    ch->sig_ms = bh_port_ticks_ms();
    return 0;
}

int bh_coc_disconnect(uint16_t conn_handle, uint16_t cid) {
    channel_t *ch = find(conn_handle, cid);
    if (ch == NULL) {
        return -BH_EINVAL;
    }
    if (ch->state != CH_OPEN) {
        return -BH_EALREADY;
    }
    request_disconnect(ch);
    return 0;
}

static void send_conn_response(uint16_t conn_handle, uint8_t identifier, const channel_t *ch,
    uint16_t result) {
    uint8_t cmd[14] = { 0 };
    put_cmd_header(cmd, SIG_LE_CONN_RSP, identifier, 10);
    if (result == RESULT_SUCCESS) {
        bh_put_u16(cmd + 4, ch->local_cid);
        bh_put_u16(cmd + 6, ch->our_mtu);
        bh_put_u16(cmd + 8, ch->our_mps);
        bh_put_u16(cmd + 10, ch->full_credits);
    }
    bh_put_u16(cmd + 12, result);
    sig_send_or_keep(conn_handle, cmd, sizeof(cmd));
}

// The peer's LE Credit Based Connection Request (we listen).
static void on_conn_request(uint16_t conn_handle, uint8_t identifier, const uint8_t *p) {
    uint16_t psm = bh_get_u16(p);
    uint16_t scid = bh_get_u16(p + 2);
    uint16_t mtu = bh_get_u16(p + 4);
    uint16_t mps = bh_get_u16(p + 6);
    uint16_t credits = bh_get_u16(p + 8);
    channel_t *ch = &coc.ch;
    uint16_t result = RESULT_SUCCESS;
    if (!coc.listening || psm != coc.listen_psm) {
        result = RESULT_SPSM_NOT_SUPPORTED;
    } else if (scid < CID_DYNAMIC_FIRST || scid > CID_DYNAMIC_LAST) {
        result = RESULT_INVALID_SOURCE_CID;
    } else if (ch->state != CH_IDLE) {
        result = ch->conn_handle == conn_handle && ch->remote_cid == scid
                 ? RESULT_SOURCE_CID_ALLOCATED : RESULT_NO_RESOURCES;
    } else if (mtu < BH_COC_MTU_MIN || mps < MPS_MIN || mps > MPS_MAX) {
        result = RESULT_UNACCEPTABLE_PARAMETERS;
    }
    if (result != RESULT_SUCCESS) {
        send_conn_response(conn_handle, identifier, ch, result);
        return;
    }
    open_channel(ch, coc.listen_mtu, coc.listen_mem);
    ch->conn_handle = conn_handle;
    ch->psm = psm;
    ch->local_cid = allocate_cid();
    ch->remote_cid = scid;
    ch->peer_mtu = mtu;
    ch->peer_mps = mps;
    ch->tx_credits = credits;
    // Held while the application decides, so a second request is refused.
    ch->state = CH_CONNECTING;
    uint16_t verdict = bh_evt_l2cap_accept(conn_handle, ch->local_cid, psm, ch->our_mtu, mtu);
    if (ch->state != CH_CONNECTING || ch->conn_handle != conn_handle || bh_conn_find(conn_handle) == NULL) {
        return; // the link went while the application decided
    }
    if (verdict != 0) {
        ch->state = CH_IDLE;
        send_conn_response(conn_handle, identifier, ch,
            verdict >= RESULT_SPSM_NOT_SUPPORTED && verdict <= RESULT_UNACCEPTABLE_PARAMETERS
            ? verdict : RESULT_NO_RESOURCES);
        return;
    }
    ch->state = CH_OPEN;
    send_conn_response(conn_handle, identifier, ch, RESULT_SUCCESS);
    bh_evt_l2cap_connect(conn_handle, ch->local_cid, psm, ch->our_mtu, mtu);
}

// The response to our request.
static void on_conn_response(uint16_t conn_handle, uint8_t identifier, const uint8_t *p) {
    channel_t *ch = &coc.ch;
    if (ch->state != CH_CONNECTING || ch->conn_handle != conn_handle || ch->sig_id != identifier) {
        return; // not for a request of ours
    }
    uint16_t dcid = bh_get_u16(p);
    uint16_t mtu = bh_get_u16(p + 2);
    uint16_t mps = bh_get_u16(p + 4);
    uint16_t credits = bh_get_u16(p + 6);
    uint16_t result = bh_get_u16(p + 8);
    if (result != RESULT_SUCCESS) {
        close_channel(result);
        return;
    }
    ch->remote_cid = dcid;
    ch->peer_mtu = mtu;
    ch->peer_mps = mps;
    ch->tx_credits = credits;
    if (dcid < CID_DYNAMIC_FIRST || dcid > CID_DYNAMIC_LAST || mtu < BH_COC_MTU_MIN
        || mps < MPS_MIN || mps > MPS_MAX) {
        // Accepted with values the Core spec forbids: close it again.
        request_disconnect(ch);
        close_channel(RESULT_UNACCEPTABLE_PARAMETERS);
        return;
    }
    ch->state = CH_OPEN;
    bh_evt_l2cap_connect(conn_handle, ch->local_cid, ch->psm, ch->our_mtu, mtu);
}

static bool on_disconnection_request(uint16_t conn_handle, uint8_t identifier, const uint8_t *p) {
    uint16_t dcid = bh_get_u16(p);
    uint16_t scid = bh_get_u16(p + 2);
    channel_t *ch = find(conn_handle, dcid);
    if (ch == NULL || ch->state == CH_CONNECTING || ch->remote_cid != scid) {
        return false; // no such channel: Command Reject
    }
    uint8_t cmd[8];
    put_cmd_header(cmd, SIG_DISCONNECTION_RSP, identifier, 4);
    bh_put_u16(cmd + 4, dcid);
    bh_put_u16(cmd + 6, scid);
    sig_send_or_keep(conn_handle, cmd, sizeof(cmd));
    close_channel(0);
    return true;
}

static void on_disconnection_response(uint16_t conn_handle, uint8_t identifier, const uint8_t *p) {
    channel_t *ch = find(conn_handle, bh_get_u16(p + 2));
    if (ch != NULL && ch->state == CH_CLOSING && ch->sig_id == identifier
        && ch->remote_cid == bh_get_u16(p)) {
        close_channel(0);
    }
}

static void on_credits(uint16_t conn_handle, const uint8_t *p) {
    channel_t *ch = &coc.ch;
    if (ch->state != CH_OPEN || ch->conn_handle != conn_handle || ch->remote_cid != bh_get_u16(p)) {
        return;
    }
    ch->tx_credits += bh_get_u16(p + 2);
    if (ch->tx_credits > CREDITS_MAX) {
        request_disconnect(ch); // over 65535 credits: the peer broke the rules
        return;
    }
    tx_pump(ch);
}

bool bh_coc_on_signal(uint16_t conn_handle, const uint8_t *cmd, size_t len) {
    uint8_t code = cmd[0];
    uint8_t identifier = cmd[1];
    const uint8_t *p = cmd + 4;
    size_t plen = len - 4;
    switch (code) {
        case SIG_COMMAND_REJECT:
            // The peer does not know LE credit-based channels.
            if (coc.ch.state == CH_CONNECTING && coc.ch.conn_handle == conn_handle
                && coc.ch.sig_id == identifier) {
                close_channel(RESULT_SPSM_NOT_SUPPORTED);
            }
            return true;
        case SIG_LE_CONN_REQ:
            if (plen != 10) {
                return false;
            }
            on_conn_request(conn_handle, identifier, p);
            return true;
        case SIG_LE_CONN_RSP:
            if (plen != 10) {
                return false;
            }
            on_conn_response(conn_handle, identifier, p);
            return true;
        case SIG_DISCONNECTION_REQ:
            return plen == 4 && on_disconnection_request(conn_handle, identifier, p);
        case SIG_DISCONNECTION_RSP:
            if (plen != 4) {
                return false;
            }
            on_disconnection_response(conn_handle, identifier, p);
            return true;
        case SIG_FLOW_CONTROL_CREDIT:
            if (plen != 4) {
                return false;
            }
            on_credits(conn_handle, p);
            return true;
        default:
            return false;
    }
}

void bh_coc_conn_closed(uint16_t conn_handle) {
    if (coc.sig_pending_len != 0 && coc.sig_pending_conn == conn_handle) {
        coc.sig_pending_len = 0;
    }
    channel_t *ch = &coc.ch;
    if (ch->state == CH_IDLE || ch->conn_handle != conn_handle) {
        return;
    }
    close_channel(ch->state == CH_CONNECTING ? BH_COC_STATUS_DISCONNECTED : 0);
}

void bh_coc_poll(uint32_t now_ms) {
    channel_t *ch = &coc.ch;
    if (coc.sig_pending_len != 0
        && sig_send(coc.sig_pending_conn, coc.sig_pending, coc.sig_pending_len) != -BH_ENOMEM) {
        coc.sig_pending_len = 0;
    }
    switch (ch->state) {
        case CH_OPEN:
            if (ch->grant_pending) {
                grant_credits(ch);
            }
            if (ch->recv_pending && ch->rx_read < ch->rx_ready) {
                ch->recv_pending = !bh_evt_l2cap_recv(ch->conn_handle, ch->local_cid);
            }
            tx_pump(ch);
            break;
        case CH_CONNECTING:
        case CH_CLOSING:
            // Core Vol 3 Part A 6.2.1: no response within the RTX time.
            if (bh_elapsed_ms(now_ms, ch->sig_ms) >= SIG_TIMEOUT_MS && ch->sig_id != 0) {
                close_channel(ch->state == CH_CONNECTING ? BH_COC_STATUS_TIMEOUT : 0);
            }
            break;
        default:
            break;
    }
}
