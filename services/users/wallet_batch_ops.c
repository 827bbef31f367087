/*
 * ReserveFundsBatch and ReleaseFundsBatch: what each kind of batch checks,
 * locks, decides and writes; wallet_batch.c runs them. An item is decided
 * in C against the rows locked for the whole batch, so balances after each
 * item follow from the ones before it, and the wallet CHECK constraints
 * (0 ≤ reserved ≤ total) hold because the same rules as the single calls'
 * conditional UPDATEs are applied in memory first. Then one statement
 * writes every applied item: the wallets' final reserved amounts, the
 * holds, the ledger transactions and their balanced entries, exactly the
 * rows ledger.c writes for one call.
 */
#include <stdlib.h>
#include <string.h>

#include "users.h"

/* ---- ReserveFundsBatch ---- */

/* Locks every item's wallet and takes a new hold id for every item: those
 * refused or replayed leave gaps in the ids, as rolled-back reservations
 * always have. */
static int reserve_send_lock(batch *b, db_conn *conn)
{
    db_array user_ids, currencies;
    db_array_init(&user_ids);
    db_array_init(&currencies);
    for (size_t i = 0; i < b->n; i++) {
        db_array_i64(&user_ids, b->items[i].want.user_id);
        db_array_text(&currencies, b->items[i].want.currency);
    }
    batch_send_lock_wallets(conn, &user_ids, &currencies);
    db_array_free(&user_ids);
    db_array_free(&currencies);
    char n[24];
    const char *p[] = { db_i64(n, (int64_t)b->n) };
    db_pipe_send(conn, "hold_ids_next", 1, p);
    return 2;
}

static int reserve_read_lock(batch *b, db_conn *conn, PGresult *const *res)
{
    (void)conn;
    batch_read_wallets(b, res[0]);
    if ((size_t)PQntuples(res[1]) != b->n)
        return DB_E_SQL;
    b->hold_ids = rpc_alloc(b->c, sizeof *b->hold_ids * b->n);
    for (size_t i = 0; i < b->n; i++)
        b->hold_ids[i] = db_get_i64(res[1], (int)i, 0);
    return 0;
}

/* As apply_reserve's conditional UPDATE; no wallet reads as nothing
 * available, as refuse_reserve answers it. */
static void reserve_apply(batch *b, batch_item *it)
{
    ledger_change *ch = &it->ch;
    batch_wallet *w = batch_wallet_find(b, ch->user_id, ch->currency);
    int64_t available = w != NULL ? w->total - w->reserved : 0;
    if (w == NULL || available < ch->amount) {
        batch_refuse(b, it, GRPC_STATUS_RESOURCE_EXHAUSTED,
                     "insufficient funds: available %lld %s, requested %lld",
                     (long long)available, ch->currency, (long long)ch->amount);
        return;
    }
    w->reserved += ch->amount;
    w->is_changed = true;
    ch->hold_id = b->hold_ids[b->napplied]; /* applied items take them in order */
    ch->total = w->total;
    ch->reserved = w->reserved;
    it->moved = ch->amount;
}

static void reserve_write(batch *b, db_conn *conn)
{
    db_array a[BATCH_WRITE_COLUMNS + 2];
    batch_write_params(b, a);
    db_array_init(&a[6]);
    db_array_init(&a[7]);
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].is_new) {
            db_array_i64(&a[6], b->items[i].ch.lot_id);
            db_array_i64(&a[7], b->items[i].ch.amount);
        }
    db_pipe_send_arrays(conn, "reserve_write_many", a, 8);
}

static const batch_kind reserve_kind = {
    .method = "ReserveFunds",
    .resp_desc = &gavel__users__v1__reserve_funds_response__descriptor,
    .send_lock = reserve_send_lock,
    .lock_stmts = { "wallets_lock_many", "hold_ids_next" },
    .read_lock = reserve_read_lock,
    .apply = reserve_apply,
    .write = reserve_write,
    .write_stmt = "reserve_write_many",
    .answer = wallet_reserve_answer,
};

