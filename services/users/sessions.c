/*
 * Sessions: Login, Refresh, Logout. Access tokens are short-lived Ed25519
 * JWTs any service verifies offline; refresh tokens are opaque random
 * strings stored only as SHA-256 and usable once. Each login starts a
 * family; presenting an already-rotated refresh token means it was copied,
 * so the whole family is revoked: its refresh tokens in PostgreSQL and its
 * recent access tokens in the Redis revocation list. Login asks the
 * throttle (login_throttle.c) before it reads the account or hashes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "cache/cache.h"
#include "users.h"

#define TOKEN_BYTES 32

static void random_hex(char *out, size_t bytes)
{
    uint8_t buf[TOKEN_BYTES];
    if (bytes > sizeof buf || getrandom(buf, bytes, 0) != (ssize_t)bytes)
        panic("getrandom failed");
    hex_encode(buf, bytes, out);
}

static void token_hash(const char *token, char hex[65])
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)token, strlen(token), d);
    hex_encode(d, sizeof d, hex);
}

/* Signs an access token; jti (33 bytes) is filled. Returns a call-owned string. */
static char *access_token(rpc_call *c, int64_t user_id, const char *role, const char *family,
                          char jti[33], int64_t *exp_us)
{
    random_hex(jti, 16);
    int64_t now_s = now_us() / 1000000;
    char sub[24];
    snprintf(sub, sizeof sub, "%lld", (long long)user_id);
    json_t *cl = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "iss", "gavel-users", "sub",
                           sub, "role", role, "jti", jti, "fam", family, "iat",
                           (json_int_t)now_s, "exp", (json_int_t)(now_s + users.access_ttl_s));
    char *tok = cl != NULL ? rpc_jwt_sign(users.signer, cl) : NULL;
    json_decref(cl);
    if (tok == NULL)
        panic("cannot sign an access token");
    char *owned = rpc_strdup(c, tok);
    free(tok);
    *exp_us = (now_s + users.access_ttl_s) * 1000000LL;
    return owned;
}

/* Issues a token pair in family; inserts the refresh row on conn. */
static int issue_pair(rpc_call *c, db_conn *conn, int64_t user_id, const char *role,
                      const char *family, Gavel__Users__V1__TokenPair **out)
{
    Gavel__Users__V1__TokenPair *tp = (void *)rpc_new(c, &gavel__users__v1__token_pair__descriptor);
    char jti[33], refresh[2 * TOKEN_BYTES + 1], hash[65], uid[24], ttl[24];
    tp->access_token = access_token(c, user_id, role, family, jti, &tp->access_expires_at_us);
    random_hex(refresh, TOKEN_BYTES);
    token_hash(refresh, hash);
    const char *p[] = { hash, family, db_i64(uid, user_id), jti, db_i64(ttl, users.refresh_ttl_s) };
    int rc = 0;
    PGresult *r = db_exec(conn, "refresh_insert", 5, p, &rc);
    if (r == NULL)
        return rc;
    PQclear(r);
    tp->refresh_token = rpc_strdup(c, refresh);
    tp->refresh_expires_at_us = now_us() + users.refresh_ttl_s * 1000000LL;
    *out = tp;
    return 0;
}

/* Revokes a family's refresh tokens and its recent access tokens. */
static int revoke_family(db_conn *conn, const char *family)
{
    char ttl[24];
    const char *p1[] = { family };
    int rc = 0;
    PGresult *r = db_exec(conn, "family_revoke", 1, p1, &rc);
    if (r == NULL)
        return rc;
    PQclear(r);
    const char *p2[] = { family, db_i64(ttl, users.access_ttl_s) };
    if ((r = db_exec(conn, "family_access_jtis", 2, p2, &rc)) == NULL)
        return rc;
    for (int i = 0; i < PQntuples(r); i++)
        if (rds_revoke(db_get_str(r, i, 0), users.access_ttl_s) < 0)
            log_error("cannot revoke access token of family %s in Redis", family);
    PQclear(r);
    rpc_auth_forget_all(); /* this daemon refuses them at once, not after its cache */
    return 0;
}

typedef struct {
    rpc_call *c;
    int64_t user_id;
    const char *role;
    const char *token;        /* refresh: presented token */
    Gavel__Users__V1__TokenPair *pair;
    const char *refusal;      /* refresh: why it was refused */
} session_tx;

static int login_body(db_conn *conn, void *arg)
{
    session_tx *t = arg;
    char family[33];
    random_hex(family, 16);
    return issue_pair(t->c, conn, t->user_id, t->role, family, &t->pair);
}

