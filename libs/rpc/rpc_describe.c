/*
 * `gavel-<svc> --describe`: a daemon's whole declared surface, printed
 * from the same tables it runs from, one fact a line with tab-separated
 * fields (rpc.h gives the format). Nothing is started and nothing is read
 * from the environment but the defaults. tests/test_docs.py compares it
 * with docs/operations.md, so a setting or series cannot be added, renamed
 * or dropped without the guide saying so.
 */
#include <stdio.h>
#include <string.h>

#include "rpc/rpc_int.h"
#include "rpc/rpc_skel_int.h"

/* The runtime's series. rpc_call.c and rpc_server.c make the first two per
 * method as calls arrive, rpc_pool.c one per pool as it starts, rpc_guard.c
 * the last two on first use; each keeps its own pointers, so these rows
 * have none (the help is repeated there). */
const mx_entry rpc__runtime_metrics[] = {
    { "gavel_rpc_requests_total", mx_counter, "gRPC calls by method and status.", "method,code",
      NULL },
    { "gavel_rpc_duration_seconds", mx_histogram, "Server-side duration of gRPC calls.",
      "method", NULL },
    { "gavel_rpc_pool_queued", mx_gauge, "Calls waiting for a worker, by pool.", "pool", NULL },
    { "gavel_rpc_pool_busy", mx_gauge, "Workers running a call, by pool.", "pool", NULL },
    { "gavel_rpc_pool_refused_total", mx_counter,
      "Calls refused with RESOURCE_EXHAUSTED because their pool's queue was full, by pool.",
      "pool", NULL },
    { "gavel_rpc_reset_calls_total", mx_counter,
      "Calls that arrived without their request message or were cancelled at once (reset "
      "HTTP/2 streams).",
      NULL, NULL },
    { "gavel_rpc_connections_closed_total", mx_counter,
      "Connections the server shut down, by reason.", "reason", NULL },
    { 0 },
};

mx_metric *rpc__metric(const char *name, const char *labels)
{
    for (const mx_entry *e = rpc__runtime_metrics; e->name != NULL; e++)
        if (strcmp(e->name, name) == 0)
            return e->make(e->name, e->help, labels);
    panic("rpc: series %s is not in rpc__runtime_metrics", name);
}

static const char *type_name(const cfg_entry *e)
{
    return e->type == CFG_INT ? "int" : e->type == CFG_BOOL ? "bool" : "str";
}

static void put_config(FILE *out, const char *table, const cfg_entry *e)
{
    fprintf(out, "config\t%s\t%s\t%s\t%s\t", table, e->env, type_name(e),
            e->def != NULL ? e->def : "(required)");
    if (e->type == CFG_INT && !(e->min == 0 && e->max == 0))
        fprintf(out, "%lld\t%lld", (long long)e->min, (long long)e->max);
    else
        fputs("-\t-", out);
    fprintf(out, "\t%s\n", e->help != NULL ? e->help : "");
}

static const char *metric_type(const mx_entry *e)
{
    if (e->make == mx_counter)
        return "counter";
    if (e->make == mx_gauge)
        return "gauge";
    return e->make == mx_histogram ? "histogram" : NULL;
}

/* Appends name to the comma-separated list out unless it is there. */
static void add_name(char *out, size_t outlen, const char *name, size_t n)
{
    const char *p = out;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0)
            return;
        p += len;
        p += *p == ',';
    }
    size_t have = strlen(out);
    snprintf(out + have, outlen - have, "%s%.*s", have > 0 ? "," : "", (int)n, name);
}

/* Adds the label names of a row to out: from a label body
 * (`result="released"`) or from a list of names (`method,code`). */
static void add_label_names(const char *labels, char *out, size_t outlen)
{
    const char *p = labels;
    while (p != NULL && *p != '\0') {
        size_t n = strcspn(p, "=,");
        add_name(out, outlen, p, n);
        p += n;
        if (*p == '=' && p[1] == '"') { /* skip the value, escapes included */
            for (p += 2; *p != '\0' && *p != '"'; p++)
                if (*p == '\\' && p[1] != '\0')
                    p++;
            p += *p == '"';
        }
        p += *p == ',';
    }
}