/* The checks of wallet_reserve, except that user_id is required: a batch
 * acts for other users, never for "me". */
static int reserve_item_check(batch *b, size_t i,
                              const Gavel__Users__V1__ReserveFundsRequest *req)
{
    rpc_call *c = b->c;
    char field[48];
    const char *cur = NULL;
    snprintf(field, sizeof field, "items[%zu].amount", i);
    if (check_idempotency_key(c, req->idempotency_key) != 0)
        return batch_fail_item(b, i);
    if (wallet_check_amount(c, field, req->amount, &cur) != 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    if (req->lot_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "items[%zu].lot_id must be a positive id",
                        i);
    if (req->user_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "items[%zu].user_id must be a positive id", i);
    const ledger_change want = { .kind = "reserve", .user_id = req->user_id, .currency = cur,
                                 .amount = req->amount->units, .lot_id = req->lot_id };
    batch_set_item(b, i, req->idempotency_key, &req->base, &want);
    return GRPC_STATUS_OK;
}

static int items_count_check(rpc_call *c, size_t n)
{
    if (n == 0 || n > BATCH_MAX_ITEMS)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "items must hold 1 to %d calls (got %zu)",
                        BATCH_MAX_ITEMS, n);
    return GRPC_STATUS_OK;
}

int wallet_reserve_batch(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__ReserveFundsBatchRequest *req = (const void *)in;
    int rc = items_count_check(c, req->n_items);
    if (rc != 0)
        return rc;
    batch *b = batch_new(c, &reserve_kind, req->n_items);
    for (size_t i = 0; i < b->n; i++)
        if ((rc = reserve_item_check(b, i, req->items[i])) != 0)
            return rc;
    if ((rc = batch_run(b)) != 0)
        return rc;
    Gavel__Users__V1__ReserveFundsBatchResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__reserve_funds_batch_response__descriptor);
    resp->results = rpc_alloc(c, sizeof *resp->results * b->n);
    for (size_t i = 0; i < b->n; i++) {
        Gavel__Users__V1__ReserveFundsBatchResult *r =
            (void *)rpc_new(c, &gavel__users__v1__reserve_funds_batch_result__descriptor);
        r->status = batch_status_new(b, &b->items[i]);
        if (b->items[i].code == GRPC_STATUS_OK)
            r->response = (void *)b->items[i].resp;
        resp->results[resp->n_results++] = r;
    }
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

/* ---- ReleaseFundsBatch ---- */

static int hold_cmp(const void *a, const void *b)
{
    int64_t x = ((const batch_hold *)a)->id, y = ((const batch_hold *)b)->id;
    return x < y ? -1 : x > y;
}

static batch_hold *hold_find(batch *b, int64_t id)
{
    batch_hold key = { .id = id };
    return b->nholds == 0 ? NULL : bsearch(&key, b->holds, b->nholds, sizeof key, hold_cmp);
}

/* Locks every item's hold by id; then (read_lock) the wallets of those
 * still held. */
static int release_send_lock(batch *b, db_conn *conn)
{
    db_array ids;
    db_array_init(&ids);
    for (size_t i = 0; i < b->n; i++)
        db_array_i64(&ids, b->items[i].want.hold_id);
    const char *p[] = { db_array_str(&ids) };
    db_pipe_send(conn, "holds_lock_many", 1, p);
    db_array_free(&ids);
    return 1;
}

static int release_read_lock(batch *b, db_conn *conn, PGresult *const *res)
{
    const PGresult *r = res[0];
    b->nholds = (size_t)PQntuples(r);
    b->holds = rpc_alloc(b->c, sizeof *b->holds * (b->nholds + 1));
    db_array user_ids, currencies;
    db_array_init(&user_ids);
    db_array_init(&currencies);
    for (size_t i = 0; i < b->nholds; i++) {
        batch_hold *h = &b->holds[i];
        int row = (int)i;
        h->id = db_get_i64(r, row, 0);
        h->user_id = db_get_i64(r, row, 1);
        snprintf(h->currency, sizeof h->currency, "%s", db_get_str(r, row, 2));
        h->lot_id = db_get_i64(r, row, 3);
        h->amount = db_get_i64(r, row, 4);
        snprintf(h->state, sizeof h->state, "%s", db_get_str(r, row, 5));
        if (strcmp(h->state, "held") == 0) {
            db_array_i64(&user_ids, h->user_id);
            db_array_text(&currencies, h->currency);
        }
    }
    int rc = batch_lock_wallets(b, conn, &user_ids, &currencies);
    db_array_free(&user_ids);
    db_array_free(&currencies);
    return rc;
}

