/*
 * What a request does. On the loop: the route table picks the row (404,
 * 405 with Allow, a CORS preflight and the gateway's own routes are
 * answered there and then, but those that block, GW_R_JOB, which run on
 * a worker after the token, the role and the rate limit); everything
 * else becomes a job. On a worker,
 * in this order: the deadline, the token (verified before anything else,
 * so a bad one never reaches a service), the rate limit, the request
 * message (rest_build.c), the login lockout, the call, the answer as
 * JSON. Its memory is the request's arena; the call's response is
 * unpacked with malloc and freed here once encoded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pbjson/pbjson.h>

#include "edge_auth.h"
#include "limit/limit.h"
#include "limits.h"
#include "request.h"
#include "rest.h"
#include "routes.h"

static void *arena_pb_alloc(void *data, size_t n)
{
    return arena_alloc(data, n);
}

static void arena_pb_free(void *data, void *p)
{
    (void)data, (void)p;
}

/* X-Request-Timeout-Ms: 1 or more milliseconds, cut to the maximum. 0 when
 * absent, -1 when malformed. */
static int64_t client_deadline_ms(const char *v)
{
    if (v == NULL)
        return 0;
    char *end = NULL;
    long long ms = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || ms <= 0)
        return -1;
    return ms > gw_cfg.max_deadline_ms ? gw_cfg.max_deadline_ms : ms;
}

static const ProtobufCFieldDescriptor *field(const ProtobufCMessage *m, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
}

static int64_t int64_field(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = field(m, name);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_INT64)
        return 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which = *(const uint32_t *)((const char *)m + f->quantifier_offset);
        if (which != f->id)
            return 0;
    }
    return *(const int64_t *)((const char *)m + f->offset);
}

static const char *string_field(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = field(m, name);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
        return NULL;
    return *(char *const *)((const char *)m + f->offset);
}

static rpc_channel *channel_for(const gw_route *rt, const ProtobufCMessage *req)
{
    switch (rt->svc) {
    case GW_SVC_USERS: return gw_users();
    case GW_SVC_AUCTIONS: return gw_auctions();
    case GW_SVC_NOTIFICATIONS: return gw_notifications();
    case GW_SVC_SEARCH: return gw_search();
    case GW_SVC_PAYMENTS: return gw_payments();
    case GW_SVC_STREAMING: return gw_streaming();
    default: return gw_bids(int64_field(req, "lot_id"));
    }
}

static void answer_limited(gw_req *r, int64_t retry_ms, const char *why)
{
    r->retry_after_s = lim_retry_after_s(retry_ms);
    gw_answer_error(r, 429, "resource_exhausted", "%s; retry in %lld s",
                    why[0] != '\0' ? why : "too many requests", (long long)r->retry_after_s);
}

/* The service's answer (st, resp: freed here, err) as the HTTP answer. */
static void write_answer(gw_req *r, grpc_status_code st, ProtobufCMessage *resp,
                         const char *err)
{
    if (st != GRPC_STATUS_OK) {
        gw_answer_grpc(r, st, err);
        return;
    }
    json_t *j = NULL;
    char why[1024] = "";
    if (pbj_encode(resp, NULL, &j, why, sizeof why) < 0) {
        log_error("%s: answer of %s not representable as JSON: %s", r->request_id,
                  r->route->rpc->name, why);
        gw_answer_error(r, 500, "internal", "the answer could not be written as JSON");
    } else {
        gw_answer_json(r, 200, j);
    }
    json_decref(j);
    protobuf_c_message_free_unpacked(resp, NULL);
}

/* A libs/rpc completion thread: the call ended; so does the job. */
static void answered(grpc_status_code st, ProtobufCMessage *resp, const char *err, void *arg)
{
    gw_req *r = arg;
    log_set_request_id(r->request_id);
    write_answer(r, st, resp, err);
    log_set_request_id(NULL);
    gw_job_release(r->held);
}

/* Calls the route's RPC and writes its answer. Login, register and
 * refresh wait on their worker: their small pool is what bounds the
 * password hashing a flood can start in the users service. Every other
 * call runs on its own and the worker moves on as soon as it is sent (a
 * bid waits tens of milliseconds for its commit, and a worker per call in
 * flight would cap the gateway at workers / latency). */
