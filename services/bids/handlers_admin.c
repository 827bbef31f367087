/*
 * The auctions scheduler's side (OpenLot, CloseLot) and the bid log reader
 * (ListBids). OpenLot turns the auction's rules into engine rules and
 * refuses inconsistent ones before any shard sees them; ListBids reads the
 * committed log straight from PostgreSQL, with receipts for verifying the
 * hash chain.
 */
#include <stdlib.h>
#include <string.h>

#include "bids.h"

static bool money_in(const Gavel__Common__V1__Money *m, const char *currency)
{
    return m == NULL || strcmp(m->currency, currency) == 0;
}

static int rules_from_request(rpc_call *c, const Gavel__Bids__V1__OpenLotRequest *q,
                              lot_rules *r)
{
    memset(r, 0, sizeof *r);
    if (q->lot_id <= 0 || q->seller_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id and seller_id must be positive");
    if (q->start_price == NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "start_price is required");
    if (!money_in(q->start_price, q->currency) || !money_in(q->reserve_price, q->currency) ||
        !money_in(q->buy_now_price, q->currency))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "every amount must be in the lot's currency %.8s", q->currency);
    if (q->n_increments == 0 || q->n_increments > LOT_MAX_BANDS)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "increments must have 1 to %d bands",
                        LOT_MAX_BANDS);
    r->lot_id = q->lot_id;
    r->seller_id = q->seller_id;
    snprintf(r->currency, sizeof r->currency, "%.3s", q->currency);
    r->start_price = q->start_price->units;
    r->reserve_price = q->reserve_price != NULL ? q->reserve_price->units : 0;
    r->buy_now_price = q->buy_now_price != NULL ? q->buy_now_price->units : 0;
    for (size_t i = 0; i < q->n_increments; i++) {
        const Gavel__Bids__V1__IncrementBand *b = q->increments[i];
        if (b->from_amount == NULL || b->increment == NULL ||
            !money_in(b->from_amount, q->currency) || !money_in(b->increment, q->currency))
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "increments[%zu] needs from_amount and increment in %.8s", i,
                            q->currency);
        r->bands[i] = (lot_band){ b->from_amount->units, b->increment->units };
    }
    r->nbands = (int)q->n_increments;
    r->starts_at_us = q->starts_at_us;
    r->ends_at_us = q->ends_at_us;
    r->soft_close_s = q->soft_close_window_seconds;
    r->max_extensions = q->max_extensions;
    r->venue = q->venue;
    char why[256];
    if (strlen(q->currency) != 3 || lot_rules_check(r, why, sizeof why) != LOT_OK)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s",
                        strlen(q->currency) != 3 ? "currency must be three upper-case letters"
                                                 : why);
    return GRPC_STATUS_OK;
}

/* Is the lot this instance's? The auctions service names the instance it
 * recorded; without a name the legacy rule lot_id % instances decides. */
static int check_owner(rpc_call *c, const Gavel__Bids__V1__OpenLotRequest *q)
{
    if (q->bids_instance[0] != '\0') {
        if (strcmp(q->bids_instance, bids.name) == 0)
            return GRPC_STATUS_OK;
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "lot %lld belongs to bids instance %.64s; this is instance %s",
                        (long long)q->lot_id, q->bids_instance, bids.name);
    }
    size_t owner = rpc_route_index((size_t)bids.instances, q->lot_id);
    if (owner == (size_t)bids.instance)
        return GRPC_STATUS_OK;
    return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                    "lot %lld belongs to bids instance %zu of %lld (lot_id %% %lld); this "
                    "is instance %lld",
                    (long long)q->lot_id, owner, (long long)bids.instances,
                    (long long)bids.instances, (long long)bids.instance);
}

int bids_open_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Bids__V1__OpenLotRequest *q = (const void *)in;
    cmd *m = xcalloc(1, sizeof *m);
    int rc = rules_from_request(c, q, &m->rules);
    if (rc == GRPC_STATUS_OK)
        rc = check_owner(c, q);
    if (rc != GRPC_STATUS_OK) {
        free(m);
        return rc;
    }
    m->kind = CMD_OPEN;
    m->lot_id = q->lot_id;
    return bids_submit_and_finish(c, m, &gavel__bids__v1__open_lot_response__descriptor, out);
}

int bids_close_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Bids__V1__CloseLotRequest *q = (const void *)in;
    if (q->lot_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must be a positive id");
    cmd *m = xcalloc(1, sizeof *m);
    m->kind = CMD_CLOSE;
    m->lot_id = q->lot_id;
    m->cancel = q->cancel;
    m->hammer = q->hammer;
    return bids_submit_and_finish(c, m, &gavel__bids__v1__close_lot_response__descriptor, out);
}

