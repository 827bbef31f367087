/*
 * core: what every Gavel daemon needs before it does anything of its own —
 * memory helpers that abort on exhaustion, per-call arenas, configuration
 * from environment tables, JSON logs carrying the request id, Prometheus
 * metrics with /metrics and /healthz over HTTP, and signal handling.
 *
 * Threads: everything here is safe to call from any thread unless a
 * function says otherwise.
 */
#ifndef GAVEL_CORE_H
#define GAVEL_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* ---- memory --------------------------------------------------------------- */

/**
 * Allocate or abort: out of memory is not an error a daemon can handle, so
 * these never return NULL (a zero-byte request still returns a unique
 * pointer). Caller frees with free().
 */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/** Returns a new copy of s, or of at most n bytes of it for xstrndup (NULL
 *  gives NULL); caller frees with free(). */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/** Returns a new formatted string; caller frees with free(). */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** A broken invariant: log, then abort(). Never for input or I/O errors. */
_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- arena: per-call memory freed once ----------------------------------- */

/*
 * Not thread-safe: an arena belongs to the one thread serving its call.
 * Allocation never fails (out of memory aborts).
 */
typedef struct arena arena;

/** Returns a new arena, caller frees with arena_free(). */
arena *arena_new(void);
/** Returns 16-byte aligned memory owned by the arena, valid until reset/free. */
void *arena_alloc(arena *a, size_t n);
void *arena_calloc(arena *a, size_t count, size_t size);
/** Copies into the arena (at most n bytes for strndup); NULL gives NULL. */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Runs fn(arg) when the arena is reset or freed, last registered first.
 *  Cleanups run before any memory is released; they may read arena memory
 *  but must not allocate from the arena. */
void arena_on_free(arena *a, void (*fn)(void *), void *arg);
/** Runs cleanups and releases all but the first block, for reuse. */
void arena_reset(arena *a);
/** Runs cleanups and frees everything; arena_free(NULL) is a no-op. */
void arena_free(arena *a);

/* ---- time ------------------------------------------------------------------ */

/** Wall clock in microseconds since the epoch (server time, the only clock). */
int64_t now_us(void);
/** Monotonic clock in microseconds, for durations and deadlines. */
int64_t mono_us(void);
struct timespec;
/** Fills *out with the CLOCK_REALTIME instant ms from now, for
 *  pthread_cond_timedwait on a default condition variable. */
void deadline_after_ms(struct timespec *out, int64_t ms);

/* ---- configuration: tables of environment variables ----------------------- */

typedef enum { CFG_INT, CFG_STR, CFG_BOOL } cfg_type;

/**
 * One configuration entry. `var` points to an int64_t (CFG_INT), a
 * const char * (CFG_STR, borrowed from the environment or `def`, valid for
 * the process lifetime as long as nobody calls setenv on it) or a bool
 * (CFG_BOOL: 1/0/true/false/yes/no, any case). An unset or empty variable
 * takes `def`; a NULL `def` makes the variable required. CFG_INT values are
 * strict decimal and must lie in [min, max]; min == max == 0 means any
 * int64. A table ends with {0}.
 */
typedef struct {
    const char *env;
    const char *def;
    cfg_type type;
    void *var;
    int64_t min, max;
    const char *help;
} cfg_entry;

/**
 * Loads every entry of the table from the environment (or its default).
 * Returns 0, or -1 with a message in err naming the variable, its value and
 * what is allowed, e.g. "GAVEL_BIDS_WORKERS=100 is out of range (allowed
 * 1..64)". All or nothing: on failure no variable has been written.
 */
int cfg_load(const cfg_entry *table, char *err, size_t errlen);

/** Looks up one variable: the environment value, or def when unset/empty
 *  (cfg_int also when the value is not an integer, with a warning logged).
 *  cfg_str's result is borrowed like a CFG_STR value. */
const char *cfg_str(const char *env, const char *def);
int64_t cfg_int(const char *env, int64_t def);

/**
 * The core library's own settings: GAVEL_LOG_LEVEL (log_init reads it) and
 * GAVEL_BIND_ADDR (mx_http_start reads it). The daemon skeleton loads this
 * table with cfg_core_load before start-up, so a bad value stops a daemon
 * rather than being read leniently later.
 */
extern const cfg_entry cfg_core_table[];
/** Loads cfg_core_table and checks its words: the level is one of debug,
 *  info, warn, error (any case); the address an IPv4 or IPv6 literal.
 *  Returns 0, or -1 with a message naming the variable in err. */
int cfg_core_load(char *err, size_t errlen);

/* ---- logs: one JSON object per line on stderr ----------------------------- */

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/** Sets the daemon name and minimum level; GAVEL_LOG_LEVEL (debug, info,
 *  warn, error) overrides `min`. Call once in main() before threads start.
 *  Before it, lines carry the program name and the level is info. */
