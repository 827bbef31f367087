/*
 * Start-up and shut-down of the streaming daemon's own parts: its
 * settings, its series and the loopback HTTP hook nginx-rtmp calls. The
 * skeleton opens and migrates the database before post_init and starts the
 * hook (a listener) once gRPC listens; the hook stops before the pool
 * closes.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "streaming.h"

strm_state strm;
strm_metric_set strm_mx;

const cfg_entry strm_config[] = {
    { "GAVEL_STREAMING_INGEST_URL", "rtmp://127.0.0.1:50985/live", CFG_STR, &strm.ingest_url,
      0, 0, "the RTMP ingest encoders publish to (shown with every key; publish to "
            "<url>/<stream key>)" },
    { "GAVEL_STREAMING_LIVE_DIR", ".run/live", CFG_STR, &strm.live_dir, 0, 0,
      "the directory the ingest writes <name>/index.m3u8 into (read for the latency)" },
    { "GAVEL_STREAMING_CONTROL_URL", "http://127.0.0.1:50988/control", CFG_STR,
      &strm.control_url, 0, 0,
      "nginx-rtmp's control module (drops a publisher whose key was revoked or rotated); "
      "\"off\" for none" },
    { "GAVEL_STREAMING_HOOK_BIND", "127.0.0.1", CFG_STR, &strm.hook_bind, 0, 0,
      "IPv4 address the callback hook listens on: loopback beside nginx; a container "
      "network's address only where the ingest runs in a container of its own" },
    { "GAVEL_STREAMING_HOOK_PORT", "50986", CFG_INT, &strm.hook_port, 0, 65535,
      "loopback HTTP port of nginx-rtmp's on_publish/on_publish_done/on_update callbacks "
      "(0: any free port)" },
    { "GAVEL_STREAMING_SEGMENT_MS", "1000", CFG_INT, &strm.segment_ms, 100, 60000,
      "the ingest's target HLS segment duration (reported as Stream.segment_ms)" },
    { "GAVEL_STREAMING_PUBLISH_LEAD_MS", "3600000", CFG_INT, &strm.publish_lead_ms, 0,
      86400000, "how long before scheduled_start_us a key may publish" },
    { 0 },
};

const mx_entry strm_metrics[] = {
    { "gavel_streaming_publish_total", mx_counter, "nginx-rtmp on_publish callbacks.",
      "result=\"accepted\"", &strm_mx.publish_ok },
    { "gavel_streaming_publish_total", mx_counter, "nginx-rtmp on_publish callbacks.",
      "result=\"refused\"", &strm_mx.publish_refused },
    { "gavel_streaming_publish_done_total", mx_counter, "Publishers that stopped.", NULL,
      &strm_mx.publish_done },
    { "gavel_streaming_hook_bad_requests_total", mx_counter,
      "Malformed or oversized callback requests (answered 4xx).", NULL, &strm_mx.hook_bad },
    { "gavel_streaming_drops_total", mx_counter,
      "Publishers dropped because their key was revoked or rotated.", "result=\"ok\"",
      &strm_mx.drops },
    { "gavel_streaming_drops_total", mx_counter,
      "Publishers dropped because their key was revoked or rotated.", "result=\"error\"",
      &strm_mx.drop_errors },
    { "gavel_streaming_keys_issued_total", mx_counter, "Stream keys created or rotated.", NULL,
      &strm_mx.keys_issued },
    { 0 },
};

int strm_config_check(char *err, size_t errlen)
{
    if (strncmp(strm.ingest_url, "rtmp://", 7) != 0 && strncmp(strm.ingest_url, "rtmps://", 8) != 0) {
        snprintf(err, errlen, "GAVEL_STREAMING_INGEST_URL=%s must start with rtmp:// or rtmps://",
                 strm.ingest_url);
        return -1;
    }
    struct in_addr a;
    if (inet_pton(AF_INET, strm.hook_bind, &a) != 1) {
        snprintf(err, errlen, "GAVEL_STREAMING_HOOK_BIND=%s is not an IPv4 address",
                 strm.hook_bind);
        return -1;
    }
    if (strcmp(strm.control_url, "off") != 0 && strncmp(strm.control_url, "http://", 7) != 0) {
        snprintf(err, errlen, "GAVEL_STREAMING_CONTROL_URL=%s must be an http:// URL or off",
                 strm.control_url);
        return -1;
    }
    return 0;
}

int strm_post_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl_global_init failed");
        return -1;
    }
    return 0;
}

void strm_pre_exit(void)
{
    curl_global_cleanup();
}

bool strm_is_healthy(void)
{
    return strm.db != NULL;
}