/* As lock_hold and apply_release. */
static void release_apply(batch *b, batch_item *it)
{
    ledger_change *ch = &it->ch;
    batch_hold *h = hold_find(b, ch->hold_id);
    if (h == NULL) {
        batch_refuse(b, it, GRPC_STATUS_NOT_FOUND, "hold %lld not found", (long long)ch->hold_id);
        return;
    }
    if (strcmp(h->state, "held") != 0) {
        batch_refuse(b, it, GRPC_STATUS_FAILED_PRECONDITION, "hold %lld is already %s",
                     (long long)h->id, h->state);
        return;
    }
    batch_wallet *w = batch_wallet_find(b, h->user_id, h->currency);
    if (w == NULL || w->reserved < h->amount)
        panic("wallet of user %lld reserves less than its hold %lld", (long long)h->user_id,
              (long long)h->id);
    w->reserved -= h->amount;
    w->is_changed = true;
    snprintf(h->state, sizeof h->state, "released");
    ch->user_id = h->user_id;
    ch->currency = rpc_strdup(b->c, h->currency);
    ch->lot_id = h->lot_id;
    ch->amount = 0;
    ch->released = h->amount;
    ch->total = w->total;
    ch->reserved = w->reserved;
    it->moved = h->amount;
}

static void release_write(batch *b, db_conn *conn)
{
    db_array a[BATCH_WRITE_COLUMNS + 1];
    batch_write_params(b, a);
    db_array_init(&a[6]);
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].is_new)
            db_array_i64(&a[6], b->items[i].ch.released);
    db_pipe_send_arrays(conn, "release_write_many", a, 7);
}

static const batch_kind release_kind = {
    .method = "ReleaseFunds",
    .resp_desc = &gavel__users__v1__release_funds_response__descriptor,
    .send_lock = release_send_lock,
    .lock_stmts = { "holds_lock_many" },
    .read_lock = release_read_lock,
    .apply = release_apply,
    .write = release_write,
    .write_stmt = "release_write_many",
    .answer = wallet_release_answer,
};

int wallet_release_batch(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__ReleaseFundsBatchRequest *req = (const void *)in;
    int rc = items_count_check(c, req->n_items);
    if (rc != 0)
        return rc;
    batch *b = batch_new(c, &release_kind, req->n_items);
    for (size_t i = 0; i < b->n; i++) {
        const Gavel__Users__V1__ReleaseFundsRequest *item = req->items[i];
        if (check_idempotency_key(c, item->idempotency_key) != 0)
            return batch_fail_item(b, i);
        if (item->hold_id <= 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "items[%zu].hold_id must be a positive id", i);
        const ledger_change want = { .kind = "release", .hold_id = item->hold_id };
        batch_set_item(b, i, item->idempotency_key, &item->base, &want);
    }
    if ((rc = batch_run(b)) != 0)
        return rc;
    Gavel__Users__V1__ReleaseFundsBatchResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__release_funds_batch_response__descriptor);
    resp->results = rpc_alloc(c, sizeof *resp->results * b->n);
    for (size_t i = 0; i < b->n; i++) {
        Gavel__Users__V1__ReleaseFundsBatchResult *r =
            (void *)rpc_new(c, &gavel__users__v1__release_funds_batch_result__descriptor);
        r->status = batch_status_new(b, &b->items[i]);
        if (b->items[i].code == GRPC_STATUS_OK)
            r->response = (void *)b->items[i].resp;
        resp->results[resp->n_results++] = r;
    }
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
