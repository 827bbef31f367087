/*
 * rpc: the gRPC runtime every Gavel daemon stands on, over the gRPC C core
 * and protobuf-c.
 *
 * Server: one completion queue served by a few polling threads, registered
 * methods with their payload delivered with the call, a fixed pool of worker
 * threads for handlers that block (database, downstream calls). A service
 * declares its whole surface as a static table of rpc_method rows; the
 * runtime unpacks, checks UTF-8, authenticates (Bearer JWT verified offline
 * plus a Redis revocation check), authorises by role, runs the handler and
 * answers. grpc.health.v1.Health is built in. SIGTERM drains, then exits.
 *
 * Client: one channel per target, unary calls with deadlines, retries with
 * backoff for UNAVAILABLE on idempotent methods, server streaming. Every
 * method called is a declared constant checked against its descriptor.
 *
 * The daemon skeleton (rpc_server_main) runs a daemon from one definition,
 * rpc_service: its method tables, settings, database, relay, consumers,
 * metrics, extra listeners and hooks, all declared as data.
 */
#ifndef GAVEL_RPC_H
#define GAVEL_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "core/core.h"
#include "db/db.h"
#include "events/events.h"

/* ---- identity ----------------------------------------------------------------- */

/* Roles as a bit set, so a method names every role that may call it. */
enum {
    RPC_ROLE_BIDDER = 1u << 0,
    RPC_ROLE_SELLER = 1u << 1,
    RPC_ROLE_MODERATOR = 1u << 2,
    RPC_ROLE_ADMIN = 1u << 3,
    RPC_ROLE_SERVICE = 1u << 4,
};
#define RPC_PUBLIC 0u          /* no token needed */
#define RPC_ANY_USER 0x1fu     /* any verified caller */
#define RPC_STAFF (RPC_ROLE_ADMIN | RPC_ROLE_SERVICE)

/** Who is calling, as verified from the access token. */
typedef struct {
    int64_t user_id;     /* 0 for a service identity */
    unsigned role;       /* exactly one RPC_ROLE_* bit */
    char subject[64];    /* user id as text, or the service name */
    char jti[48];        /* token id, for revocation */
    int64_t expires_us;  /* token expiry */
    const char *token;   /* the raw bearer token, to forward; borrowed for the call */
} rpc_principal;

/** "bidder", "seller", … for one role bit; "" when unknown. */
const char *rpc_role_name(unsigned role);
/** The role bit for a name, or 0. */
unsigned rpc_role_parse(const char *name);

/* ---- server --------------------------------------------------------------------- */

typedef struct rpc_call rpc_call;

/**
 * A handler reads `req` (borrowed, lives as long as the call), sets *resp to
 * a message it allocated from the call (rpc_alloc) or statically, and
 * returns GRPC_STATUS_OK — or returns rpc_fail(…). Streaming handlers return
 * RPC_ASYNC after rpc_stream_open().
 */
typedef int (*rpc_handler)(rpc_call *call, const ProtobufCMessage *req,
                           ProtobufCMessage **resp);

#define RPC_ASYNC 1000 /* the handler opened a stream or deferred its answer */

/* The HPACK header table of every server connection and client channel.
 * One connection often carries many callers' bearer tokens (the gateway's
 * users, a partner's, the load generator's 64 bidders): each is about 400
 * bytes in the table, so gRPC's default 4 KiB evicts and re-sends them on
 * nearly every call. Measured on the refusal path: 42,000 → 59,000 calls/s. */
#define RPC_HPACK_TABLE_BYTES (64 * 1024)

enum {
    RPC_IDEMPOTENT = 1u << 1, /* safe to retry (documentation for clients) */
    RPC_STREAMING = 1u << 2,  /* server streaming: handler uses rpc_stream_open */
};

/*
 * Where a method's calls run. Each pool of workers has its own bounded
 * queue, so no kind of traffic can hold up another: a full queue refuses
 * new calls at once with RESOURCE_EXHAUSTED instead of letting them wait
 * ahead of others.
 * - A call with a service identity (another Gavel daemon) runs in the
 *   service pool, never behind a user's or an anonymous call.
 * - A call without a token to a public method runs in the expensive pool,
 *   as do RPC_CLASS_EXPENSIVE methods; a method that needs a token answers
 *   a call without one at once, on the polling thread.
 * - Everything else that may block runs in the normal pool.
 */
