/*
 * WebSocket fan-out under load: thousands of clients of protocol
 * "gavel.v1" on path /ws from one process (libwebsockets on a libuv loop),
 * and a bidding thread driving the lots they watch.
 *
 *   gavel-bench ws HOST:PORT CLIENTS FIRST_LOT LOTS SECONDS BIDS_TARGET TOKENS BIDDERS [RATE]
 *       CLIENTS sockets, socket i subscribed to lot FIRST_LOT + i % LOTS
 *       ({"type":"subscribe","id":"s1","lots":["<id>"]}); once every socket
 *       has its lot_snapshot, BIDDERS bidders (gavel-bench place, TOKENS)
 *       bid on those lots for SECONDS after a warm-up second, back to back
 *       or RATE bids/s in all. Counts every frame received in the measured
 *       window (delivered); one socket in 20 of each lot also reads its frames
 *       (jansson) and times each bid from its PlaceBid answer (the bidding
 *       thread's monotonic clock) to the first lot_update whose seq covers
 *       it on that socket. Frames still arriving up to 3 s after the
 *       window are timed too; bids never seen by then are "missing", and
 *       count as later than any seen in the quantiles ("inf" when the
 *       quantile falls among them).
 *   gavel-bench ws-idle HOST:PORT CLIENTS LOT PID
 *       CLIENTS sockets subscribed to LOT and then idle; the server's RSS
 *       (process PID, /proc) before connecting and 2 s after the last
 *       snapshot, and the difference per socket.
 *
 * Prints the bidding thread's lines (gavel-bench place), then one line of
 * key=value figures.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <uv.h>

#include "bench.h"

#define CONNECTING_MAX 200       /* handshakes in flight at once */
#define DRAIN_US 3000000LL       /* frames timed after the window */
#define READY_TIMEOUT_US 90000000LL
#define IDLE_SETTLE_US 2000000LL
#define SUBSCRIBE_MAX 128

typedef struct {
    int64_t lot_idx, from_seq, to_seq, recv_us;
} frame_rec;

typedef struct {
    int64_t *at;                 /* ack time by seq; 0: none */
    size_t cap;
} ack_log;

typedef struct {
    struct lws *wsi;
    int64_t lot_idx;
    bool measuring, is_ready, is_sent;
    int64_t last_seq;
    char *buf;                   /* the message being assembled */
    size_t len, cap;
} ws_client;

static struct {
    uv_loop_t loop;
    uv_timer_t tick;
    struct lws_context *ctx;
    char host[128];
    int port;
    ws_client *cs;
    int n, started, connecting, established, failed, ready, closed;
    int64_t first_lot, nlots;
    bool idle;                   /* ws-idle: no bids, read the RSS */
    long idle_pid;
    long rss_before_kb, rss_after_kb;
    int64_t t_start, t_ready;
    /* the bidding */
    const char *bids_target;
    char **tokens;
    int ntok, bidders, seconds;
    int64_t rate;
    pthread_t driver;
    bool is_driving, is_stopping;
    int64_t measure_from, end, stop_at;
    ack_log *acks;               /* written by the bidding thread only, read after it ends */
    int64_t delivered;           /* frames in the window, every socket */
    frame_rec *recs;
    size_t nrec, caprec;
    int64_t parse_errors;
} W;

static void on_ack(void *arg, int64_t lot_idx, int64_t seq, int64_t last_seq, int64_t now)
{
    (void)arg;
    if (lot_idx < 0 || lot_idx >= W.nlots || seq < 1 || last_seq < seq)
        return;
    ack_log *a = &W.acks[lot_idx];
    if ((size_t)last_seq >= a->cap) {
        size_t cap = a->cap ? a->cap : 1024;
        while (cap <= (size_t)last_seq)
            cap *= 2;
        a->at = xrealloc(a->at, cap * sizeof *a->at);
        memset(a->at + a->cap, 0, (cap - a->cap) * sizeof *a->at);
        a->cap = cap;
    }
    for (int64_t s = seq; s <= last_seq; s++)
        if (a->at[s] == 0)
            a->at[s] = now;
}

