/*
 * JWT signing and strict verification: what we issue verifies, and every
 * way a token can be forged or mangled is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "rpc/rpc.h"
#include "rpc/rpc_test_keys.h"

static rpc_jwt_key *priv, *pub, *other_pub;

static int setup(void **state)
{
    (void)state;
    test_keys_setup();
    char p[128], err[128];
    test_keys_path(p, sizeof p, "jwt.key");
    priv = rpc_jwt_key_load(p, true, err, sizeof err);
    test_keys_path(p, sizeof p, "jwt.pub");
    pub = rpc_jwt_key_load(p, false, err, sizeof err);
    test_keys_path(p, sizeof p, "service.pub");
    other_pub = rpc_jwt_key_load(p, false, err, sizeof err);
    return priv && pub && other_pub ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rpc_jwt_key_free(priv);
    rpc_jwt_key_free(pub);
    rpc_jwt_key_free(other_pub);
    return 0;
}

static char *sample_token(void)
{
    json_t *cl = json_pack("{s:s, s:s, s:I}", "sub", "42", "role", "bidder", "exp",
                           (json_int_t)4102444800);
    char *t = rpc_jwt_sign(priv, cl);
    json_decref(cl);
    return t;
}

static void signed_token_verifies_with_claims_intact(void **state)
{
    (void)state;
    char *t = sample_token();
    assert_non_null(t);
    json_t *cl = NULL;
    char err[128];
    assert_int_equal(rpc_jwt_verify(pub, t, &cl, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(cl, "sub")), "42");
    assert_string_equal(json_string_value(json_object_get(cl, "role")), "bidder");
    json_decref(cl);
    free(t);
}

static void token_from_another_key_is_refused(void **state)
{
    (void)state;
    char *t = sample_token();
    json_t *cl = NULL;
    char err[128];
    assert_int_equal(rpc_jwt_verify(other_pub, t, &cl, err, sizeof err), -1);
    assert_null(cl);
    assert_string_equal(err, "token signature invalid");
    free(t);
}

static void tampering_any_part_is_refused(void **state)
{
    (void)state;
    char *t = sample_token();
    size_t n = strlen(t);
    /* Flip one character in the header, the payload and the signature. */
    size_t where[] = { 3, strchr(t, '.') - t + 5, n - 5 };
    for (size_t i = 0; i < 3; i++) {
        char *copy = strdup(t);
        copy[where[i]] = copy[where[i]] == 'A' ? 'B' : 'A';
        json_t *cl = NULL;
        char err[128];
        assert_int_equal(rpc_jwt_verify(pub, copy, &cl, err, sizeof err), -1);
        assert_null(cl);
        free(copy);
    }
    free(t);
}

