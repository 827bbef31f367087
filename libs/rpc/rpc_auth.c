/*
 * Who is calling. Every service verifies tokens itself, offline: people's
 * access tokens are signed by the users service's key (iss "gavel-users"),
 * daemons' own tokens by the service key (iss "gavel-service"), and a role
 * is believed only from the issuer allowed to grant it. A token id found in
 * the Redis revocation list is refused; when Redis cannot answer, the call
 * fails UNAVAILABLE rather than letting a revoked token through.
 */
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "cache/cache.h"
#include "rpc/rpc.h"

#define SERVICE_TOKEN_TTL_S 900

static rpc_jwt_key *users_pub, *service_pub, *service_priv;
static pthread_mutex_t mint_mu = PTHREAD_MUTEX_INITIALIZER;
static char *minted;
static int64_t minted_exp_us;
static char service_name[64] = "gavel";

static const struct { unsigned bit; const char *name; } role_names[] = {
    { RPC_ROLE_BIDDER, "bidder" },       { RPC_ROLE_SELLER, "seller" },
    { RPC_ROLE_MODERATOR, "moderator" }, { RPC_ROLE_ADMIN, "admin" },
    { RPC_ROLE_SERVICE, "service" },     { 0, NULL },
};

const char *rpc_role_name(unsigned role)
{
    for (int i = 0; role_names[i].name != NULL; i++)
        if (role_names[i].bit == role)
            return role_names[i].name;
    return "";
}

unsigned rpc_role_parse(const char *name)
{
    for (int i = 0; name != NULL && role_names[i].name != NULL; i++)
        if (strcmp(role_names[i].name, name) == 0)
            return role_names[i].bit;
    return 0;
}

static int load_key(rpc_jwt_key **dst, const char *env, bool is_private)
{
    const char *path = cfg_str(env, NULL);
    if (path == NULL)
        return 0;
    char err[256];
    rpc_jwt_key *k = rpc_jwt_key_load(path, is_private, err, sizeof err);
    if (k == NULL) {
        log_error("%s: %s", env, err);
        return -1;
    }
    rpc_jwt_key_free(*dst);
    *dst = k;
    return 0;
}

int rpc_auth_init(void)
{
    if (load_key(&users_pub, "GAVEL_JWT_PUBLIC_KEY", false) < 0 ||
        load_key(&service_pub, "GAVEL_SERVICE_PUBLIC_KEY", false) < 0 ||
        load_key(&service_priv, "GAVEL_SERVICE_KEY", true) < 0)
        return -1;
    if (users_pub == NULL)
        log_warn("GAVEL_JWT_PUBLIC_KEY not set: every authenticated call will be refused");
    return 0;
}

void rpc__auth_set_service_name(const char *name)
{
    snprintf(service_name, sizeof service_name, "%s", name);
}

static grpc_status_code reject(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return GRPC_STATUS_UNAUTHENTICATED;
}

/* Fills p from verified claims; returns OK or UNAUTHENTICATED. */
static grpc_status_code read_claims(json_t *cl, bool is_service, rpc_principal *p, char *err,
                                    size_t errlen)
{
    const char *sub = json_string_value(json_object_get(cl, "sub"));
    const char *role = json_string_value(json_object_get(cl, "role"));
    const char *jti = json_string_value(json_object_get(cl, "jti"));
    json_t *exp = json_object_get(cl, "exp");
    if (sub == NULL || role == NULL || jti == NULL || !json_is_integer(exp))
        return reject(err, errlen, "token lacks sub, role, jti or exp");
    if (strlen(sub) >= sizeof p->subject || strlen(jti) >= sizeof p->jti)
        return reject(err, errlen, "token claims too long");
    p->role = rpc_role_parse(role);
    if (p->role == 0 || (p->role == RPC_ROLE_SERVICE) != is_service)
        return reject(err, errlen, "token role not valid for its issuer");
    p->expires_us = json_integer_value(exp) * 1000000LL;
    if (p->expires_us <= now_us())
        return reject(err, errlen, "token expired");
    snprintf(p->subject, sizeof p->subject, "%s", sub);
    snprintf(p->jti, sizeof p->jti, "%s", jti);
    p->user_id = 0;
    if (!is_service) {
        char *end = NULL;
        long long id = strtoll(sub, &end, 10);
        if (end == sub || *end != '\0' || id <= 0)
            return reject(err, errlen, "token subject is not a user id");
        p->user_id = id;
    }
    return GRPC_STATUS_OK;
}

