// Unit tests of our own address (bh_addr.c) and AES-128/ah (bh_aes.c),
// against the fake port, without the rest of the host.
//
//   test_addr              run the tests
//   test_addr ah IRK PRAND print ah(IRK, PRAND) (hex, most significant
//                          first), for the oracle test against bumble
#include "bh_err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blehost.h"
#include "bh_addr.h"
#include "bh_aes.h"
#include "bh_config.h"
#include "bh_gap.h"
#include "bh_hci.h"
#include "check.h"
#include "fake_port.h"

// ---- the GAP layer's state, as bh_addr.c sees it ----

static struct {
    bool adv;
    bool scan;
    bool connecting;
} gap_state;

bool bh_adv_is_enabled(void) {
    return gap_state.adv;
}

bool bh_scan_is_active(void) {
    return gap_state.scan;
}

bool bh_connect_is_pending(void) {
    return gap_state.connecting;
}

// A controller that, like a real one, refuses LE_Set_Random_Address while
// advertising or scanning is enabled.
static struct {
    bool adv;
    bool scan;
} ctrl;

static void strict_controller(const fake_cmd_t *cmd) {
    if (cmd->opcode == BH_HCI_OP_LE_SET_ADV_ENABLE) {
        ctrl.adv = cmd->params[0];
    } else if (cmd->opcode == BH_HCI_OP_LE_SET_SCAN_ENABLE) {
        ctrl.scan = cmd->params[0];
    } else if (cmd->opcode == BH_HCI_OP_LE_SET_RANDOM_ADDRESS && (ctrl.adv || ctrl.scan)) {
        uint8_t status = 0x0c;
        fake_push_cmd_complete(1, cmd->opcode, &status, 1);
        return;
    }
    fake_answer(cmd);
}

// ---- AES-128 and ah ----

static void test_aes_fips197(void) {
    uint8_t key[16], in[16], want[16], out[16];
    // FIPS-197 Appendix C.1 (AES-128).
    from_hex("000102030405060708090a0b0c0d0e0f", key, 16);
    from_hex("00112233445566778899aabbccddeeff", in, 16);
    from_hex("69c4e0d86a7b0430d8cdb78070b4c55a", want, 16);
    bh_aes128_encrypt(key, in, out);
    CHECK_MEM(out, want, 16);
    // FIPS-197 Appendix B (cipher example).
    from_hex("2b7e151628aed2a6abf7158809cf4f3c", key, 16);
    from_hex("3243f6a8885a308d313198a2e0370734", in, 16);
    from_hex("3925841d02dc09fbdc118597196a0b32", want, 16);
    bh_aes128_encrypt(key, in, out);
    CHECK_MEM(out, want, 16);
    // In place.
    bh_aes128_encrypt(key, in, in);
    CHECK_MEM(in, want, 16);
}

static void test_aes_bluetooth_e(void) {
    // Core spec Vol 3 Part H Appendix D.1 (e, AES-128), most significant
    // octet first.
    uint8_t key[16], in[16], want[16], out[16];
    from_hex("4c68384139f574d836bcf34e9dfb01bf", key, 16);
    from_hex("0213243546576879acbdcedfe0f10213", in, 16);
    from_hex("99ad1b5226a37e3e058e3b8e27c2c666", want, 16);
    bh_aes128_encrypt(key, in, out);
    CHECK_MEM(out, want, 16);
}

static void test_ah_sample_data(void) {
    // Core spec Vol 3 Part H Appendix D.7: IRK ec0234a3 57c8ad05 341010a6
    // 0a397d9b, prand 708194, ah = 0dfbaa.
    uint8_t irk[16];
    from_hex("ec0234a357c8ad05341010a60a397d9b", irk, 16);
    const uint8_t prand_le[3] = { 0x94, 0x81, 0x70 };
    uint8_t hash_le[3];
    bh_ah(irk, prand_le, hash_le);
    CHECK_EQ(hash_le[0], 0xaa);
    CHECK_EQ(hash_le[1], 0xfb);
    CHECK_EQ(hash_le[2], 0x0d);
}

// ---- addresses ----

static const uint8_t public_addr[6] = { 0x01, 0x00, 0x00, 0xe0, 0xb1, 0x02 };
static const uint8_t zero_addr[6];

