/*
 * The protobuf side of calls: messages unpacked into the call's arena,
 * packed into gRPC byte buffers, and string fields checked for UTF-8
 * without NUL bytes (protobuf-c checks neither; proto3 requires UTF-8), plus
 * metadata lookup.
 */
#include <stdio.h>
#include <string.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include "rpc/rpc_int.h"

static void *arena_pb_alloc(void *data, size_t size)
{
    return arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *p)
{
    (void)data; /* freed with the arena */
    (void)p;
}

ProtobufCAllocator rpc__arena_allocator(arena *a)
{
    return (ProtobufCAllocator){ .alloc = arena_pb_alloc, .free = arena_pb_free,
                                 .allocator_data = a };
}

ProtobufCMessage *rpc__unpack(const ProtobufCMessageDescriptor *d,
                              grpc_byte_buffer *bb, ProtobufCAllocator *alloc)
{
    if (bb == NULL)
        return protobuf_c_message_unpack(d, alloc, 0, (const uint8_t *)"");
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return NULL;
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    ProtobufCMessage *m = protobuf_c_message_unpack(
        d, alloc, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    return m;
}

grpc_byte_buffer *rpc__pack(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice sl = grpc_slice_malloc(n);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(sl));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

/*
 * String fields are checked on the wire, where their length is known:
 * protobuf-c hands them out as C strings, so a NUL inside one would cut it
 * short without a trace ("key\0x" and "key\0y" would be one key). The
 * framing itself was already accepted by protobuf_c_message_unpack.
 */
static bool read_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *i < n; shift += 7) {
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return true;
    }
    return false;
}

static const char *scan_strings(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                                size_t n, int depth)
{
    size_t i = 0;
    while (i < n) {
        uint64_t key = 0, len = 0;
        if (!read_varint(p, n, &i, &key))
            return "(framing)";
        switch (key & 7) {
        case 0:
            if (!read_varint(p, n, &i, &len))
                return "(framing)";
            continue;
        case 1: i += 8; break;
        case 5: i += 4; break;
        case 2: {
            if (!read_varint(p, n, &i, &len) || len > n - i)
                return "(framing)";
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
            if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
                !utf8_valid((const char *)p + i, (size_t)len))
                return f->name;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < 32) {
                const char *bad = scan_strings(f->descriptor, p + i, (size_t)len, depth + 1);
                if (bad != NULL)
                    return bad;
            }
            i += (size_t)len;
            break;
        }
        default:
            return "(framing)";
        }
        if (i > n)
            return "(framing)";
    }
    return NULL;
}

ProtobufCMessage *rpc__unpack_checked(const ProtobufCMessageDescriptor *d,
                                      grpc_byte_buffer *bb, ProtobufCAllocator *alloc,
                                      const char **bad_string)
{
    *bad_string = NULL;
    if (bb == NULL)
        return protobuf_c_message_unpack(d, alloc, 0, (const uint8_t *)"");
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return NULL;
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    const uint8_t *p = GRPC_SLICE_START_PTR(all);
    size_t n = GRPC_SLICE_LENGTH(all);
    ProtobufCMessage *m = protobuf_c_message_unpack(d, alloc, n, p);
    if (m != NULL)
        *bad_string = scan_strings(d, p, n, 0);
    grpc_slice_unref(all);
    return m;
}

bool rpc__md_get(const grpc_metadata_array *md, const char *key, char *out,
                 size_t outlen, size_t *full_len)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < md->count; i++) {
        const grpc_metadata *e = &md->metadata[i];
        if (GRPC_SLICE_LENGTH(e->key) != klen ||
            memcmp(GRPC_SLICE_START_PTR(e->key), key, klen) != 0)
            continue;
        size_t vlen = GRPC_SLICE_LENGTH(e->value);
        if (full_len != NULL)
            *full_len = vlen;
        size_t n = vlen < outlen - 1 ? vlen : outlen - 1;
        memcpy(out, GRPC_SLICE_START_PTR(e->value), n);
        out[n] = '\0';
        return true;
    }
    return false;
}