/* The key that verifies the signature names the issuer; the claimed iss
 * must agree, so a service key can never vouch for a person and back. */
static json_t *verified_claims(const char *token, bool *is_service)
{
    json_t *cl = NULL;
    char why[64];
    const char *iss = NULL;
    if (users_pub != NULL && rpc_jwt_verify(users_pub, token, &cl, why, sizeof why) == 0)
        iss = "gavel-users";
    else if (service_pub != NULL &&
             rpc_jwt_verify(service_pub, token, &cl, why, sizeof why) == 0)
        iss = "gavel-service";
    const char *claimed = json_string_value(json_object_get(cl, "iss"));
    if (iss == NULL || claimed == NULL || strcmp(claimed, iss) != 0) {
        json_decref(cl);
        return NULL;
    }
    *is_service = strcmp(iss, "gavel-service") == 0;
    return cl;
}

/*
 * A few recently verified tokens per thread, keyed by SHA-256: a client
 * sends the same token on every call, and a signature that verified once
 * stays valid. Expiry and revocation are still checked on every call.
 */
#define VERIFIED_CACHE 16
typedef struct {
    uint8_t digest[SHA256_DIGEST_LENGTH];
    rpc_principal p;
    bool used;
} verified_entry;
static _Thread_local verified_entry verified[VERIFIED_CACHE];
static _Thread_local unsigned verified_next;

static grpc_status_code verify_signed(const char *token, rpc_principal *p, char *err,
                                      size_t errlen)
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)token, strlen(token), d);
    for (int i = 0; i < VERIFIED_CACHE; i++)
        if (verified[i].used && memcmp(verified[i].digest, d, sizeof d) == 0) {
            *p = verified[i].p;
            return p->expires_us > now_us() ? GRPC_STATUS_OK
                                            : reject(err, errlen, "token expired");
        }
    bool is_service = false;
    json_t *cl = verified_claims(token, &is_service);
    if (cl == NULL)
        return reject(err, errlen, "token malformed, signature invalid or issuer unknown");
    grpc_status_code st = read_claims(cl, is_service, p, err, errlen);
    json_decref(cl);
    if (st == GRPC_STATUS_OK) {
        verified_entry *e = &verified[verified_next++ % VERIFIED_CACHE];
        memcpy(e->digest, d, sizeof d);
        e->p = *p;
        e->used = true;
    }
    return st;
}

grpc_status_code rpc_auth_verify(const char *token, rpc_principal *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    grpc_status_code st = verify_signed(token, p, err, errlen);
    if (st != GRPC_STATUS_OK)
        return st;
    int revoked = rds_is_revoked(p->jti);
    if (revoked < 0) {
        snprintf(err, errlen, "token revocation list unreachable; try again");
        return GRPC_STATUS_UNAVAILABLE;
    }
    if (revoked)
        return reject(err, errlen, "token revoked");
    p->token = token;
    return GRPC_STATUS_OK;
}

char *rpc_service_token(void)
{
    pthread_mutex_lock(&mint_mu);
    if (service_priv != NULL && (minted == NULL || minted_exp_us - now_us() < 60000000LL)) {
        char jti[33];
        request_id_new(jti);
        int64_t now_s = now_us() / 1000000;
        json_t *cl = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", "gavel-service", "sub",
                               service_name, "role", "service", "jti", jti, "iat",
                               (json_int_t)now_s, "exp", (json_int_t)(now_s + SERVICE_TOKEN_TTL_S));
        char *tok = cl != NULL ? rpc_jwt_sign(service_priv, cl) : NULL;
        json_decref(cl);
        if (tok != NULL) {
            free(minted);
            minted = tok;
            minted_exp_us = (now_s + SERVICE_TOKEN_TTL_S) * 1000000LL;
        }
    }
    char *out = minted != NULL ? xstrdup(minted) : NULL;
    pthread_mutex_unlock(&mint_mu);
    return out;
}
