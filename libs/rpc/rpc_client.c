/*
 * gRPC client calls between Gavel daemons. One channel per target for the
 * life of the process (channels multiplex and reconnect by themselves).
 * Each call uses its own pluck queue, so any thread can call without a
 * shared loop. UNAVAILABLE on an idempotent call is retried, with
 * jittered exponential backoff inside the caller's overall deadline: a
 * non-idempotent call might have happened, and is the caller's to resolve
 * (with its idempotency key). A call that was never sent (the channel had
 * no connection to pick: "failed to connect to all addresses") is retried
 * whatever its kind, for up to UNSENT_RETRY_MS: a first connection attempt
 * can fail on a loaded machine, and a peer restarts in about a second. A
 * method is a declared constant (rpc_client_method): a request of another
 * type is refused before it is sent, and the answer is unpacked as the
 * method's response type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>

#include "rpc/rpc_int.h"
#include "rpc/rpc_client_int.h"

struct rpc_channel {
    char *target;
    grpc_channel *ch;
    struct rpc_channel *next;
};

static pthread_mutex_t channels_mu = PTHREAD_MUTEX_INITIALIZER;
static rpc_channel *channels;

rpc_channel *rpc_channel_get(const char *target)
{
    pthread_mutex_lock(&channels_mu);
    rpc_channel *c = channels;
    while (c != NULL && strcmp(c->target, target) != 0)
        c = c->next;
    if (c == NULL) {
        rpc_grpc_init();
        c = xcalloc(1, sizeof *c);
        c->target = xstrdup(target);
        grpc_channel_credentials *creds = grpc_insecure_credentials_create();
        /* Peers are our own daemons, restarted in about a second: reconnect
         * within a second too, not after gRPC's default backoff of up to
         * two minutes, which would outlast every caller's deadline. The
         * "min reconnect backoff" is in fact how long one attempt may take
         * to connect and exchange HTTP/2 settings: a busy peer (or TLS
         * over a real network) needs more than a tenth of a second, and a
         * call waits for the attempt only within its own deadline. */
        grpc_arg opts[] = {
            { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              .value.integer = 100 },
            { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              .value.integer = 5000 },
            { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              .value.integer = 1000 },
            { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_HPACK_TABLE_SIZE_ENCODER,
              .value.integer = RPC_HPACK_TABLE_BYTES },
            /* last: only for a list of addresses (below) */
            { .type = GRPC_ARG_STRING, .key = GRPC_ARG_LB_POLICY_NAME,
              .value.string = (char *)"round_robin" },
        };
        grpc_channel_args args = { .num_args = sizeof opts / sizeof *opts - 1, .args = opts };
        /* Several instances of a stateless service ("a:p,b:q"): one
         * channel balancing round robin over all that are up. */
        char list[1024];
        const char *dial = target;
        int spread = rpc__target_list(target, list, sizeof list);
        if (spread == 1) {
            dial = list;
            args.num_args++;
        } else if (spread < 0) {
            log_error("rpc: \"%.200s\" is not a list of IPv4 host:port; its calls will fail",
                      target);
        }
        c->ch = grpc_channel_create(dial, creds, &args);
        grpc_channel_credentials_release(creds);
        c->next = channels;
        channels = c;
    }
    pthread_mutex_unlock(&channels_mu);
    return c;
}

grpc_channel *rpc__channel_raw(rpc_channel *ch)
{
    return ch->ch;
}

