// GATT server: attribute database and ATT server. See bh_gatts.h.
#include "bh_err.h"
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bh_acl.h"
#include "bh_att.h"
#include "bh_config.h"
#include "bh_conn.h"
#include "bh_gatts.h"
#include "bh_port.h"
#include "bh_smp_keys.h"
#include "bh_util.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

// Attribute kinds.
enum {
    K_SERVICE,
    K_CHAR_DECL,
    K_VALUE,     // embedding's characteristic value
    K_DESC,      // embedding's descriptor
    K_CCCD,      // Client Characteristic Configuration (automatic or embedding's)
    K_EXT_PROPS, // Characteristic Extended Properties
    K_GAP_NAME,
    K_APPEARANCE,
    K_SVC_CHANGED, // Service Changed (indicate only)
};

#define UUID16_ONLY (0xff)
#define UUID_PRIMARY_SERVICE (0x2800)
#define UUID_SECONDARY_SERVICE (0x2801)
#define UUID_CHARACTERISTIC (0x2803)
#define UUID_EXT_PROPS (0x2900)
#define UUID_GAP_SERVICE (0x1800)
#define UUID_DEVICE_NAME (0x2a00)
#define UUID_APPEARANCE (0x2a01)
#define UUID_GATT_SERVICE (0x1801)
#define UUID_SERVICE_CHANGED (0x2a05)

// Generic Attribute service: handles 6 (service), 7 (declaration), 8
// (Service Changed value) and 9 (its CCCD, always CCCD slot 0).
#define SC_VALUE_HANDLE (8)
#define SC_CCCD_SLOT (0)

#define CCCD_NOTIFY (0x0001)
#define CCCD_INDICATE (0x0002)

// Handles of the fixed services (1..N_FIXED).
#define N_FIXED (BH_GATTS_FIRST_USER_HANDLE - 1)

// The longest value raw_value() builds in its buffer: a characteristic
// declaration with a 128-bit UUID (properties, value handle, UUID).
#define BUILT_VALUE_MAX (3 + 16)

#if BH_GATTS_MAX_UUID128 > 255
#error "BH_GATTS_MAX_UUID128: at most 255 (an 8-bit index, 0xff means 16-bit only)"
#endif
#if BH_GATTS_MAX_VALUE_BYTES > 0xffff
#error "BH_GATTS_MAX_VALUE_BYTES: at most 65535 (16-bit offsets)"
#endif
#if BH_GATTS_MAX_ATTRS > 0xffff || BH_GATTS_MAX_ATTRS < N_FIXED
#error "BH_GATTS_MAX_ATTRS: the fixed services' handles up to 65535"
#endif
#if BH_GATTS_MAX_CCCD > 255 || BH_GATTS_MAX_CCCD < 1
#error "BH_GATTS_MAX_CCCD: 1..255 (slot 0 is Service Changed's)"
#endif
#if BH_MAX_CONNECTIONS > 255
#error "the prepare queue tags entries with an 8-bit link index"
#endif

typedef struct _attr_t {
    uint8_t kind;
    uint8_t uuid_idx; // index into the storage's 128-bit UUIDs, or UUID16_ONLY
    uint16_t uuid16;
    uint16_t flags;   // K_VALUE/K_DESC/K_CCCD/K_CHAR_DECL: the flags given
    uint16_t aux;     // SERVICE: end handle; CHAR_DECL: value handle;
                      // VALUE: its CCCD handle or 0; CCCD: slot in cccd[]
    uint16_t off;     // value in the pool (K_VALUE, K_DESC, user K_CCCD)
    uint16_t len;
    uint16_t cap;
    bool append;
    bool user;        // K_CCCD: declared by the embedding
    bool exec_written; // stored by the Execute Write being served
} attr_t;

// Generic Access (1-5) and Generic Attribute with Service Changed (6-9):
// constant, so they need no storage.
static const attr_t fixed_attrs[N_FIXED] = {
    { .kind = K_SERVICE, .uuid_idx = UUID16_ONLY, .uuid16 = UUID_GAP_SERVICE, .aux = 5 },
    { .kind = K_CHAR_DECL, .uuid_idx = UUID16_ONLY, .uuid16 = UUID_CHARACTERISTIC, .flags = BH_GATTS_F_READ, .aux = 3 },
    { .kind = K_GAP_NAME, .uuid_idx = UUID16_ONLY, .uuid16 = UUID_DEVICE_NAME },
    { .kind = K_CHAR_DECL, .uuid_idx = UUID16_ONLY, .uuid16 = UUID_CHARACTERISTIC, .flags = BH_GATTS_F_READ, .aux = 5 },
    { .kind = K_APPEARANCE, .uuid_idx = UUID16_ONLY, .uuid16 = UUID_APPEARANCE },
    { .kind = K_SERVICE, .uuid_idx = UUID16_ONLY, .uuid16 = UUID_GATT_SERVICE, .aux = N_FIXED },
    { .kind = K_CHAR_DECL, .uuid_idx = UUID16_ONLY, .uuid16 = UUID_CHARACTERISTIC, .flags = BH_GATTS_F_INDICATE, .aux = SC_VALUE_HANDLE },
    { .kind = K_SVC_CHANGED, .uuid_idx = UUID16_ONLY, .uuid16 = UUID_SERVICE_CHANGED, .aux = SC_VALUE_HANDLE + 1 },
    { .kind = K_CCCD, .uuid_idx = UUID16_ONLY, .uuid16 = BH_GATTS_UUID_CCCD, .flags = BH_GATTS_F_READ | BH_GATTS_F_WRITE, .aux = SC_CCCD_SLOT },
};

typedef struct _srv_link_t {
    bool used;
    bool ind_pending;
    bool sc_pending; // a Service Changed indication waits for its turn
    uint16_t handle;
    uint16_t ind_handle;
    uint32_t ind_deadline;
} srv_link_t;

// The embedding's services live in storage it gives (bh_gatts_reset_db):
// attr_t[max_attrs], then max_uuid128 UUIDs of 16 bytes, then the values
// of its max_cccd CCCDs per link (uint16_t[max_cccd][BH_MAX_CONNECTIONS]),
// then the value pool (pool_size bytes, pool_used of them packed from its
// start). Without storage only the fixed services exist.
static struct {
    uint8_t busy; // serving a request (callbacks may run)
    uint8_t n_cccd;
    uint16_t n_attrs; // the last handle (0: not set up yet)
    uint16_t n_uuid128;
    uint16_t cur_service; // handle of the service being built, 0 none
    uint16_t cur_value;   // handle of the characteristic value being built
    uint16_t max_attrs;   // of the embedding's, in the storage
    uint16_t max_uuid128;
    uint8_t max_cccd;
    uint16_t pool_size;
    uint16_t pool_used;
    uint8_t *mem;
    size_t len;
} db;

static srv_link_t srv_links[BH_MAX_CONNECTIONS];
// Service Changed's CCCD (slot 0) per link; the embedding's CCCDs (slots
// 1..) keep theirs in the storage.
static uint16_t sc_cccd[BH_MAX_CONNECTIONS];

// Queued writes of every link together: entries of PREP_HDR bytes (link
// index, handle, offset, length) followed by their data, in arrival order.
#define PREP_HDR (7)
static struct {
    uint16_t used;
    uint8_t buf[BH_GATTS_PREPARE_QUEUE];
} prep;

// Responses are built in tx; notifications and indications in ntf, so an
// application callback that notifies while a response is being built (a
// read request handler) cannot corrupt it.
static uint8_t tx[BH_ATT_MTU_MAX];
static uint8_t ntf[BH_ATT_MTU_MAX];

