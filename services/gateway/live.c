/*
 * /live/<stream>/<file>: the HLS the ingest writes under the live
 * directory, served to every player of a venue sale. This is the hot path
 * of a sale (a thousand players each fetch the playlist and a segment
 * every second), so it runs on the loop thread with no job, no token and
 * no rate limit, and answers from a cache of recent files: one lstat() per
 * request, and a file's bytes are read once per version (its device,
 * inode, size, modification and change times), then shared by every
 * answer, the headers written in the room kept in front of them.
 *
 * Invariants: only a stream name of [A-Za-z0-9_-]{1,64} and a file name of
 * [A-Za-z0-9_-] then [A-Za-z0-9._-] (no "..") ending in .m3u8, .ts, .m4s or
 * .mp4 is ever looked up, one directory below the live directory, and
 * only a regular file that is not a symbolic link is served, so nothing
 * outside it and nothing hidden leaves. A cache entry is freed when it is
 * out of the table and no answer holds it (each answer's arena releases
 * its hold). Playlists change every segment: no-cache, revalidated by
 * ETag; segments never change once listed: cacheable for a year, which
 * asks of the writer that it never reuses a segment's name.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "live.h"

#define NAME_MAX_LEN 64
#define FILE_NAME_MAX 128
#define LIVE_FILE_MAX (32 * 1024 * 1024)
#define BUCKETS 1024
#define SEGMENT_CACHE "public, max-age=31536000, immutable"

typedef enum { KIND_PLAYLIST, KIND_SEGMENT, KIND_REFUSED, KINDS } live_kind;

static const struct {
    const char *ext, *type, *cache;
    live_kind kind;
} exts[] = {
    { "m3u8", "application/vnd.apple.mpegurl", "no-cache", KIND_PLAYLIST },
    { "ts", "video/mp2t", SEGMENT_CACHE, KIND_SEGMENT },
    { "m4s", "video/iso.segment", SEGMENT_CACHE, KIND_SEGMENT },
    /* an fMP4 init segment keeps its name when the publisher restarts */
    { "mp4", "video/mp4", "no-cache", KIND_SEGMENT },
};

/* One version of one file, shared by the answers that send it. Loop thread. */
typedef struct live_file {
    char key[NAME_MAX_LEN + 1 + FILE_NAME_MAX + 1]; /* "<stream>/<file>" */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
    unsigned char *buf;          /* LWS_PRE + GW_HDR_ROOM, then the bytes */
    char etag[48];
    int holds;                   /* answers sending it, plus one while in the table */
    struct live_file *hnext;     /* bucket chain */
    struct live_file *older, *newer; /* use order, newest at lru.newest */
} live_file;

static struct {
    const char *dir_cfg, *instance_cfg;
    int64_t cache_mb, window_ms, max_viewers, per_addr;
    char dir[PATH_MAX];
    char instance[256];
    live_file *buckets[BUCKETS];
    live_file *newest, *oldest;
    size_t bytes;                /* of the files in the table */
    mx_metric *requests[KINDS];
    mx_metric *hits, *misses, *cache_bytes;
} lv;

mx_metric *gw_live_viewers_gauge;

const cfg_entry gw_live_config[] = {
    { "GAVEL_GATEWAY_LIVE_DIR", "", CFG_STR, &lv.dir_cfg, 0, 0,
      "directory of the venue streams' HLS (<stream>/index.m3u8 and segments), served at "
      "/live/; empty: $GAVEL_RUN_DIR/live, or .run/live without GAVEL_RUN_DIR" },
    { "GAVEL_GATEWAY_LIVE_CACHE_MB", "64", CFG_INT, &lv.cache_mb, 0, 4096,
      "megabytes of recent playlists and segments kept in memory; 0 reads every answer "
      "from the file" },
    { "GAVEL_GATEWAY_LIVE_VIEWER_WINDOW_MS", "10000", CFG_INT, &lv.window_ms, 1000, 600000,
      "a player counts as a viewer of a stream this long after its last playlist request" },
    { "GAVEL_GATEWAY_LIVE_MAX_VIEWERS", "100000", CFG_INT, &lv.max_viewers, 1, 10000000,
      "distinct viewers counted per stream at most (the rest are not counted)" },
    { "GAVEL_GATEWAY_LIVE_VIEWERS_PER_ADDR", "16", CFG_INT, &lv.per_addr, 1, 100000,
      "players counted per client address (IPv6: per /64) and stream at most, so invented "
      "player ids cannot inflate a count" },
    { "GAVEL_GATEWAY_INSTANCE_ID", "", CFG_STR, &lv.instance_cfg, 0, 0,
      "this gateway's name in the streams' viewer counts in Redis; empty: <host name>:<HTTP "
      "port>" },
    { 0 },
};

