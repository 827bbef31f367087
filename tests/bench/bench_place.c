/*
 * gavel-bench place: bidders on one completion queue.
 *
 * Each bidder is one call slot: it sends a PlaceBid, waits for the answer,
 * then sends the next, so THREADS bidders keep at most THREADS bids in
 * flight, exactly as THREADS blocking clients would. One thread drives
 * every slot (like the Ping figures in MEASURED.md): 64 client threads
 * each blocking in its own completion queue cost this 2-core machine
 * about a quarter of its CPU, taken from the daemons being measured.
 *
 * A bidder bids the lowest amount it believes valid on a random lot, plus
 * 0 to 2 increments; it learns that amount from every answer (the new
 * state of an accepted bid, the "≥ N" of a refusal), shared with every
 * other bidder as a bidding screen would show it. Bidders share tokens, so
 * a bid may come from the lot's leader: the engine refuses it
 * (FAILED_PRECONDITION, "you already lead …"), and the bidder counts it
 * as refused and goes on, as after any other refusal.
 *
 * Stale bidders (gavel-bench place-stale) always bid one minor unit, so
 * every bid is refused as too low: the engine's refusal path alone, for
 * comparison with Ping on the same daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>

#include "bench.h"
#include "rpc/rpc.h"
#include "gavel/bids/v1/bids.pb-c.h"

#define CALL_DEADLINE_MS 5000

static const char *place_method = "/gavel.bids.v1.Bids/PlaceBid";

typedef struct {
    /* the bidder */
    grpc_metadata auth;        /* authorization: Bearer <token> */
    unsigned seed;
    long n;                    /* bids sent, for idempotency keys */
    int64_t next_send;         /* paced: when the next bid may leave */
    bool in_flight;
    /* the call in flight */
    bench_call c;
    int64_t t0, idx;
} bid_slot;

typedef struct {
    grpc_channel **ch;         /* one per bids instance; lot n goes to ch[n % nch] */
    size_t nch;
    grpc_completion_queue *cq;
    int64_t first_lot, nlots;
    bool stale;                /* bid 1 minor unit: every bid refused */
    int64_t *next_min;         /* per lot, the lowest valid amount last seen */
    int64_t measure_from, end;
    samples accepted, answered;
    int64_t refused;           /* of which leading: the bidder led the lot */
    int64_t leading;
    place_ack_fn on_ack;       /* optional: every accepted bid's seqs */
    void *ack_arg;
} bid_run;

static grpc_byte_buffer *pack_bid(bid_slot *b, int64_t lot, int64_t units)
{
    Gavel__Common__V1__Money amt = GAVEL__COMMON__V1__MONEY__INIT;
    amt.currency = "RUB";
    amt.units = units;
    char key[64];
    snprintf(key, sizeof key, "bench-%u-%ld", b->seed, b->n++);
    Gavel__Bids__V1__PlaceBidRequest q = GAVEL__BIDS__V1__PLACE_BID_REQUEST__INIT;
    q.lot_id = lot;
    q.amount = &amt;
    q.idempotency_key = key;
    uint8_t buf[256];
    size_t n = protobuf_c_message_pack(&q.base, buf);
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)buf, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

static void send_bid(bid_run *r, bid_slot *b)
{
    b->idx = r->nlots == 1 ? 0 : (int64_t)(rand_r(&b->seed) % (unsigned)r->nlots);
    int64_t units = r->stale ? 1 : r->next_min[b->idx] + 100 * (int64_t)(rand_r(&b->seed) % 3);
    b->t0 = mono_us();
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(CALL_DEADLINE_MS, GPR_TIMESPAN));
    int64_t lot = r->first_lot + b->idx;
    bench_call_start(&b->c, r->ch[rpc_route_index(r->nch, lot)], r->cq, place_method,
                     pack_bid(b, lot, units), &b->auth, 1, deadline, b);
    b->in_flight = true;
}

static void learn_min(bid_run *r, int64_t idx, int64_t min)
{
    if (min > r->next_min[idx])
        r->next_min[idx] = min;
}

