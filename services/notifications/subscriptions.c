/*
 * Subscribe, Unsubscribe, ListSubscriptions. A subscription follows one
 * target: a lot (known here from its events), a seller (a registered
 * user), a saved search or a dealer segment. Subscribing twice to the
 * same target returns the one row with its kinds replaced; a user holds
 * at most SUB_MAX. A saved search's filter is parsed here by the same
 * parser and field table as ListLots and the matcher, a segment's name by
 * the matcher's grammar, so nothing stored fails to match later.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "notif.h"

enum { SUB_MAX = 500 };

#define TARGET(x) GAVEL__NOTIFICATIONS__V1__SUBSCRIPTION__TARGET_##x

void notif_kinds_array(db_array *a, size_t n, const int *kinds)
{
    db_array_init(a);
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || kinds[j] == kinds[i];
        if (!dup)
            db_array_i64(a, kinds[i]);
    }
}

int *notif_kinds_read(rpc_call *c, const char *json, size_t *n)
{
    json_t *kinds = json_loads(json, 0, NULL);
    size_t k = json_array_size(kinds);
    int *out = rpc_alloc(c, sizeof *out * (k > 0 ? k : 1));
    for (size_t i = 0; i < k; i++)
        out[i] = (int)json_integer_value(json_array_get(kinds, i));
    json_decref(kinds);
    *n = k;
    return out;
}

int notif_check_kinds(rpc_call *c, const char *field, size_t n, const int *kinds)
{
    if (n > NOTIF_KIND_MAX)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s holds at most %d kinds", field,
                        NOTIF_KIND_MAX);
    for (size_t i = 0; i < n; i++)
        if (!notif_kind_ok(kinds[i]))
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "%s[%zu] must be an EventKind other than UNSPECIFIED (got %d)",
                            field, i, kinds[i]);
    return GRPC_STATUS_OK;
}

/* A label, or predicates the matcher reads (match_segment.c). */
static int check_segment(rpc_call *c, const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789:_-") != n)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "subscription.segment must match [a-z0-9:_-]{1,64}");
    match_segment seg;
    char err[256];
    if (match_segment_parse(s, &seg, err, sizeof err) != MATCH_OK)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "subscription.%s", err);
    return GRPC_STATUS_OK;
}

/* The catalog's DSL filters, read by the parser ListLots uses and the
 * matcher evaluates (match_search_schema: filter elements only). */
static int check_filter(rpc_call *c, const char *text)
{
    if (text[0] == '\0')
        return GRPC_STATUS_OK;
    char err[512];
    dsl_query *q = NULL;
    if (dsl_parse(&match_search_schema, text, strlen(text), now_us(), &q, err, sizeof err) < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "subscription.saved_search.filter_json: %s", err);
    dsl_query_free(q);
    return GRPC_STATUS_OK;
}

/* The row's parameters for sub_upsert, from a checked request. */
typedef struct {
    const char *target, *key, *lot, *seller, *segment, *name, *query, *filter;
    char lot_buf[24], seller_buf[24];
} sub_target;

static int target_of(rpc_call *c, const Gavel__Notifications__V1__Subscription *s,
                     sub_target *t)
{
    *t = (sub_target){ 0 };
    int rc;
    switch (s->target_case) {
    case TARGET(LOT_ID):
        if (s->lot_id <= 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "subscription.lot_id must be positive");
        t->target = "lot";
        t->lot = db_i64(t->lot_buf, s->lot_id);
        t->key = arena_printf(rpc_arena(c), "lot:%lld", (long long)s->lot_id);
        return GRPC_STATUS_OK;
    case TARGET(SELLER_ID):
        if (s->seller_id <= 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "subscription.seller_id must be positive");
        t->target = "seller";
        t->seller = db_i64(t->seller_buf, s->seller_id);
        t->key = arena_printf(rpc_arena(c), "seller:%lld", (long long)s->seller_id);
        return GRPC_STATUS_OK;
    case TARGET(SEGMENT):
        if (!rpc_has_role(c, RPC_ROLE_MODERATOR | RPC_STAFF))
            return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED,
                            "only moderators, admins and services place dealers in segments");
        if ((rc = check_segment(c, s->segment)) != 0)
            return rc;
        t->target = "segment";
        t->segment = s->segment;
        t->key = arena_printf(rpc_arena(c), "segment:%s", s->segment);
        return GRPC_STATUS_OK;
    case TARGET(SAVED_SEARCH): {
        const Gavel__Notifications__V1__SavedSearch *q = s->saved_search;
        if ((rc = check_text(c, "subscription.saved_search.name", q->name, 1, 100)) != 0 ||
            (rc = check_text(c, "subscription.saved_search.query", q->query, 0, 200)) != 0 ||
            (rc = check_filter(c, q->filter_json)) != 0)
            return rc;
        t->target = "search";
        t->name = q->name;
        t->query = q->query;
        t->filter = q->filter_json;
        t->key = arena_printf(rpc_arena(c), "search:%s", q->name);
        return GRPC_STATUS_OK;
    }
    default:
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "subscription needs a target: lot_id, saved_search, seller_id or "
                        "segment");
    }
}

