/*
 * Method tables and declared calls against protoc-c's service descriptors:
 * a row with a wrong descriptor pair, another service's method, a method
 * that does not exist or a row listed twice fails the check with a message
 * naming the row; a request of the wrong type is refused at the call
 * before anything is sent. Health's names come from the descriptors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rpc/rpc.h"
#include "rpc/rpc_skel_int.h"
#include "gavel/common/v1/common.pb-c.h"
#include "gavel/users/v1/users.pb-c.h"

#define D(t) &gavel__users__v1__##t##__descriptor

static int any(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    (void)c;
    (void)in;
    (void)out;
    return GRPC_STATUS_OK;
}

static const ProtobufCServiceDescriptor *const users_only[] = {
    &gavel__users__v1__users__descriptor, NULL
};
static const ProtobufCServiceDescriptor *const users_and_wallet[] = {
    &gavel__users__v1__users__descriptor, &gavel__users__v1__wallet__descriptor, NULL
};

/* A method table row: its path, request and response. */
#define ROW(path, req, resp) { .name = path, .request = req, .response = resp, .handler = any }

static const rpc_method good[] = {
    ROW("/gavel.users.v1.Users/Login", D(login_request), D(login_response)),
    ROW("/gavel.users.v1.Users/Ping", &gavel__common__v1__ping_request__descriptor,
        &gavel__common__v1__ping_response__descriptor),
    { 0 },
};
static const rpc_method wrong_request[] = {
    ROW("/gavel.users.v1.Users/Login", D(register_request), D(login_response)),
    { 0 },
};
static const rpc_method wrong_response[] = {
    ROW("/gavel.users.v1.Users/Login", D(login_request), D(register_response)),
    { 0 },
};
static const rpc_method unlisted_service[] = {
    ROW("/gavel.users.v1.Wallet/ListHolds", D(list_holds_request), D(list_holds_response)),
    { 0 },
};
static const rpc_method no_such_method[] = {
    ROW("/gavel.users.v1.Users/Logon", D(login_request), D(login_response)),
    { 0 },
};
static const rpc_method bad_name[] = {
    ROW("gavel.users.v1.Users.Login", D(login_request), D(login_response)),
    { 0 },
};
static const rpc_method login_again[] = {
    ROW("/gavel.users.v1.Users/Login", D(login_request), D(login_response)),
    { 0 },
};

static const rpc_client_method list_holds = {
    "/gavel.users.v1.Wallet/ListHolds", &gavel__users__v1__wallet__descriptor,
    D(list_holds_request), D(list_holds_response)
};
static const rpc_client_method list_holds_wrong_pair = {
    "/gavel.users.v1.Wallet/ListHolds", &gavel__users__v1__wallet__descriptor,
    D(get_hold_request), D(list_holds_response)
};
static const rpc_client_method list_holds_wrong_service = {
    "/gavel.users.v1.Wallet/ListHolds", &gavel__users__v1__users__descriptor,
    D(list_holds_request), D(list_holds_response)
};

static void check_case(const rpc_method *table, const rpc_method *second,
                       const ProtobufCServiceDescriptor *const *descriptors,
                       const rpc_client_method *call, const char *want)
{
    const rpc_method *tables[] = { table, second, NULL };
    const rpc_client_method *calls[] = { call, NULL };
    const rpc_service svc = { .name = "users", .tables = tables,
                              .descriptors = descriptors, .calls = calls };
    char err[256] = "";
    int rc = rpc_service_check(&svc, err, sizeof err);
    if (want == NULL) {
        if (rc != 0)
            fail_msg("unexpected refusal: %s", err);
    } else {
        assert_int_equal(rc, -1);
        assert_string_equal(err, want);
    }
}

