/*
 * Paid-service pricing, shared by pricing.c (the service table, the price
 * arithmetic, QuoteServices) and price_rules.c (the rules and their admin
 * RPCs). The functions here that take no rpc_call are pure, so
 * pricing_test.c drives them from tables; the handlers turn their `why`
 * into INVALID_ARGUMENT.
 *
 * Resolution (auctions.proto, "Paid-service pricing"): a rule matches when
 * every criterion it sets equals the subject's; of a service's matching
 * rules the highest priority wins, then the most criteria set, then the
 * lowest id; no match gives the service's base price. Currency: base
 * prices exist per currency in the service table; a rule holding money (a
 * fixed price or start-price bounds) is in one currency and applies only
 * to quotes in it, while a coefficient-only rule applies in every currency
 * to that currency's base price.
 */
#ifndef GAVEL_AUCTIONS_PRICING_H
#define GAVEL_AUCTIONS_PRICING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auctions.h"

/* Error vocabulary of the pure functions below. */
enum {
    PRICE_OK = 0,
    PRICE_E_INVALID = -1,   /* the input breaks a rule; `why` says which */
    PRICE_E_OVERFLOW = -2,  /* a price would leave 0..CHECK_MONEY_MAX */
};

#define QUOTE_MAX_SERVICES 50
#define PRICE_YEAR_MIN 1900
#define PRICE_YEAR_MAX 2100
#define PRICE_PRIORITY_MAX 1000
#define PRICE_PERMILLE_MAX 100000
#define PRICE_NOTE_MAX 500

/* ---- the service table (pricing.c) ---- */

/* Currencies the table holds base prices in, in column order. */
#define PAID_CURRENCIES 3
extern const char *const paid_currencies[PAID_CURRENCIES];

/**
 * One paid service: its code and base price (minor units) per currency.
 * A per-mille service (a settlement fee) holds a rate instead: base[] is
 * per mille of the lot's hammer price, the same in every currency, and it
 * is quoted only for a lot that closed with a price (price_fee).
 */
typedef struct {
    const char *code;
    int64_t base[PAID_CURRENCIES];
    bool is_per_mille;
} paid_service;

/** The service with this code, or NULL. Static; never freed. */
const paid_service *paid_service_find(const char *code);
/** Every known service in table order (an empty quote prices them all). */
const paid_service *paid_service_all(size_t *n);
/** The known codes as "promotion, hot, …" for messages. Static. */
const char *paid_service_codes(void);
/** The column of currency in a service's base prices, or -1. */
int paid_currency_index(const char *currency);
/** The base price of s in currency, or -1 when the table has none. */
int64_t paid_service_base(const paid_service *s, const char *currency);

/**
 * ceil(base * permille / 1000) into *out without leaving int64: PRICE_OK,
 * or PRICE_E_OVERFLOW when base < 0, permille < 1 or the price exceeds
 * CHECK_MONEY_MAX.
 */
int price_apply_permille(int64_t base, int32_t permille, int64_t *out);

/**
 * ceil(amount * num / den) into *out in integers only: PRICE_OK, or
 * PRICE_E_OVERFLOW when amount < 0, num < 0, den outside 1..1,000,000,
 * num above 1,000,000,000, or the result exceeds CHECK_MONEY_MAX.
 */
int price_ceil_ratio(int64_t amount, int64_t num, int64_t den, int64_t *out);

/**
 * A per-mille fee: ceil(hammer * rate_permille * coefficient_permille /
 * 1,000,000) into *out, coefficient_permille 1000 for the base rate. A
 * rate of 0 gives 0 under any coefficient. PRICE_E_OVERFLOW for hammer
 * outside 0..CHECK_MONEY_MAX, rate outside 0..1000, coefficient outside
 * 1..PRICE_PERMILLE_MAX.
 */
int price_fee(int64_t hammer, int32_t rate_permille, int32_t coefficient_permille, int64_t *out);

/**
 * Resolves a quote's service codes: n == 0 means every known service.
 * Fills out[] (room for QUOTE_MAX_SERVICES) and *nout. PRICE_E_INVALID
 * with a message naming the code and its index for more than
 * QUOTE_MAX_SERVICES codes, an unknown code or a duplicate.
 */
int quote_services_resolve(char *const *codes, size_t n, const paid_service **out,
                           size_t *nout, char *why, size_t whylen);

/* ---- statements (pricing.c) ---- */

/**
 * Runs prepared statement `name` on conn. Returns the result, owned by the
 * call's arena (cleared when the call ends), or NULL with *rc a DB_E_*
 * code.
 */
PGresult *price_exec(rpc_call *c, db_conn *conn, const char *name, int nparams,
                     const char *const *params, int *rc);
/**
 * price_exec on a connection borrowed for just this statement. On failure
 * returns NULL after failing the call (check_fail_db); *status is that status.
 */
PGresult *price_exec_once(rpc_call *c, const char *name, int nparams,
                          const char *const *params, int *status);

/* ---- rules (price_rules.c) ---- */

