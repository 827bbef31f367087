/*
 * Input checks of the users and wallet handlers; the generic ones (text,
 * idempotency keys, money, database failures) live in libs/check.
 * Each failing check records INVALID_ARGUMENT with a message naming the
 * field and the rule.
 */
#include <string.h>

#include "users.h"

int check_email(rpc_call *c, const char *email)
{
    size_t n = strnlen(email, 255);
    const char *at = strchr(email, '@');
    bool ok = n >= 3 && n <= 254 && at != NULL && at != email && strchr(at + 1, '@') == NULL &&
              strchr(at + 1, '.') != NULL && at[1] != '.' && email[n - 1] != '.';
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char ch = (unsigned char)email[i];
        ok = ch > 0x20 && ch != 0x7f && ch != '<' && ch != '>' && ch != ',' && ch != ';';
    }
    return ok ? GRPC_STATUS_OK
              : rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "email must look like name@example.com (at most 254 bytes)");
}

int wallet_check_amount(rpc_call *c, const char *field, const Gavel__Common__V1__Money *m,
                        const char **cur)
{
    const check_money_rule rule = { .min_units = 1, .currencies = users.currencies,
                                    .default_currency = users.currency };
    return check_money(c, field, m, &rule, cur);
}

static const struct { Gavel__Users__V1__Role role; const char *text; } roles[] = {
    { GAVEL__USERS__V1__ROLE__ROLE_BIDDER, "bidder" },
    { GAVEL__USERS__V1__ROLE__ROLE_SELLER, "seller" },
    { GAVEL__USERS__V1__ROLE__ROLE_MODERATOR, "moderator" },
    { GAVEL__USERS__V1__ROLE__ROLE_ADMIN, "admin" },
};

const char *role_to_text(Gavel__Users__V1__Role r)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (roles[i].role == r)
            return roles[i].text;
    return NULL;
}

Gavel__Users__V1__Role role_from_text(const char *s)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(roles[i].text, s) == 0)
            return roles[i].role;
    return GAVEL__USERS__V1__ROLE__ROLE_UNSPECIFIED;
}

