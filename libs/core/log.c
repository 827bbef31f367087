/*
 * log: structured logs, one JSON object per line on stderr, e.g.
 *   {"ts":"2026-11-23T11:06:23.123456Z","level":"info","service":"users",
 *    "request_id":"…","msg":"…"}
 * The line is built by jansson, never escaped by hand. Text that is not
 * valid UTF-8 has each bad byte replaced by U+FFFD so a line is never lost,
 * and a request id keeps only printable ASCII so a peer cannot forge log
 * fields. Each line reaches stderr in one write(2) call, so lines from
 * concurrent threads never interleave (a pipe keeps writes up to PIPE_BUF
 * whole; longer lines are rare and still written in one call when the
 * kernel allows).
 *
 * The request id is per thread: a worker sets it when it picks up a call
 * and clears it when the call ends. The service name is set once by
 * log_init() before threads start; the minimum level is atomic.
 */
#include "core.h"
#include "core_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define LOG_MSG_STACK 2048
#define LOG_LINE_STACK 4096

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug", [LOG_INFO] = "info",
    [LOG_WARN] = "warn", [LOG_ERROR] = "error",
};

static char service_name[64];
static atomic_int min_level = LOG_INFO;
static _Thread_local char request_id[64];

static bool parse_level(const char *s, log_level *out)
{
    for (int l = LOG_DEBUG; l <= LOG_ERROR; l++) {
        if (strcasecmp(s, level_names[l]) == 0) {
            *out = (log_level)l;
            return true;
        }
    }
    return false;
}

void log_init(const char *service, log_level min)
{
    snprintf(service_name, sizeof service_name, "%s", service ? service : "");
    const char *env = getenv("GAVEL_LOG_LEVEL");
    log_level lvl = min;
    bool env_bad = env && *env && !parse_level(env, &lvl);
    atomic_store(&min_level, (int)lvl);
    if (env_bad)
        log_warn("GAVEL_LOG_LEVEL=%.32s is not debug/info/warn/error; using %s",
                 env, level_names[lvl]);
}

void log_set_request_id(const char *id)
{
    size_t n = 0;
    if (id) {
        for (; id[n] && n < sizeof request_id - 1; n++) {
            unsigned char c = (unsigned char)id[n];
            request_id[n] = c > 0x20 && c < 0x7f ? (char)c : '_';
        }
    }
    request_id[n] = '\0';
}

const char *log_request_id(void)
{
    return request_id[0] ? request_id : NULL;
}

/* Returns s, or a new copy (caller frees) with bad bytes as U+FFFD. */
static char *utf8_repair(char *s)
{
    size_t n = strlen(s);
    if (utf8_valid(s, n))
        return s;
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = core__utf8_seqlen((const unsigned char *)s + i, n - i);
        if (len == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        }
    }
    out[o] = '\0';
    return out;
}

static void format_ts(char *buf, size_t len)
{
    int64_t us = now_us();
    time_t sec = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06dZ", base, (int)(us % 1000000));
}

/* Writes all of buf, retrying partial writes and EINTR. */
static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        buf += w;
        len -= (size_t)w;
    }
}

/* Serialises obj plus '\n' and writes it with one write(2). */
static void emit(json_t *obj)
{
    char stack[LOG_LINE_STACK];
    size_t need = json_dumpb(obj, stack, sizeof stack - 1, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (need == 0)
        return;
    if (need < sizeof stack) {
        stack[need] = '\n';
        write_all(stack, need + 1);
        return;
    }
    char *heap = malloc(need + 1);
    if (!heap)
        return;
    json_dumpb(obj, heap, need, JSON_COMPACT | JSON_PRESERVE_ORDER);
    heap[need] = '\n';
    write_all(heap, need + 1);
    free(heap);
}

static void emit_line(log_level lvl, char *msg)
{
    char ts[64];
    format_ts(ts, sizeof ts);
    char *text = utf8_repair(msg);
    json_t *obj = json_pack("{s:s, s:s, s:s, s:s*, s:s}",
                            "ts", ts,
                            "level", level_names[lvl],
                            "service", service_name[0] ? service_name
                                                       : program_invocation_short_name,
                            "request_id", log_request_id(),
                            "msg", text ? text : "(log message lost: out of memory)");
    if (text != msg)
        free(text);
    if (!obj) {
        static const char lost[] =
            "{\"level\":\"error\",\"msg\":\"log line could not be built\"}\n";
        write_all(lost, sizeof lost - 1);
        return;
    }
    emit(obj);
    json_decref(obj);
}

void log_vmsg(log_level lvl, const char *fmt, va_list ap)
{
    if ((int)lvl < LOG_DEBUG || (int)lvl > LOG_ERROR)
        lvl = LOG_ERROR;
    if ((int)lvl < atomic_load(&min_level))
        return;

    char stack[LOG_MSG_STACK];
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(stack, sizeof stack, fmt, ap);
    char *msg = stack;
    if (len < 0) {
        snprintf(stack, sizeof stack, "(bad log format \"%.64s\")", fmt);
    } else if ((size_t)len >= sizeof stack) {
        char *heap = malloc((size_t)len + 1);
        if (heap) {
            vsnprintf(heap, (size_t)len + 1, fmt, ap2);
            msg = heap;
        }
    }
    va_end(ap2);
    emit_line(lvl, msg);
    if (msg != stack)
        free(msg);
}

void log_msg(log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
}

void request_id_new(char out[33])
{
    uint8_t raw[16];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            panic("getrandom: %s", strerror(errno));
        got += (size_t)n;
    }
    hex_encode(raw, sizeof raw, out);
}