/* NOT_FOUND unless the lot or seller is known; GRPC_STATUS_OK otherwise. */
static int target_exists(rpc_call *c, db_conn *conn, const sub_target *t)
{
    if (t->lot == NULL && t->seller == NULL)
        return GRPC_STATUS_OK;
    const char *p[] = { t->lot != NULL ? t->lot : t->seller };
    int rc = 0;
    PGresult *r = db_exec(conn, t->lot != NULL ? "lot_get" : "account_exists", 1, p, &rc);
    if (r == NULL)
        return check_fail_db(c, rc);
    bool found = PQntuples(r) > 0;
    PQclear(r);
    if (!found)
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "%s %s not found",
                        t->lot != NULL ? "lot" : "seller", p[0]);
    return GRPC_STATUS_OK;
}

static Gavel__Notifications__V1__Subscription *sub_from_row(rpc_call *c, const PGresult *r,
                                                            int i)
{
    Gavel__Notifications__V1__Subscription *s =
        (void *)rpc_new(c, &gavel__notifications__v1__subscription__descriptor);
    s->id = db_get_i64(r, i, 0);
    s->user_id = db_get_i64(r, i, 1);
    const char *target = db_get_str(r, i, 2);
    if (strcmp(target, "lot") == 0) {
        s->target_case = TARGET(LOT_ID);
        s->lot_id = db_get_i64(r, i, 3);
    } else if (strcmp(target, "seller") == 0) {
        s->target_case = TARGET(SELLER_ID);
        s->seller_id = db_get_i64(r, i, 4);
    } else if (strcmp(target, "segment") == 0) {
        s->target_case = TARGET(SEGMENT);
        s->segment = rpc_strdup(c, db_get_str(r, i, 5));
    } else {
        s->target_case = TARGET(SAVED_SEARCH);
        Gavel__Notifications__V1__SavedSearch *q =
            (void *)rpc_new(c, &gavel__notifications__v1__saved_search__descriptor);
        q->name = rpc_strdup(c, db_get_str(r, i, 6));
        q->query = rpc_strdup(c, db_get_str(r, i, 7));
        q->filter_json = rpc_strdup(c, db_get_str(r, i, 8));
        s->saved_search = q;
    }
    s->kinds = (void *)notif_kinds_read(c, db_get_str(r, i, 9), &s->n_kinds);
    s->created_at_us = db_get_i64(r, i, 10);
    return s;
}

/* Writes the subscription, then reads it back as ListSubscriptions shows
 * it into *row (the caller's to PQclear). */