static void setup(void) {
    fake_reset();
    memset(&gap_state, 0, sizeof(gap_state));
    memset(&ctrl, 0, sizeof(ctrl));
    bh_hci_init(NULL);
    bh_addr_reset();
    // Mode requests survive bh_addr_reset (they are configuration): start
    // every test from the default.
    bh_addr_config_reset();
}

static int n_set_random(void) {
    int n = 0;
    for (size_t i = 0; i < fake.n_cmds; i++) {
        n += fake.cmds[i].opcode == BH_HCI_OP_LE_SET_RANDOM_ADDRESS;
    }
    return n;
}

// The address last given to the controller, HCI order.
static const uint8_t *last_random(void) {
    int i = fake_find_cmd(BH_HCI_OP_LE_SET_RANDOM_ADDRESS);
    CHECK(i >= 0);
    CHECK_EQ(fake.cmds[i].len, 6);
    return fake.cmds[i].params;
}

static void check_rpa(const bh_addr_t *a) {
    CHECK_EQ(a->type, BH_ADDR_TYPE_RANDOM);
    CHECK_EQ(a->val[5] >> 6, 1);
    uint8_t irk[16], hash[3];
    CHECK_EQ(bh_get_irk(irk), 0);
    bh_ah(irk, a->val + 3, hash);
    CHECK_MEM(hash, a->val, 3);
}

static void test_public_default(void) {
    setup();
    memcpy(fake.public_addr, public_addr, 6);
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_PUBLIC);
    CHECK_EQ(bh_own_addr_type(), BH_ADDR_TYPE_PUBLIC);
    bh_addr_t a;
    CHECK_EQ(bh_get_addr(&a), 0);
    CHECK_EQ(a.type, BH_ADDR_TYPE_PUBLIC);
    CHECK_MEM(a.val, public_addr, 6);
    CHECK_EQ(n_set_random(), 0);
    // Inactive: no address, no IRK.
    bh_addr_reset();
    CHECK_EQ(bh_get_addr(&a), -BH_ENODEV);
    uint8_t irk[16];
    CHECK_EQ(bh_get_irk(irk), -BH_ENODEV);
}

static void test_static_random_stable(void) {
    setup();
    fake.random_step = 0x11;
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RANDOM), 0);
    CHECK_EQ(bh_own_addr_type(), BH_ADDR_TYPE_RANDOM);
    bh_addr_t a, b;
    CHECK_EQ(bh_get_addr(&a), 0);
    CHECK_EQ(a.type, BH_ADDR_TYPE_RANDOM);
    CHECK_EQ(a.val[5] >> 6, 3);
    CHECK_MEM(a.val, last_random(), 6);
    // Setting it again, or going public and back, keeps the same address.
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RANDOM), 0);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_PUBLIC), 0);
    CHECK_EQ(bh_own_addr_type(), BH_ADDR_TYPE_PUBLIC);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RANDOM), 0);
    CHECK_EQ(bh_get_addr(&b), 0);
    CHECK_MEM(a.val, b.val, 6);
    // Time does not rotate a static address.
    fake.now_ms += 10u * 3600u * 1000u;
    bh_addr_poll();
    CHECK_EQ(bh_get_addr(&b), 0);
    CHECK_MEM(a.val, b.val, 6);
    CHECK_EQ(n_set_random(), 1);
    // A new activation makes a new one.
    bh_addr_reset();
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_RANDOM);
    CHECK_EQ(bh_get_addr(&b), 0);
    CHECK(memcmp(a.val, b.val, 6) != 0);
    CHECK_EQ(b.val[5] >> 6, 3);
}

static void test_random_parts_never_all_same(void) {
    bh_addr_t a;
    // All-ones randomness: a static address must not be all ones.
    setup();
    fake.random_byte = 0xff;
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RANDOM), 0);
    CHECK_EQ(bh_addr_start(zero_addr), 0);
    CHECK_EQ(bh_get_addr(&a), 0);
    CHECK_EQ(a.val[5] >> 6, 3);
    CHECK(!(a.val[0] == 0xff && a.val[1] == 0xff && a.val[2] == 0xff && a.val[3] == 0xff
        && a.val[4] == 0xff && a.val[5] == 0xff));
    // All-zero randomness: an NRPA must not be all zeros, an RPA's prand
    // random part must not be all zeros.
    setup();
    fake.random_byte = 0x00;
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_NRPA), 0);
    CHECK_EQ(bh_get_addr(&a), 0);
    CHECK_EQ(a.val[5] >> 6, 0);
    CHECK(memcmp(a.val, zero_addr, 6) != 0);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RPA), 0);
    CHECK_EQ(bh_get_addr(&a), 0);
    CHECK_EQ(a.val[5], 0x40);
    CHECK(a.val[3] != 0 || a.val[4] != 0);
    check_rpa(&a);
    // All-ones randomness: the RPA's prand random part must not be all ones.
    fake.random_byte = 0xff;
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RPA), 0);
    CHECK_EQ(bh_get_addr(&a), 0);
    CHECK_EQ(a.val[5] >> 6, 1);
    CHECK(!(a.val[3] == 0xff && a.val[4] == 0xff && a.val[5] == 0x7f));
    check_rpa(&a);
}

