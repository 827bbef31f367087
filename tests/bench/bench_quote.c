/*
 * QuoteServices under load, and the statement behind it measured straight
 * against PostgreSQL beside the seed's anti-pattern (one query per
 * service). The SQL is the daemon's own (PRICE_QUOTE_SQL from
 * services/auctions/pricing.h), so the bench measures what runs.
 *
 *   gavel-bench quote TARGET THREADS SECONDS
 *       THREADS clients, each quoting every known service for random lot
 *       attributes back to back over gRPC with the service identity
 *       (GAVEL_SERVICE_KEY)
 *   gavel-bench quote-sql DSN THREADS SECONDS one|split CODES
 *       THREADS libpq sessions running the same quote of the services
 *       CODES ("hot,up,…", as an empty quote lists them) as one statement
 *       (one) or as one statement per service (split); a sample is one
 *       whole quote either way
 *   gavel-bench quote-plan DSN CODES
 *       EXPLAIN (ANALYZE, BUFFERS) of the quote statement once it runs on
 *       its generic plan, as the daemon's long-lived sessions do
 *
 * Attributes are drawn from the bench data run.sh loads: makes "Make 0".."Make 39",
 * models "Model 0".."Model 9", regions "Region 0".."Region 79", categories
 * 1..21, years 1990..2024, start prices 0..6,000,000.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <libpq-fe.h>

#include "bench.h"
#include "rpc/rpc.h"
#include "../../services/auctions/pricing.h"

const rpc_client_method bench_quote_services = {
    "/gavel.auctions.v1.Auctions/QuoteServices", &gavel__auctions__v1__auctions__descriptor,
    &gavel__auctions__v1__quote_services_request__descriptor,
    &gavel__auctions__v1__quote_services_response__descriptor
};

typedef struct {
    char make[16], model[16], region[16], category[8], year[8], start[16];
} attrs;

static void attrs_draw(attrs *a, unsigned *seed)
{
    snprintf(a->make, sizeof a->make, "Make %u", (unsigned)rand_r(seed) % 40);
    snprintf(a->model, sizeof a->model, "Model %u", (unsigned)rand_r(seed) % 10);
    snprintf(a->region, sizeof a->region, "Region %u", (unsigned)rand_r(seed) % 80);
    snprintf(a->category, sizeof a->category, "%u", 1 + (unsigned)rand_r(seed) % 21);
    snprintf(a->year, sizeof a->year, "%u", 1990 + (unsigned)rand_r(seed) % 35);
    snprintf(a->start, sizeof a->start, "%u", 100000 * (1 + (unsigned)rand_r(seed) % 60));
}

typedef struct {
    pthread_t tid;
    const char *target;        /* gRPC address or libpq DSN */
    const char *token;
    bool split;
    int64_t measure_from, end;
    unsigned seed;
    samples s;
} quoter;

/* ---- over gRPC ---- */

static void *grpc_main(void *arg)
{
    quoter *q = arg;
    rpc_channel *ch = rpc_channel_get(q->target);
    for (;;) {
        attrs a;
        attrs_draw(&a, &q->seed);
        Gavel__Common__V1__Money start = GAVEL__COMMON__V1__MONEY__INIT;
        start.currency = "RUB";
        start.units = strtoll(a.start, NULL, 10);
        Gavel__Auctions__V1__LotAttributes la = GAVEL__AUCTIONS__V1__LOT_ATTRIBUTES__INIT;
        la.category_id = strtoll(a.category, NULL, 10);
        la.region = a.region;
        la.make = a.make;
        la.model = a.model;
        la.year = (int32_t)strtol(a.year, NULL, 10);
        la.start_price = &start;
        Gavel__Auctions__V1__QuoteServicesRequest req =
            GAVEL__AUCTIONS__V1__QUOTE_SERVICES_REQUEST__INIT;
        req.subject_case = GAVEL__AUCTIONS__V1__QUOTE_SERVICES_REQUEST__SUBJECT_ATTRIBUTES;
        req.attributes = &la;   /* no services: every known one */
        int64_t t0 = mono_us();
        if (t0 >= q->end)
            break;
        rpc_call_opts o = { .token = q->token, .deadline_ms = 5000 };
        ProtobufCMessage *resp = NULL;
        char err[256];
        grpc_status_code st = rpc_unary(ch, &bench_quote_services, &req.base, &resp, &o, err,
                                        sizeof err);
        int64_t t1 = mono_us();
        if (resp != NULL)
            protobuf_c_message_free_unpacked(resp, NULL);
        sample_call(&q->s, t0, t1, q->measure_from, q->end, st, "QuoteServices", err);
    }
    return NULL;
}

/* ---- straight to PostgreSQL ---- */

/* The daemon's parameters for attributes a and the codes literal. */
static void sql_params(const attrs *a, const char *codes, const char *p[8])
{
    p[0] = codes;
    p[1] = a->category;
    p[2] = a->region;
    p[3] = a->make;
    p[4] = a->model;
    p[5] = a->year;
    p[6] = a->start;
    p[7] = "RUB";
}

