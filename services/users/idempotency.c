/*
 * Idempotency keys for money calls. A key belongs to its caller (the
 * verified subject of the call's token): the row is (method, caller, key),
 * so callers never replay, conflict with or learn of each other's keys.
 * The key is claimed by inserting its row in the call's transaction: a
 * concurrent call of the same caller with the same key blocks on that row
 * until the first commits, then finds the stored answer. A failed call
 * rolls back its claim, so it may be retried with the same key. The
 * request is compared by the SHA-256 of its normalized encoding.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "users.h"

void idem_request_hash(const ProtobufCMessage *req, char hex[65])
{
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = xmalloc(n + 1);
    protobuf_c_message_pack(req, buf);
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(buf, n, digest);
    free(buf);
    hex_encode(digest, sizeof digest, hex);
}

const char *idem_caller(const rpc_call *c)
{
    const rpc_principal *p = rpc_caller(c);
    if (p == NULL)
        panic("a money call without a verified caller");
    return p->subject;
}

static int load_stored(rpc_call *c, db_conn *conn, const char *method, const char *key,
                       const char *hash, const ProtobufCMessageDescriptor *resp_desc,
                       idem_state *state, ProtobufCMessage **stored)
{
    int rc = 0;
    const char *params[] = { method, idem_caller(c), key };
    PGresult *r = db_exec(conn, "idem_lookup", 3, params, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) != 1 || PQgetisnull(r, 0, 1)) {
        /* Claimed by a transaction that has not stored its answer: only
         * possible if it is still open, which the row lock rules out. */
        PQclear(r);
        return DB_E_RETRY;
    }
    if (strcmp(db_get_str(r, 0, 0), hash) != 0) {
        *state = IDEM_CONFLICT;
        PQclear(r);
        return 0;
    }
    size_t len = 0;
    unsigned char *bytes = PQunescapeBytea((const unsigned char *)db_get_str(r, 0, 1), &len);
    PQclear(r);
    if (bytes == NULL)
        return DB_E_SQL;
    ProtobufCMessage *m = rpc_unpack(c, resp_desc, bytes, len);
    PQfreemem(bytes);
    if (m == NULL)
        return DB_E_SQL;
    *stored = m;
    *state = IDEM_REPLAY;
    return 0;
}

int idem_claim(rpc_call *c, db_conn *conn, const char *method, const char *key,
               const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
               idem_state *state, ProtobufCMessage **stored)
{
    char hash[65];
    idem_request_hash(req, hash);
    int rc = 0;
    const char *params[] = { method, idem_caller(c), key, hash };
    PGresult *r = db_exec(conn, "idem_claim", 4, params, &rc);
    if (r == NULL)
        return rc;
    bool claimed = PQntuples(r) == 1;
    PQclear(r);
    *stored = NULL;
    if (claimed) {
        *state = IDEM_NEW;
        return 0;
    }
    return load_stored(c, conn, method, key, hash, resp_desc, state, stored);
}

int idem_store(rpc_call *c, db_conn *conn, const char *method, const char *key,
               const ProtobufCMessage *resp)
{
    size_t n = protobuf_c_message_get_packed_size(resp);
    uint8_t *buf = xmalloc(n + 1);
    protobuf_c_message_pack(resp, buf);
    const char *params[] = { method, idem_caller(c), key, (const char *)buf };
    int lengths[] = { 0, 0, 0, (int)n };
    int formats[] = { 0, 0, 0, 1 };
    int rc = 0;
    PGresult *r = db_exec_bin(conn, "idem_store", 4, params, lengths, formats, &rc);
    free(buf);
    if (r != NULL)
        PQclear(r);
    return rc;
}
