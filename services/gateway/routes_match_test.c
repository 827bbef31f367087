/*
 * The route table at run time: it passes its own start-up checks, every
 * path finds its row (a literal segment beating a parameter), a known
 * path with another method gets the path's Allow list, an unknown path
 * none, and path parameters come back in template order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "routes.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int setup(void **state)
{
    (void)state;
    char err[256] = "";
    int rc = gw_routes_init(err, sizeof err);
    if (rc != 0)
        print_error("gw_routes_init: %s\n", err);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    gw_routes_free();
    return 0;
}

static void paths_find_their_rows(void **state)
{
    (void)state;
    static const struct {
        gw_method method;
        const char *path;
        const char *want_tmpl;      /* NULL: no row */
        const char *want_allow;     /* when no row: the Allow list, or NULL for 404 */
        const char *want_params[2];
    } cases[] = {
        { .method = GW_GET, .path = "/api/v1/lots/42", .want_tmpl = "/api/v1/lots/{lot_id}",
          .want_params = { "42" } },
        { .method = GW_POST, .path = "/api/v1/lots/search", .want_tmpl = "/api/v1/lots/search" },
        { .method = GW_GET, .path = "/api/v1/lots/search", .want_allow = "POST, OPTIONS" },
        { .method = GW_POST, .path = "/api/v1/lots/7/bids",
          .want_tmpl = "/api/v1/lots/{lot_id}/bids", .want_params = { "7" } },
        { .method = GW_GET, .path = "/api/v1/lots/7/bids",
          .want_tmpl = "/api/v1/lots/{lot_id}/bids", .want_params = { "7" } },
        { .method = GW_HEAD, .path = "/api/v1/lots/7/state",
          .want_tmpl = "/api/v1/lots/{lot_id}/state", .want_params = { "7" } },
        { .method = GW_DELETE, .path = "/api/v1/lots/7", .want_allow = "GET, PATCH, HEAD, OPTIONS" },
        { .method = GW_PUT, .path = "/api/v1/lots/7/autobid",
          .want_tmpl = "/api/v1/lots/{lot_id}/autobid", .want_params = { "7" } },
        { .method = GW_POST, .path = "/api/v1/users/9/wallet/deposits",
          .want_tmpl = "/api/v1/users/{user_id}/wallet/deposits", .want_params = { "9" } },
        { .method = GW_GET, .path = "/api/v1/me", .want_tmpl = "/api/v1/me" },
        { .method = GW_GET, .path = "/api/v1/me/", .want_tmpl = "/api/v1/me" },
        { .method = GW_GET, .path = "//api//v1/me", .want_tmpl = "/api/v1/me" },
        { .method = GW_GET, .path = "/api/v1/lots/7/unknown" },
        { .method = GW_GET, .path = "/api/v1" },
        { .method = GW_GET, .path = "/" },
        { .method = GW_GET, .path = "" },
        { .method = GW_GET, .path = "/api/v1/lots/1/2/3/4/5/6/7/8/9/10/11/12/13" },
        { .method = GW_OPTIONS, .path = "/api/v1/wallet", .want_allow = "GET, HEAD, OPTIONS" },
        { .method = GW_GET, .path = "/openapi.json", .want_tmpl = "/openapi.json" },
    };
    for (size_t i = 0; i < N(cases); i++) {
        arena *a = arena_new();
        const char *params[GW_MAX_PARAMS] = { 0 };
        const char *allow = "unset";
        const gw_route *r = gw_route_match(cases[i].method, cases[i].path, a, params, &allow);
        if (cases[i].want_tmpl == NULL) {
            assert_null(r);
            if (cases[i].want_allow == NULL)
                assert_null(allow);
            else
                assert_string_equal(allow, cases[i].want_allow);
        } else {
            assert_non_null(r);
            assert_string_equal(gw_route_template(r), cases[i].want_tmpl);
            for (size_t k = 0; k < N(cases[i].want_params) && cases[i].want_params[k]; k++)
                assert_string_equal(params[k], cases[i].want_params[k]);
        }
        arena_free(a);
    }
}

static void parameters_are_named_in_both_spellings(void **state)
{
    (void)state;
    arena *a = arena_new();
    const char *params[GW_MAX_PARAMS] = { 0 }, *allow = NULL;
    const gw_route *r = gw_route_match(GW_GET, "/api/v1/wallet/holds/3", a, params, &allow);
    assert_non_null(r);
    assert_string_equal(gw_route_param(r, 0), "hold_id");
    assert_string_equal(gw_route_param_json(r, 0), "holdId");
    assert_null(gw_route_param(r, 1));
    arena_free(a);
}

static void every_row_calls_a_declared_method_once_listed(void **state)
{
    (void)state;
    const rpc_client_method *const *calls = gw_routes_calls();
    size_t n = 0;
    for (; calls[n] != NULL; n++) {
        char err[256];
        assert_int_equal(rpc_client_method_check(calls[n], err, sizeof err), 0);
        for (size_t k = 0; k < n; k++)
            assert_ptr_not_equal(calls[k], calls[n]);
    }
    for (const gw_route *r = gw_routes; r->path != NULL; r++) {
        if (r->rpc == NULL)
            continue;
        bool is_listed = false;
        for (size_t k = 0; k < n; k++)
            is_listed |= calls[k] == r->rpc;
        assert_true(is_listed);
        /* Service-only methods never get a row. */
        assert_null(strstr(r->rpc->name, "Batch"));
        assert_null(strstr(r->rpc->name, "OpenLot"));
        assert_null(strstr(r->rpc->name, "CloseLot"));
        assert_null(strstr(r->rpc->name, "ReserveFunds"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paths_find_their_rows),
        cmocka_unit_test(parameters_are_named_in_both_spellings),
        cmocka_unit_test(every_row_calls_a_declared_method_once_listed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
