/*
 * Placeholder of the rate limits until they are built: every request is
 * allowed and no setting is read.
 */
#include "limits.h"

const cfg_entry gw_limits_config[] = { { 0 } };

int gw_limit_take(gw_rate_class cls, const char *client_addr, int64_t user_id,
                  int64_t *retry_ms, char *why, size_t whylen)
{
    (void)cls, (void)client_addr, (void)user_id, (void)why, (void)whylen;
    *retry_ms = 0;
    return 0;
}

int gw_login_precheck(const char *email, const char *client_addr, int64_t *retry_ms,
                      char *why, size_t whylen)
{
    (void)email, (void)client_addr, (void)why, (void)whylen;
    *retry_ms = 0;
    return 0;
}
