/*
 * The gateway's one listener ("http" in the skeleton's sense): it starts
 * the worker pool and the loop thread, creates the libwebsockets context
 * on that loop (a foreign libuv loop) with the HTTP protocol and the
 * WebSocket one, drains on SIGTERM (no new connections, keep-alive
 * connections closed, requests in flight answered within the budget) and
 * stops (the context destroyed on its loop, every job run to its done
 * callback, the loop ended). The drain also waits for the WebSocket
 * connections, which it closes with 1001, to be gone.
 *
 * Security headers ride on every answer through the vhost's header list,
 * lws's own error pages included; HSTS only when the port speaks TLS. The
 * Content-Security-Policy differs between the API and the web UI's pages,
 * so http.c puts it on each answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "live.h"
#include "loop.h"
#include "request.h"
#include "ws.h"

static struct lws_context *lws_ctx;
static struct lws_protocols protocols[3];

struct lws_context *gw_lws(void)
{
    return lws_ctx;
}

/* Headers on every answer, as an lws option list (built back to front). */
static const struct lws_protocol_vhost_options hdr_hsts = {
    NULL, NULL, "strict-transport-security:", "max-age=31536000; includeSubDomains"
};
static const struct lws_protocol_vhost_options hdr_referrer = {
    NULL, NULL, "referrer-policy:", "no-referrer"
};
static const struct lws_protocol_vhost_options hdr_frame = {
    &hdr_referrer, NULL, "x-frame-options:", "DENY"
};
static const struct lws_protocol_vhost_options hdr_nosniff = {
    &hdr_frame, NULL, "x-content-type-options:", "nosniff"
};

/* An upgrade that names no subprotocol goes to the WebSocket protocol,
 * never to HTTP's. */
static const struct lws_protocol_vhost_options pvo_ws_default = { NULL, NULL, "default", "1" };
static const struct lws_protocol_vhost_options pvo_ws = {
    NULL, &pvo_ws_default, "gavel.v1", ""
};

static void lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        n--;
    if (level & LLL_ERR)
        log_error("libwebsockets: %.*s", (int)n, line);
    else
        log_warn("libwebsockets: %.*s", (int)n, line);
}

static bool is_tls(void)
{
    return gw_cfg.tls_cert[0] != '\0' && gw_cfg.tls_key[0] != '\0';
}

/*
 * Binds and closes a socket on the configured address and port, as
 * libwebsockets will (SO_REUSEADDR), so a port already taken is reported
 * here. libwebsockets 4.1 on a foreign libuv loop cannot be failed safely:
 * a context whose listener did not bind leaves libuv handles behind whose
 * callbacks live in an unloaded event-library plugin. Port 0 asks for none.
 */
static int check_port(char *err, size_t errlen)
{
    if (gw_cfg.port == 0)
        return 0;
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, gw_cfg.bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)gw_cfg.port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, gw_cfg.bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)gw_cfg.port);
        len = sizeof *v6;
    } else {
        snprintf(err, errlen, "GAVEL_GATEWAY_BIND=%s is not an IPv4 or IPv6 address", gw_cfg.bind);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot make a socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    int rc = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rc == 0)
        rc = bind(fd, (struct sockaddr *)&ss, len);
    int saved = errno;
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "cannot serve HTTP on %s:%lld: %s", gw_cfg.bind,
                 (long long)gw_cfg.port, strerror(saved));
        return -1;
    }
    return 0;
}