static void method_rows_are_checked_against_the_service_descriptors(void **state)
{
    (void)state;
    static const struct {
        const rpc_method *table, *second;
        const ProtobufCServiceDescriptor *const *descriptors;
        const rpc_client_method *call;
        const char *want;
    } cases[] = {
        { .table = good, .descriptors = users_only, .call = &list_holds, .want = NULL },
        { .table = wrong_request, .descriptors = users_only,
          .want = "method table row /gavel.users.v1.Users/Login: request is "
                  "gavel.users.v1.RegisterRequest, the service descriptor says "
                  "gavel.users.v1.LoginRequest" },
        { .table = wrong_response, .descriptors = users_only,
          .want = "method table row /gavel.users.v1.Users/Login: response is "
                  "gavel.users.v1.RegisterResponse, the service descriptor says "
                  "gavel.users.v1.LoginResponse" },
        { .table = unlisted_service, .descriptors = users_only,
          .want = "method table row /gavel.users.v1.Wallet/ListHolds: service "
                  "gavel.users.v1.Wallet is not among the service descriptors the daemon "
                  "lists" },
        { .table = unlisted_service, .descriptors = users_and_wallet, .want = NULL },
        { .table = no_such_method, .descriptors = users_only,
          .want = "method table row /gavel.users.v1.Users/Logon: service gavel.users.v1.Users "
                  "has no method Logon" },
        { .table = bad_name, .descriptors = users_only,
          .want = "method table row \"gavel.users.v1.Users.Login\": not a "
                  "/package.Service/Method name" },
        { .table = good, .second = login_again, .descriptors = users_only,
          .want = "method table row /gavel.users.v1.Users/Login: listed twice in the users "
                  "daemon's tables" },
        { .table = good, .descriptors = NULL,
          .want = "method table row /gavel.users.v1.Users/Login: service gavel.users.v1.Users "
                  "is not among the service descriptors the daemon lists" },
        { .table = good, .descriptors = users_only, .call = &list_holds_wrong_pair,
          .want = "client method /gavel.users.v1.Wallet/ListHolds: request is "
                  "gavel.users.v1.GetHoldRequest, the service descriptor says "
                  "gavel.users.v1.ListHoldsRequest" },
        { .table = good, .descriptors = users_only, .call = &list_holds_wrong_service,
          .want = "client method /gavel.users.v1.Wallet/ListHolds: its service descriptor is "
                  "gavel.users.v1.Users" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(cases[i].table, cases[i].second, cases[i].descriptors, cases[i].call,
                   cases[i].want);
}

static void a_request_of_another_type_is_refused_at_the_call(void **state)
{
    (void)state;
    /* Nothing listens on port 1: a call that went out would fail
     * UNAVAILABLE, not INTERNAL. */
    rpc_channel *ch = rpc_channel_get("127.0.0.1:1");
    Gavel__Users__V1__GetHoldRequest wrong = GAVEL__USERS__V1__GET_HOLD_REQUEST__INIT;
    rpc_call_opts o = { .deadline_ms = 200 };
    ProtobufCMessage *resp = NULL;
    char err[256];
    assert_int_equal(rpc_unary(ch, &list_holds, &wrong.base, &resp, &o, err, sizeof err),
                     GRPC_STATUS_INTERNAL);
    assert_null(resp);
    assert_string_equal(err, "/gavel.users.v1.Wallet/ListHolds takes a "
                             "gavel.users.v1.ListHoldsRequest, not a "
                             "gavel.users.v1.GetHoldRequest");
    assert_null(rpc_client_stream_start(ch, &list_holds, &wrong.base, &o, err, sizeof err));
    Gavel__Users__V1__ListHoldsRequest right = GAVEL__USERS__V1__LIST_HOLDS_REQUEST__INIT;
    grpc_status_code st = rpc_unary(ch, &list_holds, &right.base, &resp, &o, err, sizeof err);
    assert_true(st == GRPC_STATUS_UNAVAILABLE || st == GRPC_STATUS_DEADLINE_EXCEEDED);
}

static void health_names_come_from_the_descriptors(void **state)
{
    (void)state;
    static const char *const own[] = { "x.Y", NULL };
    const rpc_service with = { .name = "users", .descriptors = users_and_wallet,
                               .services = own };
    const char **names = rpc__service_names(&with);
    assert_string_equal(names[0], "gavel.users.v1.Users");
    assert_string_equal(names[1], "gavel.users.v1.Wallet");
    assert_null(names[2]);
    free(names);
    const rpc_service without = { .name = "t", .services = own };
    names = rpc__service_names(&without);
    assert_string_equal(names[0], "x.Y");
    assert_null(names[1]);
    free(names);
}

int main(void)
{
    log_init("rpc_descriptors_test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(method_rows_are_checked_against_the_service_descriptors),
        cmocka_unit_test(a_request_of_another_type_is_refused_at_the_call),
        cmocka_unit_test(health_names_come_from_the_descriptors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