static int upsert(rpc_call *c, db_conn *conn, int64_t user, const sub_target *t,
                  const Gavel__Notifications__V1__Subscription *s, PGresult **row)
{
    char uid[24], at[24];
    const char *cp[] = { db_i64(uid, user), t->key };
    int rc = 0;
    PGresult *r = db_exec(conn, "sub_count", 2, cp, &rc);
    if (r == NULL)
        return check_fail_db(c, rc);
    bool full = db_get_i64(r, 0, 0) >= SUB_MAX && !db_get_bool(r, 0, 1);
    PQclear(r);
    if (full)
        return rpc_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
                        "a user holds at most %d subscriptions; unsubscribe from one first",
                        SUB_MAX);
    db_array kinds;
    notif_kinds_array(&kinds, s->n_kinds, (const int *)s->kinds);
    const char *p[] = { uid, t->target, t->key, t->lot, t->seller, t->segment, t->name,
                        t->query, t->filter, db_array_str(&kinds), db_i64(at, now_us()) };
    r = db_exec(conn, "sub_upsert", 11, p, &rc);
    db_array_free(&kinds);
    if (r == NULL)
        return check_fail_db(c, rc);
    PQclear(r);
    *row = db_exec(conn, "sub_get", 2, cp, &rc);
    if (*row == NULL)
        return check_fail_db(c, rc);
    if (PQntuples(*row) != 1) {
        PQclear(*row);
        *row = NULL;
        return rpc_fail(c, GRPC_STATUS_ABORTED, "the subscription changed meanwhile; retry");
    }
    return GRPC_STATUS_OK;
}

int notif_subscribe(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Notifications__V1__SubscribeRequest *req = (const void *)in;
    int64_t user = 0;
    int rc = rpc_resolve_user(c, req->user_id, RPC_STAFF, "notifications", &user);
    if (rc != 0)
        return rc;
    const Gavel__Notifications__V1__Subscription *s = req->subscription;
    if (s == NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "subscription is required");
    sub_target t;
    if ((rc = target_of(c, s, &t)) != 0 ||
        (rc = notif_check_kinds(c, "subscription.kinds", s->n_kinds, (const int *)s->kinds)) != 0)
        return rc;
    db_conn *conn = db_pool_get(notif.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    PGresult *row = NULL;
    if ((rc = target_exists(c, conn, &t)) == 0)
        rc = upsert(c, conn, user, &t, s, &row);
    db_pool_put(notif.db, conn);
    if (rc != 0)
        return rc;
    Gavel__Notifications__V1__SubscribeResponse *resp =
        (void *)rpc_new(c, &gavel__notifications__v1__subscribe_response__descriptor);
    resp->subscription = sub_from_row(c, row, 0);
    PQclear(row);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

int notif_unsubscribe(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Notifications__V1__UnsubscribeRequest *req = (const void *)in;
    if (req->subscription_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "subscription_id must be positive");
    const rpc_principal *me = rpc_caller(c);
    int64_t owner = rpc_has_role(c, RPC_STAFF) ? 0 : me->user_id;
    int rc = notif_delete_owned(c, "sub_delete", req->subscription_id, owner, "subscription");
    if (rc != 0)
        return rc;
    *out = rpc_new(c, &gavel__notifications__v1__unsubscribe_response__descriptor);
    return GRPC_STATUS_OK;
}

int notif_list_subscriptions(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Notifications__V1__ListSubscriptionsRequest *req = (const void *)in;
    int64_t user = 0, after = 0;
    int size = 0;
    int rc = rpc_resolve_user(c, req->user_id, RPC_STAFF, "notifications", &user);
    if (rc != 0 || (rc = notif_page(c, req->page, &size, &after)) != 0)
        return rc;
    db_conn *conn = db_pool_get(notif.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char uid[24], a[24], lim[24];
    const char *p[] = { db_i64(uid, user), db_i64(a, after), db_i64(lim, size + 1) };
    PGresult *r = db_exec(conn, "sub_list", 3, p, &rc);
    db_pool_put(notif.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    Gavel__Notifications__V1__ListSubscriptionsResponse *resp =
        (void *)rpc_new(c, &gavel__notifications__v1__list_subscriptions_response__descriptor);
    int n = PQntuples(r) > size ? size : PQntuples(r);
    resp->subscriptions = rpc_alloc(c, sizeof *resp->subscriptions * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        resp->subscriptions[resp->n_subscriptions++] = sub_from_row(c, r, i);
    resp->page = (void *)rpc_new(c, &gavel__common__v1__page_response__descriptor);
    if (PQntuples(r) > size)
        resp->page->next_page_token =
            arena_printf(rpc_arena(c), "%lld", (long long)db_get_i64(r, n - 1, 0));
    PQclear(r);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
