/*
 * idem_key: the key table and one call's key. The claim is an INSERT that
 * does nothing on conflict, in the call's transaction: it returns a row
 * only to the first call, and a second call with the key waits on the
 * first's row lock until that transaction ends. Committed, the first
 * call's row holds its answer, which the second reads; rolled back, the
 * row is gone and the second call's INSERT claims the key itself. So a
 * row without an answer is never seen by another transaction.
 *
 * Answers are stored and read as binary bytea, with no hex in between.
 */
#include <stdlib.h>
#include <string.h>

#include "idem/idem_int.h"

/* scope: the key space (a method, or methods that share keys);
 * caller: the verified subject of the token that used the key;
 * request_hash: hex SHA-256 of the normalised request (idem_hash.c);
 * response: the packed first answer, set before the claim commits. */
static const char idem_mig_001[] =
    "CREATE TABLE idem_keys (\n"
    "    scope        text NOT NULL,\n"
    "    caller       text NOT NULL,\n"
    "    key          text NOT NULL,\n"
    "    request_hash text NOT NULL,\n"
    "    response     bytea,\n"
    "    created_at   timestamptz NOT NULL DEFAULT now(),\n"
    "    PRIMARY KEY (scope, caller, key)\n"
    ");\n";

const db_migration idem_migrations[] = {
    { 1, "001_idem_keys.sql", idem_mig_001 },
    { 0, NULL, NULL },
};

static const db_stmt st_claim = {
    "idem_claim",
    "INSERT INTO idem_keys (scope, caller, key, request_hash) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT DO NOTHING RETURNING 1",
};

static const db_stmt st_lookup = {
    "idem_lookup",
    "SELECT request_hash, response FROM idem_keys WHERE scope = $1 AND caller = $2 AND key = $3",
};

static const db_stmt st_store = {
    "idem_store",
    "UPDATE idem_keys SET response = $4 WHERE scope = $1 AND caller = $2 AND key = $3",
};

const char *idem_caller(const rpc_call *c)
{
    const rpc_principal *p = rpc_caller(c);
    if (p == NULL)
        panic("an idempotency key without a verified caller");
    return p->subject;
}

ProtobufCMessage *idem__answer(rpc_call *c, const ProtobufCMessageDescriptor *d,
                               const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    return rpc_unpack(c, d, (const uint8_t *)PQgetvalue(r, row, col),
                      (size_t)PQgetlength(r, row, col));
}

uint8_t *idem__pack(const ProtobufCMessage *m, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(n + 1);
    protobuf_c_message_pack(m, buf);
    *len = n;
    return buf;
}

/* The key's row, committed by another transaction before our claim
 * returned: its request decides replay or conflict. */
static int load_stored(rpc_call *c, db_conn *conn, const idem_key *k, idem_state *state,
                       ProtobufCMessage **stored)
{
    const char *params[] = { k->scope, idem_caller(c), k->key };
    int rc = 0;
    PGresult *r = db_own_exec(conn, &st_lookup, 3, params, NULL, NULL, 1, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) != 1 || PQgetisnull(r, 0, 1)) {
        PQclear(r); /* freed again while we waited: only a broken race */
        return DB_E_RETRY;
    }
    *state = strcmp(PQgetvalue(r, 0, 0), k->hash) == 0 ? IDEM_REPLAY : IDEM_CONFLICT;
    *stored = idem__answer(c, k->resp_desc, r, 0, 1);
    PQclear(r);
    if (*stored == NULL) {
        log_error("idem: the answer stored under a %s key is not a %s", k->scope,
                  k->resp_desc->name);
        return DB_E_SQL;
    }
    return 0;
}

int idem_claim(rpc_call *c, db_conn *conn, const idem_key *k, idem_state *state,
               ProtobufCMessage **stored)
{
    const char *params[] = { k->scope, idem_caller(c), k->key, k->hash };
    int rc = 0;
    *stored = NULL;
    *state = IDEM_NEW;
    PGresult *r = db_own_exec(conn, &st_claim, 4, params, NULL, NULL, 0, &rc);
    if (r == NULL)
        return rc;
    bool is_claimed = PQntuples(r) == 1;
    PQclear(r);
    return is_claimed ? 0 : load_stored(c, conn, k, state, stored);
}

int idem_store(rpc_call *c, db_conn *conn, const idem_key *k, const ProtobufCMessage *resp)
{
    size_t n = 0;
    uint8_t *buf = idem__pack(resp, &n);
    const char *params[] = { k->scope, idem_caller(c), k->key, (const char *)buf };
    const int lengths[] = { 0, 0, 0, (int)n };
    const int formats[] = { 0, 0, 0, 1 };
    int rc = 0;
    PGresult *r = db_own_exec(conn, &st_store, 4, params, lengths, formats, 0, &rc);
    free(buf);
    if (r == NULL)
        return rc;
    if (strcmp(PQcmdTuples(r), "1") != 0) {
        log_error("idem: a %s answer stored under a key this transaction has not claimed",
                  k->scope);
        rc = DB_E_SQL;
    }
    PQclear(r);
    return rc;
}