/*
 * A rule as the handlers hold it between the request, the checks and the
 * row. Strings are borrowed (from the request or from a PGresult the
 * call's arena owns). Money fields keep their own currencies until
 * price_rule_check makes sure they agree.
 */
typedef struct {
    int64_t id;
    const char *service;
    int64_t category_id;            /* 0 = any */
    const char *region, *make, *model;
    int32_t year_from, year_to;     /* 0 = open */
    bool has_min, has_max;
    int64_t min_start_price, max_start_price;
    const char *min_currency, *max_currency;
    int32_t priority;
    bool is_fixed;                  /* else coefficient_permille */
    int32_t coefficient_permille;   /* 0 when fixed */
    int64_t fixed_price;
    const char *fixed_currency;
    bool is_active;
    const char *note;
} price_rule;

/* The fields an UpdatePriceRule mask may name, as bits. */
enum {
    RULE_F_SERVICE = 1u << 0,
    RULE_F_CATEGORY = 1u << 1,
    RULE_F_REGION = 1u << 2,
    RULE_F_MAKE = 1u << 3,
    RULE_F_MODEL = 1u << 4,
    RULE_F_YEAR_FROM = 1u << 5,
    RULE_F_YEAR_TO = 1u << 6,
    RULE_F_MIN_PRICE = 1u << 7,
    RULE_F_MAX_PRICE = 1u << 8,
    RULE_F_PRIORITY = 1u << 9,
    RULE_F_ADJUSTMENT = 1u << 10,
    RULE_F_ACTIVE = 1u << 11,
    RULE_F_NOTE = 1u << 12,
};
#define RULE_F_ALL 0x1fffu

/**
 * Parses update_mask names into RULE_F_* bits (a name given twice counts
 * once). PRICE_E_INVALID for an empty mask or a name not allowed, which
 * the message names.
 */
int price_mask_parse(char *const *names, size_t n, unsigned *bits, char *why, size_t whylen);

/**
 * Copies the fields named in `fields` from the message m into r (borrowing
 * its strings); output-only fields are ignored. PRICE_E_INVALID when
 * RULE_F_ADJUSTMENT is named but m sets neither adjustment.
 */
int price_rule_apply(price_rule *r, const Gavel__Auctions__V1__PriceRule *m, unsigned fields,
                     char *why, size_t whylen);

/**
 * Checks a whole rule: known service, ranges (category, years, priority,
 * coefficient, money), model only with make, bounds that leave some
 * price, and one currency among its money fields, named in `currencies`
 * (comma-separated). On PRICE_OK *currency is that currency or NULL when
 * the rule holds no money. Text lengths are the handlers' (check_text).
 */
int price_rule_check(const price_rule *r, const char *currencies, const char **currency,
                     char *why, size_t whylen);