void log_init(const char *service, log_level min);
/** Sets this thread's request id (copied, at most 63 bytes, anything but
 *  printable ASCII replaced by '_'; NULL clears). */
void log_set_request_id(const char *id);
/** This thread's request id, or NULL when none. Borrowed; valid until the
 *  next log_set_request_id on this thread. */
const char *log_request_id(void);
/** Writes one line if lvl reaches the minimum level; never fails. */
void log_msg(log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(log_level lvl, const char *fmt, va_list ap);
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/** Writes a new random request id (32 hex chars + NUL) into out[33]. */
void request_id_new(char out[33]);

/* ---- metrics: Prometheus text exposition ---------------------------------- */

typedef struct mx_metric mx_metric;

/**
 * Returns the metric with this name and label set, creating it on first use
 * (borrowed, lives for the process). `labels` is the Prometheus label body
 * without braces, e.g. "method=\"Login\",code=\"OK\"", or NULL; label values
 * must already be escaped. The same name must always be used with the same
 * type, and the name must match [a-zA-Z_:][a-zA-Z0-9_:]* (else panic).
 * The first help given for a name is kept. Look a metric up once and keep
 * the pointer: updates are lock-free, lookups take the registry mutex.
 */
mx_metric *mx_counter(const char *name, const char *help, const char *labels);
mx_metric *mx_gauge(const char *name, const char *help, const char *labels);
/** A histogram of seconds with fixed buckets from 100 µs to 10 s. */
mx_metric *mx_histogram(const char *name, const char *help, const char *labels);

/* Using a metric of the wrong type, or adding a negative value to a
 * counter, is a broken invariant (panic). NaN observations are dropped. */
void mx_add(mx_metric *m, double v);      /* counter or gauge */
void mx_set(mx_metric *m, double v);      /* gauge */
void mx_observe(mx_metric *m, double v);  /* histogram, v in seconds */

/**
 * One row of a metrics table. A daemon or library declares its series as
 * data; whoever starts it registers the rows that have a `var` (the series
 * is stored there) before using them, and the same table tells
 * `--describe` and the docs check what exists. `make` is mx_counter,
 * mx_gauge or mx_histogram. `labels` is the label body of the series *var
 * gets (`result="released"`), or NULL; a family whose series are made at
 * use, one per label value, has var NULL and names its labels instead
 * (`method,code`). Several rows may share a name (one per label value). A
 * table ends with {0}.
 */
typedef struct {
    const char *name;
    mx_metric *(*make)(const char *name, const char *help, const char *labels);
    const char *help;
    const char *labels;
    mx_metric **var;
} mx_entry;

/** Appends the whole registry in text format; caller frees with free(). */
char *mx_render(void);

/**
 * Serves GET /metrics and GET /healthz on 127.0.0.1:port (or
 * GAVEL_BIND_ADDR, an IPv4 or IPv6 literal) from a background thread
 * (libmicrohttpd); port 0 picks a free port (see mx_http_port).
 * /healthz answers 200 "ok" when health(arg) returns true (or health is
 * NULL), 503 otherwise; health runs on the server thread. Other paths give
 * 404, methods other than GET/HEAD 405. One server per process; start and
 * stop it from main(), not concurrently.
 * Returns 0 or -1 (port busy, bad address, already started; logged).
 */
int mx_http_start(int port, bool (*health)(void *arg), void *arg);
/** The port being served, or 0 when stopped. */
int mx_http_port(void);
/** Stops serving and joins the server thread; no-op when not started. */
void mx_http_stop(void);

/* ---- signals ------------------------------------------------------------------ */

/** Blocks SIGTERM/SIGINT/SIGHUP/SIGPIPE in the calling thread; call in main()
 *  before starting threads so they inherit the mask. SIGPIPE is also set to
 *  SIG_IGN for good: a closed peer is an EPIPE error, never a dead daemon. */
void sig_block_all(void);
/** Waits for SIGTERM, SIGINT or SIGHUP, which sig_block_all() must have
 *  blocked in every thread; returns the signal number. */
int sig_wait(void);

/* ---- small helpers ---------------------------------------------------------- */

/** Hex-encodes n bytes into out (2n+1 bytes, NUL-terminated). */
void hex_encode(const uint8_t *in, size_t n, char *out);
/** Decodes 2n hex characters into n bytes. Returns 0, or -1 when the input
 *  is shorter or holds a non-hex character (out is then unspecified). */
int hex_decode(const char *hex, uint8_t *out, size_t n);
/** True when s[0..n) is well-formed UTF-8 without NUL bytes. */
bool utf8_valid(const char *s, size_t n);

#endif
