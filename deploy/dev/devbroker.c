/*
 * gavel-devbroker: the Kafka-protocol broker of the embedded dev stack.
 *
 * It hosts librdkafka's mock cluster (rdkafka_mock.h) on a producer handle
 * that never produces; the mock brokers listen on ephemeral 127.0.0.1 ports
 * and speak enough of the protocol for idempotent producers, consumer
 * groups with committed offsets and topic auto-creation (4 partitions,
 * fixed inside librdkafka). Data lives in memory only and dies with the
 * process.
 *
 * Invariants: the bootstrap file, when asked for, appears only complete
 * (temporary file + rename) and only once every pre-created topic exists,
 * so a reader never sees a half-written address or a missing topic; it is
 * removed on exit if it still holds our address. Signals are blocked
 * before librdkafka starts its threads, so only sig_wait() sees them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "core/core.h"

#define DEFAULT_TOPICS "gavel.users,gavel.wallet,gavel.bids,gavel.auctions"

typedef struct {
    const char *bootstrap_file; /* borrowed from argv; NULL: do not write */
    const char *topics;         /* borrowed: comma-separated list */
    int brokers;
    int partitions;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gavel-devbroker [--bootstrap-file PATH] [--brokers N]\n"
            "                       [--topics a,b,c] [--partitions P]\n"
            "  --bootstrap-file  write the bootstrap address to PATH\n"
            "  --brokers         mock brokers, 1..16 (default 1)\n"
            "  --topics          topics to pre-create (default " DEFAULT_TOPICS ")\n"
            "  --partitions      partitions per pre-created topic, 1..1000 (default 3)\n");
}

