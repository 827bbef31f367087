/*
 * metrics_http: the daemon's operations port, served by libmicrohttpd from
 * its own internal thread. GET /metrics returns the registry in Prometheus
 * text format, GET /healthz asks the daemon's health callback; anything
 * else is 404, any method other than GET (or HEAD, which HTTP requires to
 * behave like GET) is 405. It binds 127.0.0.1 unless GAVEL_BIND_ADDR names
 * another address, so a metrics port is never exposed by accident.
 *
 * One server per process. mx_http_start() and mx_http_stop() are meant
 * for the main thread; the health callback runs on the server's thread.
 * Connections are capped and time out, since a scraper that stalls must
 * not pin the daemon's memory.
 */
#include "core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define MX_HTTP_MAX_CONNS 32
#define MX_HTTP_TIMEOUT_S 10

static struct MHD_Daemon *server;
static int server_port;
static bool (*health_fn)(void *arg);
static void *health_arg;

#define TEXT_PLAIN "text/plain; charset=utf-8"

/* Queues body; must_free hands a malloc'd body to libmicrohttpd. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *type, char *body, bool must_free)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, TEXT_PLAIN, "method not allowed\n", false);
    if (strcmp(url, "/metrics") == 0)
        return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                     mx_render(), true);
    if (strcmp(url, "/healthz") == 0) {
        bool ok = !health_fn || health_fn(health_arg);
        return ok ? reply(conn, MHD_HTTP_OK, TEXT_PLAIN, "ok\n", false)
                  : reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT_PLAIN, "unhealthy\n", false);
    }
    return reply(conn, MHD_HTTP_NOT_FOUND, TEXT_PLAIN, "not found\n", false);
}

/* libmicrohttpd's own diagnostics become warn-level log lines. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_warn("metrics http: %s", msg);
}

/* Fills addr from GAVEL_BIND_ADDR; returns 0, or -1 for a bad address. */
static int bind_addr(int port, struct sockaddr_storage *addr, unsigned *flags)
{
    const char *host = cfg_str("GAVEL_BIND_ADDR", "127.0.0.1");
    struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

    memset(addr, 0, sizeof *addr);
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *flags |= MHD_USE_IPv6;
        return 0;
    }
    log_error("metrics http: GAVEL_BIND_ADDR=%.64s is not an IPv4 or IPv6 address", host);
    return -1;
}

int mx_http_start(int port, bool (*health)(void *arg), void *arg)
{
    if (server) {
        log_error("metrics http: already serving on port %d", server_port);
        return -1;
    }
    if (port < 0 || port > 65535) {
        log_error("metrics http: port %d is out of range (allowed 0..65535)", port);
        return -1;
    }
    struct sockaddr_storage addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (bind_addr(port, &addr, &flags) < 0)
        return -1;
    health_fn = health;
    health_arg = arg;
    server = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, NULL,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)MX_HTTP_MAX_CONNS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MX_HTTP_TIMEOUT_S,
                              MHD_OPTION_END);
    if (!server) {
        int err = errno;
        log_error("metrics http: cannot listen on %s port %d: %s",
                  cfg_str("GAVEL_BIND_ADDR", "127.0.0.1"), port, strerror(err));
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server, MHD_DAEMON_INFO_BIND_PORT);
    server_port = info ? info->port : port;
    return 0;
}

int mx_http_port(void)
{
    return server ? server_port : 0;
}

void mx_http_stop(void)
{
    if (!server)
        return;
    MHD_stop_daemon(server);
    server = NULL;
    server_port = 0;
    health_fn = NULL;
    health_arg = NULL;
}
