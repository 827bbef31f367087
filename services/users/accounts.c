/*
 * Accounts and profiles: Register, GetProfile, UpdateProfile. A person acts
 * only as themself; moderators and staff may read others' profiles, only
 * an admin may change someone else or anyone's role. Registration creates
 * bidders and sellers only: moderators and admins are made by an admin.
 */
#include <string.h>

#include "users.h"

int profile_load(rpc_call *c, db_conn *conn, int64_t id, Gavel__Users__V1__Profile **out)
{
    char uid[24];
    const char *p[] = { db_i64(uid, id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "user_by_id", 1, p, &rc);
    if (r == NULL)
        return check_fail_db(c, rc);
    if (PQntuples(r) != 1) {
        PQclear(r);
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "user %lld not found", (long long)id);
    }
    Gavel__Users__V1__Profile *pr = (void *)rpc_new(c, &gavel__users__v1__profile__descriptor);
    pr->user_id = db_get_i64(r, 0, 0);
    pr->email = rpc_strdup(c, db_get_str(r, 0, 1));
    pr->role = role_from_text(db_get_str(r, 0, 2));
    pr->display_name = rpc_strdup(c, db_get_str(r, 0, 3));
    pr->company = rpc_strdup(c, db_get_str(r, 0, 4));
    pr->phone = rpc_strdup(c, db_get_str(r, 0, 5));
    pr->region = rpc_strdup(c, db_get_str(r, 0, 6));
    pr->created_at_us = db_get_i64(r, 0, 7);
    pr->updated_at_us = db_get_i64(r, 0, 8);
    PQclear(r);
    *out = pr;
    return GRPC_STATUS_OK;
}

