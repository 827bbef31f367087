/*
 * Money in requests, the one place its rules live: an amount is integer
 * minor units in 0..CHECK_MONEY_MAX (each field says its lowest), and a
 * currency is three upper-case letters, from the service's accepted list
 * when it keeps one, the platform's when the request leaves it empty and
 * the field allows that. Every Money a service builds comes from
 * check_money_new, so answers and events carry the same shape.
 */
#include <string.h>

#include "check/check.h"

static bool is_currency_code(const char *cur)
{
    if (strnlen(cur, 4) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (cur[i] < 'A' || cur[i] > 'Z')
            return false;
    return true;
}

bool check_currency_in_list(const char *cur, const char *list)
{
    if (!is_currency_code(cur))
        return false;
    for (const char *p = strstr(list, cur); p != NULL; p = strstr(p + 1, cur))
        if ((p == list || p[-1] == ',') && (p[3] == ',' || p[3] == '\0'))
            return true;
    return false;
}

bool check_money_units(int64_t units, int64_t min_units)
{
    return units >= min_units && units <= CHECK_MONEY_MAX;
}

int check_money(rpc_call *c, const char *field, const Gavel__Common__V1__Money *m,
                const check_money_rule *rule, const char **cur)
{
    if (m == NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s is required", field);
    const char *currency = m->currency;
    if (currency[0] == '\0' && rule->default_currency != NULL)
        currency = rule->default_currency;
    if (rule->currencies != NULL && !check_currency_in_list(currency, rule->currencies))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s.currency must be one of %s", field,
                        rule->currencies);
    if (rule->currencies == NULL && !is_currency_code(currency))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "%s.currency must be three upper-case letters", field);
    if (!check_money_units(m->units, rule->min_units))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "%s.units must be between %lld and %lld minor units (got %lld)", field,
                        (long long)rule->min_units, CHECK_MONEY_MAX, (long long)m->units);
    if (cur != NULL)
        *cur = currency;
    return GRPC_STATUS_OK;
}

Gavel__Common__V1__Money *check_money_new(arena *a, const char *currency, int64_t units)
{
    Gavel__Common__V1__Money *m = arena_alloc(a, sizeof *m);
    gavel__common__v1__money__init(m);
    m->currency = arena_strdup(a, currency != NULL ? currency : "");
    m->units = units;
    return m;
}
