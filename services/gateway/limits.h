/*
 * Rate limits at the edge: token buckets in Redis per client address and
 * per user, by class of traffic, and the login lockout checked before a
 * Login is forwarded.
 */
#ifndef GAVEL_GATEWAY_LIMITS_H
#define GAVEL_GATEWAY_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Classes of traffic, each with its own per-address and per-user buckets. */
typedef enum { GW_RATE_READ, GW_RATE_WRITE, GW_RATE_AUTH, GW_RATE_WS_MSG, GW_RATE_CLASSES } gw_rate_class;
/* Takes one token from the client address's bucket and, when user_id > 0, the user's
 * bucket of that class. Blocking (Redis): call from a gw_work job. Returns 0 allowed,
 * 1 refused (*retry_ms set; why says which limit), -1 when Redis cannot answer (the
 * caller lets the request through: availability over limiting; counted in a metric). */
int gw_limit_take(gw_rate_class cls, const char *client_addr, int64_t user_id,
                  int64_t *retry_ms, char *why, size_t whylen);
/* Before Login is forwarded: refused fast when the users service's own throttle
 * (the same Redis keys, see libs/limit) has locked the account or the address.
 * Returns as gw_limit_take. */
int gw_login_precheck(const char *email, const char *client_addr, int64_t *retry_ms,
                      char *why, size_t whylen);
/* The limits' settings (GAVEL_GATEWAY_RATE_*, GAVEL_LOGIN_*) and series
 * (gavel_gateway_rate_*), joined into the daemon's tables by main.c. */
extern const cfg_entry gw_limits_config[];
extern const mx_entry gw_limits_metrics[];
/** Checks the limits' settings once loaded (on/off, a burst for every
 *  bucket that is on). Returns 0, or -1 with err naming the variables.
 *  Main thread, before start-up (rpc_service.config_check). */
int gw_limits_check(char *err, size_t errlen);

#endif
