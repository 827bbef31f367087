/*
 * The WebSocket endpoint's parts as they see each other: its settings and
 * series (ws_config.c), a socket and its send queue (ws.c), the lot feeds
 * shared by every socket of a lot and the messages of the protocol
 * (ws_proto.c), the hub of lot and user channels with its fan-out (hub.c)
 * over one async Redis connection (hub_redis.c), and the calls that block
 * (ws_jobs.c).
 *
 * Threads: everything here belongs to the loop thread, except what a job
 * reads on a worker (documented at ws_jobs.c's functions).
 */
#ifndef GAVEL_GATEWAY_WS_INT_H
#define GAVEL_GATEWAY_WS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gateway.h"
#include "ws.h"

/* ---- ws_config.c ---- */

typedef struct {
    int64_t max_msg;         /* bytes of one incoming message */
    int64_t queue_limit;     /* bytes waiting per socket before the grace clock runs */
    int64_t slow_grace_ms;   /* over the limit this long: closed 1008 */
    int64_t rate;            /* messages a second per socket */
    int64_t burst;           /* messages at once per socket */
    int64_t max_lots;        /* lots one socket may follow */
    int64_t sndbuf;          /* SO_SNDBUF of a socket; 0: the kernel's */
    int64_t ping_s;          /* idle seconds before a ping */
} ws_settings;

extern ws_settings ws_cfg;

typedef struct {
    mx_metric *open, *msg_in, *msg_out, *dropped, *coalesced, *slow_closes, *snapshots,
        *redis_reconnects, *errors, *rate_limited;
} ws_metric_set;

extern ws_metric_set ws_mx;

/* ---- ws_proto.c: feeds and messages ---- */

/* One state of a lot as every socket of the lot gets it: the LotState and
 * the accepted bids as JSON text, made once. Reference counted; loop
 * thread only (made on a worker for snapshots, then handed over). */
typedef struct ws_feed {
    int refs;
    int64_t lot_id, seq, leader_id;
    int64_t rank;            /* seq, status, fair warning: orders the states of a lot */
    char *state;             /* LotState as proto3 JSON */
    char *bids;              /* the bids' JSON objects joined by ",", "" when none */
    size_t state_len, bids_len;
    int nbids;
    size_t *bid_at;          /* where each bid starts in bids; NULL when none */
} ws_feed;

/** A feed from a packed LotFeed (len bytes, borrowed). Returns a new feed
 *  (one reference), or NULL with err when it does not unpack. */
ws_feed *wsp_feed_unpack(const uint8_t *data, size_t len, char *err, size_t errlen);
/** A feed from a LotState message (borrowed), without bids; NULL with err. */
ws_feed *wsp_feed_state(const ProtobufCMessage *state, char *err, size_t errlen);
ws_feed *wsp_feed_ref(ws_feed *f);
void wsp_feed_unref(ws_feed *f);

/** RFC 3339 UTC with microseconds, "2026-12-05T21:07:10.123456Z". */
void wsp_time(char out[40], int64_t us);

/** The text of a message built by jansson (obj borrowed); caller frees. */
char *wsp_dump(const json_t *obj, size_t *len);
/** {"type":"error","id":..,"code":..,"message":..}; id may be NULL; code is
 *  a gRPC code name in upper case. Caller frees. */
