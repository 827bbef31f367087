/*
 * notifications daemon, private header. Files are split by mechanism:
 * lifecycle.c (settings, series, consumer, start and stop), notif_sql.c
 * (every statement), api.c (the method table), kinds.c (event kinds and
 * channels: names, defaults), subscriptions.c, preferences.c and inbox.c
 * (the handlers), events_apply.c (which event tells whom what), fanout.c
 * (a notification's rows: inbox and deliveries), deliver.c (the delivery
 * workers: lease, coalesce, retry, dead-letter), send_realtime.c (Redis
 * PUBLISH), send_email.c (SMTP through libcurl), texts.c (every
 * text a user reads, one table per language), send_http.c (one HTTPS
 * POST through libcurl) under send_webhook.c, send_telegram.c and
 * send_push.c; digest.c (NEW_MATCH emails of a user as one message);
 * webhooks.c (the webhook handlers and URL rules) and
 * webhook_secret.c (secrets at rest, signatures); match.c (new lots
 * against saved searches and segments) over match_index.c and
 * match_segment.c (match_index.h: pure, no database).
 */
#ifndef GAVEL_NOTIF_H
#define GAVEL_NOTIF_H

#include "check/check.h"
#include "core/core.h"
#include "db/db.h"
#include "events/events.h"
#include "rpc/rpc.h"
#include "gavel/common/v1/common.pb-c.h"
#include "gavel/events/v1/events.pb-c.h"
#include "gavel/notifications/v1/notifications.pb-c.h"
#include "match_index.h"

struct curl_slist;
struct json_t;
struct sockaddr;

/* Process-wide state, set up before serving and read-only afterwards. */
typedef struct {
    db_pool *db;                 /* the skeleton's (rpc_service.db) */
    ev_relay *relay;             /* the skeleton's (rpc_service.outbox) */
    int64_t workers;             /* delivery threads */
    int64_t batch;               /* deliveries leased per round */
    int64_t poll_ms;             /* longest sleep between rounds */
    int64_t lease_ms;            /* how long a leased delivery stays a worker's */
    int64_t coalesce_ms;         /* burst window per (user, lot, kind, channel); 0: off */
    int64_t digest_s;            /* NEW_MATCH email digest window; 0: one email each */
    int64_t quiet_recheck_ms;    /* longest hold of a delivery in quiet hours */
    int64_t max_attempts;        /* then dead-lettered */
    int64_t retry_base_ms, retry_max_ms;
    const char *smtp_url;        /* smtp://host:port; "" turns email off */
    const char *smtp_from;
    int64_t smtp_timeout_ms;
    const char *web_url;         /* links in emails */
    int64_t http_timeout_ms;     /* one webhook, Telegram or push request */
    const char *webhook_key_file; /* hex AES-256 key for webhook secrets at rest */
    bool webhook_allow_loopback; /* dev: http:// and loopback hosts allowed */
    int64_t webhook_max;         /* webhooks per user */
    int64_t webhook_disable_ms;  /* failing this long turns a webhook off */
    const char *telegram_url;    /* Bot API base URL */
    const char *telegram_token;  /* "" turns Telegram off */
    const char *push_url;        /* push gateway endpoint; "" turns push off */
} notif_state;

extern notif_state notif;
extern const cfg_entry notif_config[];
extern const mx_entry notif_metrics[];
extern const rpc_consumer notif_consumers[];
extern const db_stmt notif_stmts[];
extern const db_migration notifications_migrations[]; /* generated from migrations/ */
extern const rpc_method notif_methods[];

#define NOTIF_TOPIC "gavel.notifications"

/* ---- kinds.c: event kinds and channels ---- */

/* The channels this phase delivers; the others are stored in preferences
 * and wait for their senders. */
enum { NOTIF_CH_REALTIME = 1, NOTIF_CH_EMAIL = 2, NOTIF_CH_PUSH = 3, NOTIF_CH_TELEGRAM = 4,
       NOTIF_CH_WEBHOOK = 5, NOTIF_CH_MAX = 5 };
enum { NOTIF_KIND_MAX = 12 };

