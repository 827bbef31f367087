/*
 * Shared checks of text fields and idempotency keys, and what a database
 * failure tells the caller; see check.h. Money is in check_money.c.
 */
#include <string.h>

#include "check/check.h"
#include "db/db.h"

size_t check_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int check_length(rpc_call *c, const char *field, const char *s, size_t min, size_t max,
                        bool prose)
{
    size_t bytes = strnlen(s, 4 * max + 1);
    size_t n = bytes > 4 * max ? max + 1 : check_utf8_chars(s);
    if (n < min || n > max)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s must be %zu to %zu characters",
                        field, min, max);
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 || ch == 0x7f) && !(prose && (ch == '\n' || ch == '\t' || ch == '\r')))
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "%s must not contain control characters", field);
    }
    return GRPC_STATUS_OK;
}

int check_text(rpc_call *c, const char *field, const char *s, size_t min, size_t max)
{
    return check_length(c, field, s, min, max, false);
}

int check_prose(rpc_call *c, const char *field, const char *s, size_t min, size_t max)
{
    return check_length(c, field, s, min, max, true);
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

int check_fail_db(rpc_call *c, int rc)
{
    if (rc == DB_E_CONN || rc == DB_E_TIMEOUT || rc == DB_E_RETRY)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                        "database unavailable (%s); retry (with the same idempotency key)",
                        db_strerror(rc));
    return rpc_fail(c, GRPC_STATUS_INTERNAL, "internal error (%s)", db_strerror(rc));
}
