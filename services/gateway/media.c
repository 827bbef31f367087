/*
 * Lot photos the gateway keeps itself: POST /api/v1/media stores an image
 * a seller uploads, GET /media/<sha256>.<ext> serves it back. An upload is
 * accepted only when its first bytes say JPEG, PNG or WebP and its
 * Content-Type says the same; it is stored under the SHA-256 of its bytes
 * (lower-case hex) and the type's extension in the media directory, so the
 * same image uploaded twice is one file with one URL, and a stored file
 * never changes (its answers are cacheable for a year).
 *
 * Invariants: both run on a worker, never on the loop (file I/O blocks);
 * a file appears in the directory whole or not at all (written under a
 * temporary name starting with '.', then renamed), so concurrent uploads
 * of one image, or a reader during an upload, never see part of it; a
 * name that is not exactly 64 lower-case hex digits, a dot and one of the
 * three extensions is never opened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "request.h"
#include "routes.h"

#define HASH_HEX 64
#define CACHE_FOREVER "public, max-age=31536000, immutable"

static char media_dir[PATH_MAX]; /* set by gw_media_init, read-only after */

typedef struct {
    const char *type, *ext, *name;
} media_kind;

static const media_kind kinds[] = {
    { "image/jpeg", "jpg", "JPEG" },
    { "image/png", "png", "PNG" },
    { "image/webp", "webp", "WebP" },
};

/* mkdir -p of a path we own (the media directory); 0 or -1 with errno. */
static int make_dirs(const char *dir)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Temporary files of uploads a crash cut short ("." names are never
 * served); removed at start-up, before any upload can be in progress. */
static void remove_leftovers(void)
{
    DIR *d = opendir(media_dir);
    if (d == NULL)
        return;
    int dfd = dirfd(d);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
        if (strncmp(e->d_name, ".upload-", 8) == 0 && unlinkat(dfd, e->d_name, 0) < 0)
            log_warn("cannot remove %s/%s: %s", media_dir, e->d_name, strerror(errno));
    closedir(d);
}

int gw_media_init(char *err, size_t errlen)
{
    const char *run = getenv("GAVEL_RUN_DIR");
    int n = gw_cfg.media_dir[0] != '\0'
                ? snprintf(media_dir, sizeof media_dir, "%s", gw_cfg.media_dir)
                : snprintf(media_dir, sizeof media_dir, "%s/media",
                           run != NULL && run[0] != '\0' ? run : ".run");
    if (n <= 0 || (size_t)n >= sizeof media_dir - HASH_HEX - 32) {
        snprintf(err, errlen, "GAVEL_GATEWAY_MEDIA_DIR: the path is too long");
        return -1;
    }
    while (n > 1 && media_dir[n - 1] == '/')
        media_dir[--n] = '\0';
    if (make_dirs(media_dir) < 0 || access(media_dir, W_OK | X_OK) < 0) {
        snprintf(err, errlen, "GAVEL_GATEWAY_MEDIA_DIR: cannot create or write %s: %s",
                 media_dir, strerror(errno));
        return -1;
    }
    remove_leftovers();
    return 0;
}

int64_t gw_media_body_limit(gw_method method, const char *path)
{
    return method == GW_POST && strcmp(path, "/api/v1/media") == 0 ? gw_cfg.media_max
                                                                   : gw_cfg.max_body;
}