// ---- storage ----

static size_t tables_size(size_t attrs, size_t uuid128, size_t cccds) {
    return attrs * sizeof(attr_t) + uuid128 * 16 + cccds * BH_MAX_CONNECTIONS * sizeof(uint16_t);
}

static size_t db_tables_size(void) {
    return tables_size(db.max_attrs, db.max_uuid128, db.max_cccd);
}

static attr_t *user_attrs(void) {
    return (attr_t *)(void *)db.mem;
}

static uint8_t *uuid128_at(uint8_t idx) {
    return db.mem + db.max_attrs * sizeof(attr_t) + (size_t)idx * 16;
}

static uint16_t *user_cccds(void) {
    return (uint16_t *)(void *)(db.mem + tables_size(db.max_attrs, db.max_uuid128, 0));
}

// A CCCD's value on a link (slot: the CCCD attribute's aux).
static uint16_t *cccd_val(uint16_t slot, size_t link) {
    if (slot == SC_CCCD_SLOT) {
        return &sc_cccd[link];
    }
    return &user_cccds()[(size_t)(slot - 1) * BH_MAX_CONNECTIONS + link];
}

static uint8_t *pool(void) {
    return db.mem + db_tables_size();
}

static bool is_cccd_uuid(const uint8_t *uuid, size_t uuid_len) {
    return uuid_len == 2 && bh_get_u16(uuid) == BH_GATTS_UUID_CCCD;
}

void bh_gatts_plan_service(bh_gatts_plan_t *p, const uint8_t *uuid, size_t uuid_len) {
    (void)uuid;
    p->attrs += 1;
    p->uuid128 += uuid_len != 2;
}

void bh_gatts_plan_characteristic(bh_gatts_plan_t *p, const uint8_t *uuid, size_t uuid_len, uint16_t flags, bool has_user_cccd) {
    (void)uuid;
    // Declaration and value, as bh_gatts_add_characteristic adds them.
    p->attrs += 2;
    p->uuid128 += uuid_len != 2;
    p->values += BH_GATTS_DEFAULT_CAP;
    if (flags & BH_GATTS_F_AUX_WRITE) {
        p->attrs += 1;
    }
    if ((flags & (BH_GATTS_F_NOTIFY | BH_GATTS_F_INDICATE)) && !has_user_cccd) {
        p->attrs += 1;
        p->cccds += 1;
    }
}

void bh_gatts_plan_descriptor(bh_gatts_plan_t *p, const uint8_t *uuid, size_t uuid_len) {
    p->attrs += 1;
    p->uuid128 += uuid_len != 2;
    p->values += BH_GATTS_DEFAULT_CAP;
    p->cccds += is_cccd_uuid(uuid, uuid_len);
}

int bh_gatts_plan_size(const bh_gatts_plan_t *p, size_t *size) {
    if (p->attrs > BH_GATTS_MAX_ATTRS - N_FIXED || p->uuid128 > BH_GATTS_MAX_UUID128
        || p->values > BH_GATTS_MAX_VALUE_BYTES || p->cccds > BH_GATTS_MAX_CCCD - 1) {
        return -BH_ENOMEM;
    }
    *size = tables_size(p->attrs, p->uuid128, p->cccds) + p->values;
    return 0;
}

static uint16_t pool_size_for(size_t len) {
    size_t tables = db_tables_size();
    size_t n = len > tables ? len - tables : 0;
    return (uint16_t)(n < BH_GATTS_MAX_VALUE_BYTES ? n : BH_GATTS_MAX_VALUE_BYTES);
}

static bool storage_ok(const void *mem, size_t len) {
    return len == 0 || (mem != NULL && (uintptr_t)mem % sizeof(uint16_t) == 0);
}

static void prep_drop_all(void);

int bh_gatts_reset_db(void *mem, size_t len, const bh_gatts_plan_t *plan) {
    if (db.busy) {
        return -BH_EBUSY;
    }
    static const bh_gatts_plan_t none;
    if (plan == NULL) {
        plan = &none;
    }
    size_t need;
    if (bh_gatts_plan_size(plan, &need) != 0) {
        return -BH_ENOMEM;
    }
    if (len < need || !storage_ok(mem, len)) {
        return -BH_EINVAL;
    }
    memset(&db, 0, sizeof(db));
    db.n_attrs = N_FIXED;
    db.n_cccd = SC_CCCD_SLOT + 1;
    if (len > 0) {
        db.mem = mem;
        db.len = len;
        db.max_attrs = (uint16_t)plan->attrs;
        db.max_uuid128 = (uint16_t)plan->uuid128;
        db.max_cccd = (uint8_t)plan->cccds;
        db.pool_size = pool_size_for(len);
        // Nobody is subscribed to the new CCCDs yet.
        memset(user_cccds(), 0, (size_t)db.max_cccd * BH_MAX_CONNECTIONS * sizeof(uint16_t));
    }
    // Subscriptions to Service Changed outlive the database they announce
    // changes of (sc_cccd stays); every queued write belongs to the old one.
    prep_drop_all();
    return 0;
}

size_t bh_gatts_storage_len(void) {
    return db.len;
}

int bh_gatts_move_db(void *mem, size_t len) {
    size_t used = db_tables_size() + db.pool_used;
    if (len < used || len == 0 || !storage_ok(mem, len)) {
        return -BH_EINVAL;
    }
    if (used > 0) {
        memcpy(mem, db.mem, used);
    }
    db.mem = mem;
    db.len = len;
    db.pool_size = pool_size_for(len);
    return 0;
}

// ---- database ----

static void db_ensure(void) {
    if (db.n_attrs == 0) {
        (void)bh_gatts_reset_db(NULL, 0, NULL);
    }
}

static const attr_t *attr_at(uint16_t handle) {
    if (handle == 0 || handle > db.n_attrs) {
        return NULL;
    }
    if (handle <= N_FIXED) {
        return &fixed_attrs[handle - 1];
    }
    return &user_attrs()[handle - BH_GATTS_FIRST_USER_HANDLE];
}

// The embedding's attributes, which may change.
static attr_t *attr_mut(uint16_t handle) {
    if (handle <= N_FIXED || handle > db.n_attrs) {
        return NULL;
    }
    return &user_attrs()[handle - BH_GATTS_FIRST_USER_HANDLE];
}

static size_t attr_uuid(const attr_t *a, uint8_t *out) {
    if (a->uuid_idx == UUID16_ONLY) {
        bh_put_u16(out, a->uuid16);
        return 2;
    }
    memcpy(out, uuid128_at(a->uuid_idx), 16);
    return 16;
}

static bool attr_uuid_is(const attr_t *a, const uint8_t *uuid, size_t len) {
    uint8_t mine[16], theirs[16], buf[16];
    size_t n = attr_uuid(a, buf);
    (void)bh_uuid_to_128(mine, buf, n);
    (void)bh_uuid_to_128(theirs, uuid, len);
    return memcmp(mine, theirs, 16) == 0;
}

static attr_t *attr_new(uint8_t kind, const uint8_t *uuid, size_t uuid_len) {
    if (db.n_attrs - N_FIXED >= db.max_attrs) {
        return NULL;
    }
    attr_t a;
    memset(&a, 0, sizeof(a));
    a.kind = kind;
    a.uuid_idx = UUID16_ONLY;
    if (uuid_len == 2) {
        a.uuid16 = bh_get_u16(uuid);
    } else {
        if (db.n_uuid128 >= db.max_uuid128) {
            return NULL;
        }
        a.uuid_idx = (uint8_t)db.n_uuid128++;
        (void)bh_uuid_to_128(uuid128_at(a.uuid_idx), uuid, uuid_len);
    }
    db.n_attrs++;
    attr_t *n = attr_mut(db.n_attrs);
    *n = a;
    if (db.cur_service != 0) {
        attr_mut(db.cur_service)->aux = db.n_attrs;
    }
    return n;
}