/* Handlers of the rule RPCs, listed in pricing_methods (pricing.c). */
int price_rule_create(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int price_rule_update(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int price_rule_delete(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int price_rule_list(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);

/* ---- SQL ---- */

/*
 * The quote: every requested service resolved in this one statement.
 * $1 service codes (text[], request order), $2 category id or NULL, $3
 * region, $4 make, $5 model, $6 year or NULL, $7 start price or NULL, $8
 * the quote's currency. One row per code, in order: ord, the winning
 * rule's id, coefficient_permille and fixed_price (all NULL for none),
 * and whether category $2 exists.
 *
 * lineage is the category and its ancestors (UNION, so even a cycle
 * ends). keys holds the 2 x 2 x 2 (make, model, region) keys a rule may
 * carry and still match: '' or the subject's, lower-cased as the table's
 * *_key columns are, then put back into the columns' collation (a key
 * left in the ICU collation cannot use the index: the match becomes a
 * filter over all of the service's rules, 30 times slower at 10,000).
 * For each service and key the inner LATERAL is one descent of
 * price_rules_match, which yields rules in winning order, so it stops at
 * the first that passes the other criteria; the outer LATERAL keeps the
 * best of those (at most 8) per service. A NULL year or start price fails
 * every bound, so a rule with a bound never matches a subject without
 * that attribute.
 */
#define PRICE_QUOTE_SQL                                                                       \
    "WITH RECURSIVE lineage (id, parent_id) AS ("                                           \
    " SELECT c.id, c.parent_id FROM categories c WHERE c.id = $2::bigint"                   \
    " UNION"                                                                                \
    " SELECT c.id, c.parent_id FROM categories c JOIN lineage l ON c.id = l.parent_id"      \
    "), keys (make_key, model_key, region_key) AS ("                                        \
    " SELECT DISTINCT mk, mdk, rk FROM"                                                     \
    " unnest(ARRAY['', lower($4::text COLLATE \"und-x-icu\") COLLATE \"default\"]) mk,"      \
    " unnest(ARRAY['', lower($5::text COLLATE \"und-x-icu\") COLLATE \"default\"]) mdk,"     \
    " unnest(ARRAY['', lower($3::text COLLATE \"und-x-icu\") COLLATE \"default\"]) rk"       \
    ") "                                                                                    \
    "SELECT w.ord, best.id, best.coefficient_permille, best.fixed_price,"                   \
    " EXISTS (SELECT 1 FROM lineage) "                                                      \
    "FROM unnest($1::text[]) WITH ORDINALITY AS w (service, ord) "                          \
    "LEFT JOIN LATERAL ("                                                                   \
    " SELECT m.* FROM keys k CROSS JOIN LATERAL ("                                          \
    "  SELECT p.id, p.priority, p.specificity, p.coefficient_permille, p.fixed_price"       \
    "  FROM price_rules p"                                                                  \
    "  WHERE p.is_active AND p.service = w.service AND p.make_key = k.make_key"             \
    "   AND p.model_key = k.model_key AND p.region_key = k.region_key"                      \
    "   AND (p.category_id IS NULL OR p.category_id IN (SELECT id FROM lineage))"           \
    "   AND (p.year_from = 0 OR p.year_from <= $6::integer)"                                \
    "   AND (p.year_to = 0 OR p.year_to >= $6::integer)"                                    \
    "   AND (p.min_start_price IS NULL OR p.min_start_price <= $7::bigint)"                 \
    "   AND (p.max_start_price IS NULL OR p.max_start_price > $7::bigint)"                  \
    "   AND (p.currency IS NULL OR p.currency = $8::text)"                                  \
    "  ORDER BY p.priority DESC, p.specificity DESC, p.id LIMIT 1"                          \
    " ) m"                                                                                  \
    " ORDER BY m.priority DESC, m.specificity DESC, m.id LIMIT 1"                           \
    ") best ON true "                                                                       \
    "ORDER BY w.ord"

/* A rule row, in the order rule_from_row (price_rules.c) reads it. */
#define PRICE_RULE_COLUMNS                                                                    \
    "id, service, coalesce(category_id, 0), region, make, model, year_from, year_to, "      \
    "coalesce(currency, ''), min_start_price, max_start_price, priority, "                  \
    "coefficient_permille, fixed_price, is_active, note, created_by, created_at_us, "       \
    "updated_at_us"

/*
 * The rule columns a write sets, $1..$15 in the order rule_params()
 * (price_rules.c) fills them; an insert adds $16 created_by and $17 now,
 * an update $16 the rule id and $17 now. A write naming a missing
 * category changes no row (0 rows back).
 */
#define PRICE_RULE_COLUMN_NAMES                                                               \
    "service, category_id, region, make, model, year_from, year_to, currency, "             \
    "min_start_price, max_start_price, priority, coefficient_permille, fixed_price, "       \
    "is_active, note"
#define PRICE_RULE_VALUES                                                                     \
    "$1, nullif($2::bigint, 0), $3, $4, $5, $6, $7, nullif($8, ''), $9::bigint, "           \
    "$10::bigint, $11, $12::integer, $13::bigint, $14, $15"
#define PRICE_CATEGORY_EXISTS                                                                 \
    "($2::bigint = 0 OR EXISTS (SELECT 1 FROM categories WHERE id = $2::bigint))"

/*
 * Rows for auctions_stmts (lot_sql.c), the pool's one statement table.
 * The page query walks (service, priority DESC, id) from the token's
 * position: $1 service filter or '', $2 include inactive, $3..$5 the last
 * rule shown (service, priority, id; '' for the first page), $6 the limit.
 */
#define PRICING_STMTS                                                                         \
    { "price_quote", PRICE_QUOTE_SQL },                                                      \
    { "price_rule_insert",                                                                   \
      "INSERT INTO price_rules (" PRICE_RULE_COLUMN_NAMES ", created_by, created_at_us, "    \
      "updated_at_us) SELECT " PRICE_RULE_VALUES ", $16, $17, $17 "                          \
      "WHERE " PRICE_CATEGORY_EXISTS " RETURNING " PRICE_RULE_COLUMNS },                     \
    { "price_rule_get_for_update",                                                           \
      "SELECT " PRICE_RULE_COLUMNS " FROM price_rules WHERE id = $1 FOR UPDATE" },           \
    { "price_rule_update",                                                                   \
      "UPDATE price_rules SET (" PRICE_RULE_COLUMN_NAMES ", updated_at_us) = "               \
      "(" PRICE_RULE_VALUES ", greatest($17::bigint, updated_at_us + 1)) "                   \
      "WHERE id = $16 AND " PRICE_CATEGORY_EXISTS " RETURNING " PRICE_RULE_COLUMNS },        \
    { "price_rule_delete", "DELETE FROM price_rules WHERE id = $1 RETURNING id" },           \
    { "price_rules_page",                                                                    \
      "SELECT " PRICE_RULE_COLUMNS " FROM price_rules "                                      \
      "WHERE ($1 = '' OR service = $1) AND ($2::boolean OR is_active) "                      \
      "AND (service > $3 OR (service = $3 AND (priority < $4::integer "                      \
      "OR (priority = $4::integer AND id > $5::bigint)))) "                                  \
      "ORDER BY service, priority DESC, id LIMIT $6" }

#endif
