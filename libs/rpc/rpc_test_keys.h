/*
 * Test helper for libs/rpc tests: fresh Ed25519 key pairs written to a
 * temporary directory, with the environment pointed at them. Header-only so
 * each test binary gets its own copy; never used by daemons.
 */
#ifndef GAVEL_RPC_TEST_KEYS_H
#define GAVEL_RPC_TEST_KEYS_H

#include <stdio.h>
#include <stdlib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

static char test_key_dir[64];

static void test_write_pair(const char *stem)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (k == NULL)
        abort();
    char path[128];
    snprintf(path, sizeof path, "%s/%s.key", test_key_dir, stem);
    FILE *f = fopen(path, "w");
    if (f == NULL || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1)
        abort();
    fclose(f);
    snprintf(path, sizeof path, "%s/%s.pub", test_key_dir, stem);
    f = fopen(path, "w");
    if (f == NULL || PEM_write_PUBKEY(f, k) != 1)
        abort();
    fclose(f);
    EVP_PKEY_free(k);
}

/* Creates jwt.{key,pub} and service.{key,pub} and sets the GAVEL_* paths. */
static void test_keys_setup(void)
{
    snprintf(test_key_dir, sizeof test_key_dir, "/tmp/gavel-rpc-test-XXXXXX");
    if (mkdtemp(test_key_dir) == NULL)
        abort();
    test_write_pair("jwt");
    test_write_pair("service");
    char path[128];
    snprintf(path, sizeof path, "%s/jwt.pub", test_key_dir);
    setenv("GAVEL_JWT_PUBLIC_KEY", path, 1);
    snprintf(path, sizeof path, "%s/service.pub", test_key_dir);
    setenv("GAVEL_SERVICE_PUBLIC_KEY", path, 1);
    snprintf(path, sizeof path, "%s/service.key", test_key_dir);
    setenv("GAVEL_SERVICE_KEY", path, 1);
}

static void test_keys_path(char *out, size_t n, const char *file)
{
    snprintf(out, n, "%s/%s", test_key_dir, file);
}

#endif
