/*
 * The route table at run time: templates split into segments once at
 * start-up and checked against the request descriptors, then every path
 * matched against them without allocating (only the parameter values are
 * copied, into the request's arena). Among templates that match a path the
 * one with the most literal segments wins, leftmost first, so
 * /api/v1/lots/search is never read as a lot id.
 *
 * Invariant: after gw_routes_init every row's parameters are fields of its
 * request that a path segment can fill (an integer, a string or an enum),
 * its body field is a message field, its key field a string field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pbjson/pbjson.h>

#include "routes.h"

#define MAX_SEGS 12
#define NCLASSES 5 /* 1xx..5xx */
#define NAME_MAX_LEN 64

typedef struct {
    char *buf;                          /* the template, split in place */
    const char *segs[MAX_SEGS];
    bool is_param[MAX_SEGS];
    size_t nsegs;
    const char *params[GW_MAX_PARAMS];  /* field names, in template order */
    char params_json[GW_MAX_PARAMS][NAME_MAX_LEN];
    size_t nparams;
    char *allow;                        /* the methods of this template */
    mx_metric *answers[NCLASSES];
} route_rt;

static route_rt *rts;
static size_t nroutes;
static mx_metric *unmatched[NCLASSES];

static size_t route_index(const gw_route *r)
{
    return (size_t)(r - gw_routes);
}

const char *gw_route_template(const gw_route *r)
{
    return r->path;
}

const char *gw_route_param(const gw_route *r, size_t i)
{
    const route_rt *rt = &rts[route_index(r)];
    return i < rt->nparams ? rt->params[i] : NULL;
}

const char *gw_route_param_json(const gw_route *r, size_t i)
{
    const route_rt *rt = &rts[route_index(r)];
    return i < rt->nparams ? rt->params_json[i] : NULL;
}

/* Built on first use (main thread, before the skeleton reads it); lives
 * for the process. */
const rpc_client_method *const *gw_routes_calls(void)
{
    static const rpc_client_method **calls;
    if (calls != NULL)
        return calls;
    size_t n = 0;
    while (gw_routes[n].path != NULL)
        n++;
    calls = xcalloc(n + 1, sizeof *calls);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const rpc_client_method *m = gw_routes[i].rpc;
        bool is_seen = m == NULL;
        for (size_t j = 0; j < k && !is_seen; j++)
            is_seen = calls[j] == m;
        if (!is_seen)
            calls[k++] = m;
    }
    return calls;
}

static int split(route_rt *rt, const gw_route *r, char *err, size_t errlen)
{
    rt->buf = xstrdup(r->path);
    char *save = NULL;
    for (char *s = strtok_r(rt->buf, "/", &save); s != NULL; s = strtok_r(NULL, "/", &save)) {
        if (rt->nsegs == MAX_SEGS) {
            snprintf(err, errlen, "route %s: more than %d segments", r->path, MAX_SEGS);
            return -1;
        }
        size_t n = strlen(s);
        bool is_param = n > 2 && s[0] == '{' && s[n - 1] == '}';
        if (is_param) {
            s[n - 1] = '\0';
            s++;
            if (rt->nparams == GW_MAX_PARAMS) {
                snprintf(err, errlen, "route %s: more than %d parameters", r->path,
                         GW_MAX_PARAMS);
                return -1;
            }
            pbj_json_name(s, rt->params_json[rt->nparams], NAME_MAX_LEN);
            rt->params[rt->nparams++] = s;
        }
        rt->is_param[rt->nsegs] = is_param;
        rt->segs[rt->nsegs++] = s;
    }
    return 0;
}

static bool is_path_type(const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return false;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_ENUM:
        return true;
    default:
        return false;
    }
}

static int check_fields(const route_rt *rt, const gw_route *r, char *err, size_t errlen)
{
    if (r->rpc == NULL)
        return r->local != NULL ? 0 : (snprintf(err, errlen, "route %s: no method", r->path), -1);
    const ProtobufCMessageDescriptor *d = r->rpc->request;
    for (size_t i = 0; i < rt->nparams; i++) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
            d, rt->params[i]);
        if (f == NULL || !is_path_type(f)) {
            snprintf(err, errlen, "route %s: {%s} is not a scalar field of %s", r->path,
                     rt->params[i], d->name);
            return -1;
        }
    }
    if (r->flags & GW_R_WEBHOOK) {
        static const struct { const char *name; ProtobufCType type; } want[] = {
            { "body", PROTOBUF_C_TYPE_BYTES },
            { "signature", PROTOBUF_C_TYPE_STRING },
            { "content_type", PROTOBUF_C_TYPE_STRING },
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field_by_name(d, want[i].name);
            if (f == NULL || f->type != want[i].type || f->label == PROTOBUF_C_LABEL_REPEATED) {
                snprintf(err, errlen, "route %s: a webhook's %s has no field %s of its type",
                         r->path, d->name, want[i].name);
                return -1;
            }
        }
    }
    if (r->body != NULL && strcmp(r->body, "*") != 0) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
            d, r->body);
        if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE ||
            f->label == PROTOBUF_C_LABEL_REPEATED) {
            snprintf(err, errlen, "route %s: body %s is not a message field of %s", r->path,
                     r->body, d->name);
            return -1;
        }
    }
    if (r->idem_field != NULL) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
            d, r->idem_field);
        if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING) {
            snprintf(err, errlen, "route %s: %s is not a string field of %s", r->path,
                     r->idem_field, d->name);
            return -1;
        }
    }
    return 0;
}

