/*
 * gavel-streaming: the live video of venue sessions. Staff create a stream
 * for a session's window and get its key once; nginx-rtmp asks this daemon
 * over loopback HTTP whether a publisher's key is good and reports when it
 * stops; bidders read the stream's status, playback URL, viewers and
 * latency. The skeleton in libs/rpc does the serving; this file names the
 * surface.
 */
#include "streaming.h"
#include "idem/idem.h"

static const rpc_method *const tables[] = { strm_methods, NULL };
static const ProtobufCServiceDescriptor *const descriptors[] = {
    &gavel__streaming__v1__streaming__descriptor, NULL
};

static const rpc_migrations migrations[] = {
    { "idem", idem_migrations }, { "streaming", streaming_migrations }, { 0 }
};

static const rpc_service streaming_service = {
    .name = "streaming",
    .addr_env = "GAVEL_STREAMING_ADDR",
    .default_addr = "127.0.0.1:50057",
    .default_metrics_port = 9107,
    .tables = tables,
    .descriptors = descriptors,
    .config = strm_config,
    .db = { .name = "gavel_streaming", .pool_default = 8, .pool_min = 2, .pool_max = 256,
            .stmts = strm_stmts, .migrations = migrations, .pool = &strm.db },
    .metrics = strm_metrics,
    .listeners = strm_listeners,
    .config_check = strm_config_check,
    .post_init = strm_post_init,
    .pre_exit = strm_pre_exit,
    .is_healthy = strm_is_healthy,
};

int main(int argc, char **argv)
{
    return rpc_server_main(&streaming_service, argc, argv);
}
