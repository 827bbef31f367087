/*
 * QuoteServices: what each paid service costs for one lot, or for bare
 * lot attributes on the seller's form. The service table below is the
 * hard-coded fallback (the base price) and the list of known codes; the
 * rules in price_rules adjust it. Every requested service is resolved by
 * one statement (PRICE_QUOTE_SQL): the seed's service priced its services
 * one query each and that load killed its database.
 *
 * Invariants: a quote reads one snapshot (one statement), so a concurrent
 * rule change shows in a quote wholly or not at all; prices stay within
 * 0..CHECK_MONEY_MAX and are computed in integers only; a refused request
 * reads nothing.
 */
#include <stdio.h>
#include <string.h>

#include "pricing.h"

const char *const paid_currencies[PAID_CURRENCIES] = { "RUB", "EUR", "USD" };

/*
 * Base prices in minor units, per currency in paid_currencies order. The
 * first three are Gavel's own services; the rest keep the codes and
 * relative prices of the seed's hard-coded list (hot 300, up 200,
 * color-red 45, paid-auto-re 5, re 0, s 90, unset-auto-re 0) so clients
 * written against it keep working. A free service stays free under a
 * coefficient; only a fixed-price rule can charge for it.
 *
 * The last two are the settlement fees payments fixes when it settles a
 * sold lot: rates per mille of the hammer price (the same in every
 * currency), quoted only for a lot that closed with a price. A
 * coefficient rule scales the rate (600 of 50 is a 3 % commission), a
 * fixed-price rule sets a flat fee; a 0 rate stays 0 under a coefficient.
 */
static const paid_service services[] = {
    /* code                RUB       EUR     USD */
    { "promotion",     { 150000,    1500,   1700 }, false },  /* featured in the catalog */
    { "inspection",    { 500000,    6000,   6500 }, false },  /* on-site inspection report */
    { "delivery",      { 1500000,  20000,  22000 }, false },  /* transport to the buyer */
    { "hot",           { 30000,      300,    350 }, false },  /* the hot-offers block */
    { "up",            { 20000,      200,    250 }, false },  /* lifted to the top of its list */
    { "color-red",     { 4500,        50,     60 }, false },  /* highlighted card */
    { "s",             { 9000,       100,    110 }, false },  /* the seed's "s", as it priced it */
    { "paid-auto-re",  { 500,         10,     10 }, false },  /* automatic re-listing */
    { "re",            { 0,            0,      0 }, false },  /* one re-listing */
    { "unset-auto-re", { 0,            0,      0 }, false },  /* turning re-listing off */
    /* rates, per mille of the hammer price */
    { "buyer_premium",     { 0,   0,  0 }, true },  /* charged to the winner */
    { "seller_commission", { 50, 50, 50 }, true },  /* withheld from the payout */
};
#define NSERVICES (sizeof services / sizeof services[0])
_Static_assert(NSERVICES <= QUOTE_MAX_SERVICES, "an empty quote must fit one answer");

const paid_service *paid_service_find(const char *code)
{
    for (size_t i = 0; i < NSERVICES; i++)
        if (strcmp(services[i].code, code) == 0)
            return &services[i];
    return NULL;
}

const paid_service *paid_service_all(size_t *n)
{
    *n = NSERVICES;
    return services;
}

static char codes_list[NSERVICES * 16];
static pthread_once_t codes_once = PTHREAD_ONCE_INIT;

static void codes_build(void)
{
    size_t len = 0;
    for (size_t i = 0; i < NSERVICES && len < sizeof codes_list; i++)
        len += (size_t)snprintf(codes_list + len, sizeof codes_list - len, "%s%s",
                                i > 0 ? ", " : "", services[i].code);
}

const char *paid_service_codes(void)
{
    pthread_once(&codes_once, codes_build);
    return codes_list;
}

int paid_currency_index(const char *currency)
{
    for (int i = 0; i < PAID_CURRENCIES; i++)
        if (strcmp(paid_currencies[i], currency) == 0)
            return i;
    return -1;
}

