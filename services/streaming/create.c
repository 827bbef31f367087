/*
 * CreateStream: staff open a stream for a venue session's window and get
 * its key once. The key's hash, the public name and the window go in one
 * row; the partial unique index on session_id (unrevoked streams) makes
 * concurrent creations for one session end with exactly one stream, the
 * others ALREADY_EXISTS. With an idempotency key the answer is stored
 * (libs/idem) WITHOUT the key, so a retry gets the stream but never a
 * second copy of the key.
 */
#include <string.h>

#include "idem/idem.h"
#include "streaming.h"

#define HOUR_US (3600LL * 1000000)
#define MAX_LEAD_US (366LL * 24 * HOUR_US)

typedef struct {
    rpc_call *c;
    const Gavel__Streaming__V1__CreateStreamRequest *req;
    bool has_key;
    idem_key idem;
    Gavel__Streaming__V1__CreateStreamResponse *resp;
    char key[STRM_KEY_LEN + 1];
    int status;
} create_call;

static int create_checks(rpc_call *c, const Gavel__Streaming__V1__CreateStreamRequest *req)
{
    int64_t now = now_us();
    if (req->session_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "session_id must be a positive id");
    int rc = check_text(c, "title", req->title, 1, 200);
    if (rc != GRPC_STATUS_OK)
        return rc;
    if (req->scheduled_start_us < now - HOUR_US || req->scheduled_start_us > now + MAX_LEAD_US)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "scheduled_start_us must be in the future (at most 1 hour past, at "
                        "most 366 days ahead)");
    if (req->scheduled_end_us <= req->scheduled_start_us)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "scheduled_end_us must be after scheduled_start_us");
    if (req->scheduled_end_us - req->scheduled_start_us > 24 * HOUR_US)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "scheduled_end_us must be at most 24 hours after scheduled_start_us");
    if (req->idempotency_key[0] != '\0')
        return check_idempotency_key(c, req->idempotency_key);
    return GRPC_STATUS_OK;
}

static int create_body(db_conn *conn, void *arg)
{
    create_call *x = arg;
    rpc_call *c = x->c;
    if (x->has_key) {
        idem_state st = IDEM_NEW;
        ProtobufCMessage *stored = NULL;
        int rc = idem_claim(c, conn, &x->idem, &st, &stored);
        if (rc < 0)
            return rc;
        if (st == IDEM_REPLAY) {
            x->resp = (void *)stored;
            x->key[0] = '\0';
            return 0;
        }
        if (st == IDEM_CONFLICT) {
            x->status = rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                                 "idempotency_key %s was already used for a different "
                                 "CreateStream request", x->req->idempotency_key);
            return DB_E_ABORT;
        }
    }
    char hash[STRM_HASH_HEX], name[STRM_NAME_LEN + 1];
    if (strm_key_new(x->key, hash) < 0 || strm_name_new(name) < 0) {
        x->status = rpc_fail(c, GRPC_STATUS_UNAVAILABLE, "no random source for a key; retry");
        return DB_E_ABORT;
    }
    char sid[24], st[24], en[24], by[24], now[24];
    const char *p[] = { db_i64(sid, x->req->session_id), x->req->title, name,
                        db_i64(st, x->req->scheduled_start_us), db_i64(en, x->req->scheduled_end_us),
                        hash, db_i64(by, rpc_caller(c)->user_id), db_i64(now, now_us()) };
    int rc = 0;
    PGresult *r = db_exec(conn, "stream_insert", 8, p, &rc);
    if (r == NULL)
        return rc;
    x->resp = (void *)rpc_new(c, &gavel__streaming__v1__create_stream_response__descriptor);
    x->resp->stream = strm_from_row(rpc_arena(c), r, 0);
    x->resp->ingest_url = (char *)strm.ingest_url;
    PQclear(r);
    /* The stored answer never holds the key: stream_key is set after. */
    return x->has_key ? idem_store(c, conn, &x->idem, &x->resp->base) : 0;
}

int strm_create(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Streaming__V1__CreateStreamRequest *req = (const void *)in;
    int rc = create_checks(c, req);
    if (rc != GRPC_STATUS_OK)
        return rc;
    create_call x = { .c = c, .req = req, .has_key = req->idempotency_key[0] != '\0',
                      .status = GRPC_STATUS_OK };
    if (x.has_key) {
        x.idem = (idem_key){ .scope = "CreateStream", .key = req->idempotency_key,
                             .resp_desc = &gavel__streaming__v1__create_stream_response__descriptor };
        idem_request_hash(in, x.idem.hash);
    }
    int drc = db_tx(strm.db, DB_READ_COMMITTED, create_body, &x);
    if (drc == DB_E_ABORT)
        return x.status;
    if (drc == DB_E_UNIQUE)
        return rpc_fail(c, GRPC_STATUS_ALREADY_EXISTS,
                        "session %lld already has a stream (revoke it to create another)",
                        (long long)req->session_id);
    if (drc < 0)
        return check_fail_db(c, drc);
    if (x.key[0] != '\0') {
        x.resp->stream_key = rpc_strdup(c, x.key);
        mx_add(strm_mx.keys_issued, 1);
    }
    strm_add_live_figures(x.resp->stream);
    *out = &x.resp->base;
    return GRPC_STATUS_OK;
}