const mx_entry gw_live_metrics[] = {
    { "gavel_gateway_live_requests_total", mx_counter,
      "Requests under /live/: playlists, segments, and names refused unseen (404).",
      "kind=\"playlist\"", &lv.requests[KIND_PLAYLIST] },
    { "gavel_gateway_live_requests_total", mx_counter, NULL, "kind=\"segment\"",
      &lv.requests[KIND_SEGMENT] },
    { "gavel_gateway_live_requests_total", mx_counter, NULL, "kind=\"refused\"",
      &lv.requests[KIND_REFUSED] },
    { "gavel_gateway_live_cache_hits_total", mx_counter,
      "Live files answered from memory.", NULL, &lv.hits },
    { "gavel_gateway_live_cache_misses_total", mx_counter,
      "Live files read from the disk (new, changed, or not kept).", NULL, &lv.misses },
    { "gavel_gateway_live_viewers", mx_gauge,
      "Distinct players that fetched a live playlist of this gateway within the viewer "
      "window, over every stream.", NULL, &gw_live_viewers_gauge },
    { "gavel_gateway_live_cache_bytes", mx_gauge, "Bytes of live files kept in memory.", NULL,
      &lv.cache_bytes },
    { 0 },
};

int gw_live_init(char *err, size_t errlen)
{
    const char *run = getenv("GAVEL_RUN_DIR");
    int n = lv.dir_cfg[0] != '\0'
                ? snprintf(lv.dir, sizeof lv.dir, "%s", lv.dir_cfg)
                : snprintf(lv.dir, sizeof lv.dir, "%s/live",
                           run != NULL && run[0] != '\0' ? run : ".run");
    if (n <= 0 || (size_t)n >= sizeof lv.dir - NAME_MAX_LEN - FILE_NAME_MAX - 4) {
        snprintf(err, errlen, "GAVEL_GATEWAY_LIVE_DIR: the path is too long");
        return -1;
    }
    while (n > 1 && lv.dir[n - 1] == '/')
        lv.dir[--n] = '\0';
    if (lv.instance_cfg[0] != '\0') {
        if (strlen(lv.instance_cfg) >= sizeof lv.instance) {
            snprintf(err, errlen, "GAVEL_GATEWAY_INSTANCE_ID: longer than %zu bytes",
                     sizeof lv.instance - 1);
            return -1;
        }
        snprintf(lv.instance, sizeof lv.instance, "%s", lv.instance_cfg);
    } else {
        char host[200] = "";
        if (gethostname(host, sizeof host - 1) < 0 || host[0] == '\0')
            snprintf(host, sizeof host, "gateway");
        snprintf(lv.instance, sizeof lv.instance, "%s:%lld", host, (long long)gw_cfg.port);
    }
    log_info("live streams: serving %s at /live/ as instance %s", lv.dir, lv.instance);
    return 0;
}

/* ---- names ---- */

static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static bool is_stream_name(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (n >= NAME_MAX_LEN || !is_word_char(s[n]))
            return false;
    return n > 0;
}

/* The extension's row of a file name the live directory may serve, or -1. */
static int file_ext(const char *s)
{
    size_t n = 0;
    if (!is_word_char(s[0]))
        return -1; /* hidden files, "..", empty */
    for (; s[n] != '\0'; n++) {
        if (n >= FILE_NAME_MAX)
            return -1;
        if (s[n] == '.' && s[n + 1] == '.')
            return -1;
        if (!is_word_char(s[n]) && s[n] != '.')
            return -1;
    }
    const char *dot = strrchr(s, '.');
    if (dot == NULL)
        return -1;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcmp(dot + 1, exts[i].ext) == 0)
            return (int)i;
    return -1;
}

