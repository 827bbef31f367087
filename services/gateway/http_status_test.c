/*
 * The gRPC status -> HTTP status map, status by status, as the issue
 * gives it, and its words for the error body.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <grpc/status.h>

#include "http.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void every_grpc_status_has_its_http_status(void **state)
{
    (void)state;
    static const struct {
        int grpc;
        int want;
        const char *word;
    } cases[] = {
        { GRPC_STATUS_OK, 200, "ok" },
        { GRPC_STATUS_CANCELLED, 499, "cancelled" },
        { GRPC_STATUS_UNKNOWN, 500, "unknown" },
        { GRPC_STATUS_INVALID_ARGUMENT, 400, "invalid_argument" },
        { GRPC_STATUS_DEADLINE_EXCEEDED, 504, "deadline_exceeded" },
        { GRPC_STATUS_NOT_FOUND, 404, "not_found" },
        { GRPC_STATUS_ALREADY_EXISTS, 409, "already_exists" },
        { GRPC_STATUS_PERMISSION_DENIED, 403, "permission_denied" },
        { GRPC_STATUS_RESOURCE_EXHAUSTED, 429, "resource_exhausted" },
        { GRPC_STATUS_FAILED_PRECONDITION, 409, "failed_precondition" },
        { GRPC_STATUS_ABORTED, 409, "aborted" },
        { GRPC_STATUS_OUT_OF_RANGE, 400, "out_of_range" },
        { GRPC_STATUS_UNIMPLEMENTED, 501, "unimplemented" },
        { GRPC_STATUS_INTERNAL, 500, "internal" },
        { GRPC_STATUS_UNAVAILABLE, 503, "unavailable" },
        { GRPC_STATUS_DATA_LOSS, 500, "data_loss" },
        { GRPC_STATUS_UNAUTHENTICATED, 401, "unauthenticated" },
        { -1, 500, "internal" },
        { 17, 500, "internal" },
        { 1000, 500, "internal" },
    };
    for (size_t i = 0; i < N(cases); i++) {
        assert_int_equal(gw_http_status(cases[i].grpc), cases[i].want);
        assert_string_equal(gw_grpc_code_name(cases[i].grpc), cases[i].word);
    }
}

static void insufficient_funds_is_told_apart_from_a_rate_limit(void **state)
{
    (void)state;
    assert_true(gw_is_insufficient_funds(GRPC_STATUS_RESOURCE_EXHAUSTED,
                                         "insufficient funds: available 0 RUB, requested 100"));
    assert_false(gw_is_insufficient_funds(GRPC_STATUS_RESOURCE_EXHAUSTED,
                                          "too many write requests; retry in 1 s"));
    assert_false(gw_is_insufficient_funds(GRPC_STATUS_RESOURCE_EXHAUSTED, NULL));
    assert_false(gw_is_insufficient_funds(GRPC_STATUS_FAILED_PRECONDITION,
                                          "insufficient funds: available 0 RUB"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_grpc_status_has_its_http_status),
        cmocka_unit_test(insufficient_funds_is_told_apart_from_a_rate_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