static attr_t *attr_new16(uint8_t kind, uint16_t uuid16) {
    uint8_t u[2];
    bh_put_u16(u, uuid16);
    return attr_new(kind, u, 2);
}

static bool stores_value(const attr_t *a) {
    return a->kind == K_VALUE || a->kind == K_DESC || (a->kind == K_CCCD && a->user);
}

// Move the values after a's value so a's capacity becomes cap (the pool
// stays packed). -BH_ENOMEM when it does not fit.
static int value_resize(attr_t *a, size_t cap) {
    if (cap > BH_ATT_VALUE_MAX) {
        return -BH_EMSGSIZE;
    }
    if (cap > a->cap && cap - a->cap > (size_t)(db.pool_size - db.pool_used)) {
        return -BH_ENOMEM;
    }
    uint8_t *p = pool();
    size_t tail = a->off + a->cap;
    memmove(p + a->off + cap, p + tail, db.pool_used - tail);
    int delta = (int)cap - (int)a->cap;
    for (uint16_t h = BH_GATTS_FIRST_USER_HANDLE; h <= db.n_attrs; h++) {
        attr_t *o = attr_mut(h);
        if (o != a && stores_value(o) && o->off >= tail) {
            o->off = (uint16_t)(o->off + delta);
        }
    }
    db.pool_used = (uint16_t)(db.pool_used + delta);
    a->cap = (uint16_t)cap;
    if (a->len > cap) {
        a->len = (uint16_t)cap;
    }
    return 0;
}

static int value_alloc(attr_t *a) {
    a->off = db.pool_used;
    a->cap = 0;
    a->len = 0;
    return value_resize(a, BH_GATTS_DEFAULT_CAP);
}

static bool uuid_len_ok(size_t len) {
    return len == 2 || len == 4 || len == 16;
}

int bh_gatts_add_service(const uint8_t *uuid, size_t uuid_len) {
    db_ensure();
    if (db.busy) {
        return -BH_EBUSY;
    }
    if (!uuid_len_ok(uuid_len)) {
        return -BH_EINVAL;
    }
    db.cur_service = 0;
    db.cur_value = 0;
    // A service declaration's uuid slot holds the service UUID (its value);
    // its type 0x2800 is implied by the kind.
    attr_t *a = attr_new(K_SERVICE, uuid, uuid_len);
    if (a == NULL) {
        return -BH_ENOMEM;
    }
    db.cur_service = db.n_attrs;
    a->aux = db.n_attrs;
    return db.n_attrs;
}

int bh_gatts_add_characteristic(const uint8_t *uuid, size_t uuid_len, uint16_t flags, bool has_user_cccd) {
    db_ensure();
    if (db.busy) {
        return -BH_EBUSY;
    }
    if (db.cur_service == 0 || !uuid_len_ok(uuid_len)) {
        return -BH_EINVAL;
    }
    // Declaration (type 0x2803; its value is built from the value's
    // attribute).
    attr_t *d = attr_new16(K_CHAR_DECL, UUID_CHARACTERISTIC);
    if (d == NULL) {
        return -BH_ENOMEM;
    }
    d->flags = flags;
    d->aux = db.n_attrs + 1;
    attr_t *v = attr_new(K_VALUE, uuid, uuid_len);
    if (v == NULL) {
        return -BH_ENOMEM;
    }
    v->flags = flags;
    if (value_alloc(v) != 0) {
        return -BH_ENOMEM;
    }
    uint16_t vh = db.n_attrs;
    db.cur_value = vh;
    if (flags & BH_GATTS_F_AUX_WRITE) {
        if (attr_new16(K_EXT_PROPS, UUID_EXT_PROPS) == NULL) {
            return -BH_ENOMEM;
        }
    }
    if ((flags & (BH_GATTS_F_NOTIFY | BH_GATTS_F_INDICATE)) && !has_user_cccd) {
        if (db.n_cccd > db.max_cccd) {
            return -BH_ENOMEM;
        }
        attr_t *c = attr_new16(K_CCCD, BH_GATTS_UUID_CCCD);
        if (c == NULL) {
            return -BH_ENOMEM;
        }
        c->flags = BH_GATTS_F_READ | BH_GATTS_F_WRITE;
        c->aux = db.n_cccd++;
        attr_mut(vh)->aux = db.n_attrs;
    }
    return vh;
}

int bh_gatts_add_descriptor(const uint8_t *uuid, size_t uuid_len, uint16_t flags) {
    db_ensure();
    if (db.busy) {
        return -BH_EBUSY;
    }
    if (db.cur_value == 0 || !uuid_len_ok(uuid_len)) {
        return -BH_EINVAL;
    }
    bool cccd = is_cccd_uuid(uuid, uuid_len);
    if (cccd && db.n_cccd > db.max_cccd) {
        return -BH_ENOMEM;
    }
    attr_t *a = attr_new(cccd ? K_CCCD : K_DESC, uuid, uuid_len);
    if (a == NULL) {
        return -BH_ENOMEM;
    }
    a->flags = flags;
    if (value_alloc(a) != 0) {
        return -BH_ENOMEM;
    }
    uint16_t h = db.n_attrs;
    if (cccd) {
        a->user = true;
        a->aux = db.n_cccd++;
        attr_mut(db.cur_value)->aux = h;
    }
    return h;
}

uint16_t bh_gatts_attr_count(void) {
    db_ensure();
    return db.n_attrs;
}

// The embedding's attributes with a stored value.
static attr_t *user_attr(uint16_t handle) {
    db_ensure();
    attr_t *a = attr_mut(handle);
    if (a == NULL || !stores_value(a)) {
        return NULL;
    }
    return a;
}

int bh_gatts_get_value(uint16_t handle, const uint8_t **data, size_t *len) {
    attr_t *a = user_attr(handle);
    if (a == NULL) {
        return -BH_EINVAL;
    }
    *data = pool() + a->off;
    *len = a->len;
    return 0;
}

void bh_gatts_consume(uint16_t handle) {
    attr_t *a = user_attr(handle);
    if (a != NULL && a->append) {
        a->len = 0;
    }
}

size_t bh_gatts_storage_for(uint16_t handle, size_t cap) {
    attr_t *a = user_attr(handle);
    if (a == NULL || cap <= a->cap || cap > BH_ATT_VALUE_MAX
        || db.pool_used + (cap - a->cap) > BH_GATTS_MAX_VALUE_BYTES) {
        // Fits already, or cannot fit (the setter says why).
        return db.len;
    }
    size_t need = db_tables_size() + db.pool_used + (cap - a->cap);
    return need > db.len ? need : db.len;
}

int bh_gatts_set_value(uint16_t handle, const uint8_t *data, size_t len) {
    attr_t *a = user_attr(handle);
    if (a == NULL) {
        return -BH_EINVAL;
    }
    if (len > a->cap) {
        int err = value_resize(a, len);
        if (err != 0) {
            return err;
        }
    }
    memmove(pool() + a->off, data, len);
    a->len = (uint16_t)len;
    return 0;
}

bool bh_gatts_is_append(uint16_t handle) {
    attr_t *a = user_attr(handle);
    return a != NULL && a->append;
}

