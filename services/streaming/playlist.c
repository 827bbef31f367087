/*
 * The ingest latency from a live HLS playlist: the newest segment's
 * EXT-X-PROGRAM-DATE-TIME (the wall time of its first frame, written by
 * the ingest's muxer) against the time the playlist listing it was
 * written (its mtime: when the segment became fetchable). Reads at most
 * 64 KiB of the playlist; anything unexpected gives "no figure", never an
 * error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "streaming.h"

#define PDT_TAG "#EXT-X-PROGRAM-DATE-TIME:"
#define PLAYLIST_MAX (64 * 1024)

/* Reads n digits at s into *v; false unless all are digits. */
static bool digits(const char *s, size_t n, int *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

int64_t strm_parse_pdt_ms(const char *s, size_t n)
{
    int y, mo, d, h, mi, sec;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    size_t i = 19;
    int64_t ms = 0, scale = 100;
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            ms += (s[i] - '0') * scale;
            scale /= 10;
        }
    }
    int64_t off_min = 0;
    if (i < n && s[i] == 'Z') {
        i++;
    } else if (i + 3 <= n && (s[i] == '+' || s[i] == '-')) {
        int oh = 0, om = 0;
        bool colon = i + 3 < n && s[i + 3] == ':';
        size_t mpos = i + (colon ? 4 : 3);
        if (!digits(s + i + 1, 2, &oh) || (mpos + 2 <= n && !digits(s + mpos, 2, &om)))
            return -1;
        off_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i = mpos + 2 <= n ? mpos + 2 : i + 3;
    } else {
        return -1;
    }
    while (i < n && (s[i] == '\r' || s[i] == ' '))
        i++;
    if (i != n)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                     .tm_min = mi, .tm_sec = sec };
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    return ((int64_t)t - off_min * 60) * 1000 + ms;
}

int64_t strm_playlist_latency_ms(const char *text, size_t n, int64_t written_ms)
{
    int64_t pdt = -1, newest = -1;
    size_t at = 0;
    while (at < n) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', n - at);
        size_t len = nl != NULL ? (size_t)(nl - line) : n - at;
        at += len + 1;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (len > strlen(PDT_TAG) && memcmp(line, PDT_TAG, strlen(PDT_TAG)) == 0)
            pdt = strm_parse_pdt_ms(line + strlen(PDT_TAG), len - strlen(PDT_TAG));
        else if (len > 0 && line[0] != '#')
            newest = pdt; /* a segment's URI: the date-time above it is its own */
    }
    if (newest < 0)
        return -1;
    int64_t lat = written_ms - newest;
    return lat < 0 ? 0 : lat;
}

int32_t strm_latency_of(const char *name)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s/index.m3u8", strm.live_dir, name) >= (int)sizeof path)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    char *buf = xmalloc(PLAYLIST_MAX);
    ssize_t got = fstat(fd, &st) == 0 ? read(fd, buf, PLAYLIST_MAX) : -1;
    close(fd);
    int64_t lat = -1;
    if (got > 0)
        lat = strm_playlist_latency_ms(buf, (size_t)got,
                                       (int64_t)st.st_mtim.tv_sec * 1000 +
                                           st.st_mtim.tv_nsec / 1000000);
    free(buf);
    if (lat < 0 || lat > INT32_MAX)
        return 0;
    return (int32_t)lat;
}
