/*
 * nginx-rtmp's callbacks over HTTP on loopback (GAVEL_STREAMING_HOOK_BIND,
 * GAVEL_STREAMING_HOOK_PORT):
 * POST /rtmp with a form body whose `call` is publish, publish_done,
 * update_publish or update_play, and `name` the stream name the encoder used (its key) or, after
 * our redirect, the public name.
 *
 *   publish       a key that is valid (unrevoked, unexpired) inside the
 *                 window [start - lead, end) makes the stream LIVE and is
 *                 answered 302 Location: <public name>, so nginx-rtmp
 *                 renames the stream and the HLS is written under the
 *                 public name, never the key; anything else is 403, and
 *                 so is a second publisher of the key while the first
 *                 was heard from in the last 15 s.
 *   publish_done  the publisher that made the stream LIVE stopped: ENDED.
 *   update_publish (every few seconds while publishing) 200 while the
 *                 stream is still LIVE, its key unexpired and this is the
 *                 publisher that made it LIVE, else 403, which makes
 *                 nginx-rtmp drop the publisher.
 *   update_play   the ingest's local player (hls_push.sh): always 200.
 *
 * Bodies over 8 KiB are 413, other malformed requests 400, unknown paths
 * 404; nothing here trusts the body beyond its shape.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "streaming.h"

#define HOOK_BODY_MAX 8192
#define HOOK_DB_WAIT_MS 2000

/* One request's body; owned by libmicrohttpd's connection slot. */
typedef struct {
    char body[HOOK_BODY_MAX];
    size_t n;
    bool is_too_big;
} hook_req;

static struct MHD_Daemon *hook_server;

/* The public name of stream `name` (a key or a public name) into out;
 * 0, 1 when no such stream, or DB_E_*. */
static int resolve_name(db_conn *conn, const char *name, char out[STRM_NAME_LEN + 1])
{
    if (strm_name_is_shaped(name)) {
        memcpy(out, name, STRM_NAME_LEN + 1);
        return 0;
    }
    if (!strm_key_is_shaped(name))
        return 1;
    char hash[STRM_HASH_HEX];
    strm_key_hash(name, strlen(name), hash);
    const char *p[] = { hash };
    int rc = 0;
    PGresult *r = db_exec(conn, "hook_by_key", 1, p, &rc);
    if (r == NULL)
        return rc;
    rc = PQntuples(r) > 0 ? 0 : 1;
    if (rc == 0)
        snprintf(out, STRM_NAME_LEN + 1, "%s", db_get_str(r, 0, 1));
    PQclear(r);
    return rc;
}

static hook_verdict on_publish(db_conn *conn, const char *key, const char *client,
                               char public_name[STRM_NAME_LEN + 1])
{
    if (!strm_key_is_shaped(key))
        return HOOK_REFUSE;
    char hash[STRM_HASH_HEX], id[24], now[24];
    strm_key_hash(key, strlen(key), hash);
    const char *p[] = { hash };
    int rc = 0;
    PGresult *r = db_exec(conn, "hook_by_key", 1, p, &rc);
    if (r == NULL)
        return HOOK_ERROR;
    int64_t t = now_us();
    bool ok = PQntuples(r) > 0 && t >= db_get_i64(r, 0, 2) - strm.publish_lead_ms * 1000 &&
              t < db_get_i64(r, 0, 3) && t < db_get_i64(r, 0, 4);
    if (ok) {
        db_i64(id, db_get_i64(r, 0, 0));
        snprintf(public_name, STRM_NAME_LEN + 1, "%s", db_get_str(r, 0, 1));
    }
    PQclear(r);
    if (!ok)
        return HOOK_REFUSE;
    const char *q[] = { id, client, db_i64(now, t) };
    if ((r = db_exec(conn, "hook_live", 3, q, &rc)) == NULL)
        return HOOK_ERROR;
    ok = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return ok ? HOOK_REDIRECT : HOOK_REFUSE;
}

hook_verdict strm_hook_decide(const char *call, const char *name, const char *client,
                              char public_name[STRM_NAME_LEN + 1])
{
    bool is_publish = strcmp(call, "publish") == 0, is_done = strcmp(call, "publish_done") == 0,
         is_update = strcmp(call, "update_publish") == 0;
    if (strcmp(call, "update_play") == 0)
        return HOOK_ALLOW; /* the ingest's own local player (hls_push.sh) */
    if (!is_publish && !is_done && !is_update)
        return HOOK_BAD;
    db_conn *conn = db_pool_get(strm.db, HOOK_DB_WAIT_MS);
    if (conn == NULL)
        return HOOK_ERROR;
    hook_verdict v = HOOK_ALLOW;
    char pub[STRM_NAME_LEN + 1], now[24];
    if (is_publish) {
        v = on_publish(conn, name, client, public_name);
        goto out;
    }
    int rc = resolve_name(conn, name, pub);
    if (rc != 0) {
        v = rc < 0 ? HOOK_ERROR : is_done ? HOOK_ALLOW : HOOK_REFUSE;
        goto out;
    }
    db_i64(now, now_us());
    const char *p[] = { pub, is_done ? client : now, is_done ? now : client };
    PGresult *r = db_exec(conn, is_done ? "hook_ended" : "hook_still_ok", 3, p, &rc);
    if (r == NULL) {
        v = HOOK_ERROR;
        goto out;
    }
    if (is_done && PQntuples(r) > 0)
        mx_add(strm_mx.publish_done, 1);
    v = is_done || PQntuples(r) > 0 ? HOOK_ALLOW : HOOK_REFUSE;
    PQclear(r);
out:
    db_pool_put(strm.db, conn);
    return v;
}

