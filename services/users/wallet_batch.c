/*
 * Many wallet calls in one transaction (ReserveFundsBatch,
 * ReleaseFundsBatch): the runner. Each item is its single call — the same
 * idempotency key space (the caller's own) and request hash, the same
 * checks and answers — but the batch runs a constant number of statements
 * whatever its size:
 *
 *   claim every distinct key (one INSERT, keys in byte order), and in the
 *     same round trip lock the rows any item could need, in a fixed order
 *     (the kind's send_lock; a reservation also takes its new hold ids)
 *   read the answers stored under keys claimed earlier (only if any)
 *   decide every item in C, in item order, against the rows in memory
 *   write the applied items' rows set-based (the kind's write)
 *   add their events to the outbox (one INSERT)
 *   store each new key's answer, give back the keys of refused items,
 *     and COMMIT, all in one more round trip
 *
 * A reservation batch thus costs three round trips (BEGIN, claim+lock,
 * writes+COMMIT) and holds its wallet locks for one of them plus the
 * commit's flush: other batches of the same bidders wait on those locks.
 *
 * Locks are always taken keys → holds → wallets, each set in a fixed
 * order, as the single calls take them, so batches cannot deadlock each
 * other or the single calls; if PostgreSQL still reports a conflict,
 * db_tx reruns the whole body, which starts every attempt afresh.
 * A key's history inside the batch follows the single calls made one after
 * another: once an item is answered, later items with its key replay that
 * answer (same request) or conflict (another request); a refused item
 * leaves its key free, so a later item with that key runs.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "users.h"

/* A distinct idempotency key of the batch. */
struct batch_key {
    const char *key;
    const char *claim_hash;      /* of one of its items; the claim row needs one, and
                                  * finish_keys overwrites or deletes that row */
    /* per attempt */
    bool is_claimed;             /* inserted by this attempt */
    char row[24];                /* then the row's ctid, "(page,item)" */
    const char *stored_hash;     /* answered before the batch: its request */
    ProtobufCMessage *stored;
    batch_item *owner;           /* answered by this item of the batch */
};

batch *batch_new(rpc_call *c, const batch_kind *kind, size_t n)
{
    batch *b = rpc_alloc(c, sizeof *b);
    memset(b, 0, sizeof *b);
    b->c = c;
    b->kind = kind;
    b->n = n;
    b->items = rpc_alloc(c, sizeof *b->items * n);
    memset(b->items, 0, sizeof *b->items * n);
    return b;
}

int batch_fail_item(batch *b, size_t i)
{
    return rpc_fail(b->c, GRPC_STATUS_INVALID_ARGUMENT, "items[%zu].%s", i,
                    rpc_call_message(b->c));
}

void batch_refuse(batch *b, batch_item *it, int code, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    it->code = code;
    it->message = rpc_strdup(b->c, buf);
}

static int item_key_cmp(const void *a, const void *b)
{
    return strcmp((*(batch_item *const *)a)->key, (*(batch_item *const *)b)->key);
}

/* Hashes the items and gathers their distinct keys in byte order. */
static void gather_keys(batch *b)
{
    batch_item **by_key = xmalloc(sizeof *by_key * b->n);
    for (size_t i = 0; i < b->n; i++) {
        idem_request_hash(b->items[i].req, b->items[i].hash);
        by_key[i] = &b->items[i];
    }
    qsort(by_key, b->n, sizeof *by_key, item_key_cmp);
    b->keys = rpc_alloc(b->c, sizeof *b->keys * b->n);
    b->nkeys = 0;
    for (size_t i = 0; i < b->n; i++) {
        batch_item *it = by_key[i];
        if (b->nkeys == 0 || strcmp(b->keys[b->nkeys - 1].key, it->key) != 0)
            b->keys[b->nkeys++] = (batch_key){ .key = it->key, .claim_hash = it->hash };
        it->k = &b->keys[b->nkeys - 1];
    }
    free(by_key);
}