/* Parses a decimal integer in [min, max]; returns 0 or -1. */
static int parse_int(const char *s, int min, int max, int *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* Fills o from argv; returns 0, 1 for --help, or -1 (message printed). */
static int parse_opts(int argc, char **argv, opts *o)
{
    static const struct option longopts[] = {
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"brokers", required_argument, NULL, 'b'},
        {"topics", required_argument, NULL, 't'},
        {"partitions", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    *o = (opts){.topics = DEFAULT_TOPICS, .brokers = 1, .partitions = 3};
    while ((ch = getopt_long(argc, argv, "f:b:t:p:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f': o->bootstrap_file = optarg; break;
        case 't': o->topics = optarg; break;
        case 'h': return 1;
        case 'b':
            if (parse_int(optarg, 1, 16, &o->brokers) == 0)
                break;
            fprintf(stderr, "gavel-devbroker: --brokers must be 1..16\n");
            return -1;
        case 'p':
            if (parse_int(optarg, 1, 1000, &o->partitions) == 0)
                break;
            fprintf(stderr, "gavel-devbroker: --partitions must be 1..1000\n");
            return -1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "gavel-devbroker: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* Kafka's own rule: 1..249 characters of [A-Za-z0-9._-], not "." or "..". */
static bool topic_name_ok(const char *t, size_t n)
{
    if (n == 0 || n > 249 || (n == 1 && t[0] == '.') ||
        (n == 2 && t[0] == '.' && t[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Creates every topic of the comma-separated list; returns 0 or -1 (logged).
 * An empty list is allowed: everything is then auto-created. */
static int create_topics(rd_kafka_mock_cluster_t *mc, const opts *o)
{
    int rf = o->brokers < 3 ? o->brokers : 3;
    const char *p = o->topics;
    int rc = 0;

    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        char *name = xstrndup(p, n);
        rd_kafka_resp_err_t err;

        if (n > 0 && !topic_name_ok(p, n)) {
            log_error("invalid topic name '%s'", name);
            rc = -1;
        } else if (n > 0) {
            err = rd_kafka_mock_topic_create(mc, name, o->partitions, rf);
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                log_error("cannot create topic %s: %s", name, rd_kafka_err2str(err));
                rc = -1;
            } else {
                log_info("topic %s created with %d partitions", name, o->partitions);
            }
        }
        free(name);
        if (rc < 0)
            return rc;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Writes `text` + newline to path through path.tmp.<pid> and rename(2), so
 * readers see either the old file or the whole new one. Returns 0 or -1. */
static int write_atomically(const char *path, const char *text)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int rc = -1;

    if (f == NULL) {
        log_error("cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (fprintf(f, "%s\n", text) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        log_error("cannot write %s: %s", tmp, strerror(errno));
        fclose(f);
        goto out_unlink;
    }
    if (fclose(f) != 0) {
        log_error("cannot write %s: %s", tmp, strerror(errno));
        goto out_unlink;
    }
    if (rename(tmp, path) != 0) {
        log_error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto out_unlink;
    }
    rc = 0;
    goto out;
out_unlink:
    unlink(tmp);
out:
    free(tmp);
    return rc;
}

/* Removes path if its first line is still `text` (a newer broker may have
 * replaced it since). */
static void remove_if_ours(const char *path, const char *text)
{
    char line[1024];
    FILE *f = fopen(path, "r");
    bool ours = false;

    if (f == NULL)
        return;
    if (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        ours = strcmp(line, text) == 0;
    }
    fclose(f);
    if (ours && unlink(path) != 0)
        log_warn("cannot remove %s: %s", path, strerror(errno));
}

/* librdkafka logs with syslog(3) levels; <syslog.h> itself cannot be
 * included, its LOG_INFO and LOG_DEBUG macros clash with core's levels.
 * The mock logs client disconnects at LOG_ERR-ish levels and carries on,
 * so everything up to warning is a warning here. */
enum { RDK_LOG_WARNING = 4, RDK_LOG_INFO = 6 };

static void on_kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                         const char *buf)
{
    log_level lvl = level <= RDK_LOG_WARNING ? LOG_WARN
                    : level <= RDK_LOG_INFO    ? LOG_INFO
                                               : LOG_DEBUG;
    (void)rk;
    /* The host handle has no bootstrap.servers on purpose: it only hosts. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers") != NULL)
        lvl = LOG_DEBUG;
    log_msg(lvl, "rdkafka %s: %s", fac, buf);
}

/* The handle that hosts the cluster: a producer that never produces. */
static rd_kafka_t *host_new(void)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    rd_kafka_conf_set_log_cb(conf, on_kafka_log);
    if (rd_kafka_conf_set(conf, "client.id", "gavel-devbroker", err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
        log_error("rdkafka conf: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == NULL) {
        log_error("cannot create the host handle: %s", err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Blocks until SIGTERM or SIGINT; SIGHUP is logged and ignored. */
static int wait_for_stop(void)
{
    for (;;) {
        int sig = sig_wait();

        if (sig != SIGHUP)
            return sig;
        log_info("SIGHUP ignored: the dev broker has nothing to reload");
    }
}

int main(int argc, char **argv)
{
    opts o;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    char *bootstraps = NULL;
    int rc = 1, sig;

    switch (parse_opts(argc, argv, &o)) {
    case 0: break;
    case 1: usage(stdout); return 0;
    default: return 2;
    }
    log_init("devbroker", LOG_INFO);
    sig_block_all();

    if ((rk = host_new()) == NULL)
        goto out;
    if ((mc = rd_kafka_mock_cluster_new(rk, o.brokers)) == NULL) {
        log_error("cannot start a mock cluster of %d brokers", o.brokers);
        goto fail_cluster;
    }
    bootstraps = xstrdup(rd_kafka_mock_cluster_bootstraps(mc));
    if (create_topics(mc, &o) < 0)
        goto fail_ready;
    if (o.bootstrap_file != NULL && write_atomically(o.bootstrap_file, bootstraps) < 0)
        goto fail_ready;
    log_info("dev broker ready: bootstrap=%s brokers=%d bootstrap_file=%s",
             bootstraps, o.brokers, o.bootstrap_file ? o.bootstrap_file : "-");

    sig = wait_for_stop();
    log_info("signal %d: stopping", sig);
    if (o.bootstrap_file != NULL)
        remove_if_ours(o.bootstrap_file, bootstraps);
    rc = 0;
fail_ready:
    rd_kafka_mock_cluster_destroy(mc);
fail_cluster:
    rd_kafka_destroy(rk);
out:
    free(bootstraps);
    return rc;
}