static void call_and_answer(gw_req *r, const ProtobufCMessage *req, const rpc_principal *p,
                            int64_t deadline_ms)
{
    const gw_route *rt = r->route;
    char *service_token = NULL;
    rpc_call_opts o = { .request_id = r->request_id, .deadline_ms = (int)deadline_ms,
                        .idempotent = (rt->flags & GW_R_RETRY) != 0,
                        .client_addr = r->client_addr };
    if (rt->auth == GW_AUTH_TOKEN) {
        o.token = p->token;
    } else {
        service_token = rpc_service_token();
        if (service_token == NULL) {
            gw_answer_error(r, 503, "unavailable", "the gateway has no service identity "
                            "(GAVEL_SERVICE_KEY) to call the users service with");
            return;
        }
        o.token = service_token;
    }
    char err[1024] = "";
    if (rt->rate == GW_RATE_AUTH) {
        ProtobufCMessage *resp = NULL;
        grpc_status_code st = rpc_unary(channel_for(rt, req), rt->rpc, req, &resp, &o, err,
                                        sizeof err);
        write_answer(r, st, resp, err);
    } else {
        /* held before the start: the answer may come before it returns */
        r->held = gw_job_hold();
        if (rpc_unary_start(channel_for(rt, req), rt->rpc, req, &o, answered, r, err,
                            sizeof err) < 0) {
            gw_answer_error(r, 500, "internal", "%s", err);
            gw_job_release(r->held);
        }
    }
    free(service_token);
}

/* Worker thread: everything of one request that may block. */
static void job(void *arg)
{
    gw_req *r = arg;
    const gw_route *rt = r->route;
    log_set_request_id(r->request_id);
    char why[512] = "";
    int64_t deadline_ms = client_deadline_ms(r->timeout);
    if (deadline_ms < 0) {
        gw_answer_error(r, 400, "invalid_argument",
                        "X-Request-Timeout-Ms must be a positive number of milliseconds");
        return;
    }
    if (deadline_ms == 0)
        deadline_ms = gw_cfg.deadline_ms;
    rpc_principal p = { 0 };
    if (rt->auth == GW_AUTH_TOKEN) {
        int st = gw_edge_auth(r->authorization, &p, why, sizeof why);
        if (st != 0) {
            r->is_auth_refused = st == 401;
            gw_answer_error(r, st, st == 401 ? "unauthenticated" : "unavailable", "%s", why);
            return;
        }
        r->user_id = p.user_id;
        if ((rt->flags & GW_R_SELLERS) &&
            !(p.role & (RPC_ROLE_SELLER | RPC_ROLE_ADMIN))) {
            gw_answer_error(r, 403, "permission_denied", "only sellers may do this (you are %s)",
                            rpc_role_name(p.role)[0] != '\0' ? rpc_role_name(p.role)
                                                             : "not a user");
            return;
        }
    }
    int64_t retry_ms = 0;
    if (gw_limit_take(rt->rate, r->client_addr, r->user_id, &retry_ms, why, sizeof why) == 1) {
        answer_limited(r, retry_ms, why);
        return;
    }
    if (rt->local != NULL) { /* a gateway's own route that blocks (GW_R_JOB) */
        rt->local(r);
        return;
    }
    ProtobufCAllocator alloc = { arena_pb_alloc, arena_pb_free, r->a };
    ProtobufCMessage *req = NULL;
    if (gw_rest_build(r, &alloc, &req) != 0)
        return;
    if (rt->flags & GW_R_LOGIN) {
        const char *email = string_field(req, "email");
        if (gw_login_precheck(email != NULL ? email : "", r->client_addr, &retry_ms, why,
                              sizeof why) == 1) {
            answer_limited(r, retry_ms, why);
            return;
        }
    }
    call_and_answer(r, req, &p, deadline_ms);
}

static void job_done(void *arg)
{
    gw_http_job_done(arg);
}

int gw_rest_dispatch(gw_req *r)
{
    const char *allow = NULL;
    r->route = gw_route_match(r->method, r->path, r->a, r->params, &allow);
    if (r->route == NULL) {
        if (allow == NULL) {
            /* under /media/ and /live/ only their routes' names exist */
            if (strncmp(r->path, "/media/", 7) == 0 || strncmp(r->path, "/live/", 6) == 0 ||
                gw_static_dispatch(r) == 0)
                gw_answer_error(r, 404, "not_found", "no route %s", r->path);
            return 1;
        }
        r->allow = allow;
        if (r->method == GW_OPTIONS) { /* a CORS preflight, or a question */
            r->is_preflight = true;
            r->status = 204;
            r->out = gw_answer_alloc(r, 0);
            r->out_len = 0;
            return 1;
        }
        gw_answer_error(r, 405, "method_not_allowed", "%s %s: this path takes %s",
                        gw_method_name(r->method), r->path, allow);
        return 1;
    }
    if (r->route->local != NULL && !(r->route->flags & GW_R_JOB)) {
        r->route->local(r);
        return 1;
    }
    r->is_job_running = true;
    bool is_auth = r->route->rate == GW_RATE_AUTH;
    if (gw_work_class(is_auth ? GW_JOB_AUTH : GW_JOB_NORMAL, job, job_done, r) < 0) {
        r->is_job_running = false;
        mx_add(gw_mx.busy, 1);
        r->retry_after_s = 1;
        gw_answer_error(r, 503, "unavailable", "the gateway is busy%s; retry in a second",
                        is_auth ? " with logins" : "");
        return 1;
    }
    return 0;
}
