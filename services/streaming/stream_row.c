/*
 * A streams row as a gavel.streaming.v1.Stream: the stored columns plus
 * what is derived (playback URL, segment length) and the live figures:
 * viewers from Redis (whatever the status: players may poll an ended
 * stream) and, for a LIVE stream only, the latency from its playlist.
 */
#include "streaming.h"

Gavel__Streaming__V1__Stream *strm_from_row(arena *a, const PGresult *r, int row)
{
    Gavel__Streaming__V1__Stream *s = arena_calloc(a, 1, sizeof *s);
    gavel__streaming__v1__stream__init(s);
    s->stream_id = db_get_i64(r, row, 0);
    s->session_id = db_get_i64(r, row, 1);
    s->title = arena_strdup(a, db_get_str(r, row, 2));
    s->name = arena_strdup(a, db_get_str(r, row, 3));
    s->status = (Gavel__Streaming__V1__StreamStatus)db_get_i64(r, row, 4);
    s->scheduled_start_us = db_get_i64(r, row, 5);
    s->scheduled_end_us = db_get_i64(r, row, 6);
    s->key_expires_at_us = db_get_i64(r, row, 7);
    s->live_since_us = db_get_i64(r, row, 8);
    s->ended_at_us = db_get_i64(r, row, 9);
    s->created_by = db_get_i64(r, row, 10);
    s->created_at_us = db_get_i64(r, row, 11);
    s->playback_url = arena_printf(a, "/live/%s/index.m3u8", s->name);
    s->segment_ms = (int32_t)strm.segment_ms;
    return s;
}

void strm_add_live_figures(Gavel__Streaming__V1__Stream *s)
{
    s->viewers = strm_viewers_of(s->name);
    if (s->status == STRM_LIVE)
        s->latency_ms = strm_latency_of(s->name);
}