typedef enum {
    RPC_CLASS_NORMAL = 0,   /* may block (database, downstream calls): a worker */
    RPC_CLASS_INLINE,       /* never blocks: runs on the polling thread */
    /* The handler never blocks, but checking its caller may (a new
     * token's signature, the revocation list): it runs on the polling
     * thread when the caller's token was verified recently, else as
     * RPC_CLASS_NORMAL. */
    RPC_CLASS_FAST,
    /* CPU-heavy or open to anyone (password hashing): the expensive pool,
     * a few low-priority workers and a short queue. A service identity's
     * calls go ahead of anonymous ones there. */
    RPC_CLASS_EXPENSIVE,
} rpc_class;

/* Largest request a method accepts unless its row says otherwise. A
 * request over its method's limit is refused with INVALID_ARGUMENT before
 * it is unpacked: a small message can unpack into far more memory (a
 * repeated field of one-letter strings costs a pointer and an allocation
 * per three bytes). */
#define RPC_DEFAULT_MAX_REQUEST (64 * 1024)
/* Largest request any method may accept; gRPC itself refuses larger ones
 * (RESOURCE_EXHAUSTED), before they reach a method's own limit. */
#define RPC_MAX_REQUEST_LIMIT (4 * 1024 * 1024)

/** One row of a service's method table; tables end with {0}. */
typedef struct {
    const char *name;                           /* "/gavel.users.v1.Users/Login" */
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
    rpc_handler handler;
    unsigned roles;                             /* RPC_PUBLIC or a role set */
    unsigned flags;                             /* RPC_IDEMPOTENT | RPC_STREAMING */
    int deadline_ms;                            /* applied when the client sets none; 0 = 5000 */
    rpc_class cls;                              /* where its calls run; 0 = RPC_CLASS_NORMAL */
    uint32_t max_request;                       /* bytes; 0 = RPC_DEFAULT_MAX_REQUEST */
} rpc_method;

/**
 * A method of another service that a daemon calls, declared once as a
 * constant: its full name, the protoc-c descriptor of its service and its
 * request and response types. The skeleton checks every constant a daemon
 * lists (rpc_service.calls) against the service descriptor at start-up,
 * and rpc_unary refuses a request of another type at the call.
 */
typedef struct {
    const char *name;                           /* "/gavel.users.v1.Wallet/ListHolds" */
    const ProtobufCServiceDescriptor *service;  /* &gavel__users__v1__wallet__descriptor */
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *response;
} rpc_client_method;

/* ---- the service block: start-up every daemon shares, declared as data ---- */

/** One component's migrations, applied with db_migrate; a list ends with
 *  {0}. */
typedef struct {
    const char *component;     /* "idem", "users": its rows in gavel_migrations */
    const db_migration *list;
} rpc_migrations;

/** The database a daemon owns. The skeleton adds GAVEL_PG_DSN and
 *  GAVEL_<SVC>_DB_POOL to its settings, opens the pool, applies the events
 *  library's migrations and then the listed ones in order, and closes the
 *  pool last. */
typedef struct {
    const char *name;          /* "gavel_users"; NULL: the daemon has no database */
    const char *default_dsn;   /* NULL: host=127.0.0.1 port=55432 user=gavel dbname=<name> */
    int pool_default;          /* GAVEL_<SVC>_DB_POOL: default, min, max */
    int pool_min, pool_max;
    const db_stmt *stmts;      /* the daemon's statements (db_pool_new), or NULL */
    /* The other libraries' migrations the daemon needs (idem), then its
     * own; NULL for none. */
    const rpc_migrations *migrations;
    db_pool **pool;            /* set to the open pool before post_init, NULL once closed */
} rpc_database;

/** The outbox relay: when is_on, the skeleton starts a producer (source:
 *  the service name) and the relay before post_init, and stops them after
 *  pre_exit. Needs a database. */
