/*
 * metrics_http_test: the operations port over real HTTP. The server is
 * started on a port the kernel picks and driven with a plain socket
 * client, so these tests see exactly what Prometheus and a load balancer
 * see: status, headers, body. Also: loopback by default, busy port,
 * bad bind address, double start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"

struct http_reply {
    int status;
    char *head;   /* status line and headers */
    char *body;
    char *raw;    /* owns head and body */
};

static void reply_free(struct http_reply *r)
{
    free(r->raw);
}

/* Sends req to host:port, reads until the server closes, splits the reply. */
static struct http_reply http_send(int family, const char *host, int port, const char *req)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t slen;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET6, host, &a->sin6_addr), 1);
        slen = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET, host, &a->sin_addr), 1);
        slen = sizeof *a;
    }
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, slen), 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));

    size_t len = 0, cap = 4096;
    char *buf = xmalloc(cap);
    ssize_t n;
    while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 1024)
            buf = xrealloc(buf, cap *= 2);
    }
    close(fd);
    buf[len] = '\0';

    struct http_reply r = { .raw = buf, .head = buf };
    assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &r.status), 1);
    char *sep = strstr(buf, "\r\n\r\n");
    assert_non_null(sep);
    *sep = '\0';
    r.body = sep + 4;
    return r;
}

static struct http_reply http_get(const char *method, const char *path)
{
    char req[256];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                              "Content-Length: 0\r\n\r\n", method, path);
    return http_send(AF_INET, "127.0.0.1", mx_http_port(), req);
}

/* The value of header `name` in head, copied into out ("" when absent). */
static void header(const struct http_reply *r, const char *name, char *out, size_t len)
{
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            h += n + 1;
            h += strspn(h, " ");
            size_t vlen = strcspn(h, "\r");
            snprintf(out, len, "%.*s", (int)vlen, h);
            return;
        }
    }
}

static bool healthy;
static int health_calls;

static bool check_health(void *arg)
{
    health_calls++;
    return *(bool *)arg;
}

static int start_server(void **state)
{
    (void)state;
    unsetenv("GAVEL_BIND_ADDR");
    healthy = true;
    health_calls = 0;
    return mx_http_start(0, check_health, &healthy);
}

static int stop_server(void **state)
{
    (void)state;
    mx_http_stop();
    return 0;
}

static void test_healthz_follows_the_health_callback(void **state)
{
    (void)state;
    static const struct {
        bool healthy;
        int want_status;
        const char *want_body;
    } cases[] = {
        { .healthy = true, .want_status = 200, .want_body = "ok\n" },
        { .healthy = false, .want_status = 503, .want_body = "unhealthy\n" },
        { .healthy = true, .want_status = 200, .want_body = "ok\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        healthy = cases[i].healthy;
        struct http_reply r = http_get("GET", "/healthz");
        assert_int_equal(r.status, cases[i].want_status);
        assert_string_equal(r.body, cases[i].want_body);
        reply_free(&r);
    }
    assert_int_equal(health_calls, 3);
}

static void test_metrics_serves_the_registry_as_prometheus_text(void **state)
{
    (void)state;
    mx_add(mx_counter("http_test_scrapes_total", "Scrapes seen by the test.", "path=\"/x\""), 7);
    struct http_reply r = http_get("GET", "/metrics");
    assert_int_equal(r.status, 200);
    char type[128];
    header(&r, "Content-Type", type, sizeof type);
    assert_memory_equal(type, "text/plain; version=0.0.4", 25);
    assert_non_null(strstr(r.body, "# HELP http_test_scrapes_total Scrapes seen by the test.\n"
                                   "# TYPE http_test_scrapes_total counter\n"
                                   "http_test_scrapes_total{path=\"/x\"} 7\n"));
    reply_free(&r);
}

static void test_routes_and_methods(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path;
        int want_status;
        const char *want_allow;
    } cases[] = {
        { .method = "GET", .path = "/", .want_status = 404 },
        { .method = "GET", .path = "/metrics/", .want_status = 404 },
        { .method = "GET", .path = "/healthzz", .want_status = 404 },
        { .method = "GET", .path = "/debug/pprof", .want_status = 404 },
        { .method = "POST", .path = "/metrics", .want_status = 405, .want_allow = "GET, HEAD" },
        { .method = "PUT", .path = "/healthz", .want_status = 405, .want_allow = "GET, HEAD" },
        { .method = "DELETE", .path = "/nowhere", .want_status = 405, .want_allow = "GET, HEAD" },
        { .method = "HEAD", .path = "/healthz", .want_status = 200 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_reply r = http_get(cases[i].method, cases[i].path);
        if (r.status != cases[i].want_status)
            fail_msg("%s %s: status %d, want %d", cases[i].method, cases[i].path, r.status,
                     cases[i].want_status);
        char allow[64];
        header(&r, "Allow", allow, sizeof allow);
        assert_string_equal(allow, cases[i].want_allow ? cases[i].want_allow : "");
        if (strcmp(cases[i].method, "HEAD") == 0)
            assert_string_equal(r.body, "");
        reply_free(&r);
    }
}

static void test_post_with_a_body_is_refused(void **state)
{
    (void)state;
    static const char req[] = "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                              "Content-Length: 11\r\n\r\nhello=world";
    struct http_reply r = http_send(AF_INET, "127.0.0.1", mx_http_port(), req);
    assert_int_equal(r.status, 405);
    reply_free(&r);
}

/* The LISTEN socket for port in /proc/net/tcp has local address 127.0.0.1. */
static void test_binds_loopback_by_default(void **state)
{
    (void)state;
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        skip();
    char line[512];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        unsigned addr, lport, st;
        if (sscanf(line, " %*d: %8X:%4X %*8X:%*4X %2X", &addr, &lport, &st) != 3)
            continue;
        if ((int)lport == mx_http_port() && st == 0x0A) {
            assert_int_equal(addr, 0x0100007Fu);
            found = true;
        }
    }
    fclose(f);
    assert_true(found);
}

