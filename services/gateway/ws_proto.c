/*
 * The messages of the WebSocket protocol (docs/websocket.md) as text, and
 * the lot feeds they are made from. A feed's JSON is written once, when
 * it arrives, and shared by every socket following the lot; each socket's
 * message around it (its leader and outbid flags, the time it is sent) is
 * written into one buffer of the loop thread just before lws sends it, so
 * a fan-out costs no allocation per socket; sockets written one after
 * another that are owed the same message (the same state, the same first
 * feed, the same flags, within the same millisecond) share its bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pbjson/pbjson.h>

#include "gavel/bids/v1/bids.pb-c.h"
#include "http.h"
#include "ws_int.h"

static unsigned char *wbuf;  /* loop thread: the message being written */
static size_t wcap;

void wsp_time(char out[40], int64_t us)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, (int)(us % 1000000));
}

char *wsp_dump(const json_t *obj, size_t *len)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    if (text == NULL)
        panic("cannot write a WebSocket message");
    *len = strlen(text);
    return text;
}

const char *wsp_code(int grpc_code)
{
    static char names[17][24];
    if (grpc_code < 0 || grpc_code > 16)
        grpc_code = 13;
    char *n = names[grpc_code];
    if (n[0] == '\0') {
        const char *low = gw_grpc_code_name(grpc_code);
        size_t i = 0;
        for (; low[i] != '\0' && i < sizeof names[0] - 1; i++)
            n[i] = (char)(low[i] >= 'a' && low[i] <= 'z' ? low[i] - 32 : low[i]);
        n[i] = '\0';
    }
    return n;
}

char *wsp_error(const char *id, const char *code, size_t *len, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("error"));
    if (id != NULL)
        json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "code", json_string(code));
    json_t *m = json_string(msg);
    json_object_set_new(o, "message", m != NULL ? m : json_string("(message not UTF-8)"));
    char *text = wsp_dump(o, len);
    json_decref(o);
    mx_add(ws_mx.errors, 1);
    return text;
}

/* ---- feeds ---- */

ws_feed *wsp_feed_ref(ws_feed *f)
{
    f->refs++;
    return f;
}

void wsp_feed_unref(ws_feed *f)
{
    if (f == NULL || --f->refs > 0)
        return;
    free(f->state);
    free(f->bids);
    free(f->bid_at);
    free(f);
}

static char *encode(const ProtobufCMessage *m, char *err, size_t errlen)
{
    json_t *j = NULL;
    if (pbj_encode(m, NULL, &j, err, errlen) < 0)
        return NULL;
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL)
        snprintf(err, errlen, "cannot write JSON");
    return text;
}

ws_feed *wsp_feed_state(const ProtobufCMessage *msg, char *err, size_t errlen)
{
    const Gavel__Bids__V1__LotState *st = (const Gavel__Bids__V1__LotState *)msg;
    char *state = encode(msg, err, errlen);
    if (state == NULL)
        return NULL;
    ws_feed *f = xcalloc(1, sizeof *f);
    f->refs = 1;
    f->lot_id = st->lot_id;
    f->seq = st->seq;
    f->leader_id = st->leader_id;
    /* seq, then status, then a venue's fair warning: a warning changes
     * neither seq nor status, yet must not be taken for a duplicate. */
    f->rank = (st->seq * 4 + (int64_t)st->status) * 2 + (st->fair_warning_at_us != 0);
    f->state = state;
    f->state_len = strlen(state);
    f->bids = xstrdup("");
    return f;
}

ws_feed *wsp_feed_unpack(const uint8_t *data, size_t len, char *err, size_t errlen)
{
    Gavel__Bids__V1__LotFeed *lf = gavel__bids__v1__lot_feed__unpack(NULL, len, data);
    if (lf == NULL || lf->state == NULL || lf->state->lot_id <= 0) {
        snprintf(err, errlen, "not a LotFeed with a lot's state");
        if (lf != NULL)
            gavel__bids__v1__lot_feed__free_unpacked(lf, NULL);
        return NULL;
    }
    ws_feed *f = wsp_feed_state(&lf->state->base, err, errlen);
    size_t cap = 1, n = 0;
    char *bids = xmalloc(cap);
    size_t *at = lf->n_bids > 0 ? xcalloc(lf->n_bids, sizeof *at) : NULL;
    for (size_t i = 0; f != NULL && i < lf->n_bids; i++) {
        char *b = encode(&lf->bids[i]->base, err, errlen);
        if (b == NULL) {
            wsp_feed_unref(f);
            f = NULL;
            break;
        }
        size_t bl = strlen(b);
        bids = xrealloc(bids, cap += bl + 1);
        if (n > 0)
            bids[n++] = ',';
        at[i] = n;
        memcpy(bids + n, b, bl);
        n += bl;
        free(b);
    }
    bids[n] = '\0';
    if (f != NULL) {
        free(f->bids);
        f->bids = bids;
        f->bids_len = n;
        f->nbids = (int)lf->n_bids;
        f->bid_at = at;
    } else {
        free(bids);
        free(at);
    }
    gavel__bids__v1__lot_feed__free_unpacked(lf, NULL);
    return f;
}