static void *driver_main(void *arg)
{
    (void)arg;
    run_place_async_acks(W.bids_target, W.bidders, W.seconds, W.tokens, W.ntok, W.first_lot,
                         W.nlots, W.rate, false, on_ack, NULL);
    fflush(stdout);
    return NULL;
}

static long rss_kb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static void connect_one(int i)
{
    ws_client *c = &W.cs[i];
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = W.ctx;
    ci.address = W.host;
    ci.port = W.port;
    ci.path = "/ws";
    ci.host = W.host;
    ci.origin = W.host;
    ci.protocol = "gavel.v1";
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    W.connecting++;
    if (lws_client_connect_via_info(&ci) == NULL) {
        W.connecting--;
        W.failed++;
    }
}

static void record(int64_t lot_idx, int64_t from, int64_t to, int64_t now)
{
    if (W.nrec == W.caprec) {
        W.caprec = W.caprec ? 2 * W.caprec : 65536;
        W.recs = xrealloc(W.recs, W.caprec * sizeof *W.recs);
    }
    W.recs[W.nrec++] = (frame_rec){ lot_idx, from, to, now };
}

static int64_t json_int64(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? strtoll(s, NULL, 10) : -1;
}

/* A whole message of c, read: the snapshot makes it ready, an update
 * covering new seqs is recorded. */
static void on_message(ws_client *c, int64_t now)
{
    json_error_t jerr;
    json_t *j = json_loadb(c->buf, c->len, 0, &jerr);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (type == NULL) {
        if (W.parse_errors++ == 0)
            fprintf(stderr, "ws: a frame without a type: %.*s\n", (int)(c->len < 200 ? c->len : 200),
                    c->buf);
        json_decref(j);
        return;
    }
    int64_t seq = json_int64(j, "seq");
    if (strcmp(type, "lot_snapshot") == 0 && !c->is_ready) {
        c->last_seq = seq > 0 ? seq : 0;
        c->is_ready = true;
        W.ready++;
    } else if (strcmp(type, "lot_update") == 0 && c->is_ready && seq > c->last_seq) {
        if (c->measuring)
            record(c->lot_idx, c->last_seq + 1, seq, now);
        c->last_seq = seq;
    }
    json_decref(j);
}

static void append(ws_client *c, const void *in, size_t len)
{
    if (c->len + len > c->cap) {
        c->cap = (c->len + len) * 2;
        c->buf = xrealloc(c->buf, c->cap);
    }
    memcpy(c->buf + c->len, in, len);
    c->len += len;
}

static int send_subscribe(struct lws *wsi, ws_client *c)
{
    unsigned char buf[LWS_PRE + SUBSCRIBE_MAX];
    int n = snprintf((char *)buf + LWS_PRE, SUBSCRIBE_MAX,
                     "{\"type\":\"subscribe\",\"id\":\"s1\",\"lots\":[\"%lld\"]}",
                     (long long)(W.first_lot + c->lot_idx));
    c->is_sent = true;
    return lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n ? -1 : 0;
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    ws_client *c = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        W.connecting--;
        W.established++;
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        W.connecting--;
        if (W.failed++ == 0)
            fprintf(stderr, "ws: cannot connect: %s\n", in ? (const char *)in : "?");
        if (c != NULL)
            c->wsi = NULL;
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return c != NULL && !c->is_sent ? send_subscribe(wsi, c) : 0;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        if (c == NULL)
            return 0;
        bool parse = !c->is_ready || c->measuring;
        if (parse)
            append(c, in, len);
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
            return 0;
        int64_t now = mono_us();
        if (c->is_ready && W.is_driving && now >= W.measure_from && now < W.end)
            W.delivered++;
        if (parse)
            on_message(c, now);
        c->len = 0;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        W.closed += !W.is_stopping;
        if (c != NULL)
            c->wsi = NULL;
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    { "gavel.v1", ws_cb, 0, 4096, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void stop(void)
{
    W.is_stopping = true;
    uv_timer_stop(&W.tick);
    uv_close((uv_handle_t *)&W.tick, NULL);
    lws_context_destroy(W.ctx);
}

static void start_driving(int64_t now)
{
    W.t_ready = now;
    /* the bidding thread's window: its own warm-up second, then SECONDS */
    W.measure_from = now + WARMUP_US;
    W.end = W.measure_from + (int64_t)W.seconds * 1000000;
    W.stop_at = W.end + DRAIN_US;
    W.is_driving = true;
    if (pthread_create(&W.driver, NULL, driver_main, NULL) != 0)
        panic("cannot start the bidding thread");
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    if (W.is_stopping)
        return;
    int64_t now = mono_us();
    while (W.started < W.n && W.connecting < CONNECTING_MAX)
        connect_one(W.started++);
    bool all_in = W.started == W.n && W.connecting == 0 &&
                  W.ready >= W.established - W.closed;
    if (W.t_ready == 0 && (all_in || now - W.t_start > READY_TIMEOUT_US)) {
        if (W.idle) {
            W.t_ready = now;
            W.stop_at = now + IDLE_SETTLE_US;
        } else {
            start_driving(now);
        }
    }
    if (W.t_ready != 0 && now >= W.stop_at) {
        if (W.idle)
            W.rss_after_kb = rss_kb(W.idle_pid);
        stop();
    }
}

static void raise_nofile(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)need ? rl.rlim_max : (rlim_t)need;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < (rlim_t)need)
            fprintf(stderr, "ws: only %llu file descriptors for %d sockets\n",
                    (unsigned long long)rl.rlim_cur, need);
    }
}