int64_t paid_service_base(const paid_service *s, const char *currency)
{
    int i = paid_currency_index(currency);
    return i < 0 ? -1 : s->base[i];
}

int price_ceil_ratio(int64_t amount, int64_t num, int64_t den, int64_t *out)
{
    /* a * n / d = (a / d) * n + (a % d) * n / d, and the second product
     * stays below 10^6 * 10^9, so only the first can overflow. */
    int64_t whole = 0, price = 0;
    if (amount < 0 || num < 0 || num > 1000000000 || den < 1 || den > 1000000 ||
        __builtin_mul_overflow(amount / den, num, &whole))
        return PRICE_E_OVERFLOW;
    int64_t part = ((amount % den) * num + den - 1) / den;
    if (__builtin_add_overflow(whole, part, &price) || price > CHECK_MONEY_MAX)
        return PRICE_E_OVERFLOW;
    *out = price;
    return PRICE_OK;
}

int price_apply_permille(int64_t base, int32_t permille, int64_t *out)
{
    if (permille < 1)
        return PRICE_E_OVERFLOW;
    return price_ceil_ratio(base, permille, 1000, out);
}

int price_fee(int64_t hammer, int32_t rate_permille, int32_t coefficient_permille, int64_t *out)
{
    if (hammer > CHECK_MONEY_MAX || rate_permille < 0 || rate_permille > 1000 ||
        coefficient_permille < 1 || coefficient_permille > PRICE_PERMILLE_MAX)
        return PRICE_E_OVERFLOW;
    return price_ceil_ratio(hammer, (int64_t)rate_permille * coefficient_permille, 1000000, out);
}

int quote_services_resolve(char *const *codes, size_t n, const paid_service **out,
                           size_t *nout, char *why, size_t whylen)
{
    if (n == 0) {
        for (size_t i = 0; i < NSERVICES; i++)
            out[i] = &services[i];
        *nout = NSERVICES;
        return PRICE_OK;
    }
    if (n > QUOTE_MAX_SERVICES) {
        snprintf(why, whylen, "services lists %zu codes; at most %d per quote", n,
                 QUOTE_MAX_SERVICES);
        return PRICE_E_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = paid_service_find(codes[i]);
        if (out[i] == NULL) {
            snprintf(why, whylen, "services[%zu]: unknown service \"%.40s\" (known: %s)", i,
                     codes[i], paid_service_codes());
            return PRICE_E_INVALID;
        }
        for (size_t j = 0; j < i; j++)
            if (out[j] == out[i]) {
                snprintf(why, whylen, "services[%zu]: \"%s\" is listed twice (also services[%zu])",
                         i, codes[i], j);
                return PRICE_E_INVALID;
            }
    }
    *nout = n;
    return PRICE_OK;
}

PGresult *price_exec(rpc_call *c, db_conn *conn, const char *name, int nparams,
                     const char *const *params, int *rc)
{
    PGresult *r = db_exec(conn, name, nparams, params, rc);
    if (r != NULL)
        arena_on_free(rpc_arena(c), (void (*)(void *))PQclear, r);
    return r;
}

PGresult *price_exec_once(rpc_call *c, const char *name, int nparams,
                          const char *const *params, int *status)
{
    int rc = DB_E_TIMEOUT;
    PGresult *r = NULL;
    db_conn *conn = db_pool_get(auctions.db, rpc_time_left_ms(c));
    if (conn != NULL) {
        r = price_exec(c, conn, name, nparams, params, &rc);
        db_pool_put(auctions.db, conn);
    }
    *status = r != NULL ? GRPC_STATUS_OK : check_fail_db(c, rc);
    return r;
}

/* ---- QuoteServices ---- */

/* What rules match on, from a lot or from LotAttributes; strings borrowed. */
typedef struct {
    int64_t category_id;       /* 0 = none */
    const char *region, *make, *model;
    int32_t year;              /* 0 = unknown */
    bool has_start;
    int64_t start_price;
    const char *currency;
    int64_t lot_id;            /* 0 = bare attributes */
    bool has_hammer;           /* a lot that closed sold */
    int64_t hammer;            /* its hammer price, in currency */
} quote_subject;

