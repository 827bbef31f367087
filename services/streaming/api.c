/*
 * The gavel.streaming.v1.Streaming surface: one row per method with who
 * may call it. Creating, rotating and revoking keys is staff's (moderators
 * are the venue's clerks); reading streams is any signed-in user's.
 */
#include "streaming.h"

#define N(name) "/gavel.streaming.v1.Streaming/" name
#define D(t) &gavel__streaming__v1__##t##__descriptor
#define STAFF (RPC_ROLE_MODERATOR | RPC_STAFF)
const rpc_method strm_methods[] = {
    { N("CreateStream"), D(create_stream_request), D(create_stream_response), strm_create, STAFF,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 4096 },
    { N("RotateKey"), D(rotate_key_request), D(rotate_key_response), strm_rotate_key, STAFF, 0,
      5000, RPC_CLASS_NORMAL, 1024 },
    { N("RevokeKey"), D(revoke_key_request), D(revoke_key_response), strm_revoke_key, STAFF,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 1024 },
    { N("GetStream"), D(get_stream_request), D(get_stream_response), strm_get, RPC_ANY_USER,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 1024 },
    { N("ListStreams"), D(list_streams_request), D(list_streams_response), strm_list,
      RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 4096 },
    { N("Ping"), &gavel__common__v1__ping_request__descriptor,
      &gavel__common__v1__ping_response__descriptor, rpc_ping, RPC_PUBLIC, RPC_IDEMPOTENT,
      1000, RPC_CLASS_INLINE, 0 },
    { 0 },
};