/* Bid answer -> frame latencies of the measuring sockets; the bids
 * accepted in the window that a measuring socket never saw go to *missing. */
static void analyse(samples *lat, int64_t *expected, int64_t *missing)
{
    int64_t *in_window = xcalloc((size_t)W.nlots, sizeof *in_window);
    for (int64_t l = 0; l < W.nlots; l++)
        for (size_t s = 1; s < W.acks[l].cap; s++)
            in_window[l] += W.acks[l].at[s] >= W.measure_from && W.acks[l].at[s] < W.end;
    *expected = 0;
    for (int i = 0; i < W.n; i++)
        if (W.cs[i].measuring && W.cs[i].is_ready)
            *expected += in_window[W.cs[i].lot_idx];
    int64_t matched = 0;
    for (size_t k = 0; k < W.nrec; k++) {
        const frame_rec *r = &W.recs[k];
        const ack_log *a = &W.acks[r->lot_idx];
        for (int64_t s = r->from_seq; s <= r->to_seq && (size_t)s < a->cap; s++) {
            int64_t t = a->at[s];
            if (t < W.measure_from || t >= W.end)
                continue;
            sample_add(lat, r->recv_us > t ? r->recv_us - t : 0);
            matched++;
        }
    }
    *missing = *expected - matched;
    free(in_window);
}

/* The p-quantile of the expected deliveries, the missing ones counted as
 * later than any seen: "inf" when it falls among them, "-" with none. */
static void print_quantile(const char *name, samples *lat, int64_t expected, double p)
{
    size_t k = expected > 0 ? (size_t)(p * (double)(expected - 1)) : 0;
    if (expected == 0)
        printf("%s=- ", name);
    else if (k >= lat->n)
        printf("%s=inf ", name);
    else {
        sample_quantile_ms(lat, 0); /* sorts */
        printf("%s=%.3f ", name, (double)lat->v[k] / 1000.0);
    }
}

