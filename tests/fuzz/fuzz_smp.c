// libFuzzer entry point for the Security Manager (bh_smp*.c, with bh_sec.c
// for the HCI security events). The input is a script:
//
//   header (10 octets; missing octets read as 0)
//     0  our configuration: bits 0-2 I/O capability (5..7 out of range),
//        3 MITM, 4 Secure Connections only, 5 bonding, 6 event handlers
//        call the API back, 7 the port has no random source (LE Rand then)
//     1  link 0's peer (it is central): bits 0-2 I/O capability, 3 MITM,
//        4 SC, 5 bonding, 6 keypress, 7 OOB flag
//     2  its maximum key size (bits 0-4) and key distribution (bits 5-7)
//     3  its address (bits 0-1: public, static, resolvable private, zero),
//        public key (bits 2-4: valid, debug, ours reflected, our X with
//        the other Y, off the curve, X not below p) and passkey (bits 5-7)
//     4-6  the same for link 1's peer (we are central)
//     7  the store: bond for peer 0 / peer 1 (bits 0, 1), its flags
//        authenticated / SC (bits 2, 3), key size 7 (bit 4), the store
//        refuses writes (bit 5), the peer kept the bond too (bit 6)
//     8  the controller: bit 0 it lacks the P-256 commands (a 4.0/4.1
//        one: no Secure Connections), bit 1 the application accepts the
//        Core's debug public key
//     9  reserved
//   then steps, each an opcode octet: bit 7 the link, bit 6 poll the host
//   afterwards, bits 0-5 the step (below) and its operands.
//
// After each step the PDUs we sent go to the peer model, which queues its
// answers; "deliver" sends the next one, so a script of delivers and
// controller answers runs a whole pairing and mutations go anywhere in it.
#include <string.h>

#include "bh_conn.h"
#include "bh_sec.h"
#include "bh_smp.h"
#include "bh_smp_keys.h"
#include "fuzz_smp.h"

#define MAX_STEPS (600)

enum {
    S_DELIVER,        // the peer's next PDU or action
    S_DELIVER_MUT,    // the same, mutated: kind, operands
    S_CONTROLLER,     // answer the oldest HCI command
    S_CONTROLLER_BAD, // ... with a failure or a wrong result: variant
    S_PASSKEY,        // answer our passkey event: right or wrong value
    S_TICK,           // time passes: amount; then poll
    S_RAW_PDU,        // length, octets
    S_PAIR,           // gap_pair
    S_DISCONNECT,     // the link drops and comes back: how
    S_ACTIVE,         // active(False), active(True): both links anew
    S_RAW_EVENT,      // an HCI security event from raw octets
    S_TEMPLATE,       // a well-formed PDU of any code, out of turn: code
    S_DROP,           // the peer forgets its next action
    S_FAULTS,         // transmit, commands, random, store faults: bits
    S_RESTART,        // the peer starts over: pairing or re-encryption
    S_CONFIG,         // the application changes the configuration: octet
    S_COUNT
};

static const uint8_t core_len[15] = { 0, 7, 7, 17, 17, 2, 17, 11, 17, 8, 17, 2, 65, 17, 2 };

uint8_t fuzz_reflected[FUZZ_LINKS];
// We sent our Confirm (bit 0) or Random (bit 1) in the pairing going on:
// only those can be reflected in it.
static uint8_t sent_values[FUZZ_LINKS];

// Across the links' connections (the peer keeps its address): our public
// key of the last pairing attempt, and when we last failed the peer's
// authentication.
static struct {
    bool have_pk;
    uint8_t pk[64];
    uint32_t raw_keys; // fuzz_ctrl_raw_keys when it was sent
    bool failed;
    uint32_t failed_ms;
} history[FUZZ_LINKS];

