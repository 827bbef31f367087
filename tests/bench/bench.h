/*
 * Shared pieces of the gavel-bench load generator.
 */
#ifndef GAVEL_BENCH_H
#define GAVEL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <grpc/grpc.h>

#include "rpc/rpc.h"

#define WARMUP_US 1000000LL

typedef struct {
    int64_t *v;
    size_t n, cap;
    int64_t errors;
} samples;

void sample_add(samples *s, int64_t us);

/* One unary call on a completion queue, for the load generators that keep
 * many in flight from one thread. */
typedef struct {
    grpc_call *call;
    grpc_byte_buffer *req, *resp;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
} bench_call;
/** Starts c: sends req (taken over) with the nmd metadata (borrowed until
 *  the call ends); `tag` comes back from cq when the answer is in. */
void bench_call_start(bench_call *c, grpc_channel *ch, grpc_completion_queue *cq,
                      const char *method, grpc_byte_buffer *req, grpc_metadata *md, size_t nmd,
                      gpr_timespec deadline, void *tag);
/** Frees everything of a finished call. */
void bench_call_end(bench_call *c);
/** Counts one timed call made in [t0, t1]: inside the measured window
 *  [from, end] a success is a sample and a failure an error (the first one
 *  printed with what and err). */
void sample_call(samples *s, int64_t t0, int64_t t1, int64_t from, int64_t end, int status,
                 const char *what, const char *err);
/** This tool's service token (GAVEL_SERVICE_KEY); a new string the caller
 *  frees, or NULL after saying why. */
char *bench_service_token(void);
/** Moves every sample and error count of from into into; from is left empty. */
void samples_merge(samples *into, samples *from);
/** Prints calls, errors, rps and p50/p99/p999 over `seconds`; sorts s. */
void report(samples *s, double seconds);
/** The p-quantile (0..1) of s in milliseconds, 0 when empty; sorts s. */
double sample_quantile_ms(samples *s, double p);
/** A positive count from argv, or exit(2). */
int arg_int(const char *s);
/** A positive 64-bit number from argv, or exit(2) (bench_bids.c). */
int64_t arg_i64(const char *s);
/* The methods called through rpc_unary (bench_bids.c, bench_quote.c,
 * bench_search.c);
 * main checks them against their service descriptors. */
extern const rpc_client_method bench_open_lot, bench_quote_services, bench_search_call,
    bench_suggest_call;
/** gavel-bench open|place (bench_bids.c). */
/** BIDDERS bidders on one completion queue (bench_place.c); tokens borrowed.
 *  stale: every bid is one minor unit, so every bid is refused. */
int run_place_async(const char *target, int bidders, int seconds, char **tokens, int ntok,
                    int64_t first, int64_t count, int64_t rate, bool stale);
int run_bids(int argc, char **argv);
/** Called on the bidding thread for every accepted bid: lot index (from
 *  FIRST_LOT), the bid's seq and the lot's seq after it (the same unless
 *  autobids followed), and the monotonic time its answer came in. */
typedef void (*place_ack_fn)(void *arg, int64_t lot_idx, int64_t seq, int64_t last_seq,
                             int64_t now_us);
/** run_place_async with on_ack (may be NULL) told of every accepted bid. */
int run_place_async_acks(const char *target, int bidders, int seconds, char **tokens, int ntok,
                         int64_t first, int64_t count, int64_t rate, bool stale,
                         place_ack_fn on_ack, void *ack_arg);
/** The tokens of a TOKENS file ("user token" lines), *n of them: new
 *  strings in a new array the caller frees; NULL when it cannot be read. */
char **bench_read_tokens(const char *path, int *n);
/** gavel-bench ws|ws-idle (bench_ws.c). */
int run_ws(int argc, char **argv);
/** gavel-bench login-flood (bench_flood.c): CONC anonymous wrong-password
 *  logins in flight for SECONDS; prints the answers by kind. */
int run_login_flood(const char *target, int conc, int seconds);
/** Keeps CONC unary calls of method with the request msg (packed once)
 *  and the nmd metadata md (borrowed) in flight on one completion queue
 *  for SECONDS after a warm-up; prints report(). */
int run_unary_load(const char *target, const char *method, const ProtobufCMessage *msg,
                   grpc_metadata *md, size_t nmd, int conc, int seconds);
/** gavel-bench getlot (bench_rest.c). */
int run_rest(int argc, char **argv);
/** gavel-bench quote|quote-sql|quote-plan (bench_quote.c). */
int run_quote(int argc, char **argv);
/** gavel-bench search|suggest (bench_search.c). */
int run_search(int argc, char **argv);
/** gavel-bench notif-skip|notif-listen (bench_notif.c). */
int run_notif(int argc, char **argv);

#endif
