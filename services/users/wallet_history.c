/*
 * Wallet.ListLedger: a user's wallet history, newest first, read from the
 * double-entry ledger. Each transaction is shown as what it did to the
 * user's two accounts (available, held), so a deposit, a hold for a bid, its
 * release and a capture read as the dealer thinks of them. Page tokens are
 * the id of the last transaction shown.
 */
#include <limits.h>
#include <stdlib.h>

#include "users.h"

#define LEDGER_PAGE_DEFAULT 50
#define LEDGER_PAGE_MAX 200

/* "" → 0 (from the newest); else a positive transaction id. */
static bool parse_page_token(const char *tok, int64_t *before)
{
    *before = 0;
    if (tok[0] == '\0')
        return true;
    char *end = NULL;
    long long v = strtoll(tok, &end, 10);
    if (end == tok || *end != '\0' || v <= 0 || v == LLONG_MAX)
        return false;
    *before = v;
    return true;
}

static Gavel__Users__V1__LedgerEntry *row_to_entry(rpc_call *c, const PGresult *r, int i)
{
    Gavel__Users__V1__LedgerEntry *e =
        (void *)rpc_new(c, &gavel__users__v1__ledger_entry__descriptor);
    const char *currency = db_get_str(r, i, 6);
    e->tx_id = db_get_i64(r, i, 0);
    e->kind = rpc_strdup(c, db_get_str(r, i, 1));
    e->hold_id = db_get_i64(r, i, 2);
    e->lot_id = db_get_i64(r, i, 3);
    e->reference = rpc_strdup(c, db_get_str(r, i, 4));
    e->created_at_us = db_get_i64(r, i, 5);
    e->available_change = check_money_new(rpc_arena(c), currency, db_get_i64(r, i, 7));
    e->held_change = check_money_new(rpc_arena(c), currency, db_get_i64(r, i, 8));
    return e;
}

int wallet_list_ledger(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__ListLedgerRequest *req = (const void *)in;
    int64_t user = 0, before = 0;
    int rc = rpc_resolve_user(c, req->user_id, RPC_STAFF, "account", &user);
    if (rc != 0)
        return rc;
    int size = req->page != NULL ? req->page->page_size : 0;
    const char *tok = req->page != NULL ? req->page->page_token : "";
    if (size < 0 || size > LEDGER_PAGE_MAX)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_size must be 0 to %d",
                        LEDGER_PAGE_MAX);
    if (!parse_page_token(tok, &before))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_token is malformed");
    if (size == 0)
        size = LEDGER_PAGE_DEFAULT;
    db_conn *conn = db_pool_get(users.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char uid[24], b[24], lim[24];
    /* One row more than the page says whether another page follows. */
    const char *p[] = { db_i64(uid, user), db_i64(b, before), db_i64(lim, size + 1) };
    PGresult *r = db_exec(conn, "ledger_by_user", 3, p, &rc);
    db_pool_put(users.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    int n = PQntuples(r) > size ? size : PQntuples(r);
    Gavel__Users__V1__ListLedgerResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__list_ledger_response__descriptor);
    resp->entries = rpc_alloc(c, sizeof *resp->entries * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        resp->entries[resp->n_entries++] = row_to_entry(c, r, i);
    resp->page = (void *)rpc_new(c, &gavel__common__v1__page_response__descriptor);
    if (PQntuples(r) > size)
        resp->page->next_page_token =
            arena_printf(rpc_arena(c), "%lld", (long long)resp->entries[n - 1]->tx_id);
    PQclear(r);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
