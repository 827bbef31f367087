/*
 * rpc internals shared by the files of libs/rpc; never included elsewhere.
 *
 * Every completion-queue tag points at an rpc__tag whose `kind` says what
 * finished. A call object lives from the moment its request slot is posted
 * until its final batch completes (or, for streams, until the last
 * reference is dropped).
 */
#ifndef GAVEL_RPC_INT_H
#define GAVEL_RPC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <grpc/grpc.h>
#include <grpc/byte_buffer.h>

#include "rpc/rpc.h"

#define RPC__MAX_TOKEN 4096 /* longest bearer token accepted */
/* A call the client cancelled within this long of its arrival counts as a
 * reset stream for the guard: a client whose deadline passes waits longer. */
#define RPC__QUICK_RESET_US 10000

typedef enum {
    RPC__TAG_REQUEST,      /* a registered-method request arrived (or slot cancelled) */
    RPC__TAG_UNKNOWN,      /* an unregistered-method request arrived */
    RPC__TAG_FINISH,       /* the final batch of a unary call completed */
    RPC__TAG_STREAM_WRITE, /* one stream write (or the status) completed */
    RPC__TAG_STREAM_CLOSE, /* the client side of a stream closed */
    RPC__TAG_SHUTDOWN,     /* grpc_server_shutdown_and_notify completed */
} rpc__tag_kind;

typedef struct {
    rpc__tag_kind kind;
} rpc__tag;

/* Runtime state of one method row. */
typedef struct {
    const rpc_method *m;
    void *handle;                       /* from grpc_server_register_method */
    mx_metric *latency;                 /* histogram, seconds */
    _Atomic(mx_metric *) codes[17];     /* counters by gRPC status, made lazily */
} rpc__method_rt;

struct rpc_call {
    rpc__tag tag;
    rpc_server *srv;
    rpc__method_rt *mr;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_call_details details;          /* unknown-method slots only */
    bool has_details;
    arena *arena;
    rpc_principal principal;
    bool has_principal;
    char request_id[65];
    char client_addr[RPC_ADDR_MAX];     /* rpc_client_addr, filled on first use */
    int status;
    char *status_msg;                   /* arena */
    grpc_slice status_slice;
    bool has_status_slice;
    grpc_byte_buffer *out;
    int cancelled;
    int64_t start_us;
    void (*resume)(rpc_call *c, void *arg); /* set: a deferred call's next step */
    void *resume_arg;
    struct rpc__pool *pool;             /* the pool it was admitted to, or NULL (inline) */
    bool is_counted;                    /* waiting as a new call in its pool's queue */
    struct rpc_call *next;              /* pool queue link */
};

/* The worker pools (rpc_pool.c): which one serves a call is decided on the
 * polling thread from the method's class and the caller (rpc.h, rpc_class). */
typedef enum {
    RPC__POOL_NORMAL,
    RPC__POOL_SERVICE,
    RPC__POOL_EXPENSIVE,
    RPC__NPOOLS,
} rpc__pool_id;

typedef struct rpc__pool {
    const char *name;                   /* "normal", "service", "expensive": metrics, logs */
    struct rpc_server *srv;
    pthread_t *threads;
    int nthreads;
    int nice;                           /* the workers' scheduling niceness */
    size_t max_queued;                  /* new calls waiting in each queue, at most */
    pthread_mutex_t mu;                 /* guards what follows */
    pthread_cond_t cv;
    /* [0] runs first: service identities' calls and resumed steps of calls
     * already admitted; [1] the rest, in arrival order. */
    rpc_call *head[2], *tail[2];
    size_t queued[2];                   /* new calls waiting in each queue */
    bool exiting;                       /* set after drain: idle workers leave */
    mx_metric *m_queued, *m_busy, *m_refused;
} rpc__pool;

struct rpc_server {
    const rpc_service *svc;
    grpc_server *server;
    grpc_completion_queue *cq;
    rpc__method_rt *methods;
    size_t nmethods;
    int port;
    atomic_bool serving;
    atomic_bool stopping;

    pthread_t *pollers;
    int npollers;
    rpc__pool pools[RPC__NPOOLS];

    /* The standby poller (rpc_server.c) joins the polling threads while
     * they have not come back from the completion queue for a while. */
    pthread_t standby;
    bool has_standby;
    atomic_bool standby_exit;
    _Atomic int64_t polled_at_us;       /* mono_us of a polling thread's last return */

    pthread_mutex_t mu;                 /* guards streams and the shutdown flag */
    pthread_cond_t shutdown_cv;
    bool shutdown_done;
    rpc__tag shutdown_tag;
    struct rpc_stream *streams;         /* open streams, for drain */
};

/* rpc_config.c: the runtime's settings, loaded by rpc__config_load. */
typedef struct {
    int64_t pollers, standby_ms, workers, service_workers, expensive_workers;
    int64_t queue, expensive_queue;
    int64_t max_streams, max_idle_ms, max_age_ms, max_age_grace_ms, handshake_ms;
    int64_t keepalive_ms, min_ping_ms, reset_limit;
    int64_t log_failed_per_s;
    int64_t drain_ms, metrics_port;
} rpc__settings;
extern rpc__settings rpc__cfg;
extern const cfg_entry rpc__runtime_config[];
/** Fills the service-dependent defaults and loads rpc__runtime_config from
 *  the environment. Returns 0 or -1 with the reason in err. */
