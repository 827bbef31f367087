/*
 * Files the gateway serves itself: the web UI from GAVEL_GATEWAY_WEB_DIR
 * at / (index.html) and by path (/js/app.js). A name is served only when
 * every segment is made of [A-Za-z0-9._-], none starts with '.', and its
 * extension is one of the table's, so nothing outside the directory and
 * nothing hidden (.git, an editor's backup) ever leaves. Each answer
 * carries an ETag from the file's size and change time; a client that
 * sends it back gets 304 without the body. The UI's files are revalidated
 * on every load (no-cache), so a deploy is seen at once.
 *
 * The pages' Content-Security-Policy allows only this origin's scripts,
 * styles and connections (WebSocket /ws included), images also from https
 * (lots may name photos elsewhere) and data:/blob: (previews of uploads).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "request.h"

#define FILE_MAX (8 * 1024 * 1024)

static const char page_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: "
    "https:; media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

static const struct {
    const char *ext, *type;
} types[] = {
    { "html", "text/html; charset=utf-8" },
    { "js", "text/javascript; charset=utf-8" },
    { "mjs", "text/javascript; charset=utf-8" },
    { "css", "text/css; charset=utf-8" },
    { "json", "application/json" },
    { "svg", "image/svg+xml" },
    { "png", "image/png" },
    { "jpg", "image/jpeg" },
    { "jpeg", "image/jpeg" },
    { "webp", "image/webp" },
    { "ico", "image/x-icon" },
    { "woff2", "font/woff2" },
    { "txt", "text/plain; charset=utf-8" },
    { "webmanifest", "application/manifest+json" },
};

static const char *type_of(const char *rel)
{
    const char *dot = strrchr(rel, '.');
    const char *slash = strrchr(rel, '/');
    if (dot == NULL || (slash != NULL && dot < slash))
        return NULL;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot + 1, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

static bool is_safe_name(const char *rel)
{
    bool at_segment_start = true;
    if (*rel == '\0' || strlen(rel) > 255)
        return false;
    for (const char *p = rel; *p != '\0'; p++) {
        char c = *p;
        if (c == '/') {
            if (at_segment_start)
                return false; /* "//" or a leading slash */
            at_segment_start = true;
            continue;
        }
        if (at_segment_start && c == '.')
            return false; /* "..", ".git", ".env" */
        at_segment_start = false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return !at_segment_start;
}

static void not_found(gw_req *r)
{
    gw_answer_error(r, 404, "not_found", "no file %s", r->path);
}

/* Weak validator: the same size and change time are the same file. */
void gw_file_etag(char out[48], const struct stat *st)
{
    snprintf(out, 48, "\"%llx-%llx%09ld\"", (unsigned long long)st->st_size,
             (unsigned long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec);
}

bool gw_is_not_modified(const gw_req *r)
{
    const char *h = r->if_none_match;
    if (h == NULL)
        return false;
    if (strcmp(h, "*") == 0)
        return true;
    size_t n = strlen(r->etag);
    for (const char *p = strstr(h, r->etag); p != NULL; p = strstr(p + 1, r->etag)) {
        bool starts = p == h || p[-1] == ' ' || p[-1] == ',' || (p >= h + 2 && p[-2] == 'W');
        bool ends = p[n] == '\0' || p[n] == ',' || p[n] == ' ';
        if (starts && ends)
            return true;
    }
    return false;
}

void gw_file_answer(gw_req *r, const char *dir, const char *rel, const char *cache_control,
                    const char *csp)
{
    const char *type = type_of(rel);
    if (dir[0] == '\0' || type == NULL || !is_safe_name(rel)) {
        not_found(r);
        return;
    }
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, rel) >= sizeof path) {
        not_found(r);
        return;
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd < 0 && errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
            log_warn("cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        not_found(r);
        return;
    }
    if (st.st_size > FILE_MAX) {
        close(fd);
        log_error("%s is %lld bytes; files over %d bytes are not served", path,
                  (long long)st.st_size, FILE_MAX);
        gw_answer_error(r, 500, "internal", "the file is too large to serve");
        return;
    }
    gw_file_etag(r->etag, &st);
    if (gw_is_not_modified(r)) {
        close(fd);
        r->out_type = type;
        r->cache_control = cache_control;
        r->csp = csp;
        r->status = 304;
        r->out = gw_answer_alloc(r, 0);
        r->out_len = 0;
        return;
    }
    size_t want = (size_t)st.st_size, got = 0;
    unsigned char *out = gw_answer_alloc(r, want);
    while (got < want) {
        ssize_t n = read(fd, out + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) { /* an error, or the file shrank under us */
            close(fd);
            log_warn("cannot read %s: %s", path, n < 0 ? strerror(errno) : "it shrank");
            r->etag[0] = '\0';
            gw_answer_error(r, 503, "unavailable", "the file is being replaced; retry");
            return;
        }
        got += (size_t)n;
    }
    close(fd);
    r->out_type = type;
    r->cache_control = cache_control;
    r->csp = csp;
    r->status = 200;
    r->out = out;
    r->out_len = want;
}

int gw_static_dispatch(gw_req *r)
{
    if (strncmp(r->path, "/api/", 5) == 0 || strcmp(r->path, "/api") == 0 ||
        strcmp(r->path, "/ws") == 0)
        return 0;
    if (r->method != GW_GET && r->method != GW_HEAD) {
        r->allow = "GET, HEAD";
        gw_answer_error(r, 405, "method_not_allowed", "%s %s: this path takes GET, HEAD",
                        gw_method_name(r->method), r->path);
        return 1;
    }
    const char *rel = strcmp(r->path, "/") == 0 ? "index.html" : r->path + 1;
    gw_file_answer(r, gw_cfg.web_dir, rel, "no-cache", page_csp);
    return 1;
}
