/*
 * Built-in methods every daemon answers: grpc.health.v1.Health/Check (so
 * load balancers and probes can ask) and the Ping echo used to measure the
 * runtime. Health is SERVING while the server runs and is not draining and
 * the daemon's own readiness check agrees.
 */
#include <stdio.h>
#include <string.h>

#include "rpc/rpc_int.h"
#include "gavel/common/v1/common.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"

static int health_check(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)in;
    const rpc_service *svc = c->srv->svc;
    bool known = req->service[0] == '\0';
    for (const char *const *n = svc->services; !known && n != NULL && *n != NULL; n++)
        known = strcmp(*n, req->service) == 0;
    if (!known)
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "unknown service %s", req->service);
    Grpc__Health__V1__HealthCheckResponse *resp =
        (void *)rpc_new(c, &grpc__health__v1__health_check_response__descriptor);
    bool ok = atomic_load(&c->srv->serving) &&
              (svc->is_healthy == NULL || svc->is_healthy());
    resp->status = ok ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                      : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

const rpc_method rpc__health_methods[] = {
    { "/grpc.health.v1.Health/Check", &grpc__health__v1__health_check_request__descriptor,
      &grpc__health__v1__health_check_response__descriptor, health_check, RPC_PUBLIC,
      RPC_IDEMPOTENT, 1000, RPC_CLASS_INLINE, 0 },
    { 0 },
};

int rpc_ping(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Common__V1__PingRequest *req = (const void *)in;
    if (req->payload.len > 64 * 1024)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "payload is %zu bytes; at most 65536 allowed", req->payload.len);
    Gavel__Common__V1__PingResponse *resp =
        (void *)rpc_new(c, &gavel__common__v1__ping_response__descriptor);
    resp->payload = req->payload; /* borrowed from the request, same lifetime */
    resp->server_time_us = now_us();
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
