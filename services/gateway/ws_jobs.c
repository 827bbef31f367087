/*
 * The WebSocket endpoint's blocking work, each as a job on a worker with
 * its answer handed back to the loop: a token check (auth), PlaceBid and
 * SetAutoBid for a socket, and GetLotState for the hub. Bids calls go to
 * the lot's instance (gw_bids) with the methods of the REST table, so
 * both surfaces call the service the same way.
 *
 * A bid's call does not hold its worker: the job is held (gw_job_hold)
 * while the call is in flight and a libs/rpc completion thread writes its
 * answer and releases it.
 *
 * Ownership: a job holds a reference to its socket; off the loop it reads
 * only what the job copied (the token, the client address, the request),
 * never the socket. Its answer text is made off the loop and queued on
 * the loop if the socket is still open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pbjson/pbjson.h>

#include "edge_auth.h"
#include "gavel/bids/v1/bids.pb-c.h"
#include "http.h"
#include "limits.h"
#include "routes.h"
#include "ws_int.h"

/* The bids method named name ("PlaceBid") as the REST table declares it. */
static const rpc_client_method *bids_method(const char *name)
{
    char full[96];
    snprintf(full, sizeof full, "/gavel.bids.v1.Bids/%s", name);
    for (const gw_route *r = gw_routes; r->path != NULL; r++)
        if (r->rpc != NULL && strcmp(r->rpc->name, full) == 0)
            return r->rpc;
    panic("the REST table has no %s", full);
}

typedef struct {
    ws_sock *s;
    char *token;               /* owned */
    char id[132];              /* the client's request id, "" none */
    bool has_id, at_connect;
    char client_addr[RPC_ADDR_MAX];
    wsj_call_kind kind;
    json_t *msg;               /* the request, owned */
    rpc_principal p;
    char *answer;              /* the reply text, owned; NULL none */
    size_t answer_len;
    int status;                /* 0 or a gRPC code */
    char rid[33];              /* a bid's request id */
    gw_job *held;              /* a bid's job while its call is in flight */
} ws_job;

static ws_job *job_new(ws_sock *s, const char *id)
{
    ws_job *j = xcalloc(1, sizeof *j);
    j->s = s;
    s->refs++;
    if (id != NULL) {
        snprintf(j->id, sizeof j->id, "%s", id);
        j->has_id = true;
    }
    memcpy(j->client_addr, s->client_addr, sizeof j->client_addr);
    return j;
}

static void job_free(ws_job *j)
{
    ws_sock_unref(j->s);
    free(j->token);
    free(j->answer);
    json_decref(j->msg);
    free(j);
}

static void busy(ws_job *j)
{
    size_t n = 0;
    ws_send_take(j->s, wsp_error(j->has_id ? j->id : NULL, "UNAVAILABLE", &n,
                                 "the gateway is busy; retry in a second"));
    job_free(j);
}

/* Checks "Bearer <token>" with the edge's verifier: 0, or a gRPC code with
 * the error answer set. Worker thread. */
static int verify(ws_job *j)
{
    char *hdr = xasprintf("Bearer %s", j->token);
    char why[512] = "";
    int st = gw_edge_auth(hdr, &j->p, why, sizeof why);
    free(hdr);
    j->p.token = j->token;
    if (st == 0)
        return 0;
    int code = st == 401 ? GRPC_STATUS_UNAUTHENTICATED : GRPC_STATUS_UNAVAILABLE;
    j->answer = wsp_error(j->has_id ? j->id : NULL, wsp_code(code), &j->answer_len, "%s", why);
    return code;
}

/* Takes a token of class cls from the address's and the user's buckets
 * (shared by every gateway through Redis): 0, or RESOURCE_EXHAUSTED with
 * the error answer set. Worker thread. */
static int take(ws_job *j, gw_rate_class cls, int64_t user_id)
{
    char why[512] = "";
    int64_t retry_ms = 0;
    if (gw_limit_take(cls, j->client_addr, user_id, &retry_ms, why, sizeof why) != 1)
        return 0;
    j->answer = wsp_error(j->has_id ? j->id : NULL, "RESOURCE_EXHAUSTED", &j->answer_len,
                          "%s; retry in %lld ms", why[0] != '\0' ? why : "too many requests",
                          (long long)retry_ms);
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
}

/* ---- auth ---- */