/* ---- the lot messages ---- */

/* What the buffer holds: the sockets of a lot written one after another
 * get the same message while its arguments stay the same. The feeds are
 * held, so an address is never a later feed's. */
typedef struct {
    ws_feed *f, *first;
    int nbatch;
    bool is_snapshot, is_leader, is_outbid, is_valid;
    int64_t ms;
    size_t len;
} made_msg;

static made_msg made;

static void made_forget(void)
{
    wsp_feed_unref(made.f);
    wsp_feed_unref(made.first);
    memset(&made, 0, sizeof made);
}

static void reserve(size_t n)
{
    if (n <= wcap)
        return;
    wcap = n + n / 2;
    free(wbuf);
    wbuf = xmalloc(wcap);
}

unsigned char *wsp_lot_message(ws_feed *f, bool is_snapshot, ws_feed *const *batch, int nbatch,
                               bool is_leader, bool is_outbid, size_t *len)
{
    int64_t ms = now_us() / 1000; /* serverTime to the millisecond: shared within it */
    ws_feed *first = !is_snapshot && nbatch > 0 ? batch[0] : NULL;
    if (made.is_valid && made.f == f && made.first == first && made.nbatch == nbatch &&
        made.is_snapshot == is_snapshot && made.is_leader == is_leader &&
        made.is_outbid == is_outbid && made.ms == ms) {
        *len = made.len;
        return wbuf + LWS_PRE;
    }
    made_forget();
    size_t need = LWS_PRE + f->state_len + 320;
    for (int i = 0; i < nbatch; i++)
        need += batch[i]->bids_len + 1;
    reserve(need);
    char now[40];
    wsp_time(now, ms * 1000);
    char *p = (char *)wbuf + LWS_PRE, *end = (char *)wbuf + wcap;
    p += snprintf(p, (size_t)(end - p), "{\"type\":\"%s\",\"lotId\":\"%lld\",\"seq\":\"%lld\","
                  "\"state\":", is_snapshot ? "lot_snapshot" : "lot_update",
                  (long long)f->lot_id, (long long)f->seq);
    memcpy(p, f->state, f->state_len);
    p += f->state_len;
    if (!is_snapshot) {
        memcpy(p, ",\"bids\":[", 9);
        p += 9;
        /* the newest WS_UPDATE_BIDS_MAX: whole feeds skipped, then the
         * oldest bids of the first feed kept */
        int skip = -WS_UPDATE_BIDS_MAX;
        for (int i = 0; i < nbatch; i++)
            skip += batch[i]->nbids;
        bool is_first = true;
        for (int i = 0; i < nbatch; i++) {
            const ws_feed *b = batch[i];
            if (b->bids_len == 0 || skip >= b->nbids) {
                skip -= skip > 0 ? b->nbids : 0;
                continue;
            }
            size_t from = skip > 0 ? b->bid_at[skip] : 0;
            skip = 0;
            if (!is_first)
                *p++ = ',';
            memcpy(p, b->bids + from, b->bids_len - from);
            p += b->bids_len - from;
            is_first = false;
        }
        *p++ = ']';
    }
    p += snprintf(p, (size_t)(end - p), ",\"leader\":%s", is_leader ? "true" : "false");
    if (!is_snapshot)
        p += snprintf(p, (size_t)(end - p), ",\"outbid\":%s", is_outbid ? "true" : "false");
    p += snprintf(p, (size_t)(end - p), ",\"serverTime\":\"%s\"}", now);
    *len = (size_t)(p - ((char *)wbuf + LWS_PRE));
    made = (made_msg){ wsp_feed_ref(f), first != NULL ? wsp_feed_ref(first) : NULL, nbatch,
                       is_snapshot, is_leader, is_outbid, true, ms, *len };
    return wbuf + LWS_PRE;
}

void wsp_buffer_free(void)
{
    made_forget();
    free(wbuf);
    wbuf = NULL;
    wcap = 0;
}