static int subject_from_attributes(rpc_call *c, const Gavel__Auctions__V1__LotAttributes *a,
                                   quote_subject *s)
{
    int rc;
    if ((rc = check_text(c, "attributes.region", a->region, 0, 100)) != 0 ||
        (rc = check_text(c, "attributes.make", a->make, 0, 64)) != 0 ||
        (rc = check_text(c, "attributes.model", a->model, 0, 64)) != 0)
        return rc;
    if (a->category_id < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "attributes.category_id must be 0 (none) or a category id");
    if (a->year != 0 && (a->year < PRICE_YEAR_MIN || a->year > PRICE_YEAR_MAX))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "attributes.year must be 0 (unknown) or %d..%d", PRICE_YEAR_MIN,
                        PRICE_YEAR_MAX);
    const Gavel__Common__V1__Money *m = a->start_price;
    const check_money_rule rule = { .min_units = 1, .currencies = auctions.currencies };
    if (m != NULL && (rc = check_money(c, "attributes.start_price", m, &rule, NULL)) != 0)
        return rc;
    *s = (quote_subject){ .category_id = a->category_id, .region = a->region, .make = a->make,
                          .model = a->model, .year = a->year, .has_start = m != NULL,
                          .start_price = m != NULL ? m->units : 0,
                          .currency = m != NULL ? m->currency : auctions.currency };
    if (!check_currency_in_list(s->currency, auctions.currencies) ||
        paid_currency_index(s->currency) < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "attributes.start_price.currency must be one of %s with paid-service "
                        "prices (%s, %s, %s)", auctions.currencies, paid_currencies[0],
                        paid_currencies[1], paid_currencies[2]);
    return GRPC_STATUS_OK;
}

/* A lot the caller may see and, for a seller, owns (a bidder may quote
 * any lot it sees: the web UI's all-in price beside the bid button). A
 * lot without any price is quoted in the platform currency. Its hammer
 * price, which the per-mille fees are priced on, is the winning price of
 * a lot that closed sold. */
static int subject_from_lot(rpc_call *c, db_conn *conn, int64_t id, quote_subject *s)
{
    Gavel__Auctions__V1__Lot *l = NULL;
    int rc = lot_load(c, conn, id, false, &l);
    if (rc != GRPC_STATUS_OK)
        return rc;
    const rpc_principal *p = rpc_caller(c);
    if (p->role == RPC_ROLE_SELLER && l->seller_id != p->user_id)
        return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED,
                        "lot %lld is not yours; sellers quote their own lots or attributes",
                        (long long)id);
    const Gavel__Common__V1__Money *m = l->start_price;
    const Gavel__Common__V1__Money *any = m != NULL ? m
                                        : l->reserve_price != NULL ? l->reserve_price
                                        : l->buy_now_price;
    *s = (quote_subject){ .category_id = l->category_id, .region = l->region, .make = l->make,
                          .model = l->model, .year = l->year, .has_start = m != NULL,
                          .start_price = m != NULL ? m->units : 0,
                          .currency = any != NULL ? any->currency : auctions.currency,
                          .lot_id = id };
    const Gavel__Auctions__V1__LotResult *res = l->result;
    if (res != NULL && res->winner_id > 0 && res->final_price != NULL) {
        s->has_hammer = true;
        s->hammer = res->final_price->units;
        s->currency = res->final_price->currency;
    }
    if (paid_currency_index(s->currency) < 0)
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "lot %lld is priced in %s, which has no paid-service prices",
                        (long long)id, s->currency);
    return GRPC_STATUS_OK;
}

/* Runs the one quote statement; the result belongs to the call's arena. */
static PGresult *quote_query(rpc_call *c, db_conn *conn, const quote_subject *s,
                             const paid_service *const *svc, size_t n, int *rc)
{
    db_array codes;
    db_array_init(&codes);
    for (size_t i = 0; i < n; i++)
        db_array_text(&codes, svc[i]->code);
    char cat[24], year[24], start[24];
    const char *p[] = { db_array_str(&codes),
                        s->category_id > 0 ? db_i64(cat, s->category_id) : NULL,
                        s->region, s->make, s->model,
                        s->year != 0 ? db_i64(year, s->year) : NULL,
                        s->has_start ? db_i64(start, s->start_price) : NULL,
                        s->currency };
    PGresult *r = price_exec(c, conn, "price_quote", 8, p, rc);
    db_array_free(&codes);
    return r;
}