static void test_rpa_rotation(void) {
    setup();
    fake.random_step = 0x35;
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RPA), 0); // stored, used at start
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_RPA);
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_RPA);
    CHECK_EQ(bh_own_addr_type(), BH_ADDR_TYPE_RANDOM);
    bh_addr_t a, b;
    CHECK_EQ(bh_get_addr(&a), 0);
    check_rpa(&a);
    CHECK_MEM(a.val, last_random(), 6);
    CHECK_EQ(n_set_random(), 1);
    // Not yet: the default timeout is the Core spec's 15 minutes.
    CHECK_EQ(bh_get_rpa_timeout(), 900);
    fake.now_ms += 899u * 1000u;
    bh_addr_poll();
    CHECK_EQ(n_set_random(), 1);
    CHECK(!bh_addr_rotation_due());
    fake.now_ms += 1000u;
    CHECK(bh_addr_rotation_due());
    bh_addr_poll();
    CHECK_EQ(n_set_random(), 2);
    CHECK_EQ(bh_get_addr(&b), 0);
    check_rpa(&b);
    CHECK(memcmp(a.val, b.val, 6) != 0);
    // A shorter timeout applies to the address in use.
    CHECK_EQ(bh_set_rpa_timeout(2), 0);
    fake.now_ms += 1999;
    bh_addr_poll();
    CHECK_EQ(n_set_random(), 2);
    fake.now_ms += 1;
    bh_addr_poll();
    CHECK_EQ(n_set_random(), 3);
    // Setting the mode again rotates at once; the IRK stays.
    uint8_t irk1[16], irk2[16];
    CHECK_EQ(bh_get_irk(irk1), 0);
    CHECK_EQ(bh_get_addr(&a), 0);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RPA), 0);
    CHECK_EQ(n_set_random(), 4);
    CHECK_EQ(bh_get_addr(&b), 0);
    check_rpa(&b);
    CHECK(memcmp(a.val, b.val, 6) != 0);
    CHECK_EQ(bh_get_irk(irk2), 0);
    CHECK_MEM(irk1, irk2, 16);
    // Public mode does not rotate anything.
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_PUBLIC), 0);
    fake.now_ms += 100000;
    bh_addr_poll();
    CHECK_EQ(n_set_random(), 4);
    // Range of the timeout.
    CHECK_EQ(bh_set_rpa_timeout(0), -BH_EINVAL);
    CHECK_EQ(bh_set_rpa_timeout(BH_RPA_TIMEOUT_MAX_S + 1), -BH_EINVAL);
    CHECK_EQ(bh_set_rpa_timeout(BH_RPA_TIMEOUT_MAX_S), 0);
    CHECK_EQ(bh_get_rpa_timeout(), BH_RPA_TIMEOUT_MAX_S);
    // A new activation has a new IRK.
    bh_addr_reset();
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_get_irk(irk2), 0);
    CHECK(memcmp(irk1, irk2, 16) != 0);
}

static void test_nrpa_rotation(void) {
    setup();
    fake.random_step = 0x13;
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_set_rpa_timeout(5), 0);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_NRPA), 0);
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_NRPA);
    CHECK_EQ(bh_own_addr_type(), BH_ADDR_TYPE_RANDOM);
    bh_addr_t a, b;
    CHECK_EQ(bh_get_addr(&a), 0);
    CHECK_EQ(a.val[5] >> 6, 0);
    fake.now_ms += 5000;
    bh_addr_poll();
    CHECK_EQ(bh_get_addr(&b), 0);
    CHECK_EQ(b.val[5] >> 6, 0);
    CHECK(memcmp(a.val, b.val, 6) != 0);
    CHECK_MEM(b.val, last_random(), 6);
}

