/*
 * Price rules and their admin RPCs: CreatePriceRule, UpdatePriceRule (by
 * update_mask), DeletePriceRule, ListPriceRules (keyset pages). A rule is
 * checked whole before it is written — an update merges the mask's fields
 * into the stored rule under a row lock and checks the result — so the
 * table only ever holds rules the quote can apply. The table's CHECK
 * constraints repeat the invariants as a last line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pricing.h"

#define RULES_PAGE_DEFAULT 50
#define RULES_PAGE_MAX 200

static const struct {
    const char *name;
    unsigned bit;
} mask_fields[] = {
    { "service", RULE_F_SERVICE },
    { "category_id", RULE_F_CATEGORY },
    { "region", RULE_F_REGION },
    { "make", RULE_F_MAKE },
    { "model", RULE_F_MODEL },
    { "year_from", RULE_F_YEAR_FROM },
    { "year_to", RULE_F_YEAR_TO },
    { "min_start_price", RULE_F_MIN_PRICE },
    { "max_start_price", RULE_F_MAX_PRICE },
    { "priority", RULE_F_PRIORITY },
    { "adjustment", RULE_F_ADJUSTMENT },
    { "is_active", RULE_F_ACTIVE },
    { "note", RULE_F_NOTE },
};
#define NMASK (sizeof mask_fields / sizeof mask_fields[0])

int price_mask_parse(char *const *names, size_t n, unsigned *bits, char *why, size_t whylen)
{
    *bits = 0;
    if (n == 0) {
        snprintf(why, whylen, "update_mask is empty; name the fields to change");
        return PRICE_E_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < NMASK && strcmp(mask_fields[k].name, names[i]) != 0)
            k++;
        if (k == NMASK) {
            snprintf(why, whylen,
                     "update_mask[%zu]: \"%.40s\" cannot be changed (allowed: service, "
                     "category_id, region, make, model, year_from, year_to, min_start_price, "
                     "max_start_price, priority, adjustment, is_active, note)", i, names[i]);
            return PRICE_E_INVALID;
        }
        *bits |= mask_fields[k].bit;
    }
    return PRICE_OK;
}

static void apply_money(const Gavel__Common__V1__Money *m, bool *has, int64_t *units,
                        const char **currency)
{
    *has = m != NULL;
    *units = m != NULL ? m->units : 0;
    *currency = m != NULL ? m->currency : NULL;
}

int price_rule_apply(price_rule *r, const Gavel__Auctions__V1__PriceRule *m, unsigned fields,
                     char *why, size_t whylen)
{
    if (fields & RULE_F_SERVICE)
        r->service = m->service;
    if (fields & RULE_F_CATEGORY)
        r->category_id = m->category_id;
    if (fields & RULE_F_REGION)
        r->region = m->region;
    if (fields & RULE_F_MAKE)
        r->make = m->make;
    if (fields & RULE_F_MODEL)
        r->model = m->model;
    if (fields & RULE_F_YEAR_FROM)
        r->year_from = m->year_from;
    if (fields & RULE_F_YEAR_TO)
        r->year_to = m->year_to;
    if (fields & RULE_F_MIN_PRICE)
        apply_money(m->min_start_price, &r->has_min, &r->min_start_price, &r->min_currency);
    if (fields & RULE_F_MAX_PRICE)
        apply_money(m->max_start_price, &r->has_max, &r->max_start_price, &r->max_currency);
    if (fields & RULE_F_PRIORITY)
        r->priority = m->priority;
    if (fields & RULE_F_ACTIVE)
        r->is_active = m->is_active;
    if (fields & RULE_F_NOTE)
        r->note = m->note;
    if (!(fields & RULE_F_ADJUSTMENT))
        return PRICE_OK;
    switch (m->adjustment_case) {
    case GAVEL__AUCTIONS__V1__PRICE_RULE__ADJUSTMENT_COEFFICIENT_PERMILLE:
        r->is_fixed = false;
        r->coefficient_permille = m->coefficient_permille;
        r->fixed_price = 0;
        r->fixed_currency = NULL;
        return PRICE_OK;
    case GAVEL__AUCTIONS__V1__PRICE_RULE__ADJUSTMENT_FIXED_PRICE:
        if (m->fixed_price != NULL) {
            r->is_fixed = true;
            r->coefficient_permille = 0;
            apply_money(m->fixed_price, &r->is_fixed, &r->fixed_price, &r->fixed_currency);
            return PRICE_OK;
        }
        break;
    default:
        break;
    }
    snprintf(why, whylen, "adjustment missing: set coefficient_permille or fixed_price");
    return PRICE_E_INVALID;
}

/* The rule's money fields share one currency from the accepted list. */
static int check_currency(const price_rule *r, const char *currencies, const char **currency,
                          char *why, size_t whylen)
{
    const char *cur[3] = { r->has_min ? r->min_currency : NULL,
                           r->has_max ? r->max_currency : NULL,
                           r->is_fixed ? r->fixed_currency : NULL };
    static const char *const field[3] = { "min_start_price", "max_start_price", "fixed_price" };
    *currency = NULL;
    for (int i = 0; i < 3; i++) {
        if (cur[i] == NULL)
            continue;
        if (!check_currency_in_list(cur[i], currencies)) {
            snprintf(why, whylen, "%s.currency must be one of %s", field[i], currencies);
            return PRICE_E_INVALID;
        }
        if (*currency != NULL && strcmp(*currency, cur[i]) != 0) {
            snprintf(why, whylen, "%s is in %s but the rule's other money is in %s; a rule "
                     "holds one currency", field[i], cur[i], *currency);
            return PRICE_E_INVALID;
        }
        *currency = cur[i];
    }
    return PRICE_OK;
}

