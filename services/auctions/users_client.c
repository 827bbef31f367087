/*
 * Calls into the users service with this daemon's service identity:
 * Users/GetProfile, to check that the seller a staff member names on
 * CreateLot is an account with the seller role. The answer is the users
 * service's, asked on every such call and never kept: a role changes
 * there, not here. When it cannot answer, the caller's write does not
 * happen.
 */
#include <stdio.h>
#include <stdlib.h>

#include "auctions.h"
#include "gavel/users/v1/users.pb-c.h"

const rpc_client_method users_get_profile = {
    "/gavel.users.v1.Users/GetProfile", &gavel__users__v1__users__descriptor,
    &gavel__users__v1__get_profile_request__descriptor,
    &gavel__users__v1__get_profile_response__descriptor
};
#define USERS_DEADLINE_MS 3000 /* at most; less when the caller has less left */

static const char *role_name(Gavel__Users__V1__Role r)
{
    switch (r) {
    case GAVEL__USERS__V1__ROLE__ROLE_BIDDER:
        return "bidder";
    case GAVEL__USERS__V1__ROLE__ROLE_SELLER:
        return "seller";
    case GAVEL__USERS__V1__ROLE__ROLE_MODERATOR:
        return "moderator";
    case GAVEL__USERS__V1__ROLE__ROLE_ADMIN:
        return "admin";
    default:
        return "unknown";
    }
}

/* Users/GetProfile of user_id within what is left of c's deadline (at most
 * USERS_DEADLINE_MS). On OK *resp is a new message (caller frees with
 * protobuf_c_message_free_unpacked(…, NULL)); otherwise err says why. */
static grpc_status_code get_profile(rpc_call *c, int64_t user_id, ProtobufCMessage **resp,
                                    char *err, size_t errlen)
{
    char *token = rpc_service_token();
    if (token == NULL) {
        snprintf(err, errlen, "no service token (GAVEL_SERVICE_KEY)");
        return GRPC_STATUS_UNAUTHENTICATED;
    }
    int ms = rpc_time_left_ms(c);
    if (ms > USERS_DEADLINE_MS)
        ms = USERS_DEADLINE_MS;
    if (ms < 1) /* 0 would mean the client's default */
        ms = 1;
    Gavel__Users__V1__GetProfileRequest q = GAVEL__USERS__V1__GET_PROFILE_REQUEST__INIT;
    q.user_id = user_id;
    rpc_call_opts o = { .token = token, .deadline_ms = ms, .idempotent = true };
    grpc_status_code st = rpc_unary(rpc_channel_get(auctions.users_addr), &users_get_profile,
                                    &q.base, resp, &o, err, errlen);
    free(token);
    return st;
}

int users_check_seller(rpc_call *c, int64_t seller_id)
{
    char err[256];
    ProtobufCMessage *resp = NULL;
    grpc_status_code st = get_profile(c, seller_id, &resp, err, sizeof err);
    int rc = GRPC_STATUS_OK;
    if (st == GRPC_STATUS_NOT_FOUND) {
        rc = rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot.seller_id %lld: no such user",
                      (long long)seller_id);
    } else if (st != GRPC_STATUS_OK) {
        log_warn("CreateLot: users GetProfile of %lld failed (%d): %s", (long long)seller_id,
                 (int)st, err);
        rc = rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                      "the users service could not confirm lot.seller_id %lld; nothing was "
                      "written, retry",
                      (long long)seller_id);
    } else {
        const Gavel__Users__V1__GetProfileResponse *r = (const void *)resp;
        Gavel__Users__V1__Role role = r->profile != NULL
                                          ? r->profile->role
                                          : GAVEL__USERS__V1__ROLE__ROLE_UNSPECIFIED;
        if (role != GAVEL__USERS__V1__ROLE__ROLE_SELLER)
            rc = rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                          "lot.seller_id %lld is not a seller (role %s)", (long long)seller_id,
                          role_name(role));
    }
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
