/*
 * ev_envelope_test: envelopes and event ids, without any server.
 * Proves that an envelope round-trips every field and its payload, that
 * ids are fresh 32-hex strings, and that consumers' validation turns every
 * kind of malformed message into EV_E_INVALID.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "events/events_int.h"

static void round_trip_keeps_every_field_and_the_payload(void **state)
{
    Gavel__Events__V1__BidPlaced bid = GAVEL__EVENTS__V1__BID_PLACED__INIT;
    Gavel__Events__V1__Envelope *env = NULL;
    Gavel__Events__V1__BidPlaced *back;
    const char *why = NULL;
    int64_t before = now_us(), after;
    uint8_t *buf;
    size_t len;
    (void)state;

    bid.lot_id = 42;
    bid.seq = 7;
    bid.bidder_id = 9001;
    ev_set_source("bids");
    log_set_request_id("0123456789abcdef0123456789abcdef");
    buf = ev_envelope_pack("00112233445566778899aabbccddeeff", "bid.placed", "42",
                           &bid.base, &len);
    after = now_us();
    log_set_request_id(NULL);

    assert_int_equal(ev__envelope_unpack(buf, len, &env, &why), 0);
    assert_string_equal(env->id, "00112233445566778899aabbccddeeff");
    assert_string_equal(env->type, "bid.placed");
    assert_string_equal(env->aggregate_id, "42");
    assert_string_equal(env->source, "bids");
    assert_string_equal(env->request_id, "0123456789abcdef0123456789abcdef");
    assert_in_range(env->occurred_at_us, before, after);
    back = gavel__events__v1__bid_placed__unpack(NULL, env->payload.len, env->payload.data);
    assert_non_null(back);
    assert_int_equal(back->lot_id, 42);
    assert_int_equal(back->seq, 7);
    assert_int_equal(back->bidder_id, 9001);
    gavel__events__v1__bid_placed__free_unpacked(back, NULL);
    gavel__events__v1__envelope__free_unpacked(env, NULL);
    free(buf);
}

static void pack_without_id_or_payload_gets_a_fresh_id_and_empty_payload(void **state)
{
    Gavel__Events__V1__Envelope *a = NULL, *b = NULL;
    const char *why = NULL;
    uint8_t *ba, *bb;
    size_t la, lb;
    (void)state;

    ba = ev_envelope_pack(NULL, "user.registered", "7", NULL, &la);
    bb = ev_envelope_pack(NULL, "user.registered", "7", NULL, &lb);
    assert_int_equal(ev__envelope_unpack(ba, la, &a, &why), 0);
    assert_int_equal(ev__envelope_unpack(bb, lb, &b, &why), 0);
    assert_int_equal(strlen(a->id), 32);
    assert_string_not_equal(a->id, b->id);
    assert_int_equal(a->payload.len, 0);
    gavel__events__v1__envelope__free_unpacked(a, NULL);
    gavel__events__v1__envelope__free_unpacked(b, NULL);
    free(ba);
    free(bb);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void new_ids_are_32_lowercase_hex_and_distinct(void **state)
{
    enum { N = 2000 };
    char (*ids)[33] = xcalloc(N, sizeof *ids);
    (void)state;

    for (int i = 0; i < N; i++) {
        ev_new_id(ids[i]);
        assert_int_equal(strlen(ids[i]), 32);
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), 32);
    }
    qsort(ids, N, sizeof *ids, cmp_id);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

/* Packs an envelope with the given fields, bypassing ev_envelope_pack's
 * defaults, so the validator can be fed exactly what a buggy producer
 * might send. */
static uint8_t *raw_envelope(const char *id, const char *type, size_t *len)
{
    Gavel__Events__V1__Envelope e = GAVEL__EVENTS__V1__ENVELOPE__INIT;
    uint8_t *buf;

    e.id = (char *)id;
    e.type = (char *)type;
    e.aggregate_id = "1";
    buf = xmalloc(gavel__events__v1__envelope__get_packed_size(&e) + 1);
    *len = gavel__events__v1__envelope__pack(&e, buf);
    return buf;
}

static void malformed_messages_are_invalid(void **state)
{
    static const struct {
        const char *name;
        const char *raw;  /* bytes sent as is, when set */
        const char *id, *type;
    } cases[] = {
        {.name = "not protobuf", .raw = "\xff\xff\xff\xff garbage"},
        {.name = "empty message", .raw = ""},
        {.name = "short id", .id = "abc", .type = "bid.placed"},
        {.name = "non-hex id", .id = "zz112233445566778899aabbccddeeff", .type = "bid.placed"},
        {.name = "long id", .id = "00112233445566778899aabbccddeeff0", .type = "bid.placed"},
        {.name = "no type", .id = "00112233445566778899aabbccddeeff", .type = ""},
        {.name = "type not UTF-8", .id = "00112233445566778899aabbccddeeff", .type = "bid\xc3("},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Gavel__Events__V1__Envelope *e = NULL;
        const char *why = NULL;
        uint8_t *buf = NULL;
        size_t len;
        int rc;

        if (cases[i].raw != NULL)
            rc = ev__envelope_unpack(cases[i].raw, strlen(cases[i].raw), &e, &why);
        else {
            buf = raw_envelope(cases[i].id, cases[i].type, &len);
            rc = ev__envelope_unpack(buf, len, &e, &why);
        }
        if (rc != EV_E_INVALID || e != NULL || why == NULL)
            fail_msg("case '%s' was accepted", cases[i].name);
        free(buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_keeps_every_field_and_the_payload),
        cmocka_unit_test(pack_without_id_or_payload_gets_a_fresh_id_and_empty_payload),
        cmocka_unit_test(new_ids_are_32_lowercase_hex_and_distinct),
        cmocka_unit_test(malformed_messages_are_invalid),
    };

    log_init("ev_envelope_test", LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