static bool year_ok(int32_t y)
{
    return y == 0 || (y >= PRICE_YEAR_MIN && y <= PRICE_YEAR_MAX);
}

/* The first broken rule of a rule's ranges, or NULL. */
static const char *rule_range_error(const price_rule *r)
{
    if (r->category_id < 0)
        return "category_id must be 0 (any) or a category id";
    if (r->model[0] != '\0' && r->make[0] == '\0')
        return "model needs make: a model rule names its make too";
    if (!year_ok(r->year_from) || !year_ok(r->year_to))
        return "year_from and year_to must be 0 (open) or 1900..2100";
    if (r->year_from != 0 && r->year_to != 0 && r->year_from > r->year_to)
        return "year_from must not be after year_to";
    if (r->has_min && !check_money_units(r->min_start_price, 0))
        return "min_start_price.units must be 0..10^15";
    if (r->has_max && !check_money_units(r->max_start_price, 1))
        return "max_start_price.units must be 1..10^15";
    if (r->has_min && r->has_max && r->min_start_price >= r->max_start_price)
        return "min_start_price must be below max_start_price (the upper bound is exclusive)";
    if (r->priority < -PRICE_PRIORITY_MAX || r->priority > PRICE_PRIORITY_MAX)
        return "priority must be -1000..1000";
    if (!r->is_fixed && (r->coefficient_permille < 1 ||
                         r->coefficient_permille > PRICE_PERMILLE_MAX))
        return "coefficient_permille must be 1..100000 (1000 keeps the base price)";
    if (r->is_fixed && !check_money_units(r->fixed_price, 0))
        return "fixed_price.units must be 0..10^15";
    return NULL;
}

int price_rule_check(const price_rule *r, const char *currencies, const char **currency,
                     char *why, size_t whylen)
{
    if (paid_service_find(r->service) == NULL) {
        snprintf(why, whylen, "service \"%.40s\" is not a known service (known: %s)",
                 r->service, paid_service_codes());
        return PRICE_E_INVALID;
    }
    const char *err = rule_range_error(r);
    if (err != NULL) {
        snprintf(why, whylen, "%s", err);
        return PRICE_E_INVALID;
    }
    return check_currency(r, currencies, currency, why, whylen);
}

/* ---- rows and messages ---- */

typedef struct {
    price_rule rule;
    int64_t created_by, created_at_us, updated_at_us;
} rule_row;