/* The price of svc at coefficient (1000 = none) for subject s: the base
 * price scaled, or for a per-mille service the fee on the hammer price. */
static int line_price(const paid_service *svc, const quote_subject *s, int32_t coefficient,
                      int64_t *out)
{
    int64_t base = paid_service_base(svc, s->currency);
    if (svc->is_per_mille)
        return price_fee(s->hammer, (int32_t)base, coefficient, out);
    return price_apply_permille(base, coefficient, out);
}

/* One answer line from row i: the winning rule's adjustment, or the base.
 * A per-mille service's base_price is its fee at the base rate. */
static int quote_line(rpc_call *c, const PGresult *r, int i, const paid_service *svc,
                      const quote_subject *s, Gavel__Auctions__V1__QuoteLine **out)
{
    Gavel__Auctions__V1__QuoteLine *l =
        (void *)rpc_new(c, &gavel__auctions__v1__quote_line__descriptor);
    int64_t base = 0, price = 0;
    l->service = rpc_strdup(c, svc->code);
    l->source = GAVEL__AUCTIONS__V1__QUOTE_SOURCE__QUOTE_SOURCE_DEFAULT;
    int rc = line_price(svc, s, 1000, &base);
    price = base;
    if (rc == PRICE_OK && !PQgetisnull(r, i, 1)) {
        l->rule_id = db_get_i64(r, i, 1);
        if (!PQgetisnull(r, i, 3)) {
            l->source = GAVEL__AUCTIONS__V1__QUOTE_SOURCE__QUOTE_SOURCE_FIXED;
            price = db_get_i64(r, i, 3);
        } else {
            l->source = GAVEL__AUCTIONS__V1__QUOTE_SOURCE__QUOTE_SOURCE_COEFFICIENT;
            l->coefficient_permille = (int32_t)db_get_i64(r, i, 2);
            rc = line_price(svc, s, l->coefficient_permille, &price);
        }
    }
    if (rc != PRICE_OK)
        return rpc_fail(c, GRPC_STATUS_INTERNAL, "price of %s under rule %lld is out of range",
                        svc->code, (long long)l->rule_id);
    l->price = check_money_new(rpc_arena(c), s->currency, price);
    l->base_price = check_money_new(rpc_arena(c), s->currency, base);
    *out = l;
    return GRPC_STATUS_OK;
}

/* The per-mille services need a hammer price. Named in the request
 * without one, they are refused; an empty request (every service) leaves
 * them out, so a quote of attributes or of an open lot still prices the
 * rest. */
static int quote_fees_check(rpc_call *c, const Gavel__Auctions__V1__QuoteServicesRequest *q,
                            const quote_subject *s, const paid_service **svc, size_t *n)
{
    if (s->has_hammer)
        return GRPC_STATUS_OK;
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        if (!svc[i]->is_per_mille) {
            svc[kept++] = svc[i];
            continue;
        }
        if (q->n_services == 0)
            continue;
        if (s->lot_id == 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "services[%zu]: %s is priced per mille of a lot's hammer price; "
                            "quote it by the lot_id of a lot that closed sold",
                            i, svc[i]->code);
        return rpc_fail(c, GRPC_STATUS_FAILED_PRECONDITION,
                        "lot %lld has no hammer price (it has not closed sold), and %s is "
                        "priced per mille of it", (long long)s->lot_id, svc[i]->code);
    }
    *n = kept;
    return GRPC_STATUS_OK;
}