static batch_key *key_find(batch *b, const char *key)
{
    size_t lo = 0, hi = b->nkeys;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(b->keys[mid].key, key);
        if (d == 0)
            return &b->keys[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Sends the claim of every key into the open pipeline; a key another
 * transaction holds is waited for. */
static void send_claims(batch *b, db_conn *conn)
{
    db_array keys, hashes;
    db_array_init(&keys);
    db_array_init(&hashes);
    for (size_t i = 0; i < b->nkeys; i++) {
        db_array_text(&keys, b->keys[i].key);
        db_array_text(&hashes, b->keys[i].claim_hash);
    }
    const char *p[] = { b->kind->method, idem_caller(b->c), db_array_str(&keys),
                        db_array_str(&hashes) };
    db_pipe_send(conn, "idem_claim_many", 4, p);
    db_array_free(&keys);
    db_array_free(&hashes);
}

/* Marks the keys the claim's result r (borrowed) returned as claimed. */
static void read_claims(batch *b, const PGresult *r, size_t *unclaimed)
{
    for (int i = 0; i < PQntuples(r); i++) {
        batch_key *k = key_find(b, db_get_str(r, i, 0));
        if (k == NULL)
            panic("idem_claim_many returned a key the batch does not hold");
        k->is_claimed = true;
        snprintf(k->row, sizeof k->row, "%s", db_get_str(r, i, 1));
    }
    *unclaimed = b->nkeys - (size_t)PQntuples(r);
}

/* One round trip: the claim, then the kind's locks. */
static int claim_and_lock(batch *b, db_conn *conn, size_t *unclaimed)
{
    const char *names[1 + BATCH_LOCK_STMTS] = { "idem_claim_many" };
    int nnames = 1;
    for (int i = 0; i < BATCH_LOCK_STMTS && b->kind->lock_stmts[i] != NULL; i++)
        names[nnames++] = b->kind->lock_stmts[i];
    int rc = db_pipe_begin(conn, names, nnames);
    if (rc != 0)
        return rc;
    send_claims(b, conn);
    int nlock = b->kind->send_lock(b, conn);
    PGresult *res[1 + BATCH_LOCK_STMTS];
    if ((rc = db_pipe_finish_results(conn, res, 1 + nlock)) != 0)
        return rc;
    read_claims(b, res[0], unclaimed);
    rc = b->kind->read_lock(b, conn, res + 1);
    for (int i = 0; i < 1 + nlock; i++)
        PQclear(res[i]);
    return rc;
}

/* Reads the answers stored under the keys this attempt could not claim.
 * They were committed before the claim returned (it waits for their
 * writers), so a missing answer means a broken race: start again. */
static int load_stored(batch *b, db_conn *conn)
{
    db_array keys;
    db_array_init(&keys);
    for (size_t i = 0; i < b->nkeys; i++)
        if (!b->keys[i].is_claimed)
            db_array_text(&keys, b->keys[i].key);
    const char *p[] = { b->kind->method, idem_caller(b->c), db_array_str(&keys) };
    int rc = 0;
    PGresult *r = db_exec(conn, "idem_lookup_many", 3, p, &rc);
    db_array_free(&keys);
    if (r == NULL)
        return rc;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        batch_key *k = key_find(b, db_get_str(r, i, 0));
        if (k == NULL || k->is_claimed || PQgetisnull(r, i, 2)) {
            rc = DB_E_RETRY;
            break;
        }
        size_t len = 0;
        unsigned char *bytes = PQunescapeBytea((const unsigned char *)db_get_str(r, i, 2), &len);
        if (bytes == NULL) {
            rc = DB_E_SQL;
            break;
        }
        k->stored = rpc_unpack(b->c, b->kind->resp_desc, bytes, len);
        PQfreemem(bytes);
        k->stored_hash = rpc_strdup(b->c, db_get_str(r, i, 1));
        if (k->stored == NULL)
            rc = DB_E_SQL;
    }
    PQclear(r);
    for (size_t i = 0; i < b->nkeys && rc == 0; i++)
        if (!b->keys[i].is_claimed && b->keys[i].stored == NULL)
            rc = DB_E_RETRY;
    return rc;
}

/* One item, as the single call would answer it at this point. */
static void decide(batch *b, batch_item *it)
{
    batch_key *k = it->k;
    const char *hash = k->stored != NULL ? k->stored_hash
                       : k->owner != NULL ? k->owner->hash : NULL;
    if (hash != NULL) {
        if (strcmp(hash, it->hash) != 0)
            batch_refuse(b, it, GRPC_STATUS_FAILED_PRECONDITION,
                         "idempotency_key %s was already used for a different request", it->key);
        else
            it->resp = k->stored; /* NULL for an owner: copied once it has its answer */
        return;
    }
    b->kind->apply(b, it);
    if (it->code == GRPC_STATUS_OK) {
        k->owner = it;
        it->is_new = true;
        b->napplied++;
    }
}

static int publish(batch *b, db_conn *conn)
{
    ev_outbox_item *evs = xmalloc(sizeof *evs * b->napplied);
    size_t n = 0;
    char type[32];
    snprintf(type, sizeof type, "wallet.%s", b->items[0].want.kind);
    for (size_t i = 0; i < b->n; i++) {
        batch_item *it = &b->items[i];
        if (!it->is_new)
            continue;
        char agg[24];
        evs[n++] = (ev_outbox_item){
            .topic = WALLET_TOPIC, .type = type,
            .aggregate_id = rpc_strdup(b->c, db_i64(agg, it->ch.user_id)),
            .payload = &wallet_event_new(b->c, &it->ch, it->moved)->base,
        };
    }
    int rc = ev_outbox_pipe_batch(conn, evs, n);
    free(evs);
    return rc;
}

/* Sends (into the open pipeline) the answers of the keys this attempt
 * answered, and gives back the keys it claimed for refused items only. */
static void finish_keys(batch *b, db_conn *conn)
{
    db_array dropped, rows, hashes, resps;
    db_array_init(&dropped);
    db_array_init(&rows);
    db_array_init(&hashes);
    db_array_init(&resps);
    bool any = false;
    for (size_t i = 0; i < b->nkeys; i++) {
        batch_key *k = &b->keys[i];
        if (!k->is_claimed)
            continue;
        any = true;
        if (k->owner == NULL) {
            db_array_text(&dropped, k->row);
            continue;
        }
        size_t n = protobuf_c_message_get_packed_size(k->owner->resp);
        uint8_t *buf = xmalloc(n + 1);
        protobuf_c_message_pack(k->owner->resp, buf);
        db_array_text(&rows, k->row);
        db_array_text(&hashes, k->owner->hash);
        db_array_hex(&resps, buf, n);
        free(buf);
    }
    if (any) {
        const char *p[] = { db_array_str(&dropped), db_array_str(&rows), db_array_str(&hashes),
                            db_array_str(&resps) };
        db_pipe_send(conn, "idem_finish_many", 4, p);
    }
    db_array_free(&dropped);
    db_array_free(&rows);
    db_array_free(&hashes);
    db_array_free(&resps);
}

static void attempt_reset(batch *b)
{
    for (size_t i = 0; i < b->nkeys; i++) {
        batch_key *k = &b->keys[i];
        k->is_claimed = false;
        k->stored_hash = NULL;
        k->stored = NULL;
        k->owner = NULL;
    }
    for (size_t i = 0; i < b->n; i++) {
        batch_item *it = &b->items[i];
        it->ch = it->want;
        it->moved = 0;
        it->code = GRPC_STATUS_OK;
        it->message = NULL;
        it->resp = NULL;
        it->is_new = false;
    }
    b->wallets = NULL;
    b->nwallets = 0;
    b->holds = NULL;
    b->nholds = 0;
    b->hold_ids = NULL;
    b->napplied = 0;
}

static int batch_body(db_conn *conn, void *arg)
{
    batch *b = arg;
    attempt_reset(b);
    size_t unclaimed = 0;
    int rc = claim_and_lock(b, conn, &unclaimed);
    if (rc == 0 && unclaimed > 0)
        rc = load_stored(b, conn);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < b->n; i++)
        decide(b, &b->items[i]);
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].is_new)
            b->items[i].resp = b->kind->answer(b->c, &b->items[i].ch);
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].resp == NULL && b->items[i].code == GRPC_STATUS_OK)
            b->items[i].resp = b->items[i].k->owner->resp;
    if (b->napplied == 0 && unclaimed == b->nkeys)
        return 0; /* only replays: nothing to write */
    /* The writes read nothing back: one round trip for them and COMMIT. */
    const char *stmts[] = { b->kind->write_stmt, "idem_finish_many" };
    if ((rc = ev_outbox_prepare(conn)) < 0 || (rc = db_pipe_begin(conn, stmts, 2)) < 0)
        return rc;
    if (b->napplied > 0) {
        b->kind->write(b, conn);
        rc = publish(b, conn);
    }
    if (rc == 0 && unclaimed < b->nkeys)
        finish_keys(b, conn);
    if (rc == 0)
        db_pipe_send_commit(conn);
    int finished = db_pipe_finish(conn);
    return rc < 0 ? rc : finished;
}

