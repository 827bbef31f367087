/*
 * Viewers of the venue streams, from the playlist requests (a player
 * fetches its playlist about once a segment): per stream, the distinct
 * players (the `v` id a player adds, within its address; else the
 * address) seen in the last window (10 s). One address counts at most
 * per_addr players (IPv6 by its /64, as the rate limits count it): ids are
 * the client's to invent, so without the cap one client could make a
 * stream look crowded; an office of dealers behind one NAT still counts. Once a second the loop sweeps out those not seen since,
 * and a worker writes each stream's count to Redis:
 *   HSET gavel:stream:<name>:viewers <instance id> "<count> <unix ms>"
 *   EXPIRE gavel:stream:<name>:viewers 30
 * so the streaming service sums the fields younger than the window over
 * every gateway. A stream whose viewers are all gone is written once with
 * 0 and then forgotten.
 *
 * Invariants: the streams and their sets belong to the loop thread; the
 * worker gets a copy of the counts and owns it; at most one report is in
 * flight (a slow Redis skips seconds, never piles them up). A viewer is
 * kept as a 64-bit keyed hash of its id (the key random per process, so
 * ids cannot be chosen to collide) in an open-addressed table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cache/cache.h"
#include "limit/limit.h"
#include "live.h"

#define STREAM_BUCKETS 256
#define STREAMS_MAX 4096
#define REPORT_MS 1000
#define KEY_TTL "30"

typedef struct {
    uint64_t id;                 /* 0: free slot */
    uint64_t addr;               /* the hash of its address */
    int64_t seen_ms;
} viewer;

typedef struct {
    uint64_t addr;               /* 0: free slot */
    int64_t n;                   /* its players in the table */
} addr_count;

typedef struct stream {
    char name[65];
    viewer *slots;
    addr_count *addrs;           /* cap slots too: never more addresses than players */
    size_t cap, n;               /* cap a power of two, n <= cap / 2 */
    int64_t count;               /* at the last sweep */
    int64_t reported;            /* the count last handed to a report */
    bool is_full_logged;
    struct stream *next;
} stream;

typedef struct {
    size_t n;
    char (*names)[65];
    int64_t *counts;
    int64_t unix_ms;
} report;

static struct {
    stream *buckets[STREAM_BUCKETS];
    size_t nstreams;
    uv_timer_t timer;
    bool is_started, is_reporting;
    const char *instance;
    int64_t window_ms, max_per_stream, per_addr;
    uint64_t seed[2];
    int64_t last_error_log_ms;
} vw;

static uint64_t hash_str(const char *s, uint64_t seed)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        h = (h ^ *p) * 1099511628211ULL;
        h ^= h >> 29;
    }
    h ^= vw.seed[1];
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h != 0 ? h : 1;
}

