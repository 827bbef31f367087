/*
 * The WebSocket endpoint's sockets on the loop thread: a socket is made
 * when lws establishes it, reads whole messages (fragments joined up to
 * GAVEL_GATEWAY_WS_MAX_MESSAGE; a larger one is skipped to its end and
 * answered with an error), and is written at the end of the loop turn in
 * which it got something to send: first its queue of replies and
 * notifications, then each lot it owes a message, made from the lot's
 * shared stream at that moment (so however many feeds came, one message
 * carries the newest state). Writes go straight to the connection while
 * it takes each message whole; a message it does not take stays with lws,
 * which asks for the writable callback, and nothing more is written until
 * that callback: a feed never re-arms a socket that is already waiting.
 *
 * Invariants: memory per socket is bounded: replies are bounded by the
 * rate limit and the queue limit, lot updates are not held per socket at
 * all (a socket keeps the rank it last sent per lot; lws holds at most
 * the one message the kernel did not take); a socket whose queue and
 * owed updates stay over GAVEL_GATEWAY_WS_QUEUE_LIMIT for the grace is
 * closed with 1008 and everything it held is freed at once. Per socket
 * and lot, messages go out in increasing rank. A socket outlives its
 * connection while jobs or the write list hold references to it; they
 * find wsi NULL and drop their work.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http.h"
#include "ws_int.h"

static struct {
    ws_sock *socks;          /* open sockets */
    ws_sock *kick_head, *kick_tail;  /* to be written at the end of the turn */
    atomic_int nopen;
    bool is_draining;
    bool is_started;
} ws;

static lws_retry_bo_t idle_policy;

int gw_ws_open(void)
{
    return atomic_load(&ws.nopen);
}

const lws_retry_bo_t *gw_ws_idle_policy(void)
{
    idle_policy.secs_since_valid_ping = (uint16_t)ws_cfg.ping_s;
    idle_policy.secs_since_valid_hangup = (uint16_t)(ws_cfg.ping_s * 2);
    return &idle_policy;
}

/* ---- the send queue ---- */

static bool sub_owes(const ws_sub *sub)
{
    const ws_feed *last = sub->st->last;
    return sub->is_ready && last != NULL && (sub->needs_snapshot || last->rank > sub->sent_rank);
}

/* Bytes of lot state s owes: what a message to it would hold now. */
static size_t owed_bytes(const ws_sock *s)
{
    size_t n = 0;
    for (const ws_sub *sub = s->dirty_head; sub != NULL; sub = sub->dirty_next) {
        const ws_stream *st = sub->st;
        if (!sub_owes(sub))
            continue;
        n += st->last->state_len;
        for (int i = 0; i < st->nrecent; i++)
            if (st->recent[i]->rank > sub->sent_rank)
                n += st->recent[i]->bids_len;
    }
    return n;
}

static size_t waiting_bytes(const ws_sock *s)
{
    return s->q_bytes + owed_bytes(s);
}

/* Lists s to be written at the end of this loop turn (once). */
static void kick(ws_sock *s)
{
    if (s->is_kicked || s->wsi == NULL)
        return;
    s->is_kicked = true;
    s->refs++;
    s->kick_next = NULL;
    if (ws.kick_tail != NULL)
        ws.kick_tail->kick_next = s;
    else
        ws.kick_head = s;
    ws.kick_tail = s;
    hub_want_flush();
}

void ws_send(ws_sock *s, const char *text, size_t len)
{
    if (s->wsi == NULL || s->is_closing)
        return;
    ws_msg *m = xmalloc(sizeof *m + LWS_PRE + len);
    m->next = NULL;
    m->len = len;
    memcpy(m->buf + LWS_PRE, text, len);
    if (s->q_tail != NULL)
        s->q_tail->next = m;
    else
        s->q_head = m;
    s->q_tail = m;
    s->q_bytes += len;
    /* Far past the limit there is no waiting out the grace. */
    if (waiting_bytes(s) > (size_t)ws_cfg.queue_limit * 4) {
        mx_add(ws_mx.slow_closes, 1);
        ws_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow consumer: send queue full");
        return;
    }
    kick(s);
}

void ws_send_take(ws_sock *s, char *text)
{
    ws_send(s, text, strlen(text));
    free(text);
}