/** "outbid", "auction_won", … for a kind (the proto name without its
 *  prefix, lower case); "" when out of range. Static. */
const char *notif_kind_name(int kind);
/** "realtime", "email", … for a channel; "" when out of range. Static. */
const char *notif_channel_name(int channel);
/** True for a kind or channel a client may name (not UNSPECIFIED). */
bool notif_kind_ok(int kind);
bool notif_channel_ok(int channel);
/** The platform's channels for kind when the user chose none, as a
 *  PostgreSQL smallint[] literal ("{1,3}"). Static. */
const char *notif_default_channels(int kind);
/** The channels that have a sender now, as a smallint[] literal. Static. */
const char *notif_live_channels(void);
/** True when kind's bursts on one lot are coalesced (outbid, bid placed,
 *  extended). */
bool notif_kind_coalesces(int kind);

/* ---- texts.c: what users read, per language ---- */

enum { NOTIF_LANG_EN = 0, NOTIF_LANG_RU = 1, NOTIF_LANG_N = 2 };

/* A text of the tables in texts.c. */
enum {
    NOTIF_T_LOT_N, NOTIF_T_BID_PLACED_TITLE, NOTIF_T_BID_PLACED_BODY, NOTIF_T_OUTBID_TITLE,
    NOTIF_T_OUTBID_BODY, NOTIF_T_EXTENDED_TITLE, NOTIF_T_ENDING_TITLE, NOTIF_T_ENDS_AT_BODY,
    NOTIF_T_WON_TITLE, NOTIF_T_WON_BODY, NOTIF_T_LOST_TITLE, NOTIF_T_LOST_BODY,
    NOTIF_T_LOST_NO_WINNER_BODY, NOTIF_T_SOLD_TITLE, NOTIF_T_SOLD_BODY, NOTIF_T_UNSOLD_TITLE,
    NOTIF_T_UNSOLD_NO_BIDS_BODY, NOTIF_T_UNSOLD_RESERVE_BODY, NOTIF_T_APPROVED_TITLE,
    NOTIF_T_APPROVED_BODY, NOTIF_T_REJECTED_TITLE, NOTIF_T_REJECTED_BODY,
    NOTIF_T_REASON_NOT_GIVEN, NOTIF_T_LIVE_TITLE, NOTIF_T_LIVE_BODY, NOTIF_T_SCHEDULED_TITLE,
    NOTIF_T_SCHEDULED_BODY, NOTIF_T_DEPOSIT_TITLE, NOTIF_T_DEPOSIT_BODY, NOTIF_T_CAPTURE_TITLE,
    NOTIF_T_CAPTURE_BODY, NOTIF_T_MATCH_TITLE, NOTIF_T_MATCH_BODY, NOTIF_T_A_NEW_LOT,
    NOTIF_T_NO_REGION, NOTIF_T_FROM_PRICE, NOTIF_T_NO_START_PRICE, NOTIF_T_STATE_LIVE,
    NOTIF_T_STATE_SCHEDULED, NOTIF_T_EMAIL_OPEN, NOTIF_T_DIGEST_ONE, NOTIF_T_DIGEST_MANY,
    NOTIF_T_N
};

/* The values a template may name; each borrowed for the call, NULL/0
 * when the text does not use it. */
typedef struct {
    const char *lot;                        /* {lot}: the lot's title */
    const char *text;                       /* {text}, {reason}: a car, a reason */
    const Gavel__Common__V1__Money *money;  /* {money}, {price} */
    int64_t at_us;                          /* {time} */
    int64_t num;                            /* {num} */
    const char *region, *state;             /* {region}, {state} (a lot's) */
} notif_text_args;

/* A notification's title and body in every language. */
typedef struct {
    char title[NOTIF_LANG_N][640];
    char body[NOTIF_LANG_N][1024];
} notif_texts;

/** NOTIF_LANG_* for a Preferences.language ("" and "en": English), or -1
 *  for anything else. */
int notif_lang_parse(const char *s);
/** Renders text id (NOTIF_T_*) in lang into out[n] (cut at a whole UTF-8
 *  character). a may be NULL. Returns out. */