static stream *stream_get(const char *name)
{
    size_t b = hash_str(name, 0) % STREAM_BUCKETS;
    for (stream *s = vw.buckets[b]; s != NULL; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    if (vw.nstreams >= STREAMS_MAX)
        return NULL;
    stream *s = xcalloc(1, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->cap = 64;
    s->slots = xcalloc(s->cap, sizeof *s->slots);
    s->addrs = xcalloc(s->cap, sizeof *s->addrs);
    s->next = vw.buckets[b];
    vw.buckets[b] = s;
    vw.nstreams++;
    return s;
}

static void stream_free(stream *s)
{
    free(s->slots);
    free(s->addrs);
    free(s);
}

/* Puts v in slots (cap a power of two, not full); true when new. */
static bool slot_put(viewer *slots, size_t cap, viewer v)
{
    for (size_t i = (size_t)v.id & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (slots[i].id == v.id) {
            slots[i].seen_ms = v.seen_ms;
            return false;
        }
        if (slots[i].id == 0) {
            slots[i] = v;
            return true;
        }
    }
}

/* The count slot of addr in addrs (cap a power of two, not full), made
 * when missing. */
static addr_count *addr_slot(addr_count *addrs, size_t cap, uint64_t addr)
{
    size_t i = (size_t)addr & (cap - 1);
    while (addrs[i].addr != addr && addrs[i].addr != 0)
        i = (i + 1) & (cap - 1);
    addrs[i].addr = addr;
    return &addrs[i];
}

/* Rebuilds s's tables with the viewers seen since cutoff_ms, in tables of
 * cap slots; the address counts are counted again from the players kept. */
static void rebuild(stream *s, size_t cap, int64_t cutoff_ms)
{
    viewer *slots = xcalloc(cap, sizeof *slots);
    addr_count *addrs = xcalloc(cap, sizeof *addrs);
    size_t n = 0;
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].id == 0 || s->slots[i].seen_ms < cutoff_ms)
            continue;
        if (slot_put(slots, cap, s->slots[i])) {
            n++;
            addr_slot(addrs, cap, s->slots[i].addr)->n++;
        }
    }
    free(s->slots);
    free(s->addrs);
    s->slots = slots;
    s->addrs = addrs;
    s->cap = cap;
    s->n = n;
}

/* The slot of viewer id in s, or NULL. */
static viewer *viewer_find(stream *s, uint64_t id)
{
    for (size_t i = (size_t)id & (s->cap - 1); s->slots[i].id != 0; i = (i + 1) & (s->cap - 1))
        if (s->slots[i].id == id)
            return &s->slots[i];
    return NULL;
}

void gw_live_viewer_seen(const char *name, const char *addr, const char *player)
{
    if (!vw.is_started)
        return;
    stream *s = stream_get(name);
    if (s == NULL)
        return;
    int64_t now_ms = now_us() / 1000;
    char subject[96], key[192];
    lim_addr_subject(addr, subject, sizeof subject);
    snprintf(key, sizeof key, "%s\n%s", subject, player != NULL ? player : "");
    viewer v = { hash_str(key, vw.seed[0]), hash_str(subject, vw.seed[0]), now_ms };
    viewer *seen = viewer_find(s, v.id);
    if (seen != NULL) {
        seen->seen_ms = now_ms;
        return;
    }
    if ((int64_t)s->n >= vw.max_per_stream) {
        if (!s->is_full_logged)
            log_warn("live stream %s: more than %lld viewers; the others are not counted",
                     s->name, (long long)vw.max_per_stream);
        s->is_full_logged = true;
        return;
    }
    if (s->n + 1 > s->cap / 2)
        rebuild(s, s->cap * 2, 0);
    addr_count *a = addr_slot(s->addrs, s->cap, v.addr);
    if (a->n >= vw.per_addr)
        return; /* this address's players are all counted already */
    a->n++;
    s->n += slot_put(s->slots, s->cap, v);
}

/* ---- the report ---- */

static void report_free(report *rp)
{
    free(rp->names);
    free(rp->counts);
    free(rp);
}

/* Worker thread: the report's HSETs, then their EXPIREs, each as one
 * pipeline on the worker's own Redis connection. */
