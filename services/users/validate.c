/*
 * Input checks shared by the users and wallet handlers. Each check that
 * fails records INVALID_ARGUMENT with a message naming the field and the
 * rule, so a caller can fix the request without reading our code. Strings
 * arrive already checked for valid UTF-8 by the rpc runtime.
 */
#include <string.h>

#include "users.h"

size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

int check_text(rpc_call *c, const char *field, const char *s, size_t min, size_t max)
{
    size_t bytes = strnlen(s, 4 * max + 1);
    size_t n = bytes > 4 * max ? max + 1 : utf8_chars(s);
    if (n < min || n > max)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s must be %zu to %zu characters",
                        field, min, max);
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "%s must not contain control characters", field);
    return GRPC_STATUS_OK;
}

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

int check_idempotency_key(rpc_call *c, const char *key)
{
    size_t n = strnlen(key, 129);
    bool ok = n >= 1 && n <= 128;
    for (size_t i = 0; ok && i < n; i++)
        ok = key[i] > 0x20 && key[i] < 0x7f;
    return ok ? GRPC_STATUS_OK
              : rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "idempotency_key must be 1 to 128 printable ASCII characters");
}

bool currency_accepted(const char *cur)
{
    if (strlen(cur) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (cur[i] < 'A' || cur[i] > 'Z')
            return false;
    const char *list = users.currencies;
    for (const char *p = strstr(list, cur); p != NULL; p = strstr(p + 1, cur))
        if ((p == list || p[-1] == ',') && (p[3] == ',' || p[3] == '\0'))
            return true;
    return false;
}

int check_money(rpc_call *c, const char *field, const Gavel__Common__V1__Money *m,
                const char **cur)
{
    if (m == NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s is required", field);
    const char *currency = m->currency[0] != '\0' ? m->currency : users.currency;
    if (!currency_accepted(currency))
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "%s.currency must be one of %s", field, users.currencies);
    if (m->units <= 0 || m->units > MAX_MONEY_UNITS)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "%s.units must be between 1 and %lld minor units (got %lld)", field,
                        MAX_MONEY_UNITS, (long long)m->units);
    *cur = currency;
    return GRPC_STATUS_OK;
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

int fail_db(rpc_call *c, int rc)
{
    if (rc == DB_E_CONN || rc == DB_E_TIMEOUT || rc == DB_E_RETRY)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                        "database unavailable (%s); retry (with the same idempotency key)",
                        db_strerror(rc));
    return rpc_fail(c, GRPC_STATUS_INTERNAL, "internal error (%s)", db_strerror(rc));
}
