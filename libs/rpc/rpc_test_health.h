/*
 * Test helper for libs/rpc tests: asks the skeleton's gRPC server for
 * grpc.health.v1.Health/Check, as a probe would. Header-only so each test
 * binary gets its own copy; never used by daemons.
 */
#ifndef GAVEL_RPC_TEST_HEALTH_H
#define GAVEL_RPC_TEST_HEALTH_H

#include <stdio.h>

#include "rpc/rpc.h"
#include "rpc/rpc_skel_int.h"
#include "grpc/health/v1/health.pb-c.h"

static const rpc_client_method test_health_check = {
    "/grpc.health.v1.Health/Check", &grpc__health__v1__health__descriptor,
    &grpc__health__v1__health_check_request__descriptor,
    &grpc__health__v1__health_check_response__descriptor
};

/* Health of the whole server on the skeleton's gRPC port: the serving
 * status, or -1 when the call failed. */
static int test_grpc_health(void)
{
    char target[64], err[256];
    snprintf(target, sizeof target, "127.0.0.1:%d", rpc__front_port());
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 2000 };
    ProtobufCMessage *resp = NULL;
    if (rpc_unary(rpc_channel_get(target), &test_health_check, &req.base, &resp, &o, err,
                  sizeof err) != GRPC_STATUS_OK)
        return -1;
    int status = ((Grpc__Health__V1__HealthCheckResponse *)resp)->status;
    protobuf_c_message_free_unpacked(resp, NULL);
    return status;
}

#endif