/* Row i of r (PRICE_RULE_COLUMNS); strings borrowed from r. */
static void rule_from_row(const PGresult *r, int i, rule_row *out)
{
    price_rule *p = &out->rule;
    const char *cur = db_get_str(r, i, 8);
    *p = (price_rule){
        .id = db_get_i64(r, i, 0), .service = db_get_str(r, i, 1),
        .category_id = db_get_i64(r, i, 2), .region = db_get_str(r, i, 3),
        .make = db_get_str(r, i, 4), .model = db_get_str(r, i, 5),
        .year_from = (int32_t)db_get_i64(r, i, 6), .year_to = (int32_t)db_get_i64(r, i, 7),
        .has_min = !PQgetisnull(r, i, 9), .min_start_price = db_get_i64(r, i, 9),
        .min_currency = cur, .has_max = !PQgetisnull(r, i, 10),
        .max_start_price = db_get_i64(r, i, 10), .max_currency = cur,
        .priority = (int32_t)db_get_i64(r, i, 11), .is_fixed = !PQgetisnull(r, i, 13),
        .coefficient_permille = (int32_t)db_get_i64(r, i, 12),
        .fixed_price = db_get_i64(r, i, 13), .fixed_currency = cur,
        .is_active = db_get_bool(r, i, 14), .note = db_get_str(r, i, 15),
    };
    out->created_by = db_get_i64(r, i, 16);
    out->created_at_us = db_get_i64(r, i, 17);
    out->updated_at_us = db_get_i64(r, i, 18);
}

static Gavel__Auctions__V1__PriceRule *rule_message(rpc_call *c, const PGresult *r, int i)
{
    rule_row row;
    rule_from_row(r, i, &row);
    const price_rule *p = &row.rule;
    arena *a = rpc_arena(c);
    Gavel__Auctions__V1__PriceRule *m =
        (void *)rpc_new(c, &gavel__auctions__v1__price_rule__descriptor);
    m->id = p->id;
    m->service = arena_strdup(a, p->service);
    m->category_id = p->category_id;
    m->region = arena_strdup(a, p->region);
    m->make = arena_strdup(a, p->make);
    m->model = arena_strdup(a, p->model);
    m->year_from = p->year_from;
    m->year_to = p->year_to;
    m->min_start_price = p->has_min ? check_money_new(a, p->min_currency, p->min_start_price) : NULL;
    m->max_start_price = p->has_max ? check_money_new(a, p->max_currency, p->max_start_price) : NULL;
    m->priority = p->priority;
    if (p->is_fixed) {
        m->adjustment_case = GAVEL__AUCTIONS__V1__PRICE_RULE__ADJUSTMENT_FIXED_PRICE;
        m->fixed_price = check_money_new(a, p->fixed_currency, p->fixed_price);
    } else {
        m->adjustment_case = GAVEL__AUCTIONS__V1__PRICE_RULE__ADJUSTMENT_COEFFICIENT_PERMILLE;
        m->coefficient_permille = p->coefficient_permille;
    }
    m->is_active = p->is_active;
    m->note = arena_strdup(a, p->note);
    m->created_by = row.created_by;
    m->created_at_us = row.created_at_us;
    m->updated_at_us = row.updated_at_us;
    return m;
}

/* $1..$15 of a write (PRICE_RULE_VALUES); buf holds the numbers. */
static void rule_params(const price_rule *r, const char *currency, char buf[8][24],
                        const char *p[15])
{
    p[0] = r->service;
    p[1] = db_i64(buf[0], r->category_id);
    p[2] = r->region;
    p[3] = r->make;
    p[4] = r->model;
    p[5] = db_i64(buf[1], r->year_from);
    p[6] = db_i64(buf[2], r->year_to);
    p[7] = currency != NULL ? currency : "";
    p[8] = r->has_min ? db_i64(buf[3], r->min_start_price) : NULL;
    p[9] = r->has_max ? db_i64(buf[4], r->max_start_price) : NULL;
    p[10] = db_i64(buf[5], r->priority);
    p[11] = r->is_fixed ? NULL : db_i64(buf[6], r->coefficient_permille);
    p[12] = r->is_fixed ? db_i64(buf[7], r->fixed_price) : NULL;
    p[13] = r->is_active ? "true" : "false";
    p[14] = r->note;
}

