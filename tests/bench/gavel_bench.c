/*
 * gavel-bench: load generator for `make bench`. C because a Python client
 * cannot drive more than ~10k calls/s here (MEASURED.md).
 *
 *   gavel-bench ping TARGET CONCURRENCY SECONDS [METHOD]
 *       keeps CONCURRENCY Ping calls in flight on one completion queue
 *       (one client thread, like the figures in MEASURED.md)
 *   gavel-bench open / place: the bids engine, see bench_bids.c
 *   gavel-bench reserve TARGET CLIENTS SECONDS USER_ID[,USER_ID…] [BATCH]
 *       CLIENTS threads, each a bidder wallet, each doing ReserveFunds of
 *       1 minor unit back to back with the service identity
 *       (GAVEL_SERVICE_KEY); with BATCH, each call is a ReserveFundsBatch
 *       of BATCH such reservations, and items_per_s=… follows
 *
 *   gavel-bench login-flood: anonymous wrong-password logins, see bench_flood.c
 *   gavel-bench getlot: Auctions/GetLot under load, see bench_rest.c
 *   gavel-bench ws / ws-idle: WebSocket fan-out, see bench_ws.c
 *   gavel-bench search / suggest: the search daemon, see bench_search.c
 *   gavel-bench notif-skip / notif-listen: the notifications section, see
 *       bench_notif.c
 *
 * Prints one line: calls=… errors=… seconds=… rps=… p50_ms=… p99_ms=… p999_ms=…
 * The first second is a warm-up and is not counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer.h>

#include "rpc/rpc.h"
#include "gavel/common/v1/common.pb-c.h"
#include "gavel/users/v1/users.pb-c.h"



#include "bench.h"

static const rpc_client_method wallet_reserve_funds = {
    "/gavel.users.v1.Wallet/ReserveFunds", &gavel__users__v1__wallet__descriptor,
    &gavel__users__v1__reserve_funds_request__descriptor,
    &gavel__users__v1__reserve_funds_response__descriptor
};
static const rpc_client_method wallet_reserve_funds_batch = {
    "/gavel.users.v1.Wallet/ReserveFundsBatch", &gavel__users__v1__wallet__descriptor,
    &gavel__users__v1__reserve_funds_batch_request__descriptor,
    &gavel__users__v1__reserve_funds_batch_response__descriptor
};

void sample_add(samples *s, int64_t us)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 65536;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = us;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void sample_call(samples *s, int64_t t0, int64_t t1, int64_t from, int64_t end, int status,
                 const char *what, const char *err)
{
    if (t0 < from || t1 > end)
        return;
    if (status == GRPC_STATUS_OK)
        sample_add(s, t1 - t0);
    else if (s->errors++ == 0)
        fprintf(stderr, "%s: status %d: %s\n", what, status, err);
}

char *bench_service_token(void)
{
    char *token = rpc_auth_init() == 0 ? rpc_service_token() : NULL;
    if (token == NULL)
        fprintf(stderr, "GAVEL_SERVICE_KEY is needed to mint a service token\n");
    return token;
}

void samples_merge(samples *into, samples *from)
{
    for (size_t k = 0; k < from->n; k++)
        sample_add(into, from->v[k]);
    into->errors += from->errors;
    free(from->v);
    *from = (samples){ 0 };
}

double sample_quantile_ms(samples *s, double p)
{
    if (s->n == 0)
        return 0;
    qsort(s->v, s->n, sizeof *s->v, cmp_i64);
    return (double)s->v[(size_t)(p * (double)(s->n - 1))] / 1000.0;
}

void report(samples *s, double seconds)
{
    double p[3] = { 0.50, 0.99, 0.999 };
    double ms[3] = { 0 };
    for (int i = 0; i < 3; i++)
        ms[i] = sample_quantile_ms(s, p[i]);
    printf("calls=%zu errors=%lld seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f\n",
           s->n, (long long)s->errors, seconds, (double)s->n / seconds, ms[0], ms[1], ms[2]);
}

void bench_call_start(bench_call *c, grpc_channel *ch, grpc_completion_queue *cq,
                      const char *method, grpc_byte_buffer *req, grpc_metadata *md, size_t nmd,
                      gpr_timespec deadline, void *tag)
{
    memset(c, 0, sizeof *c);
    c->req = req;
    c->details = grpc_empty_slice();
    grpc_metadata_array_init(&c->init_md);
    grpc_metadata_array_init(&c->trail_md);
    c->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                       grpc_slice_from_static_string(method), NULL, deadline,
                                       NULL);
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c->resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->trail_md;
    if (grpc_call_start_batch(c->call, ops, 6, tag, NULL) != GRPC_CALL_OK)
        panic("cannot start a call to %s", method);
}

void bench_call_end(bench_call *c)
{
    grpc_call_unref(c->call);
    grpc_byte_buffer_destroy(c->req);
    if (c->resp != NULL)
        grpc_byte_buffer_destroy(c->resp);
    grpc_metadata_array_destroy(&c->init_md);
    grpc_metadata_array_destroy(&c->trail_md);
    grpc_slice_unref(c->details);
}

/* ---- ping and other unary calls: many in flight on one completion queue ---- */