static enum MHD_Result answer(struct MHD_Connection *mc, unsigned status, const char *location)
{
    const char *text = status == 200 ? "ok\n" : status == 302 ? "redirect\n"
                     : status == 403 ? "refused\n" : status == 413 ? "body too large\n"
                     : status == 404 ? "not found\n" : status == 405 ? "method not allowed\n"
                     : status == 503 ? "unavailable\n" : "bad request\n";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (location != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
    enum MHD_Result rc = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* Reads the fields of a complete body and answers it. */
static enum MHD_Result hook_answer(struct MHD_Connection *mc, const hook_req *q)
{
    char call[32], name[256], client[64] = "";
    if (strm_form_get(q->body, q->n, "call", call, sizeof call) < 0 ||
        strm_form_get(q->body, q->n, "name", name, sizeof name) < 0 ||
        strm_form_get(q->body, q->n, "clientid", client, sizeof client) == -2) {
        mx_add(strm_mx.hook_bad, 1);
        return answer(mc, 400, NULL);
    }
    char public_name[STRM_NAME_LEN + 1] = "";
    hook_verdict v = strm_hook_decide(call, name, client, public_name);
    if (strcmp(call, "publish") == 0 && (v == HOOK_REDIRECT || v == HOOK_REFUSE)) {
        mx_add(v == HOOK_REDIRECT ? strm_mx.publish_ok : strm_mx.publish_refused, 1);
        log_info("rtmp publish %s (client %s%s%s)", v == HOOK_REDIRECT ? "accepted" : "refused",
                 client, v == HOOK_REDIRECT ? ", stream " : "", public_name);
    }
    switch (v) {
    case HOOK_ALLOW:
        return answer(mc, 200, NULL);
    case HOOK_REDIRECT:
        return answer(mc, 302, public_name);
    case HOOK_REFUSE:
        return answer(mc, 403, NULL);
    case HOOK_BAD:
        mx_add(strm_mx.hook_bad, 1);
        return answer(mc, 400, NULL);
    default:
        return answer(mc, 503, NULL);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **slot)
{
    (void)cls;
    (void)version;
    hook_req *q = *slot;
    if (q == NULL) {
        *slot = xcalloc(1, sizeof *q);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (q->n + *upload_size > sizeof q->body)
            q->is_too_big = true;
        else {
            memcpy(q->body + q->n, upload, *upload_size);
            q->n += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/rtmp") != 0)
        return answer(mc, 404, NULL);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return answer(mc, 405, NULL);
    if (q->is_too_big) {
        mx_add(strm_mx.hook_bad, 1);
        return answer(mc, 413, NULL);
    }
    return hook_answer(mc, q);
}

static void on_done(void *cls, struct MHD_Connection *mc, void **slot,
                    enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)mc;
    (void)why;
    free(*slot);
    *slot = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    log_warn("rtmp hook http: %s", msg);
}

static int hook_start(void *arg, char *err, size_t errlen)
{
    (void)arg;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)strm.hook_port) };
    inet_pton(AF_INET, strm.hook_bind, &addr.sin_addr); /* checked by strm_config_check */
    hook_server = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)strm.hook_port, NULL, NULL,
        on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, 4u,
        MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (hook_server == NULL) {
        snprintf(err, errlen, "GAVEL_STREAMING_HOOK_PORT=%lld: cannot listen on %s",
                 (long long)strm.hook_port, strm.hook_bind);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(hook_server, MHD_DAEMON_INFO_BIND_PORT);
    log_info("rtmp hook on http://%s:%d/rtmp", strm.hook_bind,
             info != NULL ? info->port : (int)strm.hook_port);
    return 0;
}

static void hook_drain(void *arg, int budget_ms)
{
    (void)arg;
    (void)budget_ms;
    if (hook_server != NULL)
        MHD_quiesce_daemon(hook_server);
}

static void hook_stop(void *arg)
{
    (void)arg;
    if (hook_server != NULL)
        MHD_stop_daemon(hook_server);
    hook_server = NULL;
}

const rpc_listener strm_listeners[] = {
    { .name = "rtmp hook", .start = hook_start, .drain = hook_drain, .stop = hook_stop },
    { 0 },
};