static void test_second_start_is_refused(void **state)
{
    (void)state;
    int port = mx_http_port();
    assert_int_equal(mx_http_start(0, NULL, NULL), -1);
    assert_int_equal(mx_http_port(), port);
}

/* Starts/stops on their own, without the fixture. */
static void test_busy_port_fails_and_stop_is_idempotent(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);

    unsetenv("GAVEL_BIND_ADDR");
    assert_int_equal(mx_http_start(ntohs(a.sin_port), NULL, NULL), -1);
    assert_int_equal(mx_http_port(), 0);
    close(fd);
    mx_http_stop();
    mx_http_stop();
}

static void test_bad_bind_address_and_port_fail(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        int port;
    } cases[] = {
        { .addr = "localhost", .port = 0 },
        { .addr = "127.0.0.300", .port = 0 },
        { .addr = "127.0.0.1", .port = -1 },
        { .addr = "127.0.0.1", .port = 65536 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("GAVEL_BIND_ADDR", cases[i].addr, 1);
        assert_int_equal(mx_http_start(cases[i].port, NULL, NULL), -1);
        assert_int_equal(mx_http_port(), 0);
    }
    unsetenv("GAVEL_BIND_ADDR");
}

static void test_ipv6_bind_address_serves_without_health_callback(void **state)
{
    (void)state;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    bool has_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&a, sizeof a) == 0;
    if (probe >= 0)
        close(probe);
    if (!has_v6)
        skip();
    setenv("GAVEL_BIND_ADDR", "::1", 1);
    assert_int_equal(mx_http_start(0, NULL, NULL), 0);
    struct http_reply r = http_send(AF_INET6, "::1", mx_http_port(),
                                    "GET /healthz HTTP/1.0\r\n\r\n");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    reply_free(&r);
    mx_http_stop();
    unsetenv("GAVEL_BIND_ADDR");
}

int main(void)
{
    log_init("metrics_http_test", LOG_ERROR);
    sig_block_all();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthz_follows_the_health_callback,
                                        start_server, stop_server),
        cmocka_unit_test_setup_teardown(test_metrics_serves_the_registry_as_prometheus_text,
                                        start_server, stop_server),
        cmocka_unit_test_setup_teardown(test_routes_and_methods, start_server, stop_server),
        cmocka_unit_test_setup_teardown(test_post_with_a_body_is_refused,
                                        start_server, stop_server),
        cmocka_unit_test_setup_teardown(test_binds_loopback_by_default,
                                        start_server, stop_server),
        cmocka_unit_test_setup_teardown(test_second_start_is_refused, start_server, stop_server),
        cmocka_unit_test(test_busy_port_fails_and_stop_is_idempotent),
        cmocka_unit_test(test_bad_bind_address_and_port_fail),
        cmocka_unit_test(test_ipv6_bind_address_serves_without_health_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