static void test_rotation_refused_while_busy(void) {
    setup();
    fake.random_step = 0x29;
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_set_rpa_timeout(10), 0);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RPA), 0);
    bh_addr_t a, b;
    CHECK_EQ(bh_get_addr(&a), 0);
    // The controller is initiating a connection: it refuses new random
    // addresses, and an attempt is not interrupted.
    gap_state.connecting = true;
    fake.fail_opcode = BH_HCI_OP_LE_SET_RANDOM_ADDRESS;
    fake.fail_status = 0x0c;
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_NRPA), -BH_EBUSY);
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_RPA);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RANDOM), -BH_EBUSY);
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_RPA);
    int sent = n_set_random();
    fake.now_ms += 10000;
    bh_addr_poll();
    CHECK_EQ(n_set_random(), sent + 1);
    // Still the old address, and the change stays due.
    CHECK_EQ(bh_get_addr(&b), 0);
    CHECK_MEM(a.val, b.val, 6);
    CHECK(bh_addr_rotation_due());
    // No retry before BH_ADDR_RETRY_MS...
    fake.now_ms += BH_ADDR_RETRY_MS - 1;
    bh_addr_poll();
    CHECK_EQ(n_set_random(), sent + 1);
    // ... then one.
    fake.now_ms += 1;
    bh_addr_poll();
    CHECK_EQ(n_set_random(), sent + 2);
    CHECK_EQ(bh_addr_refresh(), -BH_EBUSY);
    // The attempt ends; the GAP layer asks for the change.
    gap_state.connecting = false;
    fake.fail_opcode = 0;
    CHECK_EQ(bh_addr_refresh(), 0);
    CHECK(!bh_addr_rotation_due());
    CHECK_EQ(bh_get_addr(&b), 0);
    check_rpa(&b);
    CHECK(memcmp(a.val, b.val, 6) != 0);
    // Nothing due: refresh does nothing.
    sent = n_set_random();
    CHECK_EQ(bh_addr_refresh(), 0);
    CHECK_EQ(n_set_random(), sent);
    // Other controller errors are EIO.
    fake.fail_opcode = BH_HCI_OP_LE_SET_RANDOM_ADDRESS;
    fake.fail_status = 0x12;
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_NRPA), -BH_EIO);
}

static int index_of(uint16_t opcode, uint8_t param0, int from) {
    for (int i = from; i < (int)fake.n_cmds; i++) {
        if (fake.cmds[i].opcode == opcode && (fake.cmds[i].len == 0 || fake.cmds[i].params[0] == param0)) {
            return i;
        }
    }
    return -1;
}

static void test_rotation_pauses_advertising_and_scanning(void) {
    setup();
    fake.random_step = 0x3b;
    fake.on_command = strict_controller;
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_set_rpa_timeout(1), 0);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RPA), 0);
    bh_addr_t a, b;
    CHECK_EQ(bh_get_addr(&a), 0);
    // Advertising and scanning: both paused around the address change and
    // resumed, scanning with duplicate filtering off.
    ctrl.adv = ctrl.scan = gap_state.adv = gap_state.scan = true;
    int from = (int)fake.n_cmds;
    fake.now_ms += 1000;
    bh_addr_poll();
    CHECK(!bh_addr_rotation_due());
    CHECK_EQ(bh_get_addr(&b), 0);
    check_rpa(&b);
    CHECK(memcmp(a.val, b.val, 6) != 0);
    CHECK_MEM(b.val, last_random(), 6);
    CHECK(ctrl.adv && ctrl.scan);
    int adv_off = index_of(BH_HCI_OP_LE_SET_ADV_ENABLE, 0, from);
    int scan_off = index_of(BH_HCI_OP_LE_SET_SCAN_ENABLE, 0, from);
    int set = index_of(BH_HCI_OP_LE_SET_RANDOM_ADDRESS, b.val[0], from + 1);
    int scan_on = index_of(BH_HCI_OP_LE_SET_SCAN_ENABLE, 1, from);
    int adv_on = index_of(BH_HCI_OP_LE_SET_ADV_ENABLE, 1, from);
    CHECK(adv_off >= 0 && scan_off >= 0 && set >= 0 && scan_on >= 0 && adv_on >= 0);
    CHECK(adv_off < set && scan_off < set && set < scan_on && set < adv_on);
    CHECK_EQ(fake.cmds[scan_on].len, 2);
    CHECK_EQ(fake.cmds[scan_on].params[1], 0);
    // Advertising only: scanning is left alone.
    ctrl.scan = gap_state.scan = false;
    from = (int)fake.n_cmds;
    fake.now_ms += 1000;
    bh_addr_poll();
    CHECK_EQ(bh_get_addr(&a), 0);
    CHECK(memcmp(a.val, b.val, 6) != 0);
    CHECK_EQ(index_of(BH_HCI_OP_LE_SET_SCAN_ENABLE, 0, from), -1);
    CHECK(index_of(BH_HCI_OP_LE_SET_ADV_ENABLE, 1, from) > 0);
    CHECK(ctrl.adv);
    // A mode change while advertising works the same way.
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_NRPA), 0);
    CHECK_EQ(bh_get_addr(&a), 0);
    CHECK_EQ(a.val[5] >> 6, 0);
    CHECK(ctrl.adv);
    // Idle: one command, nothing paused.
    ctrl.adv = gap_state.adv = false;
    from = (int)fake.n_cmds;
    fake.now_ms += 1000;
    bh_addr_poll();
    CHECK_EQ((int)fake.n_cmds, from + 1);
}