void rpc__client_md(rpc__client_md_set *m, const rpc_call_opts *o)
{
    memset(m, 0, sizeof *m);
    if (o != NULL && o->token != NULL) {
        snprintf(m->auth, sizeof m->auth, "Bearer %s", o->token);
        m->md[m->n].key = grpc_slice_from_static_string("authorization");
        m->md[m->n++].value = grpc_slice_from_static_string(m->auth);
    }
    const char *rid = (o != NULL && o->request_id != NULL) ? o->request_id : log_request_id();
    if (rid != NULL && rid[0] != '\0') {
        snprintf(m->rid, sizeof m->rid, "%s", rid);
        m->md[m->n].key = grpc_slice_from_static_string("x-request-id");
        m->md[m->n++].value = grpc_slice_from_static_string(m->rid);
    }
    if (o != NULL && o->client_addr != NULL && o->client_addr[0] != '\0') {
        snprintf(m->addr, sizeof m->addr, "%s", o->client_addr);
        m->md[m->n].key = grpc_slice_from_static_string("x-client-addr");
        m->md[m->n++].value = grpc_slice_from_static_string(m->addr);
    }
}

gpr_timespec rpc__deadline(const rpc_call_opts *o)
{
    int ms = (o != NULL && o->deadline_ms > 0) ? o->deadline_ms : 5000;
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

void rpc__drain_destroy(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
               .type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
}

void rpc__copy_details(grpc_slice details, char *err, size_t errlen)
{
    if (err == NULL || errlen == 0)
        return;
    size_t n = GRPC_SLICE_LENGTH(details);
    if (n >= errlen)
        n = errlen - 1;
    memcpy(err, GRPC_SLICE_START_PTR(details), n);
    err[n] = '\0';
}

void rpc__unary_ops(grpc_op ops[RPC__UNARY_OPS], const rpc__client_md_set *md,
                    grpc_byte_buffer *req, rpc__unary_result *out)
{
    memset(ops, 0, RPC__UNARY_OPS * sizeof *ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = md->n;
    ops[0].data.send_initial_metadata.metadata = (grpc_metadata *)md->md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &out->init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &out->resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &out->trail_md;
    ops[5].data.recv_status_on_client.status = &out->status;
    ops[5].data.recv_status_on_client.status_details = &out->details;
}

void rpc__unary_result_init(rpc__unary_result *out)
{
    out->status = GRPC_STATUS_UNKNOWN;
    out->resp = NULL;
    out->details = grpc_empty_slice();
    grpc_metadata_array_init(&out->init_md);
    grpc_metadata_array_init(&out->trail_md);
}

void rpc__unary_result_clear(rpc__unary_result *out)
{
    grpc_slice_unref(out->details);
    out->details = grpc_empty_slice();
    grpc_metadata_array_destroy(&out->init_md);
    grpc_metadata_array_destroy(&out->trail_md);
}

typedef struct {
    grpc_status_code status;
    grpc_byte_buffer *resp;
} attempt_result;

static attempt_result attempt(rpc_channel *ch, const char *method, grpc_byte_buffer *req,
                              const rpc__client_md_set *md, gpr_timespec deadline,
                              char *err, size_t errlen)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice m = grpc_slice_from_static_string(method);
    grpc_call *call = grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m,
                                               NULL, deadline, NULL);
    rpc__unary_result out;
    rpc__unary_result_init(&out);
    grpc_op ops[RPC__UNARY_OPS];
    rpc__unary_ops(ops, md, req, &out);
    if (grpc_call_start_batch(call, ops, RPC__UNARY_OPS, (void *)1, NULL) == GRPC_CALL_OK) {
        grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        rpc__copy_details(out.details, err, errlen);
    } else {
        out.status = GRPC_STATUS_INTERNAL;
        snprintf(err, errlen, "cannot start call %s", method);
    }
    rpc__unary_result_clear(&out);
    grpc_call_unref(call);
    rpc__drain_destroy(cq);
    return (attempt_result){ out.status, out.resp };
}

/* How long a call that never left keeps being tried (within its deadline). */
#define UNSENT_RETRY_MS 1000
#define UNSENT_PREFIX "failed to connect to all addresses"

/* True when the attempt failed at the channel's pick, before anything was
 * sent: while no connection is ready, gRPC's pick_first and round_robin
 * fail a call at once with this message. */