char *wsp_error(const char *id, const char *code, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** The upper-case name of a gRPC status ("INVALID_ARGUMENT"). */
const char *wsp_code(int grpc_code);

/**
 * Writes a lot_snapshot (is_snapshot) or lot_update of f, with the bids
 * of the nbatch feeds in batch (bids only, in order), for a socket whose
 * user leads the lot (is_leader) or just lost the lead (is_outbid), into
 * the loop thread's write buffer after LWS_PRE, stamped with the wall
 * clock to the millisecond. Returns the message start and its length in *len; valid
 * until the next call. The same arguments again (the same f and the same
 * first feed of the batch) return the same bytes without writing them
 * again: the sockets of a lot share one message per variant.
 */
unsigned char *wsp_lot_message(ws_feed *f, bool is_snapshot, ws_feed *const *batch, int nbatch,
                               bool is_leader, bool is_outbid, size_t *len);
void wsp_buffer_free(void);

/* ---- ws.c: sockets ---- */

typedef struct ws_msg {
    struct ws_msg *next;
    size_t len;
    unsigned char buf[];     /* LWS_PRE bytes, then the message */
} ws_msg;

#define WS_RECENT_MAX 8      /* feeds a lot keeps for sockets that are behind */
/* Bids one lot_update lists at most, the newest: a hot lot's update to a
 * socket that is behind carried up to 132 bids (35 KB; 52 on average) and
 * the fan-out became bytes. Past it, seq jumps and GET …/bids has the rest. */
#define WS_UPDATE_BIDS_MAX 32

/* What every socket of a lot is sent, held once by the lot's channel: its
 * newest state, and the newest feeds from Redis (their bids go into the
 * update of a socket that is behind). Changed by hub.c only. */
typedef struct ws_stream {
    ws_feed *last;                      /* the newest state, or NULL */
    ws_feed *recent[WS_RECENT_MAX];     /* oldest first, ranks increasing */
    int nrecent;
} ws_stream;

struct hub_chan;
struct ws_sock;

/* One socket's following of one lot. It owes its socket a message when it
 * is ready and the lot's newest state is newer than the one it sent (or a
 * snapshot is due); the message is made from the lot's stream when the
 * socket can take it, so a feed costs nothing per subscriber. */
typedef struct ws_sub {
    struct ws_sock *sock;
    struct hub_chan *lot;
    const ws_stream *st;                 /* the lot's */
    struct ws_sub *lot_prev, *lot_next;  /* in the lot's list */
    struct ws_sub *sock_next;            /* in the socket's list */
    struct ws_sub *dirty_next;           /* in the socket's write order */
    bool is_dirty;                       /* listed in the socket's write order */
    bool is_ready;                       /* its snapshot is on the way or sent */
    bool needs_snapshot;                 /* the next message is a lot_snapshot */
    bool was_leader;                     /* as the last message sent said */
    int64_t sent_rank;                   /* of the last state sent, -1 none */
} ws_sub;

typedef struct ws_sock {
    struct lws *wsi;         /* NULL once the connection is gone */
    int refs;                /* 1 while open, plus one per job in flight and
                                one while listed to be written */
    struct ws_sock *prev, *next;       /* open sockets */
    struct ws_sock *kick_next;         /* in the list of sockets to write */
    bool is_kicked;
    int64_t user_id;         /* 0 until a token is verified */
    char *token;             /* the access token given, owned; NULL none */
    int auths_in_flight;     /* token checks on a worker: reading waits for
                                them, so a message after auth sees its answer */
    char client_addr[RPC_ADDR_MAX];
    char *rx;                /* the message being received */
    size_t rx_len;
    bool is_rx_discarding;   /* the message is too large: skip to its end */
    bool is_rx_binary;
    ws_msg *q_head, *q_tail; /* replies and notifications, in order */
    size_t q_bytes;
    ws_sub *subs;
    int nsubs;
    ws_sub *dirty_head, *dirty_tail;
    int64_t over_since_us;   /* when the queue went over the limit, 0 under it */
    double tokens;           /* rate bucket */
    int64_t tokens_at_us;
    struct hub_chan *user_chan;
    struct ws_sock *user_prev, *user_next;
    bool is_closing;
    bool is_flush_first;     /* the queue goes out before the close frame */
    int close_code;
    char close_reason[96];
} ws_sock;

/** Queues a message (text copied) for the socket; no-op once closing. */
void ws_send(ws_sock *s, const char *text, size_t len);
/** Queues text (NUL-terminated, taken) and frees it. */
void ws_send_take(ws_sock *s, char *text);
/** Lists sub in its socket's write order when it owes a message, and
 *  has the socket written at the end of this loop turn. */
void ws_sub_mark(ws_sub *sub);
/** Takes sub out of its socket's write order (it is being removed). */
void ws_sub_clear(ws_sub *sub);
/** Writes every socket marked since the last call, as far as each takes
 *  it without blocking; the rest is written from its writable callback.
 *  Called by the hub at the end of each loop turn. */
void ws_flush(void);
/** Closes the socket with code and reason (sent when the socket can);
 *  what is queued is dropped unless s->is_flush_first. */
void ws_close(ws_sock *s, int code, const char *reason);
/** Drops a reference; frees a closed socket at the last. */
void ws_sock_unref(ws_sock *s);
/** Closes sockets whose queue stayed over the limit past the grace. */
void ws_check_slow(int64_t now);

/* ---- ws_msg.c: what an incoming message does ---- */

/** Handles one whole text message (len bytes, borrowed). */
void ws_handle(ws_sock *s, const char *text, size_t len);

/* ---- hub.c ---- */

typedef enum { HUB_LOT, HUB_USER } hub_kind;

int hub_start(char *err, size_t errlen);
void hub_stop(void);
/** Follows lot_id for s: 0, or -1 when s follows the most lots already. */
int hub_subscribe(ws_sock *s, int64_t lot_id);
void hub_unsubscribe(ws_sock *s, int64_t lot_id);
/** Joins s to its user's channel (s->user_id). */
void hub_set_user(ws_sock *s);
/** The socket is gone: leaves every channel. */
void hub_sock_gone(ws_sock *s);
/** Has ws_flush run at the end of this loop turn. */
void hub_want_flush(void);
/** A GetLotState answer: f a new feed (taken), or NULL with the gRPC code. */
void hub_state_done(int64_t lot_id, ws_feed *f, int grpc_code, const char *why);
/* From hub_redis.c. */
void hub_on_message(const char *channel, const char *data, size_t len);
void hub_on_subscribed(const char *channel);
void hub_on_unsubscribed(const char *channel);
void hub_redis_up(void);
void hub_redis_down(void);

/* ---- hub_redis.c ---- */

int hredis_start(char *err, size_t errlen);
void hredis_stop(void);
/** Reconnects when the connection is down (called every tick). */
void hredis_tick(int64_t now);
bool hredis_is_up(void);
void hredis_subscribe(const char *channel);
void hredis_unsubscribe(const char *channel);

/* ---- ws_jobs.c ---- */

typedef enum { WSJ_PLACE_BID, WSJ_SET_AUTOBID } wsj_call_kind;

/** Verifies token (taken) for s on a worker; then sets s's identity, or
 *  answers an error (and closes s when at_connect). id borrowed. */
void wsj_auth(ws_sock *s, char *token, const char *id, bool at_connect);
/** Sends PlaceBid or SetAutoBid built from msg (borrowed) to the lot's
 *  bids instance and answers s with the result or an error. */
void wsj_call(ws_sock *s, wsj_call_kind kind, const json_t *msg, const char *id);
/** Reads GetLotState of lot_id on a worker; hub_state_done gets the answer.
 *  Returns 0, or -1 when the worker queue is full. */
int wsj_fetch_state(int64_t lot_id);

#endif