const char *notif_text(char *out, size_t n, int lang, int id, const notif_text_args *a);
/** Renders title_id and body_id in every language into t. */
void notif_texts_fill(notif_texts *t, int title_id, int body_id, const notif_text_args *a);

/* ---- fanout.c: a notification to a set of users ---- */

/* One notification of one kind, for every user in `users`: the inbox rows
 * and their pending deliveries, written in the caller's transaction.
 * Texts are borrowed for the call. */
typedef struct {
    const char *event_id;
    int kind;
    int64_t lot_id;
    const notif_texts *texts;   /* one line each; plain text */
    int64_t at_us;
    const int64_t *users;       /* n recipients, distinct, each > 0 */
    const int64_t *subscriptions; /* n, or NULL: 0 for each (direct ones) */
    size_t n;
} notif_fanout;

/** Adds f to the consumer's batch (copied; f is borrowed for the call).
 *  Consumer thread only. Returns 0. */
int notif_fanout_write(db_conn *conn, const notif_fanout *f);
/** The consumer's batch end (ev_batch_end): with ok, writes every
 *  notification gathered since the last one, their inbox rows and
 *  deliveries, in one statement on conn; returns 0 or DB_E_* (the
 *  transaction must then roll back). Without ok, forgets them. */
int notif_fanout_flush(db_conn *conn, bool ok, void *arg);
/** Frees the batch's memory (shut-down, after the consumer stopped). */
void notif_fanout_close(void);

/* ---- events_apply.c: the consumer ---- */
int notif_event_apply(db_conn *conn, const Gavel__Events__V1__Envelope *env, void *arg);
/** True for an amount an event may carry: a 3-letter currency, units >= 0. */
bool notif_money_ok(const Gavel__Common__V1__Money *m);
/** The consumer's batch end: with ok, writes the bids noted in the batch
 *  (notif_bids_flush) and every notification gathered
 *  (notif_fanout_flush); without, forgets both. 0 or DB_E_*. */
int notif_batch_end(db_conn *conn, bool ok, void *arg);

/* ---- bid_events.c: bid.placed and bid.outbid per batch ---- */
/** Notes a bid.placed / bid.outbid (m its decoded payload, env borrowed
 *  for the call). 0, or EV_E_INVALID when it names no lot, user or
 *  amount. Consumer thread only. */
int notif_bid_placed(const Gavel__Events__V1__Envelope *env, const ProtobufCMessage *m);
int notif_bid_outbid(const Gavel__Events__V1__Envelope *env, const ProtobufCMessage *m);
/** Writes the noted bids' bidders and gathers their notifications into
 *  the fan-out, with one statement on conn; then forgets them. 0 or
 *  DB_E_* (the transaction must then roll back). */
int notif_bids_flush(db_conn *conn);
/** Forgets the noted bids (a failed batch). */
void notif_bids_forget(void);
/** Frees the notes' memory (shut-down). */
void notif_bids_close(void);

/* ---- match.c: new lots against saved searches and segments ---- */

/** Builds the index from the database (start-up). Returns 0 or DB_E_*. */
int notif_match_load(db_conn *conn);
/** Frees the index (shut-down). */
void notif_match_close(void);
/**
 * For a lot.upserted in state scheduled or live: brings the index up to
 * date if a search or segment changed, runs the lot through it once, and
 * tells each matching user (not the seller) NEW_MATCH once per lot, in the
 * caller's transaction. Other states: nothing. Returns 0 or DB_E_*.
 */
int notif_match_lot(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                    const Gavel__Events__V1__LotUpserted *e);

/* ---- access.c, subscriptions.c, preferences.c, inbox.c: handlers ---- */

/** Reads a page request: size 1..200 (0: 50) and a token that is "" or a
 *  positive decimal id. Returns GRPC_STATUS_OK or INVALID_ARGUMENT. */
int notif_page(rpc_call *c, const Gavel__Common__V1__PageRequest *p, int *size,
               int64_t *after_id);

/** Runs stmt ($1 id, $2 owner or 0 for anyone; RETURNING a row when it
 *  deleted one). GRPC_STATUS_OK, NOT_FOUND ("<what> <id> not found", also
 *  when it is someone else's) or a database failure, recorded on c. */