static bool never_sent(grpc_status_code st, const char *why)
{
    return st == GRPC_STATUS_UNAVAILABLE &&
           strncmp(why, UNSENT_PREFIX, sizeof UNSENT_PREFIX - 1) == 0;
}

int64_t rpc__backoff_ms(int attempt_no, gpr_timespec deadline)
{
    int64_t base_ms = 20LL << (attempt_no < 6 ? attempt_no : 6);
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = 0;
    int64_t ms = base_ms / 2 + (int64_t)(rnd % (uint32_t)base_ms);
    gpr_timespec left = gpr_time_sub(deadline, gpr_now(GPR_CLOCK_REALTIME));
    int64_t left_ms = left.tv_sec * 1000 + left.tv_nsec / 1000000;
    if (ms > left_ms)
        ms = left_ms > 0 ? left_ms : 0;
    return ms;
}

bool rpc__should_retry(grpc_status_code st, const char *why, bool idempotent,
                       gpr_timespec unsent_until, gpr_timespec deadline)
{
    if (st != GRPC_STATUS_UNAVAILABLE)
        return false;
    gpr_timespec now = gpr_now(GPR_CLOCK_REALTIME);
    if (!idempotent && !(never_sent(st, why) && gpr_time_cmp(now, unsent_until) < 0))
        return false;
    return gpr_time_cmp(now, deadline) < 0;
}

gpr_timespec rpc__unsent_until(void)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                        gpr_time_from_millis(UNSENT_RETRY_MS, GPR_TIMESPAN));
}

int rpc__client_check_request(const rpc_client_method *m, const ProtobufCMessage *req,
                              char *err, size_t errlen)
{
    if (req != NULL && req->descriptor == m->request)
        return 0;
    snprintf(err, errlen, "%s takes a %s, not a %s", m->name, m->request->name,
             req != NULL ? req->descriptor->name : "missing request");
    log_error("client call refused: %s", err);
    return -1;
}

grpc_status_code rpc_unary(rpc_channel *ch, const rpc_client_method *m,
                           const ProtobufCMessage *req, ProtobufCMessage **resp,
                           const rpc_call_opts *opts, char *err, size_t errlen)
{
    *resp = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (rpc__client_check_request(m, req, err, errlen) < 0)
        return GRPC_STATUS_INTERNAL;
    const char *method = m->name;
    const ProtobufCMessageDescriptor *resp_desc = m->response;
    rpc__client_md_set md;
    rpc__client_md(&md, opts);
    gpr_timespec deadline = rpc__deadline(opts);
    grpc_byte_buffer *bb = rpc__pack(req);
    attempt_result r = { GRPC_STATUS_UNKNOWN, NULL };
    bool idempotent = opts != NULL && opts->idempotent;
    gpr_timespec unsent_until = rpc__unsent_until();
    char why[256];
    for (int n = 0;; n++) {
        /* A sent buffer is consumed: every attempt needs its own copy. */
        grpc_byte_buffer *copy = grpc_byte_buffer_copy(bb);
        r = attempt(ch, method, copy, &md, deadline, why, sizeof why);
        grpc_byte_buffer_destroy(copy);
        if (!rpc__should_retry(r.status, why, idempotent, unsent_until, deadline))
            break;
        if (r.resp != NULL)
            grpc_byte_buffer_destroy(r.resp);
        r.resp = NULL;
        int64_t ms = rpc__backoff_ms(n, deadline);
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    grpc_byte_buffer_destroy(bb);
    if (r.status != GRPC_STATUS_OK && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    if (r.status == GRPC_STATUS_OK) {
        *resp = rpc__unpack(resp_desc, r.resp, NULL);
        if (*resp == NULL) {
            r.status = GRPC_STATUS_INTERNAL;
            snprintf(err, errlen, "malformed %s response from %s", resp_desc->name, method);
        }
    }
    if (r.resp != NULL)
        grpc_byte_buffer_destroy(r.resp);
    return r.status;
}
