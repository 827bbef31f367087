/*
 * The page a call asks for (whose data it is about is rpc_resolve_user's),
 * and the delete of one row by id that only its owner (or staff) may do.
 * Pages run newest first; a page token is the id of the last row of the
 * previous page.
 */
#include <stdlib.h>

#include "notif.h"

int notif_page(rpc_call *c, const Gavel__Common__V1__PageRequest *p, int *size,
               int64_t *after_id)
{
    int n = p != NULL ? p->page_size : 0;
    const char *tok = p != NULL ? p->page_token : "";
    if (n < 0 || n > 200)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_size must be 0 to 200");
    *size = n == 0 ? 50 : n;
    *after_id = INT64_MAX;
    if (tok[0] == '\0')
        return GRPC_STATUS_OK;
    char *end = NULL;
    long long v = strtoll(tok, &end, 10);
    if (end == tok || *end != '\0' || v <= 0 || tok[0] == '+' || tok[0] == ' ')
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_token is malformed");
    *after_id = v;
    return GRPC_STATUS_OK;
}

int notif_delete_owned(rpc_call *c, const char *stmt, int64_t id, int64_t owner,
                       const char *what)
{
    db_conn *conn = db_pool_get(notif.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char i[24], uid[24];
    const char *p[] = { db_i64(i, id), db_i64(uid, owner) };
    int rc = 0;
    PGresult *r = db_exec(conn, stmt, 2, p, &rc);
    db_pool_put(notif.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    bool gone = PQntuples(r) > 0;
    PQclear(r);
    if (!gone)
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "%s %lld not found", what, (long long)id);
    return GRPC_STATUS_OK;
}
