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

batch *batch_new(rpc_call *c, const batch_kind *kind, size_t n)
{
    batch *b = rpc_alloc(c, sizeof *b);
    memset(b, 0, sizeof *b);
    b->c = c;
    b->kind = kind;
    b->n = n;
    b->items = rpc_alloc(c, sizeof *b->items * n);
    memset(b->items, 0, sizeof *b->items * n);
    b->keys = idem_batch_new(c, kind->method, kind->resp_desc, n);
    return b;
}

void batch_set_item(batch *b, size_t i, const char *key, const ProtobufCMessage *req,
                    const ledger_change *want)
{
    b->items[i] = (batch_item){ .key = key, .want = *want };
    idem_batch_set(b->keys, i, key, req);
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

/* One round trip: the key claim, then the kind's locks. Returns how many
 * keys were claimed before (their answers to load) through *earlier. */
static int claim_and_lock(batch *b, db_conn *conn, size_t *earlier)
{
    const char *names[BATCH_LOCK_STMTS];
    int nnames = 0;
    for (int i = 0; i < BATCH_LOCK_STMTS && b->kind->lock_stmts[i] != NULL; i++)
        names[nnames++] = b->kind->lock_stmts[i];
    int rc = idem_batch_prepare(conn);
    if (rc < 0 || (rc = db_pipe_begin(conn, names, nnames)) != 0)
        return rc;
    idem_batch_send_claim(b->keys, conn);
    int nlock = b->kind->send_lock(b, conn);
    PGresult *res[1 + BATCH_LOCK_STMTS];
    if ((rc = db_pipe_finish_results(conn, res, 1 + nlock)) != 0)
        return rc;
    *earlier = idem_batch_read_claim(b->keys, res[0]);
    rc = b->kind->read_lock(b, conn, res + 1);
    for (int i = 0; i < 1 + nlock; i++)
        PQclear(res[i]);
    return rc;
}

/* Item i, as the single call would answer it at this point. */
static void decide(batch *b, size_t i)
{
    batch_item *it = &b->items[i];
    idem_state st = idem_batch_check(b->keys, i);
    if (st == IDEM_CONFLICT) {
        batch_refuse(b, it, GRPC_STATUS_FAILED_PRECONDITION,
                     "idempotency_key %s was already used for a different request", it->key);
        return;
    }
    if (st == IDEM_REPLAY)
        return; /* its answer may not be built yet: idem_batch_replay, once it is */
    b->kind->apply(b, it);
    if (it->code == GRPC_STATUS_OK) {
        idem_batch_take(b->keys, i);
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

static void attempt_reset(batch *b)
{
    idem_batch_attempt(b->keys);
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
    size_t earlier = 0;
    int rc = claim_and_lock(b, conn, &earlier);
    if (rc == 0 && earlier > 0)
        rc = idem_batch_load(b->keys, conn);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < b->n; i++)
        decide(b, i);
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].is_new) {
            b->items[i].resp = b->kind->answer(b->c, &b->items[i].ch);
            idem_batch_answer(b->keys, i, b->items[i].resp);
        }
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].resp == NULL && b->items[i].code == GRPC_STATUS_OK)
            b->items[i].resp = idem_batch_replay(b->keys, i);
    if (!idem_batch_has_claims(b->keys))
        return 0; /* only replays: nothing to write */
    /* The writes read nothing back: one round trip for them and COMMIT. */
    const char *stmts[] = { b->kind->write_stmt };
    if ((rc = ev_outbox_prepare(conn)) < 0 || (rc = db_pipe_begin(conn, stmts, 1)) < 0)
        return rc;
    if (b->napplied > 0) {
        b->kind->write(b, conn);
        rc = publish(b, conn);
    }
    if (rc == 0) {
        idem_batch_send_finish(b->keys, conn);
        db_pipe_send_commit(conn);
    }
    int finished = db_pipe_finish(conn);
    return rc < 0 ? rc : finished;
}

int batch_run(batch *b)
{
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
