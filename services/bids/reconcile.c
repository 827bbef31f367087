/*
 * Start-up reconciliation of wallet holds. A bid reserves funds before its
 * command becomes durable; if the daemon dies in between, the wallet keeps
 * a hold that no bid refers to. Before serving (so no bid is in flight),
 * every hold the wallet reports as held on our lots and that is neither a
 * bidder's covering hold nor a winning hold is queued for release in
 * hold_releases, and the releaser gives it back.
 */
#include <stdlib.h>
#include <string.h>

#include "bids.h"
#include "gavel/users/v1/users.pb-c.h"

#define CHUNK 1000

typedef struct {
    int64_t *ids;
    size_t n, cap;
} lot_list;

static void collect(lot_entry *e, void *arg)
{
    lot_list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->ids = xrealloc(l->ids, l->cap * sizeof *l->ids);
    }
    l->ids[l->n++] = e->eng.r.lot_id;
}

static bool known_hold(const lot_entry *e, int64_t hold_id)
{
    if (e->winning_hold == hold_id)
        return true;
    for (size_t i = 0; i < e->nholds; i++)
        if (e->holds[i].hold_id == hold_id)
            return true;
    return false;
}

/* Asks the wallet about one chunk of lots; queues orphans. Returns how many
 * were queued, or -1 when the wallet or the database could not answer. */
static int reconcile_chunk(const int64_t *ids, size_t n, const char *token)
{
    Gavel__Users__V1__ListHoldsRequest q = GAVEL__USERS__V1__LIST_HOLDS_REQUEST__INIT;
    q.lot_ids = (int64_t *)ids;
    q.n_lot_ids = n;
    q.state = "held";
    rpc_call_opts o = { .token = token, .deadline_ms = 10000, .idempotent = true };
    ProtobufCMessage *resp = NULL;
    char err[256];
    if (rpc_unary(rpc_channel_get(bids.users_addr), "/gavel.users.v1.Wallet/ListHolds", &q.base,
                  &gavel__users__v1__list_holds_response__descriptor, &resp, &o, err,
                  sizeof err) != GRPC_STATUS_OK) {
        log_warn("hold reconciliation: wallet did not answer: %s", err);
        return -1;
    }
    const Gavel__Users__V1__ListHoldsResponse *r = (const void *)resp;
    db_array a[4];
    for (int i = 0; i < 4; i++)
        db_array_init(&a[i]);
    int orphans = 0;
    for (size_t i = 0; i < r->n_holds; i++) {
        const Gavel__Users__V1__Hold *h = r->holds[i];
        lot_entry *e = worker_find_lot(h->lot_id);
        if (e == NULL || known_hold(e, h->hold_id))
            continue;
        db_array_i64(&a[0], h->hold_id);
        db_array_i64(&a[1], h->lot_id);
        db_array_i64(&a[2], h->user_id);
        db_array_text(&a[3], "orphaned by a restart");
        orphans++;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    int rc = 0;
    db_conn *conn = orphans > 0 ? db_pool_get(bids.db, 5000) : NULL;
    if (conn != NULL) {
        const char *v[] = { db_array_str(&a[0]), db_array_str(&a[1]), db_array_str(&a[2]),
                            db_array_str(&a[3]) };
        PGresult *res = db_exec(conn, "releases_insert", 4, v, &rc);
        PQclear(res);
        db_pool_put(bids.db, conn);
    } else if (orphans > 0) {
        rc = DB_E_TIMEOUT;
    }
    for (int i = 0; i < 4; i++)
        db_array_free(&a[i]);
    return rc == 0 ? orphans : -1;
}

int funds_reconcile(void)
{
    lot_list lots = { 0 };
    workers_each_lot(collect, &lots);
    char *token = rpc_service_token();
    int total = 0;
    bool complete = token != NULL;
    for (size_t i = 0; token != NULL && i < lots.n; i += CHUNK) {
        int n = reconcile_chunk(lots.ids + i, lots.n - i < CHUNK ? lots.n - i : CHUNK, token);
        if (n < 0) {
            complete = false;
            break;
        }
        total += n;
    }
    if (complete)
        log_info("hold reconciliation: %zu lots checked, %d orphaned holds queued for release",
                 lots.n, total);
    else
        log_warn("hold reconciliation incomplete: orphaned holds may stay held until the next "
                 "start");
    free(lots.ids);
    free(token);
    return 0;
}