static void report_job(void *arg)
{
    report *rp = arg;
    size_t n = rp->n;
    const char **argv = xcalloc(n * 4, sizeof *argv);
    size_t *lens = xcalloc(n * 4, sizeof *lens);
    char (*keys)[96] = xcalloc(n, sizeof *keys);
    char (*vals)[48] = xcalloc(n, sizeof *vals);
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "gavel:stream:%s:viewers", rp->names[i]);
        snprintf(vals[i], sizeof vals[i], "%lld %lld", (long long)rp->counts[i],
                 (long long)rp->unix_ms);
        const char *hset[4] = { "HSET", keys[i], vw.instance, vals[i] };
        for (int k = 0; k < 4; k++) {
            argv[i * 4 + k] = hset[k];
            lens[i * 4 + k] = strlen(hset[k]);
        }
    }
    int rc = rds_pipeline(n, 4, argv, lens);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *expire[3] = { "EXPIRE", keys[i], KEY_TTL };
        for (int k = 0; k < 3; k++) {
            argv[i * 3 + k] = expire[k];
            lens[i * 3 + k] = strlen(expire[k]);
        }
    }
    if (rc == 0)
        rc = rds_pipeline(n, 3, argv, lens);
    if (rc != 0 && rp->unix_ms - vw.last_error_log_ms > 60000) {
        vw.last_error_log_ms = rp->unix_ms; /* one report in flight: no race */
        log_warn("live viewers: cannot write the counts to Redis (%s); retrying each second",
                 rc == RDS_E_CONN ? "unreachable" : "refused");
    }
    free(argv);
    free(lens);
    free(keys);
    free(vals);
}

static void report_done(void *arg)
{
    report_free(arg);
    vw.is_reporting = false;
}

/* Loop thread: drops the viewers not seen within the window, forgets the
 * streams reported empty, and hands the counts to a worker. */
static void on_tick(uv_timer_t *t)
{
    (void)t;
    int64_t now_ms = now_us() / 1000, cutoff = now_ms - vw.window_ms, total = 0;
    report *rp = xcalloc(1, sizeof *rp);
    rp->names = xcalloc(vw.nstreams + 1, sizeof *rp->names);
    rp->counts = xcalloc(vw.nstreams + 1, sizeof *rp->counts);
    rp->unix_ms = now_ms;
    for (size_t b = 0; b < STREAM_BUCKETS; b++) {
        for (stream **link = &vw.buckets[b]; *link != NULL;) {
            stream *s = *link;
            size_t cap = s->cap;
            while (cap > 64 && s->n < cap / 8)
                cap /= 2;
            rebuild(s, cap, cutoff);
            s->count = (int64_t)s->n;
            total += s->count;
            if (!vw.is_reporting && (s->count > 0 || s->reported > 0)) {
                snprintf(rp->names[rp->n], sizeof rp->names[0], "%s", s->name);
                rp->counts[rp->n++] = s->count;
                s->reported = s->count;
            }
            if (s->count == 0 && s->reported == 0) {
                *link = s->next;
                stream_free(s);
                vw.nstreams--;
                continue;
            }
            link = &s->next;
        }
    }
    mx_set(gw_live_viewers_gauge, (double)total);
    if (rp->n == 0 || vw.is_reporting) {
        report_free(rp);
        return;
    }
    vw.is_reporting = true;
    if (gw_work(report_job, report_done, rp) < 0) {
        vw.is_reporting = false;
        report_free(rp);
    }
}

int gw_live_viewers_start(const char *instance, int64_t window_ms, int64_t max_per_stream,
                          int64_t per_addr, char *err, size_t errlen)
{
    if (getrandom(vw.seed, sizeof vw.seed, 0) != (ssize_t)sizeof vw.seed) {
        snprintf(err, errlen, "live viewers: no random bytes for the hash key");
        return -1;
    }
    vw.instance = instance;
    vw.window_ms = window_ms;
    vw.max_per_stream = max_per_stream;
    vw.per_addr = per_addr;
    uv_timer_init(gw_loop(), &vw.timer);
    uv_timer_start(&vw.timer, on_tick, REPORT_MS, REPORT_MS);
    vw.is_started = true;
    return 0;
}

void gw_live_viewers_stop(void)
{
    if (!vw.is_started)
        return;
    vw.is_started = false;
    uv_timer_stop(&vw.timer);
    uv_close((uv_handle_t *)&vw.timer, NULL);
    for (size_t b = 0; b < STREAM_BUCKETS; b++) {
        while (vw.buckets[b] != NULL) {
            stream *s = vw.buckets[b];
            vw.buckets[b] = s->next;
            stream_free(s);
        }
    }
    vw.nstreams = 0;
}