int rpc__config_load(const rpc_service *svc, char *err, size_t errlen);

/* rpc_server.c */
void rpc__post_request(rpc_server *s, rpc__method_rt *mr);
void rpc__call_free(rpc_call *c);
void rpc__stream_unlink(rpc_server *s, struct rpc_stream *st);
/** True on a thread that polls the completion queue (or the standby). */
bool rpc__on_polling_thread(void);

/* rpc_pool.c */
/** Sizes the pools from rpc__cfg and starts their workers. */
void rpc__pools_start(rpc_server *s);
/** Queues a new call for p's workers, ahead of p's ordinary calls when
 *  `ahead`. Returns false, leaving c to the caller, when p's queue is full. */
bool rpc__pool_admit(rpc__pool *p, rpc_call *c, bool ahead);
/** Queues a deferred call's next step (rpc_resume) for p; never refused. */
void rpc__pool_resume(rpc__pool *p, rpc_call *c);
/** Lets idle workers leave once the drain is over and joins them all. */
void rpc__pools_stop(rpc_server *s);

/* rpc_describe.c */
/** The runtime's series name with labels (borrowed, lives for the process),
 *  made from its row in rpc__runtime_metrics, the one place its type and
 *  help are written. An unknown name is a broken invariant. */
mx_metric *rpc__metric(const char *name, const char *labels);

/* rpc_log.c */
/** Logs a failed call's method, status and message, within the per-second
 *  budget of its kind (any thread). */
void rpc__log_failed(const char *method, int code, const char *message);

/* rpc_admit.c */
/** Refuses, runs or queues a call that has just arrived (polling thread). */
void rpc__admit(rpc_server *s, rpc_call *c);
/** The pool a deferred call's next step runs in: its own, or for a call
 *  that ran on the polling thread, the one its caller would get. */
rpc__pool *rpc__pool_for_resume(rpc_call *c);

/* rpc_guard.c: closing connections that open calls only to drop them. */
/** Counts one call of c's connection that was reset before it carried its
 *  request (or ended at once); past GAVEL_RPC_RESET_LIMIT in a second the
 *  connection is shut down. Polling threads only. */
void rpc__guard_note_reset(rpc_call *c);

/* rpc_call.c */
void rpc__call_run(rpc_call *c);
/** Answers a call at once with code and a message, without running its
 *  handler or checking its caller (a request the runtime refuses as such:
 *  no message, too large, a full pool). */
void rpc__call_refuse(rpc_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Runs a deferred call's resume step (a worker thread). */
void rpc__call_resume(rpc_call *c);
void rpc__answer_unknown(rpc_call *c);
void rpc__count(rpc_call *c, int code);

/* rpc_stream.c */
void rpc__stream_on_write(struct rpc_stream *st, bool ok);
void rpc__stream_on_close(struct rpc_stream *st);
struct rpc_stream *rpc__stream_from_write_tag(rpc__tag *t);
struct rpc_stream *rpc__stream_from_close_tag(rpc__tag *t);
void rpc__streams_finish_all(rpc_server *s);

/* rpc_proto.c */
ProtobufCAllocator rpc__arena_allocator(arena *a);
/** Unpacks a byte buffer; NULL when malformed. */
ProtobufCMessage *rpc__unpack(const ProtobufCMessageDescriptor *d,
                              grpc_byte_buffer *bb, ProtobufCAllocator *alloc);
/** A new byte buffer holding msg packed (caller destroys). */
grpc_byte_buffer *rpc__pack(const ProtobufCMessage *msg);
/** Unpacks a request; *bad_string names the first string field (at any
 *  depth) that is not UTF-8 or holds a NUL byte, else NULL. NULL when the
 *  bytes are not a message of type d. */
ProtobufCMessage *rpc__unpack_checked(const ProtobufCMessageDescriptor *d,
                                      grpc_byte_buffer *bb, ProtobufCAllocator *alloc,
                                      const char **bad_string);
/** Copies metadata value for key into out (NUL-terminated); false if absent. */
bool rpc__md_get(const grpc_metadata_array *md, const char *key, char *out,
                 size_t outlen, size_t *full_len);

/* rpc_auth.c */
void rpc__auth_set_service_name(const char *name);
/** The role of a token whose signature this process verified and which has
 *  not expired, without blocking (0 when unknown); *fresh says whether the
 *  revocation list was asked recently enough for rpc_auth_verify to answer
 *  it without Redis. */
unsigned rpc__auth_peek(const char *token, bool *fresh);
/** How many token signatures this process has checked (cache misses). */
uint64_t rpc__auth_signatures_checked(void);


/* rpc_health.c */
extern const rpc_method rpc__health_methods[];

/* rpc_target.c: a comma list of IPv4 "host:port" (two or more) becomes
 * gRPC's "ipv4:a,b" in out, for a round_robin channel: 1. A single address
 * (or one already in gRPC's form) is left alone: 0. A list with anything
 * else, or too long for out: -1. */
int rpc__target_list(const char *target, char *out, size_t outlen);

/* rpc_owner_registry.c, for rpc_owner.c: a lot's recorded owner and a
 * name's address. Each returns 1 when found (copied into the buffer), 0
 * when Redis has no such key, RDS_E_* when Redis cannot say. */
int rpc__owner_lookup(int64_t lot_id, char *name, size_t namelen);
int rpc__owner_address(const char *name, char *addr, size_t addrlen);

#endif
