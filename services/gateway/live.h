/*
 * Live video of venue sales (issue 21): the HLS playlists and segments the
 * ingest writes under GAVEL_GATEWAY_LIVE_DIR, served at
 * /live/<stream>/<file> from an in-memory cache on the loop thread
 * (live.c), and the viewers counted from the playlist requests and written
 * to Redis once a second (live_viewers.c).
 */
#ifndef GAVEL_GATEWAY_LIVE_H
#define GAVEL_GATEWAY_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "request.h"

/* ---- live.c: the files ---- */

/** The live settings (GAVEL_GATEWAY_LIVE_*, GAVEL_GATEWAY_INSTANCE_ID) and
 *  series (gavel_gateway_live_*), joined into the daemon's tables by main.c. */
extern const cfg_entry gw_live_config[];
extern const mx_entry gw_live_metrics[];

/** Resolves the live directory (GAVEL_GATEWAY_LIVE_DIR, else
 *  $GAVEL_RUN_DIR/live, else .run/live) and the instance id; 0 or -1 with
 *  err naming the setting. Main thread, before the loop starts. */
int gw_live_init(char *err, size_t errlen);
/** Loop thread: starts the viewers' once-a-second report. */
int gw_live_start(char *err, size_t errlen);
/** Loop thread, after the lws context is gone: stops the report and frees
 *  the cache (entries still held by a request go with their last holder). */
void gw_live_stop(void);
/** The gateway's own route GET/HEAD /live/{stream}/{file}, on the loop
 *  thread: a playlist (no-cache) or a segment (immutable), ETag and 304;
 *  404 for a name that is not a stream's or a file it may serve. */
void gw_live_serve(gw_req *r);

/* ---- live_viewers.c: who watches ---- */

/** Loop thread: the player `player` (its `v` id; NULL: none, the address
 *  alone is the viewer) at client address addr fetched a playlist of
 *  stream (a checked name) now. All borrowed. */
void gw_live_viewer_seen(const char *stream, const char *addr, const char *player);
/** Loop thread: starts the once-a-second sweep and report with instance
 *  id instance (borrowed, lives for the process); one address counts as
 *  per_addr players at most. 0 or -1 with err. */
int gw_live_viewers_start(const char *instance, int64_t window_ms, int64_t max_per_stream,
                          int64_t per_addr, char *err, size_t errlen);
/** Loop thread: stops the report and forgets every viewer. */
void gw_live_viewers_stop(void);
/** Viewers counted over every stream at the last sweep (a series of live.c's table). */
extern mx_metric *gw_live_viewers_gauge;

#endif
