// The SMP fuzzer's shared state: the script reader, the fake layers below
// and above the Security Manager (fuzz_fakes.c), the peer model that
// answers it (fuzz_peer.c) and the controller that answers its HCI
// commands (fuzz_ctrl.c). fuzz_smp.c decodes the input into steps.
#ifndef FUZZ_SMP_H
#define FUZZ_SMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bh_conn.h"
#include "blehost.h"

// Violated expectations end the run with abort(), which libFuzzer reports
// as a crash with the input that caused it.
#define FUZZ_CHECK(cond) do { \
        if (!(cond)) { \
            fuzz_fail(__FILE__, __LINE__, #cond); \
        } \
} while (0)
void fuzz_fail(const char *file, int line, const char *what);

// Expectations the host does not meet yet (defects found by the fuzzer or
// listed in the tracker, owned elsewhere): checked only in the strict build
// (make STRICT=1), so the bounded run in `make test` guards everything
// else meanwhile. Each names its finding in tests/fuzz/README.md.
#ifdef FUZZ_STRICT
#define FUZZ_STRICT_CHECK(cond) FUZZ_CHECK(cond)
#else
#define FUZZ_STRICT_CHECK(cond) do { (void)sizeof(cond); } while (0)
#endif

// ---- the script ----

// Bytes of the input, read in order; 0 once it is used up.
typedef struct {
    const uint8_t *p;
    size_t n;
} fuzz_in_t;
extern fuzz_in_t fuzz_in;
uint8_t fuzz_u8(void);
bool fuzz_more(void);

// ---- the two links ----

// Link 0: the peer is central (we answer as responder); link 1: we are
// central (initiator). Handles as a controller would give them.
#define FUZZ_LINKS (2)
extern const uint16_t fuzz_handle[FUZZ_LINKS];
extern bh_conn_t fuzz_conns[FUZZ_LINKS];
int fuzz_link_of(uint16_t handle);

extern const bh_addr_t fuzz_own_addr;
extern const uint8_t fuzz_own_irk[16];
// Our controller's P-256 public key as its n'th LE Read Local P-256 Public
// Key gives it (X then Y, least significant octet first; a fresh one each
// time), and the DHKey the fake controller "computes" for a peer key.
const uint8_t *fuzz_ctrl_own_pk(uint16_t n);
void fuzz_dhkey(const uint8_t peer_pk[64], uint8_t out[32]);

// A success reported on link: the back-off of that device is over.
void fuzz_history_success(int link);

// ---- fakes (fuzz_fakes.c) ----

void fuzz_fakes_reset(void);
// The receive handler the Security Manager registered on CID 6.
bool fuzz_deliver(uint16_t handle, const uint8_t *pdu, size_t len);

// PDUs sent, not yet seen by the peer model.
#define FUZZ_TX_MAX (32)
typedef struct {
    uint16_t handle;
    uint8_t len;
    uint8_t data[80];
} fuzz_pdu_t;
extern fuzz_pdu_t fuzz_tx[FUZZ_TX_MAX];
extern size_t fuzz_n_tx;
extern bool fuzz_l2cap_refuses; // L2CAP refuses to send (a full queue)
// The last public key we sent on each link (the queue above may be full).
extern uint8_t fuzz_sent_pk[FUZZ_LINKS][64];
extern bool fuzz_have_sent_pk[FUZZ_LINKS];

// HCI commands queued, answered in order by fuzz_ctrl_answer().
#define FUZZ_CMD_MAX (16)
typedef struct {
    uint16_t opcode;
    uint8_t len;
    uint8_t params[64];
    void (*done)(void *ctx, int status, const uint8_t *ret, size_t len);
    void *ctx;
    // LE Generate DHKey: our public key last sent on its link when asked.
    bool ours_valid;
    uint8_t ours[64];
} fuzz_cmd_t;
extern fuzz_cmd_t fuzz_cmds[FUZZ_CMD_MAX];
extern size_t fuzz_n_cmds;

// The port.
extern uint32_t fuzz_now_ms;
extern bool fuzz_random_fails;
extern bool fuzz_cmd_refused; // the command queue is full

// The last passkey action per link (0 for none or answered).
extern uint8_t fuzz_pk_action[FUZZ_LINKS];
extern uint32_t fuzz_pk_shown[FUZZ_LINKS];

