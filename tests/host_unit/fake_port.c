// Fake bh_port implementation. See fake_port.h.
#include "bh_err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bh_hci.h"
#include "bh_port.h"
#include "fake_port.h"

fake_port_t fake;

void fake_reset(void) {
    memset(&fake, 0, sizeof(fake));
    fake.credits = 1;
    fake.le_acl_len = 27;
    fake.le_acl_num = 8;
    fake.acl_len = 251;
    fake.acl_num = 5;
    fake.random_byte = 0x5a;
    fake.enc_key_size = 16;
}

// Input the host has read is forgotten, so long tests do not run out.
static void compact_input(void) {
    if (fake.in_pos > 0) {
        memmove(fake.in, fake.in + fake.in_pos, fake.in_len - fake.in_pos);
        fake.in_len -= fake.in_pos;
        fake.in_pos = 0;
    }
}

static void push_now(const uint8_t *data, size_t len) {
    if (fake.in_len + len > FAKE_IN_MAX) {
        compact_input();
    }
    if (fake.in_len + len > FAKE_IN_MAX) {
        fprintf(stderr, "fake input overflow\n");
        abort();
    }
    if (len > 0) {
        memcpy(fake.in + fake.in_len, data, len);
    }
    fake.in_len += len;
}

void fake_push_at(uint32_t at_ms, const uint8_t *data, size_t len) {
    if (fake.sched_len + len > FAKE_SCHED_MAX) {
        fprintf(stderr, "fake scheduled input overflow\n");
        abort();
    }
    if (fake.n_sched == 0 || fake.sched[fake.n_sched - 1].at_ms != at_ms) {
        if (fake.n_sched == FAKE_SCHED_CHUNKS) {
            fprintf(stderr, "fake scheduled input: too many chunks\n");
            abort();
        }
        fake.sched[fake.n_sched].at_ms = at_ms;
        fake.sched[fake.n_sched].len = 0;
        fake.n_sched++;
    }
    if (len > 0) {
        memcpy(fake.sched_data + fake.sched_len, data, len);
    }
    fake.sched_len += len;
    fake.sched[fake.n_sched - 1].len += len;
}

void fake_at(uint32_t at_ms) {
    fake.pushing_at = true;
    fake.push_at_ms = at_ms;
}

void fake_at_end(void) {
    fake.pushing_at = false;
}

void fake_push(const uint8_t *data, size_t len) {
    if (fake.pushing_at) {
        fake_push_at(fake.push_at_ms, data, len);
    } else {
        push_now(data, len);
    }
}

// Scheduled chunks whose time has come arrive, oldest first (a chunk never
// overtakes one scheduled before it).
static void release_due(void) {
    size_t n = 0;
    size_t bytes = 0;
    while (n < fake.n_sched && (int32_t)(fake.now_ms - fake.sched[n].at_ms) >= 0) {
        push_now(fake.sched_data + bytes, fake.sched[n].len);
        bytes += fake.sched[n].len;
        n++;
    }
    if (n > 0) {
        memmove(fake.sched_data, fake.sched_data + bytes, fake.sched_len - bytes);
        fake.sched_len -= bytes;
        memmove(fake.sched, fake.sched + n, sizeof(fake.sched[0]) * (fake.n_sched - n));
        fake.n_sched -= n;
    }
}

void fake_push_event(uint8_t code, const uint8_t *params, size_t n) {
    uint8_t hdr[3] = { 0x04, code, (uint8_t)n };
    fake_push(hdr, 3);
    fake_push(params, n);
}

void fake_push_cmd_complete(uint8_t credits, uint16_t opcode, const uint8_t *ret, size_t n) {
    uint8_t p[255];
    p[0] = credits;
    p[1] = (uint8_t)opcode;
    p[2] = (uint8_t)(opcode >> 8);
    if (n > 0) {
        memcpy(p + 3, ret, n);
    }
    fake_push_event(0x0e, p, 3 + n);
}

void fake_push_cmd_status(uint8_t status, uint8_t credits, uint16_t opcode) {
    uint8_t p[4] = { status, credits, (uint8_t)opcode, (uint8_t)(opcode >> 8) };
    fake_push_event(0x0f, p, 4);
}

int fake_find_cmd(uint16_t opcode) {
    for (int i = (int)fake.n_cmds - 1; i >= 0; i--) {
        if (fake.cmds[i].opcode == opcode) {
            return i;
        }
    }
    return -1;
}