int batch_run(batch *b)
{
    gather_keys(b);
    int rc = db_tx(users.db, DB_READ_COMMITTED, batch_body, b);
    if (rc < 0)
        return check_fail_db(b->c, rc);
    if (b->napplied > 0)
        ev_relay_kick(users.relay);
    return GRPC_STATUS_OK;
}

Gavel__Users__V1__BatchItemStatus *batch_status_new(batch *b, const batch_item *it)
{
    Gavel__Users__V1__BatchItemStatus *s =
        (void *)rpc_new(b->c, &gavel__users__v1__batch_item_status__descriptor);
    s->code = it->code;
    if (it->message != NULL)
        s->message = (char *)it->message;
    return s;
}

/* ---- wallets, shared by both kinds ---- */

static int wallet_cmp(int64_t user_a, const char *cur_a, int64_t user_b, const char *cur_b)
{
    if (user_a != user_b)
        return user_a < user_b ? -1 : 1;
    return strcmp(cur_a, cur_b);
}

static int wallet_sort_cmp(const void *a, const void *b)
{
    const batch_wallet *x = a, *y = b;
    return wallet_cmp(x->user_id, x->currency, y->user_id, y->currency);
}

void batch_read_wallets(batch *b, const PGresult *r)
{
    b->nwallets = (size_t)PQntuples(r);
    b->wallets = rpc_alloc(b->c, sizeof *b->wallets * (b->nwallets + 1));
    for (size_t i = 0; i < b->nwallets; i++) {
        batch_wallet *w = &b->wallets[i];
        w->user_id = db_get_i64(r, (int)i, 0);
        snprintf(w->currency, sizeof w->currency, "%s", db_get_str(r, (int)i, 1));
        w->total = db_get_i64(r, (int)i, 2);
        w->reserved = db_get_i64(r, (int)i, 3);
        w->is_changed = false;
    }
    /* The database orders currencies by its collation; search by bytes. */
    qsort(b->wallets, b->nwallets, sizeof *b->wallets, wallet_sort_cmp);
}