typedef struct {
    bool is_on;
    ev_relay **relay;          /* set to the running relay (for ev_relay_kick), or NULL */
} rpc_outbox;

/** One event consumer the skeleton runs on the daemon's pool; a table ends
 *  with {0}. Started after post_init (which may prepare what `arg` points
 *  to), stopped before pre_exit. See ev_consumer_start[_piped]. */
typedef struct {
    const char *group;         /* consumer group, also the consumer's name */
    const char *const *topics; /* NULL-terminated */
    ev_handler handler;
    bool is_piped;             /* ev_consumer_start_piped */
    const char *const *stmts;  /* piped: the statements the handler sends, or NULL */
    ev_batch_end batch_end;    /* closes each batch (not piped: ev_consumer_start_batched),
                                  or NULL */
    void *arg;                 /* handed to handler and batch_end; the consumer's thread */
} rpc_consumer;

/**
 * A listener other than gRPC run inside the daemon (the gateway's HTTP and
 * WebSocket loop); a table ends with {0}. start runs after gRPC listens and
 * before the daemon reports SERVING, and returns 0 or -1 with a message in
 * err (the start then fails: listeners started before it are stopped).
 * On SIGTERM health turns NOT_SERVING first; then drain(arg, budget_ms)
 * runs while gRPC drains, both within the one GAVEL_DRAIN_MS budget: it
 * stops accepting, finishes what is in flight and returns within
 * budget_ms. Then stop(arg) releases everything (listeners in reverse
 * order). Each hook runs on one thread at a time; drain on a thread of its
 * own. drain may be NULL.
 */
typedef struct {
    const char *name;
    int (*start)(void *arg, char *err, size_t errlen);
    void (*drain)(void *arg, int budget_ms);
    void (*stop)(void *arg);
    void *arg;
} rpc_listener;

/** A daemon: everything rpc_server_main() needs. */
typedef struct {
    const char *name;             /* "users": logs, metrics, events source, GAVEL_<SVC>_… */
    const char *addr_env;         /* "GAVEL_USERS_ADDR" */
    const char *default_addr;     /* "127.0.0.1:50051" */
    int default_metrics_port;     /* 9101 */
    int default_workers;          /* GAVEL_RPC_WORKERS default; 0 = 8 */
    const rpc_method *const *tables; /* NULL-terminated list of method tables, or NULL */
    /* The protoc-c descriptors of the services the tables implement,
     * NULL-terminated: every row must be one of their methods with their
     * request and response types, and health answers for their names. */
    const ProtobufCServiceDescriptor *const *descriptors;
    /* Health's service names, NULL-terminated. rpc_server_main derives them
     * from descriptors; set them only to start a server directly. */
    const char *const *services;
    const rpc_client_method *const *calls; /* methods it calls, NULL-terminated, or NULL */
    const cfg_entry *config;      /* the daemon's own settings, or NULL */
    rpc_database db;
    rpc_outbox outbox;
    const rpc_consumer *consumers; /* table, or NULL */
    const mx_entry *metrics;      /* the daemon's series (gavel_<name>_…), or NULL */
    const rpc_listener *listeners; /* table, or NULL */
    /* Checks that span settings (one below another), after every table
     * loaded and before anything starts; returns 0, or -1 with a message
     * naming the variables in err (exit 1, nothing changed). */
    int (*config_check)(char *err, size_t errlen);
    /* Called after config, database and relay, before the consumers and
     * listening; returns 0 or -1 (exit 1). */
    int (*post_init)(void);
    /* Called after the server drained and the consumers stopped, before
     * the relay stops and the pool closes; also after a failed start. */
    void (*pre_exit)(void);
    /* Extra readiness for /healthz and Health.Check; NULL means always ready. */
    bool (*is_healthy)(void);
} rpc_service;