static int run(void)
{
    raise_nofile(W.n + 256);
    if (uv_loop_init(&W.loop) != 0)
        panic("cannot start a libuv loop");
    void *loops[1] = { &W.loop };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = loops;
    info.protocols = protocols;
    /* No fd_limit_per_thread: with it lws finds a socket's wsi by a linear
     * scan (a third of this client's CPU at 5,000 sockets); without it, by
     * index into a table sized from RLIMIT_NOFILE, raised above. */
    info.timeout_secs = 60;
    lws_set_log_level(LLL_ERR, NULL);
    W.ctx = lws_create_context(&info);
    if (W.ctx == NULL) {
        fprintf(stderr, "ws: cannot create the libwebsockets context\n");
        return 1;
    }
    W.cs = xcalloc((size_t)W.n, sizeof *W.cs);
    for (int i = 0; i < W.n; i++) {
        W.cs[i].lot_idx = i % W.nlots;
        W.cs[i].measuring = (i / W.nlots) % 20 == 0; /* one in 20 of each lot's sockets */
    }
    W.acks = xcalloc((size_t)W.nlots, sizeof *W.acks);
    if (W.idle)
        W.rss_before_kb = rss_kb(W.idle_pid);
    W.t_start = mono_us();
    uv_timer_init(&W.loop, &W.tick);
    uv_timer_start(&W.tick, on_tick, 1, 5);
    uv_run(&W.loop, UV_RUN_DEFAULT);
    lws_context_destroy(W.ctx);
    uv_loop_close(&W.loop);
    if (W.is_driving)
        pthread_join(W.driver, NULL);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                 ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    printf("clients=%d connected=%d failed=%d ready=%d closed_early=%d setup_s=%.1f ", W.n,
           W.established, W.failed, W.ready, W.closed,
           (double)(W.t_ready - W.t_start) / 1e6);
    if (W.idle) {
        long per = W.ready > 0 ? (W.rss_after_kb - W.rss_before_kb) * 1024 / W.ready : 0;
        printf("rss_before_kb=%ld rss_after_kb=%ld bytes_per_socket=%ld\n", W.rss_before_kb,
               W.rss_after_kb, per);
    } else {
        samples lat = { 0 };
        int64_t expected = 0, missing = 0;
        analyse(&lat, &expected, &missing);
        printf("delivered=%lld delivered_per_s=%.0f lat_samples=%zu ", (long long)W.delivered,
               (double)W.delivered / W.seconds, lat.n);
        print_quantile("lat_p50_ms", &lat, expected, 0.50);
        print_quantile("lat_p99_ms", &lat, expected, 0.99);
        print_quantile("lat_p999_ms", &lat, expected, 0.999);
        printf("expected=%lld missing=%lld parse_errors=%lld client_cpu_s=%.1f\n",
               (long long)expected, (long long)missing, (long long)W.parse_errors, cpu);
        free(lat.v);
    }
    for (int i = 0; i < W.n; i++)
        free(W.cs[i].buf);
    for (int64_t l = 0; l < W.nlots; l++)
        free(W.acks[l].at);
    free(W.acks);
    free(W.cs);
    free(W.recs);
    return W.ready > 0 ? 0 : 1;
}

static int parse_target(const char *t)
{
    const char *colon = strrchr(t, ':');
    if (colon == NULL || (size_t)(colon - t) >= sizeof W.host) {
        fprintf(stderr, "not HOST:PORT: %s\n", t);
        return -1;
    }
    memcpy(W.host, t, (size_t)(colon - t));
    W.host[colon - t] = '\0';
    W.port = arg_int(colon + 1);
    return 0;
}

int run_ws(int argc, char **argv)
{
    if (strcmp(argv[1], "ws-idle") == 0 && argc == 6) {
        if (parse_target(argv[2]) < 0)
            return 2;
        W.n = arg_int(argv[3]);
        W.first_lot = arg_i64(argv[4]);
        W.nlots = 1;
        W.idle = true;
        W.idle_pid = (long)arg_i64(argv[5]);
        return run();
    }
    if (strcmp(argv[1], "ws") == 0 && (argc == 10 || argc == 11)) {
        if (parse_target(argv[2]) < 0)
            return 2;
        W.n = arg_int(argv[3]);
        W.first_lot = arg_i64(argv[4]);
        W.nlots = arg_int(argv[5]);
        W.seconds = arg_int(argv[6]);
        W.bids_target = argv[7];
        W.tokens = bench_read_tokens(argv[8], &W.ntok);
        if (W.tokens == NULL || W.ntok == 0) {
            fprintf(stderr, "no tokens in %s\n", argv[8]);
            return 1;
        }
        W.bidders = arg_int(argv[9]);
        W.rate = argc == 11 ? arg_i64(argv[10]) : 0;
        int rc = run();
        for (int i = 0; i < W.ntok; i++)
            free(W.tokens[i]);
        free(W.tokens);
        return rc;
    }
    fprintf(stderr, "usage: see gavel-bench without arguments\n");
    return 2;
}