// Issue 15 items 11 and 12: a peer that failed authentication
// waits out the back-off even after a reconnect from the same address, and
// each pairing attempt has a fresh key pair.
static void strict_history(int link, const uint8_t *pdu) {
    switch (pdu[0]) {
        case BH_SMP_PAIRING_FAILED:
            if (pdu[1] == BH_SMP_ERR_PASSKEY_ENTRY_FAILED || pdu[1] == BH_SMP_ERR_CONFIRM_VALUE_FAILED
                || pdu[1] == BH_SMP_ERR_DHKEY_CHECK_FAILED || pdu[1] == BH_SMP_ERR_NUMERIC_COMPARISON_FAILED) {
                history[link].failed = true;
                history[link].failed_ms = fuzz_now_ms;
            }
            break;
        case BH_SMP_PAIRING_RESPONSE:
            FUZZ_CHECK(!history[link].failed
                || fuzz_now_ms - history[link].failed_ms >= BH_SMP_RETRY_MS);
            break;
        case BH_SMP_PUBLIC_KEY:
            // The same key again only when the controller itself gave it
            // again when the host asked for a new one.
            FUZZ_CHECK(!history[link].have_pk || memcmp(history[link].pk, pdu + 1, 64) != 0
                || history[link].raw_keys != fuzz_ctrl_raw_keys);
            memcpy(history[link].pk, pdu + 1, 64);
            history[link].raw_keys = fuzz_ctrl_raw_keys;
            history[link].have_pk = true;
            break;
        default:
            break;
    }
}

static bool addr_eq(const bh_addr_t *a, const bh_addr_t *b) {
    return a->type == b->type && memcmp(a->val, b->val, 6) == 0;
}

// An authenticated pairing (or encryption) succeeded on link: the host
// forgets the failures of that device, whichever link they were on (both peers may
// use one address).
void fuzz_history_success(int link) {
    const bh_conn_t *c = &fuzz_conns[link];
    for (int i = 0; i < FUZZ_LINKS; i++) {
        const bh_addr_t *a = fuzz_peer_addr(i);
        if (i == link || addr_eq(a, &c->peer) || addr_eq(a, &c->id)) {
            history[i].failed = false;
        }
    }
}

// Hand the PDUs we sent to the peer model (its answers may queue more).
static void flush_tx(void) {
    for (size_t i = 0; i < fuzz_n_tx; i++) {
        int link = fuzz_link_of(fuzz_tx[i].handle);
        if (link < 0) {
            continue;
        }
        uint8_t code = fuzz_tx[i].data[0];
        if (code == BH_SMP_PAIRING_REQUEST || code == BH_SMP_PAIRING_RESPONSE
            || code == BH_SMP_PAIRING_FAILED) {
            fuzz_reflected[link] = 0;
            sent_values[link] = 0;
        } else if (code == BH_SMP_PAIRING_CONFIRM || code == BH_SMP_PAIRING_RANDOM) {
            sent_values[link] |= code == BH_SMP_PAIRING_CONFIRM ? 1 : 2;
        }
        strict_history(link, fuzz_tx[i].data);
        fuzz_peer_saw(link, fuzz_tx[i].data, fuzz_tx[i].len);
    }
    fuzz_n_tx = 0;
}

static void connect(int link) {
    bh_conn_t *c = &fuzz_conns[link];
    memset(c, 0, sizeof(*c));
    c->used = true;
    c->handle = fuzz_handle[link];
    c->role = link == 0 ? BH_ROLE_PERIPHERAL : BH_ROLE_CENTRAL;
    c->peer = *fuzz_peer_addr(link);
    c->id = c->peer;
    // GAP names a bonded peer by its identity once its address resolves.
    bh_addr_t id;
    if (bh_smp_peer_identity(&c->peer, &id)) {
        c->id = id;
    }
    fuzz_peer_connected(link);
    bh_smp_layer.connected(c);
}

static void disconnect(int link) {
    bh_conn_t *c = &fuzz_conns[link];
    fuzz_reflected[link] = 0;
    sent_values[link] = 0;
    if (!c->used) {
        return;
    }
    bh_smp_layer.disconnected(c);
    c->used = false;
}

// active(False), active(True): the host forgets its links (no disconnect
// hooks) and every layer resets; with reconnect both links come back.
void fuzz_active_cycle(bool reconnect) {
    bh_smp_layer.reset();
    bh_sec_layer.reset();
    fuzz_n_cmds = 0;
    for (int i = 0; i < FUZZ_LINKS; i++) {
        fuzz_conns[i].used = false;
        fuzz_reflected[i] = 0;
        sent_values[i] = 0;
        history[i].failed = false; // a new activation may forget
    }
    for (int i = 0; reconnect && i < FUZZ_LINKS; i++) {
        connect(i);
    }
}