int bh_gatts_set_buffer(uint16_t handle, size_t cap, bool append) {
    attr_t *a = user_attr(handle);
    if (a == NULL) {
        return -BH_EINVAL;
    }
    int err = value_resize(a, cap);
    if (err != 0) {
        return err;
    }
    a->append = append;
    return 0;
}

// ---- the prepare-write queue ----

static uint8_t prep_link(size_t i) {
    return prep.buf[i];
}

static uint16_t prep_handle(size_t i) {
    return bh_get_u16(prep.buf + i + 1);
}

static uint16_t prep_offset(size_t i) {
    return bh_get_u16(prep.buf + i + 3);
}

static uint16_t prep_len(size_t i) {
    return bh_get_u16(prep.buf + i + 5);
}

static size_t prep_next(size_t i) {
    return i + PREP_HDR + prep_len(i);
}

static void prep_drop_all(void) {
    prep.used = 0;
}

// Forget one link's queued writes; the others' keep their order.
static void prep_drop(size_t link) {
    size_t w = 0;
    for (size_t i = 0; i < prep.used;) {
        size_t next = prep_next(i);
        if (prep_link(i) != link) {
            memmove(prep.buf + w, prep.buf + i, next - i);
            w += next - i;
        }
        i = next;
    }
    prep.used = (uint16_t)w;
}

static bool prep_add(size_t link, uint16_t handle, uint16_t offset, const uint8_t *data, size_t n) {
    if (n > (size_t)BH_GATTS_PREPARE_QUEUE - PREP_HDR
        || prep.used + PREP_HDR + n > (size_t)BH_GATTS_PREPARE_QUEUE) {
        return false;
    }
    uint8_t *e = prep.buf + prep.used;
    e[0] = (uint8_t)link;
    bh_put_u16(e + 1, handle);
    bh_put_u16(e + 3, offset);
    bh_put_u16(e + 5, (uint16_t)n);
    memcpy(e + PREP_HDR, data, n);
    prep.used = (uint16_t)(prep.used + PREP_HDR + n);
    return true;
}

// ---- links ----

static srv_link_t *link_find(uint16_t handle) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        if (srv_links[i].used && srv_links[i].handle == handle) {
            return &srv_links[i];
        }
    }
    return NULL;
}

static srv_link_t *link_get(uint16_t handle) {
    srv_link_t *l = link_find(handle);
    if (l != NULL || bh_conn_find(handle) == NULL) {
        return l;
    }
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        l = &srv_links[i];
        if (!l->used) {
            l->used = true;
            l->handle = handle;
            l->ind_pending = false;
            l->sc_pending = false;
            prep_drop(i);
            for (uint16_t c = 0; c < db.n_cccd; c++) {
                *cccd_val(c, i) = 0;
            }
            return l;
        }
    }
    return NULL;
}

static size_t link_index(const srv_link_t *l) {
    return (size_t)(l - srv_links);
}

size_t bh_gatts_cccd_list(uint16_t conn_handle, uint16_t *handles, uint16_t *values, size_t max) {
    srv_link_t *l = link_find(conn_handle);
    size_t n = 0;
    for (uint16_t h = 1; l != NULL && h <= db.n_attrs && n < max; h++) {
        const attr_t *a = attr_at(h);
        uint16_t v = a->kind == K_CCCD ? *cccd_val(a->aux, link_index(l)) : 0;
        if (v != 0) {
            handles[n] = h;
            values[n++] = v;
        }
    }
    return n;
}

bool bh_gatts_cccd_restore(uint16_t conn_handle, uint16_t handle, uint16_t value) {
    const attr_t *a = attr_at(handle);
    srv_link_t *l = link_get(conn_handle);
    if (a == NULL || a->kind != K_CCCD || l == NULL) {
        return false;
    }
    *cccd_val(a->aux, link_index(l)) = value & (CCCD_NOTIFY | CCCD_INDICATE);
    return true;
}

void bh_gatts_reset_links(void) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        srv_links[i].used = false;
        srv_links[i].ind_pending = false;
    }
    prep_drop_all();
    memset(sc_cccd, 0, sizeof(sc_cccd));
    if (db.mem != NULL) {
        memset(user_cccds(), 0, (size_t)db.max_cccd * BH_MAX_CONNECTIONS * sizeof(uint16_t));
    }
}

void bh_gatts_conn_closed(uint16_t conn_handle) {
    srv_link_t *l = link_find(conn_handle);
    if (l == NULL) {
        return;
    }
    bool pending = l->ind_pending;
    uint16_t h = l->ind_handle;
    l->used = false;
    l->ind_pending = false;
    prep_drop(link_index(l));
    if (pending && h != SC_VALUE_HANDLE) {
        bh_evt_gatts_indicate_done(conn_handle, h, BH_GATTS_IND_DISCONNECTED);
    }
}

static void send_service_changed(void);

void bh_gatts_poll(uint32_t now_ms) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        srv_link_t *l = &srv_links[i];
        if (l->used && l->ind_pending && (int32_t)(now_ms - l->ind_deadline) >= 0) {
            l->ind_pending = false;
            if (l->ind_handle != SC_VALUE_HANDLE) {
                bh_evt_gatts_indicate_done(l->handle, l->ind_handle, BH_GATTS_IND_TIMEOUT);
            }
        }
    }
    send_service_changed();
}

// ---- server-initiated PDUs ----

static int send_value(uint16_t conn_handle, uint8_t op, uint16_t handle, const uint8_t *data, size_t len) {
    uint16_t mtu = bh_att_get_mtu(conn_handle);
    if (mtu == 0) {
        return -BH_ENOTCONN;
    }
    // Any handle: the peer's database may be laid out differently (the
    // embedding vouches for it when it gives the data).
    if (handle == 0) {
        return -BH_EINVAL;
    }
    if (len > (size_t)mtu - 3) {
        len = mtu - 3;
    }
    ntf[0] = op;
    bh_put_u16(ntf + 1, handle);
    memcpy(ntf + 3, data, len);
    // Bulk: the slots reserved for responses stay free.
    return bh_att_send_bulk(conn_handle, ntf, 3 + len);
}

int bh_gatts_notify(uint16_t conn_handle, uint16_t handle, const uint8_t *data, size_t len) {
    return send_value(conn_handle, BH_ATT_HANDLE_VALUE_NTF, handle, data, len);
}

int bh_gatts_indicate(uint16_t conn_handle, uint16_t handle, const uint8_t *data, size_t len) {
    srv_link_t *l = link_get(conn_handle);
    if (l == NULL) {
        return -BH_ENOTCONN;
    }
    if (l->ind_pending) {
        return -BH_EBUSY;
    }
    int err = send_value(conn_handle, BH_ATT_HANDLE_VALUE_IND, handle, data, len);
    if (err == 0) {
        l->ind_pending = true;
        l->ind_handle = handle;
        l->ind_deadline = bh_port_ticks_ms() + BH_ATT_TIMEOUT_MS;
    }
    return err;
}

int bh_gatts_send_update(uint16_t handle) {
    attr_t *a = user_attr(handle);
    if (a == NULL) {
        return -BH_EINVAL;
    }
    const attr_t *c = a->kind == K_VALUE ? attr_at(a->aux) : NULL;
    if (c == NULL || c->kind != K_CCCD) {
        return 0;
    }
    // All or nothing: -BH_ENOMEM before sending anything when the transmit
    // queue cannot take one PDU per subscribed link (and one response), so
    // the caller can simply retry.
    size_t wanted = 0;
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        wanted += srv_links[i].used && *cccd_val(c->aux, i) != 0;
    }
    if (wanted > bh_acl_tx_bulk_room(3 + (size_t)a->len)) {
        return -BH_ENOMEM;
    }
    int ret = 0;
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        srv_link_t *l = &srv_links[i];
        uint16_t bits = *cccd_val(c->aux, i);
        if (!l->used || bits == 0) {
            continue;
        }
        // Re-read: a previous send may not move values, but stay safe.
        const uint8_t *data = pool() + a->off;
        int err = 0;
        if (bits & CCCD_NOTIFY) {
            err = bh_gatts_notify(l->handle, handle, data, a->len);
        } else if ((bits & CCCD_INDICATE) && !l->ind_pending) {
            err = bh_gatts_indicate(l->handle, handle, data, a->len);
        }
        if (err != 0 && ret == 0) {
            ret = err;
        }
    }
    return ret;
}

