/*
 * The bids engine under load, through its public gRPC API.
 *
 *   gavel-bench open TARGET FIRST_LOT COUNT SELLER_ID
 *       opens lots FIRST_LOT… live for an hour, start 100000, increment 100,
 *       with the service identity (GAVEL_SERVICE_KEY)
 *   gavel-bench place TARGET BIDDERS SECONDS TOKENS FIRST_LOT COUNT [RATE]
 *       BIDDERS bidders (one access token per line of TOKENS: "user token"),
 *       each placing bids back to back on a random lot of COUNT at the
 *       lowest amount it believes is valid (bench_place.c); prints accepted
 *       bids/s and their latency, the refusals (a rival got there first),
 *       then every bid answered either way, per second and its latency.
 *       With RATE, the bidders together send at most RATE bids a second,
 *       evenly paced, to measure latency below saturation.
 *   gavel-bench place-stale TARGET BIDDERS SECONDS TOKENS FIRST_LOT COUNT
 *       the same bidders, each bid one minor unit: every bid is refused as
 *       too low, so this measures the refusal path alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "rpc/rpc.h"
#include "gavel/bids/v1/bids.pb-c.h"

const rpc_client_method bench_open_lot = {
    "/gavel.bids.v1.Bids/OpenLot", &gavel__bids__v1__bids__descriptor,
    &gavel__bids__v1__open_lot_request__descriptor, &gavel__bids__v1__open_lot_response__descriptor
};

static int run_open(const char *target, int64_t first, int64_t count, int64_t seller)
{
    char *token = bench_service_token();
    if (token == NULL)
        return 1;
    char err[256];
    rpc_route *route = rpc_route_parse(target, err, sizeof err);  /* "a,b": lot n to n % 2 */
    if (route == NULL) {
        fprintf(stderr, "%s: %s\n", target, err);
        free(token);
        return 2;
    }
    Gavel__Common__V1__Money start = GAVEL__COMMON__V1__MONEY__INIT, zero = start, inc = start;
    start.currency = zero.currency = inc.currency = "RUB";
    start.units = 100000;
    inc.units = 100;
    Gavel__Bids__V1__IncrementBand band = GAVEL__BIDS__V1__INCREMENT_BAND__INIT;
    band.from_amount = &zero;
    band.increment = &inc;
    Gavel__Bids__V1__IncrementBand *bands[] = { &band };
    int failed = 0;
    for (int64_t lot = first; lot < first + count; lot++) {
        Gavel__Bids__V1__OpenLotRequest q = GAVEL__BIDS__V1__OPEN_LOT_REQUEST__INIT;
        q.lot_id = lot;
        q.seller_id = seller;
        q.currency = "RUB";
        q.start_price = &start;
        q.n_increments = 1;
        q.increments = bands;
        q.starts_at_us = now_us() - 1000000;
        q.ends_at_us = now_us() + 3600LL * 1000000;
        rpc_call_opts o = { .token = token, .deadline_ms = 10000, .idempotent = true };
        ProtobufCMessage *resp = NULL;
        rpc_channel *ch = rpc_channel_get(rpc_route_pick(route, lot));
        if (rpc_unary(ch, &bench_open_lot, &q.base, &resp, &o, err, sizeof err) !=
                GRPC_STATUS_OK &&
            failed++ == 0)
            fprintf(stderr, "OpenLot %lld: %s\n", (long long)lot, err);
        if (resp != NULL)
            protobuf_c_message_free_unpacked(resp, NULL);
    }
    free(token);
    rpc_route_free(route);
    printf("opened=%lld failed=%d\n", (long long)count, failed);
    return failed ? 1 : 0;
}

char **bench_read_tokens(const char *path, int *n)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char **tokens = NULL;
    char line[8192];
    *n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *sp = strchr(line, ' ');
        if (sp == NULL)
            continue;
        sp[strcspn(sp, "\r\n")] = '\0';
        tokens = xrealloc(tokens, (size_t)(*n + 1) * sizeof *tokens);
        tokens[(*n)++] = xstrdup(sp + 1);
    }
    fclose(f);
    return tokens;
}

static int run_place(const char *target, int threads, int seconds, const char *tokens_path,
                     int64_t first, int64_t count, int64_t rate, bool stale)
{
    int ntok = 0;
    char **tokens = bench_read_tokens(tokens_path, &ntok);
    if (tokens == NULL || ntok == 0) {
        fprintf(stderr, "no tokens in %s\n", tokens_path);
        return 1;
    }
    int rc = run_place_async(target, threads, seconds, tokens, ntok, first, count, rate, stale);
    for (int i = 0; i < ntok; i++)
        free(tokens[i]);
    free(tokens);
    return rc;
}

int64_t arg_i64(const char *s)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < 1) {
        fprintf(stderr, "not a positive number: %s\n", s);
        exit(2);
    }
    return v;
}

int run_bids(int argc, char **argv)
{
    if (strcmp(argv[1], "open") == 0 && argc == 6)
        return run_open(argv[2], arg_i64(argv[3]), arg_i64(argv[4]), arg_i64(argv[5]));
    if (strcmp(argv[1], "place") == 0 && (argc == 8 || argc == 9))
        return run_place(argv[2], arg_int(argv[3]), arg_int(argv[4]), argv[5],
                         arg_i64(argv[6]), arg_i64(argv[7]), argc == 9 ? arg_i64(argv[8]) : 0,
                         false);
    if (strcmp(argv[1], "place-stale") == 0 && argc == 8)
        return run_place(argv[2], arg_int(argv[3]), arg_int(argv[4]), argv[5],
                         arg_i64(argv[6]), arg_i64(argv[7]), 0, true);
    fprintf(stderr, "usage: see gavel-bench without arguments\n");
    return 2;
}