static void set_config(uint8_t b) {
    bh_smp_set_config(b & 7, (b & 0x08) != 0, (b & 0x10) != 0, (b & 0x20) != 0);
    fuzz_reenter = (b & 0x40) != 0;
}

static void deliver(int link, uint8_t *pdu, size_t len) {
    if (fuzz_conns[link].used) {
        if (len == 17 && (pdu[0] == BH_SMP_PAIRING_CONFIRM || pdu[0] == BH_SMP_PAIRING_RANDOM)) {
            uint8_t bit = pdu[0] == BH_SMP_PAIRING_CONFIRM ? 1 : 2;
            const uint8_t *ours = fuzz_peer_ours(link, pdu[0]);
            if ((sent_values[link] & bit) && ours != NULL && memcmp(ours, pdu + 1, 16) == 0) {
                fuzz_reflected[link] |= bit;
            }
        }
        fuzz_trace("rx", fuzz_handle[link], pdu, len);
        FUZZ_CHECK(fuzz_deliver(fuzz_handle[link], pdu, len));
    }
}

// The peer's next action, changed by the script.
static void deliver_mutated(int link) {
    uint8_t pdu[80 + 8];
    uint8_t m = fuzz_u8();
    if ((m & 7) == 6) {
        fuzz_peer_swap(link);
    }
    size_t len = fuzz_peer_next(link, pdu, false);
    if (len == 0) {
        return; // an HCI action, performed
    }
    uint8_t a = fuzz_u8(), b = fuzz_u8();
    switch (m & 7) {
        case 0: // flip bits of one octet
            pdu[a % len] ^= (uint8_t)(b | 1);
            break;
        case 1: // shorter
            len = a % len;
            break;
        case 2: // longer
            memset(pdu + len, b, sizeof(pdu) - len);
            len += 1 + a % 8;
            break;
        case 3: // one octet set
            pdu[a % len] = b;
            break;
        case 4: // another code
            pdu[0] = a;
            break;
        case 5: // twice
            deliver(link, pdu, len);
            break;
        case 7: { // our own value of this code, reflected back
            const uint8_t *ours = fuzz_peer_ours(link, pdu[0]);
            if (ours != NULL) {
                memcpy(pdu + 1, ours, len - 1);
            }
            break;
        }
        default:
            break;
    }
    deliver(link, pdu, len);
}

static void passkey(int link) {
    uint8_t b = fuzz_u8();
    uint16_t handle = fuzz_handle[link];
    uint8_t action = fuzz_pk_action[link];
    if (action == 0 || (b & 2)) {
        action = (uint8_t)(2 + (b >> 2) % 3); // one not asked for
    }
    uint32_t value;
    if (action == BH_PASSKEY_NUMCMP) {
        value = (b & 1) ? 0 : 1;
    } else if (action == BH_PASSKEY_DISPLAY) {
        value = (b & 1) ? fuzz_u8() * 5000u : fuzz_pk_shown[link];
    } else {
        value = (b & 1) ? (uint32_t)fuzz_u8() << 16 | fuzz_u8() : fuzz_peer_passkey(link);
    }
    if (bh_smp_passkey(handle, action, value) == 0) {
        fuzz_pk_action[link] = 0;
    }
}

static void template_pdu(int link) {
    uint8_t code = fuzz_u8() % 16;
    uint8_t fill = fuzz_u8();
    uint8_t pdu[80];
    size_t len = code < 15 && core_len[code] ? core_len[code] : 2;
    pdu[0] = code;
    for (size_t i = 1; i < len; i++) {
        pdu[i] = (uint8_t)(fill + i);
    }
    if (len >= 5 && (code == BH_SMP_PAIRING_REQUEST || code == BH_SMP_PAIRING_RESPONSE)) {
        pdu[1] = fill % 5;
        pdu[4] = 7 + fill % 10;
    }
    deliver(link, pdu, len);
}

static void faults(void) {
    uint8_t b = fuzz_u8();
    fuzz_l2cap_refuses = (b & 1) != 0;
    fuzz_cmd_refused = (b & 2) != 0;
    fuzz_random_fails = (b & 4) != 0;
    fuzz_store_refuses = (b & 8) != 0;
    if (b & 0x10) {
        fuzz_store_delete_bonds();
    }
}