// ---- serving requests ----

static void send_error(uint16_t conn_handle, uint8_t req_op, uint16_t handle, uint8_t code) {
    uint8_t pdu[5] = { BH_ATT_ERROR_RSP, req_op, 0, 0, code };
    bh_put_u16(pdu + 2, handle);
    (void)bh_att_send(conn_handle, pdu, sizeof(pdu));
}

// The link's security as the permission rules see it (no link: none).
static uint8_t check_perm(uint16_t conn_handle, uint16_t flags, bool write) {
    static const bh_conn_sec_t none;
    bh_conn_t *c = bh_conn_find(conn_handle);
    return bh_gatts_check_perm(flags, write, c != NULL ? &c->sec : &none);
}

uint8_t bh_gatts_check_perm(uint16_t flags, bool write, const bh_conn_sec_t *sec) {
    uint16_t f_auth = write ? BH_GATTS_F_WRITE_AUTHENTICATED : BH_GATTS_F_READ_AUTHENTICATED;
    uint16_t f_enc = write ? BH_GATTS_F_WRITE_ENCRYPTED : BH_GATTS_F_READ_ENCRYPTED;
    bool needs_auth = (flags & f_auth) != 0;
    // Authentication is a property of the encryption key: it needs an
    // encrypted link too.
    bool needs_enc = needs_auth || (flags & f_enc) != 0;
    if (needs_enc && !sec->encrypted) {
        // With a key the client can encrypt (Insufficient Encryption);
        // without one it must pair first (Insufficient Authentication).
        return sec->bonded ? BH_ATT_ERR_INSUFFICIENT_ENCRYPTION : BH_ATT_ERR_INSUFFICIENT_AUTHENTICATION;
    }
    if (needs_enc && sec->key_size < BH_GATTS_MIN_KEY_SIZE) {
        return BH_ATT_ERR_INSUFFICIENT_ENC_KEY_SIZE;
    }
    if (needs_auth && !sec->authenticated) {
        return BH_ATT_ERR_INSUFFICIENT_AUTHENTICATION;
    }
    // Read authorization is the application's answer to the read request;
    // writes have no such question in the API, so the flag refuses them.
    if (write && (flags & BH_GATTS_F_WRITE_AUTHORIZED)) {
        return BH_ATT_ERR_INSUFFICIENT_AUTHORIZATION;
    }
    return 0;
}

// The value of an attribute with no permission check and no callback, into
// buf (BUILT_VALUE_MAX bytes) or as a pointer into the pool (valid until a
// callback runs: the embedding may move the storage).
static size_t raw_value(uint16_t conn_handle, uint16_t handle, const uint8_t **out, uint8_t *buf) {
    const attr_t *a = attr_at(handle);
    *out = buf;
    switch (a->kind) {
        case K_SERVICE:
            return attr_uuid(a, buf);
        case K_CHAR_DECL: {
            uint8_t props = (uint8_t)(a->flags & 0x7f);
            if (a->flags & BH_GATTS_F_AUX_WRITE) {
                props |= 0x80;
            }
            buf[0] = props;
            bh_put_u16(buf + 1, a->aux);
            const attr_t *v = attr_at(a->aux);
            return 3 + attr_uuid(v, buf + 3);
        }
        case K_EXT_PROPS: {
            const attr_t *v = attr_at(handle - 1);
            // Reliable Write bit when the characteristic allows queued writes.
            bh_put_u16(buf, (v != NULL && v->kind == K_VALUE && (v->flags & BH_GATTS_F_AUX_WRITE)) ? 1 : 0);
            return 2;
        }
        case K_CCCD: {
            srv_link_t *l = link_get(conn_handle);
            bh_put_u16(buf, l == NULL ? 0 : *cccd_val(a->aux, link_index(l)));
            return 2;
        }
        case K_GAP_NAME: {
            const uint8_t *name;
            size_t n = bh_evt_gap_name(&name);
            *out = name;
            return n;
        }
        case K_APPEARANCE:
            bh_put_u16(buf, 0);
            return 2;
        default:
            *out = pool() + a->off;
            return a->len;
    }
}

// Whether a client may read this attribute now; 0 or the ATT error. Runs
// the read-request callback for the embedding's values and descriptors.
static uint8_t read_check(uint16_t conn_handle, uint16_t handle) {
    const attr_t *a = attr_at(handle);
    if (a->kind == K_SVC_CHANGED) {
        return BH_ATT_ERR_READ_NOT_PERMITTED; // indicate only
    }
    if (a->kind != K_VALUE && a->kind != K_DESC) {
        return 0;
    }
    if (!(a->flags & BH_GATTS_F_READ)) {
        return BH_ATT_ERR_READ_NOT_PERMITTED;
    }
    uint8_t err = check_perm(conn_handle, a->flags, false);
    if (err != 0) {
        return err;
    }
    db.busy++;
    err = bh_evt_gatts_read_request(conn_handle, handle);
    db.busy--;
    return err;
}

static uint8_t write_check(uint16_t conn_handle, uint16_t handle) {
    const attr_t *a = attr_at(handle);
    switch (a->kind) {
        case K_VALUE:
        case K_DESC:
            if (!(a->flags & (BH_GATTS_F_WRITE | BH_GATTS_F_WRITE_NO_RESPONSE | BH_GATTS_F_AUX_WRITE))) {
                return BH_ATT_ERR_WRITE_NOT_PERMITTED;
            }
            return check_perm(conn_handle, a->flags, true);
        case K_CCCD:
            return 0;
        default:
            return BH_ATT_ERR_WRITE_NOT_PERMITTED;
    }
}

// Store a remote write (permission already checked). Returns the ATT error
// or 0; *notify_app tells whether the embedding hears of it.
static uint8_t write_store(uint16_t conn_handle, uint16_t handle, uint16_t offset, const uint8_t *data, size_t len, bool *notify_app) {
    const attr_t *at = attr_at(handle);
    *notify_app = false;
    if (at->kind == K_CCCD) {
        if (offset != 0) {
            return BH_ATT_ERR_INVALID_OFFSET;
        }
        if (len != 2) {
            return BH_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH;
        }
        srv_link_t *l = link_get(conn_handle);
        if (l == NULL) {
            return BH_ATT_ERR_UNLIKELY;
        }
        uint16_t *val = cccd_val(at->aux, link_index(l));
        uint16_t was = *val;
        *val = bh_get_u16(data) & (CCCD_NOTIFY | CCCD_INDICATE);
        bh_conn_t *c = bh_conn_find(conn_handle);
        if (*val != was && c != NULL && c->sec.bonded) {
            bh_smp_cccd_save(conn_handle, &c->sec.bond_id);
        }
        if (!at->user) {
            return 0;
        }
    }
    // A value of the embedding's (write_check let nothing else through).
    attr_t *a = attr_mut(handle);
    uint8_t *p = pool();
    if (a->append) {
        size_t room = a->cap - a->len;
        if (len > room) {
            len = room;
        }
        memcpy(p + a->off + a->len, data, len);
        a->len = (uint16_t)(a->len + len);
    } else {
        if (offset > a->len) {
            return BH_ATT_ERR_INVALID_OFFSET;
        }
        size_t end = (size_t)offset + len;
        if (end > a->cap) {
            end = a->cap;
        }
        if (end > offset) {
            memcpy(p + a->off + offset, data, end - offset);
        }
        a->len = (uint16_t)(end > offset ? end : offset);
    }
    *notify_app = true;
    return 0;
}