void ws_sub_mark(ws_sub *sub)
{
    ws_sock *s = sub->sock;
    if (s->wsi == NULL || s->is_closing || !sub_owes(sub))
        return;
    if (!sub->is_dirty) {
        sub->is_dirty = true;
        sub->dirty_next = NULL;
        if (s->dirty_tail != NULL)
            s->dirty_tail->dirty_next = sub;
        else
            s->dirty_head = sub;
        s->dirty_tail = sub;
    }
    kick(s);
}

void ws_sub_clear(ws_sub *sub)
{
    if (!sub->is_dirty)
        return;
    ws_sock *s = sub->sock;
    ws_sub **link = &s->dirty_head;
    ws_sub *prev = NULL;
    while (*link != NULL && *link != sub) {
        prev = *link;
        link = &(*link)->dirty_next;
    }
    if (*link == sub) {
        *link = sub->dirty_next;
        if (s->dirty_tail == sub)
            s->dirty_tail = prev;
    }
    sub->is_dirty = false;
}

static void queue_free(ws_sock *s)
{
    while (s->q_head != NULL) {
        ws_msg *m = s->q_head;
        s->q_head = m->next;
        free(m);
    }
    s->q_tail = NULL;
    s->q_bytes = 0;
}

void ws_close(ws_sock *s, int code, const char *reason)
{
    if (s->wsi == NULL || s->is_closing)
        return;
    s->is_closing = true;
    s->close_code = code;
    snprintf(s->close_reason, sizeof s->close_reason, "%s", reason);
    if (!s->is_flush_first)
        queue_free(s);
    hub_sock_gone(s); /* it owes no lot anything now */
    lws_callback_on_writable(s->wsi);
    /* a peer that reads nothing never lets the close frame out */
    if (!s->is_flush_first)
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 2);
}

/* The message sub owes, made from its lot's stream now: a snapshot of the
 * newest state, or an update of it with the bids of the lot's recent feeds
 * that sub has not sent (those of up to WS_RECENT_MAX commits). NULL when
 * it owes nothing. */
static unsigned char *lot_message(ws_sub *sub, size_t *len)
{
    if (!sub_owes(sub))
        return NULL;
    const ws_stream *st = sub->st;
    ws_feed *last = st->last;
    bool is_snapshot = sub->needs_snapshot;
    int first = st->nrecent;
    if (!is_snapshot) {
        while (first > 0 && st->recent[first - 1]->rank > sub->sent_rank)
            first--;
        if (st->nrecent - first > 1)
            mx_add(ws_mx.coalesced, st->nrecent - first - 1);
    }
    bool is_leader = sub->sock->user_id > 0 && last->leader_id == sub->sock->user_id;
    unsigned char *msg = wsp_lot_message(last, is_snapshot, st->recent + first,
                                         st->nrecent - first, is_leader,
                                         sub->was_leader && !is_leader, len);
    sub->was_leader = is_leader;
    sub->sent_rank = last->rank;
    sub->needs_snapshot = false;
    return msg;
}

/* Writes the close frame (code, reason) itself: libwebsockets 4.1 drops
 * the socket without one when a writable callback returns -1, whatever
 * lws_close_reason() set. Opcode 4 of lws_write() is the close frame. */
static void send_close(struct lws *wsi, const ws_sock *s)
{
    unsigned char buf[LWS_PRE + 2 + sizeof s->close_reason];
    size_t n = strlen(s->close_reason);
    if (n > 123)
        n = 123; /* a control frame's payload is at most 125 bytes */
    buf[LWS_PRE] = (unsigned char)(s->close_code >> 8);
    buf[LWS_PRE + 1] = (unsigned char)(s->close_code & 0xff);
    memcpy(buf + LWS_PRE + 2, s->close_reason, n);
    (void)lws_write(wsi, buf + LWS_PRE, n + 2, (enum lws_write_protocol)4);
}

/*
 * Writes what s owes, as long as the connection takes each message whole:
 * its queue first, then each lot in its write order. A message the kernel
 * does not take whole stays with lws, which asks for the writable callback
 * itself and calls ours once it is out; nothing more is written meanwhile,
 * so a socket that is behind holds one message and owes the rest to its
 * lots' streams. Returns -1 when the connection failed.
 */
