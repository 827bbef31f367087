/*
 * config: daemons read their settings from environment variables declared
 * as a table (name, default, destination, range). cfg_load() checks the
 * whole table before it writes anything, so a bad value leaves every
 * destination untouched (a caller may go on with the values it had) and
 * the error names the variable, its value and what is allowed. Settings
 * are read once, at start-up: SIGHUP stops a daemon like SIGTERM, it
 * reloads nothing. An unset or empty variable takes the entry's default, and the
 * default is checked by the same rules, so a table bug is reported the
 * same way a deployment typo is.
 */
#include "core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef union {
    int64_t i;
    bool b;
    const char *s;
} cfg_value;

/* Strict decimal: optional sign, digits, nothing else, no overflow. */
static bool parse_int(const char *s, int64_t *out)
{
    if (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const struct { const char *word; bool value; } words[] = {
        { "1", true }, { "true", true }, { "yes", true },
        { "0", false }, { "false", false }, { "no", false },
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcasecmp(s, words[i].word) == 0) {
            *out = words[i].value;
            return true;
        }
    }
    return false;
}

static bool is_unbounded(const cfg_entry *e)
{
    return e->min == 0 && e->max == 0;
}

/* Formats "NAME=value" or "NAME (default value)" for error messages. */
static void describe(const cfg_entry *e, const char *raw, bool from_env,
                     char *buf, size_t len)
{
    if (from_env)
        snprintf(buf, len, "%s=%.64s", e->env, raw);
    else
        snprintf(buf, len, "%s (default \"%.64s\")", e->env, raw);
}

static int check_int(const cfg_entry *e, const char *what, const char *raw,
                     cfg_value *v, char *err, size_t errlen)
{
    if (!parse_int(raw, &v->i)) {
        if (is_unbounded(e))
            snprintf(err, errlen, "%s is not an integer", what);
        else
            snprintf(err, errlen, "%s is not an integer (allowed %lld..%lld)",
                     what, (long long)e->min, (long long)e->max);
        return -1;
    }
    if (!is_unbounded(e) && (v->i < e->min || v->i > e->max)) {
        snprintf(err, errlen, "%s is out of range (allowed %lld..%lld)",
                 what, (long long)e->min, (long long)e->max);
        return -1;
    }
    return 0;
}

/* Parses one entry into v without writing its destination. */
static int entry_value(const cfg_entry *e, cfg_value *v, char *err, size_t errlen)
{
    const char *env = getenv(e->env);
    bool from_env = env && *env;
    const char *raw = from_env ? env : e->def;
    char what[160];

    if (!raw) {
        snprintf(err, errlen, "%s is required but not set", e->env);
        return -1;
    }
    describe(e, raw, from_env, what, sizeof what);
    switch (e->type) {
    case CFG_STR:
        v->s = raw;
        return 0;
    case CFG_INT:
        return check_int(e, what, raw, v, err, errlen);
    case CFG_BOOL:
        if (parse_bool(raw, &v->b))
            return 0;
        snprintf(err, errlen, "%s is not a boolean (allowed 1/0/true/false/yes/no)", what);
        return -1;
    }
    snprintf(err, errlen, "%s has an unknown type %d", e->env, (int)e->type);
    return -1;
}

static void entry_store(const cfg_entry *e, const cfg_value *v)
{
    switch (e->type) {
    case CFG_STR:
        *(const char **)e->var = v->s;
        break;
    case CFG_INT:
        *(int64_t *)e->var = v->i;
        break;
    case CFG_BOOL:
        *(bool *)e->var = v->b;
        break;
    }
}

int cfg_load(const cfg_entry *table, char *err, size_t errlen)
{
    char scratch[1];
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    cfg_value v;
    for (const cfg_entry *e = table; e->env; e++) {
        if (!e->var) {
            snprintf(err, errlen, "%s has no destination variable", e->env);
            return -1;
        }
        if (entry_value(e, &v, err, errlen) < 0)
            return -1;
    }
    for (const cfg_entry *e = table; e->env; e++) {
        if (entry_value(e, &v, err, errlen) < 0)
            return -1;
        entry_store(e, &v);
    }
    return 0;
}

const char *cfg_str(const char *env, const char *def)
{
    const char *v = getenv(env);
    return v && *v ? v : def;
}

int64_t cfg_int(const char *env, int64_t def)
{
    const char *v = getenv(env);
    int64_t out;
    if (!v || !*v)
        return def;
    if (!parse_int(v, &out)) {
        log_warn("%s=%.64s is not an integer; using %lld", env, v, (long long)def);
        return def;
    }
    return out;
}

/* ---- the core library's own table ---- */

static const char *log_level_word, *bind_addr;

const cfg_entry cfg_core_table[] = {
    { "GAVEL_LOG_LEVEL", "info", CFG_STR, &log_level_word, 0, 0,
      "least severe log level written: debug, info, warn or error" },
    { "GAVEL_BIND_ADDR", "127.0.0.1", CFG_STR, &bind_addr, 0, 0,
      "IPv4 or IPv6 literal that /metrics and /healthz bind to" },
    { 0 },
};

static bool is_level_word(const char *s)
{
    static const char *const words[] = { "debug", "info", "warn", "error" };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(s, words[i]) == 0)
            return true;
    return false;
}

static bool is_ip_literal(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int cfg_core_load(char *err, size_t errlen)
{
    if (cfg_load(cfg_core_table, err, errlen) < 0)
        return -1;
    if (!is_level_word(log_level_word)) {
        snprintf(err, errlen, "GAVEL_LOG_LEVEL=%.64s is not a level (allowed debug, info, "
                 "warn, error)", log_level_word);
        return -1;
    }
    if (!is_ip_literal(bind_addr)) {
        snprintf(err, errlen, "GAVEL_BIND_ADDR=%.64s is not an IPv4 or IPv6 literal",
                 bind_addr);
        return -1;
    }
    return 0;
}