static void malformed_tokens_are_refused(void **state)
{
    (void)state;
    static const struct { const char *in; const char *want; } cases[] = {
        { .in = "", .want = "token is not a JWT (three dot-separated parts)" },
        { .in = "a.b", .want = "token is not a JWT (three dot-separated parts)" },
        { .in = "a.b.c.d", .want = "token is not a JWT (three dot-separated parts)" },
        /* alg none: the classic forgery */
        { .in = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.e30.", .want =
              "token header must be {\"alg\":\"EdDSA\",\"typ\":\"JWT\"}" },
        { .in = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.e30.!!!!", .want =
              "token signature malformed" },
        { .in = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.e30.c2ln", .want =
              "token signature malformed" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *cl = NULL;
        char err[128];
        assert_int_equal(rpc_jwt_verify(pub, cases[i].in, &cl, err, sizeof err), -1);
        assert_string_equal(err, cases[i].want);
    }
}

static void oversized_token_is_refused(void **state)
{
    (void)state;
    char *big = malloc(10000);
    memset(big, 'a', 9999);
    big[9999] = '\0';
    json_t *cl = NULL;
    char err[128];
    assert_int_equal(rpc_jwt_verify(pub, big, &cl, err, sizeof err), -1);
    assert_string_equal(err, "token too long");
    free(big);
}

/* Concatenates files into dst (a ring of public keys, or worse). */
static void cat_files(const char *dst, const char *a, const char *b, const char *tail)
{
    FILE *out = fopen(dst, "w");
    assert_non_null(out);
    const char *parts[] = { a, b };
    for (size_t i = 0; i < 2; i++) {
        if (parts[i] == NULL)
            continue;
        char p[128], buf[4096];
        test_keys_path(p, sizeof p, parts[i]);
        FILE *in = fopen(p, "r");
        assert_non_null(in);
        size_t n = fread(buf, 1, sizeof buf, in);
        fclose(in);
        assert_int_equal(fwrite(buf, 1, n, out), n);
    }
    if (tail != NULL)
        fputs(tail, out);
    fclose(out);
}

static void a_ring_verifies_tokens_of_each_of_its_keys(void **state)
{
    (void)state;
    char ring_path[128], p[128], err[256];
    test_keys_path(ring_path, sizeof ring_path, "ring.pub");
    cat_files(ring_path, "service.pub", "jwt.pub", NULL);
    rpc_jwt_key *ring = rpc_jwt_key_load(ring_path, false, err, sizeof err);
    assert_non_null(ring);
    assert_int_equal(rpc_jwt_key_count(ring), 2);
    test_keys_path(p, sizeof p, "service.key");
    rpc_jwt_key *service_priv = rpc_jwt_key_load(p, true, err, sizeof err);
    assert_non_null(service_priv);
    json_t *cl = json_pack("{s:s}", "sub", "7");
    char *by_old = rpc_jwt_sign(priv, cl), *by_new = rpc_jwt_sign(service_priv, cl);
    json_decref(cl);
    json_t *got = NULL;
    assert_int_equal(rpc_jwt_verify(ring, by_old, &got, err, sizeof err), 0);
    json_decref(got);
    assert_int_equal(rpc_jwt_verify(ring, by_new, &got, err, sizeof err), 0);
    json_decref(got);
    assert_int_equal(rpc_jwt_verify(pub, by_new, &got, err, sizeof err), -1);
    assert_null(got);
    free(by_old);
    free(by_new);
    rpc_jwt_key_free(service_priv);
    rpc_jwt_key_free(ring);
}

static void a_ring_with_a_bad_member_is_refused(void **state)
{
    (void)state;
    char ring_path[128], err[256];
    test_keys_path(ring_path, sizeof ring_path, "bad-ring.pub");
    /* a private key among the public ones */
    cat_files(ring_path, "jwt.pub", "service.key", NULL);
    assert_null(rpc_jwt_key_load(ring_path, false, err, sizeof err));
    /* a truncated second block */
    cat_files(ring_path, "jwt.pub", NULL, "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2Vw\n");
    assert_null(rpc_jwt_key_load(ring_path, false, err, sizeof err));
    assert_non_null(strstr(err, "key 2"));
    /* text that is no PEM block after a good key */
    cat_files(ring_path, "jwt.pub", NULL, "not a key\n");
    assert_null(rpc_jwt_key_load(ring_path, false, err, sizeof err));
    /* nothing at all */
    cat_files(ring_path, NULL, NULL, "");
    assert_null(rpc_jwt_key_load(ring_path, false, err, sizeof err));
    /* nine keys: one too many */
    FILE *f = fopen(ring_path, "w");
    assert_non_null(f);
    fclose(f);
    for (int i = 0; i < 9; i++) {
        char tmp[128];
        test_keys_path(tmp, sizeof tmp, "ring9.tmp");
        cat_files(tmp, "jwt.pub", NULL, NULL);
        FILE *in = fopen(tmp, "r"), *out = fopen(ring_path, "a");
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf, in);
        assert_int_equal(fwrite(buf, 1, n, out), n);
        fclose(in);
        fclose(out);
    }
    assert_null(rpc_jwt_key_load(ring_path, false, err, sizeof err));
    assert_non_null(strstr(err, "too many"));
}

static void role_names_round_trip(void **state)
{
    (void)state;
    unsigned roles[] = { RPC_ROLE_BIDDER, RPC_ROLE_SELLER, RPC_ROLE_MODERATOR,
                         RPC_ROLE_ADMIN, RPC_ROLE_SERVICE };
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(rpc_role_parse(rpc_role_name(roles[i])), roles[i]);
    assert_int_equal(rpc_role_parse("root"), 0);
    assert_int_equal(rpc_role_parse(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signed_token_verifies_with_claims_intact),
        cmocka_unit_test(token_from_another_key_is_refused),
        cmocka_unit_test(tampering_any_part_is_refused),
        cmocka_unit_test(malformed_tokens_are_refused),
        cmocka_unit_test(oversized_token_is_refused),
        cmocka_unit_test(a_ring_verifies_tokens_of_each_of_its_keys),
        cmocka_unit_test(a_ring_with_a_bad_member_is_refused),
        cmocka_unit_test(role_names_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
