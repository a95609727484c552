// The fake controller: answers the Security Manager's HCI commands in the
// order they were queued, as a controller would (command status or
// complete, then the event the command leads to), or, when the script says
// so, with a failure or a wrong result. Encryption succeeds only when the
// key the host gives is the one the peer model holds, as on air.
#include <string.h>

#include "bh_hci.h"
#include "bh_sec.h"
#include "bh_smp.h"
#include "bh_util.h"
#include "fuzz_smp.h"

#define OP_LE_READ_P256 BH_HCI_OP(0x08, 0x0025)
#define OP_LE_GEN_DHKEY BH_HCI_OP(0x08, 0x0026)

#define HCI_PIN_OR_KEY_MISSING (0x06)
#define HCI_UNKNOWN_CONN (0x02)
#define HCI_UNSPECIFIED (0x1f)

bool fuzz_ctrl_lied;
bool fuzz_ctrl_no_sc;
uint32_t fuzz_ctrl_raw_keys;
bool fuzz_debug_keys;
static uint16_t p256_reads;
static uint8_t own_pk[64];   // the key it gave last

void fuzz_ctrl_reset(void) {
    fuzz_ctrl_lied = false;
    fuzz_ctrl_raw_keys = 0;
    p256_reads = 0;
    memcpy(own_pk, fuzz_ctrl_own_pk(0), 64);
}

static void done(const fuzz_cmd_t *c, int status, const uint8_t *ret, size_t len) {
    if (c->done != NULL) {
        c->done(c->ctx, status, ret, len);
    }
}

// Encryption Change (v2, with the key size, or v1, which makes the host
// read it) on handle.
static void encryption_change(uint16_t handle, uint8_t status, bool v1, uint8_t key_size) {
    uint8_t ev[5] = { status, 0, 0, status == 0, key_size };
    bh_put_u16(ev + 1, handle);
    fuzz_trace(v1 ? "encchg" : "encch2", handle, ev, v1 ? 4 : 5);
    if (v1) {
        bh_sec_on_encryption_change(ev, 4);
    } else {
        bh_sec_on_encryption_change_v2(ev, 5);
    }
}

// The link encrypts with ltk if the peer holds the same key.
static void encrypt(uint16_t handle, const uint8_t ltk[16], bool dut_central, uint8_t b, bool bad) {
    int link = fuzz_link_of(handle);
    if (link < 0 || bh_conn_find(handle) == NULL) {
        return;
    }
    // Issue 15 item 4: a pairing where the peer echoed our Confirm or
    // Random does not get as far as encryption.
    FUZZ_CHECK(fuzz_reflected[link] == 0);
    uint8_t want[16];
    bool match = fuzz_peer_expected_key(link, dut_central, want) && memcmp(want, ltk, 16) == 0;
    uint8_t size = fuzz_peer_key_size(link);
    if (bad) {
        // A controller that reports another key size, or fails.
        if (b & 8) {
            size = (uint8_t)(b >> 4);
            fuzz_ctrl_lied = true;
        } else {
            match = false;
        }
    }
    encryption_change(handle, match ? 0 : HCI_PIN_OR_KEY_MISSING, (b & 4) != 0, size);
    fuzz_peer_encrypted(link, match);
}

