/*
 * streaming daemon, private header. Files by mechanism: lifecycle.c
 * (settings, series, the hook and start/stop), api.c (the method table),
 * stream_sql.c (every statement), stream_key.c (keys, their hashes and the
 * public names), stream_row.c (a streams row to the proto, with the live
 * figures), playlist.c (the ingest latency read from an HLS playlist),
 * viewers.c (the gateways' viewer counts in Redis), create.c
 * (CreateStream), keys.c (RotateKey, RevokeKey), read.c (GetStream,
 * ListStreams), hook.c and hook_form.c (nginx-rtmp's on_publish,
 * on_publish_done and on_update over loopback HTTP), drop.c (dropping a
 * publisher through nginx-rtmp's control module).
 */
#ifndef GAVEL_STREAMING_H
#define GAVEL_STREAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check/check.h"
#include "core/core.h"
#include "db/db.h"
#include "rpc/rpc.h"
#include "gavel/common/v1/common.pb-c.h"
#include "gavel/streaming/v1/streaming.pb-c.h"

/* Process-wide settings, loaded before serving and read-only afterwards. */
typedef struct {
    db_pool *db;                /* the skeleton's (rpc_service.db) */
    const char *ingest_url;     /* rtmp://host:port/live, shown with keys */
    const char *live_dir;       /* where the ingest writes <name>/index.m3u8 */
    const char *control_url;    /* nginx-rtmp control base URL, "" = none */
    const char *hook_bind;      /* IPv4 address of the hook (loopback unless in a container) */
    int64_t hook_port;          /* HTTP for nginx-rtmp's callbacks */
    int64_t segment_ms;         /* the ingest's target segment duration */
    int64_t publish_lead_ms;    /* publishing opens this long before the start */
} strm_state;

extern strm_state strm;
extern const cfg_entry strm_config[];
extern const mx_entry strm_metrics[];
extern const db_stmt strm_stmts[];
extern const db_migration streaming_migrations[]; /* generated from migrations/ */
extern const rpc_method strm_methods[];
extern const rpc_listener strm_listeners[];

typedef struct {
    mx_metric *publish_ok;       /* on_publish accepted */
    mx_metric *publish_refused;  /* on_publish refused (bad, revoked, expired key) */
    mx_metric *publish_done;     /* publishers that stopped */
    mx_metric *hook_bad;         /* malformed hook requests */
    mx_metric *drops;            /* publishers dropped on revoke or rotate */
    mx_metric *drop_errors;      /* drops the ingest did not confirm */
    mx_metric *keys_issued;      /* keys created or rotated */
} strm_metric_set;
extern strm_metric_set strm_mx;

int strm_config_check(char *err, size_t errlen);
int strm_post_init(void);
void strm_pre_exit(void);
bool strm_is_healthy(void);

/* Status numbers as stored. */
#define STRM_SCHEDULED GAVEL__STREAMING__V1__STREAM_STATUS__STREAM_STATUS_SCHEDULED
#define STRM_LIVE GAVEL__STREAMING__V1__STREAM_STATUS__STREAM_STATUS_LIVE
#define STRM_ENDED GAVEL__STREAMING__V1__STREAM_STATUS__STREAM_STATUS_ENDED
#define STRM_REVOKED GAVEL__STREAMING__V1__STREAM_STATUS__STREAM_STATUS_REVOKED

/* ---- stream_key.c ---- */
#define STRM_KEY_LEN 43   /* 32 bytes, base64url without padding */
#define STRM_NAME_LEN 16  /* public name: lower-case letters and digits */
#define STRM_HASH_HEX 65  /* SHA-256 as hex, NUL-terminated */

/** A new key (32 random bytes, base64url) into key and its SHA-256 hex
 *  into hash. Returns 0, or -1 when the random source failed (logged). */
int strm_key_new(char key[STRM_KEY_LEN + 1], char hash[STRM_HASH_HEX]);
/** hash = hex SHA-256 of the n bytes of key. */
void strm_key_hash(const char *key, size_t n, char hash[STRM_HASH_HEX]);
/** True when s has a key's shape (43 base64url characters). */
bool strm_key_is_shaped(const char *s);
/** A new public name (16 random [a-z0-9]). Returns 0 or -1 (logged). */
int strm_name_new(char name[STRM_NAME_LEN + 1]);
/** True when s has a public name's shape. */
bool strm_name_is_shaped(const char *s);

/* ---- stream_row.c ---- */
#define STRM_COLS                                                                      \
    "id, session_id, title, name, status, scheduled_start_us, scheduled_end_us, "      \
    "key_expires_at_us, live_since_us, ended_at_us, created_by, created_at_us"
/** Row `row` of r (STRM_COLS) as a Stream in arena a, with its playback
 *  URL and segment length; viewers and latency are left 0. */
Gavel__Streaming__V1__Stream *strm_from_row(arena *a, const PGresult *r, int row);
/** Fills s's viewers and latency_ms from Redis and the playlist when LIVE. */
void strm_add_live_figures(Gavel__Streaming__V1__Stream *s);

/* ---- playlist.c ---- */
/**
 * The ingest latency of the playlist text (n bytes) in milliseconds: the
 * time written_ms (when the playlist was written) minus the
 * EXT-X-PROGRAM-DATE-TIME of its newest segment. Returns -1 when the
 * playlist has no dated segment.
 */
int64_t strm_playlist_latency_ms(const char *text, size_t n, int64_t written_ms);
/** Parses an ISO 8601 date-time with a zone (2026-12-06T23:30:01.250+0000
 *  or …Z or …+00:00) to ms since the epoch; -1 when malformed. */
int64_t strm_parse_pdt_ms(const char *s, size_t n);
/** The latency of the live playlist of stream `name` under strm.live_dir,
 *  0 when there is none. */
int32_t strm_latency_of(const char *name);

/* ---- viewers.c ---- */
/** Players of `name` counted by every gateway in the last 10 s (0 when
 *  Redis cannot say). */
int32_t strm_viewers_of(const char *name);

/* ---- drop.c ---- */
/** Asks the ingest to drop the publisher of `name`. 0 when the ingest
 *  answered (a drop of nobody included), -1 when it could not be asked
 *  (logged). No-op returning 0 when no control URL is set. */
int strm_drop_publisher(const char *name);

/* ---- hook_form.c ---- */
/**
 * Finds field `key` in the application/x-www-form-urlencoded body (n
 * bytes) and decodes it into out (cap bytes incl. NUL). Returns the
 * decoded length, -1 when absent, -2 when malformed or longer than cap-1.
 */
int strm_form_get(const char *body, size_t n, const char *key, char *out, size_t cap);

/* ---- hook.c ---- */
/** nginx-rtmp's callback verdicts. */
typedef enum { HOOK_ALLOW, HOOK_REDIRECT, HOOK_REFUSE, HOOK_BAD, HOOK_ERROR } hook_verdict;
/** Decides call ("publish", "publish_done", "update_publish",
 *  "update_play") for stream `name`
 *  (the key, or the public name after the redirect) from client id
 *  `client`. On HOOK_REDIRECT, public (STRM_NAME_LEN+1 bytes) is the
 *  name to publish under. */
hook_verdict strm_hook_decide(const char *call, const char *name, const char *client,
                              char public_name[STRM_NAME_LEN + 1]);

/* ---- handlers ---- */
int strm_create(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int strm_rotate_key(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int strm_revoke_key(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int strm_get(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int strm_list(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);

#endif