int batch_lock_wallets(batch *b, db_conn *conn, db_array *user_ids, db_array *currencies)
{
    const char *p[] = { db_array_str(user_ids), db_array_str(currencies) };
    int rc = 0;
    PGresult *r = db_exec(conn, "wallets_lock_many", 2, p, &rc);
    if (r == NULL)
        return rc;
    batch_read_wallets(b, r);
    PQclear(r);
    return 0;
}

void batch_send_lock_wallets(db_conn *conn, db_array *user_ids, db_array *currencies)
{
    const char *p[] = { db_array_str(user_ids), db_array_str(currencies) };
    db_pipe_send(conn, "wallets_lock_many", 2, p);
}

batch_wallet *batch_wallet_find(batch *b, int64_t user_id, const char *currency)
{
    size_t lo = 0, hi = b->nwallets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        batch_wallet *w = &b->wallets[mid];
        int d = wallet_cmp(w->user_id, w->currency, user_id, currency);
        if (d == 0)
            return w;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void batch_write_params(batch *b, db_array a[BATCH_WRITE_COLUMNS])
{
    for (int i = 0; i < BATCH_WRITE_COLUMNS; i++)
        db_array_init(&a[i]);
    for (size_t i = 0; i < b->nwallets; i++) {
        const batch_wallet *w = &b->wallets[i];
        if (!w->is_changed)
            continue;
        db_array_i64(&a[0], w->user_id);
        db_array_text(&a[1], w->currency);
        db_array_i64(&a[2], w->reserved);
    }
    for (size_t i = 0; i < b->n; i++) {
        const ledger_change *ch = &b->items[i].ch;
        if (!b->items[i].is_new)
            continue;
        db_array_i64(&a[3], ch->hold_id);
        db_array_i64(&a[4], ch->user_id);
        db_array_text(&a[5], ch->currency);
    }
}