/**
 * The daemon skeleton. With `--describe` it prints every setting and
 * series of the daemon (rpc_describe) and returns 0, starting nothing.
 * Otherwise: blocks signals, loads every settings table (runtime, core,
 * cache, events, rpc, the service block, the daemon's), checks the method
 * tables and declared calls against their descriptors, opens the database
 * and migrates it, starts the relay, registers the daemon's metrics, runs
 * post_init, starts the consumers, listens (gRPC, then the listeners),
 * serves until SIGTERM/SIGINT/SIGHUP, and shuts down in reverse: health
 * NOT_SERVING, gRPC and listeners drained together within GAVEL_DRAIN_MS,
 * listeners stopped, consumers stopped, pre_exit, relay, producer, pool.
 * Returns the process exit code (2 for bad arguments).
 */
int rpc_server_main(const rpc_service *svc, int argc, char **argv);
/** The daemon's own gRPC address as other daemons dial it (its addr_env
 *  setting), once the skeleton has loaded the settings; NULL before or
 *  without one. Borrowed, valid for the process. */
const char *rpc_server_own_addr(void);

/**
 * Prints one line per setting, series, method, declared call and listener
 * of svc to out, fields separated by tabs:
 *   config  TABLE NAME TYPE DEFAULT MIN MAX HELP   (MIN/MAX "-" when unbounded)
 *   metric  TABLE NAME TYPE LABELS HELP             (LABELS comma-separated, "-" for none)
 *   method  NAME REQUEST RESPONSE
 *   call    NAME REQUEST RESPONSE
 *   listener NAME
 * TABLE is runtime, core, cache, events, rpc, service or daemon. Returns 0,
 * or -1 with a message in err when the tables contradict themselves (a
 * setting declared twice, a series with two types).
 */
int rpc_describe(const rpc_service *svc, FILE *out, char *err, size_t errlen);

/**
 * Checks svc's declarations: every method row names a method of one of
 * svc->descriptors (or the built-in health service) with exactly its
 * request and response descriptors, no row twice; every declared call
 * passes rpc_client_method_check. Returns 0, or -1 with a message naming
 * the first bad row in err.
 */
int rpc_service_check(const rpc_service *svc, char *err, size_t errlen);
/** Checks one client method: its name is "/<service name>/<method>" of its
 *  service descriptor, with that method's request and response. Returns 0
 *  or -1 with a message naming it in err. */
int rpc_client_method_check(const rpc_client_method *m, char *err, size_t errlen);

/** Registers the rows of a metrics table that have a var (storing each
 *  series there). Idempotent; the skeleton does it for the daemon's table
 *  before post_init. NULL is a no-op. */
void rpc_metrics_register(const mx_entry *table);

typedef struct rpc_server rpc_server;
/** Starts serving in background threads (tests; rpc_server_main uses it).
 *  Returns NULL with a message in err. */
rpc_server *rpc_server_start(const rpc_service *svc, const char *addr,
                             char *err, size_t errlen);
/** The port actually bound (useful with "127.0.0.1:0"). */
int rpc_server_port(const rpc_server *s);
/** Drains for up to drain_ms, then stops and frees. NULL is a no-op. */
void rpc_server_stop(rpc_server *s, int drain_ms);

/* ---- inside a handler ---- */

/** Memory that lives until the call finishes (the call's arena). */
void *rpc_alloc(rpc_call *c, size_t n);
char *rpc_strdup(rpc_call *c, const char *s);
arena *rpc_arena(rpc_call *c);
/** A new message of the given type, initialised, owned by the call. */
ProtobufCMessage *rpc_new(rpc_call *c, const ProtobufCMessageDescriptor *d);
/** Unpacks bytes into a message owned by the call; NULL when malformed. */
ProtobufCMessage *rpc_unpack(rpc_call *c, const ProtobufCMessageDescriptor *d,
                             const uint8_t *data, size_t len);
/** The verified caller, or NULL on a public method called without a token.
 *  Borrowed for the call. */
