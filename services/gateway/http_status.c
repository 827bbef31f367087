/*
 * What a gRPC status means over HTTP, in one table: the HTTP status, and
 * the lower-case word the error body's "code" carries. The map is the
 * issue's: INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED
 * 403, NOT_FOUND 404, ALREADY_EXISTS/ABORTED/FAILED_PRECONDITION 409,
 * RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, DEADLINE_EXCEEDED 504; of the
 * statuses it does not name OUT_OF_RANGE is the client's (400), CANCELLED
 * means the client went away (499), UNIMPLEMENTED is 501 and the rest are
 * server faults (500).
 */
#include <stdbool.h>
#include <string.h>

#include <grpc/status.h>

#include "http.h"

static const struct {
    int http;
    const char *word;
} grpc_map[] = {
    [GRPC_STATUS_OK] = { 200, "ok" },
    [GRPC_STATUS_CANCELLED] = { 499, "cancelled" },
    [GRPC_STATUS_UNKNOWN] = { 500, "unknown" },
    [GRPC_STATUS_INVALID_ARGUMENT] = { 400, "invalid_argument" },
    [GRPC_STATUS_DEADLINE_EXCEEDED] = { 504, "deadline_exceeded" },
    [GRPC_STATUS_NOT_FOUND] = { 404, "not_found" },
    [GRPC_STATUS_ALREADY_EXISTS] = { 409, "already_exists" },
    [GRPC_STATUS_PERMISSION_DENIED] = { 403, "permission_denied" },
    [GRPC_STATUS_RESOURCE_EXHAUSTED] = { 429, "resource_exhausted" },
    [GRPC_STATUS_FAILED_PRECONDITION] = { 409, "failed_precondition" },
    [GRPC_STATUS_ABORTED] = { 409, "aborted" },
    [GRPC_STATUS_OUT_OF_RANGE] = { 400, "out_of_range" },
    [GRPC_STATUS_UNIMPLEMENTED] = { 501, "unimplemented" },
    [GRPC_STATUS_INTERNAL] = { 500, "internal" },
    [GRPC_STATUS_UNAVAILABLE] = { 503, "unavailable" },
    [GRPC_STATUS_DATA_LOSS] = { 500, "data_loss" },
    [GRPC_STATUS_UNAUTHENTICATED] = { 401, "unauthenticated" },
};

#define NCODES ((int)(sizeof grpc_map / sizeof grpc_map[0]))

int gw_http_status(int grpc_code)
{
    return grpc_code >= 0 && grpc_code < NCODES ? grpc_map[grpc_code].http : 500;
}

const char *gw_grpc_code_name(int grpc_code)
{
    return grpc_code >= 0 && grpc_code < NCODES ? grpc_map[grpc_code].word : "internal";
}

bool gw_is_insufficient_funds(int grpc_code, const char *message)
{
    static const char prefix[] = "insufficient funds";
    return grpc_code == GRPC_STATUS_RESOURCE_EXHAUSTED && message != NULL &&
           strncmp(message, prefix, sizeof prefix - 1) == 0;
}
