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
    struct rpc_call *next;              /* worker queue link */
};

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
    pthread_t *workers;
    int nworkers;

    pthread_mutex_t mu;                 /* guards the queue, streams, shutdown flag */
    pthread_cond_t work_cv;
    pthread_cond_t shutdown_cv;
    rpc_call *qhead, *qtail;
    bool shutdown_done;
    bool workers_exit;                  /* set after drain: idle workers leave */
    rpc__tag shutdown_tag;
    struct rpc_stream *streams;         /* open streams, for drain */
};

/* rpc_config.c: the runtime's settings, loaded by rpc__config_load. */
typedef struct {
    int64_t pollers, workers, drain_ms, metrics_port;
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
/** Queues c for a worker thread: its handler, or its resume step. */
void rpc__enqueue(rpc_server *s, rpc_call *c);

/* rpc_call.c */
void rpc__call_run(rpc_call *c);
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
/** True when token is verified, unexpired and known not revoked within the
 *  revocation cache time: rpc_auth_verify will answer it without blocking. */
bool rpc__auth_is_known(const char *token);
/** How many token signatures this process has checked (cache misses). */
uint64_t rpc__auth_signatures_checked(void);


/* rpc_health.c */
extern const rpc_method rpc__health_methods[];

#endif
