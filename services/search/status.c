/*
 * GetIndexStatus (freshness and the rebuild's progress) and Reindex (one
 * rebuild at a time; the job row is the record, reindex.c the work).
 */
#include <stdio.h>
#include <string.h>

#include "search.h"

#define REASON_MAX 500

static Gavel__Search__V1__ReindexJob *job_from_row(rpc_call *c, const PGresult *r)
{
    Gavel__Search__V1__ReindexJob *j = rpc_alloc(c, sizeof *j);
    gavel__search__v1__reindex_job__init(j);
    j->job_id = db_get_i64(r, 0, 0);
    j->status = (Gavel__Search__V1__ReindexStatus)db_get_i64(r, 0, 1);
    j->documents_done = db_get_i64(r, 0, 2);
    j->documents_total = db_get_i64(r, 0, 3);
    j->started_at_us = db_get_i64(r, 0, 4);
    j->finished_at_us = db_get_i64(r, 0, 5);
    j->error = rpc_strdup(c, db_get_str(r, 0, 6));
    j->requested_by = db_get_i64(r, 0, 7);
    return j;
}

static int status_read(rpc_call *c, db_conn *conn, int64_t job_id,
                       Gavel__Search__V1__GetIndexStatusResponse *resp)
{
    int rc = 0;
    PGresult *r = db_exec(conn, "doc_count", 0, NULL, &rc);
    if (r == NULL)
        return check_fail_db(c, rc);
    resp->document_count = db_get_i64(r, 0, 0);
    PQclear(r);
    if ((r = db_exec(conn, "state_get", 0, NULL, &rc)) == NULL)
        return check_fail_db(c, rc);
    int64_t last_event = db_get_i64(r, 0, 0), last_applied = db_get_i64(r, 0, 1);
    PQclear(r);
    resp->server_time_us = now_us();
    resp->last_event_at_us = last_event;
    /* The consumer's backlog is not known here: the lag is the last
     * event's, while events keep arriving within a second of each other. */
    if (last_event > 0 && resp->server_time_us - last_applied < 1000000)
        resp->lag_us = last_applied - last_event;
    char id[24];
    const char *p[] = { db_i64(id, job_id) };
    if ((r = db_exec(conn, "job_get", 1, p, &rc)) == NULL)
        return check_fail_db(c, rc);
    int n = PQntuples(r);
    if (n > 0)
        resp->reindex = job_from_row(c, r);
    PQclear(r);
    if (n == 0 && job_id != 0)
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "reindex job %lld not found",
                        (long long)job_id);
    return GRPC_STATUS_OK;
}

int search_index_status(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Search__V1__GetIndexStatusRequest *req = (const void *)in;
    if (req->job_id < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "job_id must not be negative");
    db_conn *conn = db_pool_get(search.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    Gavel__Search__V1__GetIndexStatusResponse *resp =
        (void *)rpc_new(c, &gavel__search__v1__get_index_status_response__descriptor);
    int rc = status_read(c, conn, req->job_id, resp);
    db_pool_put(search.db, conn);
    if (rc != GRPC_STATUS_OK)
        return rc;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

static int job_create(rpc_call *c, db_conn *conn, const char *reason, int64_t *job_id)
{
    int rc = db_command(conn, "BEGIN; LOCK TABLE reindex_jobs IN EXCLUSIVE MODE");
    if (rc < 0)
        return check_fail_db(c, rc);
    PGresult *r = db_exec(conn, "job_running", 0, NULL, &rc);
    if (r == NULL)
        return check_fail_db(c, rc);
    if (PQntuples(r) > 0) {
        long long running = (long long)db_get_i64(r, 0, 0);
        PQclear(r);
        db_command(conn, "ROLLBACK");
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "reindex job %lld is already running", running);
    }
    PQclear(r);
    char by[24], at[24];
    const char *p[] = { reason, db_i64(by, rpc_caller(c)->user_id), db_i64(at, now_us()) };
    if ((r = db_exec(conn, "job_add", 3, p, &rc)) == NULL)
        return check_fail_db(c, rc);
    *job_id = db_get_i64(r, 0, 0);
    PQclear(r);
    if ((rc = db_command(conn, "COMMIT")) < 0)
        return check_fail_db(c, rc);
    return GRPC_STATUS_OK;
}

int search_reindex(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Search__V1__ReindexRequest *req = (const void *)in;
    if (strlen(req->reason) > REASON_MAX)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "reason is longer than %d bytes",
                        REASON_MAX);
    db_conn *conn = db_pool_get(search.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    int64_t job_id = 0;
    int rc = job_create(c, conn, req->reason, &job_id);
    db_pool_put(search.db, conn);
    if (rc != GRPC_STATUS_OK)
        return rc;
    if (reindex_start(job_id) < 0)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE, "cannot start reindex job %lld",
                        (long long)job_id);
    Gavel__Search__V1__ReindexResponse *resp =
        (void *)rpc_new(c, &gavel__search__v1__reindex_response__descriptor);
    resp->job_id = job_id;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