/* The text fields a request sets, each within its length. */
static int check_rule_text(rpc_call *c, const Gavel__Auctions__V1__PriceRule *m, unsigned fields)
{
    int rc = GRPC_STATUS_OK;
    if ((fields & RULE_F_REGION) && (rc = check_text(c, "rule.region", m->region, 0, 100)) != 0)
        return rc;
    if ((fields & RULE_F_MAKE) && (rc = check_text(c, "rule.make", m->make, 0, 64)) != 0)
        return rc;
    if ((fields & RULE_F_MODEL) && (rc = check_text(c, "rule.model", m->model, 0, 64)) != 0)
        return rc;
    if (fields & RULE_F_NOTE)
        rc = check_prose(c, "rule.note", m->note, 0, PRICE_NOTE_MAX);
    return rc;
}

/* Applies the request's fields to r and checks the result; on success
 * *currency is the rule's currency (or NULL). */
static int rule_merge(rpc_call *c, price_rule *r, const Gavel__Auctions__V1__PriceRule *m,
                      unsigned fields, const char **currency)
{
    char why[512];
    if (price_rule_apply(r, m, fields, why, sizeof why) < 0 ||
        price_rule_check(r, auctions.currencies, currency, why, sizeof why) < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
    return GRPC_STATUS_OK;
}

static int fail_category(rpc_call *c, int64_t id)
{
    return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "category %lld not found", (long long)id);
}

/* ---- handlers ---- */

int price_rule_create(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__CreatePriceRuleRequest *q = (const void *)in;
    price_rule rule = { 0 };
    const char *currency = NULL;
    int rc;
    if (q->rule == NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "rule is required");
    if ((rc = check_rule_text(c, q->rule, RULE_F_ALL)) != 0 ||
        (rc = rule_merge(c, &rule, q->rule, RULE_F_ALL, &currency)) != 0)
        return rc;
    char buf[10][24];
    const char *p[17];
    rule_params(&rule, currency, buf, p);
    p[15] = db_i64(buf[8], rpc_caller(c)->user_id);
    p[16] = db_i64(buf[9], now_us());
    PGresult *r = price_exec_once(c, "price_rule_insert", 17, p, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) != 1)
        return fail_category(c, rule.category_id);
    Gavel__Auctions__V1__CreatePriceRuleResponse *resp =
        (void *)rpc_new(c, &gavel__auctions__v1__create_price_rule_response__descriptor);
    resp->rule = rule_message(c, r, 0);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

/* One UpdatePriceRule inside its transaction; lives on the handler's stack. */
typedef struct {
    rpc_call *c;
    const Gavel__Auctions__V1__UpdatePriceRuleRequest *q;
    unsigned fields;
    PGresult *row;       /* the updated row, owned by the call's arena */
    int status;
} rule_update;

static int update_body(db_conn *conn, void *arg)
{
    rule_update *u = arg;
    char idbuf[24], buf[10][24];
    const char *p[17] = { db_i64(idbuf, u->q->rule_id) };
    int rc = 0;
    PGresult *r = price_exec(u->c, conn, "price_rule_get_for_update", 1, p, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) != 1) {
        u->status = rpc_fail(u->c, GRPC_STATUS_NOT_FOUND, "price rule %lld not found",
                             (long long)u->q->rule_id);
        return DB_E_ABORT;
    }
    rule_row old;
    const char *currency = NULL;
    rule_from_row(r, 0, &old);
    u->status = rule_merge(u->c, &old.rule, u->q->rule, u->fields, &currency);
    if (u->status != GRPC_STATUS_OK)
        return DB_E_ABORT;
    rule_params(&old.rule, currency, buf, p);
    p[15] = db_i64(buf[8], u->q->rule_id);
    p[16] = db_i64(buf[9], now_us());
    u->row = price_exec(u->c, conn, "price_rule_update", 17, p, &rc);
    if (u->row == NULL)
        return rc;
    if (PQntuples(u->row) != 1) {
        u->status = fail_category(u->c, old.rule.category_id);
        return DB_E_ABORT;
    }
    return 0;
}

