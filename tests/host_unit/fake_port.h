// A fake bh_port for unit tests: scripted controller input, captured
// output, simulated time, and a small controller model that answers the
// commands the host sends.
#ifndef HOST_UNIT_FAKE_PORT_H
#define HOST_UNIT_FAKE_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAKE_IN_MAX (32768)
#define FAKE_LOG_MAX (64)
// Bytes scheduled to arrive later (fake_push_at), and how many chunks.
#define FAKE_SCHED_MAX (4096)
#define FAKE_SCHED_CHUNKS (32)

typedef struct _fake_cmd_t {
    uint16_t opcode;
    uint8_t len;
    uint8_t params[255];
} fake_cmd_t;

#define FAKE_ACL_LOG_MAX (64)

// One ACL packet the host sent.
typedef struct _fake_acl_t {
    uint16_t handle_flags;
    uint16_t len;
    uint8_t data[255];
} fake_acl_t;

typedef struct _fake_port_t {
    // controller -> host bytes not yet read
    uint8_t in[FAKE_IN_MAX];
    size_t in_len;
    size_t in_pos;
    size_t max_read; // cap per read call (0: no cap) to exercise splitting
    // commands the host sent
    fake_cmd_t cmds[FAKE_LOG_MAX];
    size_t n_cmds;
    uint32_t now_ms;
    uint32_t waits;
    int open_result;
    int write_result;
    // controller model
    bool silent;            // answer nothing
    uint16_t silent_opcode; // answer nothing to this one opcode
    uint16_t fail_opcode;   // answer this opcode with status fail_status
    uint8_t fail_status;
    uint8_t credits;        // Num_HCI_Command_Packets in replies
    uint8_t public_addr[6];
    uint16_t le_acl_len;
    uint8_t le_acl_num;
    uint16_t acl_len;
    uint16_t acl_num;
    uint8_t random_byte;    // bh_port_random fills with this
    uint8_t random_step;    // ... then adds this to it (0: constant)
    int random_result;      // nonzero: bh_port_random fails with it
    uint8_t rand_seq;       // first byte of the next LE_Rand answer (then +1 each)
    uint32_t le_rand_cmds;  // LE_Rand commands answered
    uint8_t enc_key_size;   // Read_Encryption_Key_Size answer (default 16)
    // bytes that arrive at a simulated time (fake_push_at), in order
    struct {
        uint32_t at_ms;
        size_t len;
    } sched[FAKE_SCHED_CHUNKS];
    size_t n_sched;
    uint8_t sched_data[FAKE_SCHED_MAX];
    size_t sched_len;
    bool pushing_at;        // fake_at(): fake_push schedules at push_at_ms
    uint32_t push_at_ms;
    // ACL packets the host sent (oldest dropped when full)
    fake_acl_t acl_out[FAKE_ACL_LOG_MAX];
    size_t n_acl_out;
    // hook run after each command is logged (may push replies)
    void (*on_command)(const fake_cmd_t *cmd);
} fake_port_t;

extern fake_port_t fake;

void fake_reset(void);
void fake_push(const uint8_t *data, size_t len);
// Push an H4 event: code, then n parameter bytes.
void fake_push_event(uint8_t code, const uint8_t *params, size_t n);
void fake_push_cmd_complete(uint8_t credits, uint16_t opcode, const uint8_t *ret, size_t n);
void fake_push_cmd_status(uint8_t status, uint8_t credits, uint16_t opcode);
// Bytes that arrive when the simulated clock reaches at_ms (chunks arrive in
// the order they were scheduled; a wait wakes up when the first is due).
void fake_push_at(uint32_t at_ms, const uint8_t *data, size_t len);
// Everything pushed from here on (fake_push*) arrives at at_ms: the same
// helpers build scheduled input. fake_at_end() goes back to pushing now.
void fake_at(uint32_t at_ms);
void fake_at_end(void);
// Default model answer to a command (used by on_command hooks too).
void fake_answer(const fake_cmd_t *cmd);
// Index of the last command with this opcode, or -1.
int fake_find_cmd(uint16_t opcode);

#endif // HOST_UNIT_FAKE_PORT_H