const rpc_principal *rpc_caller(const rpc_call *c);
/** The request id (from x-request-id metadata or new). Borrowed. */
const char *rpc_request_id(const rpc_call *c);
/** Milliseconds left before the call's deadline (never below 0). */
int rpc_time_left_ms(const rpc_call *c);
/** True when the caller holds any of the roles. */
bool rpc_has_role(const rpc_call *c, unsigned roles);
/**
 * Whose data a call is about: requested 0 or the caller's own id means the
 * caller (a service caller must name a user); another user's only for a
 * caller holding one of others_roles. Sets *target and returns OK, or fails
 * the call (INVALID_ARGUMENT, PERMISSION_DENIED "... another user's
 * <whose>") and returns its status.
 */
int rpc_resolve_user(rpc_call *c, int64_t requested, unsigned others_roles, const char *whose,
                     int64_t *target);

/* The longest client address text, an IPv6 literal and its NUL included. */
#define RPC_ADDR_MAX 48
/**
 * The client's IP address as text ("127.0.0.1", "::1"), for limits kept per
 * address. It is the connection's peer, unless the caller is a verified
 * service identity (the gateway) naming the client it acts for in the
 * `x-client-addr` metadata (an IP literal). "unknown" when neither says.
 * Borrowed from the call (first use computes it; the call's thread only).
 */
const char *rpc_client_addr(rpc_call *c);

/**
 * Records a failure status and message (printf-style) for the answer and
 * returns `code`, so handlers write `return rpc_fail(c, GRPC_STATUS_…, …)`.
 */