/* Page tokens are "<lot_id>:<seq>" of the last bid shown. */
static bool parse_token(const char *t, int64_t *lot, int64_t *seq)
{
    *lot = *seq = 0;
    if (t[0] == '\0')
        return true;
    char *end = NULL;
    long long l = strtoll(t, &end, 10);
    if (end == t || *end != ':' || l < 0)
        return false;
    const char *p = end + 1;
    long long s = strtoll(p, &end, 10);
    if (end == p || *end != '\0' || s < 0)
        return false;
    *lot = l;
    *seq = s;
    return true;
}

static Gavel__Bids__V1__Bid *row_to_bid(rpc_call *c, const PGresult *r, int i)
{
    lot_bid b = { .lot_id = db_get_i64(r, i, 0), .seq = db_get_i64(r, i, 1),
                  .bid_id = db_get_i64(r, i, 2), .bidder_id = db_get_i64(r, i, 3),
                  .amount = db_get_i64(r, i, 4), .placed_at_us = db_get_i64(r, i, 5),
                  .is_autobid = db_get_bool(r, i, 6),
                  .floor_paddle = (int32_t)db_get_i64(r, i, 10),
                  .media_time_us = db_get_i64(r, i, 11) };
    hex_decode(db_get_str(r, i, 7), b.prev_hash, LOT_HASH_LEN);
    hex_decode(db_get_str(r, i, 8), b.hash, LOT_HASH_LEN);
    return bid_to_proto(rpc_arena(c), &b, db_get_str(r, i, 9));
}

/* One page of bids: a lot's log in seq order (token "<lot>:<seq>"), or a
 * bidder's bids across lots newest first (token "<placed_at_us>:<bid_id>"). */
static PGresult *bids_page(rpc_call *c, db_conn *conn, const Gavel__Bids__V1__ListBidsRequest *q,
                           int64_t ta, int64_t tb, int size, int *rc)
{
    char a[5][24];
    if (q->lot_id > 0) {
        const char *p[] = { db_i64(a[0], q->lot_id), db_i64(a[1], q->bidder_id),
                            db_i64(a[2], ta), db_i64(a[3], tb), db_i64(a[4], size + 1) };
        return db_exec(conn, "bids_page", 5, p, rc);
    }
    (void)c;
    const char *p[] = { db_i64(a[0], q->bidder_id), db_i64(a[1], ta == 0 ? INT64_MAX : ta),
                        db_i64(a[2], tb == 0 ? INT64_MAX : tb), db_i64(a[3], size + 1) };
    return db_exec(conn, "bids_page_bidder", 4, p, rc);
}

int bids_list(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Bids__V1__ListBidsRequest *q = (const void *)in;
    int64_t ta = 0, tb = 0;
    int size = q->page != NULL ? q->page->page_size : 0;
    if (q->lot_id < 0 || q->bidder_id < 0 || (q->lot_id == 0 && q->bidder_id == 0))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "give lot_id or bidder_id");
    if (size < 0 || size > 1000)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_size must be 0 to 1000");
    if (!parse_token(q->page != NULL ? q->page->page_token : "", &ta, &tb))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_token is malformed");
    if (q->lot_id == 0 && q->bidder_id != rpc_caller(c)->user_id &&
        !rpc_has_role(c, RPC_ROLE_MODERATOR | RPC_STAFF))
        return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED, "only your own bids across lots");
    size = size == 0 ? 100 : size;
    db_conn *conn = db_pool_get(bids.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE, "database unavailable; retry");
    int rc = 0;
    PGresult *r = bids_page(c, conn, q, ta, tb, size, &rc);
    PGresult *cur = NULL;
    if (r != NULL && PQntuples(r) == 0 && q->lot_id > 0) {
        char l[24];
        const char *p[] = { db_i64(l, q->lot_id) };
        cur = db_exec(conn, "lot_currency", 1, p, &rc);
    }
    db_pool_put(bids.db, conn);
    if (r == NULL)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE, "database unavailable; retry");
    bool missing = cur != NULL && PQntuples(cur) == 0;
    PQclear(cur);
    if (missing) {
        PQclear(r);
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "lot %lld is not known here",
                        (long long)q->lot_id);
    }
    Gavel__Bids__V1__ListBidsResponse *resp =
        (void *)rpc_new(c, &gavel__bids__v1__list_bids_response__descriptor);
    int n = PQntuples(r) > size ? size : PQntuples(r);
    resp->bids = rpc_alloc(c, sizeof *resp->bids * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        resp->bids[resp->n_bids++] = row_to_bid(c, r, i);
    resp->page = (void *)rpc_new(c, &gavel__common__v1__page_response__descriptor);
    if (PQntuples(r) > size)
        resp->page->next_page_token = arena_printf(
            rpc_arena(c), "%lld:%lld",
            (long long)db_get_i64(r, n - 1, q->lot_id > 0 ? 0 : 5),
            (long long)db_get_i64(r, n - 1, q->lot_id > 0 ? 1 : 2));
    resp->server_time_us = now_us();
    PQclear(r);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