static void test_config_survives_activations_until_reset(void) {
    setup();
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_NRPA), 0);
    CHECK_EQ(bh_set_rpa_timeout(77), 0);
    CHECK_EQ(bh_addr_start(public_addr), 0);
    bh_addr_reset(); // deactivation
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_NRPA);
    CHECK_EQ(bh_get_rpa_timeout(), 77);
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_NRPA);
    // Soft reset: defaults again (the active mode stays until deactivation).
    bh_addr_config_reset();
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_NRPA);
    CHECK_EQ(bh_get_rpa_timeout(), BH_RPA_TIMEOUT_S);
    bh_addr_reset();
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_PUBLIC);
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_PUBLIC);
}

static void test_mode_errors(void) {
    setup();
    CHECK_EQ(bh_set_addr_mode(4), -BH_EINVAL);
    CHECK_EQ(bh_set_addr_mode(0xff), -BH_EINVAL);
    // No public address: PUBLIC is refused while active and falls back to
    // static random at activation.
    CHECK_EQ(bh_addr_start(zero_addr), 0);
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_RANDOM);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_PUBLIC), -BH_EINVAL);
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_RANDOM);
    // Controller silent: the error surfaces.
    setup();
    fake.silent_opcode = BH_HCI_OP_LE_SET_RANDOM_ADDRESS;
    CHECK_EQ(bh_addr_start(public_addr), 0);
    CHECK_EQ(bh_set_addr_mode(BH_ADDR_MODE_RPA), -BH_ETIMEDOUT);
    CHECK_EQ(bh_get_addr_mode(), BH_ADDR_MODE_PUBLIC);
}

static int print_ah(const char *irk_hex, const char *prand_hex) {
    uint8_t irk[16], prand[3], prand_le[3], hash_le[3];
    if (hex_to_bytes(irk_hex, irk, 16) != 0 || hex_to_bytes(prand_hex, prand, 3) != 0) {
        fprintf(stderr, "usage: test_addr ah IRK(32 hex) PRAND(6 hex)\n");
        return 2;
    }
    prand_le[0] = prand[2];
    prand_le[1] = prand[1];
    prand_le[2] = prand[0];
    bh_ah(irk, prand_le, hash_le);
    printf("%02x%02x%02x\n", hash_le[2], hash_le[1], hash_le[0]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "ah") == 0) {
        return print_ah(argv[2], argv[3]);
    }
    static const unit_test_t tests[] = {
        T(test_aes_fips197),
        T(test_aes_bluetooth_e),
        T(test_ah_sample_data),
        T(test_public_default),
        T(test_static_random_stable),
        T(test_random_parts_never_all_same),
        T(test_rpa_rotation),
        T(test_nrpa_rotation),
        T(test_rotation_refused_while_busy),
        T(test_rotation_pauses_advertising_and_scanning),
        T(test_config_survives_activations_until_reset),
        T(test_mode_errors),
    };
    return run_tests(NULL, tests, sizeof(tests) / sizeof(tests[0]));
}
