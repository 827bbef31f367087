/*
 * RotateKey and RevokeKey. Both lock the stream's row, change its key
 * (a new hash, or none) and commit; a publisher still connected with the
 * old key is then dropped through the ingest's control module (and,
 * should that fail, by the next on_update callback, which finds the
 * stream no longer LIVE). The new key of a rotation is shown once and
 * stored only as its hash.
 */
#include "streaming.h"

typedef struct {
    rpc_call *c;
    int64_t id;
    bool is_rotate;
    char key[STRM_KEY_LEN + 1];
    Gavel__Streaming__V1__Stream *stream;
    bool was_live;
    int status;
} key_call;

static int key_body(db_conn *conn, void *arg)
{
    key_call *x = arg;
    char id[24], now[24], hash[STRM_HASH_HEX];
    int64_t t = now_us();
    const char *p[] = { db_i64(id, x->id), NULL, NULL };
    int rc = 0;
    PGresult *r = db_exec(conn, "stream_lock", 1, p, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        x->status = rpc_fail(x->c, GRPC_STATUS_NOT_FOUND, "stream %lld not found", (long long)x->id);
        return DB_E_ABORT;
    }
    Gavel__Streaming__V1__Stream *s = strm_from_row(rpc_arena(x->c), r, 0);
    PQclear(r);
    x->was_live = s->status == STRM_LIVE;
    if (!x->is_rotate && s->status == STRM_REVOKED) {
        x->stream = s; /* idempotent: revoked already */
        return 0;
    }
    if (x->is_rotate && s->status == STRM_REVOKED) {
        x->status = rpc_fail(x->c, GRPC_STATUS_FAILED_PRECONDITION,
                             "stream %lld is revoked; create a new stream", (long long)x->id);
        return DB_E_ABORT;
    }
    if (x->is_rotate && t >= s->scheduled_end_us) {
        x->status = rpc_fail(x->c, GRPC_STATUS_FAILED_PRECONDITION,
                             "stream %lld is past its window (ended at scheduled_end_us)",
                             (long long)x->id);
        return DB_E_ABORT;
    }
    if (x->is_rotate && strm_key_new(x->key, hash) < 0) {
        x->status = rpc_fail(x->c, GRPC_STATUS_UNAVAILABLE, "no random source for a key; retry");
        return DB_E_ABORT;
    }
    p[1] = x->is_rotate ? hash : db_i64(now, t);
    p[2] = db_i64(now, t);
    r = db_exec(conn, x->is_rotate ? "stream_rotate" : "stream_revoke", x->is_rotate ? 3 : 2, p,
                &rc);
    if (r == NULL)
        return rc;
    x->stream = strm_from_row(rpc_arena(x->c), r, 0);
    PQclear(r);
    return 0;
}

/* Runs x in a transaction, then drops the old key's publisher. */
static int key_run(key_call *x)
{
    if (x->id <= 0)
        return rpc_fail(x->c, GRPC_STATUS_INVALID_ARGUMENT, "stream_id must be a positive id");
    x->status = GRPC_STATUS_OK;
    int drc = db_tx(strm.db, DB_READ_COMMITTED, key_body, x);
    if (drc == DB_E_ABORT)
        return x->status;
    if (drc < 0)
        return check_fail_db(x->c, drc);
    if (x->was_live)
        mx_add(strm_drop_publisher(x->stream->name) == 0 ? strm_mx.drops : strm_mx.drop_errors, 1);
    if (x->is_rotate)
        mx_add(strm_mx.keys_issued, 1);
    strm_add_live_figures(x->stream);
    return GRPC_STATUS_OK;
}

int strm_rotate_key(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Streaming__V1__RotateKeyRequest *req = (const void *)in;
    key_call x = { .c = c, .id = req->stream_id, .is_rotate = true };
    int rc = key_run(&x);
    if (rc != GRPC_STATUS_OK)
        return rc;
    Gavel__Streaming__V1__RotateKeyResponse *resp =
        (void *)rpc_new(c, &gavel__streaming__v1__rotate_key_response__descriptor);
    resp->stream = x.stream;
    resp->stream_key = rpc_strdup(c, x.key);
    resp->ingest_url = (char *)strm.ingest_url;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

int strm_revoke_key(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Streaming__V1__RevokeKeyRequest *req = (const void *)in;
    key_call x = { .c = c, .id = req->stream_id, .is_rotate = false };
    int rc = key_run(&x);
    if (rc != GRPC_STATUS_OK)
        return rc;
    Gavel__Streaming__V1__RevokeKeyResponse *resp =
        (void *)rpc_new(c, &gavel__streaming__v1__revoke_key_response__descriptor);
    resp->stream = x.stream;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
