/*
 * The gavel.search.v1.Search surface: one row per method with who may
 * call it.
 */
#include "search.h"

#define S(name) "/gavel.search.v1.Search/" name
#define D(t) &gavel__search__v1__##t##__descriptor
const rpc_method search_methods[] = {
    { S("Search"), D(search_request), D(search_response), search_search, RPC_ANY_USER,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 32768 },
    { S("Suggest"), D(suggest_request), D(suggest_response), search_suggest, RPC_ANY_USER,
      RPC_IDEMPOTENT, 2000, RPC_CLASS_NORMAL, 4096 },
    { S("Reindex"), D(reindex_request), D(reindex_response), search_reindex, RPC_ROLE_ADMIN, 0,
      5000, RPC_CLASS_NORMAL, 4096 },
    { S("GetIndexStatus"), D(get_index_status_request), D(get_index_status_response),
      search_index_status, RPC_STAFF, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { S("Ping"), &gavel__common__v1__ping_request__descriptor,
      &gavel__common__v1__ping_response__descriptor, rpc_ping, RPC_PUBLIC, RPC_IDEMPOTENT,
      1000, RPC_CLASS_INLINE, 0 },
    { 0 },
};
