/*
 * The streaming daemon's prepared statements, one table. Times are
 * microseconds since the epoch; status is a StreamStatus number; keys
 * appear only as the hex of their SHA-256.
 */
#include "streaming.h"

const db_stmt strm_stmts[] = {
    /* $1 session, $2 title, $3 name, $4 start, $5 end, $6 key hash, $7 creator, $8 now */
    { "stream_insert",
      "INSERT INTO streams (session_id, title, name, status, scheduled_start_us, "
      "scheduled_end_us, key_sha256, key_expires_at_us, created_by, created_at_us, "
      "updated_at_us) VALUES ($1, $2, $3, 1, $4, $5, $6, $5, $7, $8, $8) RETURNING " STRM_COLS },
    { "stream_get", "SELECT " STRM_COLS " FROM streams WHERE id = $1" },
    { "stream_lock", "SELECT " STRM_COLS " FROM streams WHERE id = $1 FOR UPDATE" },
    /* $1 id, $2 new key hash, $3 now: a publisher of the old key is dropped, so a
     * LIVE stream ends here (its on_update and publish_done then find nothing) */
    { "stream_rotate",
      "UPDATE streams SET key_sha256 = $2, status = CASE WHEN status = 2 THEN 3 ELSE status END, "
      "ended_at_us = CASE WHEN status = 2 THEN $3 ELSE ended_at_us END, live_since_us = 0, "
      "publisher = '', updated_at_us = $3 WHERE id = $1 RETURNING " STRM_COLS },
    /* $1 id, $2 now */
    { "stream_revoke",
      "UPDATE streams SET status = 4, key_sha256 = NULL, live_since_us = 0, "
      "ended_at_us = CASE WHEN status = 2 THEN $2 ELSE ended_at_us END, publisher = '', "
      "updated_at_us = $2 WHERE id = $1 RETURNING " STRM_COLS },
    /* $1 session (0 any), $2 status (0 any), $3 after id (0 none), $4 limit */
    { "stream_list",
      "SELECT " STRM_COLS " FROM streams WHERE ($1::bigint = 0 OR session_id = $1::bigint) "
      "AND ($2::int = 0 OR status = $2::int) AND ($3::bigint = 0 OR id < $3::bigint) "
      "ORDER BY id DESC LIMIT $4::int" },

    /* ---- nginx-rtmp's callbacks ---- */
    /* $1 key hash: the stream a publisher's key opens, if any */
    { "hook_by_key",
      "SELECT id, name, scheduled_start_us, scheduled_end_us, key_expires_at_us FROM streams "
      "WHERE key_sha256 = $1 AND status <> 4" },
    /* $1 id, $2 publisher client id, $3 now: not while another publisher of
     * the stream was heard from in the last 15 s (a key publishes once) */
    { "hook_live",
      "UPDATE streams SET status = 2, live_since_us = $3::bigint, publisher = $2, "
      "publisher_seen_us = $3::bigint, updated_at_us = $3::bigint WHERE id = $1 AND "
      "status <> 4 AND NOT (status = 2 AND publisher <> $2 AND "
      "publisher_seen_us > $3::bigint - 15000000)" },
    /* $1 name, $2 publisher client id, $3 now: only the publisher that made it LIVE ends it */
    { "hook_ended",
      "UPDATE streams SET status = 3, live_since_us = 0, ended_at_us = $3, publisher = '', "
      "publisher_seen_us = 0, updated_at_us = $3 WHERE name = $1 AND status = 2 AND (publisher = $2 OR publisher = '') "
      "RETURNING id" },
    /* $1 name, $2 now, $3 client id: the publisher that made its stream LIVE
     * goes on while the stream is LIVE and its key unexpired */
    { "hook_still_ok",
      "UPDATE streams SET publisher_seen_us = $2 WHERE name = $1 AND status = 2 AND "
      "key_expires_at_us > $2 AND publisher = $3 RETURNING id" },
    { 0 },
};