static const char *ping_method = "/gavel.users.v1.Users/Ping";

typedef struct {
    bench_call c;
    int64_t t0;
} unary_slot;

typedef struct {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    const char *method;
    grpc_byte_buffer *req;
    grpc_metadata *md;
    size_t nmd;
} unary_load;

static void unary_start(const unary_load *u, unary_slot *s)
{
    s->t0 = mono_us();
    bench_call_start(&s->c, u->ch, u->cq, u->method, grpc_byte_buffer_copy(u->req), u->md,
                     u->nmd, gpr_inf_future(GPR_CLOCK_REALTIME), s);
}

int run_unary_load(const char *target, const char *method, const ProtobufCMessage *msg,
                   grpc_metadata *md, size_t nmd, int conc, int seconds)
{
    rpc_grpc_init();
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    unary_load u = { .ch = grpc_channel_create(target, cr, NULL), .method = method, .md = md,
                     .nmd = nmd };
    grpc_channel_credentials_release(cr);
    u.cq = grpc_completion_queue_create_for_next(NULL);
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = xmalloc(n + 1);
    protobuf_c_message_pack(msg, buf);
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)buf, n);
    free(buf);
    u.req = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    unary_slot *slots = xcalloc((size_t)conc, sizeof *slots);
    int64_t start = mono_us(), measure_from = start + WARMUP_US;
    int64_t end = measure_from + (int64_t)seconds * 1000000;
    for (int i = 0; i < conc; i++)
        unary_start(&u, &slots[i]);
    samples s = { 0 };
    int inflight = conc;
    while (inflight > 0) {
        grpc_event ev = grpc_completion_queue_next(u.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        unary_slot *sl2 = ev.tag;
        int64_t now = mono_us();
        if (sl2->t0 >= measure_from && now <= end) {
            if (ev.success && sl2->c.status == GRPC_STATUS_OK)
                sample_add(&s, now - sl2->t0);
            else if (s.errors++ == 0)
                fprintf(stderr, "%s: status %d\n", method, ev.success ? sl2->c.status : -1);
        }
        bench_call_end(&sl2->c);
        if (now < end)
            unary_start(&u, sl2);
        else
            inflight--;
    }
    report(&s, (double)seconds);
    grpc_byte_buffer_destroy(u.req);
    grpc_completion_queue_shutdown(u.cq);
    while (grpc_completion_queue_next(u.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(u.cq);
    grpc_channel_destroy(u.ch);
    free(slots);
    free(s.v);
    return 0;
}

static int run_ping(const char *target, int conc, int seconds)
{
    Gavel__Common__V1__PingRequest pr = GAVEL__COMMON__V1__PING_REQUEST__INIT;
    return run_unary_load(target, ping_method, &pr.base, NULL, 0, conc, seconds);
}

/* ---- reserve: blocking clients, one wallet each ---- */

typedef struct {
    pthread_t tid;
    int index;
    int64_t user_id;
    const char *target;
    const char *token;
    int64_t measure_from, end;
    unsigned nonce;
    int batch; /* items per ReserveFundsBatch; 0: single ReserveFunds calls */
    samples s;
} reserve_client;

/* One ReserveFunds, or with c->batch one ReserveFundsBatch of c->batch
 * items over the client's wallet. Returns the status; err says why. */
static grpc_status_code reserve_once(reserve_client *c, rpc_channel *ch, long k, char *err,
                                     size_t errlen)
{
    enum { MAX_BATCH = 256 };
    Gavel__Common__V1__Money amt = GAVEL__COMMON__V1__MONEY__INIT;
    amt.currency = "RUB";
    amt.units = 1;
    int n = c->batch > 0 ? c->batch : 1;
    char keys[MAX_BATCH][96];
    Gavel__Users__V1__ReserveFundsRequest items[MAX_BATCH], *ptrs[MAX_BATCH];
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "bench-%u-%d-%ld-%d", c->nonce, c->index, k, i);
        gavel__users__v1__reserve_funds_request__init(&items[i]);
        items[i].idempotency_key = keys[i];
        items[i].user_id = c->user_id;
        items[i].lot_id = 1;
        items[i].amount = &amt;
        ptrs[i] = &items[i];
    }
    rpc_call_opts o = { .token = c->token, .deadline_ms = 5000 };
    ProtobufCMessage *resp = NULL;
    grpc_status_code st;
    if (c->batch == 0) {
        st = rpc_unary(ch, &wallet_reserve_funds, &items[0].base, &resp, &o, err, errlen);
    } else {
        Gavel__Users__V1__ReserveFundsBatchRequest req =
            GAVEL__USERS__V1__RESERVE_FUNDS_BATCH_REQUEST__INIT;
        req.n_items = (size_t)n;
        req.items = ptrs;
        st = rpc_unary(ch, &wallet_reserve_funds_batch, &req.base, &resp, &o, err, errlen);
        const Gavel__Users__V1__ReserveFundsBatchResponse *r = (const void *)resp;
        for (size_t i = 0; st == GRPC_STATUS_OK && i < r->n_results; i++)
            if (r->results[i]->status != NULL && r->results[i]->status->code != 0) {
                snprintf(err, errlen, "item %zu: %s", i, r->results[i]->status->message);
                st = (grpc_status_code)r->results[i]->status->code;
            }
    }
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st;
}