int users_login(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__LoginRequest *req = (const void *)in;
    if (strlen(req->email) > 254 || strlen(req->password) > 128 || req->email[0] == '\0')
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "email (at most 254 bytes) and password (at most 128) are required");
    /* Throttled attempts stop here, before the database and argon2. */
    login_attempt attempt;
    int rc = login_throttle_check(c, req->email, &attempt);
    if (rc != GRPC_STATUS_OK)
        return rc;
    db_conn *conn = db_pool_get(users.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    const char *p[] = { req->email };
    PGresult *r = db_exec(conn, "user_by_email", 1, p, &rc);
    db_pool_put(users.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    bool found = PQntuples(r) == 1;
    if (found && (rc = login_throttle_recheck(c, &attempt, db_get_str(r, 0, 3))) != 0) {
        PQclear(r);
        return rc;
    }
    bool ok = password_verify(found ? db_get_str(r, 0, 1) : NULL, req->password);
    session_tx t = { .c = c };
    if (found) {
        t.user_id = db_get_i64(r, 0, 0);
        t.role = rpc_strdup(c, db_get_str(r, 0, 2));
    }
    PQclear(r);
    if (!ok) {
        login_throttle_failed(&attempt);
        return rpc_fail(c, GRPC_STATUS_UNAUTHENTICATED, "email or password is wrong");
    }
    login_throttle_succeeded(&attempt);
    if ((rc = db_tx(users.db, DB_READ_COMMITTED, login_body, &t)) < 0)
        return check_fail_db(c, rc);
    Gavel__Users__V1__LoginResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__login_response__descriptor);
    resp->tokens = t.pair;
    if ((conn = db_pool_get(users.db, rpc_time_left_ms(c))) == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    rc = profile_load(c, conn, t.user_id, &resp->profile);
    db_pool_put(users.db, conn);
    *out = &resp->base;
    return rc;
}

static int refresh_body(db_conn *conn, void *arg)
{
    session_tx *t = arg;
    char hash[65];
    token_hash(t->token, hash);
    const char *p[] = { hash };
    int rc = 0;
    t->refusal = NULL;
    PGresult *r = db_exec(conn, "refresh_lookup", 1, p, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        t->refusal = "refresh token unknown";
        return 0;
    }
    char family[64];
    snprintf(family, sizeof family, "%s", db_get_str(r, 0, 0));
    t->user_id = db_get_i64(r, 0, 1);
    bool used = db_get_bool(r, 0, 2), revoked = db_get_bool(r, 0, 3);
    bool expired = db_get_bool(r, 0, 4);
    t->role = rpc_strdup(t->c, db_get_str(r, 0, 5));
    PQclear(r);
    if (revoked)
        t->refusal = "refresh token revoked";
    else if (used) {
        t->refusal = "refresh token reused: every session of this login is revoked";
        log_warn("refresh token reuse for user %lld: revoking family %s", (long long)t->user_id,
                 family);
        return revoke_family(conn, family);
    } else if (expired)
        t->refusal = "refresh token expired";
    if (t->refusal != NULL)
        return 0;
    if ((r = db_exec(conn, "refresh_mark_used", 1, p, &rc)) == NULL)
        return rc;
    PQclear(r);
    return issue_pair(t->c, conn, t->user_id, t->role, family, &t->pair);
}

int users_refresh(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__RefreshRequest *req = (const void *)in;
    if (req->refresh_token[0] == '\0')
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "refresh_token is required");
    if (strlen(req->refresh_token) != 2 * TOKEN_BYTES)
        return rpc_fail(c, GRPC_STATUS_UNAUTHENTICATED, "refresh token unknown");
    session_tx t = { .c = c, .token = req->refresh_token };
    int rc = db_tx(users.db, DB_READ_COMMITTED, refresh_body, &t);
    if (rc < 0)
        return check_fail_db(c, rc);
    if (t.refusal != NULL)
        return rpc_fail(c, GRPC_STATUS_UNAUTHENTICATED, "%s", t.refusal);
    Gavel__Users__V1__RefreshResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__refresh_response__descriptor);
    resp->tokens = t.pair;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}

static int logout_body(db_conn *conn, void *arg)
{
    session_tx *t = arg;
    char hash[65];
    token_hash(t->token, hash);
    const char *p[] = { hash };
    int rc = 0;
    PGresult *r = db_exec(conn, "refresh_lookup", 1, p, &rc);
    if (r == NULL)
        return rc;
    if (PQntuples(r) != 1) { /* unknown: nothing to revoke */
        PQclear(r);
        return 0;
    }
    char family[64];
    snprintf(family, sizeof family, "%s", db_get_str(r, 0, 0));
    int64_t owner = db_get_i64(r, 0, 1);
    PQclear(r);
    if (owner != t->user_id) {
        t->refusal = "that refresh token belongs to another user";
        return DB_E_ABORT;
    }
    return revoke_family(conn, family);
}

int users_logout(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__LogoutRequest *req = (const void *)in;
    const rpc_principal *me = rpc_caller(c);
    if (req->refresh_token[0] != '\0') {
        if (strlen(req->refresh_token) != 2 * TOKEN_BYTES)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "refresh_token is malformed");
        session_tx t = { .c = c, .token = req->refresh_token, .user_id = me->user_id };
        int rc = db_tx(users.db, DB_READ_COMMITTED, logout_body, &t);
        if (rc == DB_E_ABORT)
            return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED, "%s", t.refusal);
        if (rc < 0)
            return check_fail_db(c, rc);
    }
    int64_t ttl = (me->expires_us - now_us()) / 1000000 + 1;
    if (rds_revoke(me->jti, ttl) < 0)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE, "cannot record the logout; try again");
    rpc_auth_forget_all(); /* this daemon refuses the token at once, not after its cache */
    *out = rpc_new(c, &gavel__users__v1__logout_response__descriptor);
    return GRPC_STATUS_OK;
}
