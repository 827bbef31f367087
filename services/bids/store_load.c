/*
 * Start-up rebuild: every lot comes back exactly as last committed — rules,
 * state, autobids, covering holds, newest bid and idempotency keys — from
 * the lots table and its companions, without replaying the bid log. Also
 * the read paths that need the database: stored answers for repeated keys.
 */
#include <stdlib.h>
#include <string.h>

#include "bids.h"

static PGresult *query(db_conn *conn, const char *sql)
{
    PGresult *r = PQexec(db_pg(conn), sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_error("rebuild query failed: %s", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

static int load_lots(db_conn *conn, int64_t *count)
{
    PGresult *r = query(conn,
        "SELECT lot_id, seller_id, currency, start_price, reserve_price, buy_now_price, bands, "
        "starts_at_us, rules_ends_at_us, soft_close_s, max_extensions, status, price, leader_id, "
        "seq, encode(head_hash, 'hex'), ends_at_us, extensions_used, outcome, closed_at_us, "
        "winning_hold_id, venue, leader_floor_paddle, fair_warning_at_us FROM lots");
    if (r == NULL)
        return DB_E_SQL;
    for (int i = 0; i < PQntuples(r); i++) {
        lot_rules ru;
        memset(&ru, 0, sizeof ru);
        ru.lot_id = db_get_i64(r, i, 0);
        ru.seller_id = db_get_i64(r, i, 1);
        snprintf(ru.currency, sizeof ru.currency, "%s", db_get_str(r, i, 2));
        ru.start_price = db_get_i64(r, i, 3);
        ru.reserve_price = db_get_i64(r, i, 4);
        ru.buy_now_price = db_get_i64(r, i, 5);
        if (bands_parse(db_get_str(r, i, 6), &ru) < 0)
            log_error("lot %lld: bands unreadable", (long long)ru.lot_id);
        ru.starts_at_us = db_get_i64(r, i, 7);
        ru.ends_at_us = db_get_i64(r, i, 8);
        ru.soft_close_s = (int32_t)db_get_i64(r, i, 9);
        ru.max_extensions = (int32_t)db_get_i64(r, i, 10);
        ru.venue = db_get_bool(r, i, 21);
        lot l;
        lot_init(&l, &ru, now_us());
        l.status = (lot_status)db_get_i64(r, i, 11);
        l.price = db_get_i64(r, i, 12);
        l.leader_id = db_get_i64(r, i, 13);
        l.seq = l.bid_count = db_get_i64(r, i, 14);
        if (l.seq > 0 && hex_decode(db_get_str(r, i, 15), l.head_hash, LOT_HASH_LEN) < 0)
            log_error("lot %lld: head hash unreadable", (long long)ru.lot_id);
        l.ends_at_us = db_get_i64(r, i, 16);
        l.extensions_used = (int32_t)db_get_i64(r, i, 17);
        l.outcome = (lot_outcome)db_get_i64(r, i, 18);
        l.closed_at_us = db_get_i64(r, i, 19);
        l.leader_floor_paddle = (int32_t)db_get_i64(r, i, 22);
        l.fair_warning_at_us = db_get_i64(r, i, 23);
        worker_restore_lot(&l, db_get_i64(r, i, 20));
        lot_release(&l);
    }
    *count = PQntuples(r);
    PQclear(r);
    return 0;
}

static int load_companions(db_conn *conn)
{
    PGresult *r = query(conn, "SELECT lot_id, bidder_id, max_amount, set_seq, set_at_us, active, "
                              "status FROM autobids ORDER BY lot_id, set_seq");
    if (r == NULL)
        return DB_E_SQL;
    for (int i = 0; i < PQntuples(r); i++) {
        lot_autobid a = { .bidder_id = db_get_i64(r, i, 1), .max = db_get_i64(r, i, 2),
                          .set_seq = db_get_i64(r, i, 3), .set_at_us = db_get_i64(r, i, 4),
                          .active = db_get_bool(r, i, 5),
                          .status = (lot_autobid_status)db_get_i64(r, i, 6) };
        worker_restore_autobid(db_get_i64(r, i, 0), &a);
    }
    PQclear(r);
    if ((r = query(conn, "SELECT lot_id, bidder_id, hold_id, amount FROM lot_holds")) == NULL)
        return DB_E_SQL;
    for (int i = 0; i < PQntuples(r); i++)
        worker_restore_hold(db_get_i64(r, i, 0), db_get_i64(r, i, 1), db_get_i64(r, i, 2),
                            db_get_i64(r, i, 3));
    PQclear(r);
    r = query(conn, "SELECT b.lot_id, b.seq, b.bid_id, b.bidder_id, b.amount, b.placed_at_us, "
                    "b.is_autobid, encode(b.prev_hash, 'hex'), encode(b.hash, 'hex'), "
                    "b.floor_paddle, b.media_time_us FROM lots l JOIN bids b ON b.lot_id = l.lot_id AND b.seq = l.seq");
    if (r == NULL)
        return DB_E_SQL;
    for (int i = 0; i < PQntuples(r); i++) {
        lot_bid b = { .lot_id = db_get_i64(r, i, 0), .seq = db_get_i64(r, i, 1),
                      .bid_id = db_get_i64(r, i, 2), .bidder_id = db_get_i64(r, i, 3),
                      .amount = db_get_i64(r, i, 4), .placed_at_us = db_get_i64(r, i, 5),
                      .is_autobid = db_get_bool(r, i, 6),
                      .floor_paddle = (int32_t)db_get_i64(r, i, 9),
                      .media_time_us = db_get_i64(r, i, 10) };
        hex_decode(db_get_str(r, i, 7), b.prev_hash, LOT_HASH_LEN);
        hex_decode(db_get_str(r, i, 8), b.hash, LOT_HASH_LEN);
        worker_restore_last_bid(b.lot_id, &b);
    }
    PQclear(r);
    return 0;
}

static int load_requests(db_conn *conn, int64_t *count)
{
    /* Closed lots keep their keys in the table only (req_forget_durable). */
    PGresult *r = query(conn, "SELECT r.lot_id, r.bidder_id, r.key, r.request_hash "
                              "FROM requests r JOIN lots l ON l.lot_id = r.lot_id "
                              "WHERE l.status <> 3");
    if (r == NULL)
        return DB_E_SQL;
    for (int i = 0; i < PQntuples(r); i++)
        worker_restore_request(db_get_i64(r, i, 0), db_get_i64(r, i, 1), db_get_str(r, i, 2),
                               db_get_str(r, i, 3));
    *count = PQntuples(r);
    PQclear(r);
    return 0;
}

int store_rebuild(void)
{
    int64_t t0 = mono_us(), lots = 0, reqs = 0;
    db_conn *conn = db_pool_get(bids.db, 10000);
    if (conn == NULL)
        return DB_E_TIMEOUT;
    int rc = load_lots(conn, &lots);
    if (rc == 0)
        rc = load_companions(conn);
    if (rc == 0)
        rc = load_requests(conn, &reqs);
    db_pool_put(bids.db, conn);
    if (rc == 0)
        log_info("rebuilt %lld lots and %lld idempotency keys in %.3f s", (long long)lots,
                 (long long)reqs, (double)(mono_us() - t0) / 1e6);
    return rc;
}

int store_load_response(int64_t lot_id, int64_t bidder, const char *key, const char *hash,
                        uint8_t **resp, size_t *len)
{
    db_conn *conn = db_pool_get(bids.db, 2000);
    if (conn == NULL)
        return DB_E_TIMEOUT;
    char l[24], b[24];
    const char *p[] = { db_i64(l, lot_id), db_i64(b, bidder), key };
    int rc = 0;
    PGresult *r = db_exec(conn, "request_get", 3, p, &rc);
    db_pool_put(bids.db, conn);
    if (r == NULL)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return STORED_NONE;
    }
    if (hash != NULL && strcmp(db_get_str(r, 0, 1), hash) != 0) {
        PQclear(r);
        return STORED_OTHER;
    }
    unsigned char *bytes = PQunescapeBytea((const unsigned char *)db_get_str(r, 0, 0), len);
    PQclear(r);
    if (bytes == NULL)
        return DB_E_SQL;
    *resp = xmalloc(*len + 1);
    memcpy(*resp, bytes, *len);
    PQfreemem(bytes);
    return 0;
}