/* The Allow value of a template: every method of its rows, then OPTIONS. */
static char *allow_of(const char *tmpl)
{
    char buf[128] = "";
    size_t n = 0;
    for (int m = 0; m < GW_METHODS; m++) {
        if (m == GW_OPTIONS)
            continue;
        bool has = false;
        for (size_t i = 0; i < nroutes && !has; i++) {
            const gw_route *r = &gw_routes[i];
            has = strcmp(r->path, tmpl) == 0 &&
                  (r->method == (gw_method)m || (m == GW_HEAD && r->method == GW_GET));
        }
        if (has)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s, ", gw_method_name((gw_method)m));
    }
    snprintf(buf + n, sizeof buf - n, "OPTIONS");
    return xstrdup(buf);
}

static void make_series(mx_metric **out, const char *tmpl, const char *method)
{
    for (int c = 0; c < NCLASSES; c++) {
        char labels[256];
        snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",class=\"%dxx\"", tmpl,
                 method, c + 1);
        out[c] = mx_counter("gavel_gateway_http_requests_total",
                            "HTTP requests answered, by route template, method and status "
                            "class.", labels);
    }
}

int gw_routes_init(char *err, size_t errlen)
{
    nroutes = 0;
    while (gw_routes[nroutes].path != NULL)
        nroutes++;
    rts = xcalloc(nroutes, sizeof *rts);
    for (size_t i = 0; i < nroutes; i++) {
        const gw_route *r = &gw_routes[i];
        if (split(&rts[i], r, err, errlen) < 0 || check_fields(&rts[i], r, err, errlen) < 0)
            goto fail;
        for (size_t j = 0; j < i; j++) {
            if (gw_routes[j].method == r->method && strcmp(gw_routes[j].path, r->path) == 0) {
                snprintf(err, errlen, "route %s %s: listed twice", gw_method_name(r->method),
                         r->path);
                goto fail;
            }
        }
        make_series(rts[i].answers, r->path, gw_method_name(r->method));
    }
    for (size_t i = 0; i < nroutes; i++)
        rts[i].allow = allow_of(gw_routes[i].path);
    make_series(unmatched, "unmatched", "-");
    return 0;
fail:
    gw_routes_free();
    return -1;
}

void gw_routes_free(void)
{
    for (size_t i = 0; rts != NULL && i < nroutes; i++) {
        free(rts[i].buf);
        free(rts[i].allow);
    }
    free(rts);
    rts = NULL;
    nroutes = 0;
}

void gw_routes_count(const gw_route *r, int status)
{
    int c = status / 100 - 1;
    if (c < 0 || c >= NCLASSES)
        c = NCLASSES - 1;
    mx_add(r != NULL ? rts[route_index(r)].answers[c] : unmatched[c], 1);
}

/* The path's segments, pointing into path (not NUL-terminated). */
typedef struct {
    const char *p[MAX_SEGS];
    size_t len[MAX_SEGS];
    size_t n;
} path_segs;

static bool path_split(const char *path, path_segs *s)
{
    s->n = 0;
    for (const char *p = path; *p != '\0';) {
        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        const char *e = strchr(p, '/');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (s->n == MAX_SEGS)
            return false;
        s->p[s->n] = p;
        s->len[s->n++] = n;
        p += n;
    }
    return true;
}

/* How well rt matches: -1 no match, else a score where literals count
 * more the further left they stand. */
static long score(const route_rt *rt, const path_segs *s)
{
    if (rt->nsegs != s->n)
        return -1;
    long sc = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (rt->is_param[i])
            continue;
        if (strlen(rt->segs[i]) != s->len[i] || memcmp(rt->segs[i], s->p[i], s->len[i]) != 0)
            return -1;
        sc += 1L << (MAX_SEGS - i);
    }
    return sc;
}

const gw_route *gw_route_match(gw_method method, const char *path, arena *a,
                               const char **params, const char **allow)
{
    *allow = NULL;
    path_segs s;
    if (!path_split(path, &s))
        return NULL;
    long best = -1;
    const char *tmpl = NULL;
    for (size_t i = 0; i < nroutes; i++) {
        long sc = score(&rts[i], &s);
        if (sc > best) {
            best = sc;
            tmpl = gw_routes[i].path;
        }
    }
    if (tmpl == NULL)
        return NULL;
    gw_method want = method == GW_HEAD ? GW_GET : method;
    for (size_t i = 0; i < nroutes; i++) {
        const gw_route *r = &gw_routes[i];
        if (strcmp(r->path, tmpl) != 0)
            continue;
        *allow = rts[i].allow;
        if (r->method != want)
            continue;
        size_t k = 0;
        for (size_t j = 0; j < s.n; j++)
            if (rts[i].is_param[j] && k < GW_MAX_PARAMS)
                params[k++] = arena_strndup(a, s.p[j], s.len[j]);
        return r;
    }
    return NULL;
}