static void step(void) {
    uint8_t op = fuzz_u8();
    int link = op >> 7;
    uint8_t buf[80];
    switch ((op & 0x3f) % S_COUNT) {
        case S_DELIVER: {
            size_t len = fuzz_peer_next(link, buf, false);
            if (len > 0) {
                deliver(link, buf, len);
            }
            break;
        }
        case S_DELIVER_MUT:
            deliver_mutated(link);
            break;
        case S_CONTROLLER:
            fuzz_ctrl_answer(false);
            break;
        case S_CONTROLLER_BAD:
            fuzz_ctrl_answer(true);
            break;
        case S_PASSKEY:
            passkey(link);
            break;
        case S_TICK: {
            uint8_t t = fuzz_u8();
            fuzz_now_ms += t < 200 ? t * 10u : (t - 199u) * 1200u;
            bh_smp_layer.poll(fuzz_now_ms);
            break;
        }
        case S_RAW_PDU: {
            size_t len = fuzz_u8() % 72;
            for (size_t i = 0; i < len; i++) {
                buf[i] = fuzz_u8();
            }
            deliver(link, buf, len);
            break;
        }
        case S_PAIR:
            (void)bh_smp_pair(fuzz_handle[link]);
            break;
        case S_DISCONNECT:
            disconnect(link);
            if (!(fuzz_u8() & 1)) {
                connect(link);
            }
            break;
        case S_ACTIVE:
            fuzz_active_cycle(true);
            break;
        case S_RAW_EVENT:
            fuzz_ctrl_raw_event(link);
            break;
        case S_TEMPLATE:
            template_pdu(link);
            break;
        case S_DROP:
            (void)fuzz_peer_next(link, buf, true);
            break;
        case S_FAULTS:
            faults();
            break;
        case S_RESTART:
            fuzz_peer_restart(link, fuzz_u8() & 1);
            if (!fuzz_conns[link].used) {
                connect(link);
            }
            break;
        default: // S_CONFIG
            set_config(fuzz_u8());
            break;
    }
    flush_tx();
    if (op & 0x40) {
        bh_smp_layer.poll(fuzz_now_ms);
        flush_tx();
    }
    fuzz_run_handlers();
    flush_tx();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_in.p = data;
    fuzz_in.n = size;
    uint8_t h[10];
    for (size_t i = 0; i < sizeof(h); i++) {
        h[i] = fuzz_u8();
    }
    fuzz_n_tx = 0;
    fuzz_n_cmds = 0;
    fuzz_now_ms = 1000;
    fuzz_l2cap_refuses = false;
    fuzz_cmd_refused = false;
    fuzz_ctrl_reset();
    fuzz_random_fails = (h[0] & 0x80) != 0;
    memset(fuzz_pk_action, 0, sizeof(fuzz_pk_action));
    memset(fuzz_reflected, 0, sizeof(fuzz_reflected));
    memset(sent_values, 0, sizeof(sent_values));
    memset(history, 0, sizeof(history));
    memset(fuzz_conns, 0, sizeof(fuzz_conns));
    fuzz_store_reset();
    fuzz_peer_setup(0, h[1], h[2], h[3]);
    fuzz_peer_setup(1, h[4], h[5], h[6]);
    bh_sec_layer.reset();
    bh_smp_layer.reset();
    fuzz_ctrl_no_sc = (h[8] & 1) != 0;
    fuzz_debug_keys = (h[8] & 2) != 0;
    bh_smp_set_controller_sc(!fuzz_ctrl_no_sc);
    bh_smp_set_debug_keys(fuzz_debug_keys);
    fuzz_fakes_reset();
    set_config(h[0]);
    for (int i = 0; i < FUZZ_LINKS; i++) {
        if (h[7] & (1 << i)) {
            fuzz_peer_bonded(i, (h[7] >> 2) & 3, (h[7] & 0x10) ? 7 : 16, (h[7] & 0x40) != 0);
        }
    }
    fuzz_store_refuses = (h[7] & 0x20) != 0;
    for (int i = 0; i < FUZZ_LINKS; i++) {
        connect(i);
    }
    // The host's first poll seeds the random generator.
    bh_smp_layer.poll(fuzz_now_ms);
    flush_tx();
    for (int n = 0; n < MAX_STEPS && fuzz_more(); n++) {
        step();
    }
    // The links close: every pairing still going is reported ended.
    for (int i = 0; i < FUZZ_LINKS; i++) {
        disconnect(i);
    }
    return 0;
}