static void *reserve_main(void *arg)
{
    reserve_client *c = arg;
    rpc_channel *ch = rpc_channel_get(c->target);
    for (long k = 0;; k++) {
        int64_t t0 = mono_us();
        if (t0 >= c->end)
            break;
        char err[256];
        grpc_status_code st = reserve_once(c, ch, k, err, sizeof err);
        sample_call(&c->s, t0, mono_us(), c->measure_from, c->end, st,
                    c->batch ? "ReserveFundsBatch" : "ReserveFunds", err);
    }
    return NULL;
}

static int run_reserve(const char *target, int clients, int seconds, const char *ids, int batch)
{
    char *token = bench_service_token();
    if (token == NULL)
        return 1;
    reserve_client *cs = xcalloc((size_t)clients, sizeof *cs);
    int64_t start = mono_us();
    const char *p = ids;
    unsigned nonce = (unsigned)(now_us() & 0xffffffff);
    for (int i = 0; i < clients; i++) {
        cs[i] = (reserve_client){ .index = i, .target = target, .token = token,
                                  .measure_from = start + WARMUP_US,
                                  .end = start + WARMUP_US + (int64_t)seconds * 1000000,
                                  .nonce = nonce, .batch = batch };
        char *endp = NULL;
        cs[i].user_id = strtoll(p, &endp, 10);
        p = (*endp == ',') ? endp + 1 : ids; /* fewer ids than clients: wrap around */
        if (pthread_create(&cs[i].tid, NULL, reserve_main, &cs[i]) != 0)
            panic("cannot start a client thread");
    }
    samples all = { 0 };
    for (int i = 0; i < clients; i++) {
        pthread_join(cs[i].tid, NULL);
        samples_merge(&all, &cs[i].s);
    }
    report(&all, (double)seconds);
    if (batch > 0)
        printf("items_per_s=%.0f\n", (double)all.n * batch / seconds);
    free(all.v);
    free(cs);
    free(token);
    return 0;
}

