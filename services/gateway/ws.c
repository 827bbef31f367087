/*
 * The WebSocket endpoint's sockets on the loop thread: a socket is made
 * when lws establishes it, reads whole messages (fragments joined up to
 * GAVEL_GATEWAY_WS_MAX_MESSAGE; a larger one is skipped to its end and
 * answered with an error), and writes one message per writable callback:
 * first its queue of replies and notifications, then the lots it owes an
 * update, each coalesced from the feeds waiting for it.
 *
 * Invariants: memory per socket is bounded: replies are bounded by the
 * rate limit and the queue limit, lot feeds by WS_PENDING_MAX per lot
 * (older ones merge into the next update, their state superseded); a
 * socket whose queue stays over GAVEL_GATEWAY_WS_QUEUE_LIMIT for the
 * grace is closed with 1008 and everything it held is freed at once. A
 * socket outlives its connection while jobs hold references to it; they
 * find wsi NULL and drop their answer.
 */
#include <netinet/in.h>
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

static size_t waiting_bytes(const ws_sock *s)
{
    return s->q_bytes + s->pend_bytes;
}

static void want_write(ws_sock *s)
{
    if (s->wsi != NULL)
        lws_callback_on_writable(s->wsi);
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
    want_write(s);
}

void ws_send_take(ws_sock *s, char *text)
{
    ws_send(s, text, strlen(text));
    free(text);
}

static void pending_drop(ws_sub *sub, int i)
{
    sub->sock->pend_bytes -= sub->pending[i].f->state_len + sub->pending[i].f->bids_len;
    wsp_feed_unref(sub->pending[i].f);
}

void ws_sub_push(ws_sub *sub, ws_feed *f, bool is_snapshot)
{
    ws_sock *s = sub->sock;
    if (s->wsi == NULL || s->is_closing)
        return;
    if (is_snapshot) { /* a snapshot supersedes whatever was waiting */
        for (int i = 0; i < sub->npending; i++)
            pending_drop(sub, i);
        sub->npending = 0;
    } else if (sub->npending == WS_PENDING_MAX) {
        /* the oldest feed merges into the next: its state is superseded,
         * its bids would make the queue unbounded */
        pending_drop(sub, 0);
        memmove(sub->pending, sub->pending + 1, (WS_PENDING_MAX - 1) * sizeof sub->pending[0]);
        sub->npending--;
        mx_add(ws_mx.coalesced, 1);
    }
    sub->pending[sub->npending++] = (ws_pending){ wsp_feed_ref(f), is_snapshot };
    s->pend_bytes += f->state_len + f->bids_len;
    if (!sub->is_dirty) {
        sub->is_dirty = true;
        sub->dirty_next = NULL;
        if (s->dirty_tail != NULL)
            s->dirty_tail->dirty_next = sub;
        else
            s->dirty_head = sub;
        s->dirty_tail = sub;
    }
    want_write(s);
}

void ws_sub_clear(ws_sub *sub)
{
    for (int i = 0; i < sub->npending; i++)
        pending_drop(sub, i);
    sub->npending = 0;
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
    hub_sock_gone(s); /* frees every pending feed */
    lws_callback_on_writable(s->wsi);
    /* a peer that reads nothing never lets the close frame out */
    if (!s->is_flush_first)
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 2);
}

/* The next lot message sub owes: the last pending state with the bids of
 * every update merged into it. NULL when everything pending was stale. */
static unsigned char *lot_message(ws_sub *sub, size_t *len)
{
    ws_sock *s = sub->sock;
    ws_feed *batch[WS_PENDING_MAX];
    int n = 0, used = 0;
    bool is_snapshot = sub->pending[0].is_snapshot;
    if (is_snapshot) {
        batch[n++] = sub->pending[0].f;
        used = 1;
    } else {
        for (; used < sub->npending && !sub->pending[used].is_snapshot; used++)
            if (sub->pending[used].f->rank > sub->sent_rank)
                batch[n++] = sub->pending[used].f;
        if (n > 1)
            mx_add(ws_mx.coalesced, n - 1);
    }
    unsigned char *msg = NULL;
    if (n > 0) {
        const ws_feed *last = batch[n - 1];
        bool is_leader = s->user_id > 0 && last->leader_id == s->user_id;
        msg = wsp_lot_message(last, is_snapshot, batch, n, s->user_id,
                              sub->was_leader && !is_leader, len);
        sub->was_leader = is_leader;
        sub->sent_rank = last->rank;
    } else {
        mx_add(ws_mx.dropped, used);
    }
    for (int i = 0; i < used; i++)
        pending_drop(sub, i);
    memmove(sub->pending, sub->pending + used, (size_t)(sub->npending - used) *
            sizeof sub->pending[0]);
    sub->npending -= used;
    return msg;
}

static int write_one(struct lws *wsi, ws_sock *s)
{
    unsigned char *msg = NULL;
    size_t len = 0;
    if (s->q_head != NULL) {
        ws_msg *m = s->q_head;
        int rc = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
        s->q_head = m->next;
        if (s->q_head == NULL)
            s->q_tail = NULL;
        s->q_bytes -= m->len;
        free(m);
        if (rc < 0)
            return -1;
        mx_add(ws_mx.msg_out, 1);
        if (s->q_head != NULL || s->dirty_head != NULL)
            lws_callback_on_writable(wsi);
        return 0; /* one write per writable callback */
    }
    while (msg == NULL && s->dirty_head != NULL) {
        ws_sub *sub = s->dirty_head;
        if (sub->npending > 0)
            msg = lot_message(sub, &len);
        if (sub->npending == 0) {
            s->dirty_head = sub->dirty_next;
            if (s->dirty_head == NULL)
                s->dirty_tail = NULL;
            sub->is_dirty = false;
        }
        if (msg != NULL) {
            if (lws_write(wsi, msg, len, LWS_WRITE_TEXT) < 0)
                return -1;
            mx_add(ws_mx.msg_out, 1);
        }
    }
    if (s->q_head != NULL || s->dirty_head != NULL)
        lws_callback_on_writable(wsi);
    return 0;
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
    if (ws_cfg.sndbuf > 0) {
        int fd = (int)lws_get_socket_fd(wsi), sz = (int)ws_cfg.sndbuf;
        if (fd >= 0)
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
        if (s->is_closing && s->is_flush_first && s->q_head != NULL) {
            lws_callback_on_writable(wsi); /* then the close frame */
            return write_one(wsi, s);
        }
        if (s->is_closing) {
            lws_close_reason(wsi, (enum lws_close_status)s->close_code,
                             (unsigned char *)s->close_reason, strlen(s->close_reason));
            return -1;
        }
        return write_one(wsi, s);
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
    wsp_buffer_free();
}