/* The next minimum from an accepted bid's answer. */
static void learn_accepted(bid_run *r, const bid_slot *b)
{
    grpc_byte_buffer_reader rd;
    if (b->c.resp == NULL || !grpc_byte_buffer_reader_init(&rd, b->c.resp))
        return;
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    Gavel__Bids__V1__PlaceBidResponse *resp = gavel__bids__v1__place_bid_response__unpack(
        NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    if (resp == NULL)
        return;
    if (resp->state != NULL && resp->state->next_min_bid != NULL)
        learn_min(r, b->idx, resp->state->next_min_bid->units);
    if (r->on_ack != NULL && resp->bid != NULL) {
        int64_t last = resp->state != NULL && resp->state->seq > resp->bid->seq ? resp->state->seq
                                                                               : resp->bid->seq;
        r->on_ack(r->ack_arg, b->idx, resp->bid->seq, last, mono_us());
    }
    gavel__bids__v1__place_bid_response__free_unpacked(resp, NULL);
}

/* The answer's status message, cut to fit msg. */
static void status_message(const bid_slot *b, char msg[256])
{
    size_t n = GRPC_SLICE_LENGTH(b->c.details);
    n = n < 255 ? n : 255;
    memcpy(msg, GRPC_SLICE_START_PTR(b->c.details), n);
    msg[n] = '\0';
}

/* The refusal names the minimum ("amount must be ≥ N…"). */
static void learn_refused(bid_run *r, const bid_slot *b)
{
    char msg[256];
    status_message(b, msg);
    const char *ge = strstr(msg, "\xe2\x89\xa5 ");
    if (ge != NULL)
        learn_min(r, b->idx, strtoll(ge + 4, NULL, 10));
}

/* The refusal of a bid by the lot's leader ("you already lead …"). */
static bool is_leading(const bid_slot *b)
{
    static const char prefix[] = "you already lead ";
    size_t n = sizeof prefix - 1;
    return b->c.status == GRPC_STATUS_FAILED_PRECONDITION &&
           GRPC_SLICE_LENGTH(b->c.details) >= n &&
           memcmp(GRPC_SLICE_START_PTR(b->c.details), prefix, n) == 0;
}

static void on_answer(bid_run *r, bid_slot *b, bool ok, int64_t now)
{
    bool measured = b->t0 >= r->measure_from && now <= r->end;
    grpc_status_code st = ok ? b->c.status : GRPC_STATUS_UNKNOWN;
    bool refused = st == GRPC_STATUS_INVALID_ARGUMENT || (ok && is_leading(b));
    if (st == GRPC_STATUS_OK) {
        learn_accepted(r, b);
        if (measured)
            sample_add(&r->accepted, now - b->t0);
    } else if (refused) {
        learn_refused(r, b);
        r->refused += measured;
        r->leading += measured && st != GRPC_STATUS_INVALID_ARGUMENT;
    } else if (measured && r->accepted.errors++ == 0) {
        char msg[256];
        status_message(b, msg);
        fprintf(stderr, "PlaceBid: status %d: %s\n", st, msg);
    }
    if (measured && (st == GRPC_STATUS_OK || refused))
        sample_add(&r->answered, now - b->t0);
}

/* Paced: sends every bidder whose time has come; returns the earliest
 * time a waiting bidder may send next (INT64_MAX when none waits). */
static int64_t send_due(bid_run *r, bid_slot *slots, int nslots, int64_t now, int *inflight)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < nslots; i++) {
        bid_slot *b = &slots[i];
        if (b->in_flight || b->next_send >= r->end)
            continue;
        if (b->next_send <= now) {
            send_bid(r, b);
            (*inflight)++;
        } else if (b->next_send < next) {
            next = b->next_send;
        }
    }
    return next;
}

int run_place_async(const char *target, int nslots, int seconds, char **tokens, int ntok,
                    int64_t first, int64_t count, int64_t rate, bool stale)
{
    return run_place_async_acks(target, nslots, seconds, tokens, ntok, first, count, rate, stale,
                                NULL, NULL);
}