// The store: a few records, as the embedding keeps them.
void fuzz_store_reset(void);
extern bool fuzz_store_refuses;
void fuzz_store_delete_bonds(void);
struct _bh_smp_ltk_t;
extern const struct _bh_smp_ltk_t fuzz_stored_ltk;
bool fuzz_store_bond(const bh_addr_t *id, const uint8_t *irk, uint8_t flags, uint8_t key_size);

// Application code in an event handler (the script's choice) calls back
// into the host; handlers run after the host returns, as the binding's.
extern bool fuzz_reenter;
void fuzz_run_handlers(void);
// active(False), active(True) (fuzz_smp.c); reconnect: both links again.
void fuzz_active_cycle(bool reconnect);

// ---- the peer model (fuzz_peer.c) ----

void fuzz_peer_setup(int link, uint8_t tmpl, uint8_t size_dist, uint8_t addr_key);
void fuzz_peer_reset_pairing(int link);
void fuzz_peer_connected(int link);
// A PDU we sent to the peer on this link.
void fuzz_peer_saw(int link, const uint8_t *pdu, size_t len);
// The encryption of this link is on (keys follow) or failed.
void fuzz_peer_encrypted(int link, bool ok);
// Build the peer's next action into pdu (SMP PDU) or perform it (an HCI
// event it causes): returns the PDU length, 0 for an action that is no
// PDU or none (the peer waits for us). drop: forget it unperformed.
size_t fuzz_peer_next(int link, uint8_t pdu[80], bool drop);
// Swap the first two actions queued.
void fuzz_peer_swap(int link);
// The passkey the peer uses (it knows the one we showed).
uint32_t fuzz_peer_passkey(int link);
void fuzz_peer_set_passkey(int link, uint32_t passkey);
// Our passkey event: what the peer learns from it.
void fuzz_peer_user(int link, uint8_t action, uint32_t passkey);
const bh_addr_t *fuzz_peer_addr(int link);
// A bond with this peer in our store, as an earlier session left it
// (peer_knows: the peer kept its side too).
void fuzz_peer_bonded(int link, uint8_t flags, uint8_t key_size, bool peer_knows);
// The key the peer's controller encrypts with (the pairing's, else the
// bond's; dut_central: the one it gave us): false for none.
bool fuzz_peer_expected_key(int link, bool dut_central, uint8_t out[16]);
// The last PDU of this code we sent on the link (for reflections), or NULL.
const uint8_t *fuzz_peer_ours(int link, uint8_t code);
// Start over from the peer's side: a Pairing Request (we are peripheral)
// or a Security Request (we are central); reencrypt: a central that holds
// our key from an earlier pairing encrypts with it instead.
void fuzz_peer_restart(int link, bool reencrypt);
// FUZZ_TRACE=1 in the environment: each PDU, command and event on stderr.
void fuzz_trace(const char *what, uint16_t handle, const uint8_t *data, size_t len);
// The key size the controller reports for this link's next encryption.
uint8_t fuzz_peer_key_size(int link);
// A peer public key the host must refuse before asking for a DHKey: the X
// coordinate of ours (either Y), the Core's debug key (unless debug_ok),
// or one of the harness's keys off the curve or with X not below p.
bool fuzz_peer_refusable_key(const uint8_t pk[64], const uint8_t ours[64], bool debug_ok);
// The peer sent back our own Pairing Confirm (bit 0) or Random (bit 1) in
// the pairing going on; cleared when we start or fail a pairing.
extern uint8_t fuzz_reflected[FUZZ_LINKS];

// ---- the controller (fuzz_ctrl.c) ----

// Answer the oldest queued command: status 0 and the right result, or (bad)
// a failure or a wrong result chosen by the script.
void fuzz_ctrl_answer(bool bad);
// Raw HCI security events from the script.
void fuzz_ctrl_raw_event(int link);
void fuzz_ctrl_reset(void);
// The controller lacks LE Read Local P-256 Public Key and LE Generate
// DHKey (the host is told so); the application accepts the debug key.
extern bool fuzz_ctrl_no_sc;
extern bool fuzz_debug_keys;
// The controller reported something of its own invention this run (a raw
// event, a wrong key size): what the host reports may then be anything
// the controller said.
extern bool fuzz_ctrl_lied;
// P-256 key events of its own invention (raw events): it may give the
// same key twice.
extern uint32_t fuzz_ctrl_raw_keys;

// ---- invariants every run must keep ----

void fuzz_check_sent(const uint8_t *pdu, size_t len);

#endif // FUZZ_SMP_H
