/*
 * The REST surface as one table: every row is a method and a path template
 * mapped to one gRPC method, with who may call it, where its request
 * message comes from (path parameters, query parameters, the JSON body,
 * the Idempotency-Key header, the caller's id) and its rate class. The
 * table drives dispatch, 404/405 with Allow, the per-route series and
 * /openapi.json.
 */
#ifndef GAVEL_GATEWAY_ROUTES_H
#define GAVEL_GATEWAY_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "limits.h"
#include "request.h"

typedef enum {
    GW_AUTH_TOKEN,    /* a Bearer access token, verified here, then forwarded */
    GW_AUTH_PUBLIC,   /* no token: the call goes out with the gateway's service
                         token and the client's address (the users service
                         throttles per address) */
    GW_AUTH_NONE,     /* served by the gateway itself, no token */
} gw_auth;

typedef enum {
    GW_SVC_USERS,
    GW_SVC_AUCTIONS,
    GW_SVC_BIDS,
    GW_SVC_NOTIFICATIONS,
    GW_SVC_SEARCH,
    GW_SVC_PAYMENTS,
    GW_SVC_STREAMING,
    GW_SVC_GATEWAY
} gw_svc;

enum {
    GW_R_KEY_REQUIRED = 1u << 0, /* Idempotency-Key (or the body's field) must be given */
    GW_R_RETRY = 1u << 1,        /* safe to retry on UNAVAILABLE (reads, keyed writes) */
    GW_R_LOGIN = 1u << 2,        /* checked by gw_login_precheck before it goes out */
    GW_R_JOB = 1u << 3,          /* a gateway's own route that blocks: local runs on a
                                    worker, after the token and the rate limit */
    GW_R_SELLERS = 1u << 4,      /* a gateway's own route for sellers (and admins) alone:
                                    403 for other roles */
    GW_R_WEBHOOK = 1u << 5,      /* a provider's signed webhook: the raw body fills the
                                    request's `body`, the Gavel-Signature header its
                                    `signature`, Content-Type its `content_type`; the
                                    service verifies the signature */
};

#define GW_MAX_PARAMS 4
/* What a browser may send on a cross-origin call. */
#define GW_CORS_ALLOW_HEADERS \
    "Authorization, Content-Type, Idempotency-Key, X-Request-Id, X-Request-Timeout-Ms"

struct gw_route {
    gw_method method;
    const char *path;                 /* "/api/v1/lots/{lot_id}/bids" */
    const rpc_client_method *rpc;     /* NULL for the gateway's own routes */
    gw_svc svc;                       /* bids calls go to the lot's instance */
    gw_auth auth;
    /* NULL: no body; "*": the body is the request message; else the name
     * of the request's message field the body fills. A gateway's own
     * route: the media types its raw body may have. */
    const char *body;
    const char *idem_field;           /* the field Idempotency-Key fills, or NULL */
    gw_rate_class rate;
    unsigned flags;                   /* GW_R_* */
    const char *summary;              /* one line for /openapi.json */
    void (*local)(gw_req *r);         /* the gateway's own routes: answers r */
};

/* The table, ending with a row whose path is NULL. */
extern const gw_route gw_routes[];

/**
 * Checks the table against the descriptors (every path parameter, body
 * field and key field exists with a type that can hold it; no two rows
 * share a method and template) and makes the per-route series. Returns 0,
 * or -1 with a message naming the row in err. Main thread, at start-up.
 */
int gw_routes_init(char *err, size_t errlen);
void gw_routes_free(void);

/**
 * Finds the row for method and path (a decoded path, no query). A literal
 * segment is preferred over a parameter. On a match returns the row and
 * sets params[i] to the i-th path parameter's value (pointers into a copy
 * in a, valid for the request). Without one returns NULL and sets *allow
 * to the methods the path takes ("GET, PATCH, OPTIONS"), or NULL when no
 * template matches the path (404).
 */
const gw_route *gw_route_match(gw_method method, const char *path, arena *a,
                               const char **params, const char **allow);
/** The path template of a row (for logs and series). */
const char *gw_route_template(const gw_route *r);
/** The i-th path parameter's field name in the row's template, or NULL. */
const char *gw_route_param(const gw_route *r, size_t i);
/** The JSON name of the i-th path parameter ("lotId"). */
const char *gw_route_param_json(const gw_route *r, size_t i);
/** Counts an answer of the row (NULL: unmatched) in the series. Any thread. */
void gw_routes_count(const gw_route *r, int status);
/* ---- openapi.c ---- */

/** Builds /openapi.json from the table (after gw_routes_init); 0 or -1. */
int gw_openapi_init(char *err, size_t errlen);
void gw_openapi_free(void);
/** The gateway's own route: answers r with the document. */
void gw_openapi_serve(gw_req *r);

/* ---- media.c: uploaded lot photos ---- */

/** Makes the media directory (GAVEL_GATEWAY_MEDIA_DIR, else
 *  $GAVEL_RUN_DIR/media, else .run/media); 0 or -1 with err. Main thread. */
int gw_media_init(char *err, size_t errlen);
/** The largest body a request may send: GAVEL_GATEWAY_MEDIA_MAX for an
 *  upload, GAVEL_GATEWAY_MAX_BODY for everything else. Any thread. */
int64_t gw_media_body_limit(gw_method method, const char *path);
/** The gateway's own routes (worker thread): store an uploaded image (201
 *  with its URL; 415 when its bytes or Content-Type are not JPEG, PNG or
 *  WebP) and serve one back (404 for any other name). */
void gw_media_upload(gw_req *r);
void gw_media_serve(gw_req *r);

/** The rpc methods the table calls, NULL-terminated (rpc_service.calls). */
const rpc_client_method *const *gw_routes_calls(void);

#endif