/* ---- the cache ---- */

static size_t bucket_of(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % BUCKETS);
}

static void file_release(void *arg)
{
    live_file *f = arg;
    if (--f->holds > 0)
        return;
    free(f->buf);
    free(f);
}

static void lru_unlink(live_file *f)
{
    if (f->older != NULL)
        f->older->newer = f->newer;
    else
        lv.oldest = f->newer;
    if (f->newer != NULL)
        f->newer->older = f->older;
    else
        lv.newest = f->older;
    f->older = f->newer = NULL;
}

static void lru_push(live_file *f)
{
    f->older = lv.newest;
    f->newer = NULL;
    if (lv.newest != NULL)
        lv.newest->newer = f;
    else
        lv.oldest = f;
    lv.newest = f;
}

/* Takes f out of the table; it lives on while answers hold it. */
static void cache_drop(live_file *f)
{
    live_file **link = &lv.buckets[bucket_of(f->key)];
    while (*link != f)
        link = &(*link)->hnext;
    *link = f->hnext;
    lru_unlink(f);
    lv.bytes -= (size_t)f->size;
    file_release(f);
}

static live_file *cache_find(const char *key)
{
    for (live_file *f = lv.buckets[bucket_of(key)]; f != NULL; f = f->hnext)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static bool is_same_version(const live_file *f, const struct stat *st)
{
    return f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
           f->mtim.tv_sec == st->st_mtim.tv_sec && f->mtim.tv_nsec == st->st_mtim.tv_nsec &&
           f->ctim.tv_sec == st->st_ctim.tv_sec && f->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

static void cache_put(live_file *f)
{
    size_t limit = (size_t)lv.cache_mb * 1024 * 1024;
    if ((size_t)f->size > limit / 4)
        return; /* not kept: the answer alone holds it */
    while (lv.oldest != NULL && lv.bytes + (size_t)f->size > limit)
        cache_drop(lv.oldest);
    size_t b = bucket_of(f->key);
    f->hnext = lv.buckets[b];
    lv.buckets[b] = f;
    lru_push(f);
    lv.bytes += (size_t)f->size;
    f->holds++;
}

/* Opens <live dir>/<stream>/<file> with neither being a symbolic link;
 * -1 with errno. */
static int open_beneath(const char *stream, const char *file)
{
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s", lv.dir, stream) >= sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int e = errno;
    close(dfd);
    errno = e;
    return fd;
}

/* Reads one version of the file (whose lstat is st) into a new entry held
 * once; NULL with errno (ESTALE: it changed while read). */
static live_file *file_read(const char *key, const char *stream, const char *file,
                            const struct stat *st)
{
    int fd = open_beneath(stream, file);
    if (fd < 0)
        return NULL;
    struct stat fst;
    if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode) || fst.st_ino != st->st_ino ||
        fst.st_dev != st->st_dev || fst.st_size != st->st_size) {
        close(fd);
        errno = ESTALE;
        return NULL;
    }
    live_file *f = xcalloc(1, sizeof *f);
    snprintf(f->key, sizeof f->key, "%s", key);
    f->dev = fst.st_dev;
    f->ino = fst.st_ino;
    f->size = fst.st_size;
    f->mtim = fst.st_mtim;
    f->ctim = fst.st_ctim;
    f->holds = 1;
    gw_file_etag(f->etag, &fst);
    size_t want = (size_t)fst.st_size, got = 0;
    f->buf = xmalloc(LWS_PRE + GW_HDR_ROOM + want + 1);
    unsigned char *out = f->buf + LWS_PRE + GW_HDR_ROOM;
    while (got < want) {
        ssize_t n = read(fd, out + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ESTALE;
            close(fd);
            file_release(f);
            errno = e;
            return NULL;
        }
        got += (size_t)n;
    }
    close(fd);
    return f;
}