static void auth_job(void *arg)
{
    ws_job *j = arg;
    j->status = take(j, GW_RATE_WS_MSG, 0);
    if (j->status != 0)
        return;
    j->status = verify(j);
    if (j->status != 0)
        return;
    char exp[40];
    wsp_time(exp, j->p.expires_us);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("authenticated"));
    if (j->has_id)
        json_object_set_new(o, "id", json_string(j->id));
    char uid[24];
    snprintf(uid, sizeof uid, "%lld", (long long)j->p.user_id);
    json_object_set_new(o, "userId", json_string(uid));
    json_object_set_new(o, "expiresAt", json_string(exp));
    j->answer = wsp_dump(o, &j->answer_len);
    json_decref(o);
}

/* Reading resumes once the socket's last token check is answered. */
static void auth_settled(ws_sock *s)
{
    if (--s->auths_in_flight == 0 && s->wsi != NULL && !s->is_closing)
        lws_rx_flow_control(s->wsi, 1 | LWS_RXFLOW_REASON_FLAG_PROCESS_NOW);
}

static void auth_done(void *arg)
{
    ws_job *j = arg;
    ws_sock *s = j->s;
    if (s->wsi != NULL && !s->is_closing) {
        if (j->status == 0) {
            free(s->token);
            s->token = j->token;
            j->token = NULL;
            s->user_id = j->p.user_id;
            hub_set_user(s);
        }
        ws_send(s, j->answer, j->answer_len);
        if (j->status != 0 && j->at_connect) {
            s->is_flush_first = true;
            ws_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                     j->status == GRPC_STATUS_RESOURCE_EXHAUSTED ? "too many requests"
                                                                 : "invalid access token");
        }
    }
    auth_settled(s);
    job_free(j);
}

void wsj_auth(ws_sock *s, char *token, const char *id, bool at_connect)
{
    ws_job *j = job_new(s, id);
    j->token = token;
    j->at_connect = at_connect;
    /* The socket's next messages wait for this answer: a place_bid sent
     * right after auth (or right after connecting with a token) is read
     * as the user's, never refused as anonymous. */
    if (s->auths_in_flight++ == 0)
        lws_rx_flow_control(s->wsi, 0);
    if (gw_work(auth_job, auth_done, j) < 0) {
        auth_settled(s);
        busy(j);
    }
}

/* ---- PlaceBid, SetAutoBid ---- */

/* The reply to a bid or autobid call that ended with st (resp: freed here). */
static void call_answer(ws_job *j, grpc_status_code st, ProtobufCMessage *resp, const char *err)
{
    const char *id = j->has_id ? j->id : NULL;
    if (st != GRPC_STATUS_OK) {
        const char *code = gw_is_insufficient_funds(st, err) ? "INSUFFICIENT_FUNDS" : wsp_code(st);
        j->answer = wsp_error(id, code, &j->answer_len, "%s", err);
        return;
    }
    json_t *body = NULL;
    char why[1024] = "";
    if (pbj_encode(resp, NULL, &body, why, sizeof why) < 0) {
        log_error("%s: answer of %s not representable as JSON: %s", j->rid,
                  resp->descriptor->name, why);
        j->answer = wsp_error(id, "INTERNAL", &j->answer_len, "the answer could not be "
                              "written as JSON");
    } else {
        json_object_set_new(body, "type", json_string(j->kind == WSJ_PLACE_BID
                                                          ? "bid_result"
                                                          : "autobid_result"));
        if (id != NULL)
            json_object_set_new(body, "id", json_string(id));
        j->answer = wsp_dump(body, &j->answer_len);
    }
    json_decref(body);
    protobuf_c_message_free_unpacked(resp, NULL);
}

/* A libs/rpc completion thread: the bid's call ended; so does its job. */
static void call_answered(grpc_status_code st, ProtobufCMessage *resp, const char *err,
                          void *arg)
{
    ws_job *j = arg;
    log_set_request_id(j->rid);
    call_answer(j, st, resp, err);
    log_set_request_id(NULL);
    gw_job_release(j->held);
}

/* Worker: checks and builds the call, then starts it; the worker moves on
 * while the bid waits for its commit (as a REST call does, rest.c). */
