/*
 * The gavel.users.v1.Users surface: one row per method with who may call
 * it. Register, Login and Refresh are public (they are how one gets a
 * token); Ping measures the runtime.
 */
#include "users.h"

#define U(name) "/gavel.users.v1.Users/" name
#define D(t) &gavel__users__v1__##t##__descriptor
const rpc_method users_methods[] = {
    /* Both hash a password (argon2id, tens of milliseconds of CPU). */
    { U("Register"), D(register_request), D(register_response), users_register, RPC_PUBLIC, 0,
      5000, RPC_CLASS_EXPENSIVE, 8192 },
    { U("Login"), D(login_request), D(login_response), users_login, RPC_PUBLIC, 0, 5000,
      RPC_CLASS_EXPENSIVE, 8192 },
    { U("Refresh"), D(refresh_request), D(refresh_response), users_refresh, RPC_PUBLIC, 0,
      5000, RPC_CLASS_NORMAL, 0 },
    { U("Logout"), D(logout_request), D(logout_response), users_logout, RPC_ANY_USER,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { U("GetProfile"), D(get_profile_request), D(get_profile_response), users_get_profile,
      RPC_ANY_USER, RPC_IDEMPOTENT, 2000, RPC_CLASS_NORMAL, 0 },
    { U("UpdateProfile"), D(update_profile_request), D(update_profile_response),
      users_update_profile, RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 8192 },
    { U("ListParticipation"), D(list_participation_request), D(list_participation_response),
      users_list_participation, RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { U("Ping"), &gavel__common__v1__ping_request__descriptor,
      &gavel__common__v1__ping_response__descriptor, rpc_ping, RPC_PUBLIC,
      RPC_IDEMPOTENT, 1000, RPC_CLASS_INLINE, 0 },
    { 0 },
};
