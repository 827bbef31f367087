/*
 * ListInbox and MarkRead: a user's notifications, newest first, with the
 * unread count across the whole inbox. MarkRead changes only the
 * caller's own unread rows (ids of other inboxes are ignored), so marking
 * twice changes nothing the second time.
 */
#include <stdlib.h>
#include <string.h>

#include "notif.h"

enum { MARK_MAX = 500 };

static Gavel__Notifications__V1__Notification *row_to_notification(rpc_call *c,
                                                                   const PGresult *r, int i,
                                                                   int64_t user)
{
    Gavel__Notifications__V1__Notification *n =
        (void *)rpc_new(c, &gavel__notifications__v1__notification__descriptor);
    n->id = db_get_i64(r, i, 0);
    n->user_id = user;
    n->kind = (Gavel__Notifications__V1__EventKind)db_get_i64(r, i, 1);
    n->title = rpc_strdup(c, db_get_str(r, i, 2));
    n->body = rpc_strdup(c, db_get_str(r, i, 3));
    n->lot_id = db_get_i64(r, i, 4);
    n->link = rpc_strdup(c, db_get_str(r, i, 5));
    n->event_id = rpc_strdup(c, db_get_str(r, i, 6));
    n->subscription_id = db_get_i64(r, i, 7);
    n->created_at_us = db_get_i64(r, i, 8);
    n->read_at_us = db_get_i64(r, i, 9);
    /* "1,2": the channels that confirmed delivery */
    const char *ch = db_get_str(r, i, 10);
    n->delivered_channels = rpc_alloc(c, sizeof *n->delivered_channels * (NOTIF_CH_MAX + 1));
    while (*ch != '\0' && n->n_delivered_channels < NOTIF_CH_MAX) {
        char *end = NULL;
        long v = strtol(ch, &end, 10);
        if (end == ch)
            break;
        n->delivered_channels[n->n_delivered_channels++] = (Gavel__Notifications__V1__Channel)v;
        ch = *end == ',' ? end + 1 : end;
    }
    return n;
}

int notif_list_inbox(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Notifications__V1__ListInboxRequest *req = (const void *)in;
    int64_t user = 0, after = 0;
    int size = 0;
    int rc = rpc_resolve_user(c, req->user_id, RPC_ROLE_ADMIN, "notifications", &user);
    if (rc != 0 || (rc = notif_page(c, req->page, &size, &after)) != 0)
        return rc;
    db_conn *conn = db_pool_get(notif.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char uid[24], a[24], lim[24];
    const char *p[] = { db_i64(uid, user), db_i64(a, after), req->unread_only ? "true" : "false",
                        db_i64(lim, size + 1) };
    PGresult *r = db_exec(conn, "inbox_list", 4, p, &rc);
    PGresult *u = r != NULL ? db_exec(conn, "inbox_unread", 1, p, &rc) : NULL;
    db_pool_put(notif.db, conn);
    if (u == NULL) {
        PQclear(r);
        return check_fail_db(c, rc);
    }
    Gavel__Notifications__V1__ListInboxResponse *resp =
        (void *)rpc_new(c, &gavel__notifications__v1__list_inbox_response__descriptor);
    int n = PQntuples(r) > size ? size : PQntuples(r);
    resp->notifications = rpc_alloc(c, sizeof *resp->notifications * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        resp->notifications[resp->n_notifications++] = row_to_notification(c, r, i, user);
    resp->unread_count = db_get_i64(u, 0, 0);
    resp->page = (void *)rpc_new(c, &gavel__common__v1__page_response__descriptor);
    if (PQntuples(r) > size)
        resp->page->next_page_token =
            arena_printf(rpc_arena(c), "%lld", (long long)db_get_i64(r, n - 1, 0));
    PQclear(r);
    PQclear(u);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

int notif_mark_read(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Notifications__V1__MarkReadRequest *req = (const void *)in;
    int64_t user = 0;
    int rc = rpc_resolve_user(c, req->user_id, 0, "notifications", &user);
    if (rc != 0)
        return rc;
    if (req->n_notification_ids == 0 && req->up_to_id == 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "name notification_ids or up_to_id (or both)");
    if (req->n_notification_ids > MARK_MAX)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "notification_ids holds at most %d ids (got %zu)", MARK_MAX,
                        req->n_notification_ids);
    if (req->up_to_id < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "up_to_id must not be negative");
    db_array ids;
    db_array_init(&ids);
    for (size_t i = 0; i < req->n_notification_ids; i++) {
        if (req->notification_ids[i] <= 0) {
            db_array_free(&ids);
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "notification_ids[%zu] must be positive", i);
        }
        db_array_i64(&ids, req->notification_ids[i]);
    }
    db_conn *conn = db_pool_get(notif.db, rpc_time_left_ms(c));
    if (conn == NULL) {
        db_array_free(&ids);
        return check_fail_db(c, DB_E_TIMEOUT);
    }
    char uid[24], upto[24], at[24];
    const char *p[] = { db_i64(uid, user), db_array_str(&ids), db_i64(upto, req->up_to_id),
                        db_i64(at, now_us()) };
    PGresult *r = db_exec(conn, "inbox_mark", 4, p, &rc);
    db_pool_put(notif.db, conn);
    db_array_free(&ids);
    if (r == NULL)
        return check_fail_db(c, rc);
    Gavel__Notifications__V1__MarkReadResponse *resp =
        (void *)rpc_new(c, &gavel__notifications__v1__mark_read_response__descriptor);
    resp->marked_count = db_get_i64(r, 0, 0);
    resp->unread_count = db_get_i64(r, 0, 1);
    PQclear(r);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