void fake_answer(const fake_cmd_t *cmd) {
    if (fake.silent || (fake.silent_opcode && cmd->opcode == fake.silent_opcode)) {
        return;
    }
    uint8_t ret[70] = { 0 };
    size_t n = 1; // status byte
    if (fake.fail_opcode && cmd->opcode == fake.fail_opcode) {
        ret[0] = fake.fail_status;
        fake_push_cmd_complete(fake.credits, cmd->opcode, ret, 1);
        return;
    }
    switch (cmd->opcode) {
        case BH_HCI_OP_READ_LOCAL_VERSION:
            ret[1] = 0x0c; // HCI version 5.3
            n = 9;
            break;
        case BH_HCI_OP_READ_BD_ADDR:
            memcpy(ret + 1, fake.public_addr, 6);
            n = 7;
            break;
        case BH_HCI_OP_LE_READ_BUFFER_SIZE:
            ret[1] = (uint8_t)fake.le_acl_len;
            ret[2] = (uint8_t)(fake.le_acl_len >> 8);
            ret[3] = fake.le_acl_num;
            n = 4;
            break;
        case BH_HCI_OP_READ_BUFFER_SIZE:
            ret[1] = (uint8_t)fake.acl_len;
            ret[2] = (uint8_t)(fake.acl_len >> 8);
            ret[3] = 64;
            ret[4] = (uint8_t)fake.acl_num;
            ret[5] = (uint8_t)(fake.acl_num >> 8);
            n = 8;
            break;
        case BH_HCI_OP_LE_READ_LOCAL_FEATURES:
            ret[1] = 0x01; // LE Encryption
            n = 9;
            break;
        case BH_HCI_OP_LE_RAND:
            for (size_t i = 0; i < 8; i++) {
                ret[1 + i] = fake.rand_seq++;
            }
            fake.le_rand_cmds++;
            n = 9;
            break;
        case BH_HCI_OP_READ_LOCAL_COMMANDS:
            // 64 octets; octet 34 bits 1 and 2: the P-256 commands.
            memset(ret + 1, 0, 64);
            ret[1 + 34] = 0x06;
            n = 65;
            break;
        case BH_HCI_OP_READ_ENC_KEY_SIZE:
            // handle, key size
            memcpy(ret + 1, cmd->params, 2);
            ret[3] = fake.enc_key_size;
            n = 4;
            break;
        case BH_HCI_OP_DISCONNECT:
            fake_push_cmd_status(0, fake.credits, cmd->opcode);
            return;
        default:
            break;
    }
    fake_push_cmd_complete(fake.credits, cmd->opcode, ret, n);
}

int bh_port_hci_open(void) {
    return fake.open_result;
}

static void log_acl(const uint8_t *buf, size_t len) {
    size_t dlen = (size_t)(buf[3] | (buf[4] << 8));
    if (dlen + 5 != len || dlen > sizeof(fake.acl_out[0].data)) {
        fprintf(stderr, "host wrote a malformed ACL packet\n");
        abort();
    }
    if (fake.n_acl_out == FAKE_ACL_LOG_MAX) {
        memmove(fake.acl_out, fake.acl_out + 1, sizeof(fake.acl_out[0]) * (FAKE_ACL_LOG_MAX - 1));
        fake.n_acl_out--;
    }
    fake_acl_t *a = &fake.acl_out[fake.n_acl_out++];
    a->handle_flags = (uint16_t)(buf[1] | (buf[2] << 8));
    a->len = (uint16_t)dlen;
    memcpy(a->data, buf + 5, dlen);
}

int bh_port_hci_write(const uint8_t *buf, size_t len) {
    if (fake.write_result != 0) {
        return fake.write_result;
    }
    if (len >= 5 && buf[0] == 0x02) {
        log_acl(buf, len);
        return 0;
    }
    if (len < 4 || buf[0] != 0x01 || (size_t)buf[3] + 4 != len) {
        fprintf(stderr, "host wrote a malformed command packet\n");
        abort();
    }
    if (fake.n_cmds == FAKE_LOG_MAX) {
        memmove(fake.cmds, fake.cmds + 1, sizeof(fake.cmds[0]) * (FAKE_LOG_MAX - 1));
        fake.n_cmds--;
    }
    fake_cmd_t *c = &fake.cmds[fake.n_cmds++];
    c->opcode = (uint16_t)(buf[1] | (buf[2] << 8));
    c->len = buf[3];
    memcpy(c->params, buf + 4, c->len);
    if (fake.on_command) {
        fake.on_command(c);
    } else {
        fake_answer(c);
    }
    return 0;
}

size_t bh_port_hci_read(uint8_t *buf, size_t max) {
    release_due();
    size_t n = fake.in_len - fake.in_pos;
    if (n > max) {
        n = max;
    }
    if (fake.max_read && n > fake.max_read) {
        n = fake.max_read;
    }
    memcpy(buf, fake.in + fake.in_pos, n);
    fake.in_pos += n;
    return n;
}

void bh_port_hci_wait(uint32_t timeout_ms) {
    // Simulated sleep: time passes until the timeout, or until scheduled
    // input arrives (then the wait ends early, as a real one would). With
    // input already waiting it returns at once (1 ms passes, so a host that
    // cannot take the input still reaches its timeouts).
    fake.waits++;
    if (fake.in_pos < fake.in_len) {
        fake.now_ms += 1;
        return;
    }
    uint32_t step = timeout_ms > 0 ? timeout_ms : 1;
    if (fake.n_sched > 0) {
        int32_t due = (int32_t)(fake.sched[0].at_ms - fake.now_ms);
        if (due <= 0) {
            step = 0;
        } else if ((uint32_t)due < step) {
            step = (uint32_t)due;
        }
    }
    fake.now_ms += step;
    release_due();
}

uint32_t bh_port_ticks_ms(void) {
    return fake.now_ms;
}

int bh_port_random(uint8_t *buf, size_t len) {
    if (fake.random_result != 0) {
        return fake.random_result;
    }
    memset(buf, fake.random_byte, len);
    fake.random_byte = (uint8_t)(fake.random_byte + fake.random_step);
    return 0;
}