static bool sql_ok(PGresult *r, samples *s)
{
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok && s->errors++ == 0)
        fprintf(stderr, "quote query: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

static PGconn *sql_connect(const char *dsn)
{
    PGconn *pg = PQconnectdb(dsn);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "%s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PGresult *r = PQprepare(pg, "price_quote", PRICE_QUOTE_SQL, 0, NULL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "prepare: %s", PQresultErrorMessage(r));
    PQclear(r);
    if (!ok) {
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

/* The quote's codes as one array literal "{hot,up,…}", and each alone. */
static char all_codes[QUOTE_MAX_SERVICES * 40];
static char one_code[QUOTE_MAX_SERVICES][40];
static size_t ncodes;

/* codes: "hot,up,…" (service codes hold no quotes, commas or braces). */
static int codes_init(const char *codes)
{
    snprintf(all_codes, sizeof all_codes, "{%s}", codes);
    for (const char *p = codes; *p != '\0' && ncodes < QUOTE_MAX_SERVICES; ncodes++) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n > 32)
            break;
        snprintf(one_code[ncodes], sizeof one_code[ncodes], "{%.*s}", (int)n, p);
        p += n + (p[n] == ',');
    }
    if (ncodes == 0 || strlen(codes) + 3 > sizeof all_codes) {
        fprintf(stderr, "not a list of service codes: %s\n", codes);
        return -1;
    }
    return 0;
}

static void *sql_main(void *arg)
{
    quoter *q = arg;
    PGconn *pg = sql_connect(q->target);
    if (pg == NULL) {
        q->s.errors++;
        return NULL;
    }
    for (;;) {
        attrs a;
        attrs_draw(&a, &q->seed);
        const char *p[8];
        int64_t t0 = mono_us();
        if (t0 >= q->end)
            break;
        bool ok = true;
        for (size_t i = 0; ok && i < (q->split ? ncodes : 1); i++) {
            sql_params(&a, q->split ? one_code[i] : all_codes, p);
            ok = sql_ok(PQexecPrepared(pg, "price_quote", 8, p, NULL, NULL, 0), &q->s);
        }
        int64_t t1 = mono_us();
        if (ok && t0 >= q->measure_from && t1 <= q->end)
            sample_add(&q->s, t1 - t0);
    }
    PQfinish(pg);
    return NULL;
}

static int run_quoters(void *(*fn)(void *), const char *target, const char *token, bool split,
                       int threads, int seconds)
{
    quoter *qs = xcalloc((size_t)threads, sizeof *qs);
    int64_t start = mono_us();
    for (int i = 0; i < threads; i++) {
        qs[i] = (quoter){ .target = target, .token = token, .split = split,
                          .measure_from = start + WARMUP_US,
                          .end = start + WARMUP_US + (int64_t)seconds * 1000000,
                          .seed = (unsigned)(now_us() ^ (i * 7919)) };
        if (pthread_create(&qs[i].tid, NULL, fn, &qs[i]) != 0)
            panic("cannot start a quoting thread");
    }
    samples all = { 0 };
    for (int i = 0; i < threads; i++) {
        pthread_join(qs[i].tid, NULL);
        samples_merge(&all, &qs[i].s);
    }
    report(&all, (double)seconds);
    free(all.v);
    free(qs);
    return 0;
}

/* Six runs settle the session on the generic plan (PostgreSQL tries five
 * custom plans first); the seventh is explained. */
static int run_plan(const char *dsn)
{
    PGconn *pg = sql_connect(dsn);
    if (pg == NULL)
        return 1;
    unsigned seed = 42;
    attrs a;
    const char *p[8];
    for (int i = 0; i < 6; i++) {
        attrs_draw(&a, &seed);
        sql_params(&a, all_codes, p);
        PQclear(PQexecPrepared(pg, "price_quote", 8, p, NULL, NULL, 0));
    }
    attrs_draw(&a, &seed);
    sql_params(&a, all_codes, p);
    char *lit[8];
    for (int i = 0; i < 8; i++)
        lit[i] = PQescapeLiteral(pg, p[i], strlen(p[i]));
    char *sql = xasprintf("EXPLAIN (ANALYZE, BUFFERS) EXECUTE price_quote(%s, %s, %s, %s, %s, "
                          "%s, %s, %s)", lit[0], lit[1], lit[2], lit[3], lit[4], lit[5],
                          lit[6], lit[7]);
    PGresult *r = PQexec(pg, sql);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : 1;
    printf("-- %s\n", sql);
    for (int i = 0; i < PQntuples(r); i++)
        printf("%s\n", PQgetvalue(r, i, 0));
    if (rc != 0)
        fprintf(stderr, "explain: %s", PQresultErrorMessage(r));
    PQclear(r);
    free(sql);
    for (int i = 0; i < 8; i++)
        PQfreemem(lit[i]);
    PQfinish(pg);
    return rc;
}

int run_quote(int argc, char **argv)
{
    if (strcmp(argv[1], "quote") == 0 && argc == 5) {
        char *token = bench_service_token();
        if (token == NULL)
            return 1;
        int rc = run_quoters(grpc_main, argv[2], token, false, arg_int(argv[3]),
                             arg_int(argv[4]));
        free(token);
        return rc;
    }
    if (strcmp(argv[1], "quote-sql") == 0 && argc == 7 &&
        (strcmp(argv[5], "one") == 0 || strcmp(argv[5], "split") == 0))
        return codes_init(argv[6]) < 0 ? 2
               : run_quoters(sql_main, argv[2], NULL, strcmp(argv[5], "split") == 0,
                             arg_int(argv[3]), arg_int(argv[4]));
    if (strcmp(argv[1], "quote-plan") == 0 && argc == 4)
        return codes_init(argv[3]) < 0 ? 2 : run_plan(argv[2]);
    fprintf(stderr, "usage: see gavel-bench without arguments\n");
    return 2;
}