int rpc_fail(rpc_call *c, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- unary calls answered later ---- */

/**
 * A unary handler may hand its call on and return RPC_ASYNC: whoever holds
 * it then owns the call (its arena and request stay valid) and ends it with
 * exactly one rpc_complete, from any thread, after which the call is gone.
 * rpc_complete never blocks; resp (may be NULL: an empty response) is packed
 * at once and stays the caller's; a status other than OK sends the message
 * recorded by rpc_fail. The answer is sent even after the deadline passed
 * (gRPC then drops it), so a deferred call must always be completed.
 */
void rpc_complete(rpc_call *c, int code, const ProtobufCMessage *resp);
/** Runs fn(c, arg) on one of the server's worker threads, for a deferred
 *  call whose next step may block; fn ends with rpc_complete or hands the
 *  call on again. Never blocks. */
void rpc_resume(rpc_call *c, void (*fn)(rpc_call *c, void *arg), void *arg);

/* ---- detached calls, for unit tests of handlers ---- */

/** A call attached to no server, with its own arena and the principal p
 *  (copied; NULL: an anonymous caller). Free with rpc_call_free_detached. */
rpc_call *rpc_call_new_detached(const rpc_principal *p);
/** Frees the call and everything in its arena. NULL is a no-op. */
void rpc_call_free_detached(rpc_call *c);
/** The message the last rpc_fail recorded, or "". Borrowed from the call. */
const char *rpc_call_message(const rpc_call *c);

/* ---- server streaming ---- */

typedef struct rpc_stream rpc_stream;

/**
 * Turns the call into an open stream. The runtime keeps one reference and
 * the caller gets one (drop it with rpc_stream_release). on_close(arg) runs
 * once, on a polling thread, when the client goes away or the stream
 * finishes; it must not block. Then the handler returns RPC_ASYNC.
 */
rpc_stream *rpc_stream_open(rpc_call *c, void (*on_close)(void *arg), void *arg);
/** Queues one message (packed now; msg stays the caller's). Returns 0, or
 *  -1 when the stream is closed. Never blocks. Any thread. */
int rpc_stream_send(rpc_stream *s, const ProtobufCMessage *msg);
/** Queues the final status after the queued messages. Any thread. */
void rpc_stream_finish(rpc_stream *s, grpc_status_code code, const char *msg);
/** Messages queued but not yet written (for slow-consumer policing). */
size_t rpc_stream_backlog(rpc_stream *s);
void rpc_stream_retain(rpc_stream *s);
void rpc_stream_release(rpc_stream *s);

/* ---- built-in handlers ---- */

/** Echo handler for the gavel.common.v1.PingRequest methods of every service. */
int rpc_ping(rpc_call *c, const ProtobufCMessage *req, ProtobufCMessage **resp);

/* ---- client --------------------------------------------------------------------- */

/** grpc_init as Gavel starts gRPC: abseil's mutex cycle detector off first
 *  (rpc_absl.cc says why). Servers and channels call it; a program that
 *  uses gRPC directly (the load generator) calls it instead of grpc_init.
 *  Pair each call with grpc_shutdown. */
void rpc_grpc_init(void);

typedef struct rpc_channel rpc_channel;

/** The process-wide channel for target ("host:port"), created on first use.
 *  A comma list of IPv4 "host:port" (several instances of a stateless
 *  service) gives one channel that balances round robin over every
 *  instance that is up (rpc_target.c). Borrowed; lives until exit.
 *  Thread-safe. */
rpc_channel *rpc_channel_get(const char *target);

typedef struct {
    const char *token;      /* bearer token to send, or NULL */
    const char *request_id; /* NULL: this thread's log request id, else none */
    int deadline_ms;        /* whole call including retries; 0 = 5000 */
    bool idempotent;        /* retry UNAVAILABLE with backoff */
    /* The client a service identity acts for (an IP literal, at most
     * RPC_ADDR_MAX - 1 bytes), sent as `x-client-addr` metadata; NULL or ""
     * sends none. The server believes it only from a verified service
     * identity (rpc_client_addr). */
    const char *client_addr;
} rpc_call_opts;

/**
 * Unary call of method m (borrowed; a static constant). A request whose
 * type is not m->request is refused before anything is sent: INTERNAL,
 * logged, err naming both types. On GRPC_STATUS_OK *resp is a new
 * m->response message unpacked with the default allocator (caller frees
 * with protobuf_c_message_free_unpacked(…, NULL)). Otherwise *resp is NULL
 * and err holds the server's message. Returns the gRPC status.
 */
grpc_status_code rpc_unary(rpc_channel *ch, const rpc_client_method *m,
                           const ProtobufCMessage *req, ProtobufCMessage **resp,
                           const rpc_call_opts *opts, char *err, size_t errlen);

/**
 * The end of a call started with rpc_unary_start: st and, on
 * GRPC_STATUS_OK, resp (the callee's: free with
 * protobuf_c_message_free_unpacked(resp, NULL)); otherwise resp is NULL
 * and err (valid during the callback) the message. Runs on one of
 * libs/rpc's completion threads (one per core, up to four), which finish
 * every such call: it must not block.
 */
typedef void (*rpc_unary_done_fn)(grpc_status_code st, ProtobufCMessage *resp,
                                  const char *err, void *arg);

/**
 * rpc_unary without holding the calling thread: the same request check,
 * metadata, deadline and retries, but the call runs on its own and done
 * gets its end, exactly once, on a completion thread (possibly before
 * this returns). Returns 0 when the call started; -1 with err set when it
 * could not (a request of another type: nothing sent, done never called).
 */
int rpc_unary_start(rpc_channel *ch, const rpc_client_method *m, const ProtobufCMessage *req,
                    const rpc_call_opts *opts, rpc_unary_done_fn done, void *arg,
                    char *err, size_t errlen);

typedef struct rpc_client_stream rpc_client_stream;

/** Starts a server-streaming call of m (borrowed for the stream's life).
 *  Returns a new stream (free with rpc_client_stream_free), or NULL with
 *  err set when req is not an m->request (nothing is sent). */
rpc_client_stream *rpc_client_stream_start(rpc_channel *ch, const rpc_client_method *m,
                                           const ProtobufCMessage *req,
                                           const rpc_call_opts *opts,
                                           char *err, size_t errlen);
/**
 * Waits for the next message (an m->response). Returns 1 with *msg a new
 * message (free with protobuf_c_message_free_unpacked), 0 at the end of
 * the stream (see rpc_client_stream_status), or -1 when the stream failed.
 */
int rpc_client_stream_next(rpc_client_stream *s, ProtobufCMessage **msg);
/** Final status once next returned 0 or -1; message copied into err. */
grpc_status_code rpc_client_stream_status(rpc_client_stream *s, char *err,
                                          size_t errlen);
/** Cancels if still open and frees; NULL is a no-op. */
void rpc_client_stream_free(rpc_client_stream *s);

/* ---- tokens ---------------------------------------------------------------------- */

/**
 * Loads the rpc library's settings table strictly (the revocation cache
 * time and the key files), then the verification keys from
 * GAVEL_JWT_PUBLIC_KEY and GAVEL_SERVICE_PUBLIC_KEY, and the minting key
 * GAVEL_SERVICE_KEY when set. Called by rpc_server_main; tests and tools
 * may call it directly. Returns 0 or -1 (logged, naming the variable).
 */
int rpc_auth_init(void);

/**
 * Verifies a bearer token: signature (users key for people, service key for
 * services), expiry, and the Redis revocation list (whose "not revoked" is
 * believed for GAVEL_AUTH_REVOCATION_CACHE_MS, default 1000). Fills p
 * (p->token is set to `token`, borrowed). Returns GRPC_STATUS_OK,
 * UNAUTHENTICATED with a reason in err, or UNAVAILABLE when the revocation
 * list is unreachable. Any thread.
 */
grpc_status_code rpc_auth_verify(const char *token, rpc_principal *p,
                                 char *err, size_t errlen);
/** Forgets every verified token, so the next calls ask the revocation
 *  list again: for the service that has just revoked tokens. */
void rpc_auth_forget_all(void);

/** This daemon's service-identity token (minted with GAVEL_SERVICE_KEY,
 *  renewed before expiry). Returns a new string (caller frees) or NULL. */
char *rpc_service_token(void);

/* Routing by key across N instances of one service (rpc_route.c): key k
 * belongs to instance k % N of a list given in the same order everywhere. */
#define RPC_ROUTE_MAX 64
typedef struct rpc_route rpc_route;
/** Parses "host:port,host:port,…" (1..RPC_ROUTE_MAX addresses, none empty
 *  or with spaces). Returns a new route (free with rpc_route_free) or NULL
 *  with the reason in err. */
rpc_route *rpc_route_parse(const char *list, char *err, size_t errlen);
void rpc_route_free(rpc_route *r);
size_t rpc_route_count(const rpc_route *r);
/** The index of the instance that owns key among n (n > 0). */
size_t rpc_route_index(size_t n, int64_t key);
/** The address of the instance that owns key; borrowed from r. */
const char *rpc_route_pick(const rpc_route *r, int64_t key);

/* Lot owners across bids instances (rpc_owner.c, rpc_owner_registry.c;
 * docs/architecture.md, "Several bids instances"). Redis holds the
 * registry: HASH gavel:bids:instances (name -> gRPC address), SET
 * gavel:bids:accepting (names that take new lots), ZSET gavel:bids:alive
 * (name -> last registration, ms) and, per lot, gavel:lot:<id>:bids (the
 * owner's name). A lot's owner is chosen once, when it is scheduled, and
 * never changes; lots with no record follow the legacy rule (rpc_route). */
#define RPC_OWNER_NAME_MAX 32 /* a name is 1..31 of [a-z0-9-], starting alphanumeric */
#define RPC_OWNER_ALIVE_MS 15000 /* a registration older than this is not picked */
enum {
    RPC_OWNER_E_NONE = -70,    /* instances are registered, none accepts new lots */
    RPC_OWNER_E_UNKNOWN = -71, /* the name is not in the registry */
};
/** Is name a valid instance name? */
bool rpc_owner_name_ok(const char *name);
/** The instance for a new lot among n names sorted by strcmp (n > 0):
 *  sorted[lot_id % n]. Pure; borrowed from sorted. */
const char *rpc_owner_choose(const char *const *sorted, size_t n, int64_t lot_id);

/** Registers (or refreshes) instance name at addr: HSET instances, ZADD
 *  alive now, and for the accepting set: SREM when !is_accepting
 *  (draining); SADD when is_accepting and either is_start or the name was
 *  missing from the instances hash (Redis lost its data). A refresh thus
 *  leaves an operator's SREM in place until the instance restarts. Any
 *  thread. Returns 0 or RDS_E_*. */
int rpc_owner_register(const char *name, const char *addr, bool is_accepting, bool is_start);
/** Drops name from the alive set (clean exit): no new lot goes there
 *  until it registers again. Returns 0 or RDS_E_*. */
int rpc_owner_unregister(const char *name);
/**
 * Chooses the instance for new lot lot_id among the names that are both
 * accepting and alive, into name (namelen >= RPC_OWNER_NAME_MAX). Returns 0
 * with the name; 0 with name "" when no instance is alive at all (a registry
 * not yet filled: the caller records no owner, the legacy rule applies);
 * RPC_OWNER_E_NONE when instances are alive but none accepts; RDS_E_* when
 * Redis cannot say. Any thread.
 */
int rpc_owner_pick(int64_t lot_id, char *name, size_t namelen);
/** Records lot_id -> name in Redis (after the durable record elsewhere).
 *  Returns 0 or RDS_E_*. */
int rpc_owner_record(int64_t lot_id, const char *name);

/** Asked when Redis has no record of a lot: writes the owner's name ("" for
 *  none) and sets *is_final when that answer can never change (the lot was
 *  scheduled). Returns 0, or negative when it cannot say (the legacy rule is
 *  used, nothing cached). Called on the resolving thread. */
typedef int (*rpc_owner_miss_fn)(void *arg, int64_t lot_id, char *name, size_t namelen,
                                 bool *is_final);
typedef struct rpc_owner rpc_owner;
/** A resolver with the legacy list ("host:port,…", index order) and an
 *  optional miss function (NULL: a lot with no Redis record follows the
 *  legacy rule). Returns a new resolver (free with rpc_owner_free) or NULL
 *  with the reason in err. Safe to share between threads: its caches (at
 *  most 4096 lots, 64 names) sit behind one mutex, no call is made under it. */
rpc_owner *rpc_owner_new(const char *legacy, rpc_owner_miss_fn miss, void *miss_arg, char *err,
                         size_t errlen);
void rpc_owner_free(rpc_owner *o);
/** The legacy list's address for lot_id; borrowed from o. */
const char *rpc_owner_legacy(const rpc_owner *o, int64_t lot_id);
/**
 * The gRPC address of the instance holding lot_id, into addr (addrlen >=
 * 256). name is the recorded owner when the caller knows it ("" = legacy
 * rule), or NULL to resolve it: in-process cache, then gavel:lot:<id>:bids,
 * then the miss function, then the legacy rule. A name resolves through the
 * registry (cached 2 s; a stale entry serves while Redis is unreachable).
 * Returns 0, RPC_OWNER_E_UNKNOWN (the name is not registered) or RDS_E_*.
 * Any thread.
 */
int rpc_owner_addr(rpc_owner *o, int64_t lot_id, const char *name, char *addr, size_t addrlen);

/* JSON Web Tokens signed with Ed25519 (alg "EdDSA"). */
typedef struct rpc_jwt_key rpc_jwt_key;
struct json_t;

/** Loads a PEM key: one private key when is_private, else every public key
 *  of the file (1..8, concatenated PEM blocks: the keys a token may be
 *  signed with while the signing key rotates). Returns a new key (free with
 *  rpc_jwt_key_free) or NULL with a message in err. */
rpc_jwt_key *rpc_jwt_key_load(const char *pem_path, bool is_private,
                              char *err, size_t errlen);
/** How many keys k holds (1 for a private key). */
size_t rpc_jwt_key_count(const rpc_jwt_key *k);
void rpc_jwt_key_free(rpc_jwt_key *k);
/** Signs claims (borrowed) with k's first key. Returns a new compact JWT
 *  (caller frees) or NULL. */
char *rpc_jwt_sign(const rpc_jwt_key *k, struct json_t *claims);
/**
 * Checks the header (alg EdDSA), the signature (by any key of k) and the
 * structure, and returns 0 with *claims a new object (caller
 * json_decref()s), or -1 with a reason in err. Expiry is the caller's to
 * check.
 */
int rpc_jwt_verify(const rpc_jwt_key *k, const char *token,
                   struct json_t **claims, char *err, size_t errlen);

#endif