/* The entry of the version of path (<live dir>/<key>, key being
 * <stream>/<file>) now on disk, held once more for the caller; NULL with
 * errno (ENOENT when there is no such regular file). A cached version was
 * opened without following links, and the same device and inode are the
 * same file however path resolves now. */
static live_file *file_get(const char *key, const char *stream, const char *file,
                           const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return NULL;
    if (!S_ISREG(st.st_mode)) {
        errno = ENOENT;
        return NULL;
    }
    if (st.st_size > LIVE_FILE_MAX) {
        errno = EFBIG;
        return NULL;
    }
    live_file *f = cache_find(key);
    if (f != NULL && is_same_version(f, &st)) {
        mx_add(lv.hits, 1);
        lru_unlink(f);
        lru_push(f);
        f->holds++;
        return f;
    }
    mx_add(lv.misses, 1);
    if (f != NULL)
        cache_drop(f);
    f = file_read(key, stream, file, &st);
    if (f != NULL && lv.cache_mb > 0)
        cache_put(f);
    mx_set(lv.cache_bytes, (double)lv.bytes);
    return f;
}

/* ---- the route ---- */

static void refuse(gw_req *r)
{
    mx_add(lv.requests[KIND_REFUSED], 1);
    gw_answer_error(r, 404, "not_found", "no live file %s", r->path);
}

/* The `v` query parameter when it is a plausible player id, else NULL. */
static const char *viewer_param(const gw_req *r)
{
    for (size_t i = 0; i < r->nargs; i++)
        if (strncmp(r->args[i], "v=", 2) == 0 && is_stream_name(r->args[i] + 2))
            return r->args[i] + 2;
    return NULL;
}

void gw_live_serve(gw_req *r)
{
    const char *stream = r->params[0], *file = r->params[1];
    int ext = stream != NULL && file != NULL && is_stream_name(stream) ? file_ext(file) : -1;
    if (ext < 0) {
        refuse(r);
        return;
    }
    live_kind kind = exts[ext].kind;
    mx_add(lv.requests[kind], 1);
    char key[sizeof ((live_file *)0)->key], path[PATH_MAX];
    snprintf(key, sizeof key, "%s/%s", stream, file);
    if ((size_t)snprintf(path, sizeof path, "%s/%s", lv.dir, key) >= sizeof path) {
        refuse(r); /* cannot be: gw_live_init kept room for the longest key */
        return;
    }
    live_file *f = file_get(key, stream, file, path);
    if (f == NULL) {
        int e = errno;
        if (e == EFBIG || (e != ENOENT && e != ENOTDIR && e != ELOOP && e != ESTALE))
            log_warn("cannot serve %s: %s", path, strerror(e));
        if (e == ESTALE) {
            r->retry_after_s = 1;
            gw_answer_error(r, 503, "unavailable", "%s is being replaced; retry", r->path);
        } else {
            gw_answer_error(r, 404, "not_found", "no live file %s", r->path);
        }
        return;
    }
    arena_on_free(r->a, file_release, f);
    if (kind == KIND_PLAYLIST) {
        const char *v = viewer_param(r);
        gw_live_viewer_seen(stream, r->client_addr, v);
    }
    snprintf(r->etag, sizeof r->etag, "%s", f->etag);
    r->out_type = exts[ext].type;
    r->cache_control = exts[ext].cache;
    r->out = f->buf + LWS_PRE + GW_HDR_ROOM;
    if (gw_is_not_modified(r)) {
        r->status = 304;
        r->out_len = 0;
        return;
    }
    r->status = 200;
    r->out_len = (size_t)f->size;
}

int gw_live_start(char *err, size_t errlen)
{
    return gw_live_viewers_start(lv.instance, lv.window_ms, lv.max_viewers, lv.per_addr, err,
                                 errlen);
}

void gw_live_stop(void)
{
    gw_live_viewers_stop();
    while (lv.oldest != NULL)
        cache_drop(lv.oldest);
    mx_set(lv.cache_bytes, 0);
}
