/*
 * The request hash: what tells a retry (the same request under its key)
 * from another request reusing the key. Callers normalise first (a
 * message whose fields mean the same are set the same way); the hash is
 * then the hex SHA-256 of the bytes. Stored hashes are compared as text,
 * so the form (64 lower-case hex digits) never changes.
 *
 * Bids hashes every PlaceBid here on the polling thread, so a message of
 * usual size is packed on the stack, not the heap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <openssl/sha.h>

#include "core/core.h"
#include "idem/idem.h"

enum { STACK_PACK = 1024 };

void idem_hash(const void *bytes, size_t n, char hex[IDEM_HASH_HEX])
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(bytes, n, digest);
    hex_encode(digest, sizeof digest, hex);
}

void idem_request_hash(const ProtobufCMessage *req, char hex[IDEM_HASH_HEX])
{
    uint8_t small[STACK_PACK];
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = n <= sizeof small ? small : xmalloc(n);
    protobuf_c_message_pack(req, buf);
    idem_hash(buf, n, hex);
    if (buf != small)
        free(buf);
}