/* One line per family of a table; a family with rows of two types, or of
 * a type that is not a metric constructor, is refused. */
static int put_metrics(FILE *out, const char *table, const mx_entry *t, char *err,
                       size_t errlen)
{
    for (const mx_entry *e = t; e != NULL && e->name != NULL; e++) {
        if (metric_type(e) == NULL) {
            snprintf(err, errlen, "metric %s: make is not mx_counter, mx_gauge or mx_histogram",
                     e->name);
            return -1;
        }
        bool is_first = true;
        for (const mx_entry *o = t; o < e && is_first; o++)
            is_first = strcmp(o->name, e->name) != 0;
        if (!is_first)
            continue;
        char labels[512] = "";
        for (const mx_entry *o = e; o->name != NULL; o++) {
            if (strcmp(o->name, e->name) != 0)
                continue;
            if (o->make != e->make) {
                snprintf(err, errlen, "metric %s is declared as a %s and a %s", e->name,
                         metric_type(e), metric_type(o) != NULL ? metric_type(o) : "non-metric");
                return -1;
            }
            add_label_names(o->labels, labels, sizeof labels);
        }
        fprintf(out, "metric\t%s\t%s\t%s\t%s\t%s\n", table, e->name, metric_type(e),
                labels[0] != '\0' ? labels : "-", e->help != NULL ? e->help : "");
    }
    return 0;
}

/* A daemon's own series are named after it: gavel_<name>_…. */
static int check_daemon_names(const rpc_service *svc, char *err, size_t errlen)
{
    char prefix[80];
    snprintf(prefix, sizeof prefix, "gavel_%s_", svc->name);
    for (const mx_entry *e = svc->metrics; e != NULL && e->name != NULL; e++)
        if (strncmp(e->name, prefix, strlen(prefix)) != 0) {
            snprintf(err, errlen, "metric %s of the %s daemon is not named %s…", e->name,
                     svc->name, prefix);
            return -1;
        }
    return 0;
}

static void put_methods(FILE *out, const rpc_service *svc)
{
    for (const rpc_method *const *t = svc->tables; t != NULL && *t != NULL; t++)
        for (const rpc_method *m = *t; m->name != NULL; m++)
            fprintf(out, "method\t%s\t%s\t%s\n", m->name, m->request->name, m->response->name);
    for (const rpc_client_method *const *c = svc->calls; c != NULL && *c != NULL; c++)
        fprintf(out, "call\t%s\t%s\t%s\n", (*c)->name, (*c)->request->name,
                (*c)->response->name);
    for (const rpc_listener *l = svc->listeners; l != NULL && l->name != NULL; l++)
        fprintf(out, "listener\t%s\n", l->name);
}

int rpc_describe(const rpc_service *svc, FILE *out, char *err, size_t errlen)
{
    rpc__table t[RPC__MAX_TABLES];
    size_t n = rpc__tables(svc, t);
    if (rpc__tables_check(t, n, err, errlen) < 0)
        return -1;
    /* Loading the runtime's table fills its service-dependent defaults;
     * its outcome does not matter here (the defaults are what is shown). */
    char ignored[256];
    (void)rpc__config_load(svc, ignored, sizeof ignored);
    for (size_t i = 0; i < n; i++)
        for (const cfg_entry *e = t[i].rows; e->env != NULL; e++)
            put_config(out, t[i].table, e);
    if (check_daemon_names(svc, err, errlen) < 0 ||
        put_metrics(out, "runtime", rpc__runtime_metrics, err, errlen) < 0 ||
        put_metrics(out, "events", ev_metrics, err, errlen) < 0 ||
        put_metrics(out, "daemon", svc->metrics, err, errlen) < 0)
        return -1;
    put_methods(out, svc);
    return 0;
}
