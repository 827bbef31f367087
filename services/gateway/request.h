/*
 * One HTTP request as the core carries it: read on the loop thread from
 * the connection, handed whole to a job on a worker, answered on the loop.
 * Everything it points to lives in its arena.
 *
 * Ownership: the request belongs to the loop thread except while its job
 * runs, when the job alone writes the answer fields and the loop only
 * clears `wsi` if the connection goes away (the job never reads `wsi`).
 * It is freed on the loop once its answer is written or its connection is
 * gone, whichever comes last.
 */
#ifndef GAVEL_GATEWAY_REQUEST_H
#define GAVEL_GATEWAY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http.h"

typedef enum {
    GW_GET, GW_POST, GW_PUT, GW_PATCH, GW_DELETE, GW_HEAD, GW_OPTIONS, GW_METHODS
} gw_method;

/** "GET", … for a method. */
const char *gw_method_name(gw_method m);

typedef struct gw_route gw_route;

/* Room kept in front of every answer body for lws and the headers. */
#define GW_HDR_ROOM 2048

typedef struct gw_req {
    /* loop thread */
    struct lws *wsi;            /* NULL once the connection went away */
    struct gw_req *next_free;
    int64_t t0_us;              /* when the headers were read */
    bool is_keepalive;          /* the client keeps the connection */
    bool is_job_running;
    bool is_counted;            /* counted in flight */
    size_t sent;                /* body bytes written so far (large answers go in parts) */
    bool is_closing;            /* the answer ends with the connection */
    const char *cors_origin;    /* the allowed origin to echo, or NULL */

    /* the request, read on the loop; the job reads it */
    arena *a;
    gw_method method;
    const char *path;           /* decoded path */
    char **args;                /* decoded query fragments "k=v", nargs of them */
    size_t nargs;
    const char *authorization;  /* the header, or NULL */
    const char *idem_key;       /* Idempotency-Key, or NULL */
    const char *content_type;   /* or NULL */
    const char *timeout;        /* X-Request-Timeout-Ms, or NULL */
    const char *if_none_match;  /* If-None-Match, or NULL */
    const char *signature;      /* Gavel-Signature (the provider's webhooks), or NULL */
    char request_id[65];
    char client_addr[RPC_ADDR_MAX];
    char *body;
    size_t body_len, body_cap;
    bool has_body;              /* the client sent a Content-Length */
    const gw_route *route;      /* matched on the loop; NULL when none */
    const char *params[4];      /* path parameter values, in template order */

    /* the answer, written by the job (or the loop when there is no job) */
    int status;
    int64_t user_id;            /* for the access log, 0 when anonymous */
    int64_t retry_after_s;      /* 0: no Retry-After */
    const char *allow;          /* Allow header (405, OPTIONS), or NULL */
    bool is_preflight;          /* an answered CORS preflight */
    bool is_auth_refused;       /* 401 at the edge: WWW-Authenticate */
    struct gw_job *held;        /* the job while its service call is in flight */
    unsigned char *out;         /* the body, GW_HDR_ROOM + LWS_PRE bytes after its buffer start */
    size_t out_len;
    /* set for a file answer (static.c); NULL means a JSON answer of the API */
    const char *out_type;       /* Content-Type */
    const char *cache_control;  /* Cache-Control (no-store when NULL) */
    const char *csp;            /* Content-Security-Policy (the API's when NULL) */
    char etag[48];              /* ETag, "" none */
} gw_req;

/* ---- http_answer.c: answer bodies, built on any thread ---- */

/** Room for a body of n bytes (with the header room in front); arena memory. */
unsigned char *gw_answer_alloc(gw_req *r, size_t n);
/** Sets the answer to status with body json (borrowed; dumped now). */
void gw_answer_json(gw_req *r, int status, const json_t *body);
/** Sets the error answer {"error":{"code","message","request_id"}}. */
void gw_answer_error(gw_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** The error answer of a failed gRPC call (the status map). */
void gw_answer_grpc(gw_req *r, int grpc_code, const char *message);

/* ---- static.c: files (the web UI) ---- */

/**
 * Sets r's answer to the file rel (a path below dir, without a leading
 * slash) with content type by extension, ETag, and 304 when If-None-Match
 * names it; 404 for a name outside [A-Za-z0-9._-/], a segment starting with
 * '.', an extension not served, or no such regular file. cache_control and
 * csp are borrowed (static strings). Blocking file I/O: small files on the
 * loop, large ones on a worker. Any thread that holds the request.
 */
void gw_file_answer(gw_req *r, const char *dir, const char *rel, const char *cache_control,
                    const char *csp);
struct stat;
/** Writes the ETag of a file (its size and change time, quoted) into out. */
void gw_file_etag(char out[48], const struct stat *st);
/** True when r's If-None-Match lists r->etag (or is "*"). */
bool gw_is_not_modified(const gw_req *r);
/** Loop thread: a GET or HEAD outside the API for the web UI: answers it
 *  (a file of GAVEL_GATEWAY_WEB_DIR, / being index.html) and returns 1;
 *  0 when the path is the API's (the caller answers 404). */
int gw_static_dispatch(gw_req *r);

/* ---- http.c ---- */

/** Reads settings that shape every answer (CORS origins); 0 or -1 with err. */
int gw_http_init(char *err, size_t errlen);
void gw_http_free(void);
/** Loop thread: the job of r finished (its answer is set); write it. */
void gw_http_job_done(gw_req *r);
/** The lws protocol serving HTTP on the gateway's vhost. */
extern const struct lws_protocols gw_http_protocol;
/** Loop thread: answer with Connection: close from now on and close idle
 *  keep-alive connections. */
void gw_http_drain(void);
/** Requests read and not yet answered (any thread). */
int gw_http_in_flight(void);

/* ---- rest.c: what a request does ---- */

/** Loop thread: route the request and start its job, or answer it at once
 *  (unknown route, wrong method, preflight). Returns 0, or 1 when the
 *  answer is ready now. */
int gw_rest_dispatch(gw_req *r);

#endif