static void handle_exchange_mtu(uint16_t conn_handle, const uint8_t *p, size_t len) {
    if (len != 3) {
        send_error(conn_handle, p[0], 0, BH_ATT_ERR_INVALID_PDU);
        return;
    }
    uint16_t peer = bh_get_u16(p + 1);
    uint8_t rsp[3] = { BH_ATT_EXCHANGE_MTU_RSP, 0, 0 };
    bh_put_u16(rsp + 1, bh_att_get_local_mtu());
    (void)bh_att_send(conn_handle, rsp, sizeof(rsp));
    bh_att_mtu_exchanged(conn_handle, peer);
}

// Checks a handle range; sends the error and returns false when invalid.
static bool range_ok(uint16_t conn_handle, uint8_t op, uint16_t start, uint16_t end) {
    if (start == 0 || start > end) {
        send_error(conn_handle, op, start, BH_ATT_ERR_INVALID_HANDLE);
        return false;
    }
    return true;
}

static uint16_t range_last(uint16_t end) {
    return end < db.n_attrs ? end : db.n_attrs;
}

static void handle_find_information(uint16_t conn_handle, const uint8_t *p, size_t len, uint16_t mtu) {
    if (len != 5) {
        send_error(conn_handle, p[0], 0, BH_ATT_ERR_INVALID_PDU);
        return;
    }
    uint16_t start = bh_get_u16(p + 1), end = bh_get_u16(p + 3);
    if (!range_ok(conn_handle, p[0], start, end)) {
        return;
    }
    size_t n = 2;
    uint8_t format = 0;
    for (uint32_t h = start; h <= range_last(end); h++) {
        const attr_t *a = attr_at((uint16_t)h);
        uint8_t type[16];
        size_t tlen;
        if (a->kind == K_SERVICE) {
            tlen = 2;
            bh_put_u16(type, UUID_PRIMARY_SERVICE);
        } else if (a->kind == K_CHAR_DECL) {
            tlen = 2;
            bh_put_u16(type, UUID_CHARACTERISTIC);
        } else {
            tlen = attr_uuid(a, type);
        }
        uint8_t f = tlen == 2 ? 1 : 2;
        if (format == 0) {
            format = f;
        } else if (f != format) {
            break;
        }
        if (n + 2 + tlen > mtu) {
            break;
        }
        bh_put_u16(tx + n, (uint16_t)h);
        memcpy(tx + n + 2, type, tlen);
        n += 2 + tlen;
    }
    if (format == 0) {
        send_error(conn_handle, p[0], start, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND);
        return;
    }
    tx[0] = BH_ATT_FIND_INFORMATION_RSP;
    tx[1] = format;
    (void)bh_att_send(conn_handle, tx, n);
}

// The attribute type (not the service/characteristic UUID stored in the
// declarations' uuid slot).
static bool type_is(const attr_t *a, const uint8_t *uuid, size_t len) {
    if (a->kind == K_SERVICE || a->kind == K_CHAR_DECL) {
        attr_t t = { .uuid_idx = UUID16_ONLY };
        t.uuid16 = a->kind == K_SERVICE ? UUID_PRIMARY_SERVICE : UUID_CHARACTERISTIC;
        return attr_uuid_is(&t, uuid, len);
    }
    return attr_uuid_is(a, uuid, len);
}

static uint16_t group_end(uint16_t h) {
    const attr_t *a = attr_at(h);
    return a->kind == K_SERVICE ? a->aux : h;
}

static void handle_find_by_type_value(uint16_t conn_handle, const uint8_t *p, size_t len, uint16_t mtu) {
    uint8_t built[BUILT_VALUE_MAX];
    if (len < 7) {
        send_error(conn_handle, p[0], 0, BH_ATT_ERR_INVALID_PDU);
        return;
    }
    uint16_t start = bh_get_u16(p + 1), end = bh_get_u16(p + 3);
    if (!range_ok(conn_handle, p[0], start, end)) {
        return;
    }
    const uint8_t *type = p + 5;
    const uint8_t *value = p + 7;
    size_t vlen = len - 7;
    size_t n = 1;
    for (uint32_t h = start; h <= range_last(end) && n + 4 <= mtu; h++) {
        const attr_t *a = attr_at((uint16_t)h);
        if (!type_is(a, type, 2)) {
            continue;
        }
        const uint8_t *v;
        size_t l = raw_value(conn_handle, (uint16_t)h, &v, built);
        bool match = l == vlen && memcmp(v, value, l) == 0;
        if (!match && a->kind == K_SERVICE && (vlen == 2 || vlen == 16)) {
            match = attr_uuid_is(a, value, vlen);
        }
        if (match) {
            bh_put_u16(tx + n, (uint16_t)h);
            bh_put_u16(tx + n + 2, group_end((uint16_t)h));
            n += 4;
        }
    }
    if (n == 1) {
        send_error(conn_handle, p[0], start, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND);
        return;
    }
    tx[0] = BH_ATT_FIND_BY_TYPE_VALUE_RSP;
    (void)bh_att_send(conn_handle, tx, n);
}

static void handle_read_by_type(uint16_t conn_handle, const uint8_t *p, size_t len) {
    uint8_t built[BUILT_VALUE_MAX];
    if (len != 7 && len != 21) {
        send_error(conn_handle, p[0], 0, BH_ATT_ERR_INVALID_PDU);
        return;
    }
    uint8_t op = p[0];
    uint16_t start = bh_get_u16(p + 1), end = bh_get_u16(p + 3);
    uint8_t type[16];
    size_t tlen = len - 5;
    memcpy(type, p + 5, tlen);
    // p is not used below: callbacks may run.
    if (!range_ok(conn_handle, op, start, end)) {
        return;
    }
    uint16_t mtu = bh_att_get_mtu(conn_handle);
    size_t n = 2;
    size_t entry = 0;
    for (uint32_t h = start; h <= range_last(end); h++) {
        const attr_t *a = attr_at((uint16_t)h);
        if (!type_is(a, type, tlen)) {
            continue;
        }
        uint8_t err = read_check(conn_handle, (uint16_t)h);
        if (h > db.n_attrs) {
            break; // the database changed under the callback
        }
        if (err != 0) {
            if (entry == 0) {
                send_error(conn_handle, op, (uint16_t)h, err);
                return;
            }
            break;
        }
        const uint8_t *v;
        size_t l = raw_value(conn_handle, (uint16_t)h, &v, built);
        size_t max = (size_t)mtu - 4;
        if (max > 253) {
            max = 253;
        }
        if (l > max) {
            l = max;
        }
        if (entry == 0) {
            entry = 2 + l;
        } else if (2 + l != entry || n + entry > mtu) {
            break;
        }
        bh_put_u16(tx + n, (uint16_t)h);
        memcpy(tx + n + 2, v, l);
        n += entry;
        if (n + entry > mtu) {
            break;
        }
    }
    if (entry == 0) {
        send_error(conn_handle, op, start, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND);
        return;
    }
    tx[0] = BH_ATT_READ_BY_TYPE_RSP;
    tx[1] = (uint8_t)entry;
    (void)bh_att_send(conn_handle, tx, n);
}

