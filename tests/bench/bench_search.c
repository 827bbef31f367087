/*
 * Search and Suggest under load (tests/bench/search.sh).
 *
 *   gavel-bench search TARGET CLIENTS SECONDS
 *       CLIENTS threads, each searching back to back over gRPC with the
 *       service identity (GAVEL_SERVICE_KEY): a text query, three filters
 *       (year from, mileage up to, current price up to) and three facets
 *       (make and region terms, a current-price histogram), 20 hits a
 *       page, relevance order; prints report() and then
 *       mean_total=… mean_hits=… (that the searches find something)
 *   gavel-bench suggest TARGET CLIENTS SECONDS
 *       the same with Suggest of a 2 to 5 character prefix of a make, a
 *       model or a region, in Russian or English
 *
 * The words are the catalog's that search_lots.sql generates, so most
 * queries match hundreds to thousands of lots before the filters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "bench.h"
#include "rpc/rpc.h"
#include "gavel/search/v1/search.pb-c.h"

const rpc_client_method bench_search_call = {
    "/gavel.search.v1.Search/Search", &gavel__search__v1__search__descriptor,
    &gavel__search__v1__search_request__descriptor,
    &gavel__search__v1__search_response__descriptor
};
const rpc_client_method bench_suggest_call = {
    "/gavel.search.v1.Search/Suggest", &gavel__search__v1__search__descriptor,
    &gavel__search__v1__suggest_request__descriptor,
    &gavel__search__v1__suggest_response__descriptor
};

static const char *const queries[] = {
    "веста", "lada vesta", "гранта", "нива", "kia rio", "киа рио", "sportage", "солярис",
    "hyundai creta", "toyota camry", "камри", "rav4", "land cruiser", "ленд крузер", "polo",
    "тигуан", "octavia", "шкода октавия", "logan", "duster", "qashqai", "bmw x5", "мерседес",
    "e-class", "cx-5", "haval jolion", "tiggo", "outlander", "focus", "патриот", "газель",
    "без дтп", "one owner", "дизель", "dealer serviced", "audi a6",
};
static const char *const prefixes[] = {
    "ве", "вес", "la", "lad", "ла", "лад", "to", "toy", "тойо", "ки", "kia", "ri", "so", "sol",
    "хе", "hy", "hyu", "cr", "кре", "ca", "cam", "ка", "кам", "мо", "мос", "санкт", "ка", "каз",
    "sk", "шко", "oc", "ок", "po", "по", "ti", "ти", "bm", "бм", "me", "мер", "ha", "ха", "ch",
    "lan", "ni", "ни", "du", "ре",
};
#define NQ (sizeof queries / sizeof queries[0])
#define NP (sizeof prefixes / sizeof prefixes[0])

typedef struct {
    pthread_t tid;
    const char *target, *token;
    bool suggest;
    int64_t measure_from, end;
    unsigned seed;
    samples s;
    int64_t totals, hits, answers;
} searcher;

static grpc_status_code one_search(searcher *q, rpc_channel *ch, ProtobufCMessage **resp, char *err,
                          size_t errlen)
{
    char filter[160];
    snprintf(filter, sizeof filter,
             "[[\"gte\",\"year\",%u],[\"lte\",\"mileage_km\",%u],[\"lte\",\"current_price\",%u]]",
             2008 + (unsigned)rand_r(&q->seed) % 12, 100000 + 20000 * ((unsigned)rand_r(&q->seed) % 11),
             100000000u + 50000000u * ((unsigned)rand_r(&q->seed) % 10));
    Gavel__Search__V1__FacetRequest f[3];
    Gavel__Search__V1__FacetRequest *fp[3] = { &f[0], &f[1], &f[2] };
    for (int i = 0; i < 3; i++)
        gavel__search__v1__facet_request__init(&f[i]);
    f[0].field = "make";
    f[1].field = "region";
    f[2].field = "current_price";
    f[2].interval = 50000000; /* 500,000 RUB */
    Gavel__Common__V1__PageRequest page = GAVEL__COMMON__V1__PAGE_REQUEST__INIT;
    page.page_size = 20;
    Gavel__Search__V1__SearchRequest req = GAVEL__SEARCH__V1__SEARCH_REQUEST__INIT;
    req.query = (char *)queries[(unsigned)rand_r(&q->seed) % NQ];
    req.filter_json = filter;
    req.n_facets = 3;
    req.facets = fp;
    req.page = &page;
    rpc_call_opts o = { .token = q->token, .deadline_ms = 5000 };
    return rpc_unary(ch, &bench_search_call, &req.base, resp, &o, err, errlen);
}

