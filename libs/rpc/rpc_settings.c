/*
 * Every setting a daemon reads, as the tables it reads them from: the
 * runtime's (rpc_config.c), each library's (core, cache, events, the rpc
 * library's keys and revocation cache), the service block's (address and
 * database) and the daemon's own. The skeleton loads all of them strictly
 * before anything starts, so a bad value anywhere stops the daemon with a
 * message naming the variable; --describe prints the same list, which is
 * what the operations guide is checked against. A variable belongs to one
 * table only: declaring it twice is refused, so two readers can never
 * disagree about its default or range.
 */
#include <stdio.h>
#include <string.h>

#include "cache/cache.h"
#include "rpc/rpc_int.h"
#include "rpc/rpc_skel_int.h"

static const rpc_service *loading; /* the daemon whose runtime defaults apply */

static int load_runtime(char *err, size_t errlen)
{
    return rpc__config_load(loading, err, errlen);
}

size_t rpc__tables(const rpc_service *svc, rpc__table out[RPC__MAX_TABLES])
{
    size_t n = 0;
    /* The runtime fills its service-dependent defaults as it loads; the
     * libraries add their own checks to their table's. */
    out[n++] = (rpc__table){ "runtime", rpc__runtime_config, load_runtime };
    out[n++] = (rpc__table){ "core", cfg_core_table, cfg_core_load };
    out[n++] = (rpc__table){ "cache", rds_config, rds_config_load };
    out[n++] = (rpc__table){ "events", ev_config, ev_config_load };
    out[n++] = (rpc__table){ "rpc", rpc__auth_config, NULL };
    out[n++] = (rpc__table){ "service", rpc__block_config(svc), NULL };
    if (svc->config != NULL)
        out[n++] = (rpc__table){ "daemon", svc->config, NULL };
    return n;
}

int rpc__tables_check(const rpc__table *t, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        for (const cfg_entry *a = t[i].rows; a->env != NULL; a++)
            for (size_t j = i; j < n; j++)
                for (const cfg_entry *b = j == i ? a + 1 : t[j].rows; b->env != NULL; b++)
                    if (strcmp(a->env, b->env) == 0) {
                        snprintf(err, errlen, "%s is declared twice (tables %s and %s)",
                                 a->env, t[i].table, t[j].table);
                        return -1;
                    }
    return 0;
}

int rpc__tables_load(const rpc_service *svc, char *err, size_t errlen)
{
    rpc__table t[RPC__MAX_TABLES];
    size_t n = rpc__tables(svc, t);
    if (rpc__tables_check(t, n, err, errlen) < 0)
        return -1;
    loading = svc;
    for (size_t i = 0; i < n; i++) {
        int rc = t[i].load != NULL ? t[i].load(err, errlen) : cfg_load(t[i].rows, err, errlen);
        if (rc < 0)
            return -1;
    }
    return 0;
}
