/*
 * GetStream and ListStreams, for any signed-in user: a stream's key never
 * leaves CreateStream/RotateKey, so reading shows nothing secret. Pages
 * are newest first, the token the last id of the previous page.
 */
#include "streaming.h"

int strm_get(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Streaming__V1__GetStreamRequest *req = (const void *)in;
    if (req->stream_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "stream_id must be a positive id");
    char id[24];
    const char *p[] = { db_i64(id, req->stream_id) };
    int rc = 0;
    PGresult *r = db_pool_exec(strm.db, rpc_time_left_ms(c), "stream_get", 1, p, &rc);
    if (r == NULL)
        return check_fail_db(c, rc);
    Gavel__Streaming__V1__Stream *s = PQntuples(r) > 0 ? strm_from_row(rpc_arena(c), r, 0) : NULL;
    PQclear(r);
    if (s == NULL)
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "stream %lld not found",
                        (long long)req->stream_id);
    strm_add_live_figures(s);
    Gavel__Streaming__V1__GetStreamResponse *resp =
        (void *)rpc_new(c, &gavel__streaming__v1__get_stream_response__descriptor);
    resp->stream = s;
    resp->server_time_us = now_us();
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

int strm_list(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Streaming__V1__ListStreamsRequest *req = (const void *)in;
    int size = 0;
    int64_t after = 0;
    int rc = check_page(c, req->page, 50, 200, &size, &after);
    if (rc != GRPC_STATUS_OK)
        return rc;
    if (req->session_id < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "session_id must not be negative");
    if (req->status < 0 || req->status > STRM_REVOKED)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "status %d is not a StreamStatus",
                        (int)req->status);
    char sid[24], st[24], af[24], lim[24];
    const char *p[] = { db_i64(sid, req->session_id), db_i64(st, req->status), db_i64(af, after),
                        db_i64(lim, size + 1) };
    PGresult *r = db_pool_exec(strm.db, rpc_time_left_ms(c), "stream_list", 4, p, &rc);
    if (r == NULL)
        return check_fail_db(c, rc);
    Gavel__Streaming__V1__ListStreamsResponse *resp =
        (void *)rpc_new(c, &gavel__streaming__v1__list_streams_response__descriptor);
    int n = PQntuples(r) > size ? size : PQntuples(r);
    resp->streams = rpc_alloc(c, sizeof *resp->streams * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) {
        resp->streams[resp->n_streams] = strm_from_row(rpc_arena(c), r, i);
        strm_add_live_figures(resp->streams[resp->n_streams++]);
    }
    resp->page = (void *)rpc_new(c, &gavel__common__v1__page_response__descriptor);
    if (PQntuples(r) > size)
        resp->page->next_page_token =
            arena_printf(rpc_arena(c), "%lld", (long long)db_get_i64(r, n - 1, 0));
    PQclear(r);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
