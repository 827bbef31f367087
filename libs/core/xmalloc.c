/*
 * xmalloc: allocation that cannot fail from the caller's point of view.
 * A daemon that runs out of memory cannot do anything sensible, so every
 * helper here either returns usable memory or writes one line to stderr and
 * aborts. Zero-byte requests still return a unique pointer, so NULL from
 * these functions never needs checking. panic() is for broken invariants
 * only; it logs through log_msg() and aborts.
 */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The out-of-memory report avoids the logger: building a JSON line
 * allocates, and allocation is exactly what just failed.
 */
static _Noreturn void oom(const char *what, size_t n)
{
    char line[128];
    int len = snprintf(line, sizeof line,
                       "gavel: out of memory in %s (%zu bytes)\n", what, n);
    if (len > 0) {
        ssize_t w = write(STDERR_FILENO, line,
                          (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
        (void)w;
    }
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom("xmalloc", n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    if (count == 0 || size == 0)
        count = size = 1;
    void *p = calloc(count, size);
    if (!p)
        oom("xcalloc", count * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom("xrealloc", n);
    return q;
}

char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        panic("xasprintf: cannot format \"%s\"", fmt);
    char *p = xmalloc((size_t)len + 1);
    vsnprintf(p, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void panic(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_msg(LOG_ERROR, "panic: %s", msg);
    abort();
}
