/*
 * metrics: a process-wide Prometheus registry, rendered in text exposition
 * format 0.0.4.
 *
 * A family is one metric name with its HELP, TYPE and the series (label
 * sets) under it, so HELP and TYPE print once per family however many
 * series it has. Families and series are only ever added, never removed:
 * an mx_metric pointer stays valid for the process lifetime, and callers
 * are expected to look one up once and keep it.
 *
 * Creation and rendering take the registry mutex; updates never do. Values
 * are doubles kept as their IEEE-754 bit patterns in _Atomic uint64_t:
 * stores are plain atomic stores and additions are compare-and-swap loops.
 * Bit patterns rather than scaled integers because gauges and histogram
 * sums hold fractional values (seconds, ratios) whose range and precision
 * a fixed scale would have to guess. Histogram buckets count observations
 * per bucket (not cumulatively) in atomic integers; the renderer
 * accumulates them and derives _count from the same reads, so _count
 * always equals the +Inf bucket even while observations race the render.
 * All atomics are relaxed: a series orders nothing but itself.
 */
#include "core.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mx_type { MX_COUNTER, MX_GAUGE, MX_HISTOGRAM };

static const char *const type_names[] = {
    [MX_COUNTER] = "counter", [MX_GAUGE] = "gauge", [MX_HISTOGRAM] = "histogram",
};

#define MX_BUCKETS 17 /* 16 finite upper bounds and +Inf */
#define MX_HASH 256

static const double bucket_bounds[MX_BUCKETS - 1] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
/* Written out rather than printed from the doubles so `le` is stable. */
static const char *const bucket_les[MX_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
};

struct mx_family;

struct mx_metric {
    struct mx_metric *next;        /* in the family, creation order */
    struct mx_metric *hash_next;
    struct mx_family *family;
    char *labels;                  /* label body without braces, "" for none */
    _Atomic uint64_t value;        /* double bits: value, or histogram sum */
    _Atomic uint64_t buckets[];    /* histogram only: count per bucket */
};

struct mx_family {
    struct mx_family *next;        /* creation order */
    char *name;
    char *help;
    enum mx_type type;
    struct mx_metric *metrics, **tail;
};

static struct {
    pthread_mutex_t lock;
    struct mx_family *families, **tail;
    struct mx_metric *hash[MX_HASH];
} reg = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .tail = &reg.families,
};

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, double_bits(bits_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* FNV-1a over name, a separator no name contains, and labels. */
static unsigned hash_key(const char *name, const char *labels)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ '{') * 16777619u;
    for (const char *p = labels; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % MX_HASH;
}

/* Prometheus metric names: [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool is_valid_name(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == ':';
        if (!ok)
            return false;
    }
    return true;
}

/* Called with reg.lock held. */
static struct mx_family *family_get(const char *name, const char *help, enum mx_type type)
{
    struct mx_family *f;
    for (f = reg.families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (f) {
        if (f->type != type)
            panic("metric %s is a %s, not a %s", name, type_names[f->type], type_names[type]);
        return f;
    }
    f = xcalloc(1, sizeof *f);
    f->name = xstrdup(name);
    f->help = xstrdup(help ? help : "");
    f->type = type;
    f->tail = &f->metrics;
    *reg.tail = f;
    reg.tail = &f->next;
    return f;
}

static mx_metric *metric_get(const char *name, const char *help, const char *labels,
                             enum mx_type type)
{
    if (!is_valid_name(name))
        panic("metric name \"%s\" is not a valid Prometheus name", name ? name : "(null)");
    if (!labels)
        labels = "";
    unsigned h = hash_key(name, labels);

