/*
 * One unary call from arrival to answer: request id, authentication and
 * role check, unpacking into the call's arena, UTF-8 check, the handler,
 * then one batch carrying the response and status. The order matters: an
 * unauthenticated caller learns nothing about the request's validity.
 */
#include <stdio.h>
#include <stdarg.h>
#include <string.h>
#include <grpc/slice.h>

#include "rpc/rpc_int.h"

void *rpc_alloc(rpc_call *c, size_t n) { return arena_calloc(c->arena, 1, n); }
char *rpc_strdup(rpc_call *c, const char *s) { return arena_strdup(c->arena, s); }
arena *rpc_arena(rpc_call *c) { return c->arena; }
const char *rpc_request_id(const rpc_call *c) { return c->request_id; }

const rpc_principal *rpc_caller(const rpc_call *c)
{
    return c->has_principal ? &c->principal : NULL;
}

bool rpc_has_role(const rpc_call *c, unsigned roles)
{
    return c->has_principal && (c->principal.role & roles) != 0;
}

int rpc_resolve_user(rpc_call *c, int64_t requested, unsigned others_roles, const char *whose,
                     int64_t *target)
{
    const rpc_principal *me = rpc_caller(c);
    if (requested < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "user_id must not be negative");
    int64_t mine = me != NULL ? me->user_id : 0;
    if (requested == 0 || requested == mine) {
        if (mine == 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "user_id is required for a service caller");
        *target = mine;
        return GRPC_STATUS_OK;
    }
    if (!rpc_has_role(c, others_roles))
        return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED,
                        "role %s may not act on another user's %s",
                        rpc_role_name(me != NULL ? me->role : 0), whose);
    *target = requested;
    return GRPC_STATUS_OK;
}

ProtobufCMessage *rpc_new(rpc_call *c, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = arena_alloc(c->arena, d->sizeof_message);
    d->message_init(m);
    return m;
}

ProtobufCMessage *rpc_unpack(rpc_call *c, const ProtobufCMessageDescriptor *d,
                             const uint8_t *data, size_t len)
{
    ProtobufCAllocator alloc = rpc__arena_allocator(c->arena);
    return protobuf_c_message_unpack(d, &alloc, len, data);
}

int rpc_time_left_ms(const rpc_call *c)
{
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    gpr_timespec dl = gpr_convert_clock_type(c->deadline, GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(dl, now) <= 0)
        return 0;
    gpr_timespec left = gpr_time_sub(dl, now);
    int64_t ms = left.tv_sec * 1000 + left.tv_nsec / 1000000;
    return ms > 3600 * 1000 ? 3600 * 1000 : (int)ms;
}

int rpc_fail(rpc_call *c, grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->status_msg = arena_strdup(c->arena, buf);
    return (int)code;
}

void rpc__count(rpc_call *c, int code)
{
    if (c->mr == NULL || code < 0 || code > 16)
        return;
    mx_metric *m = atomic_load(&c->mr->codes[code]);
    if (m == NULL) {
        char labels[300];
        snprintf(labels, sizeof labels, "method=\"%s\",code=\"%d\"", c->mr->m->name, code);
        m = rpc__metric("gavel_rpc_requests_total", labels);
        atomic_store(&c->mr->codes[code], m);
    }
    mx_add(m, 1);
    mx_observe(c->mr->latency, (double)(mono_us() - c->start_us) / 1e6);
}

static void set_request_id(rpc_call *c)
{
    size_t n = 0;
    bool ok = rpc__md_get(&c->md, "x-request-id", c->request_id,
                          sizeof c->request_id, &n);
    for (size_t i = 0; ok && c->request_id[i] != '\0'; i++) {
        char ch = c->request_id[i];
        ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
             (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_';
    }
    if (!ok || n == 0 || n >= sizeof c->request_id)
        request_id_new(c->request_id);
    log_set_request_id(c->request_id);
}

/* Returns OK, or a status with the message already recorded. */
static int authenticate(rpc_call *c)
{
    char buf[RPC__MAX_TOKEN + 16];
    size_t n = 0;
    bool present = rpc__md_get(&c->md, "authorization", buf, sizeof buf, &n);
    unsigned roles = c->mr->m->roles;
    if (!present)
        return roles == RPC_PUBLIC ? GRPC_STATUS_OK
                                   : rpc_fail(c, GRPC_STATUS_UNAUTHENTICATED,
                                              "missing authorization: Bearer <token> metadata");
    if (n > RPC__MAX_TOKEN)
        return rpc_fail(c, GRPC_STATUS_UNAUTHENTICATED, "authorization token too long");
    if (strncmp(buf, "Bearer ", 7) != 0)
        return rpc_fail(c, GRPC_STATUS_UNAUTHENTICATED,
                        "authorization must be \"Bearer <token>\"");
    /* The principal borrows the token for the call: keep just its bytes. */
    const char *hdr = arena_strdup(c->arena, buf);
    char why[256];
    grpc_status_code st = rpc_auth_verify(hdr + 7, &c->principal, why, sizeof why);
    if (st != GRPC_STATUS_OK)
        return rpc_fail(c, st, "%s", why);
    c->has_principal = true;
    if (roles != RPC_PUBLIC && (c->principal.role & roles) == 0)
        return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED, "role %s may not call %s",
                        rpc_role_name(c->principal.role), c->mr->m->name);
    return GRPC_STATUS_OK;
}