void fuzz_ctrl_answer(bool bad) {
    if (fuzz_n_cmds == 0) {
        return;
    }
    fuzz_cmd_t c = fuzz_cmds[0];
    memmove(fuzz_cmds, fuzz_cmds + 1, (fuzz_n_cmds - 1) * sizeof(fuzz_cmds[0]));
    fuzz_n_cmds--;
    uint8_t b = bad ? fuzz_u8() : 0;
    if (bad && (b & 3) == 0) {
        // The command itself fails (or times out: the queue's -ETIMEDOUT).
        done(&c, (b & 4) ? -116 : HCI_UNSPECIFIED, NULL, 0);
        return;
    }
    switch (c.opcode) {
        case BH_HCI_OP_LE_RAND: {
            uint8_t r[8];
            for (size_t i = 0; i < 8; i++) {
                r[i] = (uint8_t)(0x90 + i + b);
            }
            done(&c, 0, r, (b & 3) == 1 ? 4 : 8);
            break;
        }
        case OP_LE_READ_P256: {
            FUZZ_CHECK(!fuzz_ctrl_no_sc); // a command it does not have
            done(&c, 0, NULL, 0);
            uint8_t ev[65];
            ev[0] = (b & 3) == 1 ? HCI_UNSPECIFIED : 0;
            memcpy(own_pk, fuzz_ctrl_own_pk(p256_reads++), 64);
            memcpy(ev + 1, own_pk, 64);
            if ((b & 3) == 2) {
                ev[1 + (b >> 2)] ^= 0x5a; // a wrong key
            }
            bh_smp_on_p256_complete(ev, sizeof(ev));
            break;
        }
        case OP_LE_GEN_DHKEY: {
            FUZZ_CHECK(c.len == 64);
            FUZZ_CHECK(!fuzz_ctrl_no_sc);
            // Issue 15 items 3 and 15: the host checks the peer's key
            // (against the key it sent on that link, when it asks).
            const uint8_t *ours = c.ours_valid ? c.ours : own_pk;
            FUZZ_CHECK(!fuzz_peer_refusable_key(c.params, ours, fuzz_debug_keys));
            done(&c, 0, NULL, 0);
            uint8_t ev[33];
            ev[0] = (b & 3) == 1 ? HCI_UNSPECIFIED : 0;
            fuzz_dhkey(c.params, ev + 1);
            if ((b & 3) == 2) {
                ev[1 + (b >> 3)] ^= 0xa5;
            }
            bh_smp_on_dhkey_complete(ev, sizeof(ev));
            break;
        }
        case BH_HCI_OP_LE_ENABLE_ENCRYPTION: {
            FUZZ_CHECK(c.len == 28);
            uint16_t handle = bh_get_u16(c.params);
            if (bh_conn_find(handle) == NULL) {
                done(&c, HCI_UNKNOWN_CONN, NULL, 0);
                break;
            }
            done(&c, 0, NULL, 0);
            encrypt(handle, c.params + 12, true, b, bad);
            break;
        }
        case BH_HCI_OP_LE_LTK_REPLY: {
            FUZZ_CHECK(c.len == 18);
            done(&c, 0, NULL, 0);
            encrypt(bh_get_u16(c.params), c.params + 2, false, b, bad);
            break;
        }
        case BH_HCI_OP_READ_ENC_KEY_SIZE: {
            FUZZ_CHECK(c.len == 2);
            uint16_t handle = bh_get_u16(c.params);
            int link = fuzz_link_of(handle);
            uint8_t ret[3];
            bh_put_u16(ret, handle);
            ret[2] = link < 0 ? 16 : fuzz_peer_key_size(link);
            if ((b & 3) == 2) {
                ret[2] = (uint8_t)(b >> 2);
                fuzz_ctrl_lied = true;
            }
            done(&c, 0, ret, (b & 3) == 1 ? 2 : 3);
            break;
        }
        default:
            done(&c, 0, NULL, 0);
            break;
    }
}

// Security events as raw bytes from the script, on one of our links or
// another handle.
void fuzz_ctrl_raw_event(int link) {
    uint8_t kind = fuzz_u8();
    uint16_t handle = (kind & 0x80) ? (uint16_t)(fuzz_u8() | 0x0100) : fuzz_handle[link];
    // Twelve octets from the script (an LTK request's length), the rest
    // derived from them.
    uint8_t ev[65];
    for (size_t i = 0; i < sizeof(ev); i++) {
        ev[i] = i < 12 ? fuzz_u8() : (uint8_t)(ev[i % 12] ^ i);
    }
    fuzz_trace("rawevt", handle, &kind, 1);
    fuzz_ctrl_lied = true;
    switch (kind & 7) {
        case 0:
            bh_put_u16(ev + 1, handle);
            bh_sec_on_encryption_change(ev, BH_SEC_ENC_CHANGE_MIN_LEN);
            break;
        case 1:
            bh_put_u16(ev + 1, handle);
            bh_sec_on_encryption_change_v2(ev, BH_SEC_ENC_CHANGE_V2_MIN_LEN);
            break;
        case 2:
            bh_put_u16(ev + 1, handle);
            bh_sec_on_key_refresh(ev, BH_SEC_KEY_REFRESH_MIN_LEN);
            break;
        case 3:
            bh_put_u16(ev, handle);
            bh_sec_on_ltk_request(ev, BH_SEC_LTK_REQUEST_MIN_LEN);
            break;
        case 4:
            fuzz_ctrl_raw_keys++;
            bh_smp_on_p256_complete(ev, BH_SMP_P256_MIN_LEN);
            break;
        case 5:
            bh_smp_on_dhkey_complete(ev, BH_SMP_DHKEY_MIN_LEN);
            break;
        default:
            // The controller's P-256 answers with status 0 but our key's
            // bytes changed, or a DHKey of zeros.
            ev[0] = 0;
            if (kind & 8) {
                memset(ev + 1, 0, 32);
                bh_smp_on_dhkey_complete(ev, BH_SMP_DHKEY_MIN_LEN);
            } else {
                memcpy(ev + 1, own_pk, 64);
                ev[1 + (kind >> 4)] ^= 1;
                fuzz_ctrl_raw_keys++;
                bh_smp_on_p256_complete(ev, BH_SMP_P256_MIN_LEN);
            }
            break;
    }
}