static void handle_read(uint16_t conn_handle, const uint8_t *p, size_t len) {
    uint8_t built[BUILT_VALUE_MAX];
    uint8_t op = p[0];
    if ((op == BH_ATT_READ_REQ && len != 3) || (op == BH_ATT_READ_BLOB_REQ && len != 5)) {
        send_error(conn_handle, op, 0, BH_ATT_ERR_INVALID_PDU);
        return;
    }
    uint16_t handle = bh_get_u16(p + 1);
    uint16_t offset = op == BH_ATT_READ_BLOB_REQ ? bh_get_u16(p + 3) : 0;
    if (attr_at(handle) == NULL) {
        send_error(conn_handle, op, handle, BH_ATT_ERR_INVALID_HANDLE);
        return;
    }
    uint8_t err = read_check(conn_handle, handle);
    if (err == 0 && attr_at(handle) == NULL) {
        err = BH_ATT_ERR_INVALID_HANDLE;
    }
    if (err != 0) {
        send_error(conn_handle, op, handle, err);
        return;
    }
    const uint8_t *v;
    size_t l = raw_value(conn_handle, handle, &v, built);
    if (offset > l) {
        send_error(conn_handle, op, handle, BH_ATT_ERR_INVALID_OFFSET);
        return;
    }
    uint16_t mtu = bh_att_get_mtu(conn_handle);
    size_t n = l - offset;
    if (n > (size_t)mtu - 1) {
        n = mtu - 1;
    }
    tx[0] = op == BH_ATT_READ_REQ ? BH_ATT_READ_RSP : BH_ATT_READ_BLOB_RSP;
    memcpy(tx + 1, v + offset, n);
    (void)bh_att_send(conn_handle, tx, 1 + n);
}

static void handle_read_multiple(uint16_t conn_handle, const uint8_t *p, size_t len) {
    uint8_t built[BUILT_VALUE_MAX];
    uint8_t op = p[0];
    if (len < 5 || (len - 1) % 2 != 0) {
        send_error(conn_handle, op, 0, BH_ATT_ERR_INVALID_PDU);
        return;
    }
    uint16_t handles[(BH_ATT_MTU_MAX - 1) / 2];
    size_t count = (len - 1) / 2;
    if (count > ARRAY_SIZE(handles)) {
        count = ARRAY_SIZE(handles);
    }
    for (size_t i = 0; i < count; i++) {
        handles[i] = bh_get_u16(p + 1 + 2 * i);
    }
    for (size_t i = 0; i < count; i++) {
        uint8_t err = attr_at(handles[i]) == NULL ? BH_ATT_ERR_INVALID_HANDLE : read_check(conn_handle, handles[i]);
        if (err == 0 && attr_at(handles[i]) == NULL) {
            err = BH_ATT_ERR_INVALID_HANDLE;
        }
        if (err != 0) {
            send_error(conn_handle, op, handles[i], err);
            return;
        }
    }
    uint16_t mtu = bh_att_get_mtu(conn_handle);
    size_t n = 1;
    for (size_t i = 0; i < count && n < mtu; i++) {
        const uint8_t *v;
        size_t l = raw_value(conn_handle, handles[i], &v, built);
        if (l > (size_t)mtu - n) {
            l = mtu - n;
        }
        memcpy(tx + n, v, l);
        n += l;
    }
    tx[0] = BH_ATT_READ_MULTIPLE_RSP;
    (void)bh_att_send(conn_handle, tx, n);
}

static void handle_read_by_group_type(uint16_t conn_handle, const uint8_t *p, size_t len, uint16_t mtu) {
    if (len != 7 && len != 21) {
        send_error(conn_handle, p[0], 0, BH_ATT_ERR_INVALID_PDU);
        return;
    }
    uint16_t start = bh_get_u16(p + 1), end = bh_get_u16(p + 3);
    if (!range_ok(conn_handle, p[0], start, end)) {
        return;
    }
    attr_t primary = { .uuid_idx = UUID16_ONLY, .uuid16 = UUID_PRIMARY_SERVICE };
    attr_t secondary = { .uuid_idx = UUID16_ONLY, .uuid16 = UUID_SECONDARY_SERVICE };
    if (attr_uuid_is(&secondary, p + 5, len - 5)) {
        send_error(conn_handle, p[0], start, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND);
        return;
    }
    if (!attr_uuid_is(&primary, p + 5, len - 5)) {
        send_error(conn_handle, p[0], start, BH_ATT_ERR_UNSUPPORTED_GROUP_TYPE);
        return;
    }
    size_t n = 2;
    size_t entry = 0;
    for (uint32_t h = start; h <= range_last(end); h++) {
        const attr_t *a = attr_at((uint16_t)h);
        if (a->kind != K_SERVICE) {
            continue;
        }
        uint8_t uuid[16];
        size_t l = attr_uuid(a, uuid);
        if (entry == 0) {
            entry = 4 + l;
        } else if (4 + l != entry) {
            break;
        }
        if (n + entry > mtu) {
            break;
        }
        bh_put_u16(tx + n, (uint16_t)h);
        bh_put_u16(tx + n + 2, a->aux);
        memcpy(tx + n + 4, uuid, l);
        n += entry;
    }
    if (entry == 0) {
        send_error(conn_handle, p[0], start, BH_ATT_ERR_ATTRIBUTE_NOT_FOUND);
        return;
    }
    tx[0] = BH_ATT_READ_BY_GROUP_TYPE_RSP;
    tx[1] = (uint8_t)entry;
    (void)bh_att_send(conn_handle, tx, n);
}

static void handle_write(uint16_t conn_handle, const uint8_t *p, size_t len) {
    uint8_t op = p[0];
    bool is_cmd = op == BH_ATT_WRITE_CMD;
    if (len < 3) {
        if (!is_cmd) {
            send_error(conn_handle, op, 0, BH_ATT_ERR_INVALID_PDU);
        }
        return;
    }
    uint16_t handle = bh_get_u16(p + 1);
    uint8_t err = attr_at(handle) == NULL ? BH_ATT_ERR_INVALID_HANDLE : write_check(conn_handle, handle);
    bool app = false;
    if (err == 0) {
        err = write_store(conn_handle, handle, 0, p + 3, len - 3, &app);
    }
    if (!is_cmd) {
        if (err != 0) {
            send_error(conn_handle, op, handle, err);
        } else {
            uint8_t rsp = BH_ATT_WRITE_RSP;
            (void)bh_att_send(conn_handle, &rsp, 1);
        }
    }
    if (app) {
        bh_evt_gatts_write(conn_handle, handle);
    }
}

static void handle_prepare_write(uint16_t conn_handle, const uint8_t *p, size_t len) {
    uint8_t op = p[0];
    if (len < 5) {
        send_error(conn_handle, op, 0, BH_ATT_ERR_INVALID_PDU);
        return;
    }
    uint16_t handle = bh_get_u16(p + 1);
    const attr_t *a = attr_at(handle);
    uint8_t err = a == NULL ? BH_ATT_ERR_INVALID_HANDLE : write_check(conn_handle, handle);
    if (err == 0 && !(a->flags & BH_GATTS_F_AUX_WRITE)) {
        // The API's _FLAG_AUX_WRITE is what allows queued (long and
        // reliable) writes; other attributes take single writes only.
        err = BH_ATT_ERR_REQUEST_NOT_SUPPORTED;
    }
    if (err != 0) {
        send_error(conn_handle, op, handle, err);
        return;
    }
    // One queue for all links: when it is full, the client whose write
    // does not fit hears so; what is queued stays (for it and the others).
    srv_link_t *l = link_get(conn_handle);
    if (l == NULL || !prep_add(link_index(l), handle, bh_get_u16(p + 3), p + 5, len - 5)) {
        send_error(conn_handle, op, handle, BH_ATT_ERR_PREPARE_QUEUE_FULL);
        return;
    }
    // The response echoes the request.
    memcpy(tx, p, len);
    tx[0] = BH_ATT_PREPARE_WRITE_RSP;
    (void)bh_att_send(conn_handle, tx, len);
}

