// Connection table and ACL buffer accounting. See bh_conn.h.
#include <string.h>

#include "bh_acl.h"
#include "bh_conn.h"

static struct {
    bh_conn_t conns[BH_MAX_CONNECTIONS];
    uint16_t acl_data_len;
    uint16_t acl_total;
    uint16_t acl_free;
} conn_state;

static const bh_layer_t *const *layers;
static size_t n_layers;

void bh_conn_set_layers(const bh_layer_t *const *list, size_t n) {
    layers = list;
    n_layers = n;
}

#define EACH_LAYER(hook, ...) \
    for (size_t i_ = 0; i_ < n_layers; i_++) { \
        if (layers[i_]->hook != NULL) { \
            layers[i_]->hook(__VA_ARGS__); \
        } \
    }

void bh_conn_reset(void) {
    memset(&conn_state, 0, sizeof(conn_state));
    bh_acl_reset();
    for (size_t i = 0; i < n_layers; i++) {
        if (layers[i]->reset != NULL) {
            layers[i]->reset();
        }
    }
}

void bh_conn_poll(uint32_t now_ms) {
    EACH_LAYER(poll, now_ms);
}

void bh_conn_security_changed(bh_conn_t *conn) {
    EACH_LAYER(security_changed, conn);
}

bh_conn_t *bh_conn_find(uint16_t handle) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        bh_conn_t *c = &conn_state.conns[i];
        if (c->used && c->handle == handle) {
            return c;
        }
    }
    return NULL;
}

bh_conn_t *bh_conn_add(uint16_t handle, uint8_t role, const bh_addr_t *peer) {
    if (bh_conn_find(handle) != NULL) {
        return NULL;
    }
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        bh_conn_t *c = &conn_state.conns[i];
        if (!c->used) {
            memset(c, 0, sizeof(*c));
            c->used = true;
            c->handle = handle;
            c->role = role;
            c->peer = *peer;
            c->id = *peer;
            EACH_LAYER(connected, c);
            return c;
        }
    }
    return NULL;
}

void bh_conn_remove(bh_conn_t *conn) {
    EACH_LAYER(disconnected, conn);
    // Packets still queued for a closed link are flushed by the controller
    // without completion events: give their buffers back.
    conn_state.acl_free += conn->acl_in_flight;
    if (conn_state.acl_free > conn_state.acl_total) {
        conn_state.acl_free = conn_state.acl_total;
    }
    uint16_t handle = conn->handle;
    memset(conn, 0, sizeof(*conn));
    // Its queued and half-reassembled PDUs go; others may use the buffers.
    bh_acl_conn_closed(handle);
}

bh_conn_t *bh_conn_at(size_t i) {
    if (i >= BH_MAX_CONNECTIONS || !conn_state.conns[i].used) {
        return NULL;
    }
    return &conn_state.conns[i];
}

size_t bh_conn_count(void) {
    size_t n = 0;
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        n += conn_state.conns[i].used;
    }
    return n;
}

void bh_conn_set_acl_buffers(uint16_t data_len, uint16_t count) {
    conn_state.acl_data_len = data_len;
    conn_state.acl_total = count;
    conn_state.acl_free = count;
}

uint16_t bh_conn_acl_data_len(void) {
    return conn_state.acl_data_len;
}

uint16_t bh_conn_acl_free(void) {
    return conn_state.acl_free;
}

bool bh_conn_acl_take(bh_conn_t *conn) {
    if (conn_state.acl_free == 0) {
        return false;
    }
    conn_state.acl_free--;
    conn->acl_in_flight++;
    return true;
}

void bh_conn_acl_completed(uint16_t handle, uint16_t count) {
    bh_conn_t *c = bh_conn_find(handle);
    if (c == NULL) {
        return;
    }
    // Never credit more than we gave: a confused controller must not make
    // us overrun its buffers later.
    if (count > c->acl_in_flight) {
        count = c->acl_in_flight;
    }
    c->acl_in_flight -= count;
    conn_state.acl_free += count;
}
