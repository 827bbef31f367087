/*
 * The protobuf side of calls: messages unpacked into the call's arena,
 * packed into gRPC byte buffers, and checked for UTF-8 (protobuf-c does not
 * check string fields, proto3 says they must be valid UTF-8), plus metadata
 * lookup.
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

static const char *check_field(const ProtobufCFieldDescriptor *f, const void *member)
{
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = *(char *const *)member;
        return (s != NULL && !utf8_valid(s, strlen(s))) ? f->name : NULL;
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
        return sub != NULL ? rpc__invalid_utf8_field(sub) : NULL;
    }
    return NULL;
}

static size_t field_size(const ProtobufCFieldDescriptor *f)
{
    return f->type == PROTOBUF_C_TYPE_STRING ? sizeof(char *)
                                             : sizeof(ProtobufCMessage *);
}

const char *rpc__invalid_utf8_field(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)msg + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
            const char *arr = *(char *const *)base;
            for (size_t k = 0; k < n; k++) {
                const char *bad = check_field(f, arr + k * field_size(f));
                if (bad != NULL)
                    return bad;
            }
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)((const char *)msg + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        const char *bad = check_field(f, base);
        if (bad != NULL)
            return bad;
    }
    return NULL;
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
