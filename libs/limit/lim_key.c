/*
 * Names of the keys the limits keep in Redis. Pure: the same input gives
 * the same key in every daemon, which is what lets the gateway read the
 * users service's failed-login counts and several gateways share buckets.
 * No raw email reaches Redis: an account is named by a hash.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <openssl/sha.h>

#include "limit/limit.h"

#define RATE_PREFIX "gavel:rate:"
#define LOGIN_PREFIX "gavel:login:"
#define SUBJECT_MAX 100

void lim_addr_subject(const char *addr, char *out, size_t outlen)
{
    struct in6_addr a6;
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET6, addr, &a6) != 1) {
        snprintf(out, outlen, "%s", addr);
        return;
    }
    if (IN6_IS_ADDR_V4MAPPED(&a6) &&
        inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof text) != NULL) {
        snprintf(out, outlen, "%s", text);
        return;
    }
    memset(&a6.s6_addr[8], 0, 8);
    if (inet_ntop(AF_INET6, &a6, text, sizeof text) == NULL)
        snprintf(out, outlen, "%s", addr);
    else
        snprintf(out, outlen, "%s/64", text);
}

static bool is_word(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return false;
    return true;
}

static bool is_subject(const char *s)
{
    size_t n = 0;
    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++)
        if ((unsigned char)s[n] <= ' ' || s[n] == 0x7f || n >= SUBJECT_MAX)
            return false;
    return n > 0;
}

int lim_rate_key(const char *cls, const char *scope, const char *subject, char *out,
                 size_t outlen)
{
    if (outlen > 0)
        out[0] = '\0';
    if (!is_word(cls) || !is_word(scope) || !is_subject(subject))
        return LIM_E_ARG;
    int n = snprintf(out, outlen, RATE_PREFIX "%s:%s:%s", cls, scope, subject);
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen > 0)
            out[0] = '\0';
        return LIM_E_ARG;
    }
    return 0;
}

void lim_account_hash(const char *email, char hash[65])
{
    char lower[256];
    size_t n = strnlen(email, sizeof lower - 1);
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)(email[i] >= 'A' && email[i] <= 'Z' ? email[i] + 32 : email[i]);
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)lower, n, d);
    hex_encode(d, sizeof d, hash);
}

void lim_login_account_key(const char *hash, char *out, size_t outlen)
{
    snprintf(out, outlen, LOGIN_PREFIX "acct:%s", hash);
}

void lim_login_address_key(const char *addr, char *out, size_t outlen)
{
    char subject[INET6_ADDRSTRLEN + 64];
    lim_addr_subject(addr, subject, sizeof subject);
    snprintf(out, outlen, LOGIN_PREFIX "addr:%s", subject);
}
