/*
 * gavel-bench notif-skip / notif-listen: the notifications section of
 * make bench (tests/bench/notifications.sh).
 *
 *   gavel-bench notif-skip BOOTSTRAP GROUP TOPIC[,TOPIC...]
 *       commits the end of every partition of the topics as GROUP's
 *       offsets, so a daemon of that group starting next reads only what
 *       is produced from now on (the bid events of earlier sections are
 *       not measured again)
 *   gavel-bench notif-listen REDIS_ADDR MAX_SECONDS IDLE_MS READY_FILE
 *       PSUBSCRIBEs gavel:user:* and counts every realtime message until
 *       IDLE_MS pass without one after the first (or MAX_SECONDS in all);
 *       touches READY_FILE once subscribed. For every message it takes the
 *       notification's createdAtUs (the commit time of the event that made
 *       it) from the receive time: the latency of the whole way from the
 *       bid's commit to the user's channel. Prints
 *       messages=… outbid=… span_s=… msgs_per_s=… p50_ms=… p99_ms=… p999_ms=…
 *       (latencies of the OUTBID messages; span from first to last message)
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/time.h>

#include "bench.h"
#include "core/core.h"

enum { META_TIMEOUT_MS = 10000 };

static int run_skip(const char *bootstrap, const char *group, const char *topics)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) != 0 ||
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) != 0 ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) != 0) {
        fprintf(stderr, "notif-skip: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL) {
        fprintf(stderr, "notif-skip: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(16);
    char *list = xstrdup(topics), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(list, ",", &save); t != NULL && rc == 0;
         t = strtok_r(NULL, ",", &save)) {
        rd_kafka_topic_t *kt = rd_kafka_topic_new(rk, t, NULL);
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, kt, &md, META_TIMEOUT_MS);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1) {
            fprintf(stderr, "notif-skip: metadata of %s: %s\n", t, rd_kafka_err2str(e));
            rc = 1;
        }
        for (int p = 0; rc == 0 && p < md->topics[0].partition_cnt; p++) {
            int32_t part = md->topics[0].partitions[p].id;
            int64_t lo = 0, hi = 0;
            e = rd_kafka_query_watermark_offsets(rk, t, part, &lo, &hi, META_TIMEOUT_MS);
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
                fprintf(stderr, "notif-skip: %s[%d]: %s\n", t, part, rd_kafka_err2str(e));
                rc = 1;
                break;
            }
            rd_kafka_topic_partition_list_add(offs, t, part)->offset = hi;
        }
        if (md != NULL)
            rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(kt);
    }
    free(list);
    if (rc == 0) {
        rd_kafka_resp_err_t e = rd_kafka_commit(rk, offs, 0);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "notif-skip: commit: %s\n", rd_kafka_err2str(e));
            rc = 1;
        } else {
            int64_t total = 0;
            for (int i = 0; i < offs->cnt; i++)
                total += offs->elems[i].offset;
            printf("partitions=%d skipped=%lld\n", offs->cnt, (long long)total);
        }
    }
    rd_kafka_topic_partition_list_destroy(offs);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* One pmessage: counts it; an OUTBID's latency goes to s. */
static void take(const redisReply *r, samples *s, int64_t *messages, int64_t recv_us)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
        r->element[3]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "pmessage") != 0)
        return;
    (*messages)++;
    json_error_t jerr;
    json_t *msg = json_loadb(r->element[3]->str, r->element[3]->len, 0, &jerr);
    json_t *n = json_object_get(msg, "notification");
    const char *kind = json_string_value(json_object_get(n, "kind"));
    const char *at = json_string_value(json_object_get(n, "createdAtUs"));
    if (kind != NULL && at != NULL && strstr(kind, "OUTBID") != NULL)
        sample_add(s, recv_us - strtoll(at, NULL, 10));
    else if (kind == NULL || at == NULL)
        s->errors++;
    json_decref(msg);
}

static int run_listen(const char *addr, int max_s, int idle_ms, const char *ready)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host) {
        fprintf(stderr, "notif-listen: REDIS_ADDR is host:port\n");
        return 2;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    redisContext *rc = redisConnect(host, arg_int(colon + 1));
    if (rc == NULL || rc->err) {
        fprintf(stderr, "notif-listen: redis %s: %s\n", addr, rc ? rc->errstr : "no memory");
        redisFree(rc);
        return 1;
    }
    redisReply *r = redisCommand(rc, "PSUBSCRIBE gavel:user:*");
    if (r == NULL) {
        fprintf(stderr, "notif-listen: PSUBSCRIBE: %s\n", rc->errstr);
        redisFree(rc);
        return 1;
    }
    freeReplyObject(r);
    FILE *f = fopen(ready, "w");
    if (f != NULL)
        fclose(f);
    samples s = { 0 };
    int64_t messages = 0, first = 0, last = 0, start = mono_us();
    bool broken = false;
    while (!broken) {
        /* Every reply already read, then wait at most 100 ms for more. */
        void *reply = NULL;
        while (redisGetReplyFromReader(rc, &reply) == REDIS_OK && reply != NULL) {
            take(reply, &s, &messages, wall_us());
            freeReplyObject(reply);
            reply = NULL;
            if (first == 0)
                first = mono_us();
            last = mono_us();
        }
        struct pollfd pfd = { .fd = rc->fd, .events = POLLIN };
        if (poll(&pfd, 1, 100) > 0 && redisBufferRead(rc) != REDIS_OK) {
            fprintf(stderr, "notif-listen: %s\n", rc->errstr);
            broken = true;
        }
        int64_t now = mono_us();
        if (now - start > (int64_t)max_s * 1000000)
            break;
        if (first != 0 && now - last > (int64_t)idle_ms * 1000)
            break;
    }
    double span = first != 0 && last > first ? (double)(last - first) / 1e6 : 0;
    int64_t outbid = (int64_t)s.n, bad = s.errors;
    printf("messages=%lld outbid=%lld unreadable=%lld span_s=%.2f msgs_per_s=%.0f "
           "p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f\n",
           (long long)messages, (long long)outbid, (long long)bad, span,
           span > 0 ? (double)messages / span : 0, sample_quantile_ms(&s, 0.50),
           sample_quantile_ms(&s, 0.99), sample_quantile_ms(&s, 0.999));
    free(s.v);
    redisFree(rc);
    return 0;
}

int run_notif(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "notif-skip") == 0)
        return run_skip(argv[2], argv[3], argv[4]);
    if (argc == 6 && strcmp(argv[1], "notif-listen") == 0)
        return run_listen(argv[2], arg_int(argv[3]), arg_int(argv[4]), argv[5]);
    fprintf(stderr, "usage: gavel-bench notif-skip BOOTSTRAP GROUP TOPIC[,TOPIC...]\n"
                    "       gavel-bench notif-listen REDIS_ADDR MAX_SECONDS IDLE_MS READY_FILE\n");
    return 2;
}
