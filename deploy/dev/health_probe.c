/*
 * gavel-health: asks a daemon's grpc.health.v1.Health/Check and prints the
 * answer, for scripts and people ("is users up?").
 *
 *   gavel-health HOST:PORT [SERVICE]   -> prints SERVING / NOT_SERVING …
 *
 * Exit status: 0 when SERVING, 1 otherwise, 2 on usage errors.
 */
#include <stdio.h>

#include "rpc/rpc.h"
#include "grpc/health/v1/health.pb-c.h"

static const rpc_client_method health_check = {
    "/grpc.health.v1.Health/Check", &grpc__health__v1__health__descriptor,
    &grpc__health__v1__health_check_request__descriptor,
    &grpc__health__v1__health_check_response__descriptor
};

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gavel-health HOST:PORT [SERVICE]\n");
        return 2;
    }
    log_init("health", LOG_ERROR);
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = argc == 3 ? argv[2] : "";
    rpc_call_opts o = { .deadline_ms = 3000 };
    ProtobufCMessage *resp = NULL;
    char err[256];
    grpc_status_code st = rpc_unary(rpc_channel_get(argv[1]), &health_check, &req.base, &resp,
                                    &o, err, sizeof err);
    if (st != GRPC_STATUS_OK) {
        printf("UNREACHABLE (status %d: %s)\n", st, err);
        return 1;
    }
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &grpc__health__v1__health_check_response__serving_status__descriptor,
        ((Grpc__Health__V1__HealthCheckResponse *)resp)->status);
    bool serving = ((Grpc__Health__V1__HealthCheckResponse *)resp)->status ==
                   GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    printf("%s\n", v != NULL ? v->name : "UNKNOWN");
    protobuf_c_message_free_unpacked(resp, NULL);
    return serving ? 0 : 1;
}