/* The subject of a request, loading the lot on conn when it names one. */
static int quote_subject_of(rpc_call *c, db_conn *conn,
                            const Gavel__Auctions__V1__QuoteServicesRequest *q, quote_subject *s)
{
    switch (q->subject_case) {
    case GAVEL__AUCTIONS__V1__QUOTE_SERVICES_REQUEST__SUBJECT_ATTRIBUTES:
        if (rpc_caller(c)->role == RPC_ROLE_BIDDER)
            return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED,
                            "bidders quote lots by lot_id, not bare attributes");
        return subject_from_attributes(c, q->attributes, s);
    case GAVEL__AUCTIONS__V1__QUOTE_SERVICES_REQUEST__SUBJECT_LOT_ID:
        if (q->lot_id <= 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must be a positive id");
        return conn != NULL ? subject_from_lot(c, conn, q->lot_id, s) : GRPC_STATUS_OK;
    default:
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "subject missing: set lot_id or attributes");
    }
}

static int pricing_quote(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__QuoteServicesRequest *q = (const void *)in;
    const paid_service *svc[QUOTE_MAX_SERVICES];
    size_t n = 0;
    quote_subject s = { 0 };
    char why[512];
    int rc = 0;
    if (quote_services_resolve(q->services, q->n_services, svc, &n, why, sizeof why) < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
    if ((rc = quote_subject_of(c, NULL, q, &s)) != GRPC_STATUS_OK)
        return rc;
    db_conn *conn = db_pool_get(auctions.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    PGresult *r = NULL;
    if ((q->subject_case != GAVEL__AUCTIONS__V1__QUOTE_SERVICES_REQUEST__SUBJECT_LOT_ID ||
         (rc = quote_subject_of(c, conn, q, &s)) == GRPC_STATUS_OK) &&
        (rc = quote_fees_check(c, q, &s, svc, &n)) == GRPC_STATUS_OK)
        r = quote_query(c, conn, &s, svc, n, &rc);
    db_pool_put(auctions.db, conn);
    if (r == NULL)
        return rc > 0 ? rc : check_fail_db(c, rc);
    if ((size_t)PQntuples(r) != n)
        return rpc_fail(c, GRPC_STATUS_INTERNAL, "quote returned %d lines for %zu services",
                        PQntuples(r), n);
    if (s.category_id > 0 && !db_get_bool(r, 0, 4))
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "category %lld not found",
                        (long long)s.category_id);
    Gavel__Auctions__V1__QuoteServicesResponse *resp =
        (void *)rpc_new(c, &gavel__auctions__v1__quote_services_response__descriptor);
    resp->lines = rpc_alloc(c, n * sizeof *resp->lines);
    for (size_t i = 0; i < n; i++)
        if ((rc = quote_line(c, r, (int)i, svc[i], &s, &resp->lines[i])) != 0)
            return rc;
    resp->n_lines = n;
    resp->quoted_at_us = now_us();
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

#define A(name) "/gavel.auctions.v1.Auctions/" name
#define D(t) &gavel__auctions__v1__##t##__descriptor
const rpc_method pricing_methods[] = {
    { A("QuoteServices"), D(quote_services_request), D(quote_services_response), pricing_quote,
      RPC_ROLE_BIDDER | RPC_ROLE_SELLER | RPC_ROLE_MODERATOR | RPC_STAFF, RPC_IDEMPOTENT, 5000,
      RPC_CLASS_NORMAL, 0 },
    { A("CreatePriceRule"), D(create_price_rule_request), D(create_price_rule_response),
      price_rule_create, RPC_ROLE_ADMIN, 0, 5000, RPC_CLASS_NORMAL, 0 },
    { A("UpdatePriceRule"), D(update_price_rule_request), D(update_price_rule_response),
      price_rule_update, RPC_ROLE_ADMIN, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { A("DeletePriceRule"), D(delete_price_rule_request), D(delete_price_rule_response),
      price_rule_delete, RPC_ROLE_ADMIN, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { A("ListPriceRules"), D(list_price_rules_request), D(list_price_rules_response),
      price_rule_list, RPC_ROLE_ADMIN | RPC_ROLE_MODERATOR | RPC_ROLE_SERVICE, RPC_IDEMPOTENT,
      5000, RPC_CLASS_NORMAL, 0 },
    { 0 },
};
