/*
 * WatchLot fan-out. A lot's watch list belongs to the worker thread that
 * owns the lot; nothing here locks, and every function runs on that
 * thread. Each watcher holds one reference to its stream, dropped exactly
 * once, when the watcher leaves the list.
 *
 * Sending never blocks the worker: rpc_stream_send only queues. A reader
 * that lets more than WATCH_MAX_BACKLOG messages pile up is cut off with
 * RESOURCE_EXHAUSTED rather than served an ever longer queue; the stream
 * runtime cannot drop what is already queued, so a fresh snapshot can
 * only come from reconnecting (WatchLot always starts with one).
 */
#include <stdio.h>
#include <stdlib.h>

#include "bids.h"

#define WATCH_MAX_BACKLOG 256

struct watcher {
    rpc_stream *s;   /* one reference, owned by this watcher */
    watcher *next;
};

/* Unlinks *link, drops its reference and frees it; *link becomes the next. */
static void watcher_drop(watcher **link)
{
    watcher *w = *link;
    *link = w->next;
    rpc_stream_release(w->s);
    free(w);
}


/**
 * Takes ownership of one reference to s (the caller retained it, or hands
 * over its own) and puts s first on *list.
 */
void watch_add(watcher **list, rpc_stream *s)
{
    watcher *w = xmalloc(sizeof *w);
    w->s = s;
    w->next = *list;
    *list = w;
}

/**
 * Queues msg (borrowed; packed before returning) on every stream of *list.
 * Streams whose client went away, and streams too far behind, leave the
 * list. snapshot is the lot msg describes, for logs only.
 */
void watch_publish(watcher **list, const ProtobufCMessage *msg, const lot *snapshot)
{
    watcher **link = list;
    while (*link != NULL) {
        rpc_stream *s = (*link)->s;
        if (rpc_stream_backlog(s) > WATCH_MAX_BACKLOG) {
            log_debug("lot %lld: watcher over %d messages behind, cut off",
                      snapshot != NULL ? (long long)snapshot->r.lot_id : 0LL,
                      WATCH_MAX_BACKLOG);
            rpc_stream_finish(s, GRPC_STATUS_RESOURCE_EXHAUSTED,
                              "watcher too slow; reconnect for a fresh snapshot");
            mx_add(bids_mx.watchers_dropped_slow, 1);
            watcher_drop(link);
        } else if (rpc_stream_send(s, msg) < 0) {
            mx_add(bids_mx.watchers_dropped_gone, 1);
            watcher_drop(link);
        } else {
            link = &(*link)->next;
        }
    }
}

/** Finishes every stream of *list with code and msg, drops them all and
 *  leaves *list NULL. */
void watch_finish_all(watcher **list, grpc_status_code code, const char *msg)
{
    while (*list != NULL) {
        rpc_stream_finish((*list)->s, code, msg);
        watcher_drop(list);
    }
}