static void call_job(void *arg)
{
    ws_job *j = arg;
    const char *id = j->has_id ? j->id : NULL;
    request_id_new(j->rid);
    log_set_request_id(j->rid);
    if (verify(j) != 0 || take(j, GW_RATE_WS_MSG, j->p.user_id) != 0 ||
        take(j, GW_RATE_WRITE, j->p.user_id) != 0)
        return;
    const rpc_client_method *m = bids_method(j->kind == WSJ_PLACE_BID ? "PlaceBid"
                                                                      : "SetAutoBid");
    json_object_del(j->msg, "type");
    json_object_del(j->msg, "id");
    ProtobufCMessage *req = NULL;
    char err[1024] = "";
    if (pbj_decode_json(m->request, j->msg, NULL, NULL, &req, err, sizeof err) < 0) {
        j->answer = wsp_error(id, "INVALID_ARGUMENT", &j->answer_len, "%s", err);
        return;
    }
    const Gavel__Bids__V1__PlaceBidRequest *pb = (const void *)req; /* lot_id is field 1 of both */
    int64_t lot_id = j->kind == WSJ_PLACE_BID
                         ? pb->lot_id
                         : ((const Gavel__Bids__V1__SetAutoBidRequest *)(const void *)req)->lot_id;
    const char *key = j->kind == WSJ_PLACE_BID
                          ? pb->idempotency_key
                          : ((const Gavel__Bids__V1__SetAutoBidRequest *)(const void *)req)
                                ->idempotency_key;
    if (lot_id <= 0 || key == NULL || key[0] == '\0') {
        j->answer = wsp_error(id, "INVALID_ARGUMENT", &j->answer_len, "%s",
                              lot_id <= 0 ? "lotId: required (a positive integer as a string)"
                                          : "idempotencyKey: required (1..128 printable ASCII; "
                                            "the same key again returns the first answer)");
        goto out;
    }
    rpc_call_opts o = { .token = j->token, .request_id = j->rid,
                        .deadline_ms = (int)gw_cfg.deadline_ms, .idempotent = true,
                        .client_addr = j->client_addr };
    /* held before the start: the answer may come before it returns */
    j->held = gw_job_hold();
    if (rpc_unary_start(gw_bids(lot_id), m, req, &o, call_answered, j, err, sizeof err) < 0) {
        j->answer = wsp_error(id, "INTERNAL", &j->answer_len, "%s", err);
        gw_job_release(j->held);
    }
out:
    protobuf_c_message_free_unpacked(req, NULL);
}

static void call_done(void *arg)
{
    ws_job *j = arg;
    if (j->answer != NULL)
        ws_send(j->s, j->answer, j->answer_len);
    job_free(j);
}

void wsj_call(ws_sock *s, wsj_call_kind kind, const json_t *msg, const char *id)
{
    ws_job *j = job_new(s, id);
    j->token = xstrdup(s->token);
    j->kind = kind;
    j->msg = json_deep_copy(msg);
    if (gw_work(call_job, call_done, j) < 0)
        busy(j);
}

/* ---- GetLotState for the hub ---- */

typedef struct {
    int64_t lot_id;
    ws_feed *f;
    int status;
    char why[256];
} state_job;

static void state_run(void *arg)
{
    state_job *j = arg;
    char *token = rpc_service_token();
    if (token == NULL) {
        j->status = GRPC_STATUS_UNAVAILABLE;
        snprintf(j->why, sizeof j->why, "the gateway has no service identity "
                 "(GAVEL_SERVICE_KEY) to read lot states with");
        return;
    }
    Gavel__Bids__V1__GetLotStateRequest req = GAVEL__BIDS__V1__GET_LOT_STATE_REQUEST__INIT;
    req.lot_id = j->lot_id;
    rpc_call_opts o = { .token = token, .deadline_ms = (int)gw_cfg.deadline_ms,
                        .idempotent = true };
    ProtobufCMessage *resp = NULL;
    j->status = rpc_unary(gw_bids(j->lot_id), bids_method("GetLotState"), &req.base, &resp, &o,
                          j->why, sizeof j->why);
    free(token);
    if (j->status != GRPC_STATUS_OK)
        return;
    const Gavel__Bids__V1__GetLotStateResponse *r = (const void *)resp;
    if (r->state == NULL) {
        j->status = GRPC_STATUS_INTERNAL;
        snprintf(j->why, sizeof j->why, "GetLotState answered without a state");
    } else {
        j->f = wsp_feed_state(&r->state->base, j->why, sizeof j->why);
        if (j->f == NULL)
            j->status = GRPC_STATUS_INTERNAL;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
}

static void state_done(void *arg)
{
    state_job *j = arg;
    hub_state_done(j->lot_id, j->f, j->status, j->why);
    free(j);
}

int wsj_fetch_state(int64_t lot_id)
{
    state_job *j = xcalloc(1, sizeof *j);
    j->lot_id = lot_id;
    if (gw_work(state_run, state_done, j) < 0) {
        free(j);
        return -1;
    }
    return 0;
}