static int pump(struct lws *wsi, ws_sock *s)
{
    while (!lws_partial_buffered(wsi)) {
        ws_msg *m = NULL;
        unsigned char *msg = NULL;
        size_t len = 0;
        if (s->q_head != NULL) {
            m = s->q_head;
            s->q_head = m->next;
            if (s->q_head == NULL)
                s->q_tail = NULL;
            s->q_bytes -= m->len;
            msg = m->buf + LWS_PRE;
            len = m->len;
        } else if (s->dirty_head != NULL) {
            ws_sub *sub = s->dirty_head;
            s->dirty_head = sub->dirty_next;
            if (s->dirty_head == NULL)
                s->dirty_tail = NULL;
            sub->is_dirty = false;
            msg = lot_message(sub, &len);
            if (msg == NULL)
                continue;
        } else {
            break;
        }
        int rc = lws_write(wsi, msg, len, LWS_WRITE_TEXT);
        free(m);
        if (rc < 0)
            return -1;
        mx_add(ws_mx.msg_out, 1);
    }
    return 0;
}

/* A write outside lws's callback found the connection broken: lws closes
 * it on its next turn (and CLOSED frees what is left). */
static void sock_broken(ws_sock *s)
{
    s->is_closing = true;
    queue_free(s);
    hub_sock_gone(s);
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void ws_flush(void)
{
    while (ws.kick_head != NULL) {
        ws_sock *s = ws.kick_head;
        ws.kick_head = s->kick_next;
        if (ws.kick_head == NULL)
            ws.kick_tail = NULL;
        s->is_kicked = false;
        if (s->wsi != NULL && !s->is_closing && pump(s->wsi, s) < 0)
            sock_broken(s);
        ws_sock_unref(s);
    }
}

/* Forgets the sockets listed to be written (the endpoint stops). */
static void kicks_drop(void)
{
    while (ws.kick_head != NULL) {
        ws_sock *s = ws.kick_head;
        ws.kick_head = s->kick_next;
        s->is_kicked = false;
        ws_sock_unref(s);
    }
    ws.kick_tail = NULL;
}

void ws_check_slow(int64_t now)
{
    for (ws_sock *s = ws.socks, *next; s != NULL; s = next) {
        next = s->next;
        if (s->is_closing || waiting_bytes(s) <= (size_t)ws_cfg.queue_limit) {
            s->over_since_us = 0;
            continue;
        }
        if (s->over_since_us == 0) {
            s->over_since_us = now;
        } else if (now - s->over_since_us > ws_cfg.slow_grace_ms * 1000) {
            char why[96];
            snprintf(why, sizeof why, "slow consumer: over %lld bytes waiting for %lld ms",
                     (long long)ws_cfg.queue_limit, (long long)ws_cfg.slow_grace_ms);
            log_info("ws %s user %lld: %s", s->client_addr, (long long)s->user_id, why);
            mx_add(ws_mx.slow_closes, 1);
            ws_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
        }
    }
}

/* ---- sockets ---- */

static char *connect_token(struct lws *wsi)
{
    char buf[4096];
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 0 && n < (int)sizeof buf &&
        lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
        const char *t = buf;
        if (strncasecmp(t, "Bearer ", 7) == 0)
            t += 7;
        while (*t == ' ')
            t++;
        return xstrdup(t);
    }
    const char *v = lws_get_urlarg_by_name(wsi, "access_token=", buf, (int)sizeof buf);
    return v != NULL ? xstrdup(v) : NULL;
}

static ws_sock *sock_new(struct lws *wsi)
{
    ws_sock *s = xcalloc(1, sizeof *s);
    s->wsi = wsi;
    s->refs = 1;
    s->tokens = (double)ws_cfg.burst;
    s->tokens_at_us = mono_us();
    gw_client_addr(wsi, s->client_addr, sizeof s->client_addr);
    int fd = (int)lws_get_socket_fd(wsi), on = 1;
    /* Each message goes out at once: it never waits for the peer's ACK of
     * the one before (Nagle against delayed ACKs costs up to 40 ms). */
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (ws_cfg.sndbuf > 0 && fd >= 0) {
        int sz = (int)ws_cfg.sndbuf;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    }
    s->next = ws.socks;
    if (ws.socks != NULL)
        ws.socks->prev = s;
    ws.socks = s;
    atomic_fetch_add(&ws.nopen, 1);
    mx_set(ws_mx.open, atomic_load(&ws.nopen));
    return s;
}