    pthread_mutex_lock(&reg.lock);
    mx_metric *m;
    for (m = reg.hash[h]; m; m = m->hash_next)
        if (strcmp(m->family->name, name) == 0 && strcmp(m->labels, labels) == 0)
            break;
    if (m && m->family->type != type)
        panic("metric %s is a %s, not a %s", name, type_names[m->family->type], type_names[type]);
    if (!m) {
        struct mx_family *f = family_get(name, help, type);
        size_t nb = type == MX_HISTOGRAM ? MX_BUCKETS : 0;
        m = xcalloc(1, sizeof *m + nb * sizeof m->buckets[0]);
        m->family = f;
        m->labels = xstrdup(labels);
        atomic_init(&m->value, double_bits(0.0));
        for (size_t i = 0; i < nb; i++)
            atomic_init(&m->buckets[i], 0);
        *f->tail = m;
        f->tail = &m->next;
        m->hash_next = reg.hash[h];
        reg.hash[h] = m;
    }
    pthread_mutex_unlock(&reg.lock);
    return m;
}

mx_metric *mx_counter(const char *name, const char *help, const char *labels)
{
    return metric_get(name, help, labels, MX_COUNTER);
}

mx_metric *mx_gauge(const char *name, const char *help, const char *labels)
{
    return metric_get(name, help, labels, MX_GAUGE);
}

mx_metric *mx_histogram(const char *name, const char *help, const char *labels)
{
    return metric_get(name, help, labels, MX_HISTOGRAM);
}

void mx_add(mx_metric *m, double v)
{
    enum mx_type t = m->family->type;
    if (t == MX_HISTOGRAM)
        panic("mx_add on histogram %s", m->family->name);
    if (t == MX_COUNTER && !(v >= 0))
        panic("counter %s cannot go down (add %g)", m->family->name, v);
    atomic_add_double(&m->value, v);
}

void mx_set(mx_metric *m, double v)
{
    if (m->family->type != MX_GAUGE)
        panic("mx_set on %s %s", type_names[m->family->type], m->family->name);
    atomic_store_explicit(&m->value, double_bits(v), memory_order_relaxed);
}

void mx_observe(mx_metric *m, double v)
{
    if (m->family->type != MX_HISTOGRAM)
        panic("mx_observe on %s %s", type_names[m->family->type], m->family->name);
    if (isnan(v))
        return;
    size_t i = 0;
    while (i < MX_BUCKETS - 1 && v > bucket_bounds[i])
        i++;
    atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&m->value, v);
}

/* Shortest of %.15g and %.17g that reads back as the same double. */
static void format_value(double v, char *buf, size_t len)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, len, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, len, "%.17g", v);
    }
}

/* HELP text escapes backslash and newline (exposition format 0.0.4). */
static void put_help(FILE *out, const struct mx_family *f)
{
    fprintf(out, "# HELP %s ", f->name);
    for (const char *p = f->help; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
    fputc('\n', out);
}

static void put_sample(FILE *out, const char *name, const char *suffix,
                       const char *labels, const char *le, double v)
{
    char val[40];
    format_value(v, val, sizeof val);
    fprintf(out, "%s%s", name, suffix);
    if (*labels && le)
        fprintf(out, "{%s,le=\"%s\"}", labels, le);
    else if (le)
        fprintf(out, "{le=\"%s\"}", le);
    else if (*labels)
        fprintf(out, "{%s}", labels);
    fprintf(out, " %s\n", val);
}

static void put_histogram(FILE *out, const struct mx_family *f, mx_metric *m)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i < MX_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        put_sample(out, f->name, "_bucket", m->labels, bucket_les[i], (double)cumulative);
    }
    double sum = bits_double(atomic_load_explicit(&m->value, memory_order_relaxed));
    put_sample(out, f->name, "_sum", m->labels, NULL, sum);
    put_sample(out, f->name, "_count", m->labels, NULL, (double)cumulative);
}

static void put_family(FILE *out, const struct mx_family *f)
{
    if (*f->help)
        put_help(out, f);
    fprintf(out, "# TYPE %s %s\n", f->name, type_names[f->type]);
    for (mx_metric *m = f->metrics; m; m = m->next) {
        if (f->type == MX_HISTOGRAM) {
            put_histogram(out, f, m);
        } else {
            double v = bits_double(atomic_load_explicit(&m->value, memory_order_relaxed));
            put_sample(out, f->name, "", m->labels, NULL, v);
        }
    }
}

char *mx_render(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out)
        panic("mx_render: open_memstream failed (out of memory)");
    pthread_mutex_lock(&reg.lock);
    for (const struct mx_family *f = reg.families; f; f = f->next)
        put_family(out, f);
    pthread_mutex_unlock(&reg.lock);
    if (fclose(out) != 0 || !buf)
        panic("mx_render: cannot finish the buffer (out of memory)");
    return buf;
}