int account_insert(db_conn *conn, const char *email, const char *pw_hash, const char *role,
                   const char *display_name, const char *company, const char *phone,
                   const char *region, int64_t *id)
{
    const char *p[] = { email, pw_hash, role, display_name, company, phone, region };
    int rc = 0;
    PGresult *r = db_exec(conn, "user_insert", 7, p, &rc);
    if (r == NULL)
        return rc;
    *id = db_get_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

static int check_profile_fields(rpc_call *c, const char *display_name, const char *company,
                                const char *phone, const char *region)
{
    int rc;
    if ((display_name && (rc = check_text(c, "display_name", display_name, 1, 100)) != 0) ||
        (company && (rc = check_text(c, "company", company, 0, 200)) != 0) ||
        (phone && (rc = check_text(c, "phone", phone, 0, 32)) != 0) ||
        (region && (rc = check_text(c, "region", region, 0, 100)) != 0))
        return rc;
    return GRPC_STATUS_OK;
}

/* Register's transaction: the account and its user.registered event. */
typedef struct {
    const Gavel__Users__V1__RegisterRequest *req;
    const char *hash;
    int64_t id;
} register_tx;

static int register_body(db_conn *conn, void *arg)
{
    register_tx *t = arg;
    const Gavel__Users__V1__RegisterRequest *q = t->req;
    int rc = account_insert(conn, q->email, t->hash, role_to_text(q->role), q->display_name,
                            q->company, q->phone, q->region, &t->id);
    if (rc < 0)
        return rc;
    Gavel__Events__V1__UserRegistered ev = GAVEL__EVENTS__V1__USER_REGISTERED__INIT;
    char agg[24], lower[256];
    size_t n = strlen(q->email);
    for (size_t i = 0; i <= n && i < sizeof lower; i++)
        lower[i] = (char)((q->email[i] >= 'A' && q->email[i] <= 'Z') ? q->email[i] + 32
                                                                     : q->email[i]);
    ev.user_id = t->id;
    ev.email = lower;
    ev.role = (char *)role_to_text(q->role);
    return ev_outbox_add(conn, USERS_TOPIC, "user.registered", db_i64(agg, t->id), &ev.base,
                         NULL);
}

int users_register(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__RegisterRequest *req = (const void *)in;
    int rc;
    if ((rc = check_email(c, req->email)) != 0)
        return rc;
    const char *why = password_policy(req->password);
    if (why != NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
    if (req->role != GAVEL__USERS__V1__ROLE__ROLE_BIDDER &&
        req->role != GAVEL__USERS__V1__ROLE__ROLE_SELLER)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "role must be ROLE_BIDDER or ROLE_SELLER");
    if ((rc = check_profile_fields(c, req->display_name, req->company, req->phone,
                                   req->region)) != 0)
        return rc;
    char hash[160];
    if (password_hash(req->password, hash, sizeof hash) < 0)
        return rpc_fail(c, GRPC_STATUS_INTERNAL, "cannot hash the password");
    register_tx t = { .req = req, .hash = hash };
    rc = db_tx(users.db, DB_READ_COMMITTED, register_body, &t);
    if (rc == DB_E_UNIQUE)
        return rpc_fail(c, GRPC_STATUS_ALREADY_EXISTS, "an account with this email exists");
    if (rc < 0)
        return check_fail_db(c, rc);
    ev_relay_kick(users.relay);
    db_conn *conn = db_pool_get(users.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    Gavel__Users__V1__RegisterResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__register_response__descriptor);
    rc = profile_load(c, conn, t.id, &resp->profile);
    db_pool_put(users.db, conn);
    *out = &resp->base;
    return rc;
}

int users_get_profile(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__GetProfileRequest *req = (const void *)in;
    int64_t id = 0;
    int rc = rpc_resolve_user(c, req->user_id, RPC_ROLE_MODERATOR | RPC_STAFF, "account", &id);
    if (rc != 0)
        return rc;
    db_conn *conn = db_pool_get(users.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    Gavel__Users__V1__GetProfileResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__get_profile_response__descriptor);
    rc = profile_load(c, conn, id, &resp->profile);
    db_pool_put(users.db, conn);
    *out = &resp->base;
    return rc;
}

/* The mask names which fields change; NULL parameters leave a column alone. */
static int read_mask(rpc_call *c, const Gavel__Users__V1__UpdateProfileRequest *req,
                     const char *vals[5])
{
    static const char *const names[] = { "display_name", "company", "phone", "region", "role" };
    if (req->n_update_mask == 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "update_mask must name at least one field");
    for (size_t i = 0; i < req->n_update_mask; i++) {
        size_t k = 0;
        while (k < 5 && strcmp(names[k], req->update_mask[i]) != 0)
            k++;
        if (k == 5)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "update_mask: unknown field \"%.64s\" (allowed: display_name, "
                            "company, phone, region, role)", req->update_mask[i]);
        const char *v[] = { req->display_name, req->company, req->phone, req->region,
                            role_to_text(req->role) };
        vals[k] = v[k];
        if (k == 4 && vals[k] == NULL)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "role must be BIDDER, SELLER, MODERATOR or ADMIN");
    }
    if (vals[4] != NULL && !rpc_has_role(c, RPC_ROLE_ADMIN))
        return rpc_fail(c, GRPC_STATUS_PERMISSION_DENIED, "only an admin may change roles");
    return check_profile_fields(c, vals[0], vals[1], vals[2], vals[3]);
}

int users_update_profile(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Users__V1__UpdateProfileRequest *req = (const void *)in;
    int64_t id = 0;
    const char *vals[5] = { 0 };
    int rc = rpc_resolve_user(c, req->user_id, RPC_ROLE_ADMIN, "account", &id);
    if (rc != 0 || (rc = read_mask(c, req, vals)) != 0)
        return rc;
    db_conn *conn = db_pool_get(users.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char uid[24];
    const char *p[] = { db_i64(uid, id), vals[0], vals[1], vals[2], vals[3], vals[4] };
    PGresult *r = db_exec(conn, "user_update", 6, p, &rc);
    if (r == NULL) {
        db_pool_put(users.db, conn);
        return check_fail_db(c, rc);
    }
    bool found = PQntuples(r) == 1;
    PQclear(r);
    Gavel__Users__V1__UpdateProfileResponse *resp =
        (void *)rpc_new(c, &gavel__users__v1__update_profile_response__descriptor);
    rc = found ? profile_load(c, conn, id, &resp->profile)
               : rpc_fail(c, GRPC_STATUS_NOT_FOUND, "user %lld not found", (long long)id);
    db_pool_put(users.db, conn);
    *out = &resp->base;
    return rc;
}