void ws_sock_unref(ws_sock *s)
{
    if (--s->refs > 0)
        return;
    free(s->token);
    free(s->rx);
    free(s);
}

static void sock_gone(ws_sock *s)
{
    if (s->wsi == NULL)
        return;
    s->wsi = NULL;
    queue_free(s);
    hub_sock_gone(s);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        ws.socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    atomic_fetch_sub(&ws.nopen, 1);
    mx_set(ws_mx.open, atomic_load(&ws.nopen));
    ws_sock_unref(s);
}

/* One received piece of a message; whole messages go to ws_handle. */
static void on_receive(struct lws *wsi, ws_sock *s, const char *in, size_t len)
{
    if (lws_is_first_fragment(wsi)) {
        s->rx_len = 0;
        s->is_rx_discarding = false;
        s->is_rx_binary = lws_frame_is_binary(wsi);
    }
    if (!s->is_rx_discarding && !s->is_rx_binary) {
        if (s->rx_len + len > (size_t)ws_cfg.max_msg) {
            s->is_rx_discarding = true;
        } else {
            if (s->rx == NULL)
                s->rx = xmalloc((size_t)ws_cfg.max_msg + 1);
            memcpy(s->rx + s->rx_len, in, len);
            s->rx_len += len;
        }
    }
    if (!lws_is_final_fragment(wsi))
        return;
    mx_add(ws_mx.msg_in, 1);
    size_t n = 0;
    if (s->is_rx_binary) {
        ws_send_take(s, wsp_error(NULL, "INVALID_ARGUMENT", &n, "binary messages are not "
                                  "read: send JSON text messages"));
    } else if (s->is_rx_discarding) {
        ws_send_take(s, wsp_error(NULL, "INVALID_ARGUMENT", &n, "message larger than %lld "
                                  "bytes skipped", (long long)ws_cfg.max_msg));
    } else {
        s->rx[s->rx_len] = '\0';
        ws_handle(s, s->rx, s->rx_len);
    }
    s->rx_len = 0;
    s->is_rx_discarding = false;
    if (s->rx != NULL && ws_cfg.max_msg > 4096) { /* idle sockets keep no large buffer */
        free(s->rx);
        s->rx = NULL;
    }
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    ws_sock **pss = user;
    ws_sock *s = pss != NULL ? *pss : NULL;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char uri[8];
        bool is_ws_path = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) == 3 &&
                          lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) == 3 &&
                          memcmp(uri, "/ws", 3) == 0;
        return ws.is_draining || !ws.is_started || !is_ws_path ? -1 : 0;
    }
    case LWS_CALLBACK_ESTABLISHED: {
        if (pss == NULL)
            return -1;
        s = *pss = sock_new(wsi);
        char *token = connect_token(wsi);
        if (token != NULL)
            wsj_auth(s, token, NULL, true);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        if (s != NULL && s->wsi != NULL && !s->is_closing)
            on_receive(wsi, s, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (s == NULL || s->wsi == NULL)
            return -1;
        if (s->is_closing && s->is_flush_first) {
            if (pump(wsi, s) < 0)
                return -1;
            if (s->q_head != NULL || lws_partial_buffered(wsi)) {
                lws_callback_on_writable(wsi); /* then the close frame */
                return 0;
            }
        }
        if (s->is_closing) {
            send_close(wsi, s);
            return -1;
        }
        return pump(wsi, s);
    case LWS_CALLBACK_CLOSED:
        if (s != NULL) {
            *pss = NULL;
            sock_gone(s);
        }
        return 0;
    default:
        return 0;
    }
}

const struct lws_protocols gw_ws_protocol = { "gavel.v1", ws_cb, sizeof(ws_sock *), 4096, 0,
                                              NULL, 0 };

int gw_ws_start(char *err, size_t errlen)
{
    ws.is_draining = false;
    if (hub_start(err, errlen) < 0)
        return -1;
    ws.is_started = true;
    return 0;
}

void gw_ws_drain(void)
{
    ws.is_draining = true;
    for (ws_sock *s = ws.socks; s != NULL; s = s->next)
        ws_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "the gateway is restarting; reconnect");
}

void gw_ws_stop(void)
{
    ws.is_started = false;
    hub_stop();
    kicks_drop();
    wsp_buffer_free();
}