/* Loop thread. */
static int setup(char *err, size_t errlen)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    protocols[0] = gw_http_protocol;
    protocols[1] = gw_ws_protocol;
    memset(&protocols[2], 0, sizeof protocols[2]);
    void *loops[1] = { gw_loop() };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
    /* libwebsockets 4.1 binds a vhost with IPv6 on to every interface when
     * it is given an IPv4 address: an IPv4 address gets an IPv4 socket. */
    struct in_addr v4;
    if (inet_pton(AF_INET, gw_cfg.bind, &v4) == 1)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.foreign_loops = loops;
    info.pcontext = &lws_ctx;
    info.port = (int)gw_cfg.port;
    info.iface = gw_cfg.bind;
    info.protocols = protocols;
    info.pvo = &pvo_ws;
    info.retry_and_idle_policy = gw_ws_idle_policy();
    info.headers = &hdr_nosniff;
    info.timeout_secs = (unsigned)gw_cfg.io_timeout_s;
    info.keepalive_timeout = (int)gw_cfg.keepalive_s;
    info.max_http_header_data = (unsigned short)(gw_cfg.max_header > 65535 ? 65535
                                                                            : gw_cfg.max_header);
    info.max_http_header_data2 = (unsigned)gw_cfg.max_header;
    if (is_tls()) {
        static struct lws_protocol_vhost_options referrer_tls, frame_tls, nosniff_tls;
        referrer_tls = hdr_referrer;
        referrer_tls.next = &hdr_hsts;
        frame_tls = hdr_frame;
        frame_tls.next = &referrer_tls;
        nosniff_tls = hdr_nosniff;
        nosniff_tls.next = &frame_tls;
        info.headers = &nosniff_tls;
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = gw_cfg.tls_cert;
        info.ssl_private_key_filepath = gw_cfg.tls_key;
    }
    lws_ctx = lws_create_context(&info);
    /* On a foreign loop, libwebsockets 4.1 hands back a context whose
     * listener failed to bind (a port taken since check_port). It cannot
     * be destroyed safely (see check_port): report it and leave it. */
    struct lws_vhost *vh = lws_ctx != NULL ? lws_get_vhost_by_name(lws_ctx, "default") : NULL;
    if (lws_ctx != NULL && (vh == NULL || lws_get_vhost_listen_port(vh) <= 0))
        lws_ctx = NULL;
    if (lws_ctx == NULL) {
        snprintf(err, errlen, "cannot serve HTTP on %s:%lld (port taken, bad address%s?)",
                 gw_cfg.bind, (long long)gw_cfg.port, is_tls() ? " or TLS files" : "");
        return -1;
    }
    if (gw_ws_start(err, errlen) < 0) {
        lws_context_destroy(lws_ctx);
        return -1;
    }
    if (gw_live_start(err, errlen) < 0) {
        gw_ws_stop();
        lws_context_destroy(lws_ctx);
        return -1;
    }
    return 0;
}

/* Loop thread. */
static void teardown(void)
{
    gw_ws_stop();
    lws_context_destroy(lws_ctx);
    gw_live_stop();
}

static int check_tls_files(char *err, size_t errlen)
{
    bool has_cert = gw_cfg.tls_cert[0] != '\0', has_key = gw_cfg.tls_key[0] != '\0';
    if (has_cert != has_key) {
        snprintf(err, errlen, "GAVEL_GATEWAY_TLS_CERT and GAVEL_GATEWAY_TLS_KEY go together");
        return -1;
    }
    if (has_cert && access(gw_cfg.tls_cert, R_OK) != 0) {
        snprintf(err, errlen, "GAVEL_GATEWAY_TLS_CERT=%s cannot be read", gw_cfg.tls_cert);
        return -1;
    }
    if (has_key && access(gw_cfg.tls_key, R_OK) != 0) {
        snprintf(err, errlen, "GAVEL_GATEWAY_TLS_KEY=%s cannot be read", gw_cfg.tls_key);
        return -1;
    }
    return 0;
}

static int http_start(void *arg, char *err, size_t errlen)
{
    (void)arg;
    if (check_tls_files(err, errlen) < 0 || check_port(err, errlen) < 0)
        return -1;
    const gw_pool_size sizes[GW_JOB_CLASSES] = {
        [GW_JOB_NORMAL] = { (int)gw_cfg.workers, (int)gw_cfg.queue },
        [GW_JOB_AUTH] = { (int)gw_cfg.auth_workers, (int)gw_cfg.auth_queue },
    };
    if (gw_loop_start(sizes, setup, err, errlen) < 0)
        return -1;
    log_info("serving HTTP%s on %s:%lld", is_tls() ? "S" : "", gw_cfg.bind,
             (long long)gw_cfg.port);
    return 0;
}

static void drain_on_loop(void *arg)
{
    (void)arg;
    if (lws_ctx != NULL)
        lws_context_deprecate(lws_ctx, NULL);
    gw_http_drain();
    gw_ws_drain();
}

/* Its own thread: stop taking connections, then wait for the requests in
 * flight to be answered, at most budget_ms. */
static void http_drain(void *arg, int budget_ms)
{
    (void)arg;
    int64_t until = mono_us() + (int64_t)budget_ms * 1000;
    gw_post(drain_on_loop, NULL);
    while ((gw_http_in_flight() > 0 || gw_ws_open() > 0) && mono_us() < until) {
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    int left = gw_http_in_flight();
    if (left > 0)
        log_warn("drain: %d HTTP requests still unanswered after %d ms", left, budget_ms);
    if (gw_ws_open() > 0)
        log_warn("drain: %d WebSocket connections still open after %d ms", gw_ws_open(),
                 budget_ms);
}

static void http_stop(void *arg)
{
    (void)arg;
    gw_loop_stop(teardown);
    if (lws_ctx != NULL) /* finishes what the loop left of the destroy */
        lws_context_destroy(lws_ctx);
    lws_ctx = NULL;
}

const rpc_listener gw_listeners[] = {
    { "http", http_start, http_drain, http_stop, NULL },
    { 0 },
};
