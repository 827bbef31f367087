/*
 * ListLots, the catalog: the filter DSL (libs/dsl, over dsl_catalog_schema of
 * libs/dsl/dsl_catalog.c) becomes one parameterised statement behind the
 * caller's visibility. Moderators, admins and services
 * see every lot; anyone else the scheduled, live and closed ones plus their
 * own in any state, as GetLot decides. The reserve amount follows
 * lot_sees_reserve per row. One row beyond the page is fetched to learn
 * whether another page exists; its cursor comes from the page's last row.
 */
#include <stdio.h>
#include <string.h>

#include "auctions.h"

/* The lot, then its seller for the reserve's visibility; the DSL appends
 * the order keys after these. */
static const char select_list[] = LOT_COLUMNS ", l.seller_id";

/* $1 is the caller's user id. */
static const char visible_to_caller[] =
    "l.state IN ('scheduled', 'live', 'closed') OR l.seller_id = $1::bigint";

static void query_free(void *q)
{
    dsl_query_free(q);
}

static void result_free(void *r)
{
    PQclear(r);
}

/* Bytes a field of this kind takes in a protobuf-c message struct. */
static size_t field_size(const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return sizeof(void *);
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4; /* 32-bit integers, float, enum, protobuf_c_boolean */
    }
}

/* Resets every Lot field the query did not ask for to its default; the
 * catalog's field table names each Lot field exactly once. */
static void keep_requested(Gavel__Auctions__V1__Lot *lot, const dsl_query *q)
{
    static const Gavel__Auctions__V1__Lot blank = GAVEL__AUCTIONS__V1__LOT__INIT;
    const dsl_field *fields = dsl_catalog_schema.fields;
    for (int i = 0; fields[i].name != NULL; i++) {
        if (dsl_returns(q, i))
            continue;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
            &gavel__auctions__v1__lot__descriptor, fields[i].reply_field);
        if (f == NULL)
            panic("catalog: DSL field %s names no Lot field", fields[i].name);
        memcpy((char *)lot + f->offset, (const char *)&blank + f->offset, field_size(f));
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            memcpy((char *)lot + f->quantifier_offset,
                   (const char *)&blank + f->quantifier_offset, sizeof(size_t));
    }
}

/* Runs the statement: GRPC_STATUS_OK with *out its rows (cleared with the
 * call), or the failure recorded on the call. */
static int run(rpc_call *c, const dsl_sql *s, PGresult **out)
{
    db_conn *conn = db_pool_get(auctions.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    PGconn *pg = db_pg(conn);
    /* A filter no index serves (like '%x%' on descriptions) must not
     * outlive the caller: the statement gets what is left of the deadline. */
    char limit[64];
    snprintf(limit, sizeof limit, "SET statement_timeout = %d", rpc_time_left_ms(c) + 1);
    PGresult *r = NULL;
    int rc = db_command(conn, limit);
    if (rc == 0) {
        r = PQexecParams(pg, s->sql, s->nparams, NULL, s->params, NULL, NULL, 0);
        rc = r == NULL ? DB_E_CONN : db_classify(r, pg);
        int reset = db_command(conn, "RESET statement_timeout");
        if (rc == 0)
            rc = reset;
    }
    if (rc == 0 && PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = DB_E_SQL;
    if (rc < 0)
        log_error("ListLots: query failed (%s): %s", db_strerror(rc),
                  r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    db_pool_put(auctions.db, conn);
    if (rc < 0) {
        PQclear(r);
        return check_fail_db(c, rc);
    }
    arena_on_free(rpc_arena(c), result_free, r);
    *out = r;
    return GRPC_STATUS_OK;
}

static int list_lots(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__ListLotsRequest *req = (const void *)in;
    const rpc_principal *me = rpc_caller(c);
    char err[256], uid[24];
    dsl_query *q = NULL;
    if (dsl_parse(&dsl_catalog_schema, req->filter_json, strlen(req->filter_json), now_us(), &q,
                  err, sizeof err) < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
    arena_on_free(rpc_arena(c), query_free, q);

    const char *vis_params[] = { db_i64(uid, me->user_id) };
    bool sees_all = lot_sees_all(me);
    dsl_sql s;
    dsl_build_sql(q, select_list, sees_all ? NULL : visible_to_caller, sees_all ? 0 : 1, vis_params,
                  &s);
    PGresult *r = NULL;
    int rc = run(c, &s, &r);
    if (rc != GRPC_STATUS_OK)
        return rc;

    int limit = dsl_limit(q), n = PQntuples(r), rows = n > limit ? limit : n;
    Gavel__Auctions__V1__ListLotsResponse *resp =
        (void *)rpc_new(c, &gavel__auctions__v1__list_lots_response__descriptor);
    resp->n_lots = (size_t)rows;
    resp->lots = rpc_alloc(c, (size_t)rows * sizeof *resp->lots);
    for (int i = 0; i < rows; i++) {
        int64_t seller = db_get_i64(r, i, LOT_NCOLS);
        resp->lots[i] = lot_from_row(rpc_arena(c), r, i, 0, lot_sees_reserve(me, seller));
        keep_requested(resp->lots[i], q);
    }
    if (n > limit) {
        const char **keys = rpc_alloc(c, (size_t)s.nkeys * sizeof *keys);
        for (int k = 0; k < s.nkeys; k++)
            keys[k] = db_get_str(r, rows - 1, LOT_NCOLS + 1 + k);
        const char *cursor = dsl_cursor_encode(q, keys);
        if (cursor == NULL)
            return rpc_fail(c, GRPC_STATUS_INTERNAL,
                            "cannot continue the listing after lot %s (order key too long)",
                            db_get_str(r, rows - 1, LOT_NCOLS + s.nkeys));
        resp->next_cursor = rpc_strdup(c, cursor);
    }
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

const rpc_method catalog_methods[] = {
    { "/gavel.auctions.v1.Auctions/ListLots", &gavel__auctions__v1__list_lots_request__descriptor,
      &gavel__auctions__v1__list_lots_response__descriptor, list_lots, RPC_ANY_USER,
      RPC_IDEMPOTENT, 0, RPC_CLASS_NORMAL, 0 },
    { 0 },
};