static grpc_status_code one_suggest(searcher *q, rpc_channel *ch, ProtobufCMessage **resp, char *err,
                           size_t errlen)
{
    Gavel__Search__V1__SuggestRequest req = GAVEL__SEARCH__V1__SUGGEST_REQUEST__INIT;
    req.prefix = (char *)prefixes[(unsigned)rand_r(&q->seed) % NP];
    rpc_call_opts o = { .token = q->token, .deadline_ms = 5000 };
    return rpc_unary(ch, &bench_suggest_call, &req.base, resp, &o, err, errlen);
}

static void *searcher_main(void *arg)
{
    searcher *q = arg;
    rpc_channel *ch = rpc_channel_get(q->target);
    for (;;) {
        int64_t t0 = mono_us();
        if (t0 >= q->end)
            break;
        ProtobufCMessage *resp = NULL;
        char err[256];
        grpc_status_code st = q->suggest ? one_suggest(q, ch, &resp, err, sizeof err)
                                : one_search(q, ch, &resp, err, sizeof err);
        int64_t t1 = mono_us();
        if (resp != NULL && !q->suggest && t0 >= q->measure_from) {
            const Gavel__Search__V1__SearchResponse *r = (const void *)resp;
            q->totals += r->total_hits;
            q->hits += (int64_t)r->n_hits;
            q->answers++;
        } else if (resp != NULL && t0 >= q->measure_from) {
            const Gavel__Search__V1__SuggestResponse *r = (const void *)resp;
            q->hits += (int64_t)r->n_suggestions;
            q->answers++;
        }
        if (resp != NULL)
            protobuf_c_message_free_unpacked(resp, NULL);
        sample_call(&q->s, t0, t1, q->measure_from, q->end, (int)st,
                    q->suggest ? "Suggest" : "Search", err);
    }
    return NULL;
}

int run_search(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "search") != 0 && strcmp(argv[1], "suggest") != 0)) {
        fprintf(stderr, "usage: see gavel-bench without arguments\n");
        return 2;
    }
    char *token = bench_service_token();
    if (token == NULL)
        return 1;
    int threads = arg_int(argv[3]), seconds = arg_int(argv[4]);
    searcher *qs = xcalloc((size_t)threads, sizeof *qs);
    int64_t start = mono_us();
    for (int i = 0; i < threads; i++) {
        qs[i] = (searcher){ .target = argv[2], .token = token,
                            .suggest = strcmp(argv[1], "suggest") == 0,
                            .measure_from = start + WARMUP_US,
                            .end = start + WARMUP_US + (int64_t)seconds * 1000000,
                            .seed = (unsigned)(now_us() ^ (i * 7919)) };
        if (pthread_create(&qs[i].tid, NULL, searcher_main, &qs[i]) != 0)
            panic("cannot start a searching thread");
    }
    samples all = { 0 };
    int64_t totals = 0, hits = 0, answers = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(qs[i].tid, NULL);
        samples_merge(&all, &qs[i].s);
        totals += qs[i].totals;
        hits += qs[i].hits;
        answers += qs[i].answers;
    }
    report(&all, (double)seconds);
    printf("mean_total=%.0f mean_hits=%.1f\n", answers > 0 ? (double)totals / (double)answers : 0,
           answers > 0 ? (double)hits / (double)answers : 0);
    free(all.v);
    free(qs);
    free(token);
    return 0;
}