/* The kind the first bytes say, or NULL. */
static const media_kind *sniff(const unsigned char *b, size_t n)
{
    static const unsigned char png[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return &kinds[0];
    if (n >= sizeof png && memcmp(b, png, sizeof png) == 0)
        return &kinds[1];
    if (n >= 16 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBPVP8", 7) == 0 &&
        (b[15] == ' ' || b[15] == 'L' || b[15] == 'X'))
        return &kinds[2];
    return NULL;
}

/* The kind a Content-Type names ("image/png; x=y" too), or NULL. */
static const media_kind *declared(const char *ct)
{
    if (ct == NULL)
        return NULL;
    size_t n = strcspn(ct, ";");
    while (n > 0 && ct[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strlen(kinds[i].type) == n && strncasecmp(ct, kinds[i].type, n) == 0)
            return &kinds[i];
    return NULL;
}

static int sha256_hex(const void *data, size_t n, char hex[HASH_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen * 2 != HASH_HEX)
        return -1;
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Stores body as dir/name unless a file of that name (the same bytes, by
 * its hash) is there already. 0 or -1 with errno. */
static int store(const char *name, const char *body, size_t n)
{
    char final[PATH_MAX], tmp[PATH_MAX];
    if ((size_t)snprintf(final, sizeof final, "%s/%s", media_dir, name) >= sizeof final ||
        (size_t)snprintf(tmp, sizeof tmp, "%s/.upload-XXXXXX", media_dir) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    struct stat st;
    if (stat(final, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == n)
        return 0;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, body, n);
    if (rc == 0)
        rc = fchmod(fd, 0644);
    if (rc == 0)
        rc = fsync(fd);
    int saved = errno;
    if (close(fd) < 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(tmp, final) < 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0) { /* the new name survives a crash, as the bytes do */
        int dfd = open(media_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            if (fsync(dfd) < 0)
                log_warn("cannot sync %s: %s", media_dir, strerror(errno));
            close(dfd);
        }
    }
    if (rc < 0) {
        unlink(tmp);
        errno = saved;
    }
    return rc;
}

void gw_media_upload(gw_req *r)
{
    const media_kind *said = declared(r->content_type);
    if (said == NULL) {
        gw_answer_error(r, 415, "unsupported_media_type",
                        "Content-Type must be image/jpeg, image/png or image/webp (got %s)",
                        r->content_type != NULL ? r->content_type : "none");
        return;
    }
    if (r->body_len == 0) {
        gw_answer_error(r, 400, "invalid_argument", "the body is empty: send the image's bytes");
        return;
    }
    const media_kind *is = sniff((const unsigned char *)r->body, r->body_len);
    if (is == NULL) {
        gw_answer_error(r, 415, "unsupported_media_type",
                        "the body is not a JPEG, PNG or WebP image (by its first bytes)");
        return;
    }
    if (is != said) {
        gw_answer_error(r, 415, "unsupported_media_type",
                        "the body is a %s image but Content-Type says %s", is->name,
                        said->type);
        return;
    }
    char hex[HASH_HEX + 1], name[HASH_HEX + 8];
    if (sha256_hex(r->body, r->body_len, hex) < 0) {
        gw_answer_error(r, 500, "internal", "the image could not be hashed");
        return;
    }
    snprintf(name, sizeof name, "%s.%s", hex, is->ext);
    if (store(name, r->body, r->body_len) < 0) {
        int e = errno;
        log_error("cannot store %s in %s: %s", name, media_dir, strerror(e));
        gw_answer_error(r, e == ENOSPC || e == EDQUOT ? 507 : 500,
                        e == ENOSPC || e == EDQUOT ? "insufficient_storage" : "internal",
                        "the image could not be stored; try again later");
        return;
    }
    char url[HASH_HEX + 16];
    snprintf(url, sizeof url, "/media/%s", name);
    json_t *j = json_pack("{s:s,s:s,s:I,s:s}", "url", url, "sha256", hex, "bytes",
                          (json_int_t)r->body_len, "contentType", is->type);
    gw_answer_json(r, 201, j);
    json_decref(j);
}

/* Exactly <64 lower-case hex>.<jpg|png|webp>. */
static bool is_media_name(const char *s)
{
    for (int i = 0; i < HASH_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    if (s[HASH_HEX] != '.')
        return false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(s + HASH_HEX + 1, kinds[i].ext) == 0)
            return true;
    return false;
}

void gw_media_serve(gw_req *r)
{
    const char *name = r->params[0];
    if (name == NULL || !is_media_name(name)) {
        gw_answer_error(r, 404, "not_found", "no photo %s", r->path);
        return;
    }
    gw_file_answer(r, media_dir, name, CACHE_FOREVER, NULL);
}