int run_place_async_acks(const char *target, int nslots, int seconds, char **tokens, int ntok,
                         int64_t first, int64_t count, int64_t rate, bool stale,
                         place_ack_fn on_ack, void *ack_arg)
{
    rpc_grpc_init();
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    bid_run r = { .first_lot = first, .nlots = count, .stale = stale, .on_ack = on_ack,
                  .ack_arg = ack_arg };
    /* as a gateway carrying many users would: every token stays in the header table */
    grpc_arg hpack = { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_HPACK_TABLE_SIZE_ENCODER,
                       .value.integer = RPC_HPACK_TABLE_BYTES };
    grpc_channel_args ca = { .num_args = 1, .args = &hpack };
    /* Several bids instances ("a,b"): each lot's bids go to its owner. */
    char err[256];
    rpc_route *route = rpc_route_parse(target, err, sizeof err);
    if (route == NULL) {
        fprintf(stderr, "%s: %s\n", target, err);
        grpc_channel_credentials_release(cr);
        return 2;
    }
    r.nch = rpc_route_count(route);
    r.ch = xcalloc(r.nch, sizeof *r.ch);
    for (size_t i = 0; i < r.nch; i++)
        r.ch[i] = grpc_channel_create(rpc_route_pick(route, (int64_t)i), cr, &ca);
    rpc_route_free(route);
    grpc_channel_credentials_release(cr);
    r.cq = grpc_completion_queue_create_for_next(NULL);
    r.next_min = xcalloc((size_t)count, sizeof *r.next_min);
    for (int64_t i = 0; i < count; i++)
        r.next_min[i] = 100000;
    int64_t start = mono_us();
    r.measure_from = start + WARMUP_US;
    r.end = r.measure_from + (int64_t)seconds * 1000000;
    int64_t interval = rate > 0 ? (int64_t)nslots * 1000000 / rate : 0;
    bid_slot *slots = xcalloc((size_t)nslots, sizeof *slots);
    for (int i = 0; i < nslots; i++) {
        bid_slot *b = &slots[i];
        char *bearer = xasprintf("Bearer %s", tokens[i % ntok]);
        b->auth.key = grpc_slice_from_static_string("authorization");
        b->auth.value = grpc_slice_from_copied_string(bearer);
        free(bearer);
        b->seed = (unsigned)(now_us() ^ (i * 7919));
        /* Paced bidders start one send apart: all starting at once would
         * send in bursts of `nslots` bids racing for one increment. */
        b->next_send = start + (rate > 0 ? (int64_t)i * 1000000 / rate : 0);
    }
    int inflight = 0;
    int64_t next = send_due(&r, slots, nslots, mono_us(), &inflight);
    while (inflight > 0 || next != INT64_MAX) {
        gpr_timespec until = gpr_inf_future(GPR_CLOCK_MONOTONIC);
        if (next != INT64_MAX)
            until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                 gpr_time_from_micros(next - mono_us(), GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(r.cq, until, NULL);
        int64_t now = mono_us();
        if (ev.type == GRPC_OP_COMPLETE) {
            bid_slot *b = ev.tag;
            on_answer(&r, b, ev.success != 0, now);
            bench_call_end(&b->c);
            b->in_flight = false;
            inflight--;
            b->next_send = interval > 0 ? b->next_send + interval : now;
        }
        next = send_due(&r, slots, nslots, now, &inflight);
    }
    report(&r.accepted, (double)seconds);
    printf("refused=%lld refused_leading=%lld\n", (long long)r.refused, (long long)r.leading);
    /* Every bid decided, as the naive baseline's transactions/s counts them. */
    printf("answered=%zu answered_per_s=%.0f answer_median_ms=%.3f answer_99th_ms=%.3f\n",
           r.answered.n, (double)r.answered.n / seconds, sample_quantile_ms(&r.answered, 0.50),
           sample_quantile_ms(&r.answered, 0.99));
    for (int i = 0; i < nslots; i++)
        grpc_slice_unref(slots[i].auth.value);
    grpc_completion_queue_shutdown(r.cq);
    while (grpc_completion_queue_next(r.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(r.cq);
    for (size_t i = 0; i < r.nch; i++)
        grpc_channel_destroy(r.ch[i]);
    free(r.ch);
    free(slots);
    free(r.next_min);
    free(r.accepted.v);
    free(r.answered.v);
    return 0;
}