int notif_delete_owned(rpc_call *c, const char *stmt, int64_t id, int64_t owner,
                       const char *what);
/** kinds[0..n) are EventKinds other than UNSPECIFIED, at most
 *  NOTIF_KIND_MAX; else INVALID_ARGUMENT naming field. */
int notif_check_kinds(rpc_call *c, const char *field, size_t n, const int *kinds);
/** Inits a and fills it with kinds[0..n) without repeats (the caller
 *  frees a). */
void notif_kinds_array(db_array *a, size_t n, const int *kinds);
/** A stored kinds JSON array as call-allocated ints; *n their count. */
int *notif_kinds_read(rpc_call *c, const char *json, size_t *n);

int notif_subscribe(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int notif_unsubscribe(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int notif_list_subscriptions(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int notif_get_preferences(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int notif_set_preferences(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int notif_list_inbox(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int notif_mark_read(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);

/* ---- deliver.c: the delivery workers ---- */

/* One leased delivery as a sender sees it; strings borrowed from the
 * worker's result until the round ends. */
typedef struct {
    int64_t id, notification_id, user_id, lot_id, created_at_us;
    int channel, kind, attempts;
    const char *title, *body, *link, *event_id, *email;
    int64_t unread;              /* the user's unread count when leased */
    int64_t target_id;           /* the webhook's id (webhook channel), else 0 */
    const char *telegram_chat_id;  /* "" when none */
    const char *push_tokens;       /* JSON array of strings */
    const char *webhook_url;       /* "" when the webhook is gone */
    const char *webhook_secret;    /* sealed, hex */
    bool webhook_active;
    bool digest;                   /* a NEW_MATCH email sent with the user's others */
    int lang;                      /* NOTIF_LANG_* of title and body */
} notif_delivery;

/** Starts notif.workers threads. Returns 0 or -1 (logged). */
int deliver_start(void);
/** Stops them after their current round; safe when not started. */
void deliver_stop(void);
/** Wakes the workers (new deliveries committed). Any thread. */
void deliver_kick(void);

/* Senders: 0 when the channel accepted the message, else -1 with a reason
 * in err (the delivery is retried). Each runs on a worker thread and may
 * keep per-thread state. The HTTP senders may also answer
 * NOTIF_SEND_SKIP (nowhere to send: no chat id, no tokens, the webhook
 * gone or off; recorded skipped, not failed) or NOTIF_SEND_GIVE_UP (dead
 * at once), and set *retry_after_ms from a 429/503's Retry-After. */
enum { NOTIF_SEND_OK = 0, NOTIF_SEND_FAIL = -1, NOTIF_SEND_SKIP = 1, NOTIF_SEND_GIVE_UP = -2,
       NOTIF_SEND_BUSY = 2, NOTIF_SEND_DONE = 3 };
/** Publishes the n realtime messages ds[0..n) in one Redis pipeline.
 *  NOTIF_SEND_OK when Redis took them all, else NOTIF_SEND_FAIL with err
 *  set (each is to be retried: the ones that went out publish nothing
 *  again). */
int send_realtime_batch(const notif_delivery *const *ds, size_t n, char *err, size_t errlen);
int send_email(const notif_delivery *d, char *err, size_t errlen);
int send_webhook(const notif_delivery *d, int64_t *retry_after_ms, char *err, size_t errlen);
int send_telegram(const notif_delivery *d, int64_t *retry_after_ms, char *err, size_t errlen);
int send_push(const notif_delivery *d, int64_t *retry_after_ms, char *err, size_t errlen);
/* One lot of a NEW_MATCH digest; strings borrowed. */
typedef struct {
    int64_t delivery_id;
    const char *title, *body, *link;
} notif_digest_item;
/** One email to d->email listing items[0..n) (n >= 1), Message-ID
 *  <digest-<items[0].delivery_id>@gavel>. 0 or -1 with err set. */
int send_email_digest(const notif_delivery *d, const notif_digest_item *items, size_t n,
                      char *err, size_t errlen);
/**
 * digest.c: sends d (a digest delivery) with every other pending digest
 * delivery of its user in one email and records them all sent. Returns
 * NOTIF_SEND_OK, NOTIF_SEND_FAIL (err set; d is retried),
 * NOTIF_SEND_BUSY (another worker is sending this user's digest, or d did
 * not fit in this one: look again soon, not an attempt) or NOTIF_SEND_DONE
 * (d went out in another worker's digest: nothing to record).
 */
int deliver_digest(const notif_delivery *d, char *err, size_t errlen);
/** Frees this thread's sender state (worker exit). */
void send_email_thread_close(void);
void send_http_thread_close(void);

/* ---- send_http.c: one POST for the HTTP channels ---- */
typedef struct {
    const char *url;
    const struct curl_slist *headers; /* borrowed; Content-Type included by the caller */
    const char *body;
    size_t len;
    bool public_only;  /* refuse to connect to non-public addresses (webhooks) */
} notif_http_req;
/** POSTs on this thread's handle, no redirects, GAVEL_NOTIFICATIONS_HTTP_TIMEOUT_MS.
 *  Returns NOTIF_SEND_OK on a 2xx, else NOTIF_SEND_FAIL with err set (the
 *  URL is not repeated in err: it may hold a token) and *retry_after_ms
 *  from a 429/503's Retry-After (seconds), else 0. */
int notif_http_post(const notif_http_req *r, int64_t *retry_after_ms, char *err, size_t errlen);
/** JSON of the notification as the HTTP channels send it (documented in
 *  docs/notifications-webhooks.md). New reference; the caller decrefs. */
struct json_t *notif_delivery_json(const notif_delivery *d);

/* ---- webhooks.c and webhook_secret.c ---- */
int notif_register_webhook(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int notif_list_webhooks(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int notif_delete_webhook(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
/** True for an address webhooks may reach: not loopback, private,
 *  link-local, multicast, unspecified or reserved (loopback is allowed with
 *  GAVEL_WEBHOOK_ALLOW_LOOPBACK). sa is AF_INET or AF_INET6. */
bool notif_addr_allowed(const struct sockaddr *sa);
/** Loads GAVEL_WEBHOOK_KEY_FILE. 0, or -1 (logged; webhooks then off). */
int webhook_secret_init(void);
void webhook_secret_close(void);
bool webhook_secret_ready(void);
/** Encrypts secret (n bytes) into out as "\\x<hex>" (bytea input), for
 *  storage. *out is malloc'ed; the caller frees. 0 or -1. */
int webhook_secret_seal(const char *secret, size_t n, char **out);
/** Decrypts the hex (no "\\x") of a sealed secret into out[cap]; *n its
 *  length. 0 or -1. */
int webhook_secret_open(const char *hex, uint8_t *out, size_t cap, size_t *n);
/** out[65] = hex HMAC-SHA256(key, "<t>.<body>") (OpenSSL). 0 or -1. */
int webhook_sign(const uint8_t *key, size_t keylen, int64_t t, const char *body, size_t len,
                 char *out);

/* ---- lifecycle.c: series ---- */
typedef struct {
    mx_metric *created;                       /* inbox rows written */
    mx_metric *sent[NOTIF_CH_MAX + 1];        /* by channel */
    mx_metric *failed[NOTIF_CH_MAX + 1];
    mx_metric *retried[NOTIF_CH_MAX + 1];
    mx_metric *dead[NOTIF_CH_MAX + 1];
    mx_metric *coalesced[NOTIF_CH_MAX + 1];
    mx_metric *latency[NOTIF_CH_MAX + 1];     /* created → sent, seconds */
    mx_metric *skipped[NOTIF_CH_MAX + 1];     /* nowhere to send */
    mx_metric *webhooks_disabled;             /* turned off after failing too long */
    mx_metric *match_seconds;                 /* one lot through the match index */
    mx_metric *matched;                       /* users told of a new match */
} notif_metric_set;
extern notif_metric_set notif_mx;

int notif_config_check(char *err, size_t errlen);
int notif_post_init(void);
void notif_pre_exit(void);
bool notif_is_healthy(void);

#endif