int price_rule_update(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__UpdatePriceRuleRequest *q = (const void *)in;
    rule_update u = { .c = c, .q = q };
    char why[512];
    int rc;
    if (q->rule_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "rule_id must be a positive id");
    if (price_mask_parse(q->update_mask, q->n_update_mask, &u.fields, why, sizeof why) < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
    if (q->rule == NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "rule is required (it carries the "
                        "new values)");
    if ((rc = check_rule_text(c, q->rule, u.fields)) != 0)
        return rc;
    rc = db_tx(auctions.db, DB_READ_COMMITTED, update_body, &u);
    if (rc == DB_E_ABORT)
        return u.status;
    if (rc < 0)
        return check_fail_db(c, rc);
    Gavel__Auctions__V1__UpdatePriceRuleResponse *resp =
        (void *)rpc_new(c, &gavel__auctions__v1__update_price_rule_response__descriptor);
    resp->rule = rule_message(c, u.row, 0);
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

int price_rule_delete(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__DeletePriceRuleRequest *q = (const void *)in;
    if (q->rule_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "rule_id must be a positive id");
    char idbuf[24];
    const char *p[] = { db_i64(idbuf, q->rule_id) };
    int rc = 0;
    PGresult *r = price_exec_once(c, "price_rule_delete", 1, p, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) != 1)
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "price rule %lld not found",
                        (long long)q->rule_id);
    *out = rpc_new(c, &gavel__auctions__v1__delete_price_rule_response__descriptor);
    return GRPC_STATUS_OK;
}

/* ---- ListPriceRules ---- */

/* Where a page starts: after (service, priority, id); the first page has
 * service "". Tokens are "<service>:<priority>:<id>" of the last rule shown. */
typedef struct {
    char service[33];
    long priority;
    long long id;
} page_pos;

static bool page_token_parse(const char *t, page_pos *pos)
{
    *pos = (page_pos){ .priority = 0, .id = 0 };
    if (t[0] == '\0')
        return true;
    size_t n = strcspn(t, ":");
    if (n == 0 || n >= sizeof pos->service || t[n] != ':')
        return false;
    memcpy(pos->service, t, n);
    pos->service[n] = '\0';
    char *end = NULL;
    const char *s = t + n + 1;
    pos->priority = strtol(s, &end, 10);
    if (end == s || *end != ':' || pos->priority < -PRICE_PRIORITY_MAX ||
        pos->priority > PRICE_PRIORITY_MAX)
        return false;
    s = end + 1;
    pos->id = strtoll(s, &end, 10);
    return end != s && *end == '\0' && pos->id > 0 &&
           strspn(pos->service, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

int price_rule_list(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__ListPriceRulesRequest *q = (const void *)in;
    int size = q->page != NULL ? q->page->page_size : 0;
    page_pos pos;
    if (q->service[0] != '\0' && paid_service_find(q->service) == NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "service \"%.40s\" is not a known service (known: %s)", q->service,
                        paid_service_codes());
    if (size < 0 || size > RULES_PAGE_MAX)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_size must be 0..%d",
                        RULES_PAGE_MAX);
    if (!page_token_parse(q->page != NULL ? q->page->page_token : "", &pos))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "page.page_token is malformed; pass "
                        "the next_page_token of the previous page");
    size = size == 0 ? RULES_PAGE_DEFAULT : size;
    char a[3][24];
    const char *p[] = { q->service, q->include_inactive ? "true" : "false", pos.service,
                        db_i64(a[0], pos.priority), db_i64(a[1], pos.id), db_i64(a[2], size + 1) };
    int rc = 0;
    PGresult *r = price_exec_once(c, "price_rules_page", 6, p, &rc);
    if (r == NULL)
        return rc;
    Gavel__Auctions__V1__ListPriceRulesResponse *resp =
        (void *)rpc_new(c, &gavel__auctions__v1__list_price_rules_response__descriptor);
    int n = PQntuples(r) > size ? size : PQntuples(r);
    resp->rules = rpc_alloc(c, sizeof *resp->rules * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        resp->rules[resp->n_rules++] = rule_message(c, r, i);
    resp->page = (void *)rpc_new(c, &gavel__common__v1__page_response__descriptor);
    if (PQntuples(r) > size) {
        const Gavel__Auctions__V1__PriceRule *last = resp->rules[n - 1];
        resp->page->next_page_token = arena_printf(rpc_arena(c), "%s:%d:%lld", last->service,
                                                   last->priority, (long long)last->id);
    }
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