static void answer(rpc_call *c, int code, const ProtobufCMessage *resp)
{
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (code == GRPC_STATUS_OK && resp != NULL) {
        c->out = rpc__pack(resp);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->out;
    }
    if (code != GRPC_STATUS_OK && c->status_msg == NULL)
        c->status_msg = "internal error";
    c->status_slice = grpc_slice_from_copied_string(code == GRPC_STATUS_OK ? "" : c->status_msg);
    c->has_status_slice = true;
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)code;
    ops[n++].data.send_status_from_server.status_details = &c->status_slice;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    rpc__count(c, code);
    if (code != GRPC_STATUS_OK && code != GRPC_STATUS_NOT_FOUND)
        rpc__log_failed(c->mr != NULL ? c->mr->m->name : "?", code, c->status_msg);
    c->tag.kind = RPC__TAG_FINISH;
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->tag, NULL);
    if (e != GRPC_CALL_OK) {
        log_error("cannot answer call: error %d", e);
        rpc__call_free(c);
    }
}

/* Unpacks and checks the request, then runs the handler (caller checked). */
static int run_handler(rpc_call *c, ProtobufCMessage **resp)
{
    ProtobufCAllocator alloc = rpc__arena_allocator(c->arena);
    const char *bad = NULL;
    const ProtobufCMessage *req = rpc__unpack_checked(c->mr->m->request, c->payload, &alloc,
                                                      &bad);
    if (req == NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "malformed request: not a valid %s message",
                        c->mr->m->request->name);
    if (bad != NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "field %s is not valid UTF-8 or contains a NUL byte", bad);
    return c->mr->m->handler(c, req, resp);
}

/* The handler's (or a deferred call's) outcome, sent as the answer. */
static void end_call(rpc_call *c, int code, const ProtobufCMessage *resp)
{
    if (code < 0 || code > 16) {
        log_error("%s handler returned %d", c->mr->m->name, code);
        code = rpc_fail(c, GRPC_STATUS_INTERNAL, "internal error");
    }
    if (code == GRPC_STATUS_OK && resp == NULL)
        resp = rpc_new(c, c->mr->m->response);
    answer(c, code, resp);
}

/* The handler's part of a call handed to the expensive pool. */
static void run_expensive(rpc_call *c, void *arg)
{
    (void)arg;
    ProtobufCMessage *resp = NULL;
    int code = run_handler(c, &resp);
    if (code != RPC_ASYNC)
        end_call(c, code, resp);
}

/* An expensive method whose caller could only be told once its token was
 * checked (here, in the normal pool) still hashes in the expensive pool:
 * ahead of anonymous calls for a service identity. Returns OK when the
 * call went there, else the refusal recorded on the call. */
static int hand_to_expensive(rpc_call *c)
{
    rpc__pool *p = &c->srv->pools[RPC__POOL_EXPENSIVE];
    c->resume = run_expensive;
    c->resume_arg = NULL;
    if (rpc__pool_admit(p, c, rpc_has_role(c, RPC_ROLE_SERVICE)))
        return GRPC_STATUS_OK;
    c->resume = NULL;
    return rpc_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
                    "server busy: %zu calls already wait in the %s pool; retry later",
                    p->max_queued, p->name);
}

void rpc__call_run(rpc_call *c)
{
    c->start_us = mono_us();
    set_request_id(c);
    if (gpr_time_cmp(c->deadline, gpr_inf_future(c->deadline.clock_type)) == 0) {
        int ms = c->mr->m->deadline_ms > 0 ? c->mr->m->deadline_ms : 5000;
        c->deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                   gpr_time_from_millis(ms, GPR_TIMESPAN));
    }
    ProtobufCMessage *resp = NULL;
    int code = authenticate(c);
    if (code == GRPC_STATUS_OK && c->mr->m->cls == RPC_CLASS_EXPENSIVE && c->srv != NULL &&
        c->pool != &c->srv->pools[RPC__POOL_EXPENSIVE]) {
        code = hand_to_expensive(c);
        if (code == GRPC_STATUS_OK) {
            log_set_request_id(NULL);
            return;
        }
    }
    if (code == GRPC_STATUS_OK)
        code = run_handler(c, &resp);
    if (code != RPC_ASYNC) /* else a stream or a deferred answer owns the call */
        end_call(c, code, resp);
    log_set_request_id(NULL);
}

void rpc__call_refuse(rpc_call *c, int code, const char *fmt, ...)
{
    c->start_us = mono_us();
    set_request_id(c);
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->status_msg = arena_strdup(c->arena, buf);
    answer(c, code, NULL);
    log_set_request_id(NULL);
}

void rpc_complete(rpc_call *c, int code, const ProtobufCMessage *resp)
{
    log_set_request_id(c->request_id);
    end_call(c, code, resp);
    log_set_request_id(NULL);
}

void rpc_resume(rpc_call *c, void (*fn)(rpc_call *c, void *arg), void *arg)
{
    c->resume = fn;
    c->resume_arg = arg;
    rpc__pool_resume(rpc__pool_for_resume(c), c);
}

void rpc__call_resume(rpc_call *c)
{
    void (*fn)(rpc_call *, void *) = c->resume;
    c->resume = NULL;
    log_set_request_id(c->request_id);
    fn(c, c->resume_arg);
    log_set_request_id(NULL);
}

void rpc__answer_unknown(rpc_call *c)
{
    c->start_us = mono_us();
    set_request_id(c);
    char *name = arena_strndup(c->arena, (const char *)GRPC_SLICE_START_PTR(c->details.method),
                               GRPC_SLICE_LENGTH(c->details.method));
    rpc_fail(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method %s", name);
    answer(c, GRPC_STATUS_UNIMPLEMENTED, NULL);
    log_set_request_id(NULL);
}