// Check a link's queued writes before applying any: 0, or the ATT error
// with *bad the handle it is about. Offsets must fall within the value as
// the earlier queued writes leave it.
static uint8_t prep_check(size_t link, uint16_t *bad) {
    for (size_t i = 0; i < prep.used; i = prep_next(i)) {
        if (prep_link(i) != link) {
            continue;
        }
        uint16_t h = prep_handle(i);
        uint16_t off = prep_offset(i);
        uint16_t n = prep_len(i);
        const attr_t *a = attr_at(h);
        *bad = h;
        if (a == NULL) {
            return BH_ATT_ERR_INVALID_HANDLE;
        }
        uint32_t vlen = a->len;
        for (size_t j = 0; j < i; j = prep_next(j)) {
            if (prep_link(j) == link && prep_handle(j) == h) {
                vlen = (uint32_t)prep_offset(j) + prep_len(j);
            }
        }
        if (!a->append && off > vlen) {
            return BH_ATT_ERR_INVALID_OFFSET;
        }
        if (a->kind == K_CCCD && (off != 0 || n != 2)) {
            return BH_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH;
        }
    }
    return 0;
}

static void handle_execute_write(uint16_t conn_handle, const uint8_t *p, size_t len) {
    uint8_t op = p[0];
    if (len != 2 || p[1] > 1) {
        send_error(conn_handle, op, 0, BH_ATT_ERR_INVALID_PDU);
        return;
    }
    srv_link_t *l = link_get(conn_handle);
    if (l == NULL) {
        return;
    }
    size_t link = link_index(l);
    if (p[1] == 1) {
        uint16_t bad = 0;
        uint8_t err = prep_check(link, &bad);
        if (err != 0) {
            prep_drop(link);
            send_error(conn_handle, op, bad, err);
            return;
        }
        // Stored without callbacks in between: the queue cannot change.
        for (size_t i = 0; i < prep.used; i = prep_next(i)) {
            if (prep_link(i) != link) {
                continue;
            }
            uint16_t h = prep_handle(i);
            uint16_t off = prep_offset(i);
            attr_t *a = attr_mut(h);
            // A queued write starting at 0 replaces the value; later ones
            // extend it.
            if (a != NULL && !a->append && off < a->len && stores_value(a)) {
                a->len = off;
            }
            bool app = false;
            (void)write_store(conn_handle, h, off, prep.buf + i + PREP_HDR, prep_len(i), &app);
            if (app) {
                a->exec_written = true;
            }
        }
    }
    prep_drop(link);
    uint8_t rsp = BH_ATT_EXECUTE_WRITE_RSP;
    (void)bh_att_send(conn_handle, &rsp, 1);
    // One event per attribute written, however many there were.
    for (uint16_t h = BH_GATTS_FIRST_USER_HANDLE; h <= db.n_attrs; h++) {
        attr_t *a = attr_mut(h);
        if (a->exec_written) {
            a->exec_written = false;
            bh_evt_gatts_write(conn_handle, h);
        }
    }
}

static void handle_confirmation(uint16_t conn_handle) {
    srv_link_t *l = link_find(conn_handle);
    if (l == NULL || !l->ind_pending) {
        return;
    }
    l->ind_pending = false;
    // Our own Service Changed indication is no business of the application.
    if (l->ind_handle != SC_VALUE_HANDLE) {
        bh_evt_gatts_indicate_done(conn_handle, l->ind_handle, BH_GATTS_IND_OK);
    }
}

// Indicate Service Changed (the range after the fixed services) to every
// subscribed link whose turn it is; the others get it from bh_gatts_poll().
static void send_service_changed(void) {
    uint8_t range[4];
    bh_put_u16(range, BH_GATTS_FIRST_USER_HANDLE);
    bh_put_u16(range + 2, 0xffff);
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        srv_link_t *l = &srv_links[i];
        if (!l->used || !l->sc_pending || l->ind_pending) {
            continue;
        }
        if (!(sc_cccd[i] & CCCD_INDICATE)) {
            l->sc_pending = false;
            continue;
        }
        if (bh_gatts_indicate(l->handle, SC_VALUE_HANDLE, range, sizeof(range)) == 0) {
            l->sc_pending = false;
        }
    }
}

void bh_gatts_db_changed(void) {
    for (size_t i = 0; i < BH_MAX_CONNECTIONS; i++) {
        srv_links[i].sc_pending = srv_links[i].used;
    }
    send_service_changed();
}

void bh_gatts_on_pdu(uint16_t conn_handle, const uint8_t *pdu, size_t len) {
    db_ensure();
    uint16_t mtu = bh_att_get_mtu(conn_handle);
    if (len == 0 || mtu == 0 || link_get(conn_handle) == NULL) {
        return;
    }
    if (len > mtu && pdu[0] != BH_ATT_HANDLE_VALUE_CFM) {
        // Longer than the MTU in use: not a valid PDU.
        if (!(pdu[0] & BH_ATT_OP_COMMAND_FLAG)) {
            send_error(conn_handle, pdu[0], 0, BH_ATT_ERR_INVALID_PDU);
        }
        return;
    }
    switch (pdu[0]) {
        case BH_ATT_EXCHANGE_MTU_REQ:
            handle_exchange_mtu(conn_handle, pdu, len);
            break;
        case BH_ATT_FIND_INFORMATION_REQ:
            handle_find_information(conn_handle, pdu, len, mtu);
            break;
        case BH_ATT_FIND_BY_TYPE_VALUE_REQ:
            handle_find_by_type_value(conn_handle, pdu, len, mtu);
            break;
        case BH_ATT_READ_BY_TYPE_REQ:
            handle_read_by_type(conn_handle, pdu, len);
            break;
        case BH_ATT_READ_REQ:
        case BH_ATT_READ_BLOB_REQ:
            handle_read(conn_handle, pdu, len);
            break;
        case BH_ATT_READ_MULTIPLE_REQ:
            handle_read_multiple(conn_handle, pdu, len);
            break;
        case BH_ATT_READ_BY_GROUP_TYPE_REQ:
            handle_read_by_group_type(conn_handle, pdu, len, mtu);
            break;
        case BH_ATT_WRITE_REQ:
        case BH_ATT_WRITE_CMD:
            handle_write(conn_handle, pdu, len);
            break;
        case BH_ATT_PREPARE_WRITE_REQ:
            handle_prepare_write(conn_handle, pdu, len);
            break;
        case BH_ATT_EXECUTE_WRITE_REQ:
            handle_execute_write(conn_handle, pdu, len);
            break;
        case BH_ATT_HANDLE_VALUE_CFM:
            handle_confirmation(conn_handle);
            break;
        default:
            // Unknown requests are answered; unknown commands (and signed
            // writes: no signing keys) are ignored.
            if (!(pdu[0] & BH_ATT_OP_COMMAND_FLAG)) {
                send_error(conn_handle, pdu[0], 0, BH_ATT_ERR_REQUEST_NOT_SUPPORTED);
            }
            break;
    }
}
