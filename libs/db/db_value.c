/*
 * db_value: reading fields of text-format results and formatting
 * parameters. A NULL field, or a row or column out of range, reads as the
 * type's zero value ("" for strings), so callers test PQgetisnull() only
 * where NULL means something different from zero.
 */
#include "db/db_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    int rc;
    const char *name;
} error_names[] = {
    { DB_OK, "DB_OK" },
    { DB_E_CONN, "DB_E_CONN" },
    { DB_E_RETRY, "DB_E_RETRY" },
    { DB_E_UNIQUE, "DB_E_UNIQUE" },
    { DB_E_CHECK, "DB_E_CHECK" },
    { DB_E_TIMEOUT, "DB_E_TIMEOUT" },
    { DB_E_SQL, "DB_E_SQL" },
    { DB_E_ABORT, "DB_E_ABORT" },
};

const char *db_strerror(int rc)
{
    for (size_t i = 0; i < sizeof error_names / sizeof error_names[0]; i++) {
        if (error_names[i].rc == rc)
            return error_names[i].name;
    }
    return "DB_E_UNKNOWN";
}

/* The field's text, or NULL when it is SQL NULL or out of range. */
static const char *field(const PGresult *r, int row, int col)
{
    if (!r || row < 0 || row >= PQntuples(r) || col < 0 ||
        col >= PQnfields(r) || PQgetisnull(r, row, col))
        return NULL;
    return PQgetvalue(r, row, col);
}

int64_t db_get_i64(const PGresult *r, int row, int col)
{
    const char *v = field(r, row, col);
    char *end;
    long long n = 0;

    if (!v)
        goto out;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || errno == ERANGE)
        n = 0;
out:
    return (int64_t)n;
}

const char *db_get_str(const PGresult *r, int row, int col)
{
    const char *v = field(r, row, col);

    return v ? v : "";
}

bool db_get_bool(const PGresult *r, int row, int col)
{
    const char *v = field(r, row, col);

    return v && (strcmp(v, "t") == 0 || strcmp(v, "true") == 0);
}

const char *db_i64(char *buf, int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}