int arg_int(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 1 || v > 100000) {
        fprintf(stderr, "not a count: %s\n", s);
        exit(2);
    }
    return (int)v;
}

/* Every method the load generator calls through rpc_unary, checked against
 * its service descriptor before anything runs. */
static const rpc_client_method *const calls[] = {
    &wallet_reserve_funds, &wallet_reserve_funds_batch, &bench_open_lot, &bench_quote_services,
    &bench_search_call, &bench_suggest_call, NULL
};

int main(int argc, char **argv)
{
    log_init("bench", LOG_WARN);
    for (const rpc_client_method *const *m = calls; *m != NULL; m++) {
        char err[256];
        if (rpc_client_method_check(*m, err, sizeof err) < 0) {
            fprintf(stderr, "gavel-bench: %s\n", err);
            return 2;
        }
    }
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "ping") == 0) {
        if (argc == 6)
            ping_method = argv[5];
        return run_ping(argv[2], arg_int(argv[3]), arg_int(argv[4]));
    }
    if (argc >= 2 && (strcmp(argv[1], "open") == 0 || strncmp(argv[1], "place", 5) == 0))
        return run_bids(argc, argv);
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "reserve") == 0) {
        int batch = argc == 7 ? arg_int(argv[6]) : 0;
        if (batch > 256) {
            fprintf(stderr, "a batch holds at most 256 items\n");
            return 2;
        }
        return run_reserve(argv[2], arg_int(argv[3]), arg_int(argv[4]), argv[5], batch);
    }
    if (argc >= 2 && strncmp(argv[1], "quote", 5) == 0)
        return run_quote(argc, argv);
    if (argc >= 2 && (strcmp(argv[1], "search") == 0 || strcmp(argv[1], "suggest") == 0))
        return run_search(argc, argv);
    if (argc >= 2 && strncmp(argv[1], "ws", 2) == 0)
        return run_ws(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "getlot") == 0)
        return run_rest(argc, argv);
    if (argc >= 2 && strncmp(argv[1], "notif-", 6) == 0)
        return run_notif(argc, argv);
    if (argc == 5 && strcmp(argv[1], "login-flood") == 0)
        return run_login_flood(argv[2], arg_int(argv[3]), arg_int(argv[4]));
    fprintf(stderr, "usage: gavel-bench ping TARGET CONCURRENCY SECONDS [METHOD]\n"
                    "       gavel-bench open TARGET FIRST_LOT COUNT SELLER_ID\n"
                    "       gavel-bench place TARGET THREADS SECONDS TOKENS FIRST_LOT COUNT [RATE]\n"
                    "       gavel-bench place-stale TARGET THREADS SECONDS TOKENS FIRST_LOT COUNT\n"
                    "       gavel-bench reserve TARGET CLIENTS SECONDS USER_ID[,USER_ID...] [BATCH]\n"
                    "       gavel-bench login-flood TARGET CONCURRENCY SECONDS\n"
                    "       gavel-bench getlot TARGET CONCURRENCY SECONDS TOKEN LOT_ID\n"
                    "       gavel-bench ws HOST:PORT CLIENTS FIRST_LOT LOTS SECONDS BIDS_TARGET"
                    " TOKENS BIDDERS [RATE]\n"
                    "       gavel-bench ws-idle HOST:PORT CLIENTS LOT SERVER_PID\n"
                    "       gavel-bench quote TARGET THREADS SECONDS\n"
                    "       gavel-bench quote-sql DSN THREADS SECONDS one|split CODES\n"
                    "       gavel-bench quote-plan DSN CODES\n"
                    "       gavel-bench search|suggest TARGET CLIENTS SECONDS\n"
                    "       gavel-bench notif-skip BOOTSTRAP GROUP TOPIC[,TOPIC...]\n"
                    "       gavel-bench notif-listen REDIS_ADDR MAX_SECONDS IDLE_MS READY_FILE\n"
                    "open and place take several bids instances as TARGET a,b,...: lot n"
                    " goes to the n %% count-th\n");
    return 2;
}
